import CDaxrefShim
import SystemPackage

extension FileDescriptor {
    /// fallocate(2) modes.
    public struct AllocationMode: OptionSet, Sendable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }
        /// Allocate blocks (and grow the file): mode 0.
        public static let allocate = AllocationMode([])
        public static let keepSize = AllocationMode(rawValue: CDaxrefShim_FALLOC_FL_KEEP_SIZE())
        /// Free the range's blocks; the kernel requires keepSize with it.
        public static let punchHole = AllocationMode(rawValue: CDaxrefShim_FALLOC_FL_PUNCH_HOLE())
    }

    /// fallocate(2). (ftruncate, pread and pwrite are swift-system's `resize(to:)`,
    /// `read(fromAbsoluteOffset:into:)` and `write(toAbsoluteOffset:_:)`.)
    public func allocate(_ mode: AllocationMode, offset: Int64, length: Int64) throws(Errno) {
        _ = try retryingOnInterrupt { CDaxrefShim_fallocate(rawValue, mode.rawValue, off_t(offset), off_t(length)) }
    }
}

/// O_DIRECT, which swift-system's `OpenOptions` does not name.
extension FileDescriptor.OpenOptions {
    public static let direct = FileDescriptor.OpenOptions(rawValue: CDaxrefShim_O_DIRECT())
}
