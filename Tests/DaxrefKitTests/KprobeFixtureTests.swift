import Testing

@testable import DaxrefKit

/// Replays the traces `daxref kprobe-check --raw-trace` recorded in daxref guests (Debian 6.1.0-50
/// = 6.1.176 and 7.2.13, QEMU emulated pmem; see Fixtures/kprobe) through the parser and matcher,
/// and checks the refcount era facts they show.
struct RecordedTrace {
    var pfn: UInt64
    var order: Int
    var vmemmap: UInt64
    var events: [String]
    /// Step name → the events (governing refcounts and functions) matched in it.
    var steps: [(name: String, capture: KprobeCapture)]

    init(_ name: String) throws {
        let text = try kprobeFixture(name)
        var pfn: UInt64?, order = 0, vmemmap: UInt64?, events: [String] = []
        var sections: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# pfn: 0x") {
                let words = line.dropFirst("# pfn: 0x".count).split(separator: " ")
                pfn = UInt64(words[0], radix: 16)
                order = Int(words.last!) ?? 0
            } else if line.hasPrefix("# vmemmap_base: 0x") {
                vmemmap = UInt64(line.dropFirst("# vmemmap_base: 0x".count).prefix { $0 != " " }, radix: 16)
            } else if line.hasPrefix("# probe: ") {
                events.append(String(line.split(separator: " ")[2].split(separator: "/")[1]))
            } else if line.hasPrefix("# step: ") {
                sections.append((String(line.dropFirst("# step: ".count)), ""))
            } else if !sections.isEmpty {
                sections[sections.count - 1].1 += line + "\n"
            }
        }
        self.pfn = try #require(pfn)
        self.order = order
        self.vmemmap = try #require(vmemmap)
        self.events = events
        let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) })
        let matcher = KprobeEventMatcher(
            pages: [KprobePage(pfn: self.pfn, compoundOrder: order)],
            vmemmap: VmemmapBase(address: self.vmemmap, source: "@vmemmap_base"), layout: .assumed,
            targets: targets.filter { events.contains($0.key) })
        steps = sections.map { ($0.0, matcher.match(KprobeTraceParser.parse($0.1), step: $0.0)) }
    }

    var timeline: [Int32] { steps.flatMap { $0.capture.events.compactMap(\.refcount) } }
    func calls(_ step: String) -> [String] { steps.first { $0.name.hasPrefix(step) }?.capture.events.map(\.function) ?? [] }
    func refcounts(_ step: String) -> [Int32?] { steps.first { $0.name.hasPrefix(step) }?.capture.events.map(\.refcount) ?? [] }
    var problems: Int { steps.reduce(0) { $0 + $1.capture.parseErrors.count + $1.capture.unmatched + $1.capture.lostEvents } }
}

@Suite struct KprobeFixtureTests {
    static let all = [
        "6.1.0-50-amd64-devdax-dax0.0.trace", "6.1.0-50-amd64-devdax-dax0.1.trace", "6.1.0-50-amd64-fsdax-ext4.trace",
        "6.1.0-50-amd64-fsdax-xfs.trace", "7.2.13+deb14-amd64-devdax-dax0.0.trace", "7.2.13+deb14-amd64-devdax-dax0.1.trace",
        "7.2.13+deb14-amd64-fsdax-ext4.trace", "7.2.13+deb14-amd64-fsdax-xfs.trace",
    ]

    @Test(arguments: all)
    func everyRecordedLineParsesAndMatchesThePageUnderTest(_ name: String) throws {
        let trace = try RecordedTrace(name)
        #expect(trace.problems == 0, "parse errors, hits on other pages or lost events in \(name)")
        #expect(trace.timeline.count >= 9)
        #expect(trace.steps.map(\.name).contains("munmap"))
    }

    @Test(arguments: ["6.1.0-50-amd64-devdax-dax0.1.trace", "6.1.0-50-amd64-fsdax-ext4.trace"])
    func era61MappingTakesNoReferenceAndIdleIsOne(_ name: String) throws {
        let trace = try RecordedTrace(name)
        #expect(trace.refcounts("fault").allSatisfy { $0 == nil }, "6.1 inserts a pfn_t: no page, no reference")
        #expect(trace.refcounts("pin-unpin (process_vm_readv)") == [1, 1025, 1025], "mapped yet 1; FOLL_PIN adds 1024")
        #expect(trace.calls("munmap").isEmpty, "unmapping drops nothing")
        #expect(!trace.timeline.contains(0))
        // The O_DIRECT reference (FOLL_GET) is released by __bio_release_pages without the devmap
        // put hook that wakes fsdax truncate at 1 (the pipe's release does go through it).
        #expect(trace.calls("O_DIRECT") == ["try_grab_page", "__bio_release_pages"] || trace.calls("O_DIRECT") == ["try_grab_folio", "__bio_release_pages"])
        #expect(trace.refcounts("O_DIRECT").last == 2)
        #expect(trace.calls("pipe drained") == ["__put_devmap_managed_page_refs"])
    }

    @Test func era72DeviceDaxMappingTakesAReference() throws {
        let trace = try RecordedTrace("7.2.13+deb14-amd64-devdax-dax0.1.trace")
        #expect(trace.calls("fault") == ["vmf_insert_page_mkwrite", "insert_page_into_pte_locked", "folio_add_file_rmap_ptes"])
        #expect(trace.refcounts("fault") == [1, 1, 2], "idle 1, the PTE takes one")
        #expect(trace.refcounts("pin-unpin (process_vm_readv)") == [2, 1026])
        #expect(trace.calls("munmap") == ["folio_remove_rmap_ptes"])
    }

    @Test(arguments: ["7.2.13+deb14-amd64-fsdax-ext4.trace", "7.2.13+deb14-amd64-fsdax-xfs.trace"])
    func era72FsdaxIdlesAtZeroAndIsFreedOnUnmap(_ name: String) throws {
        let trace = try RecordedTrace(name)
        #expect(trace.calls("fault") == ["vmf_insert_folio_pmd", "folio_add_file_rmap_pmd"])
        #expect(trace.refcounts("pin-unpin (process_vm_readv)") == [1, 2], "mapped once: 0 idle + 1; a large folio pins +1")
        #expect(trace.calls("munmap") == ["folio_remove_rmap_pmd", "free_zone_device_folio"])
        #expect(trace.refcounts("munmap") == [1, 0])
    }

    @Test func era72TailWordIsAMaskAndTheHeadStillMatches() throws {
        // Same recording, but the page under test is the 6th page of the 2 MiB folio: only the
        // head's hits exist, and page[1].compound_info (0x…8001) must identify the head.
        let text = try kprobeFixture("7.2.13+deb14-amd64-fsdax-ext4.trace")
        let trace = try RecordedTrace("7.2.13+deb14-amd64-fsdax-ext4.trace")
        let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) })
        let matcher = KprobeEventMatcher(
            pages: [KprobePage(pfn: trace.pfn + 5, compoundOrder: 9)],
            vmemmap: VmemmapBase(address: trace.vmemmap, source: "@vmemmap_base"), layout: .assumed, targets: targets)
        let events = matcher.match(KprobeTraceParser.parse(text), step: "all").events
        #expect(events.count == trace.timeline.count)
        #expect(events.allSatisfy { $0.viaHead && $0.eventPFN == trace.pfn })
    }
}

@Suite struct KprobeTailEncodingTests {
    @Test func pointerAndMaskEncodings() {
        let head: UInt64 = 0xffff_faeb_4641_8000
        // ≤ 6.x: head pointer | 1; hcnt through it is meaningful.
        let pointer = KprobeEventMatcher.head(ofTail: head + 64 * 3, word: head | 1)
        #expect(pointer.pointer == head && pointer.isPointerEncoding)
        // 7.x: mask | 1, observed 0xffffffffffff8001 for an order-9 folio.
        let mask = KprobeEventMatcher.head(ofTail: head + 64 * 3, word: 0xffff_ffff_ffff_8001)
        #expect(mask.pointer == head && !mask.isPointerEncoding)
        #expect(KprobeEventMatcher.head(ofTail: head, word: 1).pointer == nil)
    }

    @Test func maskTailHasNoHeadCountFromTheDereference() {
        let base: UInt64 = 0xffff_d4c0_0000_0000
        let head = base + 0x240000 * 64
        let tail = head + 64 * 7
        let line = "a-1 [000] ..... 1.0: vmf_insert_page_mkwrite: (vmf_insert_page_mkwrite+0x4/0x60) page=0x\(String(tail, radix: 16)) cnt=0 ch=0xffffffffffff8001 p1ch=0xffffffffffff8001 hcnt=(fault)"
        let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) })
        let matcher = KprobeEventMatcher(
            pages: [KprobePage(pfn: 0x240000 + 7, compoundOrder: 9), KprobePage(pfn: 0x240000 + 9, compoundOrder: 9)],
            vmemmap: VmemmapBase(address: base, source: "@vmemmap_base"), layout: .assumed, targets: targets)
        let events = matcher.match(KprobeTraceParser.parse(line), step: "s").events
        #expect(events.map(\.pfn) == [0x240007, 0x240009], "the tail itself, and a sibling through the head")
        #expect(events.allSatisfy { $0.refcount == nil && $0.pageRefcount == 0 && $0.viaHead })
    }
}

@Suite struct KprobeBioTargetTests {
    @Test func bioPageNeedsTheBTFLayout() {
        let bio = KprobeCatalog.targets.first { $0.symbol == "__bio_release_pages" }!
        #expect(bio.resolvedSubject(layout: .assumed) == nil)
        #expect(bio.fetchArguments(layout: .assumed) == ["dirty=%si:u8"])
        var layout = PageLayout.assumed
        layout.bioIoVecOffset = 112
        layout.bioVecPageOffset = 0
        #expect(bio.definition(group: "g", module: nil, layout: layout)
            == "p:g/__bio_release_pages __bio_release_pages page=+0(+112(%di)):x64 cnt=+52(+0(+112(%di))):s32 ch=+8(+0(+112(%di))):x64 p1ch=+72(+0(+112(%di))):x64 hcnt=+51(+8(+0(+112(%di)))):s32 dirty=%si:u8")
    }
}
