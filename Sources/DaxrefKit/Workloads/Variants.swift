#if canImport(Glibc)
import Glibc
#endif

/// What daxref does to memory under test: the variant of fixture × variant. The raw value is the
/// variant part of a scenario ID (`<memory>.<workload>`, e.g. `devdax.2m.iouring-register`,
/// `fsdax.xfs.punch-hole.vmsplice-unmapped`); published IDs are never renamed. Everything else about
/// a workload is its `Variant`, declared below.
///
/// To add a variant: a case here (its place sets its place in `daxref run --list`), its `Variant`
/// in `variant`, and the rules that say what it must show.
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
    /// ftruncate while the pages are held by vmsplice and no longer mapped (docs/findings.md B1).
    case truncateSplicedUnmapped = "truncate.vmsplice-unmapped"
    /// fallocate(PUNCH_HOLE|KEEP_SIZE) over the range while mapped.
    case punchHoleMapped = "punch-hole.mapped"
    /// punch hole while mapped and held by vmsplice.
    case punchHoleSpliced = "punch-hole.vmsplice"
    /// punch hole while held by vmsplice, unmapped.
    case punchHoleSplicedUnmapped = "punch-hole.vmsplice-unmapped"
    /// The last unlink(2) of a closed, unmapped file whose pages a pipe still holds: inode eviction
    /// (dax_break_layout_final, TASK_UNINTERRUPTIBLE on 6.15+; docs/findings.md B7).
    case unlinkSplicedUnmapped = "unlink.vmsplice-unmapped"
    /// The last close(2) of an unlinked, unmapped file whose pages a pipe still holds (eviction from
    /// the closing task's return to user space).
    case closeSplicedUnmapped = "close.vmsplice-unmapped"
    /// The real `_refcount` of the mapping's first page (the folio head's for compound pages), read
    /// by kprobes at named moments: idle, after one write fault, while held by a FOLL_GET (vmsplice)
    /// and a long-term FOLL_PIN (io_uring), after release, after munmap (`kprobe.refcount.<moment>`).
    case refcountTimeline = "refcount-timeline"
    /// Reconfigure an opted-in spare namespace into the fixture's geometry with its memmap in RAM
    /// (`ndctl create-namespace --map=mem`): what creating it allocates (vmstat.nr_memmap_pages, MemFree).
    case createNamespaceMapMem = "create-namespace.map-mem"
    /// The same with the memmap on the device itself (`--map=dev`, vmem_altmap).
    case createNamespaceMapDev = "create-namespace.map-dev"
}

/// Everything about one workload, in one declaration: what it needs, which fixtures it applies to,
/// the checkpoints it takes, the keys it records for the step, and how it runs.
public struct Variant: Sendable {
    /// What a variant needs beyond its fixture's memory.
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

    /// How a variant runs.
    enum Procedure: Sendable {
        /// In a step helper, on a fresh mapping of the fixture's memory.
        case mapped(@Sendable (inout MappedMemory, StepRequest, inout StepLog) throws(WorkloadError) -> Void)
        /// In a step helper that makes its own mapping.
        case unmapped(@Sendable (StepRequest, inout StepLog) throws(WorkloadError) -> Void)
        /// By `NamespaceSteps`, which reconfigures the spare into the fixture's geometry with its memmap here.
        case namespace(MemmapLocation)
    }

    public var requirement: Requirement
    /// The fixtures it makes scenarios with, in `MemoryFixture.allCases` order.
    public var fixtures: [MemoryFixture]
    /// The snapshots it takes, in the order it may take them (some only on one path: `refused`).
    public var checkpoints: [CheckpointName]
    /// Checkpoints no rule reads (yet): taken as evidence, which reports keep. Every other
    /// checkpoint is read by some rule (a test holds both to that).
    public var evidenceOnly: Set<CheckpointName>
    /// The step-level keys it (or the harness running it) may record; checkpoints add the observers' keys.
    public var records: Set<ObservableKey>
    var procedure: Procedure

    init(
        requires requirement: Requirement = .mapping, on fixtures: [MemoryFixture]? = nil, checkpoints: [CheckpointName],
        evidenceOnly: Set<CheckpointName> = [], records: [ObservableKey], _ procedure: Procedure
    ) {
        self.requirement = requirement
        self.fixtures = fixtures ?? MemoryFixture.allCases.filter { requirement == .file ? $0.hasFile : $0.isMapped }
        self.checkpoints = checkpoints
        self.evidenceOnly = evidenceOnly
        self.procedure = procedure
        var keys = Set(records + Variant.harnessKeys)
        if case .namespace = procedure {} else { keys.formUnion(Variant.mappingKeys) }
        self.records = keys
    }

    /// Namespace variants run after every mapping one, in one pass over the spare.
    public var reconfiguresNamespace: Bool { if case .namespace = procedure { true } else { false } }

    /// Recorded by the harness about any step: its duration, and how a helper that did not deliver ended.
    static let harnessKeys: [ObservableKey] = [
        Observable.stepDuration, .stepTimedOut, .faultSignal, .taskWchan, .taskState, .taskStack,
    ].map(\.key)
    /// Recorded for every mapping a step makes.
    static let mappingKeys: [ObservableKey] = [Observable.memoryLength, .memoryAlignment].map(\.key)
}

extension Variant.Requirement: Equatable {}

extension Workload {
    /// The variant catalogue: one declaration per workload.
    public var variant: Variant {
        switch self {
        case .mapPrivate:
            Variant(checkpoints: [], records: keys(.syscallName, .syscallErrno, .syscallResult), .unmapped(AccessWorkloads.mapPrivate))
        case .touchRead:
            Variant(checkpoints: [.before, .touched], evidenceOnly: [.before], records: keys(.faultOffset, .faultSize, .faultWalkSplitPUD)) {
                memory, _, log in AccessWorkloads.touch(&memory, write: false, log: &log)
            }
        case .touchWrite:
            Variant(checkpoints: [.before, .touched], records: keys(.faultOffset, .faultSize, .faultWalkSplitPUD) + verified) { memory, _, log in
                AccessWorkloads.touch(&memory, write: true, log: &log)
            }
        case .madviseDontNeed:
            Variant(checkpoints: [.touched, .advised], evidenceOnly: [.touched], records: keys(.faultOffset, .dataRetained) + mainSyscall) {
                memory, _, log in AccessWorkloads.dontNeed(&memory, log: &log)
            }
        case .munmap:
            Variant(checkpoints: [.mapped, .unmapped], records: keys(.faultOffset) + mainSyscall) { memory, _, log in
                AccessWorkloads.unmap(&memory, log: &log)
            }
        case .fork:
            Variant(
                checkpoints: [.before, .childExited], evidenceOnly: [.before, .childExited],
                records: keys(.memoryTransfer, .faultOffset, .childFaultSignal, .childFaultOffset, .dataChildWriteVisible) + mainSyscall
                    + verified
            ) { memory, _, log throws(WorkloadError) in try ReferenceWorkloads.fork(&memory, log: &log) }
        case .processVMReadv:
            Variant(
                checkpoints: [.childMapped],
                records: keys(.memoryTransfer, .faultOffset, .childFaultSignal, .childFaultOffset) + mainSyscall + verified
            ) { memory, _, log throws(WorkloadError) in try ReferenceWorkloads.processVMReadv(&memory, log: &log) }
        case .vmsplice:
            Variant(
                checkpoints: [.held, .heldUnmapped, .drained], evidenceOnly: [.held, .heldUnmapped, .drained],
                records: keys(.memoryTransfer, .faultOffset) + mainSyscall + splicing + verified + Syscall.munmap.keys
            ) { memory, _, log throws(WorkloadError) in try ReferenceWorkloads.vmsplice(&memory, log: &log) }
        case .ioUringRegister:
            Variant(
                checkpoints: [.before, .pinned, .unpinned, .refused], evidenceOnly: [.refused],
                records: keys(.memoryTransfer, .faultOffset) + mainSyscall + Syscall.ioUringUnregister.keys + verified
            ) { memory, _, log in ReferenceWorkloads.ioUringRegister(&memory, log: &log) }
        case .directRead:
            Variant(requires: .blockDevice, checkpoints: [.before, .after], records: keys(.memoryTransfer, .faultOffset) + mainSyscall + verified) {
                memory, request, log throws(WorkloadError) in try ReferenceWorkloads.direct(&memory, read: true, request: request, log: &log)
            }
        case .directWrite:
            Variant(requires: .blockDevice, checkpoints: [.before, .after], records: keys(.memoryTransfer, .faultOffset) + mainSyscall + verified) {
                memory, request, log throws(WorkloadError) in try ReferenceWorkloads.direct(&memory, read: false, request: request, log: &log)
            }
        case .truncateMapped: layoutChange(.truncate, .mapped)
        case .truncateSpliced: layoutChange(.truncate, .spliced)
        case .truncateSplicedUnmapped: layoutChange(.truncate, .splicedUnmapped)
        case .punchHoleMapped: layoutChange(.punchHole, .mapped)
        case .punchHoleSpliced: layoutChange(.punchHole, .spliced)
        case .punchHoleSplicedUnmapped: layoutChange(.punchHole, .splicedUnmapped)
        case .unlinkSplicedUnmapped: layoutChange(.unlink, .splicedUnmapped)
        case .closeSplicedUnmapped: layoutChange(.close, .splicedUnmapped)
        case .refcountTimeline:
            Variant(requires: .kprobes, checkpoints: [.after], evidenceOnly: [.after], records: TimelineWorkload.records) {
                memory, request, log throws(WorkloadError) in
                try TimelineWorkload.run(&memory, request: request, log: &log)
            }
        case .createNamespaceMapMem:
            // Every namespace geometry a fixture has.
            Variant(
                requires: .spareNamespace, on: MemoryFixture.allCases.filter { $0.namespaceTarget(map: .mem) != nil },
                checkpoints: NamespaceSteps.checkpoints, records: NamespaceSteps.records, .namespace(.mem))
        case .createNamespaceMapDev:
            // One geometry of each mode.
            Variant(
                requires: .spareNamespace, on: [.devdax(.align2m), .fsdaxNamespace(.align2m)], checkpoints: NamespaceSteps.checkpoints,
                records: NamespaceSteps.records, .namespace(.dev))
        }
    }

    private func keys(_ observables: Observable...) -> [ObservableKey] { observables.map(\.key) }
    /// The step's main syscall: its name, errno, result and duration.
    private var mainSyscall: [ObservableKey] { keys(.syscallName, .syscallErrno, .syscallResult, .syscallDuration) }
    private var verified: [ObservableKey] { keys(.dataVerified, .dataMismatchOffset) }
    /// A pipe filled by vmsplice and read out again.
    private var splicing: [ObservableKey] {
        keys(.pipeCapacity, .pipeHeld, .pipeDrained) + Syscall.fcntlSetPipeSize.keys + Syscall.vmsplice.keys
    }

    /// Truncate, punch hole or evict while the pages are held as `hold` says, watched on another thread.
    private func layoutChange(_ change: LayoutWorkloads.Change, _ hold: LayoutWorkloads.Hold) -> Variant {
        let watched = keys(.stepBlocked, .stepBlockedDuration, .stepReleasedBy, .faultOffset) + mainSyscall + verified
        let held = hold == .mapped ? [] : splicing
        // The last unlink closes the file first; the last close unlinks it first.
        let evicting = change == .unlink ? Syscall.close.keys : change == .close ? Syscall.unlink.keys : []
        return Variant(requires: .file, checkpoints: [.before, .blocked, .after], records: watched + held + evicting + Syscall.munmap.keys) {
            memory, request, log throws(WorkloadError) in try LayoutWorkloads.run(change, hold, &memory, request: request, log: &log)
        }
    }
}

extension Variant {
    /// A variant run in a helper on a fresh mapping.
    init(
        requires requirement: Requirement = .mapping, checkpoints: [CheckpointName], evidenceOnly: Set<CheckpointName> = [],
        records: [ObservableKey], _ run: @escaping @Sendable (inout MappedMemory, StepRequest, inout StepLog) throws(WorkloadError) -> Void
    ) {
        self.init(requires: requirement, on: nil, checkpoints: checkpoints, evidenceOnly: evidenceOnly, records: records, .mapped(run))
    }

    /// What its checkpoints snapshot (besides the kernel log, which every checkpoint reads).
    public var snapshotSources: Set<SnapshotSource> {
        if case .namespace = procedure { NamespaceSteps.snapshotSources } else { Set(SnapshotSource.allCases) }
    }

    /// Why it cannot run on `backing` here, or nil when it can. The one place a step is skipped for
    /// what it needs (`StepPlan.request` asks it before a helper is started).
    func skipReason(on backing: Backing, blockTarget: BlockTarget?, kprobes: () -> KprobeUnavailable? = Workload.kprobesUnavailable) -> String? {
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
}

extension Workload {
    /// Shell-glob match against the workload name (`truncate.*`) or the full step ID
    /// (`fsdax.*.truncate.*`); several globs may be given comma-separated (`touch-*,iouring*`).
    public func matches(_ globs: String, backingID: String) -> Bool {
        globs.split(separator: ",").contains { glob in
            Glob.matches(String(glob), rawValue) || Glob.matches(String(glob), backingID + "." + rawValue)
        }
    }

    /// Why kprobes cannot be used here (not root, no tracefs, no CONFIG_KPROBE_EVENTS), or nil.
    public static func kprobesUnavailable() -> KprobeUnavailable? {
        if case .failure(let why) = Tracefs.availableForKprobes() { return why }
        return nil
    }
}

/// fnmatch(3) without flags: `*` and `?` also match dots, so `truncate*` covers every variant.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        fnmatch(pattern, text, 0) == 0
    }
}
