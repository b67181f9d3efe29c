import ArgumentParser

/// The longest timeout any option takes: a week. Deadlines are built in nanoseconds as Int64, so
/// `inf`, `nan` or `1e300` must be refused here, before anything converts them.
let maximumTimeoutSeconds: Double = 7 * 24 * 3600

/// `@Option(transform: seconds)`: a timeout that is finite, above zero and at most a week.
func seconds(_ argument: String) throws -> Double {
    guard let value = Double(argument), value.isFinite, value > 0, value <= maximumTimeoutSeconds else {
        throw ValidationError("a timeout is a number of seconds above 0 and at most \(Int(maximumTimeoutSeconds)) (a week)")
    }
    return value
}
