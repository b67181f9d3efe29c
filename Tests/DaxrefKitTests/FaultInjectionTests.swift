import Foundation
import Testing

@testable import DaxrefKit

/// A step helper killed with SIGKILL while it holds io_uring pins (`--test-kill-at pinned`): the
/// run reports that scenario as an error with the signal, goes on with the next one, and leaves no
/// helper and no scratch file behind. On ordinary memory, so it runs on any host as root.
@Suite(.serialized, .enabled(if: geteuid() == 0, "daxref run needs root"))
struct FaultInjectionTests {
    @Test func aHelperKilledWhileHoldingPinsIsAnErrorAndTheRunGoesOn() throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/run.json"
        let result = try Subprocess.capture([
            VMIntegrationTests.daxref, "run", "--test-kill-at", "pinned",
            "--scenario", "anon.private.iouring-register,pagecache.tmpfs.iouring-register,anon.private.touch-read", "--json", json,
        ])
        #expect(result.status == 1, "\(result.stderr)")
        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let byID = Dictionary(uniqueKeysWithValues: report.scenarios.map { ($0.id, $0) })
        for id in ["anon.private.iouring-register", "pagecache.tmpfs.iouring-register"] {
            #expect(byID[id]?.outcome == .error, "\(id): \(String(describing: byID[id]?.outcome))")
            #expect(byID[id]?.checks.contains { $0.reason?.contains("signal 9") == true } == true, "\(id) names the signal")
        }
        #expect(byID["anon.private.touch-read"]?.outcome == .pass, "the run went on after the killed helpers")
        #expect(!FileManager.default.fileExists(atPath: json + RunStream.suffix), "a finished run removes its stream")
        let helpers = try Subprocess.capture(["pgrep", "-a", "-f", "[d]rive --run-step"])
        #expect(helpers.stdout.isEmpty, "helpers left: \(helpers.stdout)")
        let scratch = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasPrefix("daxref-") && $0.hasSuffix(".data") }
        #expect(scratch.isEmpty, "scratch files left: \(scratch)")
    }
}
