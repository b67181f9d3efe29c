import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// The last line of defence for "no probe is ever left installed": when a signal would end the
// process (Ctrl-C, SIGTERM from a timeout, a Swift runtime trap) or the process calls exit(3)
// with a session still open, remove the session's probes before going on.
//
// A signal handler may only make async-signal-safe calls and must not allocate, so everything
// it needs (paths and the removal commands) is built into one C buffer when the session arms it,
// and the handler only does open/write/close/rmdir/sigaction/raise. SIGKILL and power loss cannot
// be caught: the startup sweep (KprobeSession.sweepStale) removes what such a run left behind.

/// Signals that end the process by default and are caught while a session is armed. Not SIGBUS:
/// DAX workloads provoke SIGBUS on purpose (wrong fault size) and handle it themselves.
private let caughtSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGABRT, SIGILL, SIGTRAP, SIGSEGV, SIGFPE]

/// NUL-separated strings: [0] the instance's events/enable, [1] the instance directory,
/// [2] kprobe_events, [3...] one "-:GROUP/EVENT" removal each.
nonisolated(unsafe) private var armedStrings: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) private var armedStringCount: Int = 0
/// Set to 1 while armed; the handler does nothing when 0.
nonisolated(unsafe) private var armedFlag: Int32 = 0
/// The dispositions replaced by ours, indexed by signal number, restored on disarm or in the handler.
nonisolated(unsafe) private var previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
nonisolated(unsafe) private var replaced: UnsafeMutablePointer<Bool> = {
    let flags = UnsafeMutablePointer<Bool>.allocate(capacity: 65)
    flags.initialize(repeating: false, count: 65)
    return flags
}()
nonisolated(unsafe) private var atexitRegistered = false

private func emergencyRemoveProbes() {
    guard armedFlag == 1, var cursor = armedStrings else { return }
    armedFlag = 0
    let enablePath = cursor
    cursor += strlen(cursor) + 1
    let instancePath = cursor
    cursor += strlen(cursor) + 1
    let eventsPath = cursor
    cursor += strlen(cursor) + 1
    var fd = open(enablePath, O_WRONLY | O_TRUNC | O_CLOEXEC)
    if fd >= 0 {
        _ = write(fd, "0", 1)
        close(fd)
    }
    rmdir(instancePath)
    for _ in 3..<armedStringCount {
        fd = open(eventsPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        if fd >= 0 {
            _ = write(fd, cursor, strlen(cursor))
            close(fd)
        }
        cursor += strlen(cursor) + 1
    }
}

private let kprobeSignalHandler: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
    signal, info, _ in
    emergencyRemoveProbes()
    if signal > 0, signal < 65, replaced[Int(signal)] {
        sigaction(signal, previousActions + Int(signal), nil)
        replaced[Int(signal)] = false
    }
    // A hardware fault (si_code > 0) re-executes the faulting instruction on return and reaches the
    // previous disposition by itself; anything sent (kill, raise, abort) is re-raised: blocked
    // until this handler returns, then delivered to the previous disposition.
    let isFault = signal == SIGSEGV || signal == SIGILL || signal == SIGFPE
    if !(isFault && (info?.pointee.si_code ?? 0) > 0) { raise(signal) }
}

enum KprobeSignalCleanup {
    /// Arms the handlers for one session; replaces any earlier arming.
    static func arm(mountPoint: FilePath, instance: String, group: String, eventNames: [String]) {
        disarm()
        var text: [UInt8] = []
        func add(_ string: String) { text.append(contentsOf: string.utf8); text.append(0) }
        add(mountPoint.appending("instances/\(instance)/events/enable").string)
        add(mountPoint.appending("instances/\(instance)").string)
        add(mountPoint.appending("kprobe_events").string)
        for name in eventNames { add("-:\(group)/\(name)\n") }
        // Intentionally never freed: a handler running on another thread may still read an older
        // buffer after a re-arm. A few hundred bytes per session.
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: text.count)
        text.withUnsafeBytes { raw in
            for (index, byte) in raw.enumerated() { buffer[index] = CChar(bitPattern: byte) }
        }
        armedStrings = buffer
        armedStringCount = 3 + eventNames.count
        armedFlag = 1

        if !atexitRegistered {
            atexitRegistered = true
            atexit { emergencyRemoveProbes() }
        }
        // Still installed below a later handler (see disarm): that one passes the signal on to ours.
        for signal in caughtSignals where !replaced[Int(signal)] {
            var current = sigaction()
            guard sigaction(signal, nil, &current) == 0 else { continue }
            // An ignored signal does not end the process: nothing to clean up for it.
            let handler = unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
            if handler == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            var ours = sigaction()
            ours.__sigaction_handler.sa_sigaction = kprobeSignalHandler
            ours.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigfillset(&ours.sa_mask)  // no second signal interleaves with the cleanup
            previousActions[Int(signal)] = current
            if sigaction(signal, &ours, nil) == 0 { replaced[Int(signal)] = true }
        }
    }

    /// Disarms after a normal close: restores each replaced disposition unless someone else has
    /// installed a handler since (theirs stays). Then ours stays too, below theirs: theirs re-raises
    /// into it (CleanupOwner does), and it must still pass the signal on to what it replaced.
    static func disarm() {
        armedFlag = 0
        for signal in caughtSignals where replaced[Int(signal)] {
            var current = sigaction()
            sigaction(signal, nil, &current)
            let stillOurs = unsafeBitCast(current.__sigaction_handler.sa_sigaction, to: UnsafeRawPointer?.self)
                == unsafeBitCast(kprobeSignalHandler, to: UnsafeRawPointer?.self)
            if stillOurs {
                sigaction(signal, previousActions + Int(signal), nil)
                replaced[Int(signal)] = false
            }
        }
    }

    /// Whether a session is armed.
    static var isArmed: Bool { armedFlag == 1 }

    /// What the handler does, without a signal (tests).
    static func runForTesting() { emergencyRemoveProbes() }
}
