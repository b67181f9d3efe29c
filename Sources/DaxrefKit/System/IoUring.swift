import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// io_uring_setup(2) and io_uring_register(2), raw. `IoUringBufferPin` (Memory/) owns a ring with
/// registered buffers. The ring's SQ/CQ are never mapped: registering needs only the fd.
public enum IoUring {
    public struct RegisterOpcode: RawRepresentable, Sendable, Equatable {
        public let rawValue: CUnsignedInt
        public init(rawValue: CUnsignedInt) { self.rawValue = rawValue }
        /// Long-term pin (FOLL_LONGTERM) of user buffers for fixed I/O.
        public static let registerBuffers = RegisterOpcode(rawValue: CDaxrefShim_IORING_REGISTER_BUFFERS())
        public static let unregisterBuffers = RegisterOpcode(rawValue: CDaxrefShim_IORING_UNREGISTER_BUFFERS())
    }

    /// The kernel refuses a registered buffer above 1 GiB (io_buffer_validate), so callers split.
    public static let maximumBufferLength = 1 << 30

    /// A new ring with `entries` submission entries; returns its fd.
    public static func setup(entries: CUnsignedInt) throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try retryingOnInterrupt { CDaxrefShim_io_uring_setup(entries) })
    }

    /// IORING_REGISTER_BUFFERS with one iovec per buffer (each at most `maximumBufferLength`).
    public static func registerBuffers(_ ring: FileDescriptor, _ buffers: [UnsafeMutableRawBufferPointer]) throws(Errno) {
        let vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        _ = try vectors.withUnsafeBufferPointer { (vectors) throws(Errno) -> CInt in
            try retryingOnInterrupt {
                CDaxrefShim_io_uring_register(
                    ring.rawValue, RegisterOpcode.registerBuffers.rawValue, vectors.baseAddress, CUnsignedInt(vectors.count))
            }
        }
    }

    public static func unregisterBuffers(_ ring: FileDescriptor) throws(Errno) {
        _ = try retryingOnInterrupt {
            CDaxrefShim_io_uring_register(ring.rawValue, RegisterOpcode.unregisterBuffers.rawValue, nil, 0)
        }
    }
}
