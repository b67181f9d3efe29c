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
}

public enum ObservableCatalogue {
    public static let entries: [ObservableDescription] = snapshot + smaps + smapsRollup + pagemap + kernelPages
        + vmstat + meminfo + status + numaMaps + task + dmesg + sysfs

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
}
