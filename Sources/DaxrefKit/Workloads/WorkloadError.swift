import SystemPackage

/// Why a step could not do what it set out to do (status `error`): set-up, not the kernel behaviour
/// under test. Syscalls whose errno *is* the observation never throw this.
enum WorkloadError: Error, CustomStringConvertible {
    case memory(MemoryError)
    case setup(operation: String, Errno)
    /// Something the step needs is not there (a non-DAX target that turned out to be DAX, …).
    case unavailable(String)

    var description: String {
        switch self {
        case .memory(let error): error.description
        case .setup(let operation, let errno): "\(operation): \(errno)"
        case .unavailable(let why): why
        }
    }

    /// Runs set-up code whose failure is a `WorkloadError.setup`.
    static func setup<T: ~Copyable>(_ operation: @autoclosure () -> String, _ body: () throws(Errno) -> T) throws(WorkloadError) -> T {
        do { return try body() } catch { throw .setup(operation: operation(), error) }
    }
}
