import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A forked child that works on the parent's mapping in C only (never Swift code after fork): it
/// verifies and/or writes a pattern, reports, and optionally keeps its mapping until released.
/// Killed and reaped (if it can be) when the owner goes away.
struct ForkedChild: ~Copyable {
    let pid: pid_t
    private var reports: OwnedPipe
    /// The parent's end of the release pipe; closing it lets a holding child exit.
    private var release: OwnedPipe?
    private var exit: ExitStatus?

    init(region: UnsafeMutableRawBufferPointer, verify: UInt64?, fill: UInt64?, holdUntilReleased: Bool) throws(Errno) {
        var reports = try OwnedPipe()
        var release: OwnedPipe?
        var releaseRead: CInt = -1, releaseWrite: CInt = -1
        if holdUntilReleased {
            let pipe = try OwnedPipe()
            (releaseRead, releaseWrite) = (pipe.readEnd.rawValue, pipe.writeEnd!.rawValue)
            release = consume pipe
        }
        let pid = CDaxrefShim_fork_memory_child(
            region.baseAddress, region.count, verify == nil ? 0 : 1, verify ?? 0, fill == nil ? 0 : 1, fill ?? 0,
            reports.writeEnd!.rawValue, releaseRead, releaseWrite)
        if pid < 0 { throw Errno(rawValue: -pid) }
        reports.closeWriteEnd()
        self.pid = pid
        self.reports = reports
        self.release = release
    }

    deinit {
        if exit == nil {
            try? ChildProcess.signal(pid, SIGKILL)
            _ = try? ChildProcess.reapIfEnded(pid)
        }
    }

    /// The child's report, or nil if none arrived within `seconds` (or it died first).
    func awaitReport(seconds: Double) -> CDaxrefShim_child_report? {
        var report = CDaxrefShim_child_report()
        let size = MemoryLayout<CDaxrefShim_child_report>.size
        var received = 0
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while received < size {
            let remaining = StepLog.milliseconds(deadline - ContinuousClock.now)
            guard remaining > 0,
                let ready = try? ChildProcess.pollReadable([reports.readEnd], timeoutMilliseconds: Int32(clamping: remaining)),
                ready[0]
            else { return nil }
            let count = withUnsafeMutableBytes(of: &report) { bytes in
                try? reports.readEnd.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[received...]))
            }
            guard let count, count > 0 else { return nil }
            received += count
        }
        return report
    }

    /// Lets a holding child go, and reaps it within `seconds` (SIGKILL after that).
    mutating func releaseAndReap(seconds: Double) -> ExitStatus? {
        release = nil
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if let status = try? ChildProcess.reapIfEnded(pid) {
                exit = status
                return status
            }
            usleep(2000)
        }
        try? ChildProcess.signal(pid, SIGKILL)
        usleep(100_000)
        exit = try? ChildProcess.reapIfEnded(pid)
        return exit
    }
}
