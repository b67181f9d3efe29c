import ArgumentParser
import DaxrefKit

/// Fault injection for daxref's own tests (hidden): see DaxrefKit's TestHooks and docs/safety.md.
struct TestHookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-hook",
        abstract: "Fault injection for daxref's own tests (not for users).",
        discussion: """
            cleanup FILE [--tracefs DIR --kprobe-order O]   own FILE and a sleep child until a signal
            guest-panic                                     crash the guest kernel (sysrq c); only in a daxref vm guest
            hold SECONDS                                    print "holding", then sleep
            """,
        shouldDisplay: false)

    @Argument(help: "cleanup, guest-panic or hold.")
    var hook: String

    @Argument(help: "FILE for cleanup, SECONDS for hold.")
    var value: String?

    @Option(help: "A fake tracefs root for cleanup's kprobe session.")
    var tracefs: String?

    @Option(help: "none, below, above, buried-disarmed.")
    var kprobeOrder: String = "none"

    func run() throws {
        switch hook {
        case "cleanup":
            guard let file = value, let order = TestHooks.KprobeOrder(rawValue: kprobeOrder) else {
                throw ValidationError("cleanup FILE [--tracefs DIR --kprobe-order none|below|above|buried-disarmed]")
            }
            TestHooks.cleanupChild(file: file, tracefs: tracefs, order: order)
        case "guest-panic":
            do { try TestHooks.panicGuest() } catch {
                printError("test-hook: \(error)")
                throw ExitCode(64)
            }
        case "hold":
            guard let seconds = value.flatMap(Double.init), seconds.isFinite, seconds >= 0, seconds <= 86400 else {
                throw ValidationError("hold SECONDS (0…86400)")
            }
            TestHooks.hold(seconds: seconds)
        default:
            throw ValidationError("unknown hook '\(hook)': cleanup, guest-panic or hold")
        }
    }
}
