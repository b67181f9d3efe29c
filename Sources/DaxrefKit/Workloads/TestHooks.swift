import CDaxrefShim
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What the hidden `daxref test-hook` command does for the fault-injection tests
/// (Tests/DaxrefKitTests/CleanupOwnerTests.swift, VMSafetyTests.swift). Nothing here runs in a
/// normal command.
public enum TestHooks {
    /// Where a cleanup child puts KprobeSignalCleanup relative to the cleanup owner's handlers.
    public enum KprobeOrder: String, Sendable, CaseIterable {
        /// No kprobe handler.
        case none
        /// Armed before the owner installs: the owner's handler is on top and re-raises into it.
        case below
        /// Armed after: its handler runs first and re-raises into the owner's.
        case above
        /// Armed before, then disarmed while the owner's handler is on top: it must pass signals on.
        case buriedDisarmed = "buried-disarmed"
    }

    /// A process that owns things until a signal ends it: `file` (created here) and a `sleep`
    /// child spawned without PR_SET_PDEATHSIG (so only the registered action can end it), both
    /// registered with `CleanupOwner`; with a fake tracefs at `tracefs`, a kprobe session's signal
    /// cleanup armed as `order` says. Prints "ready <sleep pid>" and waits for a signal.
    public static func cleanupChild(file: String, tracefs: String?, order: KprobeOrder) -> Never {
        func armKprobes() {
            guard let tracefs else { return }
            KprobeSignalCleanup.arm(mountPoint: FilePath(tracefs), instance: "daxref_t", group: "daxref_t", eventNames: ["a", "b_ret"])
        }
        if order == .below || order == .buriedDisarmed { armKprobes() }

        let descriptor = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
        let fileRegistration = CleanupOwner.shared.register("file \(file)") { unlink(file) }

        let words: [String] = ["sleep", "1000"]
        let arguments = words.map { strdup($0) } + [nil]
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        let child = CDaxrefShim_spawn(arguments, devNull, devNull, 2, 0)
        let childRegistration = CleanupOwner.shared.register("sleep \(child)") { ProcessLiveness.terminateChild(child) }

        if order == .above { armKprobes() }
        if order == .buriedDisarmed { KprobeSignalCleanup.disarm() }

        let line = "ready \(child)\n"
        _ = try? FileDescriptor.standardOutput.writeAll(Array(line.utf8))
        waitForSignal(holding: fileRegistration, childRegistration)
    }

    /// The registrations stay alive until a signal ends the process.
    private static func waitForSignal(holding first: consuming CleanupRegistration, _ second: consuming CleanupRegistration) -> Never {
        while true { pause() }
    }

    /// Crashes the guest kernel (sysrq 'c'): only inside a `daxref vm` guest, never on a host.
    public static func panicGuest() throws(TestHookError) -> Never {
        guard ProcessInfo.processInfo.environment["DAXREF_GUEST"] == "1", SystemFile.exists("/run/daxref/cmd") else {
            throw TestHookError("guest-panic only runs inside a daxref vm guest (DAXREF_GUEST=1 and /run/daxref/cmd)")
        }
        let descriptor = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TestHookError("open /proc/sysrq-trigger: \(Errno(rawValue: errno))") }
        sync()
        _ = write(descriptor, "c", 1)
        throw TestHookError("the kernel did not crash on sysrq 'c'")
    }

    /// Prints "holding" and sleeps `seconds`: a guest command that is mid-run for as long as a test needs.
    public static func hold(seconds: Double) {
        _ = try? FileDescriptor.standardOutput.writeAll(Array("holding\n".utf8))
        let end = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < end { usleep(100_000) }
    }
}

public struct TestHookError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
