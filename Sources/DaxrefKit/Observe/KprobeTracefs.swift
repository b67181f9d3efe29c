import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// Access to tracefs for the kprobe session. All file operations go through `TracefsAccess` so the
// session's install / enable / remove sequence can be tested against a fake without root.

/// How a write opens its file. tracefs control files care: opening `kprobe_events` with O_TRUNC
/// deletes every kprobe on the machine (other tools' too), so definitions are always appended.
public enum TracefsWriteMode: Sendable {
    /// O_WRONLY|O_APPEND: `kprobe_events` (one command per write(2)).
    case append
    /// O_WRONLY|O_TRUNC: `trace` (clears the buffer), `enable`, `filter`.
    case replace
}

/// The file operations a kprobe session needs, relative to the tracefs mount point.
public protocol TracefsAccess: Sendable {
    /// The mount point, for the signal-time cleanup which must use raw paths; nil for fakes.
    var mountPoint: FilePath? { get }
    func read(_ path: String) throws(Errno) -> String
    /// Reads what is available without blocking (`trace_pipe`, which consumes what it returns).
    func drain(_ path: String) throws(Errno) -> String
    /// One write(2) of `text`: tracefs parses each write as a unit and reports the first bad
    /// command as the errno of that write.
    func write(_ path: String, _ text: String, mode: TracefsWriteMode) throws(Errno)
    func makeDirectory(_ path: String) throws(Errno)
    func removeDirectory(_ path: String) throws(Errno)
    func exists(_ path: String) -> Bool
    func listDirectory(_ path: String) throws(Errno) -> [String]
}

/// The real tracefs at `mountPoint`.
public struct Tracefs: TracefsAccess {
    public let root: FilePath
    public var mountPoint: FilePath? { root }

    public init(root: FilePath) { self.root = root }

    /// Where tracefs is mounted: /sys/kernel/tracing (4.1+), else the legacy debugfs path. A
    /// directory counts only if it holds `kprobe_events` (an empty mount point does not).
    public static func locate() -> Tracefs? {
        for candidate in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
            let tracefs = Tracefs(root: FilePath(candidate))
            if tracefs.exists("kprobe_events") || tracefs.exists("trace") { return tracefs }
        }
        return nil
    }

    private func full(_ path: String) -> FilePath { root.appending(path) }

    public func read(_ path: String) throws(Errno) -> String {
        try SystemFile.readString(full(path))
    }

    public func drain(_ path: String) throws(Errno) -> String {
        let fd = try withTypedErrno { try FileDescriptor.open(full(path), .readOnly, options: [.nonBlocking, .closeOnExec]) }
        defer { try? fd.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count: Int
            do {
                count = try withTypedErrno { try chunk.withUnsafeMutableBytes { try fd.read(into: $0) } }
            } catch .resourceTemporarilyUnavailable {
                break  // empty for now: everything recorded so far has been read
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: result, as: UTF8.self)
    }

    public func write(_ path: String, _ text: String, mode: TracefsWriteMode) throws(Errno) {
        let options: FileDescriptor.OpenOptions = mode == .append ? [.append, .closeOnExec] : [.truncate, .closeOnExec]
        let fd = try withTypedErrno { try FileDescriptor.open(full(path), .writeOnly, options: options) }
        defer { try? fd.close() }
        let bytes = Array(text.utf8)
        // tracefs takes a command in one write; a short write would split it, so treat it as an error.
        let written = try withTypedErrno { try bytes.withUnsafeBytes { try fd.write($0) } }
        if written != bytes.count { throw Errno.ioError }
    }

    public func makeDirectory(_ path: String) throws(Errno) {
        if full(path).withPlatformString({ mkdir($0, 0o755) }) != 0 { throw Errno(rawValue: errno) }
    }

    public func removeDirectory(_ path: String) throws(Errno) {
        if full(path).withPlatformString({ rmdir($0) }) != 0 { throw Errno(rawValue: errno) }
    }

    public func exists(_ path: String) -> Bool { SystemFile.exists(full(path)) }

    public func listDirectory(_ path: String) throws(Errno) -> [String] {
        try SystemFile.listDirectory(full(path))
    }
}

/// Why kprobes cannot be used here; reported as `kprobe.available = false` with this reason,
/// never as a failed run.
public enum KprobeUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    case notRoot
    case noTracefs
    case noKprobeEvents(FilePath)
    case noInstances(FilePath)
    case kprobeEventsUnreadable(Errno)
    case anotherSessionActive

    public var description: String {
        switch self {
        case .notRoot: "kprobes need root (CAP_SYS_ADMIN and write access to tracefs)"
        case .noTracefs: "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
        case .noKprobeEvents(let root): "\(root)/kprobe_events is missing (kernel without CONFIG_KPROBE_EVENTS)"
        case .noInstances(let root): "\(root)/instances is missing (daxref needs a private trace buffer)"
        case .kprobeEventsUnreadable(let errno): "kprobe_events cannot be read: \(errno)"
        case .anotherSessionActive: "another kprobe session of this process is still open"
        }
    }
}

extension Tracefs {
    /// The real tracefs if this process can use kprobe events, else why not.
    public static func availableForKprobes() -> Result<Tracefs, KprobeUnavailable> {
        guard geteuid() == 0 else { return .failure(.notRoot) }
        guard let tracefs = locate() else { return .failure(.noTracefs) }
        guard tracefs.exists("kprobe_events") else { return .failure(.noKprobeEvents(tracefs.root)) }
        guard tracefs.exists("instances") else { return .failure(.noInstances(tracefs.root)) }
        do { _ = try tracefs.read("kprobe_events") } catch { return .failure(.kprobeEventsUnreadable(error)) }
        return .success(tracefs)
    }
}
