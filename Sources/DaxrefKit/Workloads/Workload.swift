#if canImport(Glibc)
import Glibc
#endif

/// What daxref does to memory under test. The raw value is the workload part of a step ID
/// (`<backing>.<workload>`, e.g. `devdax.2m.iouring-register`, `fsdax.xfs.punch-hole.vmsplice-unmapped`);
/// published IDs are never renamed.
public enum Workload: String, Codable, CaseIterable, Sendable {
    /// mmap(MAP_PRIVATE) of the backing: device-dax refuses it (EINVAL from the driver's check_vma).
    case mapPrivate = "map-private"
    /// One read access, then how much became present (fault.size); then a read of every page.
    case touchRead = "touch-read"
    /// One write access, then fault.size; then every page written, patterned and verified.
    case touchWrite = "touch-write"
    /// madvise(MADV_DONTNEED) on written pages; whether the data survives (data.retained).
    case madviseDontNeed = "madv-dontneed"
    /// munmap(2) of written pages.
    case munmap
    /// fork(2) with the mapping: the child checks the parent's data and writes its own; the parent
    /// checks whether it sees the child's (data.child_write_visible).
    case fork
    /// process_vm_readv(2) by the parent of a child that has the pages mapped (remote FOLL_PIN).
    case processVMReadv = "process-vm-readv"
    /// vmsplice(2) of the pages into a pipe: references held while mapped, after munmap, until drained.
    case vmsplice
    /// io_uring IORING_REGISTER_BUFFERS (FOLL_LONGTERM pin) of the mapping, then unregister.
    case ioUringRegister = "iouring-register"
    /// O_DIRECT pread from a non-DAX block device into the DAX buffer, data verified.
    case directRead = "odirect-read"
    /// O_DIRECT pwrite from the DAX buffer to a non-DAX block device, data verified.
    case directWrite = "odirect-write"
    /// ftruncate(2) to 0 on another thread while the pages are mapped (no extra reference).
    case truncateMapped = "truncate.mapped"
    /// ftruncate while the pages are mapped and held by vmsplice in a pipe.
    case truncateSpliced = "truncate.vmsplice"
    /// ftruncate while the pages are held by vmsplice and no longer mapped (reference §8 B1).
    case truncateSplicedUnmapped = "truncate.vmsplice-unmapped"
    /// fallocate(PUNCH_HOLE|KEEP_SIZE) over the range while mapped.
    case punchHoleMapped = "punch-hole.mapped"
    /// punch hole while mapped and held by vmsplice.
    case punchHoleSpliced = "punch-hole.vmsplice"
    /// punch hole while held by vmsplice, unmapped.
    case punchHoleSplicedUnmapped = "punch-hole.vmsplice-unmapped"
    /// The last unlink(2) of a closed, unmapped file whose pages a pipe still holds: inode eviction
    /// (dax_break_layout_final, TASK_UNINTERRUPTIBLE on 6.15+; reference §8 B7).
    case unlinkSplicedUnmapped = "unlink.vmsplice-unmapped"
    /// The last close(2) of an unlinked, unmapped file whose pages a pipe still holds (eviction from
    /// the closing task's return to user space).
    case closeSplicedUnmapped = "close.vmsplice-unmapped"
    /// The real `_refcount` of the mapping's first page (the folio head's for compound pages), read
    /// by kprobes at named moments: idle, after one write fault, while held by a FOLL_GET (vmsplice)
    /// and a long-term FOLL_PIN (io_uring), after release, after munmap (`kprobe.refcount.<moment>`).
    case refcountTimeline = "refcount-timeline"
    /// Reconfigure an opted-in spare namespace with its memmap in RAM (`ndctl create-namespace --map=mem`):
    /// what creating it allocates (vmstat.nr_memmap_pages, MemFree). Run by `NamespaceSteps`, not by drive.
    case createNamespaceMapMem = "create-namespace.map-mem"
    /// The same with the memmap on the device itself (`--map=dev`, vmem_altmap).
    case createNamespaceMapDev = "create-namespace.map-dev"

    /// What a workload needs beyond a mapping.
    public enum Requirement: Sendable {
        case mapping
        /// A file whose size and blocks can change: fsdax and the page-cache control.
        case file
        /// A non-DAX block device (or a directory on one) for O_DIRECT.
        case blockDevice
        /// Root, tracefs and kprobe events (CONFIG_KPROBE_EVENTS).
        case kprobes
        /// A spare namespace the user allowed daxref to reconfigure (`NamespaceSteps`).
        case spareNamespace
    }

    public var requirement: Requirement {
        switch self {
        case .truncateMapped, .truncateSpliced, .truncateSplicedUnmapped, .punchHoleMapped, .punchHoleSpliced,
            .punchHoleSplicedUnmapped, .unlinkSplicedUnmapped, .closeSplicedUnmapped:
            .file
        case .directRead, .directWrite: .blockDevice
        case .refcountTimeline: .kprobes
        case .createNamespaceMapMem, .createNamespaceMapDev: .spareNamespace
        default: .mapping
        }
    }

    /// Why this workload cannot run on `backing` here, or nil when it can.
    public func skipReason(
        on backing: Backing, blockTarget: BlockTarget?,
        kprobes: () -> KprobeUnavailable? = Workload.kprobesUnavailable
    ) -> String? {
        switch requirement {
        case .mapping: nil
        case .file: backing.hasFile ? nil : "needs a file (fsdax or page cache); \(backing.id) has none"
        case .blockDevice:
            blockTarget == nil
                ? "no non-DAX block device: set DAXREF_BLK (a block device or a directory on one), or provision blk" : nil
        case .kprobes: kprobes().map { "kprobes unavailable: \($0)" }
        case .spareNamespace: "reconfigures a spare namespace: run by NamespaceSteps with an opt-in, not on a mapped backing"
        }
    }

    /// Shell-glob match against the workload name (`truncate.*`) or the full step ID
    /// (`fsdax.*.truncate.*`); several globs may be given comma-separated (`touch-*,iouring*`).
    public func matches(_ globs: String, backingID: String) -> Bool {
        globs.split(separator: ",").contains { glob in
            Glob.matches(String(glob), rawValue) || Glob.matches(String(glob), backingID + "." + rawValue)
        }
    }
}

/// fnmatch(3) without flags: `*` and `?` also match dots, so `truncate*` covers every variant.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        fnmatch(pattern, text, 0) == 0
    }
}

extension Workload {
    /// Why kprobes cannot be used here (not root, no tracefs, no CONFIG_KPROBE_EVENTS), or nil.
    public static func kprobesUnavailable() -> KprobeUnavailable? {
        if case .failure(let why) = Tracefs.availableForKprobes() { return why }
        return nil
    }
}
