import Foundation
import Testing

@testable import DaxrefKit

/// Bad input to the real binary: one clear line and the documented exit code, before any work,
/// never a Swift runtime trap (exit 132/133) or a lost report. Each case is one a user hit.
@Suite struct CommandLineInputTests {
    static var daxref: String { VMIntegrationTests.daxref }

    static func run(_ arguments: [String]) throws -> Subprocess.Output {
        try Subprocess.capture([daxref] + arguments)
    }

    /// `Double value cannot be converted to Int64` used to trap (exit 132) for these.
    @Test(arguments: ["nan", "inf", "-inf", "1e300", "-1", "0", "abc", ""])
    func timeoutsAreCheckedNotTrapped(_ value: String) throws {
        for command in [["run", "--scenario", "anon.*"], ["bench", "--cases", "copy"], ["drive"]] {
            let result = try Self.run(command + ["--timeout", value])
            #expect(result.status == 64, "\(command) --timeout \(value): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("--timeout"), "\(result.stderr)")
        }
    }

    @Test func theSameReportPathTwiceIsRefusedAndNothingIsWritten() throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.run(["run", "--scenario", "anon.private.touch-read", "--json", directory + "/r", "--ktap", directory + "/r"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("the same file as --json"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    /// Found only after the whole run (exit 1, a test failure's code) before; now before it, 64.
    @Test(arguments: ["/proc/daxref-x", "/dev/full", "/tmp", "/nonexistent-daxref/r.json"])
    func unwritableReportPathsAreRefusedFirst(_ path: String) throws {
        let result = try Self.run(["run", "--scenario", "anon.*", "--json", path])
        #expect(result.status == 64, "\(path): exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("--json \(path)"), "\(result.stderr)")
        #expect(!result.stderr.contains("run: ["), "no scenario may start")
    }

    @Test func namesAndGlobsAreChecked() throws {
        let garbage = try Self.run(["run", "--allow-reconfigure", "garbage"])
        #expect(garbage.status == 64 && garbage.stderr.contains("not a namespace name"), "\(garbage.stderr)")
        let list = try Self.run(["run", "--scenario", "anon.*,nosuch.*", "--list"])
        #expect(list.status == 64 && list.stderr.contains("`nosuch.*` matches no scenario"), "\(list.stderr)")
        let empty = try Self.run(["run", "--scenario", "anon.*,", "--list"])
        #expect(empty.status == 64 && empty.stderr.contains("empty"), "\(empty.stderr)")
        let overwrite = try Self.run(["run", "--allow-overwrite", "/dev/sdz"])
        #expect(overwrite.status == 64 && overwrite.stderr.contains("--blk"), "\(overwrite.stderr)")
    }

    @Test func benchChecksItsReferenceProgram() throws {
        let result = try Self.run(["bench", "--cases", "pin", "--reference", "/nonexistent-daxref"])
        #expect(result.status == 64, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("not an executable"), "\(result.stderr)")
    }

    /// As another user the suite used to report false mismatches (pagemap hides PFNs); now it says
    /// that it needs root and runs nothing (kselftest's skip).
    @Test(.enabled(if: geteuid() == 0, "needs root to switch to an unprivileged user"))
    func nonRootRunsNothingAndSaysWhy() throws {
        let result = try Subprocess.capture(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", Self.daxref, "run", "--scenario", "anon.*"])
        #expect(result.status == 4, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("needs root"), "\(result.stderr)")
        #expect(!result.stderr.contains("run: ["))
    }
}
