import Foundation
import Testing

@testable import DaxrefKit

/// `daxref vm` refuses bad input with one line and 64 before it fetches or boots anything (needs
/// the built binary, no kernel and no QEMU). Defects: `--matrix ',,'` exited 0 having run nothing;
/// `--timeout inf` was accepted (and became a trap where it turned into whole seconds).
@Suite struct VMCommandValidationTests {
    @Test(arguments: [
        (["--matrix", ",,"], "empty kernel spec"),
        (["--matrix", "6.1,,7.2"], "empty kernel spec"),
        (["--kernel", " "], "empty kernel spec"),
        (["--kernel", "6.1", "--timeout", "nan"], "--timeout nan"),
        (["--kernel", "6.1", "--timeout", "inf"], "--timeout inf"),
        (["--kernel", "6.1", "--timeout", "1e300"], "--timeout 1e+300"),
        (["--kernel", "6.1", "--timeout=-1"], "--timeout -1"),
        (["--kernel", "6.1", "--timeout", "0"], "--timeout 0"),
        (["--kernel", "6.1", "--memory", "512"], "--memory 512"),
        (["--kernel", "6.1", "--memory", "99999999"], "--memory 99999999"),
        (["--kernel", "6.1", "--memory", "99999999999999999999"], "is invalid for '--memory"),
        (["--kernel", "6.1", "--share", "/nonexistent-daxref-share"], "--share /nonexistent-daxref-share"),
        (["--kernel", "/nonexistent-daxref/bzImage"], "no such kernel image"),
        (["--kernel", "/etc/passwd"], "not an x86 bzImage"),
    ])
    func badInputIsUsage(_ arguments: [String], _ message: String) throws {
        let started = Date()
        let result = try Subprocess.capture([RunningProcess.daxref, "vm"] + arguments + ["--", "inventory"])
        #expect(result.status == 64, "\(arguments): exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("booting"))
        #expect(Date().timeIntervalSince(started) < 10, "refused before any work")
    }
}
