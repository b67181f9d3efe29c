import Foundation
import Testing

@testable import DaxrefKit

/// The getppid sampling probe: its fetchargs, and how a reading becomes the governing count.
@Suite struct KprobeSamplerTests {
    static let base: UInt64 = 0xffff_d4c0_0000_0000
    static func pointer(_ pfn: UInt64) -> UInt64 { base + pfn * 64 }
    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    func sampler(_ pages: [KprobePage], pincount: Int? = 92) -> KprobeSampler {
        var layout = PageLayout.assumed
        layout.pincountOffset = pincount
        return KprobeSampler(pages: pages, vmemmap: VmemmapBase(address: Self.base, source: "@vmemmap_base"), layout: layout)
    }

    func record(_ fields: String) throws -> KprobeTraceRecord {
        let line = "daxref-7 [001] ..... 5.000100: sample: (__x64_sys_getppid+0x4/0x20) " + fields
        guard case .record(let record) = try KprobeTraceParser.parseLine(Substring(line)) else {
            throw KprobeLocateError("not a record")
        }
        return record
    }

    @Test func fetchargsReadAbsoluteAddressesOfThePageItsNeighbourAndItsHead() {
        let head: UInt64 = 0x240000
        let args = sampler([KprobePage(pfn: head, compoundOrder: 9), KprobePage(pfn: head + 5, compoundOrder: 9), KprobePage(pfn: 7)])
            .fetchArguments
        #expect(args == [
            "cnt0=@\(Self.hex(Self.pointer(head) + 52)):s32", "ch0=@\(Self.hex(Self.pointer(head) + 8)):x64",
            "p1ch0=@\(Self.hex(Self.pointer(head + 1) + 8)):x64", "pin0=@\(Self.hex(Self.pointer(head) + 92)):s32",
            "cnt1=@\(Self.hex(Self.pointer(head + 5) + 52)):s32", "ch1=@\(Self.hex(Self.pointer(head + 5) + 8)):x64",
            "p1ch1=@\(Self.hex(Self.pointer(head + 6) + 8)):x64", "hcnt1=@\(Self.hex(Self.pointer(head) + 52)):s32",
            "hp1ch1=@\(Self.hex(Self.pointer(head + 1) + 8)):x64", "pin1=@\(Self.hex(Self.pointer(head) + 92)):s32",
            "cnt2=@\(Self.hex(Self.pointer(7) + 52)):s32", "ch2=@\(Self.hex(Self.pointer(7) + 8)):x64",
            "p1ch2=@\(Self.hex(Self.pointer(8) + 8)):x64",
        ])
        #expect(sampler([KprobePage(pfn: head, compoundOrder: 9)], pincount: nil).fetchArguments.count == 3, "no _pincount without BTF")
        #expect(sampler([KprobePage(pfn: 7)]).definition(group: "daxref_9", function: "__x64_sys_getppid")
            .hasPrefix("p:daxref_9/sample __x64_sys_getppid cnt0=@"))
    }

    @Test func aHeadPageGovernsItselfAndCarriesThePincount() throws {
        let head: UInt64 = 0x240000
        // 6.1 encoding: page[1].compound_head = head pointer | 1.
        let reading = sampler([KprobePage(pfn: head, compoundOrder: 9)]).decode(
            try record("cnt0=3 ch0=0xffff89ea141070c0 p1ch0=\(Self.hex(Self.pointer(head) | 1)) pin0=1"), step: "pinned")
        #expect(reading.count == 1)
        #expect(reading[0].shape == .head && reading[0].refcount == 3 && reading[0].pincount == 1 && reading[0].problem == nil)
        #expect(reading[0].summary.hasPrefix("pinned refcount=3 pincount=1 page=head pfn=0x240000"))
    }

    @Test func anOrder0PageGovernsItselfWithoutPincount() throws {
        // page[1] is an unrelated order-0 page: its word does not name this page.
        let reading = sampler([KprobePage(pfn: 0x1000, compoundOrder: 9)]).decode(
            try record("cnt0=1026 ch0=0xffff8e5403a0f0b8 p1ch0=0xffff8e5403a0f0c8 pin0=77"), step: "pinned")[0]
        #expect(reading.shape == .single && reading.refcount == 1026 && reading.pincount == nil)
    }

    @Test(arguments: [true, false])
    func aTailIsGovernedByItsHeadInBothEncodings(_ maskEncoding: Bool) throws {
        let head: UInt64 = 0x240000, tail = head + 5
        // ≤ 6.x: head pointer | 1; 7.x: mask | 1 (order 9, 64-byte struct page).
        let word = maskEncoding ? "0xffffffffffff8001" : Self.hex(Self.pointer(head) | 1)
        let reading = sampler([KprobePage(pfn: tail, compoundOrder: 9)]).decode(
            try record("cnt0=0 ch0=\(word) p1ch0=\(word) hcnt0=2 hp1ch0=\(word) pin0=0"), step: "faulted")[0]
        #expect(reading.shape == .tail && reading.headPFN == head)
        #expect(reading.refcount == 2 && reading.pageRefcount == 0 && reading.pincount == 0)
    }

    @Test func aTailOfAnotherHeadOrAnUnreadablePageHasNoCount() throws {
        let tail: UInt64 = 0x240005
        let elsewhere = Self.hex(Self.pointer(0x100000) | 1)
        let wrongHead = sampler([KprobePage(pfn: tail, compoundOrder: 9)]).decode(
            try record("cnt0=0 ch0=\(elsewhere) p1ch0=\(elsewhere) hcnt0=2 hp1ch0=\(elsewhere)"), step: "x")[0]
        #expect(wrongHead.refcount == nil && wrongHead.problem?.contains("not the expected") == true)
        let unreadable = sampler([KprobePage(pfn: 7)]).decode(try record("cnt0=(fault) ch0=(fault) p1ch0=(fault)"), step: "x")[0]
        #expect(unreadable.refcount == nil && unreadable.problem != nil)
    }

    @Test func samplesFromOtherThreadsAreNotOurs() throws {
        let page = KprobePage(pfn: 7)
        let text = """
            daxref-7 [001] ..... 5.000100: sample: (__x64_sys_getppid+0x4/0x20) cnt0=1 ch0=0x0 p1ch0=0x0
            busybox-8 [000] ..... 5.000200: sample: (__x64_sys_getppid+0x4/0x20) cnt0=1 ch0=0x0 p1ch0=0x0
            """
        let matcher = KprobeEventMatcher(
            pages: [page], vmemmap: VmemmapBase(address: Self.base, source: "@vmemmap_base"), layout: .assumed, targets: [:],
            sampler: sampler([page]), samplerThread: 7)
        let capture = matcher.match(KprobeTraceParser.parse(text), step: "idle")
        #expect(capture.samples.map(\.refcount) == [1])
        #expect(capture.unmatched == 1)
    }

    @Test func observationsNameEachMomentAndCountTheHits() throws {
        let head: UInt64 = 0x240000
        let page = KprobePage(pfn: head, compoundOrder: 9)
        let headWord = Self.hex(Self.pointer(head) | 1)
        func capture(_ step: String, _ count: Int, _ pin: Int, hits: String = "") throws -> KprobeCapture {
            let text = "daxref-7 [001] ..... 5.0: sample: (__x64_sys_getppid+0x4/0x20) cnt0=\(count) ch0=0x0 p1ch0=\(headWord) pin0=\(pin)\n" + hits
            let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) })
            return KprobeEventMatcher(
                pages: [page], vmemmap: VmemmapBase(address: Self.base, source: "@vmemmap_base"), layout: .assumed,
                targets: targets, sampler: sampler([page]), samplerThread: 7
            ).match(KprobeTraceParser.parse(text), step: step)
        }
        let grab = "daxref-7 [001] ..... 5.1: try_grab_folio: (try_grab_folio+0x4/0xc0) page=\(Self.hex(Self.pointer(head))) cnt=2 ch=0x0 p1ch=\(headWord) refs=1 flags=0x80000\n"
        let captures = [try capture("idle", 1, 0), try capture("pinned", 3, 1, hits: grab)]
        var layout = PageLayout.assumed
        layout.pincountOffset = 92
        let info = KprobeSessionInfo(
            group: "g", installed: [], failed: [], missing: [], filters: [:], vmemmap: VmemmapBase(address: Self.base, source: "@vmemmap_base"),
            layout: layout, layoutNote: "", staleRemoved: [], symbolSource: "/proc/kallsyms", leftover: [], profile: [:])
        let observed = KprobeObservations.make(pages: [page], captures: captures, session: info, cleanup: KprobeCleanupReport(failures: [], leftover: []))
        #expect(observed["kprobe.refcount.idle"] == .integer(1))
        #expect(observed["kprobe.refcount.pinned"] == .integer(3))
        #expect(observed["kprobe.pincount.pinned"] == .integer(1))
        #expect(observed["kprobe.events"] == .integer(1))
        #expect(observed["kprobe.probes_remaining"] == .integer(0))
        #expect(observed["kprobe.missed"] == .integer(0))
        if case .list(let timeline)? = observed["kprobe.timeline"] { #expect(timeline.count == 2) } else { Issue.record("no timeline") }
        for key in observed.values.keys {
            #expect(ObservableCatalogue.describe(key) != nil, "\(key) is not in the catalogue")
        }
        let unavailable = KprobeObservations.unavailable("not root")
        #expect(unavailable["kprobe.available"] == .flag(false))
        #expect(unavailable["kprobe.events"] == .unavailable("not root"))
    }
}

/// The one-pass kallsyms parser against a plain line-by-line reading of the same text.
@Suite struct KallsymsParserTests {
    static func reference(_ text: String, wanted: Set<String>) -> [String: [KernelSymbols.Definition]] {
        var definitions: [String: [KernelSymbols.Definition]] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard columns.count >= 3, columns[1].count == 1 else { continue }
            let name = String(columns[2])
            guard wanted.contains(String(name.prefix { $0 != "." })) else { continue }
            let module = columns.count >= 4 && columns[3].hasPrefix("[") ? String(columns[3].dropFirst().dropLast()) : nil
            definitions[name, default: []].append(.init(type: columns[1].first!, module: module))
        }
        return definitions
    }

    @Test func clonesModulesAndDuplicatesLikeALineSplit() {
        let text = """
            ffffffff81000000 T __x64_sys_getppid
            ffffffff81000100 t insert_pfn.constprop.0
            ffffffff81000200 t insert_pfn_pmd
            ffffffff81000300 t gup_put_folio
            ffffffff81000400 t gup_put_folio
            ffffffff82000000 D vmemmap_base
            ffffffffc0123000 t ext4_break_layouts\t[ext4]
            ffffffffc0124000 t xfs_break_dax_layouts.cold\t[xfs]
            garbage
            ffffffff81000500 T try_grab_folio
            """
        let wanted: Set = ["__x64_sys_getppid", "insert_pfn", "gup_put_folio", "vmemmap_base", "ext4_break_layouts", "xfs_break_dax_layouts", "try_grab_folio"]
        let parsed = KernelSymbols.parseKallsyms(text, wanted: wanted)
        #expect(parsed.definitions == Self.reference(text, wanted: wanted))
        #expect(parsed.definitions["insert_pfn_pmd"] == nil, "a longer name is not a clone")
        #expect(parsed.definitions["gup_put_folio"]?.count == 2)
        #expect(parsed.definitions["ext4_break_layouts"]?.first?.module == "ext4")
        #expect(parsed.definitions["try_grab_folio"]?.first?.type == "T", "the last line has no newline")
    }

    @Test(.enabled(if: (try? SystemFile.readBytes("/proc/kallsyms").isEmpty) == false, "needs /proc/kallsyms"))
    func theRunningKernelsTableParsesTheSameBothWays() throws {
        let text = try SystemFile.readString("/proc/kallsyms")
        let wanted = Set(KprobeCatalog.targets.map(\.symbol) + KprobeSession.calibrationFunctions + ["vmemmap_base"])
        let parsed = KernelSymbols.parseKallsyms(text, wanted: wanted)
        #expect(parsed.definitions == Self.reference(text, wanted: wanted))
        #expect(!parsed.definitions.isEmpty)
    }
}
