import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

    /// Opens a /proc or /sys file read-only, mapping the `Errno` to `.unreadable(path)`. The path is a
    /// String handed to swift-system as a C string: building a `FilePath` normalizes it (and checks it,
    /// in a debug build), which was about a tenth of a checkpoint's time over its ~20 opens.
    static func open(_ path: String) throws(ObserverError) -> FileDescriptor {
        do {
            return try withTypedErrno { try path.withCString { try FileDescriptor.open($0, .readOnly, options: [.closeOnExec]) } }
        } catch { throw .unreadable(path: path, error) }
    }

    /// Reads a /proc or /sys file. Parsers take the bytes as they are (see `ProcBytes`); no `String`
    /// is made of the whole file.
    static func readBytes(_ path: String) throws(ObserverError) -> [UInt8] {
        let fd = try open(path)
        defer { try? fd.close() }
        do { return try SystemFile.readAll(fd) } catch { throw .unreadable(path: path, error) }
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

/// Bytes of a kernel text file being parsed (the file, a line, a field of a line), with small,
/// strict readers for the kernel's formats. Strict means: a field that should be a number and is
/// not makes the whole parse fail with a line number, instead of becoming 0.
///
/// Parsing works on UTF-8 bytes, never on `Character`s or `Substring`s: grapheme breaking and
/// unspecialized generic collection code made one smaps parse cost about a second per checkpoint
/// in a TCG guest. Whitespace is the kernel's (`isspace`: space, \t \n \v \f \r), not Unicode's.
///
/// A `ProcBytes` points into storage that `ProcBytes.with` keeps alive only during its closure;
/// it must not escape it.
struct ProcBytes {
    let start: UnsafePointer<UInt8>
    let count: Int

    init(_ start: UnsafePointer<UInt8>, _ count: Int) {
        self.start = start
        self.count = count
    }

    /// Runs `body` on the UTF-8 bytes of `text`.
    static func with<Result, Failure: Error>(_ text: String, _ body: (ProcBytes) throws(Failure) -> Result) throws(Failure) -> Result {
        var text = text
        let outcome = text.withUTF8 { buffer in Swift.Result { () throws(Failure) -> Result in try body(ProcBytes(buffer)) } }
        return try outcome.get()
    }

    /// Runs `body` on `bytes`.
    static func with<Result, Failure: Error>(_ bytes: [UInt8], _ body: (ProcBytes) throws(Failure) -> Result) throws(Failure) -> Result {
        let outcome = bytes.withUnsafeBufferPointer { buffer in Swift.Result { () throws(Failure) -> Result in try body(ProcBytes(buffer)) } }
        return try outcome.get()
    }

    private init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.init(buffer.baseAddress ?? UnsafePointer(Self.emptyStorage), buffer.count)
    }

    /// Where an empty buffer (which may have no address) points.
    private nonisolated(unsafe) static let emptyStorage = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

    // MARK: bytes and slices

    subscript(index: Int) -> UInt8 { start[index] }
    var isEmpty: Bool { count == 0 }
    var string: String { String(decoding: UnsafeBufferPointer(start: start, count: count), as: UTF8.self) }

    /// Bytes `from..<to`.
    func slice(_ from: Int, _ to: Int) -> ProcBytes { ProcBytes(start + from, to - from) }
    func prefix(upTo index: Int) -> ProcBytes { ProcBytes(start, index) }
    func suffix(from index: Int) -> ProcBytes { ProcBytes(start + index, count - index) }
    /// What follows `part`, a slice of these bytes.
    func suffix(after part: ProcBytes) -> ProcBytes { suffix(from: part.start + part.count - start) }

    func firstIndex(of byte: UInt8) -> Int? {
        guard count > 0, let found = memchr(start, Int32(byte), count) else { return nil }
        return UnsafeRawPointer(found) - UnsafeRawPointer(start)
    }

    func lastIndex(of byte: UInt8) -> Int? {
        var index = count - 1
        while index >= 0 {
            if start[index] == byte { return index }
            index -= 1
        }
        return nil
    }

    func contains(_ byte: UInt8) -> Bool { firstIndex(of: byte) != nil }

    func hasPrefix(_ literal: StaticString) -> Bool {
        literal.utf8CodeUnitCount <= count && memcmp(start, literal.utf8Start, literal.utf8CodeUnitCount) == 0
    }

    func hasSuffix(_ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        return length <= count && memcmp(start + (count - length), literal.utf8Start, length) == 0
    }

    static func == (bytes: ProcBytes, literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && bytes.hasPrefix(literal)
    }

    // MARK: lines and fields

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }

    // Whitespace is the kernel's `isspace` (space, \t \n \v \f \r); fields are separated by space
    // and tab. The loops test bytes inline rather than calling a helper: in a debug build every call
    // costs a frame (and a memset of it), per byte.

    /// Calls `body` with each line that is not blank and its 1-based line number.
    func forEachLine<Failure: Error>(_ body: (_ number: Int, _ line: ProcBytes) throws(Failure) -> Void) throws(Failure) {
        var number = 0
        var lineStart = 0
        while lineStart <= count {
            number += 1
            let lineEnd = suffix(from: lineStart).firstIndex(of: 0x0a).map { lineStart + $0 } ?? count
            var index = lineStart
            while index < lineEnd {
                let byte = start[index]
                guard byte == 0x20 || (byte >= 0x09 && byte <= 0x0d) else { break }
                index += 1
            }
            if index < lineEnd { try body(number, slice(lineStart, lineEnd)) }
            lineStart = lineEnd + 1
        }
    }

    /// The space/tab-separated field that starts at or after `index`; `index` moves past it.
    func field(after index: inout Int) -> ProcBytes? {
        var position = index
        while position < count, start[position] == 0x20 || start[position] == 0x09 { position += 1 }
        guard position < count else {
            index = position
            return nil
        }
        let fieldStart = position
        while position < count, start[position] != 0x20, start[position] != 0x09 { position += 1 }
        index = position
        return slice(fieldStart, position)
    }

    /// Space/tab-separated fields.
    var fields: [ProcBytes] {
        var result: [ProcBytes] = []
        var index = 0
        while let field = field(after: &index) { result.append(field) }
        return result
    }

    /// Parts between `separator`s, empty ones included (`a::b` is three parts).
    func split(_ separator: UInt8) -> [ProcBytes] {
        var result: [ProcBytes] = []
        var partStart = 0
        var index = 0
        while index < count {
            if start[index] == separator {
                result.append(slice(partStart, index))
                partStart = index + 1
            }
            index += 1
        }
        result.append(slice(partStart, count))
        return result
    }

    var trimmed: ProcBytes {
        var low = 0
        var high = count
        while low < high, start[low] == 0x20 || (start[low] >= 0x09 && start[low] <= 0x0d) { low += 1 }
        while high > low, start[high - 1] == 0x20 || (start[high - 1] >= 0x09 && start[high - 1] <= 0x0d) { high -= 1 }
        return slice(low, high)
    }

    // MARK: numbers

    /// Decimal digits only (no sign, no space); nil when empty, not digits, or above UInt64.max.
    var decimal: UInt64? {
        guard count > 0 else { return nil }
        var value: UInt64 = 0
        var index = 0
        while index < count {
            let digit = start[index] &- 0x30
            guard digit <= 9 else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        return value
    }

    /// Hexadecimal with or without a `0x` prefix (maps addresses have none, sysfs `resource` has one).
    var hex: UInt64? {
        let digits = hasPrefix("0x") ? suffix(from: 2) : self
        guard digits.count > 0 else { return nil }
        var value: UInt64 = 0
        var index = 0
        while index < digits.count {
            // Comparisons, not `case 0x30...0x39`: range patterns go through generic code in a debug build.
            let byte = digits[index]
            let digit: UInt8
            if byte >= 0x30 && byte <= 0x39 {
                digit = byte - 0x30
            } else if byte >= 0x61 && byte <= 0x66 {
                digit = byte - 0x61 + 10
            } else if byte >= 0x41 && byte <= 0x46 {
                digit = byte - 0x41 + 10
            } else {
                return nil
            }
            guard value >> 60 == 0 else { return nil }
            value = value << 4 | UInt64(digit)
            index += 1
        }
        return value
    }

    /// A signed decimal as the kernel prints `long` counters; `%lu` counters that drifted below zero
    /// (per-cpu vmstat deltas) print as huge unsigned numbers and are kept as the negative value they are.
    var counter: Int64? {
        if hasPrefix("-") { return suffix(from: 1).decimal.flatMap { Int64(exactly: $0) }.map { -$0 } }
        return decimal.map { Int64(bitPattern: $0) }
    }

    /// `<hex><separator><hex>` (`7f00-8f00`, `fd:01`), with exactly one separator.
    func pair(separator: UInt8) -> (UInt64, UInt64)? {
        guard let middle = firstIndex(of: separator) else { return nil }
        let second = suffix(from: middle + 1)
        guard !second.contains(separator), let low = prefix(upTo: middle).hex, let high = second.hex else { return nil }
        return (low, high)
    }

    // MARK: the kernel's `Name: value` files

    /// `Name:   1234 kB` split at the colon (a struct, not a tuple: tuple metadata is looked up at run
    /// time in a debug build).
    struct ColonField {
        var name: ProcBytes
        /// Trimmed.
        var value: ProcBytes
    }

    /// Splits `Name:   1234 kB` into the name and the rest. nil without a colon or name.
    var colonField: ColonField? {
        guard let colon = firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = prefix(upTo: colon)
        guard !name.isEmpty, !name.contains(0x20), !name.contains(0x09) else { return nil }
        return ColonField(name: name, value: suffix(from: colon + 1).trimmed)
    }

    /// `1234 kB` or `1234` as a quantity; nil for anything else.
    var quantity: ProcQuantity? {
        var index = 0
        guard let number = field(after: &index) else { return nil }
        guard let unit = field(after: &index) else { return number.counter.map { ProcQuantity($0, .none) } }
        guard unit == "kB", field(after: &index) == nil else { return nil }
        return number.counter.map { ProcQuantity($0, .kilobytes) }
    }
}
