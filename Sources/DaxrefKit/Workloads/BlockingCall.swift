import CDaxrefShim
import Foundation
import Synchronization
import SystemPackage

/// A syscall on a thread of its own, so the step can watch it block (truncate waiting for a DAX
/// page to go idle) and still go on if it never returns. The thread is never joined.
final class BlockingCall: Sendable {
    struct Ending: Sendable {
        var outcome: Result<Int, Errno>
        var duration: Duration
    }

    private struct State {
        var tid: Int32 = 0
        var ending: Ending?
    }

    private let state = Mutex(State())

    init(_ call: @escaping @Sendable () throws(Errno) -> Int) {
        let thread = Thread { [self] in
            state.withLock { $0.tid = CDaxrefShim_gettid() }
            let start = ContinuousClock.now
            let outcome: Result<Int, Errno>
            do throws(Errno) { outcome = .success(try call()) } catch { outcome = .failure(error) }
            let ending = Ending(outcome: outcome, duration: ContinuousClock.now - start)
            state.withLock { $0.ending = ending }
        }
        thread.start()
        while tid == 0 { usleep(100) }
    }

    var tid: Int32 { state.withLock { $0.tid } }
    var ending: Ending? { state.withLock { $0.ending } }

    /// Waits up to `seconds` for the call to return; nil if it is still running.
    func wait(seconds: Double) -> Ending? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            if let ending { return ending }
            if ContinuousClock.now >= deadline { return nil }
            usleep(2000)
        }
    }
}

/// One watched call of a step: started on another thread, sampled if it blocks, released by the
/// workload's own actions (`release(by:)` after each), and recorded by `finish`.
struct WatchedCall {
    let name: Syscall
    private let call: BlockingCall
    private let releaseWait: Double
    private(set) var wasBlocked = false
    private var releasedBy: String?

    /// Samples taken while blocked, this far apart: enough to see that the wait is stable.
    static let sampleCount = 3
    static let sampleInterval: useconds_t = 100_000

    init(_ name: Syscall, request: StepRequest, log: inout StepLog, _ body: @escaping @Sendable () throws(Errno) -> Int) {
        self.name = name
        releaseWait = request.releaseWait
        call = BlockingCall(body)
        guard call.wait(seconds: request.blockWait) == nil else { return }
        wasBlocked = true
        let pid = getpid()
        var first: TaskWait?
        for index in 0..<Self.sampleCount {
            if index > 0 { usleep(Self.sampleInterval) }
            let sample = log.sample(pid: pid, tid: call.tid)
            if first == nil, let wait = sample.wait, call.ending == nil { first = wait }
        }
        // The task.* keys exactly as the observer records them.
        for (key, value) in first?.observations.values ?? [:] { log[key] = value }
        log.checkpoint(.blocked, tid: call.tid)
    }

    var isRunning: Bool { call.ending == nil }

    /// After a release action (taken because the call was still running): waits for the call to
    /// return, and credits `action` if it does. The first action that works gets the credit.
    mutating func release(by action: String) {
        guard releasedBy == nil else { return }
        if call.wait(seconds: releaseWait) != nil { releasedBy = action }
    }

    func finish(_ log: inout StepLog) {
        log[.stepBlocked] = .flag(wasBlocked)
        if let ending = call.ending {
            log.syscall(name, ending.outcome, duration: ending.duration)
            log[.stepBlockedDuration] = .integer(StepLog.milliseconds(ending.duration))
            log[.stepTimedOut] = .flag(false)
            // Blocked, then returned before any release action: it only needed more time.
            if wasBlocked { log[.stepReleasedBy] = .text(releasedBy ?? "itself") }
        } else {
            log[.syscallName] = .text(name.rawValue)
            log[.stepTimedOut] = .flag(true)
            log[.stepReleasedBy] = .text("none")
            _ = log.sample(pid: getpid(), tid: call.tid)
            log.markTaskStuck()
        }
    }
}
