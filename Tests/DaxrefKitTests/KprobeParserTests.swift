import Foundation
import Testing

@testable import DaxrefKit

/// Fixture text from Tests/DaxrefKitTests/Fixtures/kprobe (recorded in daxref guests; the kernel
/// release is in each file's first line).
func kprobeFixture(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/kprobe/\(name)")
    return try String(contentsOf: url, encoding: .utf8)
}

@Suite struct KprobeTraceParserTests {
    @Test func parsesEntryRecordWithFlagsAndFields() throws {
        let line = "          daxref-812     [001] d..1.    41.310247: putref: (__put_devmap_managed_page_refs+0x0/0x90) page=0xffffea0004000000 cnt=1025 refs=1024"
        guard case .record(let record) = try KprobeTraceParser.parseLine(Substring(line)) else {
            Issue.record("not a record")
            return
        }
        #expect(record.comm == "daxref")
        #expect(record.pid == 812)
        #expect(record.cpu == 1)
        #expect(record.timestampNanoseconds == 41_310_247_000)
        #expect(record.event == "putref")
        #expect(record.function == "__put_devmap_managed_page_refs")
        #expect(!record.isReturn)
        #expect(record["page"]?.unsigned == 0xffff_ea00_0400_0000)
        #expect(record["cnt"] == .integer(1025))
        #expect(record.fieldOrder == ["page", "cnt", "refs"])
    }

    @Test func parsesReturnProbeFaultAndModuleSite() throws {
        let line = "  kworker/u4:2-events-45  [000] .....  7.5: busy_ret: (ext4_break_layouts+0x4e/0x150 [ext4] <- dax_layout_busy_page_range) page=0x0 cnt=(fault)"
        guard case .record(let record) = try KprobeTraceParser.parseLine(Substring(line)) else {
            Issue.record("not a record")
            return
        }
        #expect(record.comm == "kworker/u4:2-events", "a comm may contain dashes; the pid is after the last one")
        #expect(record.pid == 45)
        #expect(record.function == "dax_layout_busy_page_range")
        #expect(record.returnSite == "ext4_break_layouts+0x4e/0x150 [ext4]")
        #expect(record["cnt"] == .fault)
        #expect(record["page"]?.unsigned == 0)
        #expect(record.timestampNanoseconds == 7_500_000_000)
    }

    @Test func acceptsTgidColumnAndMissingFlagsAndSpacesInComm() throws {
        let withTgid = "   my task-900   (    900) [003] d..1.   12.000001: e: (f+0x0/0x10) x=-3"
        guard case .record(let first) = try KprobeTraceParser.parseLine(Substring(withTgid)) else {
            Issue.record("tgid line not parsed")
            return
        }
        #expect(first.comm == "my task")
        #expect(first.pid == 900)
        #expect(first["x"] == .integer(-3))
        let noFlags = "<...>-7 [000] 3.141592: e: (f+0x0/0x10)"
        guard case .record(let second) = try KprobeTraceParser.parseLine(Substring(noFlags)) else {
            Issue.record("line without the flags column not parsed")
            return
        }
        #expect(second.comm == "<...>")
        #expect(second.fields.isEmpty)
    }

    @Test func stringFieldsKeepSpacesAndU64AboveInt64Max() throws {
        let line = "a-1 [000] ..... 1.0: e: (f+0x0/0x1) s=\"two words\" big=18446744073709551615"
        guard case .record(let record) = try KprobeTraceParser.parseLine(Substring(line)) else {
            Issue.record("not a record")
            return
        }
        #expect(record["s"] == .text("\"two words\""))
        #expect(record["big"]?.unsigned == UInt64.max)
    }

    @Test func headersLostEventsAndBlankLines() throws {
        #expect(try KprobeTraceParser.parseLine("# tracer: nop") == .ignored)
        #expect(try KprobeTraceParser.parseLine("##### CPU 2 buffer started ####") == .ignored)
        #expect(try KprobeTraceParser.parseLine("   ") == .ignored)
        #expect(try KprobeTraceParser.parseLine("CPU:1 [LOST 42 EVENTS]") == .lostEvents(cpu: 1, count: 42))
    }

    @Test(arguments: [
        "daxref-812     [001] d..1.    41.310247: putref: (__put_devmap_managed_page_refs+0x0/0x90) page=0xff",  // ok control
        "daxref-812     [001] d..1.    41.31",  // truncated in the timestamp
        "daxref-812     [001",  // truncated in the cpu column
        "daxref     [001] d..1. 41.3: e: (f+0x0/0x1)",  // no pid
        "daxref-1 [001] d..1. 41.x: e: (f+0x0/0x1)",  // bad timestamp
        "daxref-1 [001] d..1. 41.3: e: f+0x0/0x1",  // no site parentheses
        "daxref-1 [001] d..1. 41.3: e: (f+0x0/0x1) =5",  // field without a name
        "daxref-1 [001] d..1. 41.3: e: (f+0x0/0x1) a=1 a=2",  // duplicate field
        "daxref-1 [001] d..1. 41.3: e: ( <- ) a=1",  // empty function in a return site
        "CPU:x [LOST many EVENTS]",
        "\u{0}\u{1}garbage",
    ])
    func malformedLinesAreErrorsNotCrashes(_ line: String) {
        let trace = KprobeTraceParser.parse(line)
        if line.hasSuffix("page=0xff") {
            #expect(trace.records.count == 1 && trace.errors.isEmpty)
        } else {
            #expect(trace.records.isEmpty)
            #expect(trace.errors.count == 1)
            #expect(trace.errors.first?.lineNumber == 1)
        }
    }

    @Test func oneBadLineDoesNotLoseTheOthers() {
        let text = """
            a-1 [000] ..... 1.000001: e: (f+0x0/0x1) cnt=1
            a-1 [000] ..... 1.0000
            CPU:0 [LOST 3 EVENTS]
            a-1 [000] ..... 1.000003: e: (f+0x0/0x1) cnt=2
            """
        let trace = KprobeTraceParser.parse(text)
        #expect(trace.records.map { $0["cnt"] } == [.integer(1), .integer(2)])
        #expect(trace.errors.map(\.lineNumber) == [2])
        #expect(trace.lostEvents == 3)
    }

    @Test func timestampsKeepNanosecondPrecisionAndRejectJunk() {
        #expect(KprobeTraceParser.parseTimestamp("0.000000001") == 1)
        #expect(KprobeTraceParser.parseTimestamp("2.5") == 2_500_000_000)
        #expect(KprobeTraceParser.parseTimestamp("1.0000000001") == nil, "more than 9 fraction digits")
        #expect(KprobeTraceParser.parseTimestamp("1.") == nil)
        #expect(KprobeTraceParser.parseTimestamp("99999999999999999999.1") == nil)
        // Found while writing the fuzz target: the seconds fit in nanoseconds, the fraction on top did not.
        #expect(KprobeTraceParser.parseTimestamp("18446744073.709551615") == UInt64.max)
        #expect(KprobeTraceParser.parseTimestamp("18446744073.999999999") == nil)
    }

    @Test func lostEventCountsSaturateAndAreNeverNegative() {
        let trace = KprobeTraceParser.parse("CPU:0 [LOST 9223372036854775807 EVENTS]\nCPU:1 [LOST 9223372036854775807 EVENTS]\nCPU:1 [LOST -5 EVENTS]")
        #expect(trace.lostEvents == Int.max)
        #expect(trace.errors.map(\.lineNumber) == [3])
    }
}

@Suite struct KprobeTargetTests {
    @Test func definitionLinesForPageTailPfnMarkerAndModule() {
        let layout = PageLayout.assumed
        let grab = KprobeCatalog.targets.first { $0.symbol == "try_grab_folio" }!
        #expect(grab.definition(group: "daxref_7", module: nil, layout: layout)
            == "p:daxref_7/try_grab_folio try_grab_folio page=%di:x64 cnt=+52(%di):s32 ch=+8(%di):x64 p1ch=+72(%di):x64 hcnt=+51(+8(%di)):s32 refs=%si:s32 flags=%dx:x32")
        let busy = KprobeCatalog.targets.first { $0.symbol == "dax_layout_busy_page_range" }!
        #expect(busy.definition(group: "g", module: nil, layout: layout)
            == "r:g/dax_layout_busy_page_range_ret dax_layout_busy_page_range page=$retval:x64 cnt=+52($retval):s32 ch=+8($retval):x64 p1ch=+72($retval):x64")
        let insert = KprobeCatalog.targets.first { $0.symbol == "vmf_insert_mixed" }!
        #expect(insert.definition(group: "g", module: nil, layout: layout) == "p:g/vmf_insert_mixed vmf_insert_mixed pfn=%dx:x64")
        let wait = KprobeCatalog.targets.first { $0.symbol == "xfs_break_dax_layouts" && $0.kind == .return }!
        #expect(wait.definition(group: "g", module: "xfs", layout: layout)
            == "r:g/xfs_break_dax_layouts_ret xfs:xfs_break_dax_layouts rc=$retval:s32")
    }

    @Test func offsetsFollowTheLayout() {
        let layout = PageLayout(refcountOffset: 56, compoundHeadOffset: 8, pageSize: 80, source: "btf")
        let free = KprobeTarget("f", subject: .page("%si", mayBeTail: true), role: .release, note: "")
        #expect(free.fetchArguments(layout: layout)
            == ["page=%si:x64", "cnt=+56(%si):s32", "ch=+8(%si):x64", "p1ch=+88(%si):x64", "hcnt=+55(+8(%si)):s32"])
    }

    @Test func eventNamesAreUniqueIdentifiers() {
        let names = KprobeCatalog.targets.map(\.eventName)
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(name.count <= 64 && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        }
    }
}

@Suite struct KernelSymbolsTests {
    let kallsyms = """
        ffffffff81234560 T try_grab_folio
        ffffffff81234600 t gup_put_folio
        ffffffff81234700 t insert_pfn.constprop.0
        ffffffff81234800 t free_zone_device_folio
        ffffffff81234900 t free_zone_device_folio
        ffffffff82000000 D vmemmap_base
        ffffffffc0123000 t ext4_break_layouts\t[ext4]
        ffffffff81230000 T unrelated_function
        junk
        """

    @Test func keepsWantedNamesClonesAndModules() {
        let wanted: Set = ["try_grab_folio", "gup_put_folio", "insert_pfn", "free_zone_device_folio", "vmemmap_base", "ext4_break_layouts"]
        let symbols = KernelSymbols.parseKallsyms(kallsyms, wanted: wanted)
        #expect(symbols.definitions["unrelated_function"] == nil)
        #expect(symbols.textDefinitions(of: "ext4_break_layouts").first?.module == "ext4")
        #expect(symbols.hasData("vmemmap_base"))
        #expect(!symbols.hasData("try_grab_folio"))
        #expect(symbols.clones(of: "insert_pfn") == ["insert_pfn.constprop.0"])
    }

    @Test func planSelectsUniqueTextSymbolsAndExplainsTheRest() {
        let catalogue = KprobeCatalog.targets.filter {
            ["try_grab_folio", "insert_pfn", "free_zone_device_folio", "ext4_break_layouts", "try_grab_page"].contains($0.symbol)
        }
        let symbols = KernelSymbols.parseKallsyms(kallsyms, wanted: Set(catalogue.map(\.symbol)))
        let plan = KprobePlan.choose(from: catalogue, symbols: symbols)
        #expect(plan.selected.map(\.target.eventName) == ["try_grab_folio", "ext4_break_layouts", "ext4_break_layouts_ret"])
        #expect(plan.selected.last?.module == "ext4")
        let reasons = Dictionary(plan.skipped.map { ($0.symbol, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(reasons["insert_pfn"]?.contains("insert_pfn.constprop.0") == true)
        #expect(reasons["free_zone_device_folio"]?.contains("2 definitions") == true)
        #expect(reasons["try_grab_page"]?.contains("not in /proc/kallsyms") == true)
    }

    @Test func filterFunctionsFallback() {
        let symbols = KernelSymbols.parseFilterFunctions("try_grab_folio\next4_break_layouts [ext4]\nother\n", wanted: ["try_grab_folio", "ext4_break_layouts"])
        #expect(symbols.textDefinitions(of: "try_grab_folio").count == 1)
        #expect(symbols.textDefinitions(of: "ext4_break_layouts").first?.module == "ext4")
        #expect(symbols.source == "available_filter_functions")
    }
}

@Suite struct KprobeMatcherTests {
    static let base: UInt64 = 0xffff_d4c0_0000_0000
    let vmemmap = VmemmapBase(address: base, source: "@vmemmap_base")

    func pointer(_ pfn: UInt64) -> String { "0x" + String(Self.base + pfn * 64, radix: 16) }

    func matcher(_ pages: [KprobePage]) -> KprobeEventMatcher {
        let targets = Dictionary(uniqueKeysWithValues: KprobeCatalog.targets.map { ($0.eventName, $0) })
        return KprobeEventMatcher(pages: pages, vmemmap: vmemmap, layout: .assumed, targets: targets)
    }

    @Test func orderZeroPageMatchesOnlyItself() {
        let text = """
            daxref-5 [000] ..... 1.000001: gup_put_folio: (gup_put_folio+0x0/0x90) page=\(pointer(0x240001)) cnt=1025 ch=0xffff888003c00000 p1ch=0x0 refs=1 flags=0x40000
            daxref-5 [000] ..... 1.000002: gup_put_folio: (gup_put_folio+0x0/0x90) page=\(pointer(0x240002)) cnt=7 ch=0x0 p1ch=0x0 refs=1 flags=0x40000
            daxref-5 [000] ..... 1.000003: gup_put_folio: (gup_put_folio+0x0/0x90) page=0xffff888000000001 cnt=7 ch=0x0 p1ch=0x0 refs=1 flags=0x40000
            """
        let capture = matcher([KprobePage(pfn: 0x240001)]).match(KprobeTraceParser.parse(text), step: "pin")
        #expect(capture.events.count == 1)
        #expect(capture.events.first?.refcount == 1025)
        #expect(capture.events.first?.arguments == ["refs": 1, "flags": 0x40000])
        #expect(capture.events.first?.role == .gup)
        #expect(capture.unmatched == 2, "another page, and a pointer outside vmemmap")
    }

    @Test func tailPageReportsTheHeadCountAndSiblingsCountForTheFolio() {
        let head: UInt64 = 0x240000
        let tailWord = "0x" + String(Self.base + head * 64 + 1, radix: 16)
        let text = """
            daxref-5 [000] ..... 1.000001: try_grab_folio: (try_grab_folio+0x0/0x90) page=\(pointer(head + 3)) cnt=0 ch=\(tailWord) p1ch=\(tailWord) hcnt=2 refs=1 flags=0x2
            daxref-5 [000] ..... 1.000002: try_grab_folio: (try_grab_folio+0x0/0x90) page=\(pointer(head + 9)) cnt=0 ch=\(tailWord) p1ch=\(tailWord) hcnt=3 refs=1 flags=0x2
            daxref-5 [000] ..... 1.000003: gup_put_folio: (gup_put_folio+0x0/0x90) page=\(pointer(head)) cnt=4 ch=0xffff888003c00000 p1ch=\(tailWord) refs=1 flags=0x2
            """
        let page = KprobePage(pfn: head + 3, compoundOrder: 9)
        let events = matcher([page]).match(KprobeTraceParser.parse(text), step: "s").events
        #expect(events.map(\.refcount) == [2, 3, 4])
        #expect(events.map(\.pageRefcount) == [0, 0, 4])
        #expect(events.map(\.viaHead) == [true, true, true])
        #expect(events.map(\.eventPFN) == [head + 3, head + 9, head])
    }

    @Test func headOfAnOrderZeroNeighbourIsNotAttributed() {
        // fsdax order-0 pages: page[1].compound_head is the pgmap pointer, not page|1.
        let text = "a-1 [000] ..... 1.0: free_zone_device_folio: (free_zone_device_folio+0x0/0x60) page=\(pointer(0x240000)) cnt=0 ch=0xffff888003c00000 p1ch=0xffff888003c00000"
        let capture = matcher([KprobePage(pfn: 0x240005, compoundOrder: 9)]).match(KprobeTraceParser.parse(text), step: "s")
        #expect(capture.events.isEmpty)
        #expect(capture.unmatched == 1)
    }

    @Test func pfnEventsMaskPfnTFlagsAndHaveNoRefcount() {
        let text = """
            a-1 [000] ..... 1.0: vmf_insert_mixed: (vmf_insert_mixed+0x0/0x20) pfn=0x3000000000240001
            a-1 [000] ..... 1.1: vmf_insert_pfn_pmd: (vmf_insert_pfn_pmd+0x0/0x20) pfn=0x240000
            """
        let events = matcher([KprobePage(pfn: 0x240001, compoundOrder: 9)]).match(KprobeTraceParser.parse(text), step: "fault").events
        #expect(events.count == 2)
        #expect(events.allSatisfy { $0.refcount == nil && $0.role == .map })
        #expect(events.map(\.viaHead) == [false, true])
    }

    @Test func markersAndUnknownEvents() {
        let text = """
            truncate-9 [000] ..... 1.0: ext4_break_layouts_ret: (ext4_setattr+0x1/0x2 <- ext4_break_layouts) rc=0
            truncate-9 [000] ..... 1.0: somebody_elses: (f+0x0/0x1) x=1
            """
        let capture = matcher([]).match(KprobeTraceParser.parse(text), step: "truncate")
        #expect(capture.markers.count == 1)
        #expect(capture.markers.first?.arguments == ["rc": 0])
        #expect(capture.markers.first?.isReturn == true)
        #expect(capture.unmatched == 1)
    }

    @Test func kernelFilterCoversCompoundRangesMerged() {
        let pages = [KprobePage(pfn: 0x240003, compoundOrder: 9), KprobePage(pfn: 0x240100, compoundOrder: 9), KprobePage(pfn: 0x10)]
        let filter = matcher(pages).pageFilter()
        let start = String(Self.base + 0x240000 * 64, radix: 16), end = String(Self.base + 0x240200 * 64, radix: 16)
        let small = String(Self.base + 0x10 * 64, radix: 16), smallEnd = String(Self.base + 0x11 * 64, radix: 16)
        #expect(filter == "(page>=0x\(small)&&page<0x\(smallEnd))||(page>=0x\(start)&&page<0x\(end))")
        #expect(matcher([]).pageFilter() == nil)
    }

    @Test func manyRangesCollapseToOneBoundingRange() {
        let pages = (0..<20).map { KprobePage(pfn: UInt64($0) * 100) }
        let filter = matcher(pages).pageFilter(maxRanges: 8)
        #expect(filter?.components(separatedBy: "||").count == 1)
    }

    @Test func vmemmapPointerArithmetic() {
        #expect(vmemmap.pfn(ofPage: Self.base + 64 * 5, pageSize: 64) == 5)
        #expect(vmemmap.pfn(ofPage: Self.base + 65, pageSize: 64) == nil, "not the start of a struct page")
        #expect(vmemmap.pfn(ofPage: Self.base - 64, pageSize: 64) == nil)
        #expect(vmemmap.pagePointer(pfn: 5, pageSize: 64) == Self.base + 320)
    }

    @Test func observationsListTheFirstPagesHitsInTimeOrder() {
        let text = """
            a-1 [000] ..... 1.000002: gup_put_folio: (gup_put_folio+0x0/0x90) page=\(pointer(2)) cnt=1025 ch=0x0 p1ch=0x0 refs=1 flags=0x0
            a-1 [000] ..... 1.000001: try_grab_folio: (try_grab_folio+0x0/0x90) page=\(pointer(2)) cnt=1 ch=0x0 p1ch=0x0 hcnt=(fault) refs=1 flags=0x0
            a-1 [000] ..... 1.000003: vmf_insert_mixed: (vmf_insert_mixed+0x0/0x20) pfn=0x1
            """
        let pages = [KprobePage(pfn: 2), KprobePage(pfn: 1)]
        let capture = matcher(pages).match(KprobeTraceParser.parse(text), step: "x")
        let info = KprobeSessionInfo(
            group: "g", installed: ["p:g/x x"], failed: [], missing: [], filters: [:], vmemmap: vmemmap,
            layout: .assumed, layoutNote: "", staleRemoved: [], symbolSource: "/proc/kallsyms", leftover: [])
        let observed = KprobeObservations.make(pages: pages, captures: [capture], session: info, cleanup: nil)
        #expect(observed["kprobe.events"] == .integer(3))
        guard case .list(let calls)? = observed["kprobe.calls"] else {
            Issue.record("no kprobe.calls")
            return
        }
        #expect(calls.map(\.description).map { $0.split(separator: " ")[2] } == ["try_grab_folio", "gup_put_folio", "vmf_insert_mixed"], "sorted by time")
        #expect(observed["kprobe.page.pfn"] == .integer(2), "the first page given")
        #expect(observed["kprobe.probes_remaining"] == nil, "no cleanup report, no claim")
        #expect(observed["kprobe.available"] == .flag(true))
    }
}
