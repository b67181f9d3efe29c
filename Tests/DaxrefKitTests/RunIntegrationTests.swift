import Foundation
import Testing

@testable import DaxrefKit

/// The whole scenario suite on real kernels: `daxref vm --kernel K -- run` must finish without
/// harness errors, detect the right era, and every mismatch must be a documented kernel finding
/// (docs/findings.md); anything else is a regression of the kernel or of the model, and fails here.
/// Enabled by DAXREF_VM_KERNELS like the other VM tests.
private let vmKernels: [String] = (ProcessInfo.processInfo.environment["DAXREF_VM_KERNELS"] ?? "")
    .split(separator: ",").map(String.init)

@Suite(.serialized, .enabled(if: !vmKernels.isEmpty, "set DAXREF_VM_KERNELS to boot real kernels"))
struct RunIntegrationTests {
    @Test(arguments: vmKernels)
    func suiteRunsAndEveryMismatchIsAKnownFinding(_ spec: String) throws {
        let directory = FileManager.default.currentDirectoryPath + "/.build/daxref-runtest-\(spec)-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/run.json", ktap = directory + "/run.ktap", junit = directory + "/run.xml"
        let result = try Subprocess.capture([
            VMIntegrationTests.daxref, "vm", "--quiet", "--kernel", spec, "--timeout", "2400",
            "--", "run", "--json", json, "--ktap", ktap, "--junit", junit,
        ])
        #expect([0, 1].contains(result.status), "daxref vm exited \(result.status):\n\(result.stderr.suffix(8000))")

        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.schemaVersion == RunReport.currentSchemaVersion)
        #expect(report.environment.kernel.release.hasPrefix(spec + "."))
        let expectedEra: Era = KernelVersion(parsing: spec[...]).map(Era.of) ?? .normalRefcount
        #expect(report.environment.profile.era == expectedEra, "era \(report.environment.profile.era) on \(spec)")
        #expect(report.environment.profile.eraSource == "probe")

        #expect(report.summary.error == 0, "errors: \(report.scenarios.filter { $0.outcome == .error }.map { "\($0.id): \($0.reason ?? "")" })")
        #expect(report.summary.pass >= 60, "only \(report.summary.pass) scenarios passed")
        let unexplained = report.scenarios.flatMap { scenario in
            scenario.checks.filter { $0.verdict == .mismatch && $0.finding == nil }.map {
                "\(scenario.id) \($0.rule): expected \($0.expected), observed \($0.observed ?? "nothing")"
            }
        }
        #expect(unexplained.isEmpty, "mismatches that are not known findings:\n\(unexplained.joined(separator: "\n"))")
        #expect(result.status == (report.summary.fail > 0 ? 1 : 0))

        // Every kprobe session removed its probes.
        let timelines = report.scenarios.filter { $0.workload == .refcountTimeline && $0.evidence.status == .completed }
        #expect(!timelines.isEmpty, "no refcount-timeline scenario ran")
        for timeline in timelines {
            #expect(timeline.evidence.observations["kprobe.probes_remaining"] == .integer(0), "\(timeline.id) left probes installed")
        }

        // The hypotheses the reference could not settle are settled per era.
        let hypotheses = Dictionary(uniqueKeysWithValues: report.hypotheses.map { ($0.id, $0.status) })
        if expectedEra == .normalRefcount {
            #expect(hypotheses["B7"] == .holds)
            #expect(hypotheses["B1"] == .doesNotHold)
        } else {
            #expect(hypotheses["B1"] == .holds)
        }

        let ktapText = try String(contentsOfFile: ktap, encoding: .utf8)
        #expect(ktapText.hasPrefix("KTAP version 1\n1..\(report.scenarios.count)\n"))
        let junitText = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(junitText.contains("<testsuite") && junitText.components(separatedBy: "<testcase ").count - 1 == report.scenarios.count)
    }
}

/// Fault injection in real guests: step helpers SIGKILLed while one of their threads is blocked in
/// truncate on fsdax (`blocked`) and while holding io_uring pins (`pinned`). Each is an error that
/// names the signal, the run goes on, and the report and its stream are complete.
@Suite(.serialized, .enabled(if: !vmKernels.isEmpty, "set DAXREF_VM_KERNELS to boot real kernels"))
struct RunFaultInjectionTests {
    @Test(arguments: vmKernels)
    func helpersKilledMidStepAreErrorsAndTheRunGoesOn(_ spec: String) throws {
        let directory = FileManager.default.currentDirectoryPath + "/.build/daxref-faulttest-\(spec)-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/run.json"
        let killed = ["fsdax.ext4.truncate.vmsplice", "anon.private.iouring-register"]
        let result = try Subprocess.capture([
            VMIntegrationTests.daxref, "vm", "--quiet", "--kernel", spec, "--provision", "devdax2m,ext4", "--timeout", "900",
            "--", "run", "--test-kill-at", "blocked,pinned", "--scenario", (killed + ["devdax.2m.touch-read"]).joined(separator: ","),
            "--json", json,
        ])
        #expect(result.status == 1, "daxref vm exited \(result.status):\n\(result.stderr.suffix(3000))")
        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(Set(report.scenarios.map(\.id)) == Set(killed + ["devdax.2m.touch-read"]), "\(report.scenarios.map(\.id))")
        for id in killed {
            let scenario = report.scenarios.first { $0.id == id }
            #expect(scenario?.outcome == .error, "\(id): \(String(describing: scenario?.outcome))")
            #expect(scenario?.checks.contains { $0.reason?.contains("signal 9") == true } == true, "\(id): \(String(describing: scenario?.checks.map(\.reason)))")
        }
        #expect(report.scenarios.first { $0.id == "devdax.2m.touch-read" }?.outcome == .pass)
        #expect(report.stopped == nil)
        #expect(!FileManager.default.fileExists(atPath: json + RunStream.suffix), "a finished run removes its stream")
    }
}

/// A guest kernel panic in the middle of `daxref run` (`--test-panic-after 2`): `vm` reports the
/// panic (82) and writes the run's reports from the stream the guest left: the two scenarios judged
/// before the panic, the panic as the reason, and what did not run.
@Suite(.serialized, .enabled(if: !vmKernels.isEmpty, "set DAXREF_VM_KERNELS to boot real kernels"))
struct RunStreamSurvivesAPanicTests {
    @Test(arguments: vmKernels)
    func theStreamKeepsWhatRanBeforeThePanic(_ spec: String) throws {
        let directory = FileManager.default.currentDirectoryPath + "/.build/daxref-panictest-\(spec)-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/run.json", ktap = directory + "/run.ktap"
        let result = try Subprocess.capture([
            VMIntegrationTests.daxref, "vm", "--quiet", "--kernel", spec, "--provision", "none", "--timeout", "600",
            "--", "run", "--scenario", "anon.private.*", "--test-panic-after", "2", "--json", json, "--ktap", ktap,
        ])
        #expect(result.status == 82, "daxref vm exited \(result.status):\n\(result.stderr.suffix(3000))")
        #expect(result.stderr.contains("reports written from its stream"), "\(result.stderr.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: json + RunStream.suffix), "the stream is folded into the report")
        let report = try RunReport.load(path: json)
        #expect(report.scenarios.count == 2, "\(report.scenarios.map(\.id))")
        let stopped = try #require(report.stopped)
        #expect(stopped.reason.hasPrefix("guest kernel fault: panic"), "\(stopped.reason)")
        #expect(try String(contentsOfFile: ktap, encoding: .utf8).contains("Bail out! "))
        #expect(stopped.notRun.count == ScenarioCatalogue.select("anon.private.*").count - 2)
        #expect(report.environment.kernel.release.hasPrefix(spec + "."))
    }
}
