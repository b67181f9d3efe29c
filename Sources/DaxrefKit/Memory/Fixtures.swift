/// The align of device-dax memory and of DAX namespaces: the one size their faults map (PTE, PMD, PUD).
public enum DeviceAlign: Int, Sendable, CaseIterable {
    case align4k = 4096
    case align2m = 2097152
    case align1g = 1073741824

    public var bytes: Int { rawValue }
    /// `4k`, `2m`, `1g`: the geometry part of a fixture ID.
    public var label: String { sizeLabel(rawValue) }
}

/// The file systems whose DAX daxref exercises.
public enum DAXFilesystem: String, Sendable, CaseIterable {
    case ext4, xfs
}

/// What a scenario runs on: a kind of memory and its geometry, the fixture of fixture × variant
/// (kselftest_harness.h's FIXTURE). Its ID, what the model tells apart, the runtime backing and the
/// VM provisioning word are derived here and nowhere else.
///
/// To add a fixture: a case (a kind with its geometry as payload), its place in `allCases`, then
/// whatever the compiler asks for below. Which variants apply follows from what it is (`isMapped`,
/// `hasFile`); rules name it like any other.
public enum MemoryFixture: Hashable, Sendable {
    /// A device-dax instance, /dev/daxX.Y, of this align.
    case devdax(DeviceAlign)
    /// A file on this file system mounted -o dax.
    case fsdax(DAXFilesystem)
    /// An fsdax namespace of this align as the namespace scenarios create it: no file system, never mapped.
    case fsdaxNamespace(DeviceAlign)
    /// Control: private anonymous memory (ordinary, refcounted, LRU pages).
    case anonymous
    /// Control: a file in tmpfs (page-cache pages, not ZONE_DEVICE).
    case pageCache
}

extension MemoryFixture: CaseIterable, RawRepresentable, Codable, CustomStringConvertible {
    /// Every fixture, in the order scenarios are listed.
    public static let allCases: [MemoryFixture] = [
        .devdax(.align4k), .devdax(.align2m), .devdax(.align1g), .fsdax(.ext4), .fsdax(.xfs), .anonymous, .pageCache,
        .fsdaxNamespace(.align2m),
    ]

    /// The stable ID, the first part of every scenario ID: `devdax.2m`, `fsdax.xfs`, `anon.private`.
    public var rawValue: String {
        switch self {
        case .devdax(let align): "devdax." + align.label
        case .fsdax(let filesystem): "fsdax." + filesystem.rawValue
        case .fsdaxNamespace(let align): "fsdax." + align.label
        case .anonymous: "anon.private"
        case .pageCache: "pagecache.tmpfs"
        }
    }

    public init?(rawValue: String) {
        guard let fixture = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = fixture
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let id = try container.decode(String.self)
        guard let fixture = MemoryFixture(rawValue: id) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unknown memory `\(id)`; one of: \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = fixture
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    // MARK: what the model tells apart

    public var isDeviceDax: Bool { if case .devdax = self { true } else { false } }
    /// A file on an fsdax mount (not the bare namespaces the namespace scenarios create).
    public var isFsdaxFile: Bool { if case .fsdax = self { true } else { false } }
    /// Memory under test (ZONE_DEVICE) that a step maps, rather than a control.
    public var isDAX: Bool { isDeviceDax || isFsdaxFile }
    public var isControl: Bool { self == .anonymous || self == .pageCache }
    /// Something a step maps (every fixture but the namespaces the namespace scenarios create).
    public var isMapped: Bool { isDAX || isControl }
    /// A file whose size and blocks can change (truncate, punch hole, unlink, close).
    public var hasFile: Bool { isFsdaxFile || self == .pageCache }

    /// The device align for device-dax: the only size its faults map.
    public var deviceAlign: Int? { if case .devdax(let align) = self { align.bytes } else { nil } }

    /// A page walk (pagemap, smaps, numa_maps) splits its mappings: the walkers have no pud_entry, so
    /// a 1 GiB PUD mapping is split when walked (mm/pagewalk.c walk_pud_range).
    public var pageWalksSplitMappings: Bool { self == .devdax(.align1g) }

    /// The groups rules name.
    public static let devdax = allCases.filter(\.isDeviceDax)
    public static let fsdax = allCases.filter(\.isFsdaxFile)
    public static let dax = devdax + fsdax
    /// DAX that checkpoints can walk without changing it.
    public static let walkableDAX = dax.filter { !$0.pageWalksSplitMappings }
    public static let controls = allCases.filter(\.isControl)

    // MARK: how it is found and mapped

    /// The kind of memory a step maps for it (a bare fsdax namespace is fsdax, though never mapped).
    public var backingKind: Backing.Kind {
        switch self {
        case .devdax: .devdax
        case .fsdax, .fsdaxNamespace: .fsdax
        case .anonymous: .anonymous
        case .pageCache: .pagecache
        }
    }

    /// Mapping lengths are multiples of this and mappings start aligned to it: the device's align
    /// for device-dax (the kernel refuses anything else), else 2 MiB, so a PMD fault is possible
    /// wherever the kernel offers one.
    public var mappingAlignment: Int { deviceAlign ?? DeviceAlign.align2m.bytes }

    /// The word that names it on the command line (`daxref drive --backing`), nil for what no
    /// command maps by name.
    public var name: String? {
        switch self {
        case .devdax(let align): "devdax" + align.label
        case .fsdax(let filesystem): filesystem.rawValue
        case .anonymous: "anon"
        case .pageCache: "pagecache"
        case .fsdaxNamespace: nil
        }
    }

    /// The word that asks a daxref VM to make it (`daxref vm --provision`, as guest-provision.sh
    /// takes it): device memory only, the controls are always there.
    public var provisionWord: String? { isDAX ? name : nil }

    /// The variable guest-provision.sh writes to provisioned.env for it (`DAXREF_DEVDAX_2M=/dev/dax0.1`,
    /// `DAXREF_FSDAX_EXT4=/mnt/daxref/ext4`).
    public var provisionedVariable: String? {
        switch self {
        case .devdax(let align): "DAXREF_DEVDAX_" + align.label.uppercased()
        case .fsdax(let filesystem): "DAXREF_FSDAX_" + filesystem.rawValue.uppercased()
        default: nil
        }
    }

    /// The namespace a namespace scenario creates for it, with its memmap in `map`; nil for memory
    /// that is not a namespace configuration.
    public func namespaceTarget(map: MemmapLocation) -> NamespaceTarget? {
        switch self {
        case .devdax(let align): NamespaceTarget(mode: .devdax, align: UInt64(align.bytes), map: map)
        case .fsdaxNamespace(let align): NamespaceTarget(mode: .fsdax, align: UInt64(align.bytes), map: map)
        default: nil
        }
    }
}
