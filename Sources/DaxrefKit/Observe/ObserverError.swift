import SystemPackage

/// Why an observer could not produce a record. Parsers throw `.malformed`; the readers of live files
/// add `.unreadable` (with the typed `Errno`, so "absent" can be told from "not allowed").
public enum ObserverError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Opening or reading the file failed.
    case unreadable(path: String, Errno)
    /// The content does not have the format the kernel prints. `line` is 1-based; 0 when the input
    /// is not line-oriented (pagemap bytes) or the problem is the input as a whole (empty file).
    case malformed(source: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let errno): "cannot read \(path): \(errno)"
        case .malformed(let source, 0, let reason): "\(source): \(reason)"
        case .malformed(let source, let line, let reason): "\(source) line \(line): \(reason)"
        }
    }

    /// Reads a /proc or /sys file as text, mapping the `Errno` to `.unreadable(path)`.
    static func readText(_ path: FilePath) throws(ObserverError) -> String {
        do { return try SystemFile.readString(path) } catch { throw .unreadable(path: path.string, error) }
    }
}

/// A number the kernel printed in a `Name: value [kB]` file (smaps, meminfo, status, node meminfo).
/// The unit is kept because the same file mixes both (meminfo `HugePages_Total` is a page count).
public struct ProcQuantity: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Unit: String, Codable, Sendable {
        case kilobytes = "kB"
        /// Printed without a unit: a count or a plain number (`THPeligible`, `HugePages_Free`).
        case none = ""
    }

    public var value: Int64
    public var unit: Unit

    public init(_ value: Int64, _ unit: Unit) {
        self.value = value
        self.unit = unit
    }

    public var description: String { unit == .none ? String(value) : "\(value) \(unit.rawValue)" }
}

/// Small, strict helpers for the kernel's text formats. Strict means: a field that should be a
/// number and is not makes the whole parse fail with a line number, instead of becoming 0.
enum ProcText {
    /// Non-empty lines with their 1-based line numbers.
    static func lines(_ text: String) -> [(number: Int, text: Substring)] {
        var result: [(Int, Substring)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            result.append((index + 1, line))
        }
        return result
    }

    /// Whitespace-separated fields (spaces and tabs).
    static func fields(_ line: Substring) -> [Substring] {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    }

    static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// Hexadecimal with or without a `0x` prefix (maps addresses have none, sysfs `resource` has one).
    static func hex(_ text: Substring) -> UInt64? {
        let digits = text.hasPrefix("0x") ? text.dropFirst(2) : text
        guard !digits.isEmpty else { return nil }
        return UInt64(digits, radix: 16)
    }

    /// A signed decimal as the kernel prints `long` counters; `%lu` counters that drifted below zero
    /// (per-cpu vmstat deltas) print as huge unsigned numbers and are kept as the negative value they are.
    static func counter(_ text: Substring) -> Int64? {
        if text.hasPrefix("-") { return decimal(text.dropFirst()).flatMap { Int64(exactly: $0) }.map { -$0 } }
        return decimal(text).map { Int64(bitPattern: $0) }
    }

    /// Splits `Name:   1234 kB` into the name and the rest (trimmed). nil without a colon or name.
    static func colonField(_ line: Substring) -> (name: Substring, value: Substring)? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let name = line[..<colon]
        guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" }) else { return nil }
        return (name, trimmed(line[line.index(after: colon)...]))
    }

    /// `1234 kB` or `1234` as a quantity; nil for anything else.
    static func quantity(_ value: Substring) -> ProcQuantity? {
        let parts = fields(value)
        switch parts.count {
        case 1: return counter(parts[0]).map { ProcQuantity($0, .none) }
        case 2 where parts[1] == "kB": return counter(parts[0]).map { ProcQuantity($0, .kilobytes) }
        default: return nil
        }
    }

    static func trimmed(_ text: Substring) -> Substring {
        var result = text
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
