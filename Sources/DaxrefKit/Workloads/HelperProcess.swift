import CDaxrefShim
import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper process with a deadline and never waits on it forever: a step that faults, hangs
/// or sleeps uninterruptibly in the kernel costs at most the deadline plus a grace period. A helper
/// that cannot be reaped even after SIGKILL (a task in D state) is left behind and reported.
public struct HelperProcess {
    public struct Outcome: Sendable {
        /// Everything the helper wrote to stdout and stderr (stderr capped).
        public var stdout: String
        public var stderr: String
        /// How it ended; nil if it could not be reaped (abandoned).
        public var exit: ExitStatus?
        /// The helper was still running when the harness stopped waiting (it was then killed, and
        /// if even that did not end it, abandoned). It may have delivered before that.
        public var timedOut: Bool
        /// Where its tasks were when the harness gave up on it.
        public var samples: [TaskSample]
        public var elapsedMilliseconds: Int64
        /// The helper's pid (its scratch files carry it: `ScratchName.creator`).
        public var pid: pid_t = 0

        public var abandoned: Bool { exit == nil }
    }

    public var argv: [String]
    /// Seconds until the harness stops waiting for the helper to finish.
    public var deadline: Double
    /// Seconds to wait for exit after SIGKILL before leaving the helper behind.
    public var killGrace: Double = 2
    /// When stdout has a complete line starting with this, the helper has delivered: it then gets
    /// only `exitGrace` more seconds to exit (its cleanup may block behind a stuck task).
    public var deliveredMarker: String?
    public var exitGrace: Double = 3
    /// Only this much of stderr is kept.
    public static let stderrLimit = 64 << 10

    public init(argv: [String], deadline: Double) {
        self.argv = argv
        self.deadline = deadline
    }

    public func run() throws(Errno) -> Outcome {
        let started = ContinuousClock.now
        var output = try OwnedPipe()
        var errors = try OwnedPipe()
        let devNull = try withTypedErrno { try FileDescriptor.open("/dev/null", .readOnly, options: [.closeOnExec]) }
        defer { try? devNull.close() }
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let cEnvironment = Self.environment().map { strdup($0) } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        let pid = CDaxrefShim_spawn_env(cArguments, cEnvironment, devNull.rawValue, output.writeEnd!.rawValue, errors.writeEnd!.rawValue, 1)
        if pid < 0 { throw Errno(rawValue: -pid) }
        // PR_SET_PDEATHSIG ends it when daxref dies, but only a live daxref can sweep what it leaves.
        let registration = CleanupOwner.shared.register("helper \(pid)") { ProcessLiveness.terminateChild(pid) }
        output.closeWriteEnd()
        errors.closeWriteEnd()

        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var outputOpen = true, errorsOpen = true
        var exit: ExitStatus?
        var end = started + .milliseconds(Int64(deadline * 1000))
        var delivered = false
        // Until both pipes reach EOF and the helper is reaped. A helper's forked child could keep a
        // pipe open after the helper exited: once reaped, the pipes get one more short look.
        var reapedAt: ContinuousClock.Instant?
        while ContinuousClock.now < end {
            if exit == nil, let status = try? ChildProcess.reapIfEnded(pid) {
                exit = status
                reapedAt = .now
            }
            if let reapedAt, !outputOpen && !errorsOpen || ContinuousClock.now - reapedAt > .milliseconds(500) { break }
            let ready = (try? ChildProcess.pollReadable([output.readEnd, errors.readEnd], timeoutMilliseconds: 50)) ?? [false, false]
            if ready[0], outputOpen {
                outputOpen = Self.readChunk(output.readEnd, into: &stdout, limit: .max)
                if !delivered, let marker = deliveredMarker, Self.hasCompleteLine(startingWith: marker, in: stdout) {
                    delivered = true
                    end = min(end, ContinuousClock.now + .milliseconds(Int64(exitGrace * 1000)))
                }
            }
            if ready[1], errorsOpen { errorsOpen = Self.readChunk(errors.readEnd, into: &stderr, limit: Self.stderrLimit) }
        }
        var samples: [TaskSample] = []
        let timedOut = exit == nil
        if timedOut {
            let elapsed = StepLog.milliseconds(ContinuousClock.now - started)
            samples = Self.tasks(of: pid).map { TaskSample.take(pid: pid, tid: $0, atMilliseconds: elapsed) }
            try? ChildProcess.signal(pid, SIGKILL)
            let killDeadline = ContinuousClock.now + .milliseconds(Int64(killGrace * 1000))
            while exit == nil, ContinuousClock.now < killDeadline {
                exit = try? ChildProcess.reapIfEnded(pid)
                if exit == nil { usleep(10_000) }
            }
            // What it wrote before it stopped (a result line may be there even so).
            while outputOpen, (try? ChildProcess.pollReadable([output.readEnd], timeoutMilliseconds: 0))?[0] == true {
                outputOpen = Self.readChunk(output.readEnd, into: &stdout, limit: .max)
            }
        }
        registration.end()
        return Outcome(
            stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self), exit: exit,
            timedOut: timedOut, samples: samples, elapsedMilliseconds: StepLog.milliseconds(ContinuousClock.now - started), pid: pid)
    }

    /// Ours, plus the run's owner for the scratch files the helper creates.
    static func environment() -> [String] {
        var environment = ProcessInfo.processInfo.environment
        environment[ScratchFile.ownerEnvironmentKey] = String(ScratchFile.owner)
        return environment.map { $0.key + "=" + $0.value }
    }

    /// Appends what one read returns; false at EOF or on an error.
    private static func readChunk(_ descriptor: FileDescriptor, into buffer: inout [UInt8], limit: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        guard let count = try? chunk.withUnsafeMutableBytes({ try descriptor.read(into: $0) }), count > 0 else { return false }
        if buffer.count < limit { buffer.append(contentsOf: chunk[0..<min(count, limit - buffer.count)]) }
        return true
    }

    static func hasCompleteLine(startingWith marker: String, in bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        var searchFrom = text.startIndex
        while let found = text.range(of: marker, range: searchFrom..<text.endIndex) {
            let atLineStart = found.lowerBound == text.startIndex || text[text.index(before: found.lowerBound)] == "\n"
            if atLineStart && text[found.upperBound...].contains("\n") { return true }
            searchFrom = found.upperBound
        }
        return false
    }

    /// The thread ids of a process (/proc/PID/task).
    static func tasks(of pid: pid_t) -> [Int32] {
        ((try? SystemFile.listDirectory(FilePath("/proc/\(pid)/task"))) ?? []).compactMap { Int32($0) }.sorted()
    }
}
