import ArgumentParser
import DaxrefKit
import Foundation

/// The longest timeout any option takes: a week. Deadlines are built in nanoseconds as Int64, so
/// `inf`, `nan` or `1e300` must be refused here, before anything converts them.
let maximumTimeoutSeconds: Double = 7 * 24 * 3600

/// The shortest: a millisecond, the resolution deadlines are kept in.
let minimumTimeoutSeconds = 0.001

/// `@Option(parsing: .unconditional, transform: seconds)`: a timeout from a millisecond to a week.
/// `.unconditional` lets "-1" reach this check instead of being read as an option.
func seconds(_ argument: String) throws -> Double {
    guard let value = Double(argument), value.isFinite, value >= minimumTimeoutSeconds, value <= maximumTimeoutSeconds else {
        throw ValidationError("a number of seconds from \(minimumTimeoutSeconds) to \(Int(maximumTimeoutSeconds)) (a week)")
    }
    return value
}

/// `@Option(parsing: .unconditional, transform: count)`: a whole number of at least 1.
func count(_ argument: String) throws -> Int {
    guard let value = Int(argument), value >= 1 else { throw ValidationError("a whole number, at least 1") }
    return value
}

/// Each (flag, path) as a report destination; the refusal is a usage error (exit 64).
func checkedDestinations(_ requests: [(flag: String, path: String?)]) throws -> [ReportDestination] {
    do { return try ReportDestination.check(requests.compactMap { flag, path in path.map { (flag: flag, path: $0) } }) } catch {
        throw ValidationError(error.description)
    }
}

/// A `--scenario` list: no empty item, and every glob selects something (one typo in a list must
/// not quietly drop what it meant to select).
func checkScenarioGlobs(_ globs: String?) throws {
    guard let globs else { return }
    let items = globs.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    if let empty = items.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
        throw ValidationError("--scenario: item \(empty + 1) of `\(globs)` is empty")
    }
    for glob in items where ScenarioCatalogue.select(glob).isEmpty {
        throw ValidationError("--scenario: `\(glob)` matches no scenario (see `daxref run --list`)")
    }
}
