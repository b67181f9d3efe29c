// Sampling a page's refcount at a moment of daxref's choosing, rather than when the kernel happens
// to call a probed function on it. One extra probe sits on getppid(2) and fetches, by absolute
// kernel address (`@ADDR`), the struct page words of each page under test; daxref calls getppid()
// on the session's thread whenever it wants a reading, and the probe handler — the kernel itself —
// reads the words at that instant. Nothing is computed from expectations: the values are what the
// struct pages held.
//
// Per page i (pfn P, head candidate H = P rounded down to the compound order), fetched:
//   cnt<i>   P's `_refcount` (s32)
//   ch<i>    P's tail word (compound_head ≤ 6.x, compound_info 7.x; bit 0 set on a tail)
//   p1ch<i>  page[P+1]'s tail word: names P as head when P heads a compound page
//   hcnt<i>  H's `_refcount`        (only when H ≠ P: needed if P is a tail)
//   hp1ch<i> page[H+1]'s tail word  (only when H ≠ P: confirms H is P's head)
//   pin<i>   H's folio `_pincount`   (only for order > 0 and a BTF layout that has it)

/// The getppid probe that reads the pages' struct page words on demand.
public struct KprobeSampler: Sendable, Equatable {
    /// The tracefs event name of the sampling probe.
    public static let event = "sample"

    public var pages: [KprobePage]
    public var vmemmap: VmemmapBase
    public var layout: PageLayout

    public init(pages: [KprobePage], vmemmap: VmemmapBase, layout: PageLayout) {
        self.pages = pages
        self.vmemmap = vmemmap
        self.layout = layout
    }

    private func address(_ pfn: UInt64, _ offset: Int) -> String {
        "@0x" + String(vmemmap.pagePointer(pfn: pfn, pageSize: layout.pageSize) &+ UInt64(offset), radix: 16)
    }

    /// The fetchargs of the sampling probe (see the file comment for the names).
    public var fetchArguments: [String] {
        var arguments: [String] = []
        for (index, page) in pages.enumerated() {
            let pfn = page.pfn, head = page.headCandidate
            arguments.append("cnt\(index)=\(address(pfn, layout.refcountOffset)):s32")
            arguments.append("ch\(index)=\(address(pfn, layout.compoundHeadOffset)):x64")
            arguments.append("p1ch\(index)=\(address(pfn + 1, layout.compoundHeadOffset)):x64")
            if head != pfn {
                arguments.append("hcnt\(index)=\(address(head, layout.refcountOffset)):s32")
                arguments.append("hp1ch\(index)=\(address(head + 1, layout.compoundHeadOffset)):x64")
            }
            if page.compoundOrder > 0, let pincount = layout.pincountOffset {
                arguments.append("pin\(index)=\(address(head, pincount)):s32")
            }
        }
        return arguments
    }

    /// The probe definition for `kprobe_events`.
    public func definition(group: String, function: String) -> String {
        (["p:\(group)/\(Self.event)", function] + fetchArguments).joined(separator: " ")
    }

    /// One sample record → one reading per page under test, in page order.
    public func decode(_ record: KprobeTraceRecord, step: String) -> [KprobeSample] {
        pages.enumerated().map { index, page in
            var sample = KprobeSample(pfn: page.pfn, step: step, timestampNanoseconds: record.timestampNanoseconds)
            func int32(_ name: String) -> Int32? { record["\(name)\(index)"]?.signed.map { Int32(truncatingIfNeeded: $0) } }
            sample.pageRefcount = int32("cnt")
            guard let own = sample.pageRefcount, let word = record["ch\(index)"]?.unsigned,
                let nextWord = record["p1ch\(index)"]?.unsigned
            else {
                sample.problem = "the struct page could not be read (wrong vmemmap_base?)"
                return sample
            }
            let pointer = vmemmap.pagePointer(pfn: page.pfn, pageSize: layout.pageSize)
            let headPointer = vmemmap.pagePointer(pfn: page.headCandidate, pageSize: layout.pageSize)
            let pincount = int32("pin")
            if word & 1 == 1 {
                sample.shape = .tail
                let head = KprobeEventMatcher.head(ofTail: pointer, word: word).pointer
                sample.headPFN = head.flatMap { vmemmap.pfn(ofPage: $0, pageSize: layout.pageSize) }
                // The head candidate must be the head, and page[H+1] must say so too.
                let confirmed = record["hp1ch\(index)"]?.unsigned.map {
                    KprobeEventMatcher.head(ofTail: headPointer + UInt64(layout.pageSize), word: $0).pointer == headPointer
                } == true
                guard head == headPointer, confirmed, let headCount = int32("hcnt") else {
                    sample.problem = "a tail page whose head is not the expected 0x\(String(page.headCandidate, radix: 16))"
                    return sample
                }
                sample.refcount = headCount
                sample.pincount = pincount
            } else if nextWord & 1 == 1,
                KprobeEventMatcher.head(ofTail: pointer + UInt64(layout.pageSize), word: nextWord).pointer == pointer
            {
                sample.shape = .head
                sample.headPFN = page.pfn
                sample.refcount = own
                if page.headCandidate == page.pfn { sample.pincount = pincount }
            } else {
                sample.shape = .single
                sample.headPFN = page.pfn
                sample.refcount = own
            }
            return sample
        }
    }
}

/// A page's refcount as the sampling probe read it at one moment.
public struct KprobeSample: Sendable, Equatable, Codable {
    public enum Shape: String, Sendable, Codable {
        /// Not part of a compound page: `_refcount` is its own, a FOLL_PIN adds 1024, no `_pincount`.
        case single = "order-0"
        /// The head of a compound page (folio): its `_refcount` governs, FOLL_PIN adds 1 + `_pincount` 1.
        case head
        /// A tail: its own `_refcount` is 0, the head's governs.
        case tail
    }

    /// The page under test.
    public var pfn: UInt64
    /// The moment (the step label given to `collect`).
    public var step: String
    public var timestampNanoseconds: UInt64
    public var shape: Shape?
    /// The page whose `_refcount` governs: the page itself unless it is a tail.
    public var headPFN: UInt64?
    /// The governing `_refcount`; nil with `problem` when it could not be determined.
    public var refcount: Int32?
    /// The page's own `_refcount` word (0 on tails).
    public var pageRefcount: Int32?
    /// The folio's `_pincount` (heads and tails of compound pages, when the layout gives its offset).
    public var pincount: Int32?
    public var problem: String?

    public init(pfn: UInt64, step: String, timestampNanoseconds: UInt64) {
        self.pfn = pfn
        self.step = step
        self.timestampNanoseconds = timestampNanoseconds
    }

    /// "faulted refcount=2 pincount=0 page=head pfn=0x240000 t=41.310247"
    public var summary: String {
        var words = [step, "refcount=" + (refcount.map { String($0) } ?? "-"), "pincount=" + (pincount.map { String($0) } ?? "-")]
        words.append("page=" + (shape?.rawValue ?? "?"))
        if shape == .tail, let headPFN { words.append("head=0x" + String(headPFN, radix: 16) + " own=" + (pageRefcount.map { String($0) } ?? "-")) }
        words += ["pfn=0x" + String(pfn, radix: 16), "t=" + formatSeconds(timestampNanoseconds)]
        if let problem { words.append("(\(problem))") }
        return words.joined(separator: " ")
    }
}
