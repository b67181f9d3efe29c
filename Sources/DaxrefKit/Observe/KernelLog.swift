import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One /dev/kmsg record (Documentation/ABI/testing/dev-kmsg):
/// `<prio>,<seq>,<usec>,<flags>[,…];<message>` then optional ` KEY=value` continuation lines.
public struct KernelLogRecord: Codable, Sendable, Equatable {
    /// syslog priority: facility * 8 + level.
    public var priority: Int
    public var sequence: UInt64
    /// Microseconds since boot.
    public var timestamp: UInt64
    /// `-`, or `c` for a continuation on old kernels.
    public var flags: String
    /// The message with the kernel's `\xNN` escapes of non-printable bytes left as they are.
    public var message: String
    /// Continuation lines (`SUBSYSTEM=`, `DEVICE=`).
    public var dictionary: [String: String]

    public var level: Int { priority & 7 }

    public static func parse(_ text: String) throws(ObserverError) -> KernelLogRecord {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes) }
    }

    static func parse(_ text: ProcBytes) throws(ObserverError) -> KernelLogRecord {
        func bad(_ reason: String) -> ObserverError { .malformed(source: "kmsg", line: 1, reason: reason) }
        let lines = text.split(UInt8(ascii: "\n"))
        let first = lines[0]
        guard let semicolon = first.firstIndex(of: UInt8(ascii: ";")) else { throw bad("no `prefix;message`") }
        let prefix = first.prefix(upTo: semicolon).split(UInt8(ascii: ","))
        guard prefix.count >= 4, let priority = prefix[0].decimal.flatMap(Int.init(exactly:)),
            let sequence = prefix[1].decimal, let timestamp = prefix[2].decimal
        else { throw bad("prefix \"\(first.prefix(upTo: semicolon).string)\" is not `prio,seq,usec,flags`") }
        var dictionary: [String: String] = [:]
        for line in lines.dropFirst() where line.hasPrefix(" ") {
            let pair = line.suffix(from: 1)
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                dictionary[pair.prefix(upTo: equals).string] = pair.suffix(from: equals + 1).string
            }
        }
        return KernelLogRecord(
            priority: priority, sequence: sequence, timestamp: timestamp, flags: prefix[3].string,
            message: first.suffix(from: semicolon + 1).string, dictionary: dictionary)
    }

    /// Records read one after another and saved together (a fixture, `cat /dev/kmsg`): each starts
    /// at a line that does not begin with a space; continuation lines belong to the record above.
    public static func parseDump(_ text: String) throws(ObserverError) -> [KernelLogRecord] {
        var chunks: [[Substring]] = []
        for line in text.split(separator: "\n") {
            if line.first == " ", !chunks.isEmpty { chunks[chunks.count - 1].append(line) } else { chunks.append([line]) }
        }
        var records: [KernelLogRecord] = []
        var lineNumber = 1
        for chunk in chunks {
            do { records.append(try parse(chunk.joined(separator: "\n"))) } catch {
                throw .malformed(source: "kmsg", line: lineNumber, reason: "record does not parse: \(error)")
            }
            lineNumber += chunk.count
        }
        return records
    }
}

/// The kernel faults in a stretch of log: WARN, BUG and oops headlines, each reduced to where it
/// happened, plus all raw lines as evidence.
/// What a kernel log message announces.
public enum KernelFault: String, Codable, Sendable {
    case panic, oops, bug, warning
    /// A CPU or task that stopped making progress: a soft or hard lockup (kernel/watchdog.c), an RCU
    /// stall (kernel/rcu/tree_stall.h) or a task blocked past hung_task_timeout_secs
    /// (kernel/hung_task.c). Not an end in itself: a stalled guest is found by its deadline, and
    /// this says where it stalled.
    case stall
}

public struct KernelLogFindings: Codable, Sendable, Equatable {
    /// `file:line function` of each WARN (`fs/dax.c:398 dax_disassociate_entry`); just the function
    /// (or the whole headline) when the kernel printed no file.
    public var warnings: [String] = []
    /// `file:line` of each `kernel BUG at`, or the text after `BUG: ` (`Bad page state in process …`).
    public var bugs: [String] = []
    /// Each die() banner (`Oops: 0000 [#1] PREEMPT SMP NOPTI`) with the function of the next `RIP:`.
    public var oopses: [String] = []
    public var lines: [String] = []
    /// Records the ring buffer overwrote before they were read (a gap in sequence numbers or EPIPE).
    public var lost: Int = 0

    public init() {}

    /// Classifies records in order. A banner's `RIP:` comes in a later record, so an oops is completed
    /// by the first RIP line after it.
    public static func scan(_ records: [KernelLogRecord], lost: Int = 0) -> KernelLogFindings {
        var findings = KernelLogFindings()
        findings.lost = lost
        var oopsAwaitingRIP: Int?
        var previousSequence: UInt64?
        for record in records {
            // Checked: a sequence number near UInt64.max (corrupt or hostile input) must not trap.
            if let previous = previousSequence, record.sequence > previous, record.sequence - previous > 1 {
                let (sum, overflow) = findings.lost.addingReportingOverflow(Int(clamping: record.sequence - previous - 1))
                findings.lost = overflow ? .max : sum
            }
            previousSequence = record.sequence
            let message = record.message
            findings.lines.append(message)
            let fault = fault(in: message)
            if fault == .warning {
                findings.warnings.append(warningLocation(message))
            } else if fault == .bug, message.hasPrefix("kernel BUG at ") {
                let location = message.dropFirst("kernel BUG at ".count)
                findings.bugs.append(String(location.hasSuffix("!") ? location.dropLast() : location))
            } else if fault == .bug {
                findings.bugs.append(String(message.dropFirst("BUG: ".count)))
            }
            if fault == .oops {
                findings.oopses.append(message)
                oopsAwaitingRIP = findings.oopses.count - 1
            } else if let index = oopsAwaitingRIP, let rip = message.range(of: "RIP: ") {
                // "RIP: 0010:walk_pgd_range+0x3a5/0x8e0" → "walk_pgd_range"
                let target = message[rip.upperBound...]
                let symbol = target.split(separator: ":").last.map { functionName($0) } ?? ""
                findings.oopses[index] += " at " + symbol
                oopsAwaitingRIP = nil
            }
        }
        return findings
    }

    public var observations: Observations {
        var result = Observations()
        result[.dmesgWarnings] = .list(warnings.map(ObservedValue.text))
        result[.dmesgBugs] = .list(bugs.map(ObservedValue.text))
        result[.dmesgOopses] = .list(oopses.map(ObservedValue.text))
        result[.dmesgLines] = .list(lines.map(ObservedValue.text))
        result[.dmesgLost] = .integer(Int64(lost))
        return result
    }

    /// The one classifier of kernel messages, for /dev/kmsg records and the VM's serial console alike.
    public static func fault(in message: String) -> KernelFault? {
        if message.hasPrefix("Kernel panic - not syncing") { return .panic }
        if isDieBanner(message) { return .oops }
        if message.hasPrefix("kernel BUG at ") || message.hasPrefix("BUG: ") { return .bug }
        if message.hasPrefix("WARNING:") { return .warning }
        if isStall(message) { return .stall }
        return nil
    }

    /// The headlines of kernel/watchdog.c ("watchdog: BUG: soft lockup - CPU#1 stuck for 22s!",
    /// "watchdog: Watchdog detected hard LOCKUP on cpu 1"), kernel/rcu/tree_stall.h ("rcu: INFO:
    /// rcu_preempt self-detected stall on CPU", "… detected stalls on CPUs/tasks:") and
    /// kernel/hung_task.c ("INFO: task daxref:353 blocked for more than 120 seconds.").
    static func isStall(_ message: String) -> Bool {
        message.hasPrefix("watchdog: BUG: soft lockup") || message.hasPrefix("watchdog: Watchdog detected hard LOCKUP")
            || (message.hasPrefix("rcu: INFO: ") && message.contains(" stall"))
            || (message.hasPrefix("INFO: task ") && message.contains(" blocked for more than "))
    }

    /// The die() banner: `<str>: <4 hex> [#<n>]…` (6.1: "Oops: 0000 [#1] PREEMPT SMP NOPTI",
    /// "invalid opcode: 0000 [#1]"; newer kernels prefix "Oops: " to the trap name).
    static func isDieBanner(_ message: String) -> Bool {
        guard let marker = message.range(of: " [#") else { return false }
        let before = message[..<marker.lowerBound]
        guard before.count >= 6 else { return false }
        let code = before.suffix(4)
        return code.allSatisfy(\.isHexDigit) && before.dropLast(4).hasSuffix(": ")
            && message[marker.upperBound...].prefix(while: \.isNumber).count > 0
    }

    /// `WARNING: CPU: 0 PID: 1 at fs/dax.c:398 dax_disassociate_entry+0x5c/0x70 [mod]` →
    /// `fs/dax.c:398 dax_disassociate_entry`. Token-based so that other headline orders still work.
    static func warningLocation(_ message: String) -> String {
        let tokens = message.split(separator: " ")
        let fileLine = tokens.first { token in
            guard let colon = token.lastIndex(of: ":") else { return false }
            let file = token[..<colon]
            let line = token[token.index(after: colon)...]
            return file.contains(".") && !line.isEmpty && line.allSatisfy(\.isNumber)
        }
        let function = tokens.first { $0.contains("+0x") }.map { functionName($0) }
        switch (fileLine, function) {
        case let (fileLine?, function?): return "\(fileLine) \(function)"
        case let (fileLine?, nil): return String(fileLine)
        case let (nil, function?): return function
        case (nil, nil): return message
        }
    }

    /// `dax_disassociate_entry+0x5c/0x70,` → `dax_disassociate_entry`.
    static func functionName(_ token: Substring) -> String {
        String(token.prefix { $0 != "+" && $0 != "," && $0 != " " })
    }
}

/// A read position in /dev/kmsg, opened at the end: `readNew()` returns what the kernel logged since
/// the cursor was opened or last read. Owns the descriptor; it is closed when the cursor goes away.
public struct KernelLogCursor: ~Copyable {
    private let fd: FileDescriptor
    public static let path: FilePath = "/dev/kmsg"

    /// Opens /dev/kmsg non-blocking and moves to the end (SEEK_END: "the next record to be written").
    public init() throws(ObserverError) {
        let opened: FileDescriptor
        do {
            opened = try withTypedErrno { try FileDescriptor.open(Self.path, .readOnly, options: [.nonBlocking, .closeOnExec]) }
        } catch {
            throw .unreadable(path: Self.path.string, error)
        }
        do {
            _ = try withTypedErrno { try opened.seek(offset: 0, from: .end) }
        } catch {
            try? opened.close()
            throw .unreadable(path: Self.path.string, error)
        }
        fd = opened
    }

    deinit { try? fd.close() }

    /// Every record logged since the last read. One read() returns one record; EAGAIN means no more,
    /// EPIPE means records were overwritten before we read them (counted in `lost`, reading goes on).
    public func readNew() throws(ObserverError) -> KernelLogFindings {
        var records: [KernelLogRecord] = []
        var lost = 0
        var buffer = [UInt8](repeating: 0, count: 16384)  // > CONSOLE_EXT_LOG_MAX (8 KiB), or read() fails EINVAL
        while true {
            let count: Int
            do {
                count = try withTypedErrno { try buffer.withUnsafeMutableBytes { try fd.read(into: $0) } }
            } catch .resourceTemporarilyUnavailable {
                break
            } catch .brokenPipe {
                lost += 1
                continue
            } catch {
                throw .unreadable(path: Self.path.string, error)
            }
            if count == 0 { break }
            // The record format is ABI; a record that still does not parse is counted as lost
            // rather than failing the whole log.
            let record = buffer.withUnsafeBufferPointer { bytes in
                try? KernelLogRecord.parse(ProcBytes(bytes.baseAddress!, count))
            }
            if let record {
                records.append(record)
            } else {
                lost += 1
            }
        }
        return KernelLogFindings.scan(records, lost: lost)
    }
}
