import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A pipe whose ends close when it goes away: it holds vmsplice'd page references, and carries
/// reports from forked children and results from helper processes.
/// (Not `Pipe`: that is Foundation's, which other files of this module use.)
public struct OwnedPipe: ~Copyable {
    public let readEnd: FileDescriptor
    /// nil once closed early: a reader sees EOF only when no write end is open anywhere, so the
    /// parent closes its copy after handing the write end to a child.
    public private(set) var writeEnd: FileDescriptor?

    /// pipe2(O_CLOEXEC): helpers exec'd meanwhile must not inherit an end (a stray write end would
    /// keep the pipe, and page references in it, alive).
    public init() throws(Errno) {
        var fds: [CInt] = [-1, -1]
        _ = try retryingOnInterrupt { CDaxrefShim_pipe_cloexec(&fds) }
        readEnd = FileDescriptor(rawValue: fds[0])
        writeEnd = FileDescriptor(rawValue: fds[1])
    }

    deinit {
        try? readEnd.close()
        if let writeEnd { try? writeEnd.close() }
    }

    public mutating func closeWriteEnd() {
        if let writeEnd { try? writeEnd.close() }
        writeEnd = nil
    }

    /// fcntl(F_SETPIPE_SZ): at least `bytes` of capacity (root may exceed pipe-max-size); returns
    /// the capacity the kernel chose.
    @discardableResult
    public func setCapacity(_ bytes: Int) throws(Errno) -> Int {
        Int(try retryingOnInterrupt { CDaxrefShim_pipe_set_capacity(readEnd.rawValue, CInt(clamping: bytes)) })
    }
}

extension FileDescriptor {
    public struct SpliceFlags: OptionSet, Sendable {
        public let rawValue: CUnsignedInt
        public init(rawValue: CUnsignedInt) { self.rawValue = rawValue }
        public static let nonBlocking = SpliceFlags(rawValue: CDaxrefShim_SPLICE_F_NONBLOCK())
        public static let gift = SpliceFlags(rawValue: CDaxrefShim_SPLICE_F_GIFT())
    }

    /// vmsplice(2) of user memory into this pipe write end: the pipe then holds references to the
    /// pages (FOLL_GET) until they are read out or the pipe is closed. Returns the bytes spliced.
    public func vmsplice(_ buffer: UnsafeRawBufferPointer, flags: SpliceFlags = []) throws(Errno) -> Int {
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)
        return try retryingOnInterrupt { CDaxrefShim_vmsplice(rawValue, &vector, 1, flags.rawValue) }
    }
}
