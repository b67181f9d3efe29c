// The model's rules, as data. Each cites the kernel source that makes it so; versions are Debian
// source trees (linux-source-6.1 6.1.192, -6.12 6.12.117, -7.2 7.2.13), line numbers as they are
// there. A rule changes only with a new citation, never to fit an observation. Rules name fixtures,
// workloads, checkpoints and keys by their typed cases, so a misspelt one does not compile.

private typealias W = Workload
private typealias M = MemoryFixture

private let old: Set<Era> = [.plainReferences, .devmapPins]
private let new: Set<Era> = [.normalRefcount]
private let anyEra = Set(Era.allCases)

private func cite(_ version: String, _ file: String, _ function: String, line: String? = nil, commit: String? = nil) -> Citation {
    Citation(file: file, function: function, version: version, line: line, commit: commit)
}

/// The helper faults in its own file pages (libraries, the binary over 9p) between two
/// checkpoints, so mm counters move by a few hundred kB on their own. The rules using this decide
/// between "not counted" (0) and "counted in full" (the length): half the length is the midpoint.
private let rssTolerance = Amount.divided(.lengthKB, 2)

extension Rule {
    public static let catalogue: [Rule] = mapping + faults + pageTables + counters + releases + references + pins
        + directIO + layouts + refcounts + memmap

    // MARK: mmap

    static let mapping: [Rule] = [
        Rule("devdax.map-private-refused", "device-dax refuses private mappings (check_vma: VM_MAYSHARE required)",
             memory: M.devdax, workloads: [.mapPrivate], at: .step(.syscallErrno), expect: .equals(.constant(22)),
             cite: cite("6.1", "drivers/dax/device.c", "check_vma")),
        Rule("map-private-allowed", "private mappings of fsdax files and controls are allowed (MAP_SYNC is checked only for shared ones)",
             memory: M.fsdax + M.controls, workloads: [.mapPrivate], at: .step(.syscallErrno), expect: .equals(.constant(0)),
             cite: cite("7.2", "include/linux/dax.h", "daxdev_mapping_supported")),
    ]

    // MARK: faults

    static let faults: [Rule] = [
        Rule("devdax.fault-size-is-align", "device-dax faults map exactly the device align (PTE for 4K, PMD for 2M, PUD for 1G)",
             memory: M.devdax, workloads: [.touchRead, .touchWrite], at: .step(.faultSize), expect: .equals(.mappingSize),
             cite: cite("7.2", "drivers/dax/device.c", "dev_dax_huge_fault", line: "217-240")),
        Rule("devdax.1g.page-walk-splits-pud", "a page walk (pagemap) over a 1 GiB DAX PUD mapping splits it (walkers have no pud_entry)",
             memory: [.devdax(.align1g)], workloads: [.touchRead, .touchWrite], at: .step(.faultWalkSplitPUD), expect: .atLeast(.constant(1)),
             cite: cite("7.2", "mm/pagewalk.c", "walk_pud_range", line: "232-233")),
        Rule("fsdax.read-fault-maps-zero-page", "a read fault on an unwritten fsdax extent maps the (huge) zero page, not pmem",
             memory: M.fsdax, workloads: [.touchRead], at: .checkpoint(.touched, .kpageflagsUnion), expect: .contains("ZERO_PAGE"),
             cite: cite("7.2", "fs/dax.c", "dax_pmd_load_hole", line: "1398-1432")),
        Rule("fsdax.zero-page-not-resident", "the zero page mapped for a hole is special: smaps does not count it",
             memory: M.fsdax, workloads: [.touchRead], at: .checkpoint(.touched, .smapsRss), expect: .equals(.constant(0)),
             cite: cite("7.2", "fs/dax.c", "dax_load_hole", line: "1398-1432")),
    ]

    // MARK: what page walks show of a mapped range

    private static let touchedDAX: [Workload] = [.touchWrite]
    private static let touched: [Workload] = [.touchRead, .touchWrite]

    static let pageTables: [Rule] = [
        // present
        Rule("pagemap.present", "every faulted page reads PM_PRESENT",
             memory: [.devdax(.align4k), .devdax(.align2m)] + M.fsdax + M.controls, workloads: touchedDAX,
             at: .checkpoint(.touched, .pagemapPresent), expect: .equals(.lengthPages),
             cite: cite("6.1", "fs/proc/task_mmu.c", "pagemap_pmd_range", line: "1407-1522")),
        // smaps Rss
        Rule("smaps.rss.devmap-pte-not-counted", "devmap PTEs have no normal page: smaps counts nothing",
             eras: old, memory: [.devdax(.align4k)], workloads: touched, at: .checkpoint(.touched, .smapsRss), expect: .equals(.constant(0)),
             cite: cite("6.1", "mm/memory.c", "vm_normal_page", line: "612-634")),
        Rule("smaps.rss.fsdax-devmap-pte-not-counted", "devmap PTEs have no normal page: smaps counts nothing",
             eras: old, memory: M.fsdax, workloads: touchedDAX, granularity: .pte, at: .checkpoint(.touched, .smapsRss),
             expect: .equals(.constant(0)), cite: cite("6.1", "mm/memory.c", "vm_normal_page", line: "612-634")),
        Rule("smaps.rss.devdax-pmd-compound", "smaps finds the PMD page with follow_trans_huge_pmd and counts the whole compound page",
             eras: old, requires: [KernelChange.smapsPMDNormalPage.id: false], memory: [.devdax(.align2m)], workloads: touched,
             at: .checkpoint(.touched, .smapsRss), expect: .equals(.lengthKB),
             cite: cite("6.1", "fs/proc/task_mmu.c", "smaps_pmd_entry", line: "572-604")),
        Rule("smaps.rss.fsdax-pmd-head-only", "fsdax PMDs map order-0 pages: smaps_account(compound) counts one 4 kB page per PMD",
             eras: old, requires: [KernelChange.smapsPMDNormalPage.id: false], memory: M.fsdax, workloads: touchedDAX,
             granularity: .pmd, at: .checkpoint(.touched, .smapsRss), expect: .equals(.times(.mappings, 4)),
             cite: cite("6.1", "fs/proc/task_mmu.c", "smaps_account", line: "447-452, 583")),
        Rule("smaps.rss.devmap-pmd-not-counted", "vm_normal_page_pmd returns NULL for devmap PMDs: smaps counts nothing",
             eras: old, requires: [KernelChange.smapsPMDNormalPage.id: true], memory: [.devdax(.align2m)] + M.fsdax, workloads: touchedDAX,
             granularity: .pmd, at: .checkpoint(.touched, .smapsRss), expect: .equals(.constant(0)),
             cite: cite("6.12", "mm/memory.c", "vm_normal_page_pmd", line: "695")),
        Rule("smaps.rss.dax-counted", "DAX folios are normal pages now: smaps counts every mapped page",
             eras: new, memory: [.devdax(.align4k), .devdax(.align2m)] + M.fsdax, workloads: touchedDAX, at: .checkpoint(.touched, .smapsRss),
             expect: .equals(.lengthKB), cite: cite("7.2", "fs/proc/task_mmu.c", "smaps_pte_entry", line: "1049-1130")),
        Rule("smaps.rss.devdax-read-counted", "a read fault maps device-dax pages like a write fault",
             eras: new, memory: [.devdax(.align4k), .devdax(.align2m)], workloads: [.touchRead], at: .checkpoint(.touched, .smapsRss),
             expect: .equals(.lengthKB), cite: cite("7.2", "drivers/dax/device.c", "__dev_dax_pte_fault", line: "116")),
        Rule("smaps.rss.anon-read-zero-page", "a read fault on private anonymous memory maps the (huge) zero page, which smaps does not count",
             memory: [.anonymous], workloads: [.touchRead], at: .checkpoint(.touched, .smapsRss), expect: .equals(.constant(0)),
             cite: cite("7.2", "mm/memory.c", "do_anonymous_page")),
        Rule("smaps.rss.shmem-read-allocates", "a read fault on a tmpfs hole allocates a page-cache folio: counted",
             memory: [.pageCache], workloads: [.touchRead], at: .checkpoint(.touched, .smapsRss), expect: .equals(.lengthKB),
             cite: cite("7.2", "mm/shmem.c", "shmem_fault")),
        Rule("smaps.rss.control-counted", "ordinary pages are counted by smaps",
             memory: M.controls, workloads: touchedDAX, at: .checkpoint(.touched, .smapsRss), expect: .equals(.lengthKB),
             cite: cite("7.2", "fs/proc/task_mmu.c", "smaps_pte_entry", line: "1049-1093")),
        // pagemap flags
        Rule("pagemap.file.devmap-pte", "devmap PTEs have no page for pagemap: no PM_FILE",
             eras: old, memory: [.devdax(.align4k)], workloads: touched, at: .checkpoint(.touched, .pagemapFile), expect: .equals(.constant(0)),
             cite: cite("6.1", "fs/proc/task_mmu.c", "pte_to_pagemap_entry", line: "1407-1454")),
        Rule("pagemap.file.fsdax-devmap-pte", "devmap PTEs have no page for pagemap: no PM_FILE",
             eras: old, memory: M.fsdax, workloads: touchedDAX, granularity: .pte, at: .checkpoint(.touched, .pagemapFile),
             expect: .equals(.constant(0)), cite: cite("6.1", "fs/proc/task_mmu.c", "pte_to_pagemap_entry", line: "1407-1454")),
        Rule("pagemap.file.pmd", "PMD entries use pmd_page(): DAX PMDs read PM_FILE in every era",
             memory: [.devdax(.align2m)], workloads: touched, at: .checkpoint(.touched, .pagemapFile), expect: .equals(.lengthPages),
             cite: cite("6.1", "fs/proc/task_mmu.c", "pagemap_pmd_range", line: "1481-1522")),
        Rule("pagemap.file.fsdax-pmd", "PMD entries use pmd_page(): DAX PMDs read PM_FILE in every era",
             memory: M.fsdax, workloads: touchedDAX, granularity: .pmd, at: .checkpoint(.touched, .pagemapFile),
             expect: .equals(.lengthPages), cite: cite("6.1", "fs/proc/task_mmu.c", "pagemap_pmd_range", line: "1481-1522")),
        Rule("pagemap.file.dax-pte", "DAX PTEs map normal file pages: PM_FILE",
             eras: new, memory: [.devdax(.align4k)] + M.fsdax, workloads: touchedDAX, at: .checkpoint(.touched, .pagemapFile),
             expect: .equals(.lengthPages), cite: cite("7.2", "fs/proc/task_mmu.c", "pte_to_pagemap_entry", line: "2021-2078")),
        Rule("pagemap.exclusive.no-rmap", "devmap mappings have no rmap (mapcount 0): never PM_MMAP_EXCLUSIVE",
             eras: old, memory: M.walkableDAX, workloads: touchedDAX, at: .checkpoint(.touched, .pagemapExclusive),
             expect: .equals(.constant(0)), cite: cite("6.1", "fs/proc/task_mmu.c", "pagemap_pmd_range", line: "1481-1522")),
        Rule("pagemap.exclusive.rmap", "DAX mappings are rmapped: a page mapped once reads PM_MMAP_EXCLUSIVE",
             eras: new, memory: M.walkableDAX, workloads: touchedDAX, at: .checkpoint(.touched, .pagemapExclusive),
             expect: .equals(.lengthPages), cite: cite("7.2", "fs/proc/task_mmu.c", "pagemap_pmd_range", line: "2021-2148")),
        Rule("pagemap.exclusive.shared-with-child", "a page mapped by parent and child is not exclusive",
             memory: M.walkableDAX, workloads: [.processVMReadv], at: .checkpoint(.childMapped, .pagemapExclusive),
             expect: .equals(.constant(0)), cite: cite("7.2", "fs/proc/task_mmu.c", "pte_to_pagemap_entry", line: "2021-2078")),
        // kpagecount / kpageflags of ZONE_DEVICE PFNs
        Rule("kpagecount.zone-device-zero", "ZONE_DEVICE PFNs have no online memmap: kpagecount reads 0 (or EOF above max_pfn)",
             memory: M.walkableDAX, workloads: touchedDAX, at: .checkpoint(.touched, .kpagecountNonzero),
             expect: .equals(.constant(0)), cite: cite("6.1", "fs/proc/page.c", "kpagecount_read", line: "66-73")),
        Rule("kpageflags.nopage", "PFNs without an online memmap read KPF_NOPAGE, never a plain 0",
             requires: [KernelChange.kpageflagsZeroForNoPage.id: false], memory: M.walkableDAX, workloads: touchedDAX,
             at: .checkpoint(.touched, .kpageflagsZero), expect: .equals(.constant(0)),
             cite: cite("6.1", "fs/proc/page.c", "stable_page_flags", line: "116-120")),
        Rule("kpageflags.zero", "PFNs without an online memmap read 0: KPF_NOPAGE is no longer reported",
             requires: [KernelChange.kpageflagsZeroForNoPage.id: true], memory: M.walkableDAX, workloads: touchedDAX,
             at: .checkpoint(.touched, .kpageflagsNopage), expect: .equals(.constant(0)),
             cite: cite("7.2", "fs/proc/page.c", "kpage_read", line: "61-108")),
    ]

    // MARK: mm counters and node counters

    static let counters: [Rule] = [
        Rule("rss-file.devmap-not-counted", "devmap faults take no mm counter: RssFile does not grow",
             eras: old, memory: M.walkableDAX, workloads: touchedDAX, at: .change(.statusRssFile, from: .before, to: .touched),
             expect: .approximately(.constant(0), tolerance: rssTolerance),
             cite: cite("6.1", "mm/memory.c", "insert_pfn", line: "2178-2181")),
        Rule("rss-file.dax-counted", "DAX inserts add to the file mm counter (PTE +1, PMD +512 pages)",
             eras: new, memory: M.walkableDAX, workloads: touchedDAX, at: .change(.statusRssFile, from: .before, to: .touched),
             expect: .approximately(.lengthKB, tolerance: rssTolerance),
             cite: cite("7.2", "mm/huge_memory.c", "insert_pmd", line: "1626-1700")),
        Rule("nr_file_pmdmapped.devmap-not-counted", "devmap PMDs have no rmap: nr_file_pmdmapped does not move",
             eras: old, memory: [.devdax(.align2m)] + M.fsdax, workloads: touchedDAX, granularity: .pmd,
             at: .change(.vmstatNrFilePmdMapped, from: .before, to: .touched), expect: .equals(.constant(0)),
             cite: cite("6.1", "mm/huge_memory.c", "insert_pfn_pmd", line: "883-885")),
        Rule("nr_file_pmdmapped.dax-pmd", "a PMD map of a PMD-sized DAX folio adds one to nr_file_pmdmapped",
             eras: new, memory: [.devdax(.align2m)] + M.fsdax, workloads: touchedDAX, granularity: .pmd,
             at: .change(.vmstatNrFilePmdMapped, from: .before, to: .touched), expect: .equals(.mappings),
             cite: cite("7.2", "mm/rmap.c", "__folio_add_rmap", line: "1334-1354")),
    ]

    // MARK: unmapping and discarding

    static let releases: [Rule] = [
        Rule("madv-dontneed.zaps", "MADV_DONTNEED zaps the range's page-table entries",
             memory: M.walkableDAX + M.controls, workloads: [.madviseDontNeed], at: .checkpoint(.advised, .pagemapPresent),
             expect: .equals(.constant(0)), cite: cite("7.2", "mm/madvise.c", "madvise_dontneed_single_vma")),
        Rule("madv-dontneed.shared-data-kept", "a shared mapping refaults from the file or device: the data is still there",
             memory: M.dax + [.pageCache], workloads: [.madviseDontNeed], at: .step(.dataRetained), expect: .flag(true),
             cite: cite("7.2", "mm/madvise.c", "madvise_dontneed_single_vma")),
        Rule("madv-dontneed.anon-zero-filled", "private anonymous pages are freed: the refault reads zeros",
             memory: [.anonymous], workloads: [.madviseDontNeed], at: .step(.dataRetained), expect: .flag(false),
             cite: cite("7.2", "mm/memory.c", "do_anonymous_page")),
        Rule("munmap.rss-file-devmap", "devmap unmaps take no mm counter back",
             eras: old, memory: M.walkableDAX, workloads: [.munmap], at: .change(.statusRssFile, from: .mapped, to: .unmapped),
             expect: .approximately(.constant(0), tolerance: rssTolerance), cite: cite("6.1", "mm/memory.c", "zap_pte_range")),
        Rule("munmap.rss-file-dax", "unmapping DAX folios gives the file mm counter back",
             eras: new, memory: M.walkableDAX, workloads: [.munmap], at: .change(.statusRssFile, from: .mapped, to: .unmapped),
             expect: .approximately(.negative(.lengthKB), tolerance: rssTolerance),
             cite: cite("7.2", "mm/memory.c", "zap_present_ptes")),
        Rule("munmap.rss-anon", "unmapping anonymous pages gives RssAnon back",
             memory: [.anonymous], workloads: [.munmap], at: .change(.statusRssAnon, from: .mapped, to: .unmapped),
             expect: .approximately(.negative(.lengthKB), tolerance: rssTolerance), cite: cite("7.2", "mm/memory.c", "zap_present_ptes")),
        Rule("munmap.rss-shmem", "unmapping tmpfs pages gives RssShmem back",
             memory: [.pageCache], workloads: [.munmap], at: .change(.statusRssShmem, from: .mapped, to: .unmapped),
             expect: .approximately(.negative(.lengthKB), tolerance: rssTolerance), cite: cite("7.2", "mm/memory.c", "zap_present_ptes")),
    ]

    // MARK: other references: fork, process_vm_readv, vmsplice

    static let references: [Rule] = [
        Rule("fork.shared-writes-visible", "a child's writes to a shared mapping are the parent's memory",
             memory: M.dax + [.pageCache], workloads: [.fork], at: .step(.dataChildWriteVisible), expect: .flag(true),
             cite: cite("7.2", "mm/memory.c", "copy_page_range")),
        Rule("fork.private-copy-on-write", "a child's writes to private anonymous memory are copied on write",
             memory: [.anonymous], workloads: [.fork], at: .step(.dataChildWriteVisible), expect: .flag(false),
             cite: cite("7.2", "mm/memory.c", "wp_page_copy")),
        Rule("process-vm-readv.reads-all", "process_vm_readv pins (FOLL_PIN) the remote DAX pages and copies them all",
             memory: M.dax + M.controls, workloads: [.processVMReadv], at: .step(.syscallResult), expect: .equals(.lengthBytes),
             cite: cite("6.1", "mm/process_vm_access.c", "process_vm_rw_single_vec", line: "105-126")),
        Rule("vmsplice.takes-all", "vmsplice takes a reference (FOLL_GET) on every page the pipe has room for and queues it there",
             memory: M.dax + M.controls, workloads: [.vmsplice], at: .step(.syscallResult),
             expect: .equals(.smaller(.lengthBytes, .pipeCapacity)),
             cite: cite("7.2", "fs/splice.c", "iter_to_pipe", line: "1443-1480")),
        Rule("vmsplice.data-survives-munmap", "pages held by the pipe keep their data after munmap",
             memory: M.dax + M.controls, workloads: [.vmsplice], at: .step(.dataVerified), expect: .flag(true),
             cite: cite("6.1", "fs/splice.c", "user_page_pipe_buf_ops", line: "1196")),
    ]

    // MARK: long-term pins through io_uring

    static let pins: [Rule] = [
        Rule("iouring.fsdax-longterm-refused", "FOLL_LONGTERM is refused on fsdax VMAs (EOPNOTSUPP)",
             memory: M.fsdax, workloads: [.ioUringRegister], at: .step(.syscallErrno), expect: .equals(.constant(95)),
             cite: cite("7.2", "mm/gup.c", "check_vma_flags", line: "1213")),
        Rule("iouring.devdax-file-check", "io_uring itself refuses file-backed buffers that are not shmem/hugetlbfs",
             requires: [KernelChange.ioUringGUPFileCheck.id: false], memory: M.devdax, workloads: [.ioUringRegister],
             at: .step(.syscallErrno), expect: .equals(.constant(95)),
             cite: cite("6.1", "io_uring/rsrc.c", "io_sqe_buffer_register", line: "1006-1036")),
        Rule("iouring.devdax-registers", "FOLL_LONGTERM is allowed on device-dax; io_uring leaves the check to GUP",
             requires: [KernelChange.ioUringGUPFileCheck.id: true], memory: M.devdax, workloads: [.ioUringRegister],
             at: .step(.syscallErrno), expect: .equals(.constant(0)),
             cite: cite("7.2", "mm/gup.c", "check_vma_flags", commit: "34ed8d0dcd69 io_uring: rsrc: delegate VMA file-backed check to GUP")),
        Rule("iouring.controls-register", "anonymous and shmem buffers register",
             memory: M.controls, workloads: [.ioUringRegister], at: .step(.syscallErrno), expect: .equals(.constant(0)),
             cite: cite("6.1", "io_uring/rsrc.c", "io_sqe_buffer_register", line: "1019-1021")),
        Rule("iouring.devdax-pin-accounting", "each pinned 4 KiB page adds one to nr_foll_pin_acquired; GUP-fast first pins one leaf, sees a non-shmem file folio, drops it, and the slow path pins them all",
             requires: [KernelChange.ioUringGUPFileCheck.id: true, KernelChange.gupFastRejectsFileLongterm.id: true],
             memory: [.devdax(.align4k), .devdax(.align2m)], workloads: [.ioUringRegister],
             at: .change(.vmstatNrFollPinAcquired, from: .before, to: .pinned), expect: .equals(.plus(.lengthPages, .divided(.mappingSize, 4096))),
             cite: cite("7.2", "mm/gup.c", "gup_fast_folio_allowed")),
        Rule("iouring.devdax-unpin-small-folios", "unregistering releases one pin per 4 KiB page of order-0 folios",
             requires: [KernelChange.ioUringGUPFileCheck.id: true], memory: [.devdax(.align4k)], workloads: [.ioUringRegister],
             at: .change(.vmstatNrFollPinReleased, from: .pinned, to: .unpinned), expect: .equals(.lengthPages),
             cite: cite("7.2", "io_uring/rsrc.c", "io_buffer_unmap")),
        Rule("iouring.devdax-unpin-coalesced", "a buffer of large folios keeps one pin per folio: unregistering releases one per folio",
             requires: [KernelChange.ioUringGUPFileCheck.id: true, KernelChange.ioUringCoalesce.id: true], memory: [.devdax(.align2m)],
             workloads: [.ioUringRegister], at: .change(.vmstatNrFollPinReleased, from: .pinned, to: .unpinned), expect: .equals(.mappings),
             cite: cite("7.2", "io_uring/rsrc.c", "io_coalesce_buffer")),
        Rule("iouring.control-pin-accounting", "each pinned 4 KiB page adds one to nr_foll_pin_acquired (GUP-fast allows anon and shmem)",
             memory: M.controls, workloads: [.ioUringRegister], at: .change(.vmstatNrFollPinAcquired, from: .before, to: .pinned),
             expect: .equals(.lengthPages), cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        // Anonymous memory is left out: whether it is THP-backed (one pin kept per folio) is a system setting.
        Rule("iouring.shmem-unpin-accounting", "unregistering order-0 tmpfs pages releases every pin",
             memory: [.pageCache], workloads: [.ioUringRegister], at: .change(.vmstatNrFollPinReleased, from: .pinned, to: .unpinned),
             expect: .equals(.lengthPages), cite: cite("7.2", "io_uring/rsrc.c", "io_buffer_unmap")),
    ]

    // MARK: O_DIRECT with a DAX buffer

    static let directIO: [Rule] = [
        Rule("odirect.transfers-all", "O_DIRECT to and from a DAX buffer moves every byte",
             memory: M.dax + M.controls, workloads: [.directRead, .directWrite], at: .step(.syscallResult),
             expect: .equals(.lengthBytes), cite: cite("6.1", "block/bio.c", "bio_iov_iter_get_pages", line: "1191-1217")),
        Rule("odirect.data-verified", "what O_DIRECT moved arrives intact",
             memory: M.dax + M.controls, workloads: [.directRead, .directWrite], at: .step(.dataVerified),
             expect: .flag(true), cite: cite("6.1", "block/bio.c", "bio_iov_iter_get_pages", line: "1191-1217")),
        Rule("odirect.plain-references", "O_DIRECT takes plain references (iov_iter_get_pages2): no FOLL_PIN counted",
             requires: [KernelChange.directIOPins.id: false], memory: M.walkableDAX + M.controls, workloads: [.directRead, .directWrite],
             at: .change(.vmstatNrFollPinAcquired, from: .before, to: .after), expect: .equals(.constant(0)),
             cite: cite("6.1", "block/bio.c", "__bio_iov_iter_get_pages", line: "1217")),
        Rule("odirect.pins", "O_DIRECT pins user pages (iov_iter_extract_pages): one FOLL_PIN per 4 KiB page",
             requires: [KernelChange.directIOPins.id: true], memory: M.walkableDAX + M.controls, workloads: [.directRead, .directWrite],
             at: .change(.vmstatNrFollPinAcquired, from: .before, to: .after), expect: .equals(.lengthPages),
             cite: cite("7.2", "block/bio.c", "__bio_iov_iter_get_pages", line: "1281-1330",
                        commit: "a7e689dd1c06 block: Convert bio_iov_iter_get_pages to use iov_iter_extract_pages")),
    ]

    // MARK: truncate, punch hole, eviction while pages are referenced

    private static let mappedOnly: [Workload] = [.truncateMapped, .punchHoleMapped]
    private static let heldMapped: [Workload] = [.truncateSpliced, .punchHoleSpliced]
    private static let heldUnmapped: [Workload] = [.truncateSplicedUnmapped, .punchHoleSplicedUnmapped]
    private static let evictions: [Workload] = [.unlinkSplicedUnmapped, .closeSplicedUnmapped]
    private static let allLayouts = mappedOnly + heldMapped + heldUnmapped + evictions

    static let layouts: [Rule] = [
        Rule("layout.mapped-page-not-busy", "a page that is only mapped is not busy: break-layouts unmaps it and goes on",
             memory: M.fsdax, workloads: mappedOnly, at: .step(.stepBlocked), expect: .flag(false),
             cite: cite("7.2", "fs/dax.c", "dax_layout_busy_page_range", line: "518-529")),
        Rule("layout.waits-for-held-page", "truncate and punch hole wait while a mapped page holds an extra reference",
             memory: M.fsdax, workloads: heldMapped, at: .step(.stepBlocked), expect: .flag(true),
             cite: cite("6.1", "fs/ext4/inode.c", "ext4_break_layouts", line: "3993-4013")),
        Rule("layout.waits-for-unmapped-busy", "a page still referenced (here: by a pipe) must not lose its blocks: truncate, punch hole and eviction wait for it even when no VMA maps it",
             memory: M.fsdax, workloads: heldUnmapped + evictions, at: .step(.stepBlocked), expect: .flag(true),
             cite: cite("6.1", "fs/dax.c", "dax_disassociate_entry", line: "398")),
        Rule("layout.released-by-pipe-drain", "the wait ends when the pipe drops its references",
             eras: new, memory: M.fsdax, workloads: heldMapped + heldUnmapped + evictions, at: .step(.stepReleasedBy),
             expect: .text("pipe-drain"), cite: cite("7.2", "mm/memremap.c", "free_zone_device_folio", line: "469-471")),
        Rule("layout.released-by-pipe-drain.devmap", "the wait ends when the pipe drops its references (the count falls back to 1)",
             eras: old, memory: M.fsdax, workloads: heldMapped, at: .step(.stepReleasedBy),
             expect: .text("pipe-drain"), cite: cite("6.1", "mm/memremap.c", "__put_devmap_managed_page_refs", line: "535-549")),
        Rule("layout.no-disassociate-warning", "the kernel's own check that no truncated DAX page is still referenced stays silent",
             memory: M.fsdax, workloads: allLayouts, at: .everyCheckpoint(.dmesgWarnings), expect: .excludes("dax_disassociate_entry"),
             cite: cite("6.1", "fs/dax.c", "dax_disassociate_entry", line: "398")),
        Rule("layout.wait-interruptible", "break-layouts sleeps interruptibly",
             memory: M.fsdax, workloads: heldMapped, at: .step(.taskState), expect: .text("S"),
             cite: cite("7.2", "fs/dax.c", "dax_break_layout", line: "958-1000")),
        Rule("layout.wchan.ext4.devmap", "ext4 waits in ext4_break_layouts (ext4_wait_dax_page is inlined there in Debian builds)",
             eras: old, memory: [.fsdax(.ext4)], workloads: heldMapped, at: .step(.taskWchan),
             expect: .oneOf(["ext4_break_layouts", "ext4_wait_dax_page"]), cite: cite("6.1", "fs/ext4/inode.c", "ext4_break_layouts", line: "3993-4013")),
        Rule("layout.wchan.xfs.devmap", "xfs waits in xfs_break_dax_layouts (xfs_wait_dax_page is inlined there in Debian builds)",
             eras: old, memory: [.fsdax(.xfs)], workloads: heldMapped, at: .step(.taskWchan),
             expect: .oneOf(["xfs_break_dax_layouts", "xfs_wait_dax_page"]), cite: cite("6.1", "fs/xfs/xfs_file.c", "xfs_break_dax_layouts", line: "847-863")),
        Rule("layout.wchan.ext4", "ext4 waits in its dax_break_layout callback ext4_wait_dax_page",
             eras: new, memory: [.fsdax(.ext4)], workloads: heldMapped + heldUnmapped, at: .step(.taskWchan),
             expect: .text("ext4_wait_dax_page"), cite: cite("7.2", "fs/ext4/inode.c", "ext4_wait_dax_page")),
        Rule("layout.wchan.xfs", "xfs waits in its dax_break_layout callback xfs_wait_dax_page",
             eras: new, memory: [.fsdax(.xfs)], workloads: heldMapped + heldUnmapped, at: .step(.taskWchan),
             expect: .text("xfs_wait_dax_page"), cite: cite("7.2", "fs/xfs/xfs_inode.c", "xfs_wait_dax_page")),
        Rule("evict.waits-uninterruptibly", "inode eviction waits for busy DAX pages in TASK_UNINTERRUPTIBLE",
             eras: new, memory: M.fsdax, workloads: evictions, at: .step(.taskState), expect: .text("D"),
             cite: cite("7.2", "fs/dax.c", "dax_break_layout_final", line: "1003-1027")),
        Rule("evict.wchan", "the evicting task sleeps in dax_break_layout_final",
             eras: new, memory: M.fsdax, workloads: evictions, at: .step(.taskWchan), expect: .text("dax_break_layout_final"),
             cite: cite("7.2", "fs/ext4/inode.c", "ext4_evict_inode", line: "184")),
        Rule("layout.page-cache-never-waits", "page-cache truncation drops the file's pages; the pipe keeps its own references",
             memory: [.pageCache], workloads: allLayouts, at: .step(.stepBlocked), expect: .flag(false),
             cite: cite("7.2", "mm/truncate.c", "truncate_inode_pages_range")),
    ]

    // MARK: the real _refcount of the first page, read by kprobes (refcount-timeline)

    private static func refcount(_ moment: TimelineWorkload.Moment) -> Site { .step(moment.refcount) }
    private static let timeline: [Workload] = [.refcountTimeline]

    static let refcounts: [Rule] = [
        Rule("refcount.devdax-idle-1", "device-dax struct pages start at refcount 1 (__init_single_page; only the compound tails are 0)",
             memory: M.devdax, workloads: timeline, at: refcount(.idle), expect: .equals(.constant(1)),
             cite: cite("7.2", "mm/mm_init.c", "__init_zone_device_page", line: "1032-1051")),
        Rule("refcount.fsdax-idle-1", "fsdax struct pages idle at refcount 1",
             eras: old, memory: M.fsdax, workloads: timeline, at: refcount(.idle), expect: .equals(.constant(1)),
             cite: cite("6.1", "mm/mm_init.c", "__init_zone_device_page", line: "212-242")),
        Rule("refcount.fsdax-idle-0", "fsdax struct pages idle at refcount 0 (MEMORY_DEVICE_FS_DAX is set to 0 at init and freed at 0)",
             eras: new, memory: M.fsdax, workloads: timeline, at: refcount(.idle), expect: .equals(.constant(0)),
             cite: cite("7.2", "mm/mm_init.c", "__init_zone_device_page", line: "1041-1047")),
        Rule("refcount.devmap-fault-takes-none", "a devmap fault inserts a pfn: the page's refcount does not change",
             eras: old, memory: M.dax, workloads: timeline, at: refcount(.faulted), expect: .equals(.constant(1)),
             cite: cite("6.1", "mm/memory.c", "insert_pfn", line: "2178-2181")),
        Rule("refcount.devdax-fault-takes-one", "each DAX mapping entry takes one folio reference: idle 1 + 1",
             eras: new, memory: M.devdax, workloads: timeline, at: refcount(.faulted), expect: .equals(.constant(2)),
             cite: cite("7.2", "mm/memory.c", "insert_page_into_pte_locked", line: "2352-2391")),
        Rule("refcount.fsdax-fault-takes-one", "each DAX mapping entry takes one folio reference: idle 0 + 1",
             eras: new, memory: M.fsdax, workloads: timeline, at: refcount(.faulted), expect: .equals(.constant(1)),
             cite: cite("7.2", "fs/dax.c", "dax_fault_iter", line: "1892-1897")),
        Rule("refcount.vmsplice-get-devmap", "vmsplice holds one FOLL_GET reference on the (head) page: +1",
             eras: old, memory: M.dax, workloads: timeline, at: refcount(.spliced), expect: .equals(.constant(2)),
             cite: cite("6.1", "mm/gup.c", "try_grab_folio", line: "125-181")),
        Rule("refcount.vmsplice-get-devdax", "vmsplice holds one FOLL_GET reference: mapped devdax page 2 + 1",
             eras: new, memory: M.devdax, workloads: timeline, at: refcount(.spliced), expect: .equals(.constant(3)),
             cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        Rule("refcount.vmsplice-get-fsdax", "vmsplice holds one FOLL_GET reference: mapped fsdax folio 1 + 1",
             eras: new, memory: M.fsdax, workloads: timeline, at: refcount(.spliced), expect: .equals(.constant(2)),
             cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        Rule("refcount.pin-order0-bias-devmap", "FOLL_PIN of an order-0 page adds GUP_PIN_COUNTING_BIAS (1024)",
             eras: old, memory: [.devdax(.align4k)] + M.fsdax, workloads: timeline, at: refcount(.pinnedTransient), expect: .equals(.constant(1025)),
             cite: cite("6.1", "mm/gup.c", "try_grab_folio", line: "168-169")),
        Rule("refcount.pin-order0-bias", "FOLL_PIN of an order-0 page adds GUP_PIN_COUNTING_BIAS (1024) to the mapped page's 2",
             eras: new, memory: [.devdax(.align4k)], workloads: timeline, at: refcount(.pinnedTransient), expect: .equals(.constant(1026)),
             cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "167")),
        Rule("refcount.pin-compound-devmap", "FOLL_PIN of a compound page adds 1 to the head (and 1 to _pincount)",
             eras: old, memory: [.devdax(.align2m), .devdax(.align1g)], workloads: timeline, at: refcount(.pinnedTransient), expect: .equals(.constant(2)),
             cite: cite("6.1", "mm/gup.c", "try_grab_folio", line: "170-181")),
        Rule("refcount.pin-compound", "FOLL_PIN of a large folio adds 1 to the head (and 1 to _pincount)",
             eras: new, memory: [.devdax(.align2m), .devdax(.align1g)], workloads: timeline, at: refcount(.pinnedTransient), expect: .equals(.constant(3)),
             cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        Rule("refcount.longterm-pin-order0", "an io_uring fixed buffer holds a FOLL_PIN|FOLL_LONGTERM: +1024 on an order-0 page",
             eras: new, requires: [KernelChange.ioUringGUPFileCheck.id: true], memory: [.devdax(.align4k)], workloads: timeline,
             at: refcount(.pinned), expect: .equals(.constant(1026)), cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "167")),
        Rule("refcount.longterm-pin-compound", "an io_uring fixed buffer holds a FOLL_PIN|FOLL_LONGTERM: +1 on the head",
             eras: new, requires: [KernelChange.ioUringGUPFileCheck.id: true], memory: [.devdax(.align2m), .devdax(.align1g)], workloads: timeline,
             at: refcount(.pinned), expect: .equals(.constant(3)), cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        Rule("refcount.longterm-pincount", "a large folio counts FOLL_PIN in _pincount",
             eras: new, requires: [KernelChange.ioUringGUPFileCheck.id: true], memory: [.devdax(.align2m), .devdax(.align1g)], workloads: timeline,
             at: .step(.kprobePincountPinned), expect: .equals(.constant(1)), cite: cite("7.2", "mm/gup.c", "try_grab_folio", line: "140-174")),
        Rule("refcount.released-devmap", "with every hold dropped the page is back at its idle count",
             eras: old, memory: M.dax, workloads: timeline, at: refcount(.released), expect: .equals(.constant(1)),
             cite: cite("6.1", "mm/memremap.c", "__put_devmap_managed_page_refs", line: "535-549")),
        Rule("refcount.released-devdax", "with every hold dropped the mapped page keeps its mapping reference: 2",
             eras: new, memory: M.devdax, workloads: timeline, at: refcount(.released), expect: .equals(.constant(2)),
             cite: cite("7.2", "mm/gup.c", "gup_put_folio")),
        Rule("refcount.released-fsdax", "with every hold dropped the mapped fsdax folio keeps its mapping reference: 1",
             eras: new, memory: M.fsdax, workloads: timeline, at: refcount(.released), expect: .equals(.constant(1)),
             cite: cite("7.2", "mm/gup.c", "gup_put_folio")),
        Rule("refcount.unmapped-devmap", "munmap of devmap entries changes no refcount: idle 1",
             eras: old, memory: M.dax, workloads: timeline, at: refcount(.unmapped), expect: .equals(.constant(1)),
             cite: cite("6.1", "mm/memory.c", "zap_pte_range")),
        Rule("refcount.unmapped-devdax", "munmap drops the mapping reference: device-dax back at 1 (never freed)",
             eras: new, memory: M.devdax, workloads: timeline, at: refcount(.unmapped), expect: .equals(.constant(1)),
             cite: cite("7.2", "mm/memremap.c", "free_zone_device_folio", line: "460-466")),
        Rule("refcount.unmapped-fsdax-free", "munmap drops the last reference: the fsdax folio is free at 0",
             eras: new, memory: M.fsdax, workloads: timeline, at: refcount(.unmapped), expect: .equals(.constant(0)),
             cite: cite("7.2", "mm/memremap.c", "free_zone_device_folio", line: "469-471")),
    ]

    // MARK: memmap accounting when a namespace is created (namespace scenarios)

    private static let memmapPages = Observable.vmstatNrMemmapPages
    /// A full memmap: one 64-byte struct page per 4 KiB page, in 4 KiB pages.
    private static let fullMemmap = Amount.divided(.namespaceBytes, 4096 / 64 * 4096)
    private static let created: [Workload] = [.createNamespaceMapMem, .createNamespaceMapDev]

    static let memmap: [Rule] = [
        Rule("memmap.no-counter", "before 6.11 /proc/vmstat has no nr_memmap_pages",
             requires: [KernelChange.memmapPagesCounter.id: false], memory: [.devdax(.align4k), .devdax(.align2m), .devdax(.align1g), .fsdaxNamespace(.align2m)],
             workloads: created, at: .checkpoint(.created, memmapPages), expect: .absent,
             cite: cite("6.1", "mm/vmstat.c", "vmstat_text")),
        Rule("memmap.full-size", "a memmap that is not deduplicated counts one struct page per 4 KiB page",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.devdax(.align4k)], workloads: [.createNamespaceMapMem],
             at: .change(memmapPages, from: .before, to: .created), expect: .equals(fullMemmap),
             cite: cite("7.2", "mm/sparse-vmemmap.c", "section_nr_vmemmap_pages", line: "657-701")),
        Rule("memmap.fsdax-not-compound", "fsdax namespaces have no compound pages (no vmemmap_shift): full memmap",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.fsdaxNamespace(.align2m)], workloads: [.createNamespaceMapMem],
             at: .change(memmapPages, from: .before, to: .created), expect: .equals(fullMemmap),
             cite: cite("7.2", "drivers/nvdimm/pmem.c", "pmem_attach_disk")),
        Rule("memmap.altmap-full-size", "a memmap on the device (--map=dev, vmem_altmap) is never deduplicated and is counted in full",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.devdax(.align2m), .fsdaxNamespace(.align2m)], workloads: [.createNamespaceMapDev],
             at: .change(memmapPages, from: .before, to: .created), expect: .equals(fullMemmap),
             cite: cite("7.2", "include/linux/mm.h", "vmemmap_can_optimize", line: "4948-4972")),
        Rule("memmap.dedup-counted", "device-dax compound pages share their tail struct pages: 2 memmap pages per compound page (VMEMMAP_RESERVE_NR)",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.devdax(.align2m)], workloads: [.createNamespaceMapMem],
             at: .change(memmapPages, from: .before, to: .created), expect: .equals(.divided(.namespaceBytes, (2 << 20) / 2)),
             cite: cite("7.2", "mm/sparse-vmemmap.c", "section_nr_vmemmap_pages", line: "657-701")),
        Rule("memmap.dedup-counted-1g", "1 GiB compound pages: 2 memmap pages per GiB",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.devdax(.align1g)], workloads: [.createNamespaceMapMem],
             at: .change(memmapPages, from: .before, to: .created), expect: .equals(.divided(.namespaceBytes, (1 << 30) / 2)),
             cite: cite("7.2", "mm/sparse-vmemmap.c", "section_nr_vmemmap_pages", line: "657-701")),
        Rule("memmap.returned", "restoring the namespace frees its memmap: the counter is back where it was",
             requires: [KernelChange.memmapPagesCounter.id: true], memory: [.devdax(.align4k), .devdax(.align2m), .devdax(.align1g), .fsdaxNamespace(.align2m)],
             workloads: created, at: .change(memmapPages, from: .before, to: .restored), expect: .equals(.constant(0)),
             cite: cite("7.2", "mm/sparse-vmemmap.c", "section_deactivate")),
    ]
}
