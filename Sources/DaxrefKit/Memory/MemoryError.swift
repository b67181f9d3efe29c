import CDaxrefShim
import SystemPackage

/// Why memory under test could not be set up. Refusals the kernel is expected to make
/// (MAP_PRIVATE on device-dax, long-term pins of fsdax) are observations, not `MemoryError`s.
public enum MemoryError: Error, Sendable, CustomStringConvertible {
    /// A length or offset that is not a multiple of the device-dax `align` (the kernel would refuse
    /// the mmap with EINVAL; this says why).
    case misaligned(device: String, what: String, value: Int, align: Int)
    /// offset + length beyond the device's size.
    case beyondDevice(device: String, offset: Int, length: Int, size: Int)
    /// The file does not report STATX_ATTR_DAX, so its pages would not be ZONE_DEVICE pages.
    case notDAX(path: String, reason: String)
    /// A sysfs attribute that describes the device is missing or malformed.
    case sysfs(path: String, reason: String)
    /// A syscall failed while setting up: `operation` names it and its target.
    case system(operation: String, Errno)

    public var description: String {
        switch self {
        case .misaligned(let device, let what, let value, let align):
            "\(device): \(what) \(value) is not a multiple of the device's align \(align) (/sys/bus/dax/devices/*/align)"
        case .beyondDevice(let device, let offset, let length, let size):
            "\(device): offset \(offset) + length \(length) exceeds the device size \(size)"
        case .notDAX(let path, let reason):
            "\(path): not a DAX file (\(reason)); mount the filesystem with -o dax"
        case .sysfs(let path, let reason):
            "\(path): \(reason)"
        case .system(let operation, let errno):
            "\(operation): \(errno)"
        }
    }
}

extension Errno {
    /// The symbolic name (`EOPNOTSUPP`), for tables and JSON where a number alone is opaque.
    public var symbolicName: String {
        CDaxrefShim_errno_name(rawValue).map { String(cString: $0) } ?? "errno \(rawValue)"
    }
}
