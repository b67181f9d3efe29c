import SystemPackage

/// The refcount era a kernel belongs to: the model's coarse switch. Finer changes that landed at
/// other points are `KernelChange`s (data, with their own detection).
///
/// Everything the model knows about eras is here: each era after the first opens with a
/// `KernelChange`, whose first release bounds the era by version and whose probe detects it on a
/// running kernel. The raw values are the published era names (`--era`, reports).
public enum Era: String, Codable, Sendable, CaseIterable, Comparable {
    /// Before 6.3: O_DIRECT takes plain references (FOLL_GET); fsdax/devdax idle at 1, devmap PTEs
    /// take no reference, break-layouts waits for 1.
    case plainReferences = "pre-6.3"
    /// 6.3–6.14: O_DIRECT pins (FOLL_PIN), otherwise as before (devmap, idle 1, wait for 1).
    case devmapPins = "6.3-6.14"
    /// 6.15 and later: fsdax idles at 0, every mapping takes a reference and an rmap, break-layouts
    /// waits for 0 and also for unmapped busy pages; eviction waits uninterruptibly.
    case normalRefcount = "6.15+"

    /// The change that starts the era; nil for the first.
    public var openedBy: KernelChange? {
        switch self {
        case .plainReferences: nil
        case .devmapPins: .directIOPins
        case .normalRefcount: .normalRefcount
        }
    }

    /// The oldest kernel the model covers: device-dax compound pages (5.17).
    public static let oldestModelled = KernelVersion(5, 17)

    /// The versions of the era: from its opening change's first release to the next era's (excluded).
    public var versions: (first: KernelVersion, next: KernelVersion?) {
        let index = Era.allCases.firstIndex(of: self)!
        let next = Era.allCases.dropFirst(index + 1).first
        return (openedBy?.firstRelease ?? Era.oldestModelled, next.flatMap { $0.openedBy?.firstRelease })
    }

    public static func < (a: Era, b: Era) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// The era a version number alone implies.
    public static func of(_ version: KernelVersion) -> Era {
        allCases.last { version >= $0.versions.first } ?? allCases[0]
    }

    /// The era the probes of the running kernel show: the last one whose opening change is
    /// present; nil when an opening change could not be probed.
    static func probed(_ changes: [String: Bool]) -> Era? {
        var era = allCases[0]
        for candidate in allCases.dropFirst() {
            guard let opener = candidate.openedBy, let present = changes[opener.id] else { return nil }
            if present { era = candidate }
        }
        return era
    }

    /// `--era` values: the raw values, plus short names.
    public static func parse(_ text: String) -> Era? {
        switch text.lowercased() {
        case "old", "plain": .plainReferences
        case "devmap": .devmapPins
        case "new", "normal": .normalRefcount
        default: Era(rawValue: text.lowercased())
        }
    }

    /// The names `--era` takes, for help and errors: `pre-6.3, 6.3-6.14, 6.15+`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// An upstream version: major.minor.patch (patch 0 when unknown).
public struct KernelVersion: Codable, Sendable, Comparable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    /// The leading `X.Y[.Z]` of `text` ("6.1.0-50-amd64" → 6.1.0, "7.2.13+deb14-amd64" → 7.2.13).
    public init?(parsing text: Substring) {
        let numbers = text.prefix { $0.isNumber || $0 == "." }.split(separator: ".").prefix(3).compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        self.init(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 0)
    }

    /// From uname: the release names the series, and a Debian `version` ("#1 SMP PREEMPT_DYNAMIC
    /// Debian 6.1.176-1 (2026-…)") carries the real patch level the release string hides (6.1.0-50).
    public static func of(release: String, version: String) -> KernelVersion? {
        guard let fromRelease = KernelVersion(parsing: release[...]) else { return nil }
        if let range = version.range(of: "Debian "), let debian = KernelVersion(parsing: version[range.upperBound...]),
            debian.major == fromRelease.major, debian.minor == fromRelease.minor
        {
            return debian
        }
        return fromRelease
    }
}

/// What the model knows about one kernel: its version, era, and which later changes it has.
public struct KernelProfile: Codable, Sendable, Equatable {
    public var release: String
    public var version: KernelVersion?
    public var era: Era
    /// How the era was decided: `probe`, `version`, or `--era`.
    public var eraSource: String
    /// Per `KernelChange.id`: present (true), absent (false); missing means the model cannot tell.
    public var changes: [String: Bool]
    /// What each probe found (`kallsyms:dax_break_layout_final` → `present`), as evidence.
    public var evidence: [String: String]
    /// Disagreements between the version and the probes (an own build with backports, say).
    public var notes: [String]

    public init(release: String, version: KernelVersion?, era: Era, eraSource: String, changes: [String: Bool],
                evidence: [String: String] = [:], notes: [String] = []) {
        self.release = release
        self.version = version
        self.era = era
        self.eraSource = eraSource
        self.changes = changes
        self.evidence = evidence
        self.notes = notes
    }

    /// A profile with no kernel to probe: the era's typical kernel (changes known from the version
    /// range the era covers; the rest unknown). For `daxref model --era`.
    public static func typical(of era: Era) -> KernelProfile {
        var changes: [String: Bool] = [:]
        for change in KernelChange.catalogue {
            if let known = change.presence(inEra: era) { changes[change.id] = known }
        }
        return KernelProfile(release: "(any \(era.rawValue))", version: nil, era: era, eraSource: "--era", changes: changes)
    }

    /// Probes the running kernel. `eraOverride` replaces the detected era (changes stay detected).
    public static func detect(eraOverride: Era? = nil) -> KernelProfile {
        let name = KernelFingerprint.uname()
        let wanted = Set(KernelChange.catalogue.flatMap(\.probe.symbolNames))
        let symbols = (try? SystemFile.readString("/proc/kallsyms")).map {
            Set(KernelSymbols.parseKallsyms($0, wanted: wanted).definitions.keys.map(KernelSymbols.baseName))
        }
        let vmstatNames = (try? SystemFile.readString("/proc/vmstat")).map { text in
            Set(text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        }
        return profile(release: name.release, version: name.version, symbols: symbols, vmstatFields: vmstatNames,
                       eraOverride: eraOverride)
    }

    /// The detection logic, separated from the files for tests.
    public static func profile(release: String, version versionText: String, symbols: Set<String>?, vmstatFields: Set<String>?,
                               eraOverride: Era? = nil) -> KernelProfile {
        let version = KernelVersion.of(release: release, version: versionText)
        var evidence: [String: String] = [:]
        var notes: [String] = []
        var changes: [String: Bool] = [:]
        var probedChanges: [String: Bool] = [:]
        for change in KernelChange.catalogue {
            let probed = change.probe.evaluate(symbols: symbols, vmstatFields: vmstatFields)
            let byVersion = version.flatMap { change.presence(in: $0) }
            if let probed {
                evidence[change.probe.description] = probed ? "present" : "absent"
                changes[change.id] = probed
                probedChanges[change.id] = probed
                if let byVersion, byVersion != probed {
                    notes.append("\(change.id): the version (\(version!)) says \(byVersion ? "present" : "absent"), the probe says \(probed ? "present" : "absent"); the probe wins")
                }
            } else if let byVersion {
                changes[change.id] = byVersion
            }
        }
        var era: Era
        var source: String
        if let probed = Era.probed(probedChanges) {
            era = probed
            source = "probe"
            if let version, Era.of(version) != era {
                notes.append("era by version would be \(Era.of(version).rawValue); the probes say \(era.rawValue)")
            }
        } else if let version {
            era = Era.of(version)
            source = "version"
        } else {
            era = Era.allCases.last!
            source = "default (no version, no probes)"
            notes.append("could not read the version or probe the kernel; assuming the newest era")
        }
        if let eraOverride, eraOverride != era {
            notes.append("era overridden: detected \(era.rawValue), using \(eraOverride.rawValue)")
            era = eraOverride
            source = "--era"
        }
        return KernelProfile(release: release, version: version, era: era, eraSource: source, changes: changes,
                             evidence: evidence, notes: notes)
    }

    /// Whether `change` is in this kernel; nil when the model cannot tell.
    public func has(_ change: KernelChange) -> Bool? { changes[change.id] }
}

/// A kernel change the model's rules depend on, with where it landed and how to detect it.
public struct KernelChange: Sendable {
    public var id: String
    public var title: String
    /// First mainline release with it; nil when unknown (then `presence(in:)` uses `knownIn`).
    public var firstRelease: KernelVersion?
    /// Versions known to have it (e.g. a stable backport), and known not to.
    public var knownIn: [KernelVersion] = []
    public var knownAbsentIn: [KernelVersion] = []
    public var citation: Citation
    public var probe: Probe

    /// How the running kernel shows it.
    public enum Probe: Sendable, CustomStringConvertible {
        /// A symbol in /proc/kallsyms (names are listed even when addresses are hidden).
        case symbol(String)
        /// Any of these symbols.
        case anySymbol([String])
        /// A field in /proc/vmstat.
        case vmstatField(String)
        /// Not detectable from user space: version only.
        case none

        var symbolNames: [String] {
            switch self {
            case .symbol(let name): [name]
            case .anySymbol(let names): names
            default: []
            }
        }

        func evaluate(symbols: Set<String>?, vmstatFields: Set<String>?) -> Bool? {
            switch self {
            case .symbol(let name): symbols.map { $0.contains(name) }
            case .anySymbol(let names): symbols.map { set in names.contains { set.contains($0) } }
            case .vmstatField(let name): vmstatFields.map { $0.contains(name) }
            case .none: nil
            }
        }

        public var description: String {
            switch self {
            case .symbol(let name): "kallsyms:\(name)"
            case .anySymbol(let names): "kallsyms:" + names.joined(separator: "|")
            case .vmstatField(let name): "vmstat:\(name)"
            case .none: "none"
            }
        }
    }

    /// By version: known lists first, then the first release; nil when it cannot be told.
    public func presence(in version: KernelVersion) -> Bool? {
        if knownIn.contains(where: { $0.major == version.major && $0.minor == version.minor && version >= $0 }) { return true }
        if knownAbsentIn.contains(where: { $0.major == version.major && $0.minor == version.minor && version <= $0 }) { return false }
        guard let firstRelease else { return nil }
        if version >= firstRelease { return true }
        // A change that is not known to be backported is absent below its first release, except in
        // the stable series it might have been backported to (known lists cover those).
        return false
    }

    /// For a whole era: true or false only when every version of the era agrees.
    public func presence(inEra era: Era) -> Bool? {
        let (first, next) = era.versions
        guard knownIn.isEmpty && knownAbsentIn.isEmpty, let firstRelease else {
            if let firstRelease, let next, firstRelease >= next { return false }
            return nil
        }
        if firstRelease <= first { return true }
        if let next, firstRelease >= next { return false }
        return nil
    }

    public static let directIOPins = KernelChange(
        id: "odirect-foll-pin", title: "O_DIRECT pins user buffers (FOLL_PIN via iov_iter_extract_pages)",
        firstRelease: KernelVersion(6, 3),
        citation: Citation(file: "block/bio.c", function: "__bio_iov_iter_get_pages", version: "6.12",
                           commit: "a7e689dd1c06 block: Convert bio_iov_iter_get_pages to use iov_iter_extract_pages"),
        probe: .symbol("iov_iter_extract_pages"))

    public static let ioUringGUPFileCheck = KernelChange(
        id: "io_uring-gup-file-check", title: "io_uring leaves the file-backed buffer check to GUP (device-dax registers)",
        firstRelease: KernelVersion(6, 5),
        citation: Citation(file: "io_uring/rsrc.c", function: "io_pin_pages", version: "6.5",
                           commit: "34ed8d0dcd69 io_uring: rsrc: delegate VMA file-backed check to GUP"),
        probe: .none)

    public static let gupFastRejectsFileLongterm = KernelChange(
        id: "gup-fast-rejects-file-longterm", title: "GUP-fast refuses long-term writable pins of file-backed folios other than shmem (falls back to the slow path)",
        firstRelease: KernelVersion(6, 5),
        citation: Citation(file: "mm/gup.c", function: "gup_fast_folio_allowed", version: "7.2",
                           commit: "mm/gup: disallow FOLL_LONGTERM GUP-fast writing to file-backed mappings (Lorenzo Stoakes, 6.5)"),
        probe: .none)

    public static let ioUringCoalesce = KernelChange(
        id: "io_uring-coalesce", title: "io_uring keeps one pin per large folio of a registered buffer (releases the rest at registration)",
        firstRelease: KernelVersion(6, 10),
        citation: Citation(file: "io_uring/rsrc.c", function: "io_coalesce_buffer", version: "7.2",
                           commit: "io_uring/rsrc: enable multi-hugepage buffer coalescing (Chenliang Li, 6.10)"),
        probe: .none)

    public static let memmapPagesCounter = KernelChange(
        id: "nr_memmap_pages", title: "/proc/vmstat nr_memmap_pages (memmap pages allocated after boot)",
        firstRelease: nil, knownIn: [KernelVersion(6, 12)], knownAbsentIn: [KernelVersion(6, 1, 999)],
        citation: Citation(file: "mm/vmstat.c", function: "vmstat_text", version: "6.12",
                           commit: "15995a352474 mm: report per-page metadata information"),
        probe: .vmstatField("nr_memmap_pages"))

    public static let normalRefcount = KernelChange(
        id: "fsdax-normal-refcount", title: "fsdax pages refcounted from 0, mapped pages referenced and rmapped; dax_break_layout*()",
        firstRelease: KernelVersion(6, 15),
        citation: Citation(file: "fs/dax.c", function: "dax_break_layout_final", version: "7.2",
                           commit: "38607c62b34b fs/dax: properly refcount fs dax pages"),
        probe: .symbol("dax_break_layout_final"))

    public static let kpageflagsZeroForNoPage = KernelChange(
        id: "kpageflags-zero", title: "/proc/kpageflags reads 0 instead of KPF_NOPAGE for PFNs without an online memmap",
        firstRelease: nil, knownIn: [KernelVersion(6, 18), KernelVersion(7, 2), KernelVersion(7, 3)],
        knownAbsentIn: [KernelVersion(6, 1, 999), KernelVersion(6, 12, 999)],
        citation: Citation(file: "fs/proc/page.c", function: "kpage_read", version: "7.2",
                           commit: "fs/proc/page: Refactoring to reduce code duplication (Liu Ye, 2025)"),
        probe: .symbol("kpage_read"))

    public static let vmemmapAccountingFix = KernelChange(
        id: "vmemmap-dedup-accounting", title: "nr_memmap_pages counts deduplicated DAX vmemmap at its real size",
        firstRelease: nil, knownIn: [KernelVersion(6, 12, 117), KernelVersion(7, 2, 13), KernelVersion(7, 3)],
        citation: Citation(file: "mm/sparse-vmemmap.c", function: "section_nr_vmemmap_pages", version: "7.2",
                           commit: "mm/sparse-vmemmap: Fix DAX vmemmap accounting with optimization (Muchun Song, 2026, Fixes: 15995a352474)"),
        probe: .none)

    public static let smapsPMDNormalPage = KernelChange(
        id: "smaps-pmd-vm-normal-page", title: "smaps finds PMD pages with vm_normal_page_pmd (devmap PMDs no longer counted)",
        firstRelease: nil, knownIn: [KernelVersion(6, 12)], knownAbsentIn: [KernelVersion(6, 1, 999)],
        citation: Citation(file: "mm/memory.c", function: "vm_normal_page_pmd", version: "6.12", line: "695"),
        probe: .none)

    public static let catalogue: [KernelChange] = [
        directIOPins, ioUringGUPFileCheck, gupFastRejectsFileLongterm, ioUringCoalesce, memmapPagesCounter, normalRefcount, kpageflagsZeroForNoPage,
        vmemmapAccountingFix, smapsPMDNormalPage,
    ]

    public static func named(_ id: String) -> KernelChange? { catalogue.first { $0.id == id } }
}
