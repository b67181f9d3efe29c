import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

/// Defect: SIGINT/SIGTERM to `daxref run` left /dev/shm/daxref-*.data scratch files behind (3 of 12
/// tries). The page-cache scenarios use /dev/shm scratch files without device memory, so this runs
/// on any host (the binary must be built). Signals land at spread moments: before the first step,
/// inside helpers, between steps.
@Suite(.serialized) struct RunSignalCleanupTests {
    /// New scratch files in /dev/shm that belong to no running process: what a run left behind.
    /// (Files of this test process, or of another live run, are not the run's.)
    static func leftovers(since before: Set<String>) -> [String] {
        let now = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
        return now.subtracting(before).filter { name in
            guard let scratch = ScratchName(fileName: name) else { return false }
            return scratch.creator != getpid() && !ProcessLiveness.isRunning(scratch.owner) && !ProcessLiveness.isRunning(scratch.creator)
        }.sorted()
    }

    @Test func signalledRunLeavesNoScratchFiles() throws {
        var interrupted = 0
        var failures: [String] = []
        for attempt in 0..<12 {
            let signal = attempt % 2 == 0 ? SIGINT : SIGTERM
            let delay = 0.05 + Double(attempt) * 0.07
            let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
            let run = try RunningProcess([RunningProcess.daxref, "run", "--scenario", "pagecache.tmpfs.*"])
            usleep(UInt32(delay * 1_000_000))
            run.signal(signal)
            let ending = run.wait(timeout: 60)
            // Helpers are gone when daxref is; give a killed one's exit a moment anyway.
            usleep(200_000)
            let left = Self.leftovers(since: before)
            if ending == .signaled(signal) { interrupted += 1 }
            print("try \(attempt + 1): \(CleanupOwner.name(of: signal)) after \(Int(delay * 1000)) ms: \(ending?.description ?? "hung"), leftovers \(left.count)")
            if ending == nil || !(ending == .signaled(signal) || ending == .exited(0) || ending == .exited(1)) {
                failures.append("try \(attempt + 1): ended \(ending?.description ?? "not within 60 s"): \(run.stderr.suffix(500))")
            }
            if !left.isEmpty { failures.append("try \(attempt + 1) (\(CleanupOwner.name(of: signal)) after \(Int(delay * 1000)) ms) left \(left)") }
            for name in left { unlink("/dev/shm/" + name) }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(interrupted >= 6, "only \(interrupted) of 12 runs were still running when signalled: the test did not test much")
    }
}

/// SIGTERM to `daxref run` mid-suite: the run ends by the signal, and its reports keep every
/// scenario it finished and say where it stopped (JSON `stopped`, KTAP `Bail out!`); the stream the
/// JSON report now holds is gone.
@Suite(.serialized, .enabled(if: geteuid() == 0, "daxref run needs root"))
struct RunStoppedBySignalTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func reportsSayWhereTheRunStopped(_ signal: Int32) throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/run.json", ktap = directory + "/run.ktap"
        let run = try RunningProcess([RunningProcess.daxref, "run", "--scenario", "anon.private.*,pagecache.tmpfs.*", "--json", json, "--ktap", ktap])
        // After the second scenario is judged, in the middle of the suite.
        let midway = run.waitFor(timeout: 60) { $0.stderr.contains("run: [2/") }
        try #require(midway, "the run never reached its second scenario: \(run.stderr.suffix(500))")
        run.signal(signal)
        let ending = run.wait(timeout: 60)
        #expect(ending == .signaled(signal), "\(String(describing: ending)): \(run.stderr.suffix(800))")
        #expect(run.stderr.contains("stopped (\(CleanupOwner.name(of: signal)))"), "\(run.stderr.suffix(800))")

        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let stopped = try #require(report.stopped)
        #expect(stopped.reason == CleanupOwner.name(of: signal))
        #expect(report.scenarios.count >= 2)
        #expect(stopped.afterScenario == report.scenarios.last?.id)
        #expect(!stopped.notRun.isEmpty)
        #expect(report.scenarios.count + stopped.notRun.count == ScenarioCatalogue.select("anon.private.*,pagecache.tmpfs.*").count)
        #expect(try String(contentsOfFile: ktap, encoding: .utf8).contains("Bail out! stopped (\(CleanupOwner.name(of: signal)))"))
        #expect(!FileManager.default.fileExists(atPath: json + RunStream.suffix), "the JSON report holds what the stream held")
    }
}
