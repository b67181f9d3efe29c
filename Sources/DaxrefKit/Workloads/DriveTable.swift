import SystemPackage

/// The text table `daxref drive` prints: one row per step, the observations that matter most.
extension DriveReport {
    public func renderTable() -> String {
        var table = TextTable("STEP", "STATUS", "SYSCALL", "MS", "OBSERVED")
        for step in steps {
            table.rows.append([step.id, step.status.rawValue, Self.syscallCell(step), Self.durationCell(step), Self.observedCell(step)])
        }
        var lines = ["kernel \(kernel.release)" + (blockTarget.map { ", O_DIRECT target \($0)" } ?? ", no O_DIRECT target"), table.render()]
        let counts = Dictionary(grouping: steps, by: \.status).map { "\($0.value.count) \($0.key.rawValue)" }.sorted()
        lines.append("\(steps.count) steps: " + counts.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// `io_uring_register EOPNOTSUPP`, `ftruncate ok`, or empty for steps without a main syscall.
    static func syscallCell(_ step: StepResult) -> String {
        guard case .text(let name)? = step.observations[.syscallName] else { return "" }
        switch step.observations[.syscallErrno] {
        case .integer(0)?: return name + " ok"
        case .integer(let errno)?: return name + " " + Errno(rawValue: Int32(truncatingIfNeeded: errno)).symbolicName
        default: return name + " (no return)"
        }
    }

    static func durationCell(_ step: StepResult) -> String {
        if case .integer(let ms)? = step.observations[.stepDuration] { return String(ms) }
        return ""
    }

    static func observedCell(_ step: StepResult) -> String {
        let o = step.observations
        var parts: [String] = []
        if case .integer(let size)? = o[.faultSize] { parts.append("fault=" + compactBytes(size)) }
        if case .integer(let signal)? = o[.faultSignal] { parts.append("signal=\(signal)") }
        if case .integer(let signal)? = o[.childFaultSignal] { parts.append("child-signal=\(signal)") }
        if case .integer(let held)? = o[.pipeHeld] { parts.append("held=" + compactBytes(held)) }
        if case .flag(true)? = o[.stepBlocked] {
            var blocked = "BLOCKED"
            if case .integer(let ms)? = o[.stepBlockedDuration] { blocked += " \(ms)ms" }
            if case .text(let wchan)? = o[.taskWchan] { blocked += " wchan=\(wchan)" }
            if case .text(let state)? = o[.taskState] { blocked += " state=\(state)" }
            if case .text(let by)? = o[.stepReleasedBy] { blocked += " released-by=\(by)" }
            parts.append(blocked)
        } else if case .flag(false)? = o[.stepBlocked] {
            parts.append("not-blocked")
        }
        if case .flag(true)? = o[.stepTimedOut] { parts.append("TIMED-OUT") }
        // refcount-timeline: the counts the kernel showed, `-` where a moment did not happen.
        let moments = TimelineWorkload.Moment.allCases.compactMap { moment -> String? in
            switch o[KprobeObservations.refcountKey(moment.rawValue)] {
            case .integer(let count)?: "\(moment.rawValue)=\(count)"
            case .unavailable?: "\(moment.rawValue)=-"
            default: nil
            }
        }
        if !moments.isEmpty { parts.append("refcount " + moments.joined(separator: " ")) }
        if case .integer(let remaining)? = o[.kprobeProbesRemaining], remaining != 0 { parts.append("PROBES-LEFT=\(remaining)") }
        for (key, label) in [(Observable.dataVerified, "verified"), (Observable.dataChildWriteVisible, "child-write-visible"), (Observable.dataRetained, "retained")] {
            if case .flag(let value)? = o[key] { parts.append("\(label)=\(value ? "yes" : "NO")") }
        }
        if step.helperAbandoned { parts.append("helper-abandoned") }
        if let reason = step.reason, step.status != .completed { parts.append(reason) }
        return parts.joined(separator: " ")
    }

    /// 4096 → 4K, 2097152 → 2M, 1073741824 → 1G; other sizes in bytes.
    static func compactBytes(_ bytes: Int64) -> String {
        for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)B"
    }
}

