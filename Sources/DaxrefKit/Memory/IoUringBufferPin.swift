import SystemPackage

/// A long-term pin: an io_uring ring with buffers registered (IORING_REGISTER_BUFFERS, which pins
/// with FOLL_LONGTERM). Unregisters and closes the ring when it goes away.
public struct IoUringBufferPin: ~Copyable {
    public let ring: FileDescriptor
    public private(set) var isRegistered: Bool

    /// Why a pin could not be made: the ring itself, or the registration (the interesting errno:
    /// EOPNOTSUPP for fsdax, and for device-dax on kernels before 6.5).
    public enum Failure: Error, Sendable {
        case setup(Errno)
        case register(Errno)
    }

    /// Registers `range` as buffers of at most 1 GiB each (the kernel's per-buffer limit).
    public init(registering range: UnsafeMutableRawBufferPointer) throws(Failure) {
        let ring: FileDescriptor
        do { ring = try IoUring.setup(entries: 1) } catch { throw .setup(error) }
        var buffers: [UnsafeMutableRawBufferPointer] = []
        var offset = 0
        while offset < range.count {
            let count = min(IoUring.maximumBufferLength, range.count - offset)
            buffers.append(UnsafeMutableRawBufferPointer(rebasing: range[offset..<(offset + count)]))
            offset += count
        }
        do {
            try IoUring.registerBuffers(ring, buffers)
        } catch {
            try? ring.close()
            throw .register(error)
        }
        self.ring = ring
        isRegistered = true
    }

    deinit {
        if isRegistered { try? IoUring.unregisterBuffers(ring) }
        try? ring.close()
    }

    /// IORING_UNREGISTER_BUFFERS now, with its errno (the ring stays open until the owner goes).
    public mutating func unregister() throws(Errno) {
        guard isRegistered else { return }
        isRegistered = false
        try IoUring.unregisterBuffers(ring)
    }
}
