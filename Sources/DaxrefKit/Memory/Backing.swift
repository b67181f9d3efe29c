/// One fixture's memory as found here (which device, which directory), enough to map it again in a
/// helper process. Everything else about it comes from its `MemoryFixture`.
public struct Backing: Sendable, Hashable, CustomStringConvertible {
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

    public var fixture: MemoryFixture
    /// The device (devdax), or the directory the scratch file is created in (fsdax, pagecache).
    public var path: String?

    public init(_ fixture: MemoryFixture, path: String?) {
        precondition(fixture.isMapped, "\(fixture) is never mapped")
        self.fixture = fixture
        self.path = path
    }

    /// `devdax.2m`, …: the fixture's ID, the first part of every step ID.
    public var id: String { fixture.rawValue }
    public var kind: Kind { fixture.backingKind }
    /// See `MemoryFixture.mappingAlignment`.
    public var alignment: Int { fixture.mappingAlignment }

    public static func deviceDax(path: String, align: DeviceAlign) -> Backing { Backing(.devdax(align), path: path) }

    public static func fsdax(mountpoint: String, filesystem: DAXFilesystem) -> Backing { Backing(.fsdax(filesystem), path: mountpoint) }

    public static let anonymous = Backing(.anonymous, path: nil)

    /// /dev/shm is tmpfs on Debian and in the daxref guest.
    public static func pageCache(directory: String = "/dev/shm") -> Backing { Backing(.pageCache, path: directory) }

    /// Memory that is ZONE_DEVICE (the subject) rather than a control.
    public var isDAX: Bool { fixture.isDAX }
    /// Memory with a file whose size and blocks can be changed (truncate, punch hole, unlink).
    public var hasFile: Bool { fixture.hasFile }

    /// `requested` rounded up to a whole number of `alignment` units (at least one).
    public func mappingLength(for requested: Int) -> Int {
        let units = max(1, (requested + alignment - 1) / alignment)
        return units * alignment
    }

    public var description: String { path.map { "\(id) (\($0))" } ?? id }
}

/// In reports and step requests a backing is `{"id", "kind", "path", "alignment"}` as it always was;
/// the kind and alignment are written for readers, and follow from the ID when read back.
extension Backing: Codable {
    private enum CodingKeys: String, CodingKey { case id, kind, path, alignment }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let fixture = try container.decode(MemoryFixture.self, forKey: .id)
        guard fixture.isMapped else {
            throw DecodingError.dataCorruptedError(forKey: .id, in: container, debugDescription: "\(fixture) is never mapped")
        }
        self.init(fixture, path: try container.decodeIfPresent(String.self, forKey: .path))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(path, forKey: .path)
        try container.encode(alignment, forKey: .alignment)
    }
}
