import CDaxrefShim
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

@testable import DaxrefKit

/// A process under test (usually the daxref binary): its output collected as it arrives, so a test
/// can wait for a moment ("holding", a QEMU child), send it a signal, and see how it ended.
final class RunningProcess: @unchecked Sendable {
    enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let code): "exit \(code)"
            case .signaled(let signal): "signal \(signal)"
            }
        }
    }

    let pid: pid_t
    private let lock = NSLock()
    private var collected: [Data] = [Data(), Data()]
    private var open = 2
    private var ending: Ending?

    /// Spawned with the shim, not Foundation.Process: that would hand the child the signal mask of
    /// this test thread (Swift's pool blocks SIGTERM and SIGINT), and it would ignore our signals.
    init(_ argv: [String], environment: [String: String]? = nil) throws {
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard CDaxrefShim_pipe_cloexec(&out) == 0, CDaxrefShim_pipe_cloexec(&err) == 0 else { throw Errno(rawValue: errno) }
        let devNull = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
        let cArguments = argv.map { strdup($0) } + [nil]
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { $0.key + "=" + $0.value }
        let cEnvironment = variables.map { strdup($0) } + [nil]
        // Not tied to this thread's life (PR_SET_PDEATHSIG): tests kill what they start.
        let spawned = CDaxrefShim_spawn_env(cArguments, cEnvironment, devNull, out[1], err[1], 0)
        cArguments.forEach { free($0) }
        cEnvironment.forEach { free($0) }
        close(devNull)
        close(out[1])
        close(err[1])
        guard spawned > 0 else {
            close(out[0])
            close(err[0])
            throw Errno(rawValue: -spawned)
        }
        pid = spawned
        for (index, descriptor) in [out[0], err[0]].enumerated() {
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    lock.withLock {
                        if count <= 0 { open -= 1 } else { collected[index].append(contentsOf: buffer[0..<count]) }
                    }
                    if count <= 0 { break }
                }
                close(descriptor)
            }.start()
        }
    }

    var stdout: String { lock.withLock { String(decoding: collected[0], as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: collected[1], as: UTF8.self) } }

    /// Reaps it if it has ended.
    private func poll() -> Ending? {
        if let ending { return ending }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        ending = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        return ending
    }

    var isRunning: Bool { poll() == nil }

    /// Polls `condition` every 50 ms for up to `timeout` seconds; false if it never held.
    func waitFor(timeout: Double, _ condition: (RunningProcess) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self) { return true }
            if !isRunning { return condition(self) }
            usleep(50_000)
        }
        return false
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// How it ended, or nil if it was still running after `timeout` seconds (it is then SIGKILLed,
    /// so a failing test does not leave it behind). Waits a moment for its output to be complete.
    func wait(timeout: Double) -> Ending? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning, Date() < deadline { usleep(20_000) }
        guard let ending = poll() else {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return nil
        }
        let outputDeadline = Date().addingTimeInterval(2)
        while lock.withLock({ open > 0 }), Date() < outputDeadline { usleep(10_000) }
        return ending
    }

    /// Direct children of `pid` (all its threads' children).
    static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func command(of pid: pid_t) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The daxref binary under test: DAXREF_BIN, else this checkout's debug build (`swift build` first).
    static var daxref: String { VMIntegrationTests.daxref }
}
