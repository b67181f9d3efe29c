import CDaxrefShim
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A running QEMU: its serial console (stdout) read line by line, its own stderr kept for errors.
final class QemuProcess {
    let pid: pid_t
    private let console: FileDescriptor
    private let errors: FileDescriptor
    private var pending: [UInt8] = []
    private var exited: Int32?
    /// The signal that ended QEMU, if one did (killed on the host, or crashed).
    private(set) var endingSignal: Int32?
    private(set) var stderrText = ""
    /// Ends QEMU if a signal ends daxref first (PR_SET_PDEATHSIG would too, but only after daxref is gone).
    private var cleanup: CleanupRegistration?

    init(argv: [String]) throws(VMError) {
        var consolePipe: [Int32] = [0, 0], errorPipe: [Int32] = [0, 0]
        let rc = CDaxrefShim_pipe_cloexec(&consolePipe)
        guard rc == 0, CDaxrefShim_pipe_cloexec(&errorPipe) == 0 else {
            throw .setup("pipe: \(Errno(rawValue: rc != 0 ? -rc : errno))")
        }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull); close(consolePipe[1]); close(errorPipe[1]) }
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let result = CDaxrefShim_spawn(cArgs, devNull, consolePipe[1], errorPipe[1], 1)
        guard result > 0 else {
            close(consolePipe[0]); close(errorPipe[0])
            throw .setup("cannot start \(argv[0]): \(Errno(rawValue: -result))")
        }
        pid = result
        console = FileDescriptor(rawValue: consolePipe[0])
        errors = FileDescriptor(rawValue: errorPipe[0])
        _ = fcntl(errorPipe[0], F_SETFL, O_NONBLOCK)
        cleanup = CleanupOwner.shared.register("QEMU \(result)") { ProcessLiveness.terminateChild(result) }
    }

    deinit {
        kill()
        try? console.close()
        try? errors.close()
    }

    /// Complete console lines that arrived within `timeout`; nil once the console is closed.
    func readConsole(timeout: Double) -> [String]? {
        drainErrors()
        var descriptor = pollfd(fd: console.rawValue, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(timeout * 1000))
        if ready <= 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(console.rawValue, $0.baseAddress, $0.count) }
        if count < 0 { return errno == EINTR || errno == EAGAIN ? [] : nil }
        if count == 0 {
            if pending.isEmpty { return nil }
            defer { pending = [] }
            return [String(decoding: pending, as: UTF8.self)]
        }
        pending.append(contentsOf: buffer[0..<count])
        var lines: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[..<newline], as: UTF8.self))
            pending.removeSubrange(...newline)
        }
        return lines
    }

    /// QEMU's own stderr so far (why it refused to start, or what it said when it stopped), trimmed.
    var errorOutput: String {
        drainErrors()
        return stderrText.trimmingWhitespace()
    }

    private func drainErrors() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(errors.rawValue, $0.baseAddress, $0.count) }
            if count <= 0 { return }
            stderrText += String(decoding: buffer[0..<count], as: UTF8.self)
        }
    }

    /// Waits for exit up to `timeout` seconds (forever when nil); the exit status, or nil if still running.
    @discardableResult
    func wait(timeout: Double? = nil) -> Int32? {
        if let exited { return exited }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if result == pid {
                if (status & 0x7f) != 0 { endingSignal = status & 0x7f }
                exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return exited
            }
            if result < 0 && errno != EINTR { exited = -1; return exited }
            if let deadline, Date() > deadline { return nil }
            if deadline != nil { usleep(50_000) }
        }
    }

    /// SIGKILL and reap; a no-op once QEMU has exited.
    func kill() {
        guard exited == nil else { return }
        Glibc.kill(pid, SIGKILL)
        wait()
    }
}

/// New bytes appended to a file since the last read (QEMU writes the guest's stdout/stderr there).
struct FileTail {
    let path: String
    private var handle: FileHandle?

    init(path: String) { self.path = path }

    mutating func read() -> Data? {
        if handle == nil { handle = FileHandle(forReadingAtPath: path) }
        guard let data = handle?.availableData, !data.isEmpty else { return nil }
        // Serial lines arrive with CRLF: give the host plain newlines.
        return Data(data.filter { $0 != UInt8(ascii: "\r") })
    }
}
