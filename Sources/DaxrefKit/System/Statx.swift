import CDaxrefShim
import SystemPackage

/// The statx(2) fields daxref needs: whether an inode is accessed through DAX.
public struct StatxAttributes: Sendable, Equatable {
    public var attributes: UInt64
    public var attributesMask: UInt64
    public var mode: UInt32

    public static func of(_ path: FilePath) throws(Errno) -> StatxAttributes {
        var attributes: UInt64 = 0, mask: UInt64 = 0, mode: UInt32 = 0
        let rc = path.withPlatformString { CDaxrefShim_statx_attributes($0, &attributes, &mask, &mode) }
        if rc < 0 { throw Errno(rawValue: -rc) }
        return StatxAttributes(attributes: attributes, attributesMask: mask, mode: mode)
    }

    /// nil when the filesystem does not report the DAX attribute at all (kernel < 5.8).
    public var isDAX: Bool? {
        let bit = CDaxrefShim_STATX_ATTR_DAX()
        guard attributesMask & bit != 0 else { return nil }
        return attributes & bit != 0
    }

    public var isRegularFile: Bool { mode & 0o170000 == 0o100000 }
}
