import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What the user named on real hardware, checked and turned into backings: `--devdax /dev/daxX.Y`,
/// `--fsdax DIR`, `--blk PATH`. Each check says what is wrong and how to fix it; nothing is written
/// except a scratch file (removed) that proves a directory gets DAX, or O_DIRECT works in it.
public struct HardwareSelection: Sendable, Equatable {
    public var backings: [Backing]
    public var blockTarget: BlockTarget?
}

public enum SelectionError: Error, Sendable, Equatable, CustomStringConvertible {
    case missing(option: String, path: String, Errno)
    /// The path exists but is the wrong kind of file.
    case wrongKind(option: String, path: String, expected: String, found: String)
    case notDeviceDax(path: String, known: [String])
    case systemRAM(path: String, device: String)
    case inUse(option: String, path: String, holders: [DeviceHolder])
    case notDAXFilesystem(path: String, mountpoint: String, fstype: String)
    case noDAX(path: String, mountpoint: String, fstype: String, reason: String)
    case scratchFailed(path: String, Errno)
    case daxBlockDevice(path: String, device: String)
    case unusableBlockTarget(path: String, reason: String)
    /// Two paths give the same backing ID (`devdax.2m` twice): a run names each backing once.
    case duplicate(id: String, paths: [String])

    public var description: String {
        switch self {
        case .missing(let option, let path, let errno): "\(option) \(path): \(errno)"
        case .wrongKind(let option, let path, let expected, let found): "\(option) \(path): expected \(expected), found \(found)"
        case .notDeviceDax(let path, let known):
            "--devdax \(path): not a device-dax device in devdax mode here"
                + (known.isEmpty ? " (daxctl list shows none)" : "; devdax devices: \(known.map { "/dev/" + $0 }.joined(separator: ", "))")
        case .systemRAM(let path, let device):
            "--devdax \(path): \(device) is online as system-ram (kmem); `daxctl reconfigure-device --mode=devdax \(device)` returns it"
        case .inUse(let option, let path, let holders):
            "\(option) \(path): in use: " + holders.map(\.description).joined(separator: "; ")
        case .notDAXFilesystem(let path, let mountpoint, let fstype):
            "--fsdax \(path): on \(mountpoint) (\(fstype)); fsdax needs ext4 or xfs on a pmem block device mounted -o dax"
        case .noDAX(let path, let mountpoint, let fstype, let reason):
            "--fsdax \(path): a new file there does not get STATX_ATTR_DAX (\(fstype) on \(mountpoint)): \(reason)"
        case .scratchFailed(let path, let errno): "cannot create a scratch file in \(path) to check it: \(errno)"
        case .daxBlockDevice(let path, let device):
            "--blk \(path): \(device) supports DAX (a pmem block device); O_DIRECT comparisons need a non-DAX disk"
        case .unusableBlockTarget(let path, let reason): "--blk \(path): \(reason)"
        case .duplicate(let id, let paths): "\(paths.joined(separator: " and ")) are both \(id); name one device per backing"
        }
    }
}

/// What a selection check needs from the machine; `SystemSelectionProbe` is the real one.
public protocol SelectionProbe {
    func fileKind(_ path: String) -> Result<FileKind, Errno>
    /// realpath(3), or the path itself when it cannot be resolved.
    func resolve(_ path: String) -> String
    func mounts() -> [MountEntry]
    /// Creates a scratch file in `directory`, reads its STATX_ATTR_DAX (nil: the kernel does not
    /// report it) and removes it.
    func scratchFileIsDAX(in directory: String) -> Result<Bool?, Errno>
    func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder]
    /// /sys/class/block/<device>/queue/dax (a partition's: its disk's).
    func blockDeviceSupportsDAX(_ device: String) -> Bool
    /// Opens `target` as the O_DIRECT workloads do (a scratch file for a directory, removed): nil if
    /// that works, else why not.
    func directIOProblem(_ target: BlockTarget) -> String?
}

public enum FileKind: String, Sendable {
    case characterDevice = "a character device"
    case blockDevice = "a block device"
    case directory = "a directory"
    case regularFile = "a regular file"
    case other = "something else"

    init(mode: UInt32) {
        switch mode & 0o170000 {
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o040000: self = .directory
        case 0o100000: self = .regularFile
        default: self = .other
        }
    }
}

public enum Selection {
    /// The file systems whose DAX daxref exercises.
    public static let fsdaxFilesystems: Set = ["ext4", "xfs"]

    public static func select(
        devdax: [String] = [], fsdax: [String] = [], blk: String? = nil, inventory: Inventory,
        probe: any SelectionProbe = SystemSelectionProbe()
    ) throws(SelectionError) -> HardwareSelection {
        var backings: [Backing] = []
        var sources: [String: String] = [:]
        func add(_ backing: Backing, from path: String) throws(SelectionError) {
            if let earlier = sources[backing.id] { throw .duplicate(id: backing.id, paths: [earlier, path]) }
            sources[backing.id] = path
            backings.append(backing)
        }
        for path in devdax { try add(try deviceDax(path, inventory: inventory, probe: probe), from: path) }
        for path in fsdax { try add(try fsdaxDirectory(path, probe: probe), from: path) }
        return HardwareSelection(backings: backings, blockTarget: try blk.map { (path) throws(SelectionError) in try blockTarget(path, probe: probe) })
    }

    /// A device-dax character device the inventory lists in devdax mode, not mapped or held.
    static func deviceDax(_ path: String, inventory: Inventory, probe: any SelectionProbe) throws(SelectionError) -> Backing {
        try expect(.characterDevice, "--devdax", path, probe: probe)
        let name = FilePath(probe.resolve(path)).lastComponent?.string ?? path
        let devdax = inventory.daxDevices.filter { $0.mode == .devdax && $0.size > 0 }.map(\.chardev).sorted()
        guard let device = inventory.daxDevices.first(where: { $0.chardev == name }) else {
            throw .notDeviceDax(path: path, known: devdax)
        }
        if device.mode == .systemRAM { throw .systemRAM(path: path, device: name) }
        guard device.size > 0, device.align > 0 else { throw .notDeviceDax(path: path, known: devdax) }
        // Mapped elsewhere or bound to another driver; merely open elsewhere does not get in the way.
        let holders = probe.holders(blockDevice: nil, daxDevice: name).filter {
            if case .open = $0 { false } else { true }
        }
        if holders.contains(where: { if case .driver(_, "kmem") = $0 { true } else { false } }) {
            throw .systemRAM(path: path, device: name)
        }
        guard holders.isEmpty else { throw .inUse(option: "--devdax", path: path, holders: holders) }
        return .deviceDax(path: "/dev/" + name, align: Int(device.align))
    }

    /// A directory on ext4 or xfs whose new files get STATX_ATTR_DAX.
    static func fsdaxDirectory(_ path: String, probe: any SelectionProbe) throws(SelectionError) -> Backing {
        try expect(.directory, "--fsdax", path, probe: probe)
        let real = probe.resolve(path)
        guard let mount = mount(containing: real, in: probe.mounts()) else {
            throw .noDAX(path: path, mountpoint: "?", fstype: "?", reason: "no mount in /proc/mounts contains it")
        }
        guard fsdaxFilesystems.contains(mount.fstype) else {
            throw .notDAXFilesystem(path: path, mountpoint: mount.mountpoint, fstype: mount.fstype)
        }
        switch probe.scratchFileIsDAX(in: path) {
        case .failure(let errno): throw .scratchFailed(path: path, errno)
        case .success(true): return .fsdax(mountpoint: real, fstype: mount.fstype)
        case .success(nil):
            throw .noDAX(path: path, mountpoint: mount.mountpoint, fstype: mount.fstype, reason: "this kernel does not report STATX_ATTR_DAX (before 5.8)")
        case .success(false):
            let reason: String
            switch mount.daxOption {
            case nil: reason = "mounted without -o dax (options: \(mount.options.joined(separator: ",")))"
            case "dax=inode"?: reason = "mounted dax=inode and the directory does not set the DAX attribute (`xfs_io -c 'chattr +x' \(path)`)"
            case let option?: reason = "mounted \(option), yet DAX is off (the device or the block size does not support it: see dmesg)"
            }
            throw .noDAX(path: path, mountpoint: mount.mountpoint, fstype: mount.fstype, reason: reason)
        }
    }

    /// A non-DAX block device nothing uses (it is written from offset 0), or a directory where a
    /// scratch file opens O_DIRECT and is not DAX.
    static func blockTarget(_ path: String, probe: any SelectionProbe) throws(SelectionError) -> BlockTarget {
        let kind: FileKind
        switch probe.fileKind(path) {
        case .failure(let errno): throw .missing(option: "--blk", path: path, errno)
        case .success(let found): kind = found
        }
        let target: BlockTarget
        switch kind {
        case .blockDevice:
            let name = FilePath(probe.resolve(path)).lastComponent?.string ?? path
            if probe.blockDeviceSupportsDAX(name) { throw .daxBlockDevice(path: path, device: name) }
            let holders = probe.holders(blockDevice: name, daxDevice: nil)
            guard holders.isEmpty else { throw .inUse(option: "--blk", path: path, holders: holders) }
            target = BlockTarget(path: path, kind: .device)
        case .directory:
            target = BlockTarget(path: path, kind: .directory)
        default:
            throw .wrongKind(option: "--blk", path: path, expected: "a block device or a directory", found: kind.rawValue)
        }
        if let problem = probe.directIOProblem(target) { throw .unusableBlockTarget(path: path, reason: problem) }
        return target
    }

    private static func expect(_ kind: FileKind, _ option: String, _ path: String, probe: any SelectionProbe) throws(SelectionError) {
        switch probe.fileKind(path) {
        case .failure(let errno): throw .missing(option: option, path: path, errno)
        case .success(let found) where found != kind:
            throw .wrongKind(option: option, path: path, expected: kind.rawValue, found: found.rawValue)
        case .success: return
        }
    }

    /// The mount whose mountpoint is the longest whole-component prefix of `path` (the last one
    /// listed wins among equals: it is mounted over the others).
    static func mount(containing path: String, in mounts: [MountEntry]) -> MountEntry? {
        let target = FilePath(path)
        return mounts.enumerated().filter { target.starts(with: FilePath($0.element.mountpoint)) }
            .max { ($0.element.mountpoint.count, $0.offset) < ($1.element.mountpoint.count, $1.offset) }?.element
    }
}

public struct SystemSelectionProbe: SelectionProbe {
    public init() {}

    public func fileKind(_ path: String) -> Result<FileKind, Errno> {
        do { return .success(FileKind(mode: try StatxAttributes.of(FilePath(path)).mode)) } catch { return .failure(error) }
    }

    public func resolve(_ path: String) -> String {
        (try? SystemFile.resolve(FilePath(path)).string) ?? path
    }

    public func mounts() -> [MountEntry] {
        ((try? SystemFile.readString("/proc/mounts")).map(MountEntry.parse) ?? []).compactMap { $0 }
    }

    public func scratchFileIsDAX(in directory: String) -> Result<Bool?, Errno> {
        do {
            let scratch = try ScratchFile(in: FilePath(directory))
            return .success(try StatxAttributes.of(scratch.path).isDAX)
        } catch {
            return .failure(error)
        }
    }

    public func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder] {
        DeviceUsage.read(blockDevice: blockDevice, daxDevice: daxDevice, excludingPID: getpid())
            .holders(blockDevice: blockDevice, daxDevice: daxDevice)
    }

    public func blockDeviceSupportsDAX(_ device: String) -> Bool {
        let directory = FilePath("/sys/class/block/\(device)")
        // A partition has no queue/ of its own; `..` from its (resolved) directory is its disk.
        let queue = SystemFile.exists(directory.appending("partition")) ? "../queue/dax" : "queue/dax"
        return ((try? SystemFile.readAttribute(FilePath(directory.string + "/" + queue))) ?? nil) == "1"
    }

    public func directIOProblem(_ target: BlockTarget) -> String? {
        do {
            _ = try DirectTarget(target, length: systemPageSize)
            return nil
        } catch {
            return error.description
        }
    }
}
