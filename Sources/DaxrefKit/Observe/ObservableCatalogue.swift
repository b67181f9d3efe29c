/// The one place that says what each observable key means: its unit, the file it comes from, and
/// what it tells about DAX pages. Reports print it; the model refers to keys listed here.
///
/// A key with `<…>` is a family (`vmstat.<name>`: every line of /proc/vmstat). Concrete keys are
/// the ones the era rules use; a snapshot always records each concrete key of a source it read,
/// as `.unavailable` when the kernel did not print it (e.g. `vmstat.nr_memmap_pages` on 6.1).
/// `<key>.delta` is after − before, in the key's unit (see `Observations.deltas`).
public struct ObservableDescription: Codable, Sendable, Equatable {
    public var key: String
    public var unit: ObservableUnit
    /// The file (or mechanism) it is read from.
    public var source: String
    public var meaning: String

    public var isFamily: Bool { key.contains("<") }
}

public enum ObservableUnit: String, Codable, Sendable {
    case kilobytes = "kB"
    case bytes
    /// 4 KiB base pages.
    case pages
    case count
    /// A page frame number, or a list of them.
    case pfn = "PFN"
    /// A physical address.
    case address
    /// A plain number whose meaning is in the description (node id, flag word, 0/1).
    case number
    case text
    case flag
    case microseconds = "us"
    case milliseconds = "ms"
}

public enum ObservableCatalogue {
    public static let entries: [ObservableDescription] = snapshot + smaps + smapsRollup + pagemap + kernelPages
        + vmstat + meminfo + status + numaMaps + task + dmesg + sysfs + step + kprobe + namespaceSteps

    /// The description of `key` (a `.delta` key is described by its base key): the concrete entry if
    /// there is one, else the family with the longest matching literal part.
    public static func describe(_ key: ObservableKey) -> ObservableDescription? {
        var name = key.rawValue
        if name.hasSuffix(".delta") { name.removeLast(".delta".count) }
        if let exact = byKey[name] { return exact }
        return families.first { matches(family: $0.key, name) }
    }

    /// The concrete keys under `prefix` (e.g. "vmstat."), which a source records even when absent.
    static func concreteKeys(under prefix: String) -> [ObservableKey] {
        entries.filter { !$0.isFamily && $0.key.hasPrefix(prefix) }.map { ObservableKey(rawValue: $0.key) }
    }

    private static let byKey: [String: ObservableDescription] = Dictionary(
        entries.filter { !$0.isFamily }.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    private static let families: [ObservableDescription] = entries.filter(\.isFamily).sorted {
        $0.key.prefix { $0 != "<" }.count > $1.key.prefix { $0 != "<" }.count
    }

    /// `vmstat.<name>` matches `vmstat.thp_split_pud`; `numa_maps.N<node>` matches `numa_maps.N0`.
    /// The placeholder stands for one dot-free component part.
    static func matches(family: String, _ name: String) -> Bool {
        guard let open = family.firstIndex(of: "<"), let close = family.firstIndex(of: ">") else { return false }
        let prefix = family[..<open]
        let suffix = family[family.index(after: close)...]
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return false }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        if family[open...close] == "<node>" { return middle.allSatisfy(\.isNumber) }
        return !middle.contains(".")
    }

    private static func entry(_ key: String, _ unit: ObservableUnit, _ source: String, _ meaning: String) -> ObservableDescription {
        ObservableDescription(key: key, unit: unit, source: source, meaning: meaning)
    }

    // MARK: entries per source

    static let snapshot = [
        entry("snapshot.page_walks", .text, "Snapshot", "The page-walking sources this snapshot read, in order (list). Each walk splits 1 GiB DAX PUD mappings."),
        entry("snapshot.walk_split_pud", .count, "/proc/vmstat thp_split_pud", "PUD mappings split by this snapshot's own page walks (thp_split_pud after − before the walks)."),
        entry("snapshot.vmstat_refreshed", .flag, "/proc/sys/vm/stat_refresh", "Whether per-cpu vmstat deltas were folded in before reading (needs root)."),
    ]

    static let smapsSource = "/proc/PID/smaps, VMAs overlapping the target range"
    static let smaps = [
        entry("smaps.vmas", .count, smapsSource, "Number of VMAs overlapping the target range (the sums below are over them)."),
        entry("smaps.Size", .kilobytes, smapsSource, "Virtual size of the VMAs."),
        entry("smaps.KernelPageSize", .kilobytes, smapsSource, "Page size backing the VMA; for device-dax the device align (4, 2048, 1048576)."),
        entry("smaps.MMUPageSize", .kilobytes, smapsSource, "MMU page size of the VMA."),
        entry("smaps.Rss", .kilobytes, smapsSource, "Resident memory the walk found. DAX PTEs: 0 before 6.15, counted after; per DAX PMD: 6.1 devdax 2048 / fsdax 4, 6.12 0 (source-derived), 6.15+ 2048. Observed on 6.1.176 and 7.2.13."),
        entry("smaps.Pss", .kilobytes, smapsSource, "Proportional set size."),
        entry("smaps.Shared_Clean", .kilobytes, smapsSource, "Resident, mapped more than once, clean."),
        entry("smaps.Shared_Dirty", .kilobytes, smapsSource, "Resident, mapped more than once, dirty."),
        entry("smaps.Private_Clean", .kilobytes, smapsSource, "Resident, mapped once, clean."),
        entry("smaps.Private_Dirty", .kilobytes, smapsSource, "Resident, mapped once, dirty."),
        entry("smaps.Referenced", .kilobytes, smapsSource, "Marked referenced or accessed."),
        entry("smaps.Anonymous", .kilobytes, smapsSource, "Not belonging to a file."),
        entry("smaps.AnonHugePages", .kilobytes, smapsSource, "Anonymous THP."),
        entry("smaps.ShmemPmdMapped", .kilobytes, smapsSource, "Shmem PMD mappings."),
        entry("smaps.FilePmdMapped", .kilobytes, smapsSource, "File PMD mappings; 0 for DAX in every era (ZONE_DEVICE is skipped)."),
        entry("smaps.Swap", .kilobytes, smapsSource, "Swapped out."),
        entry("smaps.Locked", .kilobytes, smapsSource, "mlock()ed."),
        entry("smaps.THPeligible", .number, smapsSource, "1 if the VMA may get THP; 0 for every DAX VMA."),
        entry("smaps.VmFlags", .text, smapsSource, "Union of the VMAs' two-letter flags, first-seen order (DAX mmap sets `hg`)."),
        entry("smaps.<Field>", .kilobytes, smapsSource, "Any other smaps field, summed over the VMAs (kB unless the kernel printed no unit)."),
    ]

    static let rollupSource = "/proc/PID/smaps_rollup"
    static let smapsRollup = [
        entry("smaps_rollup.Rss", .kilobytes, rollupSource, "Resident memory of the whole process."),
        entry("smaps_rollup.Pss", .kilobytes, rollupSource, "Proportional set size of the whole process."),
        entry("smaps_rollup.FilePmdMapped", .kilobytes, rollupSource, "File PMD mappings of the whole process."),
        entry("smaps_rollup.<Field>", .kilobytes, rollupSource, "Any smaps_rollup field for the whole process."),
    ]

    static let pagemapSource = "/proc/PID/pagemap over the target range"
    static let pagemap = [
        entry("pagemap.pages", .pages, pagemapSource, "Base pages in the (page-aligned) target range."),
        entry("pagemap.present", .pages, pagemapSource, "Pages with PM_PRESENT (bit 63). A 1 GiB PUD mapping reads as not present (the walk splits it)."),
        entry("pagemap.swapped", .pages, pagemapSource, "Pages with PM_SWAP (bit 62)."),
        entry("pagemap.file", .pages, pagemapSource, "Pages with PM_FILE (bit 61). DAX PTEs: no before 6.15, yes after; DAX PMDs: yes in every era."),
        entry("pagemap.exclusive", .pages, pagemapSource, "Pages with PM_MMAP_EXCLUSIVE (bit 56). DAX: never before 6.15 (no rmap), every page mapped once after (observed 6.1 / 7.2)."),
        entry("pagemap.soft_dirty", .pages, pagemapSource, "Pages with PM_SOFT_DIRTY (bit 55)."),
        entry("pagemap.uffd_wp", .pages, pagemapSource, "Pages with PM_UFFD_WP (bit 57)."),
        entry("pagemap.guard", .pages, pagemapSource, "Pages with PM_GUARD_REGION (bit 58, 6.15+)."),
        entry("pagemap.pfns", .pfn, pagemapSource, "PFN of each present page in address order (list); unavailable without CAP_SYS_ADMIN."),
    ]

    static let kernelPages = [
        entry("kpagecount.values", .count, "/proc/kpagecount", "Per PFN (pagemap.pfns order): the mapcount word; 0 for ZONE_DEVICE in every era; unavailable for EOF (NVDIMM pmem above the top of RAM always is EOF)."),
        entry("kpagecount.eof", .count, "/proc/kpagecount", "PFNs at or beyond the end of the file (above round_up(max_pfn, section))."),
        entry("kpagecount.errors", .count, "/proc/kpagecount", "PFNs whose read failed."),
        entry("kpagecount.nonzero", .count, "/proc/kpagecount", "PFNs with a nonzero mapcount word."),
        entry("kpageflags.values", .number, "/proc/kpageflags", "Per PFN: the raw KPF_* flag word (list); unavailable for EOF."),
        entry("kpageflags.nopage", .count, "/proc/kpageflags", "PFNs with KPF_NOPAGE (bit 20): PFNs without an online memmap (ZONE_DEVICE, holes) on 6.1/6.12; observed on 6.1 for a hole."),
        entry("kpageflags.zero", .count, "/proc/kpageflags", "PFNs whose flag word is 0: PFNs without an online memmap (ZONE_DEVICE, holes) from ≈6.16; observed on 7.2."),
        entry("kpageflags.eof", .count, "/proc/kpageflags", "PFNs beyond the end of the file (pmem above the top of RAM)."),
        entry("kpageflags.errors", .count, "/proc/kpageflags", "PFNs whose read failed."),
        entry("kpageflags.union", .text, "/proc/kpageflags", "Names of all flags set in any of the PFNs (`NOPAGE`, `RESERVED|MMAP`), or `0`."),
    ]

    static let vmstatSource = "/proc/vmstat (after stat_refresh)"
    static let vmstat = [
        entry("vmstat.nr_foll_pin_acquired", .pages, vmstatSource, "FOLL_PIN pins taken, per 4 KiB page (ZONE_DEVICE included); FOLL_GET is not counted."),
        entry("vmstat.nr_foll_pin_released", .pages, vmstatSource, "FOLL_PIN pins released, per 4 KiB page."),
        entry("vmstat.nr_memmap_pages", .pages, vmstatSource, "Pages of memmap allocated after boot (6.11+; absent on 6.1)."),
        entry("vmstat.nr_mapped", .pages, vmstatSource, "File pages mapped; DAX counted only from 6.15 (and removed again when a walk zaps a 1 GiB PUD)."),
        entry("vmstat.nr_file_pmdmapped", .count, vmstatSource, "PMD-mapped file folios, in 2 MiB units (vmstat divides THP counters by HPAGE_PMD_NR); DAX PMD maps counted from 6.15 (7.2: 6 for six PMD maps)."),
        entry("vmstat.thp_split_pud", .count, vmstatSource, "PUD mappings split; every page walk over a 1 GiB DAX PUD bumps it."),
        entry("vmstat.thp_split_pmd", .count, vmstatSource, "PMD mappings split."),
        entry("vmstat.<name>", .number, vmstatSource, "Any /proc/vmstat counter (nr_* are pages except the THP ones, which are 2 MiB units; others are events)."),
    ]

    static let meminfo = [
        entry("meminfo.Mapped", .kilobytes, "/proc/meminfo", "Mapped file memory; DAX counted only from 6.15."),
        entry("meminfo.FilePmdMapped", .kilobytes, "/proc/meminfo", "File memory mapped with PMDs; DAX PMD maps from 6.15."),
        entry("meminfo.Mlocked", .kilobytes, "/proc/meminfo", "mlock()ed memory (B9: DAX folios in VM_LOCKED VMAs on 6.15+)."),
        entry("meminfo.MemFree", .kilobytes, "/proc/meminfo", "Free RAM."),
        entry("meminfo.<Name>", .kilobytes, "/proc/meminfo", "Any /proc/meminfo field (kB; HugePages_* are page counts)."),
    ]

    static let statusSource = "/proc/PID/status"
    static let status = [
        entry("status.VmRSS", .kilobytes, statusSource, "Resident set size (mm counters, no page walk)."),
        entry("status.RssAnon", .kilobytes, statusSource, "Anonymous resident memory."),
        entry("status.RssFile", .kilobytes, statusSource, "File resident memory; DAX mappings counted only from 6.15 (PTE +4, PMD +2048, PUD +1048576)."),
        entry("status.RssShmem", .kilobytes, statusSource, "Shmem resident memory."),
        entry("status.<Field>", .kilobytes, statusSource, "Any other status field printed in kB (VmPTE, VmLck, VmPin, …)."),
    ]

    static let numaMapsSource = "/proc/PID/numa_maps, VMAs overlapping the target range"
    static let numaMaps = [
        entry("numa_maps.vmas", .count, numaMapsSource, "VMAs overlapping the range (extents from /proc/PID/maps)."),
        entry("numa_maps.pages", .pages, numaMapsSource, "Sum of all N<node>= counts; DAX pages are never counted (0) in any era."),
        entry("numa_maps.policy", .text, numaMapsSource, "Memory policy of the VMAs (`default`, `bind:0`, …)."),
        entry("numa_maps.kernelpagesize_kB", .kilobytes, numaMapsSource, "Page size of the VMAs when they agree."),
        entry("numa_maps.N<node>", .pages, numaMapsSource, "Pages on node <node>."),
        entry("numa_maps.<counter>", .pages, numaMapsSource, "Summed counter: anon, dirty, mapped, mapmax, swapcache, active, writeback."),
    ]

    static let taskSource = "/proc/PID/task/TID"
    static let task = [
        entry("task.wchan", .text, taskSource + "/wchan", "Function the task sleeps in (`ext4_break_layouts` 6.1, `ext4_wait_dax_page` 6.15+); `0` when running or not ptrace-able."),
        entry("task.state", .text, taskSource + "/stat", "Scheduler state letter: R, S (interruptible), D (uninterruptible), …"),
        entry("task.stack", .text, taskSource + "/stack", "Kernel stack frames (list), root only."),
    ]

    static let dmesgSource = "/dev/kmsg since the cursor was opened (or last read)"
    static let dmesg = [
        entry("dmesg.warnings", .text, dmesgSource, "Each WARN as `file:line function` (list), e.g. `fs/dax.c:398 dax_disassociate_entry` (B1)."),
        entry("dmesg.bugs", .text, dmesgSource, "Each `kernel BUG at file:line` location or `BUG: …` text (list)."),
        entry("dmesg.oopses", .text, dmesgSource, "Each oops banner with the function of its RIP (list)."),
        entry("dmesg.lines", .text, dmesgSource, "Every message logged (list), as evidence."),
        entry("dmesg.lost", .count, dmesgSource, "Records overwritten before they could be read."),
    ]

    static let sysfs = [
        entry("sysfs.dax.size", .bytes, "/sys/bus/dax/devices/daxX.Y/size", "Size of the device-dax instance."),
        entry("sysfs.dax.align", .bytes, "/sys/bus/dax/devices/daxX.Y/align", "Mapping granularity: 4096, 2097152 or 1073741824 (PTE, PMD or PUD faults only)."),
        entry("sysfs.dax.target_node", .number, "/sys/bus/dax/devices/daxX.Y/target_node", "Node the memory would join as system-ram."),
        entry("sysfs.dax.numa_node", .number, "/sys/bus/dax/devices/daxX.Y/numa_node", "Node of the device (its pages' node); -1 if none."),
        entry("sysfs.dax.resource", .address, "/sys/bus/dax/devices/daxX.Y/resource", "Physical start address (PFN = resource / 4096)."),
        entry("sysfs.dax.modalias", .text, "/sys/bus/dax/devices/daxX.Y/modalias", "Driver binding alias (`dax:t0*`; t1 = kmem)."),
        entry("sysfs.namespace.mode", .text, "/sys/bus/nd/devices/namespaceX.Y/mode", "Kernel mode name: `memory` (fsdax), `dax` (devdax), `safe`, `raw`."),
        entry("sysfs.namespace.size", .bytes, "/sys/bus/nd/devices/namespaceX.Y/size", "Namespace size."),
        entry("sysfs.namespace.resource", .address, "/sys/bus/nd/devices/namespaceX.Y/resource", "Physical start address."),
        entry("sysfs.namespace.holder", .text, "/sys/bus/nd/devices/namespaceX.Y/holder", "The pfnX.Y / daxX.Y / bttX.Y claiming it."),
        entry("sysfs.namespace.numa_node", .number, "/sys/bus/nd/devices/namespaceX.Y/numa_node", "Node of the namespace."),
        entry("sysfs.namespace.align", .bytes, "/sys/bus/nd/devices/<holder>/align", "Alignment of the holder (fsdax pfn or devdax)."),
        entry("sysfs.namespace.holder_mode", .text, "/sys/bus/nd/devices/<holder>/mode", "Where the memmap lives: `ram` (ndctl --map=mem) or `pmem` (--map=dev)."),
        entry("sysfs.namespace.holder_size", .bytes, "/sys/bus/nd/devices/<holder>/size", "Usable size after the holder's reservation."),
        entry("sysfs.node.id", .number, "/sys/devices/system/node/nodeN", "The node read."),
        entry("sysfs.node.meminfo.<Name>", .kilobytes, "/sys/devices/system/node/nodeN/meminfo", "The node's meminfo fields (kB; HugePages_* are counts)."),
        entry("sysfs.node.vmstat.<name>", .number, "/sys/devices/system/node/nodeN/vmstat", "The node's counters (nr_foll_pin_*, nr_mapped, … in pages)."),
    ]

    // Recorded by the create-namespace steps (`NamespaceSteps`) for the namespace they created.
    static let namespaceSteps = [
        entry("namespace.mode", .text, "ndctl list", "Mode of the created namespace: `devdax` or `fsdax`."),
        entry("namespace.size", .bytes, "ndctl list", "Usable size of the created namespace: the dax / pfn device, after the info block and any --map=dev memmap reserve."),
        entry("namespace.raw_size", .bytes, "/sys/bus/nd/devices/namespaceX.Y/size", "Capacity the namespace spans; its memmap covers this range (per-GiB memmap figures divide by it)."),
        entry("namespace.align", .bytes, "ndctl list", "Alignment of the created namespace: 4096, 2097152 or 1073741824."),
        entry("namespace.map", .text, "ndctl list", "Where its memmap is: `mem` (system RAM) or `dev` (the device, vmem_altmap)."),
        entry("namespace.device", .text, "ndctl list", "The device it got: `daxX.Y` (devdax) or `pmemX.Y` (fsdax)."),
        entry("ndctl.exit", .number, "ndctl create-namespace", "ndctl's exit status (0 ok; 128 + signal if killed; -1 if it never ended): the step's errno."),
        entry("ndctl.stderr", .text, "ndctl create-namespace", "What ndctl printed on stderr when it failed."),
        entry("ndctl.duration.ms", .count, "ndctl create-namespace", "How long the create-namespace run took, in milliseconds."),
        entry("ndctl.list", .text, "ndctl list --verbose", "What ndctl listed for the created namespace (its JSON, as printed): the evidence behind namespace.*."),
    ]

    // MARK: what the workloads record about a step (`StepKeys`)

    static let stepSource = "workload (StepLog), in the helper process"
    static let step = [
        entry("syscall.name", .text, stepSource, "The step's main syscall: `io_uring_register`, `vmsplice`, `pread`, `ftruncate`, `fallocate`, `munmap`, `mmap`, `fork`, … (absent for steps without one)."),
        entry("syscall.errno", .number, stepSource, "errno of the main syscall; 0 when it succeeded (95 EOPNOTSUPP, 22 EINVAL, 14 EFAULT, …)."),
        entry("syscall.result", .number, stepSource, "Return value of the main syscall when it succeeded: bytes for I/O, vmsplice and process_vm_readv; 0 otherwise."),
        entry("syscall.duration.us", .microseconds, stepSource, "How long the main syscall took."),
        entry("syscall.<name>.errno", .number, stepSource, "errno of a secondary syscall of the step (`syscall.munmap.errno`, `syscall.io_uring_unregister.errno`, `syscall.vmsplice.errno`, `syscall.process_vm_readv.errno`, `syscall.close.errno`, `syscall.unlink.errno`, `syscall.fcntl_setpipe_sz.errno`, `syscall.io_uring_setup.errno`); 0 when it succeeded."),
        entry("syscall.<name>.result", .number, stepSource, "Return value of that secondary syscall when it succeeded (bytes for vmsplice and process_vm_readv)."),
        entry("syscall.<name>.duration.us", .microseconds, stepSource, "How long that secondary syscall took (recorded where timing matters: unregister, vmsplice)."),
        entry("step.duration.ms", .milliseconds, stepSource, "The whole step in its helper, from mapping to the result (cleanup excluded)."),
        entry("step.timed_out", .flag, "drive harness / StepLog", "The harness gave up waiting for the helper (then killed, or abandoned in D state), or a watched call never returned."),
        entry("step.blocked", .flag, stepSource, "The watched call (truncate, punch hole, unlink, close on another thread) had not returned after the block wait (`drive --block-wait`)."),
        entry("step.blocked.ms", .milliseconds, stepSource, "From the watched call's start to its return; absent when it never returned."),
        entry("step.released_by", .text, stepSource, "What let a blocked call return: `pipe-drain`, `munmap`, `itself` (returned before any release), `none` (still blocked)."),
        entry("fault.size", .bytes, "/proc/self/pagemap PM_PRESENT over the mapping", "Memory present after one access at offset 0: the fault size (4 KiB PTE, 2 MiB PMD, 1 GiB PUD; page-cache fault-around shows up too). On a 1 GiB PUD mapping the measuring walk splits the PUD: then 1 GiB per split (`fault.walk_split_pud`)."),
        entry("fault.walk_split_pud", .count, "/proc/vmstat thp_split_pud", "PUD splits caused by the pagemap read that measured `fault.size` (1 GiB device-dax only)."),
        entry("fault.signal", .number, "guarded access (sigsetjmp) / helper exit status", "Signal caught in a guarded access of the helper (7 SIGBUS, 11 SIGSEGV), or the signal that killed the helper (status `crashed`); absent if none."),
        entry("fault.offset", .bytes, "guarded access (sigsetjmp)", "Offset in the mapping where the guarded access faulted."),
        entry("child.fault.signal", .number, "forked child's report", "Signal a forked child caught in its guarded access of the inherited mapping."),
        entry("child.fault.offset", .bytes, "forked child's report", "Offset where the child's access faulted."),
        entry("data.verified", .flag, stepSource, "The data the step checks arrived intact (the pattern, word by word): after O_DIRECT, pipe drain, process_vm_readv, fork, io_uring unregister."),
        entry("data.mismatch_offset", .bytes, stepSource, "Offset of the first word that differed from the pattern."),
        entry("data.child_write_visible", .flag, stepSource, "fork: the child's writes are visible to the parent (shared mappings yes, private no)."),
        entry("data.retained", .flag, stepSource, "madv-dontneed: the data was still there after MADV_DONTNEED (DAX and tmpfs yes, anonymous no)."),
        entry("pipe.capacity", .bytes, "fcntl(F_SETPIPE_SZ)", "Pipe capacity the kernel granted before vmsplice."),
        entry("pipe.held", .bytes, "vmsplice(2) return values", "Bytes held in the pipe by vmsplice: each 4 KiB page holds one FOLL_GET reference until drained."),
        entry("pipe.drained", .bytes, "read(2) from the pipe", "Bytes read back out of the pipe when releasing (dropping the page references)."),
        entry("memory.length", .bytes, "the step's mapping", "Length of the mapping under test (the request rounded up to the alignment)."),
        entry("memory.alignment", .bytes, "the step's mapping", "Its alignment: the device align for device-dax, 2 MiB for the others."),
        entry("memory.transfer", .bytes, "the step's mapping", "How much of the mapping the step's I/O, pin or splice covered (at most 4 MiB; 4 KiB for refcount-timeline)."),
    ]

    // MARK: kprobes (refcount-timeline; kprobe-check reads the same session)

    static let kprobeSource = "tracefs kprobes of the step's own session (group daxref_<pid>, private instance)"
    static let sampleSource = "kprobe on getppid(2) reading struct page words by address, at the moment named"
    static let whichCount = "The count is the first page's governing `_refcount`: its own when it is order-0 or a compound head (device-dax 2M/1G, 6.15+ fsdax PMD folio, anonymous THP), the head's when it is a tail."
    static let kprobe = [
        entry("kprobe.available", .flag, kprobeSource, "Probes could be installed (false: the other kprobe keys are unavailable with the reason)."),
        entry("kprobe.refcount.idle", .count, sampleSource, "Before the measured mapping's first fault: mmap done, no page-table entry yet. Device-dax: the page is located from sysfs `resource`, so this step faulted nothing before. fsdax / tmpfs: the PFN is found by a write fault through a second mapping of the same file offset, unmapped again before this sample (so it is the count after one full map/fault/unmap cycle). Anonymous: unavailable (no page exists before the fault). Expected eras: device-dax 1; fsdax 1 (≤6.14) or 0 (6.15+). " + whichCount),
        entry("kprobe.refcount.faulted", .count, sampleSource, "After one write to byte 0 of the mapping (one write fault: PTE on devdax 4K, PMD on devdax 2M and aligned fsdax/anon THP, PUD on devdax 1G). ≤6.14 DAX mappings take no reference (pfn_t insert); 6.15+ one per mapping entry. " + whichCount),
        entry("kprobe.refcount.pinned_transient", .count, "kprobe on gup_put_folio entry (trace, not a sample)", "While one short-term FOLL_PIN was held: process_vm_readv(getpid(), the first 64 bytes) pins and unpins inside the call, so no sample can see it; this is the `_refcount` gup_put_folio read on entry, before the unpin subtracts. Order-0: faulted + 1024; large folio: faulted + 1 (its `_pincount` +1 is not read here). Unavailable when gup_put_folio is not probeable (inlined) or was not hit. Works on every backing, fsdax included."),
        entry("kprobe.refcount.spliced", .count, sampleSource, "While vmsplice holds the first 4 KiB in a pipe: one FOLL_GET reference (+1; a large folio's head +1). Unavailable with the errno if vmsplice failed. " + whichCount),
        entry("kprobe.refcount.unspliced", .count, sampleSource, "After the pipe was read out and closed (the FOLL_GET reference dropped), still mapped."),
        entry("kprobe.refcount.pinned", .count, sampleSource, "While an io_uring fixed buffer (IORING_REGISTER_BUFFERS of the first 4 KiB: FOLL_WRITE|FOLL_PIN|FOLL_LONGTERM) holds it: order-0 +1024, large folio head +1 (and `_pincount` +1). Unavailable with the errno where the registration is refused: fsdax EOPNOTSUPP in every era (no long-term pins of FS DAX); device-dax EOPNOTSUPP on 6.1 (io_uring accepts only shmem/hugetlb files). " + whichCount),
        entry("kprobe.refcount.released", .count, sampleSource, "After IORING_UNREGISTER_BUFFERS and closing the ring: every hold dropped, still mapped (should equal `faulted`)."),
        entry("kprobe.refcount.unmapped", .count, sampleSource, "After munmap of the whole mapping. ≤6.14: unchanged (no mapping reference); 6.15+: the mapping's reference dropped (fsdax back to 0, device-dax to 1). An anonymous page is freed here (0, and no longer a compound head)."),
        entry("kprobe.refcount.<moment>", .count, sampleSource, "The governing `_refcount` at another named moment of a kprobe session (kprobe-check step names)."),
        entry("kprobe.pincount.<moment>", .count, sampleSource + " (folio `_pincount`, page[1] of the head; offset from BTF)", "The folio's `_pincount` at that moment: 1 per FOLL_PIN of a large folio, 0 otherwise. Unavailable for order-0 pages (a pin adds 1024 to `_refcount` instead), without BTF, or when the moment did not happen (pin refused)."),
        entry("kprobe.pin_mechanism", .text, "refcount-timeline", "How `pinned` holds a FOLL_PIN: io_uring IORING_REGISTER_BUFFERS of the first 4 KiB, the only FOLL_PIN userspace can hold open at will (process_vm_readv and O_DIRECT release within the call; vmsplice is FOLL_GET); refused on fsdax and on 6.1 device-dax."),
        entry("kprobe.page.pfn", .pfn, "sysfs resource (device-dax) or /proc/self/pagemap", "The first page of the mapping: the page whose counts are read."),
        entry("kprobe.page.order", .number, "device align (device-dax), else 9", "Compound order assumed for finding its head: log2(align / 4 KiB) for device-dax (0, 9, 18); 9 for the others (a 6.15+ fsdax PMD folio, an anonymous or tmpfs THP). Whether it is compound is read from the struct pages (`kprobe.page.shape`)."),
        entry("kprobe.page.located_by", .text, "refcount-timeline", "How the PFN was found, and so what `idle` follows (see `kprobe.refcount.idle`)."),
        entry("kprobe.page.shape", .text, sampleSource, "What the first page is at the `faulted` moment: `order-0`, `head` (of a compound page / large folio) or `tail`."),
        entry("kprobe.timeline", .text, sampleSource, "Every sample in time order (list): `<moment> refcount=<n> pincount=<n|-> page=<order-0|head|tail> pfn=0x… t=<s>`."),
        entry("kprobe.calls", .text, kprobeSource, "Every probed kernel function hit for the page, time-ordered (list): `<moment> pfn=0x… <function>[:return] refcount=<n|-> [refs= flags=] pid= comm= t=`; the refcount is read at function entry, i.e. before the function changes it. PFN-only hits (≤6.16 pfn_t inserts) carry no refcount."),
        entry("kprobe.events", .count, kprobeSource, "Number of probed-function hits matched to the page (the length of `kprobe.calls` without markers)."),
        entry("kprobe.lost", .count, "trace_pipe `[LOST N EVENTS]`", "Events the ring buffer dropped; non-zero means `kprobe.calls` has gaps (samples are unaffected unless one is missing)."),
        entry("kprobe.missed", .count, "tracefs kprobe_profile", "Probe hits the kernel missed (a kprobe firing inside another's handler); non-zero means gaps."),
        entry("kprobe.unmatched", .count, kprobeSource, "Hits on pages other than the one under test (the in-kernel filter keeps this near 0)."),
        entry("kprobe.parse_errors", .text, kprobeSource, "Trace lines that could not be parsed (list; should be empty)."),
        entry("kprobe.probes_remaining", .count, "tracefs kprobe_events after removal", "Probes of this step's session still installed after it closed (must be 0). After a helper that was killed: daxref probes of any session left after the harness's sweep."),
        entry("kprobe.cleanup.failures", .text, "tracefs kprobe_events", "Removal commands that failed, with their errno (list; should be empty)."),
        entry("kprobe.swept", .text, "drive harness", "What the harness removed after a kprobe helper died without delivering (`instance daxref_<pid>`, `group daxref_<pid> (N of N probes removed)`)."),
        entry("kprobe.installed", .text, "tracefs kprobe_events", "The probe definitions installed (list), including the getppid sampler with its `@ADDR` fetchargs."),
        entry("kprobe.missing", .text, "/proc/kallsyms", "Catalogue functions not probed here and why (`<symbol>: <reason>`: absent, inlined, ambiguous, rejected) (list)."),
        entry("kprobe.vmemmap_base", .address, "kprobe fetcharg @vmemmap_base", "Start of the struct page array used to turn page pointers into PFNs and back."),
        entry("kprobe.vmemmap_base.source", .text, "kprobe fetcharg @vmemmap_base", "`@vmemmap_base` (read by a probe) or `default 0xffffea0000000000 (<why>)`."),
        entry("kprobe.page_layout", .text, "/sys/kernel/btf/vmlinux", "struct page offsets used: `refcount+52 compound_head+8 size64 pincount+92 (btf|assumed)`."),
        entry("kprobe.phases", .text, kprobeSource, "Milliseconds per phase of session start and close (`sweep= btf= symbols= calibrate= install= enable= profile= remove=`): where TCG time goes."),
    ]
}
