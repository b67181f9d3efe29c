import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Running helper programs (gzip, ndctl, bash scripts) with their output captured. Built on
/// CDaxrefShim_spawn and poll(2), not Foundation.Process: that needs a CFRunLoop wakeup socket,
/// which fails inside the minimal guest, and it cannot give the child PR_SET_PDEATHSIG.
public enum Subprocess {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case notFound(String)
        case launch(String, Errno)

        public var description: String {
            switch self {
            case .notFound(let program): "\(program): not found in PATH"
            case .launch(let program, let errno): "\(program): could not start (\(errno))"
            }
        }
    }

    /// Runs `argv` (PATH searched) to completion with stdin from /dev/null. `stderrLine`, when
    /// given, sees each stderr line as it arrives (progress of long steps).
    public static func capture(_ argv: [String], stderrLine: ((String) -> Void)? = nil) throws(Failure) -> Output {
        guard let program = argv.first else { throw .notFound("(empty command)") }
        guard argv[0].contains("/") || findInPath(program) != nil else { throw .notFound(program) }
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        let rc = CDaxrefShim_pipe_cloexec(&out)
        guard rc == 0, CDaxrefShim_pipe_cloexec(&err) == 0 else {
            throw .launch(program, Errno(rawValue: rc != 0 ? -rc : errno))
        }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let cArgs = argv.map { strdup($0) } + [nil]
        let pid = CDaxrefShim_spawn(cArgs, devNull, out[1], err[1], 1)
        cArgs.forEach { free($0) }
        close(devNull)
        close(out[1])
        close(err[1])
        defer { close(out[0]); close(err[0]) }
        guard pid > 0 else { throw .launch(program, Errno(rawValue: -pid)) }
        // SIGTERM first: a script's own traps (fetch-kernel.sh's) remove its temporary files.
        let cleanup = CleanupOwner.shared.register("\(argv.prefix(2).joined(separator: " ")) (pid \(pid))") { ProcessLiveness.terminateChild(pid) }

        var stdoutBytes: [UInt8] = [], stderrBytes: [UInt8] = [], partialLine: [UInt8] = []
        var open = [out[0]: true, err[0]: true]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open.values.contains(true) {
            var fds = open.filter(\.value).keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for descriptor in fds where descriptor.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { open[descriptor.fd] = false; continue }
                if descriptor.fd == out[0] {
                    stdoutBytes += buffer[0..<count]
                } else {
                    stderrBytes += buffer[0..<count]
                    guard let stderrLine else { continue }
                    partialLine += buffer[0..<count]
                    while let newline = partialLine.firstIndex(of: UInt8(ascii: "\n")) {
                        stderrLine(String(decoding: partialLine[..<newline], as: UTF8.self))
                        partialLine.removeSubrange(...newline)
                    }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        cleanup.end()
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(
            status: exit, stdout: String(decoding: stdoutBytes, as: UTF8.self),
            stderr: String(decoding: stderrBytes, as: UTF8.self))
    }

    static func findInPath(_ program: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { access($0, X_OK) == 0 }
    }
}
