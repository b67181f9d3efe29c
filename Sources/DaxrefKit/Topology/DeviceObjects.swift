// The device-memory object model: what `ndctl list` and `daxctl list` show, as plain values.
// Keys follow ndctl's JSON (`dev`, `mode`, `map`, `size`, `align`, `chardev`, `blockdev`,
// `target_node`) so a report can be checked against `ndctl list -RN` / `daxctl list -R` directly.

public struct Bus: Codable, Sendable, Equatable {
    public var dev: String
    public var provider: String
    public var regions: [Region]
}

public struct Region: Codable, Sendable, Equatable {
    public var dev: String
    public var size: UInt64
    public var align: UInt64?
    public var availableSize: UInt64
    public var maxAvailableExtent: UInt64?
    /// "pmem" or "blk", as ndctl_region_get_type_name() says.
    public var type: String
    public var persistenceDomain: String?
    public var numaNode: Int?
    public var targetNode: Int?
    public var enabled: Bool
    public var namespaces: [Namespace]

    enum CodingKeys: String, CodingKey {
        case dev, size, align, type, enabled, namespaces
        case availableSize = "available_size"
        case maxAvailableExtent = "max_available_extent"
        case persistenceDomain = "persistence_domain"
        case numaNode = "numa_node"
        case targetNode = "target_node"
    }
}

public enum NamespaceMode: String, Codable, Sendable {
    case fsdax, devdax, sector, raw, unknown
}

/// Where the memmap (struct pages) of a fsdax/devdax namespace lives: ndctl's `--map`.
public enum MemmapLocation: String, Codable, Sendable {
    /// System RAM.
    case mem
    /// The device itself (vmem_altmap).
    case dev
}

public struct Namespace: Codable, Sendable, Equatable {
    public var dev: String
    public var mode: NamespaceMode
    public var map: MemmapLocation?
    /// Usable size: the pfn / dax device size for fsdax and devdax (after the memmap reserve),
    /// the raw size otherwise (ndctl's convention).
    public var size: UInt64
    /// Raw namespace size before any memmap reserve.
    public var rawSize: UInt64
    public var align: UInt64?
    /// The uuid ndctl shows: the pfn / dax device's for fsdax and devdax, else the namespace's.
    public var uuid: String?
    /// The namespace's own (label) uuid.
    public var rawUUID: String?
    /// The label's alt name (`ndctl create-namespace --name`).
    public var name: String?
    public var blockdev: String?
    /// The device-dax character devices of a devdax namespace (`dax0.0`).
    public var chardev: String?
    public var numaNode: Int?
    public var targetNode: Int?
    /// Active: the namespace, or the pfn / dax device that claims it, is enabled (ndctl omits
    /// `"state":"disabled"` exactly then).
    public var enabled: Bool

    enum CodingKeys: String, CodingKey {
        case dev, mode, map, size, align, uuid, name, blockdev, chardev, enabled
        case rawUUID = "raw_uuid"
        case rawSize = "raw_size"
        case numaNode = "numa_node"
        case targetNode = "target_node"
    }
}

/// A dax region as libdaxctl sees it: from an nvdimm devdax namespace, or from HMEM / CXL.
public struct DaxRegion: Codable, Sendable, Equatable {
    public var id: Int
    public var dev: String?
    public var size: UInt64
    public var align: UInt64
    public var availableSize: UInt64
    public var path: String?
    public var devices: [DaxDevice]

    enum CodingKeys: String, CodingKey {
        case id, dev, size, align, path, devices
        case availableSize = "available_size"
    }
}

public enum DaxDeviceMode: String, Codable, Sendable {
    /// Mappable through /dev/daxX.Y.
    case devdax
    /// Hot-plugged as system RAM through the kmem driver.
    case systemRAM = "system-ram"
}

public struct DaxDevice: Codable, Sendable, Equatable {
    public var chardev: String
    public var size: UInt64
    public var align: UInt64
    public var targetNode: Int?
    public var mode: DaxDeviceMode
    public var enabled: Bool
    /// `/dev/<chardev>` when the node exists.
    public var path: String?

    enum CodingKeys: String, CodingKey {
        case chardev, size, align, mode, enabled, path
        case targetNode = "target_node"
    }
}

public struct NumaNode: Codable, Sendable, Equatable {
    public var node: Int
    /// Bytes, from numa_node_size64().
    public var memoryTotal: UInt64
    public var memoryFree: UInt64
    public var cpus: [Int]
    /// Distance to every node in `Inventory.numaNodes`, in that order (numa_distance()).
    public var distances: [Int]

    enum CodingKeys: String, CodingKey {
        case node, cpus, distances
        case memoryTotal = "memory_total"
        case memoryFree = "memory_free"
    }
}

/// A mounted filesystem that asked for DAX, and whether DAX is really active on it.
public struct DaxMount: Codable, Sendable, Equatable {
    public var source: String
    public var mountpoint: String
    public var fstype: String
    /// The DAX mount option as /proc/mounts shows it (`dax`, `dax=always`, `dax=inode`).
    public var daxOption: String
    /// statx STATX_ATTR_DAX of `statxProbe`; nil when no regular file could be checked.
    public var statxDax: Bool?
    public var statxProbe: String?

    enum CodingKeys: String, CodingKey {
        case source, mountpoint, fstype
        case daxOption = "dax_option"
        case statxDax = "statx_dax"
        case statxProbe = "statx_probe"
    }
}

/// 4096 → "4k", 2 MiB → "2m", 1 GiB → "1g"; anything else in bytes. How aligns are named in
/// fixture IDs and namespace descriptions.
package func sizeLabel(_ bytes: Int) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
        return String(bytes >> shift) + unit
    }
    return String(bytes)
}
