// Which kernel functions daxref probes, what each one's arguments are, and how a probe definition
// line for tracefs `kprobe_events` is built. The catalogue spans the refcount eras (each entry's
// note cites the kernel source it was read from); which entries are used is decided at run time from
// /proc/kallsyms, never from the version number alone, because static functions get inlined or
// renamed differently by each build.

/// Where a probed function keeps the page whose refcount matters (x86_64 SysV argument registers:
/// %di, %si, %dx, %cx, %r8, %r9; `$retval` at a return probe).
public enum KprobeSubject: Sendable, Hashable {
    /// A `struct page *` or `struct folio *` (a folio pointer is its head page). With `mayBeTail`
    /// the pointer can be a tail page of a compound page (6.1 GUP takes pages, not folios), so the
    /// head's refcount is fetched as well.
    case page(String, mayBeTail: Bool)
    /// A page frame number: `pfn_t` (≤ 6.16, flags in the top 12 bits) or `unsigned long` (6.17+).
    /// No refcount can be read from it (fetchargs cannot do arithmetic), only which PFN is mapped.
    case pfn(String)
    /// No page argument: the hit marks when something happened (break-layouts waits).
    case marker
    /// The first page of a `struct bio *` in %di (`bio->bi_io_vec[0].bv_page`): the user page an
    /// O_DIRECT bio releases. Needs the struct bio layout from BTF.
    case firstBioPage
}

/// One function daxref may probe, independent of the running kernel.
public struct KprobeTarget: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case entry = "p"
        case `return` = "r"
    }

    /// What the hit tells about the refcount rules.
    public enum Role: String, Sendable, Hashable, Codable {
        /// A put that may end the page's use: fsdax "became idle" (6.1/6.12) or the free at 0 (6.15+).
        case release
        /// GUP takes or drops references (FOLL_GET +1, FOLL_PIN +1024 on order-0 pages).
        case gup
        /// A page-table entry is installed (the fault path).
        case map
        /// rmap add/remove of a file folio (6.15+ DAX pages are rmapped).
        case rmap
        /// A truncate/punch-hole scan for busy pages, or the wait for one.
        case layout
    }

    public var symbol: String
    public var kind: Kind
    public var subject: KprobeSubject
    public var role: Role
    /// Additional `name=FETCHARG` pairs (the `refs` and `flags` arguments of GUP, a return value).
    public var extraArguments: [String]
    /// Which kernels have it, and what the value at this point means (for the reader of a report).
    public var note: String

    public init(
        _ symbol: String, _ kind: Kind = .entry, subject: KprobeSubject, role: Role, extra: [String] = [],
        note: String
    ) {
        self.symbol = symbol
        self.kind = kind
        self.subject = subject
        self.role = role
        self.extraArguments = extra
        self.note = note
    }

    /// The tracefs event name: the symbol, with `_ret` for return probes (names must be C identifiers).
    public var eventName: String {
        let base = String(symbol.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return kind == .return ? base + "_ret" : base
    }
}

/// Struct layout facts the fetchargs rely on.
public struct PageLayout: Sendable, Equatable, Codable {
    /// Offset of `_refcount` (an atomic_t) in struct page: +52 on every measured x86_64 kernel.
    public var refcountOffset: Int
    /// Offset of the tail-page word: `compound_head` (≤ 6.x: head pointer | 1 on tails) or its
    /// 7.x successor `compound_info` (a mask | 1 on tails, see `KprobeEventMatcher.head`): +8.
    public var compoundHeadOffset: Int
    /// sizeof(struct page): 64, the divisor from a page pointer to a PFN.
    public var pageSize: Int
    /// Offset of `bi_io_vec` in struct bio and of `bv_page` in struct bio_vec: they move between
    /// releases (+112 on 6.1, +104 on 6.18, +32 on 7.2), so only BTF provides them; nil without.
    public var bioIoVecOffset: Int?
    public var bioVecPageOffset: Int?
    /// Offset of the folio's `_pincount` from its head page (in page[1]): +88 on 6.1 (struct folio
    /// `_pincount`, the old `compound_pincount`), +92 on 6.12-7.2. Only BTF provides it; nil without.
    public var pincountOffset: Int?
    /// "btf" when read from /sys/kernel/btf/vmlinux, else "assumed" (the values measured with
    /// pahole on Debian 6.1, 6.12, 6.18 and 7.2).
    public var source: String

    public init(
        refcountOffset: Int, compoundHeadOffset: Int, pageSize: Int, bioIoVecOffset: Int? = nil,
        bioVecPageOffset: Int? = nil, pincountOffset: Int? = nil, source: String
    ) {
        self.refcountOffset = refcountOffset
        self.compoundHeadOffset = compoundHeadOffset
        self.pageSize = pageSize
        self.bioIoVecOffset = bioIoVecOffset
        self.bioVecPageOffset = bioVecPageOffset
        self.pincountOffset = pincountOffset
        self.source = source
    }

    public static let assumed = PageLayout(refcountOffset: 52, compoundHeadOffset: 8, pageSize: 64, source: "assumed")
}

extension KprobeTarget {
    /// The subject with layout-dependent locations resolved; nil when the layout lacks what it needs.
    public func resolvedSubject(layout: PageLayout) -> KprobeSubject? {
        guard case .firstBioPage = subject else { return subject }
        guard let vector = layout.bioIoVecOffset, let page = layout.bioVecPageOffset else { return nil }
        return .page("+\(page)(+\(vector)(%di))", mayBeTail: true)
    }

    /// The fetchargs of this target: for a page subject the pointer, its own refcount, its
    /// compound_head word, and page[1]'s (which names this page as head when it heads a compound
    /// page); tails also fetch the head's refcount through compound_head (valid when that word
    /// holds a head pointer, i.e. before 7.x). Empty subject → only the extra arguments.
    public func fetchArguments(layout: PageLayout) -> [String] {
        var arguments: [String] = []
        switch resolvedSubject(layout: layout) {
        case .page(let location, let mayBeTail):
            let refcount = layout.refcountOffset, head = layout.compoundHeadOffset
            arguments.append("page=\(location):x64")
            arguments.append("cnt=+\(refcount)(\(location)):s32")
            arguments.append("ch=+\(head)(\(location)):x64")
            arguments.append("p1ch=+\(layout.pageSize + head)(\(location)):x64")
            if mayBeTail {
                // compound_head holds head|1 on a tail, so head->_refcount is at compound_head + off - 1.
                arguments.append("hcnt=+\(refcount - 1)(+\(head)(\(location))):s32")
            }
        case .pfn(let location):
            arguments.append("pfn=\(location):x64")
        case .marker, .firstBioPage, nil:
            break
        }
        return arguments + extraArguments
    }

    /// The `kprobe_events` line that creates this probe in `group`. `module` is the module the
    /// symbol lives in (from kallsyms); module functions are named `MOD:SYMBOL`.
    public func definition(group: String, module: String?, layout: PageLayout) -> String {
        let target = module.map { "\($0):\(symbol)" } ?? symbol
        return ([kind.rawValue + ":" + group + "/" + eventName, target] + fetchArguments(layout: layout))
            .joined(separator: " ")
    }
}

/// The catalogue. Argument registers follow the C signatures cited; where a signature changed
/// across eras but the pointer stayed in the same register, one entry serves all.
public enum KprobeCatalog {
    public static let targets: [KprobeTarget] = [
        // Release points.
        KprobeTarget(
            "__put_devmap_managed_page_refs", subject: .page("%di", mayBeTail: false), role: .release,
            extra: ["refs=%si:s32"],
            note: "6.1: put of a devmap page (fsdax and, while any fsdax pgmap exists, device-dax); cnt is before subtracting refs; fsdax wakes truncate when it reaches 1 [6.1 mm/memremap.c:535]"),
        KprobeTarget(
            "__put_devmap_managed_folio_refs", subject: .page("%di", mayBeTail: false), role: .release,
            extra: ["refs=%si:s32"],
            note: "6.12: same, folio API [6.12 mm/memremap.c:515]"),
        KprobeTarget(
            "free_zone_device_page", subject: .page("%di", mayBeTail: false), role: .release,
            note: "6.1: a ZONE_DEVICE page reached 0 (WARNs for DAX, which has no page_free) [6.1 mm/memremap.c:471]"),
        KprobeTarget(
            "free_zone_device_folio", subject: .page("%di", mayBeTail: false), role: .release,
            note: "6.12+: a ZONE_DEVICE folio reached 0; 6.15+ fsdax wakes break-layouts here, device-dax resets to 1 [7.2 mm/memremap.c:416]"),
        // GUP.
        KprobeTarget(
            "try_grab_folio", subject: .page("%di", mayBeTail: true), role: .gup,
            extra: ["refs=%si:s32", "flags=%dx:x32"],
            note: "6.1: (page, refs, flags), page may be a tail; 6.12+: (folio, refs, flags); cnt before the grab [6.1 mm/gup.c:125; 7.2 mm/gup.c:140]"),
        KprobeTarget(
            "try_grab_page", subject: .page("%di", mayBeTail: true), role: .gup, extra: ["flags=%si:x32"],
            note: "6.1 slow-path grab (follow_page_pte); cnt before the grab [6.1 mm/gup.c:219]"),
        KprobeTarget(
            "try_grab_folio_fast", subject: .page("%di", mayBeTail: true), role: .gup,
            extra: ["refs=%si:s32", "flags=%dx:x32"],
            note: "6.12+ fast-path grab (page, refs, flags) [7.2 mm/gup.c:517]"),
        KprobeTarget(
            "__bio_release_pages", subject: .firstBioPage, role: .gup, extra: ["dirty=%si:u8"],
            note: "all eras: an O_DIRECT bio drops its user pages (6.1 put, 6.3+ unpin); cnt before the release; the first page only [6.1/7.2 block/bio.c]"),
        KprobeTarget(
            "gup_put_folio", subject: .page("%di", mayBeTail: false), role: .gup,
            extra: ["refs=%si:s32", "flags=%dx:x32"],
            note: "all eras: unpin / put of a GUP reference; cnt before the put [6.1 mm/gup.c:185]"),
        // Fault / insert: ≤6.16 DAX inserts a PFN (no reference), 6.15+ a page (one reference).
        KprobeTarget(
            "vmf_insert_mixed", subject: .pfn("%dx"), role: .map,
            note: "≤6.16 device-dax and fsdax PTE insert of a pfn_t; takes no reference [6.1 mm/memory.c]"),
        KprobeTarget(
            "insert_pfn", subject: .pfn("%dx"), role: .map,
            note: "≤6.16 the PTE write behind vmf_insert_mixed / vmf_insert_pfn [6.1 mm/memory.c:2178]"),
        KprobeTarget(
            "vmf_insert_pfn_pmd_prot", subject: .pfn("%si"), role: .map,
            note: "6.1 PMD insert of a pfn_t [6.1 mm/huge_memory.c:883]"),
        KprobeTarget(
            "vmf_insert_pfn_pmd", subject: .pfn("%si"), role: .map,
            note: "6.12 PMD insert of a pfn_t [6.12 mm/huge_memory.c]"),
        KprobeTarget(
            "vmf_insert_pfn_pud_prot", subject: .pfn("%si"), role: .map, note: "6.1 PUD insert of a pfn_t"),
        KprobeTarget(
            "vmf_insert_pfn_pud", subject: .pfn("%si"), role: .map, note: "6.12 PUD insert of a pfn_t"),
        KprobeTarget(
            "vmf_insert_page_mkwrite", subject: .page("%si", mayBeTail: true), role: .map,
            note: "6.15+ DAX PTE insert of a page (vmf, page, write); cnt before the mapping's reference [7.2 mm/memory.c:2869]"),
        KprobeTarget(
            "insert_page_into_pte_locked", subject: .page("%cx", mayBeTail: true), role: .map,
            note: "6.15+ (vma, pte, addr, page, prot, mkwrite): folio_get + rmap for the new PTE [7.2 mm/memory.c:2352]"),
        KprobeTarget(
            "vmf_insert_folio_pmd", subject: .page("%si", mayBeTail: false), role: .map,
            note: "6.15+ DAX PMD insert of a folio [7.2 mm/huge_memory.c]"),
        KprobeTarget(
            "vmf_insert_folio_pud", subject: .page("%si", mayBeTail: false), role: .map,
            note: "6.15+ DAX PUD insert of a folio [7.2 mm/huge_memory.c]"),
        // rmap: 6.15+ DAX folios are rmapped; the remove happens at munmap before the reference
        // drop (which the TLB batch does later), so cnt here still includes the mapping.
        KprobeTarget(
            "folio_add_file_rmap_ptes", subject: .page("%di", mayBeTail: false), role: .rmap,
            extra: ["nr=%dx:s32"], note: "6.9+ (folio, page, nr, vma) [7.2 mm/rmap.c]"),
        KprobeTarget(
            "folio_remove_rmap_ptes", subject: .page("%di", mayBeTail: false), role: .rmap,
            extra: ["nr=%dx:s32"], note: "6.9+ (folio, page, nr, vma): unmap of PTEs [7.2 mm/rmap.c]"),
        KprobeTarget(
            "folio_add_file_rmap_pmd", subject: .page("%di", mayBeTail: false), role: .rmap,
            note: "6.9+ (folio, page, vma)"),
        KprobeTarget(
            "folio_remove_rmap_pmd", subject: .page("%di", mayBeTail: false), role: .rmap,
            note: "6.9+ (folio, page, vma): unmap of a PMD"),
        // Break layouts.
        KprobeTarget(
            "dax_layout_busy_page_range", .return, subject: .page("$retval", mayBeTail: false), role: .layout,
            note: "all eras: the busy page truncate must wait for (NULL: none) [6.1 fs/dax.c:701; 7.2 fs/dax.c:518]"),
        KprobeTarget(
            "ext4_break_layouts", subject: .marker, role: .layout,
            note: "ext4 truncate/punch: 6.1/6.12 waits here (wait helper inlined) for refcount 1"),
        KprobeTarget(
            "ext4_break_layouts", .return, subject: .marker, role: .layout, extra: ["rc=$retval:s32"],
            note: "ext4_break_layouts returned (0, or -EINTR/-ERESTARTSYS)"),
        KprobeTarget(
            "xfs_break_dax_layouts", subject: .marker, role: .layout,
            note: "xfs truncate/punch: 6.1/6.12 waits here for refcount 1"),
        KprobeTarget(
            "xfs_break_dax_layouts", .return, subject: .marker, role: .layout, extra: ["rc=$retval:s32"],
            note: "xfs_break_dax_layouts returned"),
        KprobeTarget(
            "ext4_wait_dax_page", subject: .marker, role: .layout,
            note: "6.15+ ext4 sleeps for a busy page (refcount → 0) [7.2 fs/ext4/inode.c]"),
        KprobeTarget(
            "xfs_wait_dax_page", subject: .marker, role: .layout, note: "6.15+ xfs sleeps for a busy page"),
        KprobeTarget(
            "dax_break_layout_final", subject: .marker, role: .layout,
            note: "6.15+ eviction waits (TASK_UNINTERRUPTIBLE) for every page to go idle [7.2 fs/dax.c:1000]"),
    ]
}
