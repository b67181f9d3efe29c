import CDaxrefShim
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The one owner of "undo what this process created" when SIGINT, SIGTERM or SIGHUP ends it.
///
/// Code that creates something outside the process (a helper, QEMU, a run directory, scratch files)
/// registers an action and keeps the returned `CleanupRegistration`; dropping it unregisters (the
/// normal path cleans up by itself). On one of those signals:
/// - the signal handler (C, `CDaxrefShim_signal_to_pipe`) only writes the signal number to a pipe;
/// - a dedicated thread reads it, runs the registered actions newest first (a helper is killed
///   before the files it may still be writing are swept), restores the disposition that was there
///   before and re-raises the signal, so the exit status is the signal's.
/// While that runs, other threads that register, unregister or exit park instead: nothing they free
/// can be reused (a reaped pid) under an action, and `exit` cannot race the re-raise.
///
/// Handlers are installed on the first registration only, so a helper that registers nothing gets
/// no extra thread. A disposition installed on top later (KprobeSignalCleanup) runs first and then
/// re-raises into this one; one installed below runs after the actions.
/// SIGKILL cannot be caught: what that leaves, the next run's sweeps remove (`RunDirectory.removeStale`,
/// `ScratchFile.sweepStale`, `KprobeSession.sweepStale`).
public final class CleanupOwner: Sendable {
    public static let shared = CleanupOwner()

    /// The signals that end a run on purpose (Ctrl-C, `kill`, `timeout`, a closed terminal).
    public static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    struct Entry: Sendable {
        let id: UInt64
        let what: String
        let action: @Sendable () -> Void
    }

    struct State: Sendable {
        var nextID: UInt64 = 1
        var entries: [Entry] = []
        /// The signal being handled; set once, never cleared (the process is ending).
        var terminating: Int32?
        var installed = false
        /// What each caught signal's disposition was before ours, by signal number.
        var previous: [Int32: sigaction] = [:]
    }

    private let state = Mutex(State())

    private init() {}

    /// Registers `action` (bounded: it runs while the process is being ended) until the returned
    /// registration is dropped. `what` names it in the one line printed when it runs.
    public func register(_ what: String, _ action: @escaping @Sendable () -> Void) -> CleanupRegistration {
        // An action that spawns (ndctl restoring a namespace) registers its helper: nothing to own.
        if Self.isCleanupThread { return CleanupRegistration(owner: self, id: 0) }
        installHandlers()
        let id: UInt64? = state.withLock { state in
            guard state.terminating == nil else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.entries.append(Entry(id: id, what: what, action: action))
            return id
        }
        guard let id else {
            // Created while the process is already being ended: undo it now and wait for the end.
            action()
            Self.parkUntilTheEnd()
        }
        return CleanupRegistration(owner: self, id: id)
    }

    fileprivate func unregister(_ id: UInt64) {
        guard id != 0 else { return }
        let ending = state.withLock { state in
            guard state.terminating == nil else { return true }
            state.entries.removeAll { $0.id == id }
            return false
        }
        if ending { Self.parkUntilTheEnd() }
    }

    /// What is registered now, oldest first (tests, diagnostics).
    public var registered: [String] { state.withLock { $0.entries.map(\.what) } }

    /// The signal being handled, once one arrived.
    public var terminatingSignal: Int32? { state.withLock { $0.terminating } }

    // MARK: signals

    /// Installs the handlers and starts the thread, once. Signals that are ignored (nohup, a
    /// background job's SIGINT) stay ignored: they do not end the process, so there is nothing to do.
    public func installHandlers() {
        let (needed, readEnd): (Bool, Int32) = state.withLock { state in
            guard !state.installed else { return (false, -1) }
            state.installed = true
            var fds: [Int32] = [-1, -1]
            guard CDaxrefShim_pipe_cloexec(&fds) == 0 else { return (false, -1) }
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)  // a flood of signals must not block a handler
            CDaxrefShim_signal_pipe_set(fds[1])
            for signal in Self.signals {
                var current = sigaction()
                guard sigaction(signal, nil, &current) == 0 else { continue }
                if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                    continue
                }
                var ours = sigaction()
                ours.__sigaction_handler.sa_handler = CDaxrefShim_signal_to_pipe
                ours.sa_flags = SA_RESTART
                sigemptyset(&ours.sa_mask)
                if sigaction(signal, &ours, nil) == 0 { state.previous[signal] = current }
            }
            return (true, fds[0])
        }
        guard needed else { return }
        signalPipeReadEnd.store(readEnd, ordering: .releasing)
        atexit { CleanupOwner.shared.parkIfEnding() }
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { _ in
            cleanupThread.store(UInt(pthread_self()), ordering: .releasing)
            CleanupOwner.shared.readSignals(from: signalPipeReadEnd.load(ordering: .acquiring))
            return nil
        }, nil)
        if created == 0 { pthread_detach(thread) }
    }

    private func readSignals(from descriptor: Int32) {
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            if count == 1 { handle(Int32(byte)) } else if count < 0, errno == EINTR { continue } else { return }
        }
    }

    /// Runs the actions once, then ends the process with `signal` as the handler before ours would.
    func handle(_ signal: Int32) {
        let entries: [Entry]? = state.withLock { state in
            guard state.terminating == nil else { return nil }  // a second signal while cleaning up
            state.terminating = signal
            return state.entries
        }
        guard let entries else { return }
        if !entries.isEmpty {
            let line = "daxref: \(Self.name(of: signal)): cleaning up: " + entries.reversed().map(\.what).joined(separator: ", ") + "\n"
            _ = try? FileDescriptor.standardError.writeAll(Array(line.utf8))
        }
        for entry in entries.reversed() { entry.action() }
        var previous = state.withLock { $0.previous[signal] } ?? sigaction()
        sigaction(signal, &previous, nil)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(signal)
        // The previous disposition was a handler that returned: end as the signal would have.
        _exit(128 + signal)
    }

    private static var isCleanupThread: Bool {
        let thread = cleanupThread.load(ordering: .acquiring)
        return thread != 0 && thread == UInt(pthread_self())
    }

    private func parkIfEnding() {
        if terminatingSignal != nil { Self.parkUntilTheEnd() }
    }

    /// The cleanup thread ends the process; this thread only waits for that.
    private static func parkUntilTheEnd() -> Never {
        while true { pause() }
    }

    public static func name(of signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        case SIGKILL: "SIGKILL"
        default: "signal \(signal)"
        }
    }
}

/// The read end of the signal pipe, for the cleanup thread (a C thread entry cannot capture it).
private let signalPipeReadEnd = Atomic<Int32>(-1)
/// The cleanup thread's pthread_t, once it runs.
private let cleanupThread = Atomic<UInt>(0)

/// One registered cleanup action; unregisters when dropped. Move-only, so exactly one owner
/// decides when the action is no longer needed.
public struct CleanupRegistration: ~Copyable {
    private let owner: CleanupOwner
    private let id: UInt64

    fileprivate init(owner: CleanupOwner, id: UInt64) {
        self.owner = owner
        self.id = id
    }

    deinit { owner.unregister(id) }

    /// Unregisters now (the same as dropping it, said explicitly where the lifetime is not lexical).
    public consuming func end() {}
}

/// Whether a process is still running: not gone and not a zombie (a killed child stays a zombie
/// until its parent reaps it, but it holds nothing any more).
public enum ProcessLiveness {
    public static func isRunning(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno == ESRCH { return false }
        guard let stat = try? SystemFile.readString(FilePath("/proc/\(pid)/stat")),
            let close = stat.lastIndex(of: ")")
        else { return kill(pid, 0) == 0 || errno == EPERM }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    /// The parent pid from /proc/PID/stat; nil if the process is gone.
    public static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? SystemFile.readString(FilePath("/proc/\(pid)/stat")),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// Polls until `pid` is no longer running, at most `timeout` seconds; whether it ended.
    @discardableResult
    public static func waitUntilEnded(_ pid: pid_t, timeout: Double) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while isRunning(pid) {
            if ContinuousClock.now > deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Ends a child of this process: SIGTERM (so a daxref child can clean up after itself), then
    /// SIGKILL after `grace` seconds. Does not reap: its owner may be waiting on it. A pid that is no
    /// longer our child (reaped, and reused) is left alone.
    public static func terminateChild(_ pid: pid_t, grace: Double = 2) {
        guard parent(of: pid) == getpid() else { return }
        kill(pid, SIGTERM)
        if waitUntilEnded(pid, timeout: grace) { return }
        kill(pid, SIGKILL)
        waitUntilEnded(pid, timeout: grace)
    }
}
