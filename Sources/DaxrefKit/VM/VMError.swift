/// Why a VM run did not produce the guest command's own exit status.
public enum VMError: Error, Sendable, CustomStringConvertible {
    /// Kernel fetch, initramfs build or QEMU start failed on the host.
    case setup(String)
    /// The guest never reached init (after retries).
    case boot(String)
    /// The guest kernel panicked, oopsed or hit a BUG while running.
    case guestFault(String)
    /// Wall-clock timeout: the guest hung (or was too slow); QEMU was killed.
    case timeout(String)

    /// Distinct exit codes, above anything daxref itself returns (0, 1, 4, 64).
    public var exitCode: Int32 {
        switch self {
        case .setup: 80
        case .boot: 81
        case .guestFault: 82
        case .timeout: 83
        }
    }

    public var description: String {
        switch self {
        case .setup(let why): "VM setup failed: \(why)"
        case .boot(let why): "guest did not boot: \(why)"
        case .guestFault(let why): "guest kernel fault: \(why)"
        case .timeout(let why): "guest timed out: \(why)"
        }
    }
}
