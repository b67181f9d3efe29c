import Testing

@testable import DaxrefKit

/// Replays the traces `daxref drive --workload refcount-timeline --kprobe-trace DIR` recorded in
/// daxref guests (Debian 6.1.0-50 = 6.1.176 and 7.2.13, QEMU TCG, emulated pmem; Fixtures/kprobe
/// `<release>-timeline-<backing>.trace`) through the parser, matcher and sampler, and checks the
/// refcount era facts the kernel showed.
struct RecordedTimeline {
    var page: KprobePage
    var observations: Observations
    var samples: [KprobeSample]

    init(_ name: String) throws {
        let text = try kprobeFixture(name)
        var pfn: UInt64?, order = 0, vmemmap: UInt64?, pincount: Int?, events: Set<String> = []
        var sections: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# pfn: 0x") {
                let words = line.dropFirst("# pfn: 0x".count).split(separator: " ")
                pfn = UInt64(words[0], radix: 16)
                order = Int(words.last!) ?? 0
            } else if line.hasPrefix("# vmemmap_base: 0x") {
                vmemmap = UInt64(line.dropFirst("# vmemmap_base: 0x".count).prefix { $0 != " " }, radix: 16)
            } else if line.hasPrefix("# pincount_offset: ") {
                pincount = Int(line.dropFirst("# pincount_offset: ".count))
            } else if line.hasPrefix("# probe: ") {
                events.insert(String(line.split(separator: " ")[2].split(separator: "/")[1]))
            } else if line.hasPrefix("# step: ") {
                sections.append((String(line.dropFirst("# step: ".count)), ""))
            } else if !sections.isEmpty {
                sections[sections.count - 1].1 += line + "\n"
            }
        }
        page = KprobePage(pfn: try #require(pfn), compoundOrder: order)
        var layout = PageLayout.assumed
        layout.pincountOffset = pincount
        let base = VmemmapBase(address: try #require(vmemmap), source: "@vmemmap_base")
        #expect(events.contains(KprobeSampler.event), "the sampler was installed")
        let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) }).filter { events.contains($0.key) }
        let matcher = KprobeEventMatcher(
            pages: [page], vmemmap: base, layout: layout, targets: targets,
            sampler: KprobeSampler(pages: [page], vmemmap: base, layout: layout))
        let captures = sections.map { matcher.match(KprobeTraceParser.parse($0.1), step: $0.0) }
        samples = captures.flatMap(\.samples)
        let info = KprobeSessionInfo(
            group: "g", installed: [], failed: [], missing: [], filters: [:], vmemmap: base, layout: layout, layoutNote: "",
            staleRemoved: [], symbolSource: "/proc/kallsyms", leftover: [], profile: [:])
        observations = KprobeObservations.make(pages: [page], captures: captures, session: info, cleanup: nil)
    }

    func refcount(_ moment: TimelineWorkload.Moment) -> Int64? {
        if case .integer(let value)? = observations[KprobeObservations.refcountKey(moment.rawValue)] { return value }
        return nil
    }

    func pincount(_ moment: TimelineWorkload.Moment) -> Int64? {
        if case .integer(let value)? = observations[KprobeObservations.pincountKey(moment.rawValue)] { return value }
        return nil
    }
}

@Suite struct KprobeTimelineFixtureTests {
    static let dax = ["devdax.4k", "devdax.2m", "devdax.1g", "fsdax.ext4", "fsdax.xfs"]
    static let all = ["6.1.0-50-amd64", "7.2.13+deb14-amd64"].flatMap { release in
        (dax + ["anon.private", "pagecache.tmpfs"]).map { "\(release)-timeline-\($0).trace" }
    }

    @Test(arguments: all)
    func everyLineParsesMatchesAndIsDescribed(_ name: String) throws {
        let timeline = try RecordedTimeline(name)
        #expect(timeline.observations["kprobe.unmatched"] == .integer(0), "hits on other pages in \(name)")
        #expect(timeline.observations["kprobe.lost"] == .integer(0))
        #expect(timeline.observations["kprobe.parse_errors"] == .list([]))
        #expect(timeline.samples.count >= 6, "a sample at every moment that happened")
        #expect(timeline.samples.allSatisfy { $0.refcount != nil && $0.problem == nil })
        for key in timeline.observations.values.keys {
            #expect(ObservableCatalogue.describe(key) != nil, "\(name): \(key)")
        }
        // The pipe's hold is one reference, dropped again when drained. (On 6.1 tmpfs a reference
        // appears between faulted and spliced and stays until munmap: a per-CPU LRU batch's.)
        let unspliced = try #require(timeline.refcount(.unspliced))
        #expect(timeline.refcount(.spliced) == unspliced + 1, "vmsplice: one FOLL_GET")
        #expect(timeline.refcount(.released) == unspliced)
    }

    @Test(arguments: dax.map { "6.1.0-50-amd64-timeline-\($0).trace" })
    func era61DaxIdlesAtOneAndAMappingTakesNoReference(_ name: String) throws {
        let timeline = try RecordedTimeline(name)
        #expect(timeline.refcount(.idle) == 1)
        #expect(timeline.refcount(.faulted) == 1, "a pfn_t insert takes no reference")
        #expect(timeline.refcount(.unmapped) == 1)
        #expect(timeline.refcount(.pinned) == nil, "6.1 io_uring refuses DAX buffers and fsdax refuses long-term pins: no sample")
        // Only device-dax has compound pages on 6.1; fsdax pages are order-0.
        #expect(timeline.samples.first?.shape == (name.contains("devdax.4k") || name.contains("fsdax") ? .single : .head))
    }

    @Test(arguments: ["devdax.4k", "devdax.2m", "devdax.1g"].map { "7.2.13+deb14-amd64-timeline-\($0).trace" })
    func era72DeviceDaxMappingTakesAReferenceAndPinsAreCounted(_ name: String) throws {
        let timeline = try RecordedTimeline(name)
        #expect(timeline.refcount(.idle) == 1)
        #expect(timeline.refcount(.faulted) == 2, "idle 1 + one for the mapping")
        #expect(timeline.refcount(.unmapped) == 1)
        if name.contains("4k") {
            #expect(timeline.refcount(.pinned) == Int64(1026), "2 + 1024: an order-0 FOLL_PIN adds 1024")
        } else {
            #expect(timeline.refcount(.pinned) == Int64(3), "a large folio's FOLL_PIN adds 1 …")
            #expect(timeline.pincount(.pinned) == 1, "… and 1 to _pincount")
            #expect(timeline.pincount(.released) == 0)
        }
    }

    @Test(arguments: ["fsdax.ext4", "fsdax.xfs"].map { "7.2.13+deb14-amd64-timeline-\($0).trace" })
    func era72FsdaxIdlesAtZero(_ name: String) throws {
        let timeline = try RecordedTimeline(name)
        #expect(timeline.refcount(.idle) == 0)
        #expect(timeline.refcount(.faulted) == 1)
        #expect(timeline.refcount(.unmapped) == 0)
        #expect(timeline.refcount(.pinned) == nil, "no long-term pins of FS DAX")
        #expect(timeline.samples.first?.shape == .head, "the PMD fault built an order-9 folio")
    }
}
