import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import DaxrefKit

/// The pure parts of `daxref bench`: statistics, fio's JSON, the reference program's lines, case
/// status and ratios, the table and the SVG. No timing is asserted anywhere: speed is what the
/// benchmark measures, in one run, as ratios.
struct BenchStatisticsTests {
    @Test func summaryOfAnOddCountTakesTheMiddleValue() throws {
        let summary = try #require(SampleSummary([5, 1, 3]))
        #expect(summary == SampleSummary(count: 3, min: 1, median: 3, max: 5))
    }

    @Test func summaryOfAnEvenCountAveragesTheTwoMiddleValues() throws {
        let summary = try #require(SampleSummary([4, 10, 1, 2]))
        #expect(summary.median == 3)
        #expect(summary.min == 1 && summary.max == 10 && summary.count == 4)
    }

    @Test func noSamplesIsNoSummaryNotZero() {
        #expect(SampleSummary([]) == nil)
        #expect(BenchSide(label: "x", samples: []).summary == nil)
    }

    @Test func byteCountsTakeBinarySuffixes() {
        #expect(ByteCount.parse("4096") == 4096)
        #expect(ByteCount.parse("64K") == 64 << 10)
        #expect(ByteCount.parse("128M") == 128 << 20)
        #expect(ByteCount.parse("1g") == 1 << 30)
        for bad in ["", "0", "-1M", "1T", "M", "1.5G", "99999999999999999999G"] {
            #expect(ByteCount.parse(bad) == nil, "\(bad)")
        }
    }
}

extension SampleSummary {
    init(count: Int, min: Double, median: Double, max: Double) {
        self = SampleSummary([min])!
        self.count = count
        self.min = min
        self.median = median
        self.max = max
    }
}

struct FioTests {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/bench")

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func parsesAReadPass() throws {
        let result = try Fio.parse(try Self.fixture("fio-3.33-read.json"), direction: .read)
        #expect(result.version == "fio-3.33")
        #expect(result.error == 0)
        #expect(result.ioBytes == 16 << 20)
        #expect(result.runtimeMilliseconds == 19)
        #expect(result.bandwidth == 883_011_368)
    }

    @Test func parsesAWritePassFromTheWriteSection() throws {
        let output = try Self.fixture("fio-3.33-write.json")
        let result = try Fio.parse(output, direction: .write)
        #expect(result.ioBytes == 16 << 20)
        #expect(result.bandwidth > 0)
        // The read section of a write job is empty: asking for it is an error, not a zero.
        #expect(throws: Fio.ParseError.self) { try Fio.parse(output, direction: .read) }
    }

    @Test func aFailedJobIsAnErrorEvenWithWarningLinesBeforeTheJSON() throws {
        let output = try Self.fixture("fio-3.33-mmap-error.out")
        #expect(output.hasPrefix("fio: pid="))
        #expect(throws: Fio.ParseError.jobFailed(error: 2)) { try Fio.parse(output, direction: .read) }
    }

    @Test func outputWithoutJSONIsReported() {
        #expect(throws: Fio.ParseError.noJSON) { try Fio.parse("fio: option bs: invalid\n", direction: .read) }
        #expect(throws: Fio.ParseError.self) { try Fio.parse("{\n\"jobs\": 3\n}\n", direction: .read) }
    }

    @Test func commandLinePutsTheBufferInTheMemoryUnderTest() {
        var job = Fio.Job(target: "/dev/vdb", direction: .write, blockSize: 1 << 20, totalBytes: 128 << 20, memory: .deviceDax(path: "/dev/dax0.1", align: 2 << 20))
        let devdax = job.arguments
        #expect(devdax.first == "fio")
        #expect(devdax.contains("--mem=mmaphuge:/dev/dax0.1") && devdax.contains("--hugepage-size=2097152"))
        for expected in ["--filename=/dev/vdb", "--rw=write", "--bs=1048576", "--size=134217728", "--direct=1", "--ioengine=psync", "--iodepth=1", "--invalidate=0", "--gtod_reduce=1", "--scramble_buffers=0", "--output-format=json"] {
            #expect(devdax.contains(expected), "\(expected)")
        }
        job.memory = .daxFile(path: "/mnt/daxref/xfs/buf")
        #expect(job.arguments.contains("--mem=mmapshared:/mnt/daxref/xfs/buf"))
        #expect(!job.arguments.contains { $0.hasPrefix("--hugepage-size") })
        job.memory = .anonymous
        #expect(job.arguments.contains("--mem=malloc"))
    }

    /// What fio 3.33 passed to mmap (strace) for a 1 MiB block with --mem=mmaphuge and
    /// --hugepage-size 4k, 2m, 1g: 1 MiB + 8 KiB, 4 MiB, 2 GiB.
    @Test func mappingLengthMatchesWhatFioMaps() {
        #expect(Fio.Job.mappingLength(blockSize: 1 << 20, align: 4096, pageSize: 4096) == (1 << 20) + 8192)
        #expect(Fio.Job.mappingLength(blockSize: 1 << 20, align: 2 << 20, pageSize: 4096) == 4 << 20)
        #expect(Fio.Job.mappingLength(blockSize: 1 << 20, align: 1 << 30, pageSize: 4096) == 2 << 30)
    }
}

struct ReferenceProgramTests {
    @Test func parsesPinLines() throws {
        #expect(try ReferenceProgram.parsePin("pin 0.003030136 ok\n") == .init(seconds: 0.003030136, outcome: "ok"))
        #expect(try ReferenceProgram.parsePin("noise\npin 0.5 EOPNOTSUPP\n").outcome == "EOPNOTSUPP")
        #expect(throws: ReferenceProgram.ParseError.missing("pin")) { try ReferenceProgram.parsePin("snapshot 1 2 3 4\n") }
        #expect(throws: ReferenceProgram.ParseError.self) { try ReferenceProgram.parsePin("pin fast ok\n") }
        #expect(throws: ReferenceProgram.ParseError.self) { try ReferenceProgram.parsePin("pin -1 ok\n") }
    }

    @Test func parsesSnapshotLines() throws {
        let line = try ReferenceProgram.parseSnapshot("snapshot 0.000355439 262144 1048576 61 0.000200000\n")
        #expect(line == .init(seconds: 0.000355439, presentPages: 262144, rssKilobytes: 1_048_576, vmas: 61, pagemapSeconds: 0.0002))
        #expect(throws: ReferenceProgram.ParseError.self) { try ReferenceProgram.parseSnapshot("snapshot 0.1 2 3 4\n") }
        // The pagemap part cannot exceed the whole.
        #expect(throws: ReferenceProgram.ParseError.self) { try ReferenceProgram.parseSnapshot("snapshot 0.1 2 3 4 0.2\n") }
    }

    @Test func argumentsNameTheSameMemoryAndTheSwiftProcess() {
        #expect(ReferenceProgram.pinArguments(program: "/x/ref", device: "/dev/dax0.0", length: 1 << 30, align: 1 << 30)
            == ["/x/ref", "pin", "/dev/dax0.0", "1073741824", "1073741824"])
        #expect(ReferenceProgram.pinArguments(program: "/x/ref", device: nil, length: 4096, align: 4096)[2] == "anonymous")
        #expect(ReferenceProgram.snapshotArguments(program: "/x/ref", pid: 42, start: 0x7f00_0000_0000, length: 8192)
            == ["/x/ref", "snapshot", "42", String(0x7f00_0000_0000), "8192"])
    }
}

struct BenchCaseTests {
    static func measured(_ id: String, metric: BenchCase.Metric, ours: [Double], peer: [Double], goal: BenchGoal?) -> BenchCase {
        BenchCase(
            id: id, group: metric == .bandwidth ? .copy : .pin, title: "t", metric: metric, bytes: 1 << 20,
            ours: BenchSide(label: "daxref", samples: ours), peer: BenchSide(label: "peer", samples: peer), goal: goal)
    }

    @Test func ratioIsOfMediansAndTheGoalDirectionMatters() throws {
        let copy = Self.measured("copy", metric: .bandwidth, ours: [80, 90, 200], peer: [100, 100, 1], goal: BenchGoals.copy)
        #expect(copy.ratio == 0.9)
        #expect(copy.goalMet == true)
        let pin = Self.measured("pin", metric: .duration, ours: [1.2], peer: [1.0], goal: BenchGoals.reference)
        #expect(abs(try #require(pin.ratio) - 1.2) < 1e-12)
        #expect(pin.goalMet == false)
        let noGoal = Self.measured("fault", metric: .duration, ours: [1], peer: [2], goal: nil)
        #expect(noGoal.ratio == 0.5 && noGoal.goalMet == nil)
        let nearMiss = Self.measured("copy", metric: .bandwidth, ours: [0.8985], peer: [1], goal: BenchGoals.copy)
        #expect(nearMiss.goalMet == false && nearMiss.displayRatio == "0.899×")
        #expect(copy.displayRatio == "0.90×" && pin.displayRatio == "1.20×")
        let onlyOurs = BenchCase(id: "x", group: .vmPhase, title: "t", metric: .duration, ours: BenchSide(label: "a", samples: [1]))
        #expect(onlyOurs.ratio == nil && onlyOurs.goalMet == nil)
    }

    @Test func jsonCarriesTheDerivedRatioAndRoundTrips() throws {
        let report = BenchReportFixture.report()
        let json = try report.jsonString()
        #expect(json.contains("\"schemaVersion\" : 1"))
        #expect(json.contains("\"goal_met\" : true") && json.contains("\"goal_met\" : false"))
        #expect(json.contains("\"ratio\" : 0.9"))
        let decoded = try JSONDecoder().decode(BenchReport.self, from: Data(json.utf8))
        #expect(decoded.cases == report.cases)
        #expect(decoded.environment.machine == report.environment.machine)
    }

    @Test func settleNeedsBothSidesAndTreatsTheLimitAsExtra() {
        var template = BenchCase(id: "direct.devdax.2m.read", group: .direct, title: "t", metric: .bandwidth, goal: BenchGoals.direct)
        template.ours = BenchSide(label: "ours", samples: [])
        template.peer = BenchSide(label: "fio", samples: [])
        template.limit = BenchSide(label: "fio anon", samples: [])
        var result = BenchProbeResult()
        result.series = ["o": [1, 2], "p": [2, 2]]
        result.failures = ["l": "fio: exited 1"]
        let settled = GuestBench.settle(template, result: result, ours: "o", peer: "p", limit: "l", notes: ["n"])
        #expect(settled.status == .measured)
        #expect(settled.ratio == 0.75)
        #expect(settled.notes == ["n", "limit not measured: fio: exited 1"])

        result.failures["p"] = "fio: killed by signal 9"
        let peerFailed = GuestBench.settle(template, result: result, ours: "o", peer: "p", limit: "l", notes: [])
        #expect(peerFailed.status == .error)
        #expect(peerFailed.reason == "peer: fio: killed by signal 9")

        let crashed = GuestBench.settle(template, result: BenchProbeResult(error: "killed by signal 7"), ours: "o", peer: "p", notes: [])
        #expect(crashed.status == .error && crashed.reason == "killed by signal 7")

        let empty = GuestBench.settle(template, result: BenchProbeResult(), ours: "o", peer: "p", notes: [])
        #expect(empty.status == .error && empty.reason == "daxref: no samples")
    }

    @Test func aPinRefusedOnBothSidesIsACaseARefusalOnOneSideIsNot() {
        var both = Self.measured("pin.devdax.1g", metric: .duration, ours: [0.01], peer: [0.01], goal: BenchGoals.reference)
        both.ours?.outcome = "EOPNOTSUPP"
        both.peer?.outcome = "EOPNOTSUPP"
        GuestBench.checkRefusals(&both)
        #expect(both.status == .measured)
        #expect(both.notes.first?.contains("both sides were refused with EOPNOTSUPP") == true)

        var split = both
        split.notes = []
        split.peer?.outcome = "ok"
        GuestBench.checkRefusals(&split)
        #expect(split.status == .error)
        #expect(split.reason == "the sides got different answers: daxref EOPNOTSUPP, C ok")
    }

    @Test func coveredBackingsAreTheExpectedOnesThenExtras() {
        let bench = GuestBench(
            settings: .quick, executable: "/x", referenceProgram: nil, fio: nil,
            backings: [.deviceDax(path: "/dev/dax0.0", align: .align1g), .deviceDax(path: "/dev/dax0.1", align: .align2m), .anonymous],
            blockTarget: nil)
        #expect(bench.coveredBackings.map(\.id) == ["devdax.4k", "devdax.2m", "fsdax.ext4", "fsdax.xfs", "devdax.1g"])
        #expect(bench.coveredBackings.map { $0.backing != nil } == [false, true, false, false, true])
    }

    @Test func unprovisionedBackingsGiveUnavailableCasesWithTheReason() {
        let bench = GuestBench(settings: .quick, executable: "/x", referenceProgram: nil, fio: nil, backings: [], blockTarget: nil)
        let copies = bench.copyCases(id: "devdax.4k", backing: nil, groups: [.copy, .faultIn])
        #expect(copies.map(\.id) == ["copy.devdax.4k.into", "copy.devdax.4k.out", "fault-in.devdax.4k"])
        #expect(copies.allSatisfy { $0.status == .unavailable && $0.reason?.contains("not provisioned") == true })
        let direct = bench.directCase(id: "devdax.2m", backing: .deviceDax(path: "/dev/dax0.1", align: .align2m), direction: .read)
        #expect(direct.status == .unavailable)
        #expect(direct.reason?.contains("no non-DAX block target") == true)
    }
}

struct MachineFingerprintTests {
    @Test func tellsTCGFromKVMFromBareMetal() {
        #expect(MachineFingerprint.classify(cpuFlags: ["hypervisor"], dmiVendor: "QEMU", clocksources: ["tsc", "hpet"]).0 == "qemu-tcg")
        #expect(MachineFingerprint.classify(cpuFlags: ["hypervisor"], dmiVendor: "QEMU", clocksources: ["kvm-clock", "tsc"]).0 == "qemu-kvm")
        #expect(MachineFingerprint.classify(cpuFlags: ["hypervisor"], dmiVendor: nil, clocksources: ["tsc", "kvm-clock"]).0 == "kvm")
        #expect(MachineFingerprint.classify(cpuFlags: ["hypervisor"], dmiVendor: "VMware, Inc.", clocksources: ["tsc"]).0 == "virtual (VMware, Inc.)")
        let (bare, evidence) = MachineFingerprint.classify(cpuFlags: ["fpu", "sse2"], dmiVendor: "Dell Inc.", clocksources: ["tsc", "hpet"])
        #expect(bare == "bare-metal")
        #expect(evidence.contains("cpuinfo: no hypervisor flag"))
    }

    @Test func readsCpuinfoFields() {
        let text = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu hypervisor\n\nprocessor\t: 1\nmodel name\t: other\n"
        #expect(MachineFingerprint.cpuinfoValue("model name", in: text) == "Intel(R) Xeon(R) Processor")
        #expect(MachineFingerprint.cpuinfoValue("flags", in: text) == "fpu hypervisor")
        #expect(MachineFingerprint.cpuinfoValue("bogomips", in: text) == nil)
    }

    @Test func parsesDaxrefVMSummaryLines() throws {
        let stderr = """
            daxref vm: guest kernel: something
            daxref-vm: kernel=6.1 exit=83 error=timeout
            daxref-vm: kernel=6.1 release=6.1.0-50-amd64 accel=tcg exit=4 boot=12.3 provisioned=14.0 command-start=14.5 total=20.1
            """
        let summary = try #require(VMSummary.parse(stderr: stderr))
        #expect(summary.exitCode == 4)
        #expect(summary.release == "6.1.0-50-amd64" && summary.accel == "tcg")
        #expect(summary.timings == ["boot": 12.3, "provisioned": 14.0, "command-start": 14.5, "total": 20.1])
        #expect(VMSummary.parse(stderr: "daxref vm: 6.1: setup failed\n") == nil)
        #expect(VMSummary.parse(stderr: "daxref-vm: kernel=6.1 exit=80 error=setup")?.timings == [:])
    }
}

struct BenchRenderingTests {
    @Test func tableShowsMediansRatiosGoalsAndReasons() {
        let table = BenchReportFixture.report().renderTable()
        #expect(table.contains("copy.devdax.2m.into"))
        #expect(table.contains("0.90×") && table.contains("≥ 0.90×") && table.contains("met"))
        #expect(table.contains("NOT MET"))
        #expect(table.contains("12.0 ms (11.0–13.0)"))
        #expect(table.contains("[EOPNOTSUPP]"))
        #expect(table.contains("direct.fsdax.xfs.read, direct.fsdax.xfs.write: unavailable: no <block> & target"))
        #expect(table.contains("qemu-tcg, 2 cores"))
    }

    @Test func valuesAreFormattedInTheirUnits() {
        #expect(formatSeconds(0.0123) == "12.3 ms")
        #expect(formatSeconds(0.000_045_6) == "45.6 µs")
        #expect(formatSeconds(123.4) == "123 s")
        #expect(formatSeconds(1.5) == "1.50 s")
        #expect(formatSeconds(0.9999) == "1.00 s")
        #expect(formatValue(Double(3 << 30) / 2, .bandwidth) == "1.50 GiB/s")
        #expect(formatValue(Double(739 << 20), .bandwidth) == "739 MiB/s")
        #expect(formatValue(1023.9 * 1024 * 1024, .bandwidth) == "1.00 GiB/s")
        #expect(formatRatio(0.949) == "0.95×")
    }

    @Test func svgIsWellFormedWithBarsInProportion() throws {
        let svg = BenchReportFixture.report().renderSVG()
        #expect(svg.hasPrefix("<svg ") && svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("no &lt;block&gt; &amp; target"))
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        // copy.devdax.2m.into: ours median 90, peer 100 (max 100): 360 and 400 of the 400 px.
        let widths = svg.split(separator: "\n").filter { $0.hasPrefix("<rect x=\"380\"") && $0.contains("<title>") }.compactMap { line -> Int? in
            guard let range = line.range(of: "width=\"") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(Array(widths.prefix(2)) == [360, 400])
    }
}

enum BenchReportFixture {
    static func report() -> BenchReport {
        var pin = BenchCaseTests.measured("pin.devdax.1g", metric: .duration, ours: [0.011, 0.012, 0.013], peer: [0.010], goal: BenchGoals.reference)
        pin.ours?.outcome = "EOPNOTSUPP"
        pin.peer?.outcome = "EOPNOTSUPP"
        let cases = [
            BenchCaseTests.measured("copy.devdax.2m.into", metric: .bandwidth, ours: [90, 85, 95], peer: [100, 100], goal: BenchGoals.copy),
            pin,
            .unavailable("direct.fsdax.xfs.read", group: .direct, title: "t", metric: .bandwidth, goal: BenchGoals.direct, reason: "no <block> & target"),
            .unavailable("direct.fsdax.xfs.write", group: .direct, title: "t", metric: .bandwidth, goal: BenchGoals.direct, reason: "no <block> & target"),
        ]
        let machine = MachineFingerprint(
            cores: 2, cpuModel: "Intel Xeon", memoryBytes: 4 << 30, virtualization: "qemu-tcg", evidence: [], dmi: ["sys_vendor": "QEMU"],
            qemuVersion: nil)
        let kernel = KernelFingerprint(release: "6.1.0-50-amd64", version: "#1", machine: "x86_64", cmdline: "", configSource: nil, config: [:])
        return BenchReport(
            environment: BenchEnvironment(kernel: kernel, machine: machine, pmem: nil, blockTarget: nil, tools: ["fio": "fio-3.33"]),
            settings: .quick, cases: cases)
    }
}

/// The probes on this machine's anonymous memory: the mechanics (every repetition of every side
/// recorded, failures named), not the speed.
struct BenchProbeTests {
    @Test func copyProbeRecordsEverySideEveryRepetition() {
        let probe = BenchProbe(kind: .copy, backing: .anonymous, length: 1 << 20, repetitions: 3, faultIn: true)
        let result = probe.run()
        #expect(result.error == nil)
        for series in [BenchProbe.Series.copyInto, BenchProbe.Series.copyOut, BenchProbe.Series.copyAnonymous, BenchProbe.Series.faultIn, BenchProbe.Series.faultInAnonymous] {
            #expect(result.series[series]?.count == 3, "\(series)")
            #expect(result.series[series]?.allSatisfy { $0 > 0 && $0.isFinite } == true, "\(series)")
        }
    }

    @Test func pinProbeWithoutTheReferenceProgramSaysSo() {
        let probe = BenchProbe(kind: .pinSnapshot, backing: .anonymous, length: 4 << 20, repetitions: 2)
        let result = probe.run()
        if let error = result.error {
            // A host with io_uring switched off (kernel.io_uring_disabled) refuses the ring itself.
            #expect(error.hasPrefix("io_uring_setup: "), "\(error)")
            return
        }
        #expect(result.series[BenchProbe.Series.pin]?.count == 2)
        #expect(result.series[BenchProbe.Series.snapshot]?.count == 2)
        #expect(result.failures[BenchProbe.Series.pinReference] == "no reference program")
        #expect(result.series[BenchProbe.Series.pinReference] == nil)
    }

    @Test func directProbeWithoutATargetIsAnError() {
        let result = BenchProbe(kind: .direct, backing: .anonymous, length: 1 << 20, repetitions: 1).run()
        #expect(result.error?.contains("needs a block target") == true)
    }

    @Test func sidesAlternateAndRotate() {
        let probe = BenchProbe(kind: .copy, backing: .anonymous, length: 1, repetitions: 1)
        #expect(probe.alternating([1, 2], 0) == [1, 2] && probe.alternating([1, 2], 1) == [2, 1])
        #expect(probe.rotated([1, 2, 3], 1) == [2, 3, 1] && probe.rotated([1, 2, 3], 3) == [1, 2, 3])
    }
}
