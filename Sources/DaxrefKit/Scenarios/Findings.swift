/// A known kernel bug the model's rules catch: a mismatch of one of `rules` under one of `eras`
/// stays a failure of that kernel, annotated with this finding (docs/findings.md has the evidence).
public struct KnownFinding: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var eras: [Era]
    public var rules: [String]
    /// Only on kernels without this change (its fix), when the finding is not tied to an era.
    public var withoutChange: String?
    /// The upstream fix, when known.
    public var fixedBy: String?
    public var reference: String

    public static let catalogue: [KnownFinding] = [
        KnownFinding(
            id: "B1",
            title: "fsdax break-layouts skips pages no VMA maps: truncate, punch hole and eviction free blocks a pipe (or DMA) still references, tripping WARN_ON_ONCE in dax_disassociate_entry",
            eras: [.plainReferences, .devmapPins],
            rules: ["layout.waits-for-unmapped-busy", "layout.no-disassociate-warning"], withoutChange: nil,
            fixedBy: "fs/dax: return unmapped busy pages from dax_layout_busy_page_range() and dax_break_layout_final() at eviction (Alistair Popple, \"fs/dax: Fix ZONE_DEVICE page reference counts\", merged for 6.15)",
            reference: "docs/findings.md B1"),
        KnownFinding(
            id: "B5",
            title: "nr_memmap_pages counts deduplicated device-dax vmemmap at full size",
            eras: Era.allCases, rules: ["memmap.dedup-counted", "memmap.dedup-counted-1g"],
            withoutChange: KernelChange.vmemmapAccountingFix.id,
            fixedBy: "mm/sparse-vmemmap: Fix DAX vmemmap accounting with optimization (Muchun Song, 2026; Fixes: 15995a352474)",
            reference: "[7.2 mm/sparse-vmemmap.c section_nr_vmemmap_pages()]"),
    ]

    public static func matching(rule: String, profile: KernelProfile) -> KnownFinding? {
        catalogue.first { finding in
            finding.rules.contains(rule) && finding.eras.contains(profile.era)
                && (finding.withoutChange.map { profile.changes[$0] != true } ?? true)
        }
    }
}

/// A hypothesis the run settles: it holds when a check of `rule` in a scenario matching `scenarios`
/// gets the verdict `holdsWhen`.
public struct Hypothesis: Sendable {
    public var id: String
    public var statement: String
    public var scenarios: String
    public var rule: String
    public var holdsWhen: Verdict

    public static let catalogue: [Hypothesis] = [
        Hypothesis(id: "B1", statement: "truncate/punch hole of an fsdax page held only by a pipe does not wait (busy check skipped without VMAs)",
                   scenarios: "fsdax.*.truncate.vmsplice-unmapped,fsdax.*.punch-hole.vmsplice-unmapped",
                   rule: "layout.waits-for-unmapped-busy", holdsWhen: .mismatch),
        Hypothesis(id: "B7", statement: "the last unlink/close of an fsdax file whose page a pipe holds waits uninterruptibly (D) in dax_break_layout_final",
                   scenarios: "fsdax.*.unlink.vmsplice-unmapped,fsdax.*.close.vmsplice-unmapped",
                   rule: "evict.waits-uninterruptibly", holdsWhen: .match),
    ]
}
