import CBlkid
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A signature on a block device: something that writing the device from offset 0 would destroy.
public struct BlockSignature: Sendable, Equatable, CustomStringConvertible {
    /// libblkid's name: `ext4`, `xfs`, `swap`, `LVM2_member`, `linux_raid_member`, `crypto_LUKS`, `gpt`, `dos`…
    public var type: String
    /// `filesystem`, `raid`, `crypto`, `other`, or `partition table`.
    public var usage: String
    public var offset: Int64?
    public var label: String?

    public init(type: String, usage: String, offset: Int64? = nil, label: String? = nil) {
        self.type = type
        self.usage = usage
        self.offset = offset
        self.label = label
    }

    public var description: String {
        "\(type) (\(usage)" + (offset.map { " at offset \($0)" } ?? "") + (label.map { ", label \"\($0)\"" } ?? "") + ")"
    }
}

/// The signatures on a block device, found as `wipefs` finds them: every superblock libblkid knows
/// (bad checksums included) and partition tables, not only the first match.
public enum BlockSignatures {
    public static func probe(_ path: String) throws(Errno) -> [BlockSignature] {
        guard let probe = blkid_new_probe_from_filename(path) else { throw Errno(rawValue: errno == 0 ? EIO : errno) }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(
            probe, BLKID_SUBLKS_MAGIC | BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_BADCSUM)
        blkid_probe_enable_partitions(probe, 1)
        blkid_probe_set_partitions_flags(probe, BLKID_PARTS_MAGIC)

        var found: [BlockSignature] = []
        // 0: one more signature; 1: no more; negative: an error (reading the device failed).
        while true {
            let status = blkid_do_probe(probe)
            if status == 1 { break }
            if status < 0 { throw Errno(rawValue: errno == 0 ? EIO : errno) }
            if let type = value(probe, "TYPE") {
                found.append(BlockSignature(
                    type: type, usage: value(probe, "USAGE") ?? "other",
                    offset: value(probe, "SBMAGIC_OFFSET").flatMap { Int64($0) }, label: value(probe, "LABEL")))
            } else if let table = value(probe, "PTTYPE") {
                found.append(BlockSignature(
                    type: table, usage: "partition table", offset: value(probe, "PTMAGIC_OFFSET").flatMap { Int64($0) }))
            }
        }
        return found
    }

    private static func value(_ probe: blkid_probe, _ name: String) -> String? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard blkid_probe_lookup_value(probe, name, &data, &length) == 0, let data else { return nil }
        return String(cString: data)
    }
}
