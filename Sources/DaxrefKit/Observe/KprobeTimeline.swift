// From kprobe hits and samples to a refcount timeline of the pages under test, and from there to
// observations (`KprobeObservations`). The `kprobe.*` keys, their units and what each moment means
// are described with their `Observable` cases (Observables.swift).
//
// Two kinds of reading:
//   - hits of probed kernel functions (`RefcountEvent`): the page's governing `_refcount` as that
//     function saw it — at function entry, i.e. BEFORE the function changes it; at a return probe,
//     after. They say which kernel paths touched the page.
//   - samples (`KprobeSample`, see KprobeSampler.swift): the governing `_refcount` (and `_pincount`)
//     at a moment daxref chooses, read by the kernel when daxref calls getppid().

/// A page whose refcount the session follows.
public struct KprobePage: Sendable, Hashable, Codable {
    public var pfn: UInt64
    /// log2 of the number of pages in the compound page (folio) that may contain it: 0 for order-0
    /// pages, 9 for a 2 MiB device-dax or fsdax PMD folio. Hits on the head of that compound page
    /// are attributed to this page too (folio functions receive the head).
    public var compoundOrder: Int
    /// What it is, for reports ("dax0.0+0x0").
    public var label: String

    public init(pfn: UInt64, compoundOrder: Int = 0, label: String = "") {
        self.pfn = pfn
        self.compoundOrder = compoundOrder
        self.label = label
    }

    /// The first PFN of the naturally aligned compound page that would contain this page.
    public var headCandidate: UInt64 { pfn & ~((UInt64(1) << UInt64(compoundOrder)) - 1) }
    /// PFNs [headCandidate, headCandidate + 2^order).
    public var compoundRange: Range<UInt64> { headCandidate..<(headCandidate + (UInt64(1) << UInt64(compoundOrder))) }
}

/// The base of the struct page array (vmemmap); randomised by KASLR (CONFIG_RANDOMIZE_MEMORY).
public struct VmemmapBase: Sendable, Equatable, Codable {
    public var address: UInt64
    /// "@vmemmap_base" when a kprobe read the kernel variable, else "default … (reason)".
    public var source: String

    /// The x86_64 4-level paging value without memory randomisation.
    public static let unrandomised: UInt64 = 0xffff_ea00_0000_0000

    public var probed: Bool { source == "@vmemmap_base" }

    /// The PFN of the struct page at `pointer`, if it points at the start of one in vmemmap.
    public func pfn(ofPage pointer: UInt64, pageSize: Int) -> UInt64? {
        guard pointer >= address, (pointer - address) % UInt64(pageSize) == 0 else { return nil }
        let pfn = (pointer - address) / UInt64(pageSize)
        return pfn < (1 << 52) ? pfn : nil
    }

    public func pagePointer(pfn: UInt64, pageSize: Int) -> UInt64 { address &+ pfn &* UInt64(pageSize) }
}

/// One refcount-relevant kprobe hit for a page under test.
public struct RefcountEvent: Sendable, Equatable, Codable {
    /// The page under test the hit is about.
    public var pfn: UInt64
    /// The page the function received (the head for folio functions).
    public var eventPFN: UInt64
    public var function: String
    public var isReturn: Bool
    public var role: KprobeTarget.Role
    /// The governing refcount: the head's `_refcount` when the page is a tail page, else the
    /// page's own; nil for PFN-only hits (no page pointer) or when the read faulted.
    public var refcount: Int32?
    /// The page's own `_refcount` word (0 on tails of compound pages).
    public var pageRefcount: Int32?
    /// Matched through the compound head rather than the page itself.
    public var viaHead: Bool
    /// The other fetched arguments (refs, flags, nr, rc) by name.
    public var arguments: [String: Int64]
    public var timestampNanoseconds: UInt64
    public var pid: Int32
    public var comm: String
    /// The step label given to `collect`.
    public var step: String
}

/// A hit on a function without a page argument (break-layouts waits).
public struct KprobeMarker: Sendable, Equatable, Codable {
    public var function: String
    public var isReturn: Bool
    public var arguments: [String: Int64]
    public var timestampNanoseconds: UInt64
    public var pid: Int32
    public var comm: String
    public var step: String
}

/// What one `collect` found.
public struct KprobeCapture: Sendable, Equatable, Codable {
    public var step: String
    public var events: [RefcountEvent] = []
    public var markers: [KprobeMarker] = []
    /// Readings of the sampling probe (`KprobeSession.sample()`), one per page per sample.
    public var samples: [KprobeSample] = []
    /// Hits on pages other than those under test (kernel-side filtering keeps this small).
    public var unmatched = 0
    public var lostEvents = 0
    /// Lines that could not be parsed, as "line N: reason: text".
    public var parseErrors: [String] = []
    /// The trace text as read, when asked for (recording parser fixtures).
    public var rawText: String?

    public init(step: String) { self.step = step }
}

/// Matches parsed trace records to the pages under test. Pure: no kernel access.
public struct KprobeEventMatcher: Sendable {
    public var pages: [KprobePage]
    public var vmemmap: VmemmapBase
    public var layout: PageLayout
    /// Event name → the target it was installed for.
    public var targets: [String: KprobeTarget]
    /// Decodes `KprobeSampler.event` records when the session installed the sampling probe.
    public var sampler: KprobeSampler?
    /// Sample records from other threads are not ours (the kernel-side filter should drop them).
    public var samplerThread: Int32?

    public init(
        pages: [KprobePage], vmemmap: VmemmapBase, layout: PageLayout, targets: [String: KprobeTarget],
        sampler: KprobeSampler? = nil, samplerThread: Int32? = nil
    ) {
        self.pages = pages
        self.vmemmap = vmemmap
        self.layout = layout
        self.targets = targets
        self.sampler = sampler
        self.samplerThread = samplerThread
    }

    /// Only the low 52 bits of a pfn_t are the PFN (≤6.16 keeps PFN_DEV/PFN_MAP/… above).
    static let pfnMask: UInt64 = (1 << 52) - 1

    public func match(_ trace: KprobeTrace, step: String) -> KprobeCapture {
        var capture = KprobeCapture(step: step)
        capture.lostEvents = trace.lostEvents
        capture.parseErrors = trace.errors.map(\.description)
        for record in trace.records {
            if let sampler, record.event == KprobeSampler.event {
                if samplerThread == nil || record.pid == samplerThread {
                    capture.samples += sampler.decode(record, step: step)
                } else {
                    capture.unmatched += 1
                }
                continue
            }
            guard let target = targets[record.event] else {
                capture.unmatched += 1
                continue
            }
            var arguments: [String: Int64] = [:]
            for name in record.fieldOrder where !Self.pageFields.contains(name) {
                if let value = record[name]?.signed { arguments[name] = value }
            }
            switch target.subject {
            case .marker:
                capture.markers.append(KprobeMarker(
                    function: record.function, isReturn: record.isReturn, arguments: arguments,
                    timestampNanoseconds: record.timestampNanoseconds, pid: record.pid, comm: record.comm, step: step))
            case .pfn:
                guard let raw = record["pfn"]?.unsigned else {
                    capture.unmatched += 1
                    continue
                }
                let pfn = raw & Self.pfnMask
                let hits = pages.filter { $0.pfn == pfn || ($0.compoundOrder > 0 && $0.headCandidate == pfn) }
                if hits.isEmpty { capture.unmatched += 1 }
                for page in hits {
                    capture.events.append(event(
                        record, target, page: page, eventPFN: pfn, refcount: nil, own: nil, viaHead: page.pfn != pfn,
                        arguments: arguments, step: step))
                }
            case .page, .firstBioPage:
                let matched = matchPage(record, target, arguments: arguments, step: step)
                if matched.isEmpty { capture.unmatched += 1 }
                capture.events += matched
            }
        }
        return capture
    }

    static let pageFields: Set = ["page", "cnt", "ch", "p1ch", "hcnt", "pfn"]

    private func matchPage(_ record: KprobeTraceRecord, _ target: KprobeTarget, arguments: [String: Int64], step: String)
        -> [RefcountEvent]
    {
        guard let pointer = record["page"]?.unsigned,
            let eventPFN = vmemmap.pfn(ofPage: pointer, pageSize: layout.pageSize)
        else { return [] }
        let own = record["cnt"]?.signed.map { Int32(truncatingIfNeeded: $0) }
        let word = record["ch"]?.unsigned ?? 0
        let isTail = word & 1 == 1
        let head = isTail ? Self.head(ofTail: pointer, word: word) : nil
        let headPFN = head?.pointer.flatMap { vmemmap.pfn(ofPage: $0, pageSize: layout.pageSize) }
        // page[1]'s tail word names this page when it heads a compound page.
        let isCompoundHead = !isTail && record["p1ch"].flatMap(\.unsigned).map {
            $0 & 1 == 1 && Self.head(ofTail: pointer + UInt64(layout.pageSize), word: $0).pointer == pointer
        } == true
        // hcnt dereferenced compound_head as a pointer: meaningful only in the pointer encoding.
        let headCount = head?.isPointerEncoding == true
            ? record["hcnt"]?.signed.map { Int32(truncatingIfNeeded: $0) } : nil

        var events: [RefcountEvent] = []
        for page in pages {
            if eventPFN == page.pfn {
                // A tail page's own count is 0; its folio's count is the head's (if fetched).
                events.append(event(
                    record, target, page: page, eventPFN: eventPFN, refcount: isTail ? headCount : own, own: own,
                    viaHead: isTail, arguments: arguments, step: step))
            } else if page.compoundOrder > 0, !isTail, isCompoundHead, eventPFN == page.headCandidate {
                events.append(event(
                    record, target, page: page, eventPFN: eventPFN, refcount: own, own: own, viaHead: true,
                    arguments: arguments, step: step))
            } else if page.compoundOrder > 0, isTail, let headPFN, headPFN == page.headCandidate {
                // Another tail of the same compound page: it moves the same (head) count.
                events.append(event(
                    record, target, page: page, eventPFN: eventPFN, refcount: headCount, own: own, viaHead: true,
                    arguments: arguments, step: step))
            }
        }
        return events
    }

    /// The head page of a tail page from its tail word (bit 0 set). Two encodings exist:
    /// ≤ 6.x `compound_head` = head pointer | 1; 7.x `compound_info` = mask | 1, the head being
    /// the tail's own address AND the mask (observed on 7.2: 0xffffffffffff8001 for order 9 with a
    /// 64-byte struct page). A mask is all ones down to its lowest set bit, which no vmemmap
    /// pointer is.
    static func head(ofTail tail: UInt64, word: UInt64) -> (pointer: UInt64?, isPointerEncoding: Bool) {
        let value = word & ~1
        guard value != 0 else { return (nil, true) }
        let inverted = ~value
        if inverted & (inverted &+ 1) == 0 { return (tail & value, false) }
        return (value, true)
    }

    private func event(
        _ record: KprobeTraceRecord, _ target: KprobeTarget, page: KprobePage, eventPFN: UInt64, refcount: Int32?,
        own: Int32?, viaHead: Bool, arguments: [String: Int64], step: String
    ) -> RefcountEvent {
        RefcountEvent(
            pfn: page.pfn, eventPFN: eventPFN, function: record.function, isReturn: record.isReturn, role: target.role,
            refcount: refcount, pageRefcount: own, viaHead: viaHead, arguments: arguments,
            timestampNanoseconds: record.timestampNanoseconds, pid: record.pid, comm: record.comm, step: step)
    }

    /// The in-kernel filter for page-subject events: only pointers into the compound ranges of the
    /// pages under test pass, so hot functions (rmap, GUP) do not flood the buffer. Adjacent ranges
    /// are merged; beyond `maxRanges` one bounding range is used (the matcher still filters exactly).
    public func pageFilter(field: String = "page", maxRanges: Int = 8) -> String? {
        guard !pages.isEmpty else { return nil }
        var ranges = pages.map(\.compoundRange).sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<UInt64>] = [ranges.removeFirst()]
        for range in ranges {
            if range.lowerBound <= merged[merged.count - 1].upperBound {
                merged[merged.count - 1] = merged[merged.count - 1].lowerBound..<max(merged[merged.count - 1].upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        if merged.count > maxRanges { merged = [merged.first!.lowerBound..<merged.last!.upperBound] }
        func hex(_ pfn: UInt64) -> String { "0x" + String(vmemmap.pagePointer(pfn: pfn, pageSize: layout.pageSize), radix: 16) }
        return merged.map { "(\(field)>=\(hex($0.lowerBound))&&\(field)<\(hex($0.upperBound)))" }.joined(separator: "||")
    }
}

extension RefcountEvent {
    /// "fault pfn=0x240000 vmf_insert_page_mkwrite refcount=1 pid=812 comm=daxref t=41.310247"
    public var summary: String {
        var words = [step, "pfn=0x" + String(pfn, radix: 16), function + (isReturn ? ":return" : "")]
        words.append("refcount=" + (refcount.map { String($0) } ?? "-"))
        if viaHead { words.append("head=0x" + String(eventPFN, radix: 16)) }
        for name in arguments.keys.sorted() {
            let value = arguments[name]!
            words.append("\(name)=" + (name == "flags" ? "0x" + String(UInt64(bitPattern: value), radix: 16) : String(value)))
        }
        words += ["pid=\(pid)", "comm=\(comm)", "t=" + formatSeconds(timestampNanoseconds)]
        return words.joined(separator: " ")
    }
}

extension KprobeMarker {
    public var summary: String {
        var words = [step, function + (isReturn ? ":return" : "")]
        for name in arguments.keys.sorted() { words.append("\(name)=\(arguments[name]!)") }
        words += ["pid=\(pid)", "comm=\(comm)", "t=" + formatSeconds(timestampNanoseconds)]
        return words.joined(separator: " ")
    }
}

func formatSeconds(_ nanoseconds: UInt64) -> String {
    let micro = nanoseconds / 1000
    let fraction = String(micro % 1_000_000)
    return "\(micro / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
}

/// The observations of a session's captures for its first page (keys documented above).
public enum KprobeObservations {
    /// Sampled moments become `kprobe.refcount.<moment>` / `kprobe.pincount.<moment>` (the capture's
    /// step name is the moment); every capture's hits are counted and listed.
    public static func make(pages: [KprobePage], captures: [KprobeCapture], session: KprobeSessionInfo, cleanup: KprobeCleanupReport?) -> Observations {
        var result = Observations()
        result["kprobe.available"] = .flag(true)
        let page = pages.first
        if let page {
            result["kprobe.page.pfn"] = .integer(Int64(page.pfn))
            result["kprobe.page.order"] = .integer(Int64(page.compoundOrder))
        }
        var timeline: [ObservedValue] = []
        for capture in captures {
            for sample in capture.samples where sample.pfn == page?.pfn {
                timeline.append(.text(sample.summary))
                result[refcountKey(sample.step)] = sample.refcount.map { .integer(Int64($0)) }
                    ?? .unavailable(sample.problem ?? "not read")
                if let pincount = sample.pincount {
                    result[pincountKey(sample.step)] = .integer(Int64(pincount))
                } else {
                    result[pincountKey(sample.step)] = .unavailable(
                        sample.shape == .single ? "order-0 page: no _pincount (a FOLL_PIN adds 1024 to _refcount)"
                            : session.layout.pincountOffset == nil ? "folio._pincount offset unknown without BTF"
                            : sample.problem ?? "not a compound page of the expected order")
                }
            }
        }
        result["kprobe.timeline"] = .list(timeline)
        let events = captures.flatMap(\.events).sorted { $0.timestampNanoseconds < $1.timestampNanoseconds }
        let markers = captures.flatMap(\.markers).sorted { $0.timestampNanoseconds < $1.timestampNanoseconds }
        result["kprobe.calls"] = .list(events.map { .text($0.summary) } + markers.map { .text($0.summary) })
        result["kprobe.events"] = .integer(Int64(events.count))
        result["kprobe.lost"] = .integer(Int64(captures.reduce(0) { $0 + $1.lostEvents }))
        result["kprobe.unmatched"] = .integer(Int64(captures.reduce(0) { $0 + $1.unmatched }))
        result["kprobe.parse_errors"] = .list(captures.flatMap(\.parseErrors).map { .text($0) })
        result.merge(session.observations)
        if let cleanup {
            result["kprobe.probes_remaining"] = .integer(Int64(cleanup.leftover.count))
            result["kprobe.cleanup.failures"] = .list(cleanup.failures.map { .text($0) })
        }
        return result
    }

    public static func refcountKey(_ moment: String) -> ObservableKey { ObservableKey("kprobe.refcount", moment) }
    public static func pincountKey(_ moment: String) -> ObservableKey { ObservableKey("kprobe.pincount", moment) }

    /// The concrete keys every session records (`make`), besides the per-moment ones.
    public static let sessionKeys: [ObservableKey] = [
        "kprobe.page.pfn", "kprobe.page.order", "kprobe.timeline", "kprobe.calls", "kprobe.events", "kprobe.lost",
        "kprobe.unmatched", "kprobe.parse_errors", "kprobe.installed", "kprobe.missing", "kprobe.vmemmap_base",
        "kprobe.vmemmap_base.source", "kprobe.page_layout", "kprobe.missed", "kprobe.probes_remaining",
        "kprobe.cleanup.failures", "kprobe.phases",
    ]

    /// Every session key as `.unavailable(reason)`, and `kprobe.available = false`.
    public static func unavailable(_ reason: String) -> Observations {
        var result = Observations()
        for key in sessionKeys { result[key] = .unavailable(reason) }
        result["kprobe.available"] = .flag(false)
        return result
    }
}

public struct KprobeHitCount: Sendable, Equatable, Codable {
    public var hits: Int
    public var missed: Int
}

/// What a session installed and how it interprets pointers: the part of a report that says how
/// the timeline was obtained.
public struct KprobeSessionInfo: Sendable, Equatable, Codable {
    public var group: String
    public var installed: [String]
    public var failed: [String]
    public var missing: [KprobePlan.Skipped]
    public var filters: [String: String]
    public var vmemmap: VmemmapBase
    public var layout: PageLayout
    public var layoutNote: String
    public var staleRemoved: [String]
    public var symbolSource: String
    /// Set by close(): daxref probe lines still in kprobe_events afterwards (must be empty).
    public var leftover: [String]?
    /// Set by close(): hits and misses per event from kprobe_profile.
    public var profile: [String: KprobeHitCount]?
    /// How long each phase of start and of close took ("symbols=812", …, in ms).
    public var startPhases: [String]?
    public var closePhases: [String]?

    var observations: Observations {
        var result = Observations()
        result["kprobe.installed"] = .list(installed.map { .text($0) })
        result["kprobe.missing"] = .list(missing.map { .text("\($0.symbol)\($0.kind == .return ? ":return" : ""): \($0.reason)") }
            + failed.map { .text($0) })
        result["kprobe.vmemmap_base"] = .text("0x" + String(vmemmap.address, radix: 16))
        result["kprobe.vmemmap_base.source"] = .text(vmemmap.source)
        result["kprobe.page_layout"] = .text(
            "refcount+\(layout.refcountOffset) compound_head+\(layout.compoundHeadOffset) size\(layout.pageSize)"
                + (layout.pincountOffset.map { " pincount+\($0)" } ?? "") + " (\(layout.source))")
        result["kprobe.phases"] = .text(((startPhases ?? []) + (closePhases ?? [])).joined(separator: " "))
        result["kprobe.missed"] = profile.map { .integer(Int64($0.values.reduce(0) { $0 + $1.missed })) }
            ?? .unavailable("kprobe_profile not read")
        return result
    }
}
