import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended (waitpid status, decoded: Swift cannot import WIFEXITED & co.).
public enum ExitStatus: Codable, Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signaled(let signal): "signal \(signal)"
        }
    }
}

/// waitpid(2), kill(2) and poll(2) for supervising children with deadlines.
public enum ChildProcess {
    /// waitpid(WNOHANG): the status if the child has ended (and is now reaped), nil while it runs.
    public static func reapIfEnded(_ pid: pid_t) throws(Errno) -> ExitStatus? {
        var status: Int32 = 0
        let reaped = try retryingOnInterrupt { () -> pid_t in
            let rc = waitpid(pid, &status, WNOHANG)
            return rc < 0 ? -errno : rc
        }
        return reaped == pid ? ExitStatus(waitStatus: status) : nil
    }

    public static func signal(_ pid: pid_t, _ signal: Int32) throws(Errno) {
        _ = try retryingOnInterrupt { () -> Int32 in kill(pid, signal) < 0 ? -errno : 0 }
    }

    /// poll(2) for readability (POLLIN, or POLLHUP/POLLERR, which a read then reports); returns which
    /// of `descriptors` are ready. EINTR is retried with the same timeout.
    public static func pollReadable(_ descriptors: [FileDescriptor], timeoutMilliseconds: Int32) throws(Errno) -> [Bool] {
        var entries = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        _ = try retryingOnInterrupt { () -> Int32 in
            let rc = poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
            return rc < 0 ? -errno : rc
        }
        return entries.map { $0.revents != 0 }
    }
}
