import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// mmap(2), munmap(2) and madvise(2). Ownership of a mapping is `MemoryMapping` (Memory/); these are
/// the raw calls, for owners and for workloads that must see the errno (MAP_PRIVATE on device-dax).
public enum VirtualMemory {
    public struct Protection: OptionSet, Sendable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }
        public static let none = Protection([])
        public static let read = Protection(rawValue: PROT_READ)
        public static let write = Protection(rawValue: PROT_WRITE)
        public static let readWrite: Protection = [.read, .write]
    }

    public struct Flags: OptionSet, Sendable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }
        public static let shared = Flags(rawValue: MAP_SHARED)
        public static let `private` = Flags(rawValue: MAP_PRIVATE)
        /// MAP_SHARED that fails (EOPNOTSUPP) instead of ignoring flags the file cannot honour.
        public static let sharedValidate = Flags(rawValue: CDaxrefShim_MAP_SHARED_VALIDATE())
        /// Synchronous page faults: the file's metadata is durable once a write fault returns (DAX only).
        public static let sync = Flags(rawValue: CDaxrefShim_MAP_SYNC())
        public static let anonymous = Flags(rawValue: MAP_ANONYMOUS)
        public static let fixed = Flags(rawValue: MAP_FIXED)
        public static let noReserve = Flags(rawValue: MAP_NORESERVE)
    }

    public struct Advice: RawRepresentable, Sendable, Equatable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }
        public static let dontNeed = Advice(rawValue: MADV_DONTNEED)
        public static let hugePage = Advice(rawValue: MADV_HUGEPAGE)
        public static let noHugePage = Advice(rawValue: MADV_NOHUGEPAGE)
    }

    public static func map(
        at hint: UnsafeMutableRawPointer? = nil, length: Int, protection: Protection, flags: Flags,
        file: FileDescriptor? = nil, offset: Int64 = 0
    ) throws(Errno) -> UnsafeMutableRawPointer {
        var address: UnsafeMutableRawPointer?
        _ = try retryingOnInterrupt {
            CDaxrefShim_mmap(hint, length, protection.rawValue, flags.rawValue, file?.rawValue ?? -1, off_t(offset), &address)
        }
        return address!
    }

    public static func unmap(_ address: UnsafeMutableRawPointer, length: Int) throws(Errno) {
        _ = try retryingOnInterrupt { CDaxrefShim_munmap(address, length) }
    }

    public static func advise(_ address: UnsafeMutableRawPointer, length: Int, _ advice: Advice) throws(Errno) {
        _ = try retryingOnInterrupt { CDaxrefShim_madvise(address, length, advice.rawValue) }
    }
}
