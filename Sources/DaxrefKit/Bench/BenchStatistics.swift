import Foundation

/// Minimum, median and maximum of one side's repetitions: the median is what ratios use (one slow
/// repetition, e.g. another guest stealing the host CPU, does not move it), min and max show the spread.
public struct SampleSummary: Codable, Sendable, Equatable {
    public var count: Int
    public var min: Double
    public var median: Double
    public var max: Double

    /// nil for no samples: a side that did not run has no summary, never a zero.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        count = sorted.count
        min = sorted[0]
        max = sorted[sorted.count - 1]
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// Sizes on the command line: a byte count with an optional binary suffix (`64K`, `128M`, `1G`).
public enum ByteCount {
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let shifts: [Character: Int] = ["k": 10, "K": 10, "m": 20, "M": 20, "g": 30, "G": 30]
        let shift = shifts[last] ?? 0
        let digits = shift == 0 ? trimmed : String(trimmed.dropLast())
        guard let value = Int(digits), value > 0, value <= Int.max >> shift else { return nil }
        return value << shift
    }
}
