import CDaxctl
import CDaxrefShim
import CNdctl
import Synchronization

/// Why the device-memory libraries could not be used.
public struct LibraryError: Error, Sendable, CustomStringConvertible {
    public var library: String
    public var errno: Int32
    /// What the library logged while failing (its own words, via the log trampoline).
    public var log: [String]

    public var description: String {
        let reason = String(cString: strerror(-errno < 0 ? errno : -errno))
        var text = "\(library): could not create a library context (\(reason))"
        if !log.isEmpty { text += "; it said: " + log.joined(separator: "; ") }
        return text
    }
}

/// Library log lines (priority ≤ err) collected while a context is alive; read after a failure.
let libraryLog = Mutex<[String]>([])

private let captureLog: CDaxrefShim_log_sink = { priority, message in
    guard let message else { return }
    var line = String(cString: message)
    while line.last == "\n" { line.removeLast() }
    libraryLog.withLock { $0.append(line) }
}

/// The libndctl context: owned, released when the owner goes away.
struct NdctlContext: ~Copyable {
    let raw: OpaquePointer

    init() throws(LibraryError) {
        var ctx: OpaquePointer?
        let rc = ndctl_new(&ctx)
        guard rc == 0, let ctx else {
            throw LibraryError(library: "libndctl", errno: rc, log: libraryLog.withLock { $0 })
        }
        raw = ctx
        CDaxrefShim_ndctl_set_log_sink(ctx, captureLog, 3 /* LOG_ERR */)
    }

    deinit { ndctl_unref(raw) }
}

/// The libdaxctl context, for dax regions outside libnvdimm (HMEM, CXL) too.
struct DaxctlContext: ~Copyable {
    let raw: OpaquePointer

    init() throws(LibraryError) {
        var ctx: OpaquePointer?
        let rc = daxctl_new(&ctx)
        guard rc == 0, let ctx else {
            throw LibraryError(library: "libdaxctl", errno: rc, log: libraryLog.withLock { $0 })
        }
        raw = ctx
        CDaxrefShim_daxctl_set_log_sink(ctx, captureLog, 3 /* LOG_ERR */)
    }

    deinit { daxctl_unref(raw) }
}

/// The libraries' `*_get_first` / `*_get_next` iteration as a Swift sequence. The elements are
/// borrowed from a context and must not outlive it.
func chain(
    first: OpaquePointer?, next: @escaping (OpaquePointer) -> OpaquePointer?
) -> UnfoldSequence<OpaquePointer, OpaquePointer?> {
    sequence(state: first) { cursor in
        guard let current = cursor else { return nil }
        cursor = next(current)
        return current
    }
}

/// A C string the library may return as NULL.
func string(_ pointer: UnsafePointer<CChar>?) -> String? {
    pointer.map { String(cString: $0) }
}

#if canImport(Glibc)
import Glibc
#endif
