/// What one observable key means: its unit, the file it comes from, and what it tells about DAX
/// pages. A key with `<…>` is a family (`vmstat.<name>`: every line of /proc/vmstat).
/// `<key>.delta` is after − before, in the key's unit (see `Observations.deltas`).
public struct ObservableDescription: Codable, Sendable, Equatable {
    public var key: String
    public var unit: ObservableUnit
    /// The file (or mechanism) it is read from.
    public var source: String
    public var meaning: String

    public var isFamily: Bool { key.contains("<") }

    init(key: String, _ about: (unit: ObservableUnit, source: String, meaning: String)) {
        self.init(key: key, unit: about.unit, source: about.source, meaning: about.meaning)
    }

    public init(key: String, unit: ObservableUnit, source: String, meaning: String) {
        self.key = key
        self.unit = unit
        self.source = source
        self.meaning = meaning
    }
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

/// Every observable with a fixed key, declared once: the observers, the workloads and the model's
/// rules name these cases, so a misspelt key does not compile. The raw value is the key exactly as
/// reports publish it (never renamed). A snapshot records each key of a source it read, as
/// `.unavailable` when the kernel did not print it (e.g. `vmstat.nr_memmap_pages` on 6.1). Keys
/// that are made from what the kernel prints (`vmstat.<name>`, `syscall.<name>.errno`) are the
/// `ObservableFamily` cases.
public enum Observable: String, CaseIterable, Sendable {
    // MARK: snapshot
    case snapshotPageWalks = "snapshot.page_walks"
    case snapshotWalkSplitPUD = "snapshot.walk_split_pud"
    case snapshotVmstatRefreshed = "snapshot.vmstat_refreshed"

    // MARK: smaps
    case smapsVmas = "smaps.vmas"
    case smapsSize = "smaps.Size"
    case smapsKernelPageSize = "smaps.KernelPageSize"
    case smapsMMUPageSize = "smaps.MMUPageSize"
    case smapsRss = "smaps.Rss"
    case smapsPss = "smaps.Pss"
    case smapsSharedClean = "smaps.Shared_Clean"
    case smapsSharedDirty = "smaps.Shared_Dirty"
    case smapsPrivateClean = "smaps.Private_Clean"
    case smapsPrivateDirty = "smaps.Private_Dirty"
    case smapsReferenced = "smaps.Referenced"
    case smapsAnonymous = "smaps.Anonymous"
    case smapsAnonHugePages = "smaps.AnonHugePages"
    case smapsShmemPmdMapped = "smaps.ShmemPmdMapped"
    case smapsFilePmdMapped = "smaps.FilePmdMapped"
    case smapsSwap = "smaps.Swap"
    case smapsLocked = "smaps.Locked"
    case smapsTHPEligible = "smaps.THPeligible"
    case smapsVmFlags = "smaps.VmFlags"

    // MARK: smapsRollup
    case smapsRollupRss = "smaps_rollup.Rss"
    case smapsRollupPss = "smaps_rollup.Pss"
    case smapsRollupFilePmdMapped = "smaps_rollup.FilePmdMapped"

    // MARK: pagemap
    case pagemapPages = "pagemap.pages"
    case pagemapPresent = "pagemap.present"
    case pagemapSwapped = "pagemap.swapped"
    case pagemapFile = "pagemap.file"
    case pagemapExclusive = "pagemap.exclusive"
    case pagemapSoftDirty = "pagemap.soft_dirty"
    case pagemapUffdWP = "pagemap.uffd_wp"
    case pagemapGuard = "pagemap.guard"
    case pagemapPFNs = "pagemap.pfns"

    // MARK: kernelPages
    case kpagecountValues = "kpagecount.values"
    case kpagecountEof = "kpagecount.eof"
    case kpagecountErrors = "kpagecount.errors"
    case kpagecountNonzero = "kpagecount.nonzero"
    case kpageflagsValues = "kpageflags.values"
    case kpageflagsNopage = "kpageflags.nopage"
    case kpageflagsZero = "kpageflags.zero"
    case kpageflagsEof = "kpageflags.eof"
    case kpageflagsErrors = "kpageflags.errors"
    case kpageflagsUnion = "kpageflags.union"

    // MARK: vmstat
    case vmstatNrFollPinAcquired = "vmstat.nr_foll_pin_acquired"
    case vmstatNrFollPinReleased = "vmstat.nr_foll_pin_released"
    case vmstatNrMemmapPages = "vmstat.nr_memmap_pages"
    case vmstatNrMapped = "vmstat.nr_mapped"
    case vmstatNrFilePmdMapped = "vmstat.nr_file_pmdmapped"
    case vmstatThpSplitPUD = "vmstat.thp_split_pud"
    case vmstatThpSplitPMD = "vmstat.thp_split_pmd"

    // MARK: meminfo
    case meminfoMapped = "meminfo.Mapped"
    case meminfoFilePmdMapped = "meminfo.FilePmdMapped"
    case meminfoMlocked = "meminfo.Mlocked"
    case meminfoMemFree = "meminfo.MemFree"

    // MARK: status
    case statusVmRSS = "status.VmRSS"
    case statusRssAnon = "status.RssAnon"
    case statusRssFile = "status.RssFile"
    case statusRssShmem = "status.RssShmem"

    // MARK: numaMaps
    case numaMapsVmas = "numa_maps.vmas"
    case numaMapsPages = "numa_maps.pages"
    case numaMapsPolicy = "numa_maps.policy"
    case numaMapsKernelPageSize = "numa_maps.kernelpagesize_kB"

    // MARK: task
    case taskWchan = "task.wchan"
    case taskState = "task.state"
    case taskStack = "task.stack"

    // MARK: dmesg
    case dmesgWarnings = "dmesg.warnings"
    case dmesgBugs = "dmesg.bugs"
    case dmesgOopses = "dmesg.oopses"
    case dmesgLines = "dmesg.lines"
    case dmesgLost = "dmesg.lost"

    // MARK: sysfs
    case sysfsDaxSize = "sysfs.dax.size"
    case sysfsDaxAlign = "sysfs.dax.align"
    case sysfsDaxTargetNode = "sysfs.dax.target_node"
    case sysfsDaxNumaNode = "sysfs.dax.numa_node"
    case sysfsDaxResource = "sysfs.dax.resource"
    case sysfsDaxModalias = "sysfs.dax.modalias"
    case sysfsNamespaceMode = "sysfs.namespace.mode"
    case sysfsNamespaceSize = "sysfs.namespace.size"
    case sysfsNamespaceResource = "sysfs.namespace.resource"
    case sysfsNamespaceHolder = "sysfs.namespace.holder"
    case sysfsNamespaceNumaNode = "sysfs.namespace.numa_node"
    case sysfsNamespaceAlign = "sysfs.namespace.align"
    case sysfsNamespaceHolderMode = "sysfs.namespace.holder_mode"
    case sysfsNamespaceHolderSize = "sysfs.namespace.holder_size"
    case sysfsNodeID = "sysfs.node.id"

    // MARK: namespaceSteps
    case namespaceMode = "namespace.mode"
    case namespaceSize = "namespace.size"
    case namespaceRawSize = "namespace.raw_size"
    case namespaceAlign = "namespace.align"
    case namespaceMap = "namespace.map"
    case namespaceDevice = "namespace.device"
    case ndctlExit = "ndctl.exit"
    case ndctlStderr = "ndctl.stderr"
    case ndctlDuration = "ndctl.duration.ms"
    case ndctlList = "ndctl.list"

    // MARK: step
    case syscallName = "syscall.name"
    case syscallErrno = "syscall.errno"
    case syscallResult = "syscall.result"
    case syscallDuration = "syscall.duration.us"
    case stepDuration = "step.duration.ms"
    case stepTimedOut = "step.timed_out"
    case stepBlocked = "step.blocked"
    case stepBlockedDuration = "step.blocked.ms"
    case stepReleasedBy = "step.released_by"
    case faultSize = "fault.size"
    case faultWalkSplitPUD = "fault.walk_split_pud"
    case faultSignal = "fault.signal"
    case faultOffset = "fault.offset"
    case childFaultSignal = "child.fault.signal"
    case childFaultOffset = "child.fault.offset"
    case dataVerified = "data.verified"
    case dataMismatchOffset = "data.mismatch_offset"
    case dataChildWriteVisible = "data.child_write_visible"
    case dataRetained = "data.retained"
    case pipeCapacity = "pipe.capacity"
    case pipeHeld = "pipe.held"
    case pipeDrained = "pipe.drained"
    case memoryLength = "memory.length"
    case memoryAlignment = "memory.alignment"
    case memoryTransfer = "memory.transfer"

    // MARK: kprobe
    case kprobeAvailable = "kprobe.available"
    case kprobeRefcountIdle = "kprobe.refcount.idle"
    case kprobeRefcountFaulted = "kprobe.refcount.faulted"
    case kprobeRefcountPinnedTransient = "kprobe.refcount.pinned_transient"
    case kprobeRefcountSpliced = "kprobe.refcount.spliced"
    case kprobeRefcountUnspliced = "kprobe.refcount.unspliced"
    case kprobeRefcountPinned = "kprobe.refcount.pinned"
    case kprobeRefcountReleased = "kprobe.refcount.released"
    case kprobeRefcountUnmapped = "kprobe.refcount.unmapped"
    case kprobePincountPinned = "kprobe.pincount.pinned"
    case kprobePinMechanism = "kprobe.pin_mechanism"
    case kprobePagePFN = "kprobe.page.pfn"
    case kprobePageOrder = "kprobe.page.order"
    case kprobePageLocatedBy = "kprobe.page.located_by"
    case kprobePageShape = "kprobe.page.shape"
    case kprobeTimeline = "kprobe.timeline"
    case kprobeCalls = "kprobe.calls"
    case kprobeEvents = "kprobe.events"
    case kprobeLost = "kprobe.lost"
    case kprobeMissed = "kprobe.missed"
    case kprobeUnmatched = "kprobe.unmatched"
    case kprobeParseErrors = "kprobe.parse_errors"
    case kprobeProbesRemaining = "kprobe.probes_remaining"
    case kprobeCleanupFailures = "kprobe.cleanup.failures"
    case kprobeSwept = "kprobe.swept"
    case kprobeInstalled = "kprobe.installed"
    case kprobeMissing = "kprobe.missing"
    case kprobeVmemmapBase = "kprobe.vmemmap_base"
    case kprobeVmemmapBaseSource = "kprobe.vmemmap_base.source"
    case kprobePageLayout = "kprobe.page_layout"
    case kprobePhases = "kprobe.phases"

    public var key: ObservableKey { ObservableKey(rawValue: rawValue) }

    public var documentation: ObservableDescription { ObservableDescription(key: rawValue, about) }

    private var about: (ObservableUnit, String, String) {
        switch self {
        // snapshot
        case .snapshotPageWalks: (.text, "Snapshot",
            "The page-walking sources this snapshot read, in order (list). Each walk splits 1 GiB DAX PUD mappings.")
        case .snapshotWalkSplitPUD: (.count, "/proc/vmstat thp_split_pud",
            "PUD mappings split by this snapshot's own page walks (thp_split_pud after − before the walks).")
        case .snapshotVmstatRefreshed: (.flag, "/proc/sys/vm/stat_refresh",
            "Whether per-cpu vmstat deltas were folded in before reading (needs root).")
        // smaps
        case .smapsVmas: (.count, Source.smaps,
            "Number of VMAs overlapping the target range (the sums below are over them).")
        case .smapsSize: (.kilobytes, Source.smaps,
            "Virtual size of the VMAs.")
        case .smapsKernelPageSize: (.kilobytes, Source.smaps,
            "Page size backing the VMA; for device-dax the device align (4, 2048, 1048576).")
        case .smapsMMUPageSize: (.kilobytes, Source.smaps,
            "MMU page size of the VMA.")
        case .smapsRss: (.kilobytes, Source.smaps,
            "Resident memory the walk found. DAX PTEs: 0 before 6.15, counted after; per DAX PMD: 6.1 devdax 2048 / fsdax 4, 6.12 0 (source-derived), 6.15+ 2048. Observed on 6.1.176 and 7.2.13.")
        case .smapsPss: (.kilobytes, Source.smaps,
            "Proportional set size.")
        case .smapsSharedClean: (.kilobytes, Source.smaps,
            "Resident, mapped more than once, clean.")
        case .smapsSharedDirty: (.kilobytes, Source.smaps,
            "Resident, mapped more than once, dirty.")
        case .smapsPrivateClean: (.kilobytes, Source.smaps,
            "Resident, mapped once, clean.")
        case .smapsPrivateDirty: (.kilobytes, Source.smaps,
            "Resident, mapped once, dirty.")
        case .smapsReferenced: (.kilobytes, Source.smaps,
            "Marked referenced or accessed.")
        case .smapsAnonymous: (.kilobytes, Source.smaps,
            "Not belonging to a file.")
        case .smapsAnonHugePages: (.kilobytes, Source.smaps,
            "Anonymous THP.")
        case .smapsShmemPmdMapped: (.kilobytes, Source.smaps,
            "Shmem PMD mappings.")
        case .smapsFilePmdMapped: (.kilobytes, Source.smaps,
            "File PMD mappings; 0 for DAX in every era (ZONE_DEVICE is skipped).")
        case .smapsSwap: (.kilobytes, Source.smaps,
            "Swapped out.")
        case .smapsLocked: (.kilobytes, Source.smaps,
            "mlock()ed.")
        case .smapsTHPEligible: (.number, Source.smaps,
            "1 if the VMA may get THP; 0 for every DAX VMA.")
        case .smapsVmFlags: (.text, Source.smaps,
            "Union of the VMAs' two-letter flags, first-seen order (DAX mmap sets `hg`).")
        // smapsRollup
        case .smapsRollupRss: (.kilobytes, Source.smapsRollup,
            "Resident memory of the whole process.")
        case .smapsRollupPss: (.kilobytes, Source.smapsRollup,
            "Proportional set size of the whole process.")
        case .smapsRollupFilePmdMapped: (.kilobytes, Source.smapsRollup,
            "File PMD mappings of the whole process.")
        // pagemap
        case .pagemapPages: (.pages, Source.pagemap,
            "Base pages in the (page-aligned) target range.")
        case .pagemapPresent: (.pages, Source.pagemap,
            "Pages with PM_PRESENT (bit 63). A 1 GiB PUD mapping reads as not present (the walk splits it).")
        case .pagemapSwapped: (.pages, Source.pagemap,
            "Pages with PM_SWAP (bit 62).")
        case .pagemapFile: (.pages, Source.pagemap,
            "Pages with PM_FILE (bit 61). DAX PTEs: no before 6.15, yes after; DAX PMDs: yes in every era.")
        case .pagemapExclusive: (.pages, Source.pagemap,
            "Pages with PM_MMAP_EXCLUSIVE (bit 56). DAX: never before 6.15 (no rmap), every page mapped once after (observed 6.1 / 7.2).")
        case .pagemapSoftDirty: (.pages, Source.pagemap,
            "Pages with PM_SOFT_DIRTY (bit 55).")
        case .pagemapUffdWP: (.pages, Source.pagemap,
            "Pages with PM_UFFD_WP (bit 57).")
        case .pagemapGuard: (.pages, Source.pagemap,
            "Pages with PM_GUARD_REGION (bit 58, 6.15+).")
        case .pagemapPFNs: (.pfn, Source.pagemap,
            "PFN of each present page in address order (list); unavailable without CAP_SYS_ADMIN.")
        // kernelPages
        case .kpagecountValues: (.count, "/proc/kpagecount",
            "Per PFN (pagemap.pfns order): the mapcount word; 0 for ZONE_DEVICE in every era; unavailable for EOF (NVDIMM pmem above the top of RAM always is EOF).")
        case .kpagecountEof: (.count, "/proc/kpagecount",
            "PFNs at or beyond the end of the file (above round_up(max_pfn, section)).")
        case .kpagecountErrors: (.count, "/proc/kpagecount",
            "PFNs whose read failed.")
        case .kpagecountNonzero: (.count, "/proc/kpagecount",
            "PFNs with a nonzero mapcount word.")
        case .kpageflagsValues: (.number, "/proc/kpageflags",
            "Per PFN: the raw KPF_* flag word (list); unavailable for EOF.")
        case .kpageflagsNopage: (.count, "/proc/kpageflags",
            "PFNs with KPF_NOPAGE (bit 20): PFNs without an online memmap (ZONE_DEVICE, holes) on 6.1/6.12; observed on 6.1 for a hole.")
        case .kpageflagsZero: (.count, "/proc/kpageflags",
            "PFNs whose flag word is 0: PFNs without an online memmap (ZONE_DEVICE, holes) from ≈6.16; observed on 7.2.")
        case .kpageflagsEof: (.count, "/proc/kpageflags",
            "PFNs beyond the end of the file (pmem above the top of RAM).")
        case .kpageflagsErrors: (.count, "/proc/kpageflags",
            "PFNs whose read failed.")
        case .kpageflagsUnion: (.text, "/proc/kpageflags",
            "Names of all flags set in any of the PFNs (`NOPAGE`, `RESERVED|MMAP`), or `0`.")
        // vmstat
        case .vmstatNrFollPinAcquired: (.pages, Source.vmstat,
            "FOLL_PIN pins taken, per 4 KiB page (ZONE_DEVICE included); FOLL_GET is not counted.")
        case .vmstatNrFollPinReleased: (.pages, Source.vmstat,
            "FOLL_PIN pins released, per 4 KiB page.")
        case .vmstatNrMemmapPages: (.pages, Source.vmstat,
            "Pages of memmap allocated after boot (6.11+; absent on 6.1).")
        case .vmstatNrMapped: (.pages, Source.vmstat,
            "File pages mapped; DAX counted only from 6.15 (and removed again when a walk zaps a 1 GiB PUD).")
        case .vmstatNrFilePmdMapped: (.count, Source.vmstat,
            "PMD-mapped file folios, in 2 MiB units (vmstat divides THP counters by HPAGE_PMD_NR); DAX PMD maps counted from 6.15 (7.2: 6 for six PMD maps).")
        case .vmstatThpSplitPUD: (.count, Source.vmstat,
            "PUD mappings split; every page walk over a 1 GiB DAX PUD bumps it.")
        case .vmstatThpSplitPMD: (.count, Source.vmstat,
            "PMD mappings split.")
        // meminfo
        case .meminfoMapped: (.kilobytes, "/proc/meminfo",
            "Mapped file memory; DAX counted only from 6.15.")
        case .meminfoFilePmdMapped: (.kilobytes, "/proc/meminfo",
            "File memory mapped with PMDs; DAX PMD maps from 6.15.")
        case .meminfoMlocked: (.kilobytes, "/proc/meminfo",
            "mlock()ed memory (6.15+ maps DAX folios through the rmap, which mlocks them in VM_LOCKED VMAs: mm/rmap.c, mm/mlock.c).")
        case .meminfoMemFree: (.kilobytes, "/proc/meminfo",
            "Free RAM.")
        // status
        case .statusVmRSS: (.kilobytes, Source.status,
            "Resident set size (mm counters, no page walk).")
        case .statusRssAnon: (.kilobytes, Source.status,
            "Anonymous resident memory.")
        case .statusRssFile: (.kilobytes, Source.status,
            "File resident memory; DAX mappings counted only from 6.15 (PTE +4, PMD +2048, PUD +1048576).")
        case .statusRssShmem: (.kilobytes, Source.status,
            "Shmem resident memory.")
        // numaMaps
        case .numaMapsVmas: (.count, Source.numaMaps,
            "VMAs overlapping the range (extents from /proc/PID/maps).")
        case .numaMapsPages: (.pages, Source.numaMaps,
            "Sum of all N<node>= counts; DAX pages are never counted (0) in any era.")
        case .numaMapsPolicy: (.text, Source.numaMaps,
            "Memory policy of the VMAs (`default`, `bind:0`, …).")
        case .numaMapsKernelPageSize: (.kilobytes, Source.numaMaps,
            "Page size of the VMAs when they agree.")
        // task
        case .taskWchan: (.text, Source.task + "/wchan",
            "Function the task sleeps in (`ext4_break_layouts` 6.1, `ext4_wait_dax_page` 6.15+); `0` when running or not ptrace-able.")
        case .taskState: (.text, Source.task + "/stat",
            "Scheduler state letter: R, S (interruptible), D (uninterruptible), …")
        case .taskStack: (.text, Source.task + "/stack",
            "Kernel stack frames (list), root only.")
        // dmesg
        case .dmesgWarnings: (.text, Source.dmesg,
            "Each WARN as `file:line function` (list), e.g. `fs/dax.c:398 dax_disassociate_entry` (docs/findings.md B1).")
        case .dmesgBugs: (.text, Source.dmesg,
            "Each `kernel BUG at file:line` location or `BUG: …` text (list).")
        case .dmesgOopses: (.text, Source.dmesg,
            "Each oops banner with the function of its RIP (list).")
        case .dmesgLines: (.text, Source.dmesg,
            "Every message logged (list), as evidence.")
        case .dmesgLost: (.count, Source.dmesg,
            "Records overwritten before they could be read.")
        // sysfs
        case .sysfsDaxSize: (.bytes, "/sys/bus/dax/devices/daxX.Y/size",
            "Size of the device-dax instance.")
        case .sysfsDaxAlign: (.bytes, "/sys/bus/dax/devices/daxX.Y/align",
            "Mapping granularity: 4096, 2097152 or 1073741824 (PTE, PMD or PUD faults only).")
        case .sysfsDaxTargetNode: (.number, "/sys/bus/dax/devices/daxX.Y/target_node",
            "Node the memory would join as system-ram.")
        case .sysfsDaxNumaNode: (.number, "/sys/bus/dax/devices/daxX.Y/numa_node",
            "Node of the device (its pages' node); -1 if none.")
        case .sysfsDaxResource: (.address, "/sys/bus/dax/devices/daxX.Y/resource",
            "Physical start address (PFN = resource / 4096).")
        case .sysfsDaxModalias: (.text, "/sys/bus/dax/devices/daxX.Y/modalias",
            "Driver binding alias (`dax:t0*`; t1 = kmem).")
        case .sysfsNamespaceMode: (.text, "/sys/bus/nd/devices/namespaceX.Y/mode",
            "Kernel mode name: `memory` (fsdax), `dax` (devdax), `safe`, `raw`.")
        case .sysfsNamespaceSize: (.bytes, "/sys/bus/nd/devices/namespaceX.Y/size",
            "Namespace size.")
        case .sysfsNamespaceResource: (.address, "/sys/bus/nd/devices/namespaceX.Y/resource",
            "Physical start address.")
        case .sysfsNamespaceHolder: (.text, "/sys/bus/nd/devices/namespaceX.Y/holder",
            "The pfnX.Y / daxX.Y / bttX.Y claiming it.")
        case .sysfsNamespaceNumaNode: (.number, "/sys/bus/nd/devices/namespaceX.Y/numa_node",
            "Node of the namespace.")
        case .sysfsNamespaceAlign: (.bytes, "/sys/bus/nd/devices/<holder>/align",
            "Alignment of the holder (fsdax pfn or devdax).")
        case .sysfsNamespaceHolderMode: (.text, "/sys/bus/nd/devices/<holder>/mode",
            "Where the memmap lives: `ram` (ndctl --map=mem) or `pmem` (--map=dev).")
        case .sysfsNamespaceHolderSize: (.bytes, "/sys/bus/nd/devices/<holder>/size",
            "Usable size after the holder's reservation.")
        case .sysfsNodeID: (.number, "/sys/devices/system/node/nodeN",
            "The node read.")
        // namespaceSteps
        case .namespaceMode: (.text, "ndctl list",
            "Mode of the created namespace: `devdax` or `fsdax`.")
        case .namespaceSize: (.bytes, "ndctl list",
            "Usable size of the created namespace: the dax / pfn device, after the info block and any --map=dev memmap reserve.")
        case .namespaceRawSize: (.bytes, "/sys/bus/nd/devices/namespaceX.Y/size",
            "Capacity the namespace spans; its memmap covers this range (per-GiB memmap figures divide by it).")
        case .namespaceAlign: (.bytes, "ndctl list",
            "Alignment of the created namespace: 4096, 2097152 or 1073741824.")
        case .namespaceMap: (.text, "ndctl list",
            "Where its memmap is: `mem` (system RAM) or `dev` (the device, vmem_altmap).")
        case .namespaceDevice: (.text, "ndctl list",
            "The device it got: `daxX.Y` (devdax) or `pmemX.Y` (fsdax).")
        case .ndctlExit: (.number, "ndctl create-namespace",
            "ndctl's exit status (0 ok; 128 + signal if killed; -1 if it never ended): the step's errno.")
        case .ndctlStderr: (.text, "ndctl create-namespace",
            "What ndctl printed on stderr when it failed.")
        case .ndctlDuration: (.count, "ndctl create-namespace",
            "How long the create-namespace run took, in milliseconds.")
        case .ndctlList: (.text, "ndctl list --verbose",
            "What ndctl listed for the created namespace (its JSON, as printed): the evidence behind namespace.*.")
        // step
        case .syscallName: (.text, Source.step,
            "The step's main syscall: `io_uring_register`, `vmsplice`, `pread`, `ftruncate`, `fallocate`, `munmap`, `mmap`, `fork`, … (absent for steps without one).")
        case .syscallErrno: (.number, Source.step,
            "errno of the main syscall; 0 when it succeeded (95 EOPNOTSUPP, 22 EINVAL, 14 EFAULT, …).")
        case .syscallResult: (.number, Source.step,
            "Return value of the main syscall when it succeeded: bytes for I/O, vmsplice and process_vm_readv; 0 otherwise.")
        case .syscallDuration: (.microseconds, Source.step,
            "How long the main syscall took.")
        case .stepDuration: (.milliseconds, Source.step,
            "The whole step in its helper, from mapping to the result (cleanup excluded).")
        case .stepTimedOut: (.flag, "drive harness / StepLog",
            "The harness gave up waiting for the helper (then killed, or abandoned in D state), or a watched call never returned.")
        case .stepBlocked: (.flag, Source.step,
            "The watched call (truncate, punch hole, unlink, close on another thread) had not returned after the block wait (`drive --block-wait`).")
        case .stepBlockedDuration: (.milliseconds, Source.step,
            "From the watched call's start to its return; absent when it never returned.")
        case .stepReleasedBy: (.text, Source.step,
            "What let a blocked call return: `pipe-drain`, `munmap`, `itself` (returned before any release), `none` (still blocked).")
        case .faultSize: (.bytes, "/proc/self/pagemap PM_PRESENT over the mapping",
            "Memory present after one access at offset 0: the fault size (4 KiB PTE, 2 MiB PMD, 1 GiB PUD; page-cache fault-around shows up too). On a 1 GiB PUD mapping the measuring walk splits the PUD: then 1 GiB per split (`fault.walk_split_pud`).")
        case .faultWalkSplitPUD: (.count, "/proc/vmstat thp_split_pud",
            "PUD splits caused by the pagemap read that measured `fault.size` (1 GiB device-dax only).")
        case .faultSignal: (.number, "guarded access (sigsetjmp) / helper exit status",
            "Signal caught in a guarded access of the helper (7 SIGBUS, 11 SIGSEGV), or the signal that killed the helper (status `crashed`); absent if none.")
        case .faultOffset: (.bytes, "guarded access (sigsetjmp)",
            "Offset in the mapping where the guarded access faulted.")
        case .childFaultSignal: (.number, "forked child's report",
            "Signal a forked child caught in its guarded access of the inherited mapping.")
        case .childFaultOffset: (.bytes, "forked child's report",
            "Offset where the child's access faulted.")
        case .dataVerified: (.flag, Source.step,
            "The data the step checks arrived intact (the pattern, word by word): after O_DIRECT, pipe drain, process_vm_readv, fork, io_uring unregister.")
        case .dataMismatchOffset: (.bytes, Source.step,
            "Offset of the first word that differed from the pattern.")
        case .dataChildWriteVisible: (.flag, Source.step,
            "fork: the child's writes are visible to the parent (shared mappings yes, private no).")
        case .dataRetained: (.flag, Source.step,
            "madv-dontneed: the data was still there after MADV_DONTNEED (DAX and tmpfs yes, anonymous no).")
        case .pipeCapacity: (.bytes, "fcntl(F_SETPIPE_SZ)",
            "Pipe capacity the kernel granted before vmsplice.")
        case .pipeHeld: (.bytes, "vmsplice(2) return values",
            "Bytes held in the pipe by vmsplice: each 4 KiB page holds one FOLL_GET reference until drained.")
        case .pipeDrained: (.bytes, "read(2) from the pipe",
            "Bytes read back out of the pipe when releasing (dropping the page references).")
        case .memoryLength: (.bytes, "the step's mapping",
            "Length of the mapping under test (the request rounded up to the alignment).")
        case .memoryAlignment: (.bytes, "the step's mapping",
            "Its alignment: the device align for device-dax, 2 MiB for the others.")
        case .memoryTransfer: (.bytes, "the step's mapping",
            "How much of the mapping the step's I/O, pin or splice covered (at most 4 MiB; 4 KiB for refcount-timeline).")
        // kprobe
        case .kprobeAvailable: (.flag, Source.kprobe,
            "Probes could be installed (false: the other kprobe keys are unavailable with the reason).")
        case .kprobeRefcountIdle: (.count, Source.sample,
            "Before the measured mapping's first fault: mmap done, no page-table entry yet. Device-dax: the page is located from sysfs `resource`, so this step faulted nothing before. fsdax / tmpfs: the PFN is found by a write fault through a second mapping of the same file offset, unmapped again before this sample (so it is the count after one full map/fault/unmap cycle). Anonymous: unavailable (no page exists before the fault). Expected eras: device-dax 1; fsdax 1 (≤6.14) or 0 (6.15+). " + Source.whichCount)
        case .kprobeRefcountFaulted: (.count, Source.sample,
            "After one write to byte 0 of the mapping (one write fault: PTE on devdax 4K, PMD on devdax 2M and aligned fsdax/anon THP, PUD on devdax 1G). ≤6.14 DAX mappings take no reference (pfn_t insert); 6.15+ one per mapping entry. " + Source.whichCount)
        case .kprobeRefcountPinnedTransient: (.count, "kprobe on gup_put_folio entry (trace, not a sample)",
            "While one short-term FOLL_PIN was held: process_vm_readv(getpid(), the first 64 bytes) pins and unpins inside the call, so no sample can see it; this is the `_refcount` gup_put_folio read on entry, before the unpin subtracts. Order-0: faulted + 1024; large folio: faulted + 1 (its `_pincount` +1 is not read here). Unavailable when gup_put_folio is not probeable (inlined) or was not hit. Works on every backing, fsdax included.")
        case .kprobeRefcountSpliced: (.count, Source.sample,
            "While vmsplice holds the first 4 KiB in a pipe: one FOLL_GET reference (+1; a large folio's head +1). Unavailable with the errno if vmsplice failed. " + Source.whichCount)
        case .kprobeRefcountUnspliced: (.count, Source.sample,
            "After the pipe was read out and closed (the FOLL_GET reference dropped), still mapped.")
        case .kprobeRefcountPinned: (.count, Source.sample,
            "While an io_uring fixed buffer (IORING_REGISTER_BUFFERS of the first 4 KiB: FOLL_WRITE|FOLL_PIN|FOLL_LONGTERM) holds it: order-0 +1024, large folio head +1 (and `_pincount` +1). Unavailable with the errno where the registration is refused: fsdax EOPNOTSUPP in every era (no long-term pins of FS DAX); device-dax EOPNOTSUPP on 6.1 (io_uring accepts only shmem/hugetlb files). " + Source.whichCount)
        case .kprobeRefcountReleased: (.count, Source.sample,
            "After IORING_UNREGISTER_BUFFERS and closing the ring: every hold dropped, still mapped (should equal `faulted`).")
        case .kprobeRefcountUnmapped: (.count, Source.sample,
            "After munmap of the whole mapping. ≤6.14: unchanged (no mapping reference); 6.15+: the mapping's reference dropped (fsdax back to 0, device-dax to 1). An anonymous page is freed here (0, and no longer a compound head).")
        case .kprobePincountPinned: (.count, Source.sample + " (folio `_pincount`, page[1] of the head; offset from BTF)",
            "The folio's `_pincount` while the io_uring fixed buffer of `kprobe.refcount.pinned` holds it: 1 for a large folio (device-dax 2M/1G). Unavailable for order-0 pages, without BTF, or where the pin is refused.")
        case .kprobePinMechanism: (.text, "refcount-timeline",
            "How `pinned` holds a FOLL_PIN: io_uring IORING_REGISTER_BUFFERS of the first 4 KiB, the only FOLL_PIN userspace can hold open at will (process_vm_readv and O_DIRECT release within the call; vmsplice is FOLL_GET); refused on fsdax and on 6.1 device-dax.")
        case .kprobePagePFN: (.pfn, "sysfs resource (device-dax) or /proc/self/pagemap",
            "The first page of the mapping: the page whose counts are read.")
        case .kprobePageOrder: (.number, "device align (device-dax), else 9",
            "Compound order assumed for finding its head: log2(align / 4 KiB) for device-dax (0, 9, 18); 9 for the others (a 6.15+ fsdax PMD folio, an anonymous or tmpfs THP). Whether it is compound is read from the struct pages (`kprobe.page.shape`).")
        case .kprobePageLocatedBy: (.text, "refcount-timeline",
            "How the PFN was found, and so what `idle` follows (see `kprobe.refcount.idle`).")
        case .kprobePageShape: (.text, Source.sample,
            "What the first page is at the `faulted` moment: `order-0`, `head` (of a compound page / large folio) or `tail`.")
        case .kprobeTimeline: (.text, Source.sample,
            "Every sample in time order (list): `<moment> refcount=<n> pincount=<n|-> page=<order-0|head|tail> pfn=0x… t=<s>`.")
        case .kprobeCalls: (.text, Source.kprobe,
            "Every probed kernel function hit for the page, time-ordered (list): `<moment> pfn=0x… <function>[:return] refcount=<n|-> [refs= flags=] pid= comm= t=`; the refcount is read at function entry, i.e. before the function changes it. PFN-only hits (≤6.16 pfn_t inserts) carry no refcount.")
        case .kprobeEvents: (.count, Source.kprobe,
            "Number of probed-function hits matched to the page (the length of `kprobe.calls` without markers).")
        case .kprobeLost: (.count, "trace_pipe `[LOST N EVENTS]`",
            "Events the ring buffer dropped; non-zero means `kprobe.calls` has gaps (samples are unaffected unless one is missing).")
        case .kprobeMissed: (.count, "tracefs kprobe_profile",
            "Probe hits the kernel missed (a kprobe firing inside another's handler); non-zero means gaps.")
        case .kprobeUnmatched: (.count, Source.kprobe,
            "Hits on pages other than the one under test (the in-kernel filter keeps this near 0).")
        case .kprobeParseErrors: (.text, Source.kprobe,
            "Trace lines that could not be parsed (list; should be empty).")
        case .kprobeProbesRemaining: (.count, "tracefs kprobe_events after removal",
            "Probes of this step's session still installed after it closed (must be 0). After a helper that was killed: daxref probes of any session left after the harness's sweep.")
        case .kprobeCleanupFailures: (.text, "tracefs kprobe_events",
            "Removal commands that failed, with their errno (list; should be empty).")
        case .kprobeSwept: (.text, "drive harness",
            "What the harness removed after a kprobe helper died without delivering (`instance daxref_<pid>`, `group daxref_<pid> (N of N probes removed)`).")
        case .kprobeInstalled: (.text, "tracefs kprobe_events",
            "The probe definitions installed (list), including the getppid sampler with its `@ADDR` fetchargs.")
        case .kprobeMissing: (.text, "/proc/kallsyms",
            "Catalogue functions not probed here and why (`<symbol>: <reason>`: absent, inlined, ambiguous, rejected) (list).")
        case .kprobeVmemmapBase: (.address, "kprobe fetcharg @vmemmap_base",
            "Start of the struct page array used to turn page pointers into PFNs and back.")
        case .kprobeVmemmapBaseSource: (.text, "kprobe fetcharg @vmemmap_base",
            "`@vmemmap_base` (read by a probe) or `default 0xffffea0000000000 (<why>)`.")
        case .kprobePageLayout: (.text, "/sys/kernel/btf/vmlinux",
            "struct page offsets used: `refcount+52 compound_head+8 size64 pincount+92 (btf|assumed)`.")
        case .kprobePhases: (.text, Source.kprobe,
            "Milliseconds per phase of session start and close (`sweep= btf= symbols= calibrate= install= enable= profile= remove=`): where TCG time goes.")
        }
    }
}

/// Keys made from what the kernel prints or what a step names: the `<…>` part stands for one
/// dot-free component (`vmstat.<name>` covers `vmstat.thp_split_pud`).
public enum ObservableFamily: String, CaseIterable, Sendable {
    case smapsField = "smaps.<Field>"
    case smapsRollupField = "smaps_rollup.<Field>"
    case vmstatCounter = "vmstat.<name>"
    case meminfoField = "meminfo.<Name>"
    case statusField = "status.<Field>"
    case numaMapsNode = "numa_maps.N<node>"
    case numaMapsCounter = "numa_maps.<counter>"
    case sysfsNodeMeminfoField = "sysfs.node.meminfo.<Name>"
    case sysfsNodeVmstatCounter = "sysfs.node.vmstat.<name>"
    case secondarySyscallErrno = "syscall.<name>.errno"
    case secondarySyscallResult = "syscall.<name>.result"
    case secondarySyscallDuration = "syscall.<name>.duration.us"
    case kprobeRefcount = "kprobe.refcount.<moment>"
    case kprobePincount = "kprobe.pincount.<moment>"

    /// The member of this family for `part` (`vmstatCounter.key("pgfault")` is `vmstat.pgfault`).
    public func key(_ part: String) -> ObservableKey {
        guard let open = rawValue.firstIndex(of: "<"), let close = rawValue.firstIndex(of: ">") else { return ObservableKey(rawValue: rawValue) }
        return ObservableKey(rawValue: String(rawValue[..<open]) + part + String(rawValue[rawValue.index(after: close)...]))
    }

    public var documentation: ObservableDescription { ObservableDescription(key: rawValue, about) }

    /// Whether `name` is a member: the placeholder stands for one dot-free component (digits only
    /// for `<node>`).
    func contains(_ name: String) -> Bool {
        guard let open = rawValue.firstIndex(of: "<"), let close = rawValue.firstIndex(of: ">") else { return false }
        let prefix = rawValue[..<open]
        let suffix = rawValue[rawValue.index(after: close)...]
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return false }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        if rawValue[open...close] == "<node>" { return middle.allSatisfy(\.isNumber) }
        return !middle.contains(".")
    }

    private var about: (ObservableUnit, String, String) {
        switch self {
        case .smapsField: (.kilobytes, Source.smaps,
            "Any other smaps field, summed over the VMAs (kB unless the kernel printed no unit).")
        case .smapsRollupField: (.kilobytes, Source.smapsRollup,
            "Any smaps_rollup field for the whole process.")
        case .vmstatCounter: (.number, Source.vmstat,
            "Any /proc/vmstat counter (nr_* are pages except the THP ones, which are 2 MiB units; others are events).")
        case .meminfoField: (.kilobytes, "/proc/meminfo",
            "Any /proc/meminfo field (kB; HugePages_* are page counts).")
        case .statusField: (.kilobytes, Source.status,
            "Any other status field printed in kB (VmPTE, VmLck, VmPin, …).")
        case .numaMapsNode: (.pages, Source.numaMaps,
            "Pages on node <node>.")
        case .numaMapsCounter: (.pages, Source.numaMaps,
            "Summed counter: anon, dirty, mapped, mapmax, swapcache, active, writeback.")
        case .sysfsNodeMeminfoField: (.kilobytes, "/sys/devices/system/node/nodeN/meminfo",
            "The node's meminfo fields (kB; HugePages_* are counts).")
        case .sysfsNodeVmstatCounter: (.number, "/sys/devices/system/node/nodeN/vmstat",
            "The node's counters (nr_foll_pin_*, nr_mapped, … in pages).")
        case .secondarySyscallErrno: (.number, Source.step,
            "errno of a secondary syscall of the step (`syscall.munmap.errno`, `syscall.io_uring_unregister.errno`, `syscall.vmsplice.errno`, `syscall.process_vm_readv.errno`, `syscall.close.errno`, `syscall.unlink.errno`, `syscall.fcntl_setpipe_sz.errno`, `syscall.io_uring_setup.errno`); 0 when it succeeded.")
        case .secondarySyscallResult: (.number, Source.step,
            "Return value of that secondary syscall when it succeeded (bytes for vmsplice and process_vm_readv).")
        case .secondarySyscallDuration: (.microseconds, Source.step,
            "How long that secondary syscall took (recorded where timing matters: unregister, vmsplice).")
        case .kprobeRefcount: (.count, Source.sample,
            "The governing `_refcount` at another named moment of a kprobe session (kprobe-check step names).")
        case .kprobePincount: (.count, Source.sample + " (folio `_pincount`, page[1] of the head; offset from BTF)",
            "The folio's `_pincount` at that moment: 1 per FOLL_PIN of a large folio, 0 otherwise. Unavailable for order-0 pages (a pin adds 1024 to `_refcount` instead), without BTF, or when the moment did not happen (pin refused).")
        }
    }
}

/// Looks up what a key means; reports and tests use it.
public enum ObservableCatalogue {
    /// Every description: the fixed keys, then the families.
    public static let entries: [ObservableDescription] = Observable.allCases.map(\.documentation) + ObservableFamily.allCases.map(\.documentation)

    /// The description of `key` (a `.delta` key is described by its base key): the fixed key if it
    /// is one, else the family with the longest matching literal part.
    public static func describe(_ key: ObservableKey) -> ObservableDescription? {
        var name = key.rawValue
        if name.hasSuffix(".delta") { name.removeLast(".delta".count) }
        if let exact = Observable(rawValue: name) { return exact.documentation }
        return families.first { $0.contains(name) }?.documentation
    }

    /// The fixed keys under `prefix` (e.g. "vmstat."), which a source records even when absent.
    static func concreteKeys(under prefix: String) -> [ObservableKey] {
        Observable.allCases.filter { $0.rawValue.hasPrefix(prefix) }.map(\.key)
    }

    private static let families: [ObservableFamily] = ObservableFamily.allCases.sorted {
        $0.rawValue.prefix { $0 != "<" }.count > $1.rawValue.prefix { $0 != "<" }.count
    }
}

extension Observations {
    public subscript(key: Observable) -> ObservedValue? {
        get { values[key.key] }
        set { values[key.key] = newValue }
    }
}

/// Where the keys of one source are read (shared by several descriptions).
private enum Source {
    static let smaps = "/proc/PID/smaps, VMAs overlapping the target range"
    static let smapsRollup = "/proc/PID/smaps_rollup"
    static let pagemap = "/proc/PID/pagemap over the target range"
    static let vmstat = "/proc/vmstat (after stat_refresh)"
    static let status = "/proc/PID/status"
    static let numaMaps = "/proc/PID/numa_maps, VMAs overlapping the target range"
    static let task = "/proc/PID/task/TID"
    static let dmesg = "/dev/kmsg since the cursor was opened (or last read)"
    static let step = "workload (StepLog), in the helper process"
    static let kprobe = "tracefs kprobes of the step's own session (group daxref_<pid>, private instance)"
    static let sample = "kprobe on getppid(2) reading struct page words by address, at the moment named"
    static let whichCount = "The count is the first page's governing `_refcount`: its own when it is order-0 or a compound head (device-dax 2M/1G, 6.15+ fsdax PMD folio, anonymous THP), the head's when it is a tail."
}
