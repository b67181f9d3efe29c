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
        (["--kernel", "6.1", "--timeout", "nan"], "'nan' is invalid for '--timeout"),
        (["--kernel", "6.1", "--timeout", "inf"], "'inf' is invalid for '--timeout"),
        (["--kernel", "6.1", "--timeout", "1e300"], "'1e300' is invalid for '--timeout"),
        (["--kernel", "6.1", "--timeout=-1"], "'-1' is invalid for '--timeout"),
        (["--kernel", "6.1", "--timeout", "-1"], "'-1' is invalid for '--timeout"),
        (["--kernel", "6.1", "--timeout", "0"], "'0' is invalid for '--timeout"),
        (["--kernel", "6.1", "--memory", "512"], "--memory 512"),
        (["--kernel", "6.1", "--memory", "99999999"], "--memory 99999999"),
        (["--kernel", "6.1", "--memory", "99999999999999999999"], "is invalid for '--memory"),
        (["--kernel", "6.1", "--share", "/nonexistent-daxref-share"], "--share /nonexistent-daxref-share"),
        (["--kernel", "/nonexistent-daxref/bzImage"], "no such file"),
        (["--kernel", "6.1", "--cpu", "banana"], "--cpu banana: QEMU has no such CPU model"),
        (["--kernel", "6.1", "--console-log", "/proc/daxref-x"], "--console-log /proc/daxref-x: cannot be created"),
        (["--kernel", "/etc/passwd"], "not an x86 bzImage"),
    ])
    func badInputIsUsage(_ arguments: [String], _ message: String) throws {
        let result = try Subprocess.capture([RunningProcess.daxref, "vm"] + arguments + ["--", "inventory"])
        #expect(result.status == 64, "\(arguments): exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("booting"))
    }

    /// The guest command is parsed and validated on the host, as the guest will: a typo or a bad
    /// value costs no boot (it used to be found only after the kernel fetch and boot).
    @Test(arguments: [
        (["run", "--timeout", "nan"], "'nan' is invalid for '--timeout"),
        (["run", "--bogus"], "Unknown option '--bogus'"),
        (["run", "--scenario", "nosuch.*"], "`nosuch.*` matches no scenario"),
        (["nosuchcommand"], "nosuchcommand"),
    ])
    func badGuestCommandIsUsage(_ guest: [String], _ message: String) throws {
        let result = try Subprocess.capture([RunningProcess.daxref, "vm", "--kernel", "/nonexistent-daxref/bzImage", "--"] + guest)
        #expect(result.status == 64, "\(guest): exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("guest command") && result.stderr.contains(message), "\(guest): \(result.stderr)")
    }

    /// --version and --help are answers, not bad guest commands: validation lets them through (the
    /// missing kernel is what stops this one).
    @Test func versionAsGuestCommandIsFine() throws {
        let result = try Subprocess.capture([RunningProcess.daxref, "vm", "--kernel", "/nonexistent-daxref/bzImage", "--", "--version"])
        #expect(result.status == 64)
        #expect(!result.stderr.contains("guest command"), "\(result.stderr)")
        #expect(result.stderr.contains("no such file"), "\(result.stderr)")
    }
}
