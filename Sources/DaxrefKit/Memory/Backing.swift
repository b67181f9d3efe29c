/// The kinds of memory daxref maps, and enough about one to open it again in a helper process.
public struct Backing: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// A device-dax character device, /dev/daxX.Y.
        case devdax
        /// A file on ext4 or xfs mounted -o dax.
        case fsdax
        /// Control: private anonymous memory (ordinary, refcounted, LRU pages).
        case anonymous
        /// Control: a file in tmpfs (page cache pages, not ZONE_DEVICE).
        case pagecache
    }

    /// Stable ID, the first part of every step ID: `devdax.4k`, `devdax.2m`, `devdax.1g`,
    /// `fsdax.ext4`, `fsdax.xfs`, `anon.private`, `pagecache.tmpfs`.
    public var id: String
    public var kind: Kind
    /// The device (devdax), or the directory the scratch file is created in (fsdax, pagecache).
    public var path: String?
    /// Mapping lengths are multiples of this and mappings start at addresses aligned to it: the
    /// device's `align` for device-dax (the kernel rejects anything else), 2 MiB otherwise, so a
    /// PMD fault is possible wherever the kernel offers one.
    public var alignment: Int

    public init(id: String, kind: Kind, path: String?, alignment: Int) {
        self.id = id
        self.kind = kind
        self.path = path
        self.alignment = alignment
    }

    public static let pmdSize = 2 << 20

    public static func deviceDax(path: String, align: Int) -> Backing {
        Backing(id: "devdax." + sizeLabel(align), kind: .devdax, path: path, alignment: align)
    }

    public static func fsdax(mountpoint: String, fstype: String) -> Backing {
        Backing(id: "fsdax." + fstype, kind: .fsdax, path: mountpoint, alignment: pmdSize)
    }

    public static let anonymous = Backing(id: "anon.private", kind: .anonymous, path: nil, alignment: pmdSize)

    /// /dev/shm is tmpfs on Debian and in the daxref guest.
    public static func pageCache(directory: String = "/dev/shm") -> Backing {
        Backing(id: "pagecache.tmpfs", kind: .pagecache, path: directory, alignment: pmdSize)
    }

    /// Memory that is ZONE_DEVICE (the subject) rather than a control.
    public var isDAX: Bool { kind == .devdax || kind == .fsdax }
    /// Memory with a file whose size and blocks can be changed (truncate, punch hole, unlink).
    public var hasFile: Bool { kind == .fsdax || kind == .pagecache }

    /// `requested` rounded up to a whole number of `alignment` units (at least one).
    public func mappingLength(for requested: Int) -> Int {
        let units = max(1, (requested + alignment - 1) / alignment)
        return units * alignment
    }

    public var description: String { path.map { "\(id) (\($0))" } ?? id }

    /// 4096 → "4k", 2 MiB → "2m", 1 GiB → "1g"; anything else in bytes.
    static func sizeLabel(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return String(bytes >> shift) + unit
        }
        return String(bytes)
    }
}
