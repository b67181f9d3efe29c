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

/// What was observed for one key.
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
}

/// A set of observations taken at one moment; diffable with another.
public struct Observations: Codable, Sendable, Equatable {
    public var values: [ObservableKey: ObservedValue]

    public init(_ values: [ObservableKey: ObservedValue] = [:]) { self.values = values }

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
