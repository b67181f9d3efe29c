import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A file daxref created for one step: closed and unlinked when its owner goes away, unless a
/// workload closed or unlinked it itself (the close/unlink workloads time exactly those calls).
public struct ScratchFile: ~Copyable {
    public let path: FilePath
    /// nil once closed.
    public private(set) var descriptor: FileDescriptor?
    /// false once the workload took over unlinking.
    private var unlinkOnDeinit = true

    /// Creates `daxref-<pid>-<n>.data` in `directory` (O_EXCL: never someone else's file).
    public init(in directory: FilePath) throws(Errno) {
        var attempt = 0
        while true {
            let candidate = directory.appending("daxref-\(getpid())-\(scratchSerial.add(1, ordering: .relaxed).newValue)-\(attempt).data")
            do {
                descriptor = try withTypedErrno {
                    try FileDescriptor.open(
                        candidate, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                        permissions: [.ownerReadWrite])
                }
                path = candidate
                return
            } catch Errno.fileExists where attempt < 100 {
                attempt += 1
            }
        }
    }

    deinit {
        if let descriptor { try? descriptor.close() }
        if unlinkOnDeinit { _ = path.withPlatformString { unlink($0) } }
    }

    /// close(2) now, with its errno.
    public mutating func close() throws(Errno) {
        guard let open = takeDescriptor() else { return }
        try withTypedErrno { try open.close() }
    }

    /// The descriptor, for a workload that closes it itself (possibly on another thread, where the
    /// last close may block).
    public mutating func takeDescriptor() -> FileDescriptor? {
        defer { descriptor = nil }
        return descriptor
    }

    /// The path, for a workload that unlinks it itself (possibly on another thread, where it may block).
    public mutating func takeUnlink() -> FilePath {
        unlinkOnDeinit = false
        return path
    }

    public var isOpen: Bool { descriptor != nil }

}

/// unlink(2), retried on EINTR.
public func unlinkFile(_ path: FilePath) throws(Errno) {
    _ = try retryingOnInterrupt { path.withPlatformString { unlink($0) < 0 ? -errno : 0 } }
}

/// Numbers scratch files, so concurrent steps in one process never pick the same name.
private let scratchSerial = Atomic<Int>(0)
