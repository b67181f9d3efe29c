import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

#if canImport(Glibc)
import Glibc
#endif

/// An in-memory tracefs with the semantics the session depends on: kprobe_events add/remove
/// commands (EEXIST, ENOENT, EBUSY while enabled), instances, per-instance enable and filter
/// files, and a consuming trace_pipe. Not thread-safe; tests use it from one thread.
final class FakeTracefs: TracefsAccess, @unchecked Sendable {
    var mountPoint: FilePath? { nil }
    /// "GROUP/EVENT" → definition line, in creation order.
    var probes: [(name: String, line: String)] = []
    var instances: Set<String> = []
    /// instance → enabled "GROUP/EVENT" names.
    var enabled: [String: Set<String>] = [:]
    var filters: [String: String] = [:]
    var pipes: [String: String] = [:]
    /// Symbols whose probe definition the "kernel" rejects, and with what.
    var rejectSymbols: [String: Errno] = [:]
    /// Paths whose writes fail.
    var failingWrites: [String: Errno] = [:]
    var commands: [String] = []
    /// The vmemmap_base value the calibration probe "reads".
    var vmemmapValue: UInt64? = 0xffff_d4c0_0000_0000

    /// What kprobe_profile prints, per event name: "  NAME  HITS  MISSED".
    var profile: [String: (Int, Int)] = [:]

    func read(_ path: String) throws(Errno) -> String {
        if path == "kprobe_profile" {
            return profile.map { "  \($0.key)    \($0.value.0)    \($0.value.1)\n" }.joined()
        }
        guard path == "kprobe_events" else { throw .noSuchFileOrDirectory }
        return probes.map { $0.line + "\n" }.joined()
    }

    func drain(_ path: String) throws(Errno) -> String {
        let instance = path.split(separator: "/").dropFirst().first.map(String.init) ?? ""
        guard path.hasSuffix("/trace_pipe"), instances.contains(instance) else { throw .noSuchFileOrDirectory }
        defer { pipes[instance] = "" }
        return pipes[instance] ?? ""
    }

    func write(_ path: String, _ text: String, mode: TracefsWriteMode) throws(Errno) {
        if let errno = failingWrites[path] { throw errno }
        if path == "kprobe_events" {
            guard mode == .append else {
                probes.removeAll()  // what O_TRUNC does to the real file
                return
            }
            try command(text.trimmingCharacters(in: .newlines))
            return
        }
        let parts = path.split(separator: "/").map(String.init)
        // instances/I/events/[G/[E/]]enable|filter, or events/G/enable at the top level
        if parts.count >= 4, parts[0] == "instances", parts[2] == "events" {
            let instance = parts[1]
            guard instances.contains(instance) else { throw .noSuchFileOrDirectory }
            let selector = parts[3..<(parts.count - 1)].joined(separator: "/")
            let matching = probes.map(\.name).filter { selector.isEmpty || $0 == selector || $0.hasPrefix(selector + "/") }
            guard !matching.isEmpty || selector.isEmpty else { throw .noSuchFileOrDirectory }
            switch parts.last {
            case "enable":
                for name in matching {
                    if text == "1" {
                        enabled[instance, default: []].insert(name)
                        if name.hasSuffix("/vmemmap_base"), let vmemmapValue {
                            pipes[instance, default: ""] += "daxref-1 [000] d..1. 1.000000: vmemmap_base: (__x64_sys_getppid+0x0/0x30) vmb=0x\(String(vmemmapValue, radix: 16))\n"
                        }
                    } else {
                        enabled[instance]?.remove(name)
                    }
                }
            case "filter":
                filters[selector] = text
            default:
                throw .noSuchFileOrDirectory
            }
            return
        }
        if parts.count == 3, parts[0] == "events", parts[2] == "enable" { return }
        throw .noSuchFileOrDirectory
    }

    private func command(_ text: String) throws(Errno) {
        commands.append(text)
        if text.hasPrefix("-:") {
            let name = String(text.dropFirst(2))
            guard let index = probes.firstIndex(where: { $0.name == name }) else { throw .noSuchFileOrDirectory }
            if enabled.values.contains(where: { $0.contains(name) }) { throw .resourceBusy }
            probes.remove(at: index)
            return
        }
        let words = text.split(separator: " ")
        guard words.count >= 2, let colon = words[0].firstIndex(of: ":") else { throw .invalidArgument }
        let name = String(words[0][words[0].index(after: colon)...])
        let symbol = String(words[1].split(separator: ":").last!)
        if let errno = rejectSymbols[symbol] { throw errno }
        if probes.contains(where: { $0.name == name }) { throw .fileExists }
        probes.append((name, text))
    }

    func makeDirectory(_ path: String) throws(Errno) {
        let name = String(path.dropFirst("instances/".count))
        guard path.hasPrefix("instances/"), !instances.contains(name) else { throw .fileExists }
        instances.insert(name)
    }

    func removeDirectory(_ path: String) throws(Errno) {
        let name = String(path.dropFirst("instances/".count))
        guard instances.remove(name) != nil else { throw .noSuchFileOrDirectory }
        enabled[name] = nil  // removing an instance disables its events
    }

    func exists(_ path: String) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        if parts.count == 4, parts[0] == "instances", parts[2] == "events" {
            return instances.contains(parts[1]) && probes.contains { $0.name.hasPrefix(parts[3] + "/") }
        }
        return false
    }

    func listDirectory(_ path: String) throws(Errno) -> [String] {
        guard path == "instances" else { throw .noSuchFileOrDirectory }
        return instances.sorted()
    }

    func hit(_ instance: String, _ line: String) { pipes[instance, default: ""] += line + "\n" }
}

@Suite(.serialized) struct KprobeSessionTests {
    static let kallsyms = """
        ffffffff81000000 T __x64_sys_getppid
        ffffffff82000000 D vmemmap_base
        ffffffff81234560 T try_grab_folio
        ffffffff81234600 t gup_put_folio
        ffffffff81234800 T free_zone_device_folio
        ffffffff81234900 T vmf_insert_page_mkwrite
        ffffffffc0123000 t ext4_break_layouts\t[ext4]
        """
    let symbols = KernelSymbols.parseKallsyms(kallsyms, wanted: Set(KprobeCatalog.targets.map(\.symbol) + ["vmemmap_base", "__x64_sys_getppid"]))
    let page = KprobePage(pfn: 0x240000, compoundOrder: 0, label: "dax0.0+0")

    func start(_ fake: FakeTracefs, pid: Int32 = 4242, pages: [KprobePage]? = nil) throws -> KprobeSession {
        try KprobeSession.start(
            pages: pages ?? [page], tracefs: fake, symbols: symbols, layout: (.assumed, "test"), processID: pid,
            isAlive: { _ in true })
    }

    @Test func installsFiltersEnablesCollectsAndRemovesEverything() throws {
        let fake = FakeTracefs()
        var session = try start(fake)
        #expect(session.group == "daxref_4242")
        #expect(fake.instances == ["daxref_4242"], "a private ring buffer")
        #expect(session.info.vmemmap == VmemmapBase(address: 0xffff_d4c0_0000_0000, source: "@vmemmap_base"))
        #expect(!fake.probes.contains { $0.name.hasSuffix("/vmemmap_base") }, "the calibration probe is gone")
        let installed = Set(fake.probes.map(\.name))
        #expect(installed == [
            "daxref_4242/try_grab_folio", "daxref_4242/gup_put_folio", "daxref_4242/free_zone_device_folio",
            "daxref_4242/vmf_insert_page_mkwrite", "daxref_4242/ext4_break_layouts", "daxref_4242/ext4_break_layouts_ret",
            "daxref_4242/sample",
        ])
        // The sampler reads the page's words by absolute address, from the session's thread only.
        let sampleLine = try #require(fake.probes.first { $0.name == "daxref_4242/sample" }?.line)
        #expect(sampleLine.hasPrefix("p:daxref_4242/sample __x64_sys_getppid cnt0=@0x\(String(0xffff_d4c0_0000_0000 + UInt64(0x240000 * 64) + 52, radix: 16)):s32"))
        #expect(fake.filters["daxref_4242/sample"] == "common_pid == 4242")
        #expect(session.sampler != nil)
        #expect(fake.probes.first { $0.name.hasSuffix("ext4_break_layouts") }?.line.contains(" ext4:ext4_break_layouts") == true)
        #expect(fake.enabled["daxref_4242"] == installed)
        let pointer = 0xffff_d4c0_0000_0000 + UInt64(0x240000 * 64)
        #expect(fake.filters["daxref_4242/gup_put_folio"]
            == "(page>=0x\(String(pointer, radix: 16))&&page<0x\(String(pointer + 64, radix: 16)))")
        #expect(fake.filters["daxref_4242/ext4_break_layouts"] == nil, "markers have no page to filter on")
        #expect(session.info.missing.contains { $0.symbol == "__put_devmap_managed_page_refs" })

        fake.hit("daxref_4242", "daxref-1 [000] d..1. 2.000000: gup_put_folio: (gup_put_folio+0x0/0x90) page=0x\(String(pointer, radix: 16)) cnt=1025 ch=0x0 p1ch=0x0 refs=1 flags=0x0")
        let capture = try session.collect(step: "pin")
        #expect(capture.events.map(\.refcount) == [1025])
        #expect(try session.collect(step: "again").events.isEmpty, "trace_pipe consumed what was read")

        fake.profile = ["gup_put_folio": (3, 1), "not_ours": (9, 9)]
        let (report, info) = session.closeReturningInfo()
        #expect(info.profile == ["gup_put_folio": KprobeHitCount(hits: 3, missed: 1)], "only the session's events")
        #expect(report.clean && report.failures.isEmpty)
        #expect(info.leftover == [])
        #expect(fake.probes.isEmpty)
        #expect(fake.instances.isEmpty)
        #expect(fake.commands.allSatisfy { !$0.isEmpty })
    }

    @Test func bioTargetIsInstalledOnlyWithTheBioLayout() throws {
        let kallsyms = Self.kallsyms + "\nffffffff81300000 T __bio_release_pages"
        let symbols = KernelSymbols.parseKallsyms(kallsyms, wanted: ["__bio_release_pages", "vmemmap_base", "__x64_sys_getppid"])
        let without = FakeTracefs()
        let first = try KprobeSession.start(
            pages: [page], tracefs: without, symbols: symbols, layout: (.assumed, "no BTF"), processID: 1, isAlive: { _ in true })
        #expect(without.probes.map(\.name) == ["daxref_1/sample"])
        #expect(first.info.missing.contains { $0.symbol == "__bio_release_pages" && $0.reason.contains("no BTF") })
        _ = first.close()

        var layout = PageLayout.assumed
        layout.bioIoVecOffset = 32
        layout.bioVecPageOffset = 0
        let with = FakeTracefs()
        let second = try KprobeSession.start(
            pages: [page], tracefs: with, symbols: symbols, layout: (layout, "btf"), processID: 1, isAlive: { _ in true })
        #expect(with.probes.map(\.name) == ["daxref_1/__bio_release_pages", "daxref_1/sample"])
        #expect(with.filters["daxref_1/__bio_release_pages"] != nil, "filtered on the resolved page like any page subject")
        #expect(second.targets["__bio_release_pages"]?.subject == .page("+0(+32(%di))", mayBeTail: true))
        _ = second.close()
    }

    @Test func aRejectedProbeIsRecordedAndTheRestInstalled() throws {
        let fake = FakeTracefs()
        fake.rejectSymbols["gup_put_folio"] = .invalidArgument
        let session = try start(fake)
        #expect(session.info.failed.count == 1)
        #expect(session.info.failed.first?.contains("gup_put_folio") == true)
        #expect(fake.probes.count == 6, "five catalogue probes and the sampler")
        _ = session.close()
        #expect(fake.probes.isEmpty)
    }

    @Test func vmemmapFallsBackWhenTheFetchargIsRejectedOrImplausible() throws {
        let rejecting = FakeTracefs()
        rejecting.rejectSymbols["__x64_sys_getppid"] = .invalidArgument
        let first = try start(rejecting)
        #expect(first.info.vmemmap.address == VmemmapBase.unrandomised)
        #expect(first.info.vmemmap.source.contains("rejected"))
        _ = first.close()

        let odd = FakeTracefs()
        odd.vmemmapValue = 0x1234
        let second = try start(odd)
        #expect(second.info.vmemmap.source.contains("not a vmemmap base"))
        _ = second.close()
        #expect(odd.probes.isEmpty && rejecting.probes.isEmpty)
    }

    @Test func aFailureDuringStartLeavesNothingBehind() {
        let fake = FakeTracefs()
        fake.failingWrites["instances/daxref_4242/events/daxref_4242/enable"] = .permissionDenied
        #expect(throws: KprobeSessionError.self) { _ = try start(fake) }
        #expect(fake.probes.isEmpty, "deinit removed the probes installed before the failure")
        #expect(fake.instances.isEmpty)
    }

    @Test func droppingAnOpenSessionCleansUp() throws {
        let fake = FakeTracefs()
        do {
            let session = try start(fake)
            #expect(!fake.probes.isEmpty)
            _ = session.group  // goes out of scope without close()
        }
        #expect(fake.probes.isEmpty)
        #expect(fake.instances.isEmpty)
    }

    @Test func removalFailuresAreReportedAsLeftovers() throws {
        let fake = FakeTracefs()
        let session = try start(fake)
        fake.failingWrites["kprobe_events"] = .resourceBusy
        let report = session.close()
        #expect(!report.clean)
        #expect(report.leftover.count == 7)
        #expect(report.failures.count == 7)
        fake.failingWrites = [:]
        fake.probes.removeAll()
    }

    @Test func withoutSamplingThereIsNoSampler() throws {
        let fake = FakeTracefs()
        let session = try KprobeSession.start(
            pages: [page], sampling: false, tracefs: fake, symbols: symbols, layout: (.assumed, "test"), processID: 7,
            isAlive: { _ in true })
        #expect(!fake.probes.contains { $0.name.hasSuffix("/sample") })
        #expect(session.sampler == nil)
        session.sample()  // does nothing without the probe
        _ = session.close()
        #expect(fake.probes.isEmpty)
    }

    @Test func sweepRemovesOnlyDeadDaxrefGroups() {
        let fake = FakeTracefs()
        fake.probes = [
            ("daxref_111/try_grab_folio", "p:daxref_111/try_grab_folio try_grab_folio page=%di:x64"),
            ("daxref_111/x_ret", "r16:daxref_111/x_ret x"),
            ("daxref_222/try_grab_folio", "p:daxref_222/try_grab_folio try_grab_folio"),
            ("daxref_4242/mine", "p:daxref_4242/mine mine"),
            ("other/try_grab_folio", "p:other/try_grab_folio try_grab_folio"),
            ("daxref_x/y", "p:daxref_x/y y"),
        ]
        fake.instances = ["daxref_111", "daxref_222", "someone"]
        fake.enabled["daxref_111"] = ["daxref_111/try_grab_folio"]
        let removed = KprobeSession.sweepStale(tracefs: fake, ownProcessID: 4242, isAlive: { $0 == 222 })
        #expect(removed == ["instance daxref_111", "group daxref_111 (2 of 2 probes removed)"])
        #expect(fake.probes.map(\.name) == ["daxref_222/try_grab_folio", "daxref_4242/mine", "other/try_grab_folio", "daxref_x/y"])
        #expect(fake.instances == ["daxref_222", "someone"])
    }

    @Test func driveSweepsWhatAKilledKprobeHelperLeft() {
        let fake = FakeTracefs()
        fake.probes = [("daxref_111/try_grab_folio", "p:daxref_111/try_grab_folio try_grab_folio"), ("daxref_111/sample", "p:daxref_111/sample __x64_sys_getppid")]
        fake.instances = ["daxref_111"]
        let killed = HelperProcess.Outcome(stdout: "", stderr: "", exit: .signaled(9), timedOut: true, samples: [], elapsedMilliseconds: 1)
        var result = StepResult(id: "devdax.2m.refcount-timeline", backing: "devdax.2m", workload: .refcountTimeline, status: .timedOut)
        Drive.sweepProbes(after: killed, into: &result, tracefs: fake, isAlive: { _ in false })
        #expect(result.observations["kprobe.swept"] == .list([.text("instance daxref_111"), .text("group daxref_111 (2 of 2 probes removed)")]))
        #expect(result.observations["kprobe.probes_remaining"] == .integer(0))
        #expect(fake.probes.isEmpty && fake.instances.isEmpty)

        // Other workloads, and helpers that delivered (they closed their own session), are left alone.
        fake.probes = [("daxref_222/x", "p:daxref_222/x x")]
        var other = StepResult(id: "devdax.2m.vmsplice", backing: "devdax.2m", workload: .vmsplice, status: .timedOut)
        Drive.sweepProbes(after: killed, into: &other, tracefs: fake, isAlive: { _ in false })
        #expect(other.observations["kprobe.swept"] == nil && fake.probes.count == 1)
    }

    @Test func definitionGroupAndEventParsing() {
        #expect(KprobeSession.group(ofDefinition: "r16:daxref_9/busy_ret dax_layout_busy_page_range") == "daxref_9")
        #expect(KprobeSession.event(ofDefinition: "r16:daxref_9/busy_ret dax_layout_busy_page_range") == "busy_ret")
        #expect(KprobeSession.group(ofDefinition: "garbage") == nil)
    }
}

@Suite(.serialized) struct KprobeSignalCleanupTests {
    @Test func emergencyCleanupWritesRemovalsAndDisarmRestoresHandlers() throws {
        let directory = FilePath(NSTemporaryDirectory()).appending("daxref-kprobe-\(getpid())")
        let root = directory.string
        try FileManager.default.createDirectory(atPath: root + "/instances/daxref_1/events", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root + "/kprobe_events", contents: Data())
        _ = FileManager.default.createFile(atPath: root + "/instances/daxref_1/events/enable", contents: Data("1".utf8))

        var before = sigaction()
        sigaction(SIGTERM, nil, &before)
        KprobeSignalCleanup.arm(mountPoint: directory, instance: "daxref_1", group: "daxref_1", eventNames: ["a", "b_ret"])
        #expect(KprobeSignalCleanup.isArmed)
        var during = sigaction()
        sigaction(SIGTERM, nil, &during)
        #expect(handlerAddress(during) != handlerAddress(before), "SIGTERM is caught while armed")

        KprobeSignalCleanup.runForTesting()
        #expect(!KprobeSignalCleanup.isArmed, "runs once")
        #expect(try String(contentsOfFile: root + "/kprobe_events", encoding: .utf8) == "-:daxref_1/a\n-:daxref_1/b_ret\n")
        #expect(try String(contentsOfFile: root + "/instances/daxref_1/events/enable", encoding: .utf8) == "0")

        KprobeSignalCleanup.disarm()
        var after = sigaction()
        sigaction(SIGTERM, nil, &after)
        #expect(handlerAddress(after) == handlerAddress(before), "the previous disposition is back")
    }

    private func handlerAddress(_ action: sigaction) -> Int {
        unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
    }
}
