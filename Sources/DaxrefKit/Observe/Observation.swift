// The contract between observers, the model and reports: every observable has a stable dotted key
// `source.field` (e.g. `smaps.Rss`, `pagemap.file`, `vmstat.nr_foll_pin_acquired`, `syscall.errno`,
// `task.wchan`, `dmesg.warnings`, `kprobe.refcount`). Keys are never renamed once published.
// Units belong to the key: sizes from smaps/meminfo are in kB as the kernel prints them, counts are
// counts, durations are in milliseconds (`.ms` suffix). A delta between two snapshots is named
// `<key>.delta`.

/// A stable dotted observable key.
public struct ObservableKey: RawRepresentable, Hashable, Codable, Sendable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public init(_ source: String, _ field: String) { rawValue = source + "." + field }

    /// The part before the first dot: which observer produced it.
    public var source: Substring { rawValue.prefix { $0 != "." } }
    public var delta: ObservableKey { ObservableKey(rawValue: rawValue + ".delta") }
    public var description: String { rawValue }
    public static func < (a: ObservableKey, b: ObservableKey) -> Bool { a.rawValue < b.rawValue }
}

/// As a dictionary key, an `ObservableKey` encodes as its string, so `Observations` is a JSON object
/// keyed `"smaps.Rss"`, … rather than an array of alternating keys and values.
extension ObservableKey: CodingKeyRepresentable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public var codingKey: any CodingKey { Key(stringValue: rawValue) }
    public init?<T: CodingKey>(codingKey: T) { self.init(rawValue: codingKey.stringValue) }
}

/// What was observed for one key. In JSON it is the plain value: a number, a bool, a string, an
/// array, or `{"unavailable": "why"}` (the only object, so it cannot be taken for a value).
public enum ObservedValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case integer(Int64)
    case flag(Bool)
    case text(String)
    /// Several values in order (a per-page list, a refcount timeline).
    case list([ObservedValue])
    /// The observer could not read it; the reason is kept (never reported as a value).
    case unavailable(String)

    public var description: String {
        switch self {
        case .integer(let value): String(value)
        case .flag(let value): String(value)
        case .text(let value): value
        case .list(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .unavailable(let why): "unavailable (\(why))"
        }
    }

    private enum UnavailableKey: String, CodingKey { case unavailable }

    public func encode(to encoder: any Encoder) throws {
        if case .unavailable(let why) = self {
            var container = encoder.container(keyedBy: UnavailableKey.self)
            try container.encode(why, forKey: .unavailable)
            return
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .integer(let value): try container.encode(value)
        case .flag(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        case .list(let values): try container.encode(values)
        case .unavailable: preconditionFailure("encoded above")
        }
    }

    /// Tries the forms in the order they are most common in a snapshot (integers, then unavailable).
    /// JSONDecoder keeps them apart: a number never decodes as a Bool, nor a Bool as a number.
    public init(from decoder: any Decoder) throws {
        let single = try decoder.singleValueContainer()
        if let value = try? single.decode(Int64.self) {
            self = .integer(value)
        } else if let keyed = try? decoder.container(keyedBy: UnavailableKey.self) {
            self = .unavailable(try keyed.decode(String.self, forKey: .unavailable))
        } else if let value = try? single.decode(String.self) {
            self = .text(value)
        } else if let value = try? single.decode(Bool.self) {
            self = .flag(value)
        } else if let values = try? single.decode([ObservedValue].self) {
            self = .list(values)
        } else {
            throw DecodingError.dataCorruptedError(
                in: single, debugDescription: "not an observed value: a 64-bit integer, bool, string, array or {\"unavailable\": why}")
        }
    }

    /// The sum of counters from several VMAs or nodes; unavailable if it overflows, which no kernel's
    /// counts do but a corrupt file's may (and must not trap).
    static func sum(_ values: some Sequence<Int64>) -> ObservedValue {
        values.checkedSum.map(ObservedValue.integer) ?? .unavailable("the sum overflows a 64-bit integer")
    }
}

extension Sequence<Int64> {
    /// The sum, or nil when it overflows.
    var checkedSum: Int64? {
        var total: Int64 = 0
        for value in self {
            let (sum, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = sum
        }
        return total
    }
}

/// A set of observations taken at one moment; diffable with another. In JSON, an object of key → value.
public struct Observations: Codable, Sendable, Equatable {
    public var values: [ObservableKey: ObservedValue]

    public init(_ values: [ObservableKey: ObservedValue] = [:]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([ObservableKey: ObservedValue].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    public subscript(key: ObservableKey) -> ObservedValue? {
        get { values[key] }
        set { values[key] = newValue }
    }

    public mutating func merge(_ other: Observations) {
        values.merge(other.values) { _, new in new }
    }

    /// `<key>.delta` for every integer key present in both (after − before).
    public func deltas(since before: Observations) -> Observations {
        var result = Observations()
        for (key, value) in values {
            if case .integer(let after) = value, case .integer(let earlier)? = before.values[key] {
                result[key.delta] = .integer(after - earlier)
            }
        }
        return result
    }
}
