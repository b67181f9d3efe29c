// Parser for the text tracefs prints for kprobe events (the `trace` file of an instance):
//
//   # tracer: nop                                                      (header, '#')
//             daxref-812     [001] d..1.    41.310247: putref: (__put_devmap_managed_page_refs+0x0/0x90) page=0xffffea0004000000 cnt=2 refs=1
//   kworker/u4:2-45      [000] .....    41.5: busy_ret: (ext4_break_layouts+0x4e/0x150 <- dax_layout_busy_page_range) page=0x0 cnt=(fault)
//   CPU:1 [LOST 42 EVENTS]
//
// Columns: task comm (may contain spaces and dashes), thread id, optional "(tgid)" with the
// record-tgid option, [cpu], the latency flags (absent with the irq-info option off), timestamp
// in seconds, event name, the probe site in parentheses ("caller <- function" for return
// probes), then `name=value` fields. Pure functions: tests feed real lines captured in guests.

/// One fetched argument value as printed by tracefs.
public enum KprobeFieldValue: Sendable, Equatable, CustomStringConvertible {
    /// Decimal (s8…s64, u8…u64) or hexadecimal (x8…x64, printed as 0x…) integers, as a bit pattern.
    case integer(Int64)
    /// The memory read failed (`(fault)`): e.g. a NULL page pointer at a return probe.
    case fault
    /// Anything else (string fetches), verbatim.
    case text(String)

    public var description: String {
        switch self {
        case .integer(let value): String(value)
        case .fault: "(fault)"
        case .text(let text): text
        }
    }

    /// The value as an unsigned 64-bit pattern (pointers), if it is an integer.
    public var unsigned: UInt64? {
        if case .integer(let value) = self { return UInt64(bitPattern: value) }
        return nil
    }

    /// The value as a signed integer, if it is one.
    public var signed: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    static func parse(_ text: Substring) -> KprobeFieldValue {
        if text == "(fault)" { return .fault }
        if text.hasPrefix("0x") || text.hasPrefix("0X"), let value = UInt64(text.dropFirst(2), radix: 16) {
            return .integer(Int64(bitPattern: value))
        }
        if let value = Int64(text) { return .integer(value) }
        if let value = UInt64(text) { return .integer(Int64(bitPattern: value)) }  // u64 above Int64.max
        return .text(String(text))
    }
}

/// One kprobe hit as printed in the trace buffer.
public struct KprobeTraceRecord: Sendable, Equatable {
    public var comm: String
    /// The thread id (tracefs calls it pid).
    public var pid: Int32
    public var cpu: Int
    /// Trace clock time in nanoseconds (tracefs prints microseconds with the default `local` clock).
    public var timestampNanoseconds: UInt64
    /// The event (probe) name, without the group.
    public var event: String
    /// The probed function: for an entry probe `SYMBOL+0x0/0xSIZE` gives SYMBOL; for a return
    /// probe `CALLER+off/size <- FUNCTION` gives FUNCTION.
    public var function: String
    /// For return probes, where the function returned to (`CALLER+0x4e/0x150`).
    public var returnSite: String?
    public var fields: [String: KprobeFieldValue]
    /// Field names in the order printed (the order of the fetchargs).
    public var fieldOrder: [String]

    public var isReturn: Bool { returnSite != nil }
    public subscript(field: String) -> KprobeFieldValue? { fields[field] }
}

/// What one line of the trace file is.
public enum KprobeTraceLine: Sendable, Equatable {
    case record(KprobeTraceRecord)
    /// `CPU:N [LOST M EVENTS]`: the per-CPU ring buffer overflowed and dropped M events.
    case lostEvents(cpu: Int, count: Int)
    /// Header lines (`# …`), `##### CPU N buffer started ####` and blank lines.
    case ignored
}

public struct KprobeTraceParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var lineNumber: Int
    public var line: String
    public var reason: String

    public var description: String { "trace line \(lineNumber): \(reason): \(line.prefix(200))" }
}

/// All lines of a trace read: records in order, dropped-event counts, and the lines that could
/// not be parsed (kept, not fatal: one odd line must not lose the rest of the timeline).
public struct KprobeTrace: Sendable, Equatable {
    public var records: [KprobeTraceRecord] = []
    public var lostEvents = 0
    public var errors: [KprobeTraceParseError] = []

    public init(records: [KprobeTraceRecord] = [], lostEvents: Int = 0, errors: [KprobeTraceParseError] = []) {
        self.records = records
        self.lostEvents = lostEvents
        self.errors = errors
    }
}

public enum KprobeTraceParser {
    public static func parse(_ text: String) -> KprobeTrace {
        var trace = KprobeTrace()
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            do {
                switch try parseLine(line) {
                case .record(let record): trace.records.append(record)
                case .lostEvents(_, let count):
                    // Saturating: past Int.max the total only means "very many", and must not trap.
                    let (sum, overflow) = trace.lostEvents.addingReportingOverflow(count)
                    trace.lostEvents = overflow ? .max : sum
                case .ignored: break
                }
            } catch {
                trace.errors.append(KprobeTraceParseError(lineNumber: number, line: String(line), reason: error.reason))
            }
        }
        return trace
    }

    /// The reason part of a parse error (the caller adds the line number).
    public struct Failure: Error, Sendable, Equatable {
        public var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    public static func parseLine(_ raw: Substring) throws(Failure) -> KprobeTraceLine {
        let line = raw.drop(while: { $0 == " " || $0 == "\t" })
        if line.isEmpty || line.first == "#" { return .ignored }
        if line.hasPrefix("CPU:") { return try parseLost(line) }

        // The fixed part "[cpu]" is the anchor: everything before it is "comm-pid [(tgid)]".
        guard let cpuOpen = findCPUColumn(line) else { throw Failure("no [cpu] column") }
        let cpuClose = line[cpuOpen...].firstIndex(of: "]")!
        guard let cpu = Int(line[line.index(after: cpuOpen)..<cpuClose]) else { throw Failure("bad cpu number") }

        var taskPart = line[..<cpuOpen].trimmingSuffixSpaces()
        if taskPart.last == ")", let open = taskPart.lastIndex(of: "(") {  // record-tgid column
            taskPart = taskPart[..<open].trimmingSuffixSpaces()
        }
        guard let dash = taskPart.lastIndex(of: "-"), let pid = Int32(taskPart[taskPart.index(after: dash)...]) else {
            throw Failure("no comm-pid before the cpu column")
        }
        let comm = String(taskPart[..<dash])

        // After "[cpu]": optional latency flags, then "SECONDS.FRACTION: ".
        var rest = line[line.index(after: cpuClose)...].drop(while: { $0 == " " })
        guard let colon = rest.firstIndex(of: ":") else { throw Failure("no timestamp") }
        var words = rest[..<colon].split(separator: " ")
        guard let stampText = words.popLast(), words.count <= 1 else { throw Failure("no timestamp") }
        guard let timestamp = parseTimestamp(stampText) else { throw Failure("bad timestamp '\(stampText)'") }
        rest = rest[rest.index(after: colon)...].drop(while: { $0 == " " })

        // "EVENT: (SITE) fields"
        guard let eventEnd = rest.firstIndex(of: ":") else { throw Failure("no event name") }
        let event = String(rest[..<eventEnd])
        guard !event.isEmpty, !event.contains(" ") else { throw Failure("bad event name '\(event)'") }
        rest = rest[rest.index(after: eventEnd)...].drop(while: { $0 == " " })
        guard rest.first == "(", let siteEnd = rest.firstIndex(of: ")") else {
            throw Failure("no (probe site) after the event name")
        }
        let site = rest[rest.index(after: rest.startIndex)..<siteEnd]
        let (function, returnSite) = try parseSite(site)
        let (fields, order) = try parseFields(rest[rest.index(after: siteEnd)...])
        return .record(KprobeTraceRecord(
            comm: comm, pid: pid, cpu: cpu, timestampNanoseconds: timestamp, event: event,
            function: function, returnSite: returnSite, fields: fields, fieldOrder: order))
    }

    /// "CPU:1 [LOST 42 EVENTS]"
    static func parseLost(_ line: Substring) throws(Failure) -> KprobeTraceLine {
        let words = line.split(separator: " ")
        guard words.count == 4, words[1] == "[LOST", words[3] == "EVENTS]",
            let cpu = Int(words[0].dropFirst(4)), let count = Int(words[2]), count >= 0
        else { throw Failure("unrecognised CPU: line") }
        return .lostEvents(cpu: cpu, count: count)
    }

    /// The '[' of the first " [digits]" group: the CPU column. A comm containing such a group
    /// would fool this; the kernel limits comm to 15 bytes and daxref's own are plain.
    static func findCPUColumn(_ line: Substring) -> Substring.Index? {
        var index = line.startIndex
        while let open = line[index...].firstIndex(of: "[") {
            let digits = line[line.index(after: open)...].prefix(while: \.isASCIIDigit)
            let after = line.index(open, offsetBy: digits.count + 1, limitedBy: line.endIndex)
            if !digits.isEmpty, let after, after < line.endIndex, line[after] == "]",
                open > line.startIndex, line[line.index(before: open)] == " "
            {
                return open
            }
            index = line.index(after: open)
        }
        return nil
    }

    /// "41.310247" → nanoseconds. Accepts 1…9 fraction digits (other trace clocks print more).
    static func parseTimestamp(_ text: Substring) -> UInt64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let seconds = UInt64(parts[0]), (1...9).contains(parts[1].count),
            parts[1].allSatisfy(\.isASCIIDigit), let fraction = UInt64(parts[1])
        else { return nil }
        var scale: UInt64 = 1
        for _ in parts[1].count..<9 { scale *= 10 }
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowSum) = nanoseconds.addingReportingOverflow(fraction * scale)
        return overflow || overflowSum ? nil : total
    }

    /// "free_zone_device_folio+0x0/0x60" → function; "caller+0x4e/0x150 <- func" → (func, caller).
    /// Modules print "sym+0x0/0x40 [ext4]".
    static func parseSite(_ site: Substring) throws(Failure) -> (String, String?) {
        func symbol(_ text: Substring) -> String {
            let trimmed = text.trimmingSuffixSpaces().drop(while: { $0 == " " })
            let noModule = trimmed.split(separator: " ").first ?? trimmed
            return String(noModule.prefix { $0 != "+" })
        }
        if let arrow = site.range(of: " <- ") {
            let function = symbol(site[arrow.upperBound...])
            let caller = site[..<arrow.lowerBound].trimmingSuffixSpaces()
            guard !function.isEmpty else { throw Failure("empty function in return site") }
            return (function, String(caller))
        }
        let function = symbol(site)
        guard !function.isEmpty else { throw Failure("empty probe site") }
        return (function, nil)
    }

    /// " page=0xffffea0004000000 cnt=2 s=\"a b\"" → fields. A word without '=' continues the
    /// previous value (string fetches may contain spaces).
    static func parseFields(_ text: Substring) throws(Failure) -> ([String: KprobeFieldValue], [String]) {
        var raw: [(String, String)] = []
        for word in text.split(separator: " ") {
            if let equals = word.firstIndex(of: "="), equals != word.startIndex,
                word[..<equals].allSatisfy({ $0.isASCIILetterOrDigit || $0 == "_" })
            {
                raw.append((String(word[..<equals]), String(word[word.index(after: equals)...])))
            } else if !raw.isEmpty {
                raw[raw.count - 1].1 += " " + word
            } else {
                throw Failure("field without a name: '\(word)'")
            }
        }
        var fields: [String: KprobeFieldValue] = [:]
        var order: [String] = []
        for (name, value) in raw {
            if fields[name] != nil { throw Failure("field '\(name)' printed twice") }
            fields[name] = KprobeFieldValue.parse(Substring(value))
            order.append(name)
        }
        return (fields, order)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var isASCIILetterOrDigit: Bool { isASCII && (isLetter || isNumber) }
}

extension Substring {
    fileprivate func trimmingSuffixSpaces() -> Substring {
        var result = self
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}
