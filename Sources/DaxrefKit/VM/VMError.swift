/// Why a VM run did not produce the guest command's own exit status.
public enum VMError: Error, Sendable, CustomStringConvertible {
    /// A bad kernel spec or option value, found before anything boots.
    case usage(String)
    /// The host side failed: kernel fetch, initramfs build, QEMU missing or refusing to start, or
    /// QEMU ended by a signal on the host.
    case setup(String)
    /// The guest never reached init (after retries).
    case boot(String)
    /// The guest kernel panicked, oopsed or hit a BUG while running.
    case guestFault(String)
    /// Wall-clock timeout: the guest hung (or was too slow); QEMU was killed.
    case timeout(String)
    /// The guest booted, but its init could not set up for the command (provisioning failed, a
    /// share could not be mounted, the command could not be started): the command did not run.
    case guestSetup(String)

    /// Distinct exit codes, above anything daxref itself returns (0, 1, 4, 64); 64 for bad usage.
    public var exitCode: Int32 {
        switch self {
        case .usage: 64
        case .setup: 80
        case .boot: 81
        case .guestFault: 82
        case .timeout: 83
        case .guestSetup: 84
        }
    }

    /// One word for the per-kernel summary line.
    public var kind: String {
        switch self {
        case .usage: "usage"
        case .setup: "setup"
        case .boot: "boot"
        case .guestFault: "guest-fault"
        case .timeout: "timeout"
        case .guestSetup: "guest-setup"
        }
    }

    public var description: String {
        switch self {
        case .usage(let why): why
        case .setup(let why): "VM setup failed: \(why)"
        case .boot(let why): "guest did not boot: \(why)"
        case .guestFault(let why): "guest kernel fault: \(why)"
        case .timeout(let why): "guest timed out: \(why)"
        case .guestSetup(let why): "guest setup failed, the command did not run: \(why)"
        }
    }
}
