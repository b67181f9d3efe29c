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
    /// A device-dax device whose align no fixture has (the kernel maps only 4 KiB, 2 MiB and 1 GiB).
    case unsupportedAlign(path: String, align: UInt64)
    case systemRAM(path: String, device: String)
    case inUse(option: String, path: String, holders: [DeviceHolder])
    case notDAXFilesystem(path: String, mountpoint: String, fstype: String)
    case noDAX(path: String, mountpoint: String, fstype: String, reason: String)
    case scratchFailed(path: String, Errno)
    case daxBlockDevice(path: String, device: String)
    case unusableBlockTarget(path: String, reason: String)
    /// A symbolic link that cannot be followed (a loop: ELOOP, or a dangling link).
    case unresolvable(option: String, path: String, Errno)
    /// Writing the device would destroy what libblkid recognises on it.
    case carriesData(option: String, path: String, device: String, signatures: [BlockSignature])
    /// The signatures could not be read, so daxref cannot tell whether it holds data.
    case unreadable(option: String, path: String, Errno)
    /// open(O_EXCL) is refused: a mount, md, device mapper or another program holds it exclusively.
    case heldExclusively(option: String, path: String, device: String)
    case tooSmall(option: String, path: String, bytes: Int64, needed: Int)
    /// A raw device daxref would overwrite, without `--allow-overwrite` naming it.
    case overwriteNotAllowed(option: String, path: String, device: String)
    /// A directory on a file system with no block device under it (tmpfs, 9p, NFS…).
    case notOnBlockDevice(option: String, path: String, mountpoint: String, fstype: String)
    /// Two paths give the same backing ID (`devdax.2m` twice): a run names each backing once.
    case duplicate(id: String, paths: [String])

    public var description: String {
        switch self {
        case .missing(let option, let path, let errno): "\(option) \(path): \(errno)"
        case .wrongKind(let option, let path, let expected, let found): "\(option) \(path): expected \(expected), found \(found)"
        case .notDeviceDax(let path, let known):
            "--devdax \(path): not a device-dax device in devdax mode here"
                + (known.isEmpty ? " (daxctl list shows none)" : "; devdax devices: \(known.map { "/dev/" + $0 }.joined(separator: ", "))")
        case .unsupportedAlign(let path, let align):
            "--devdax \(path): align \(align); daxref has scenarios for \(DeviceAlign.allCases.map(\.label).joined(separator: ", "))"
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
        case .unresolvable(let option, let path, let errno): "\(option) \(path): cannot follow the link: \(errno)"
        case .carriesData(let option, let path, let device, let signatures):
            "\(option) \(path): refused: /dev/\(device) carries data daxref would overwrite: "
                + signatures.map(\.description).joined(separator: ", ")
                + ". daxref never overwrites a signature; if the data is disposable, erase it first (wipefs --all /dev/\(device))"
        case .unreadable(let option, let path, let errno): "\(option) \(path): cannot read it to check for data (\(errno)); refused"
        case .heldExclusively(let option, let path, let device):
            "\(option) \(path): /dev/\(device) is held exclusively (open O_EXCL is refused: mounted, or used by md, device mapper or another program); refused"
        case .tooSmall(let option, let path, let bytes, let needed):
            "\(option) \(path): \(bytes) bytes; the O_DIRECT scenarios need at least \(needed)"
        case .overwriteNotAllowed(let option, let path, let device):
            "\(option) \(path): the O_DIRECT scenarios overwrite /dev/\(device) from offset 0; name it to allow that: --allow-overwrite \(path)"
        case .notOnBlockDevice(let option, let path, let mountpoint, let fstype):
            "\(option) \(path): on \(mountpoint) (\(fstype)), which has no block device under it; O_DIRECT scenarios need a directory on a non-DAX block device (ext4, xfs, btrfs…)"
        case .duplicate(let id, let paths): "\(paths.joined(separator: " and ")) are both \(id); name one device per backing"
        }
    }
}

/// What a selection check needs from the machine; `SystemSelectionProbe` is the real one.
public protocol SelectionProbe {
    func fileKind(_ path: String) -> Result<FileKind, Errno>
    /// realpath(3): every symbolic link followed (ELOOP for a loop).
    func resolve(_ path: String) -> Result<String, Errno>
    func mounts() -> [MountEntry]
    /// Creates a scratch file in `directory`, reads its STATX_ATTR_DAX (nil: the kernel does not
    /// report it) and removes it.
    func scratchFileIsDAX(in directory: String) -> Result<Bool?, Errno>
    func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder]
    /// /sys/class/block/<device>/queue/dax (a partition's: its disk's).
    func blockDeviceSupportsDAX(_ device: String) -> Bool
    /// Every signature libblkid finds on the block device at `path` (`BlockSignatures.probe`).
    func signatures(_ path: String) -> Result<[BlockSignature], Errno>
    /// Whether open(O_EXCL) of the block device at `path` is refused with EBUSY.
    func isHeldExclusively(_ path: String) -> Bool
    /// The size of a block device (kernel name) in bytes, from sysfs.
    func blockDeviceBytes(_ device: String) -> Int64?
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

/// Where a block target was named: what a refusal calls it, and whether overwriting it needs an opt-in.
public enum BlockTargetSource: Sendable, Equatable {
    /// `--blk` on the command line.
    case flag
    /// An environment variable the user set (`DAXREF_BLK`): the same checks and opt-in as `--blk`.
    case environment(String)
    /// The disk a daxref VM provisioned for this boot (a fresh sparse file on the host): disposable,
    /// so no opt-in, but every other check still applies.
    case provisioned(String)

    var option: String {
        switch self {
        case .flag: "--blk"
        case .environment(let name), .provisioned(let name): name
        }
    }
}

/// The one device-safety policy: every path that names memory or a disk for daxref to use (flags,
/// environment, VM provisioning) goes through here before any work starts.
public enum Selection {
    /// File systems with no block device under them: O_DIRECT there does not reach a disk.
    static let blocklessFilesystems: Set = [
        "tmpfs", "ramfs", "devtmpfs", "proc", "sysfs", "overlay", "9p", "nfs", "nfs4", "cifs", "smb3", "fuse",
        "fuseblk", "virtiofs", "hugetlbfs", "cgroup2", "debugfs", "tracefs", "securityfs", "squashfs", "autofs",
    ]

    public static func select(
        devdax: [String] = [], fsdax: [String] = [], blk: String? = nil, allowOverwrite: [String] = [],
        minimumBlockBytes: Int = StepRequest.defaultLength, inventory: Inventory,
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
        let target = try blk.map { (path) throws(SelectionError) in
            try blockTarget(path, source: .flag, allowOverwrite: allowOverwrite, minimumBytes: minimumBlockBytes, probe: probe)
        }
        return HardwareSelection(backings: backings, blockTarget: target)
    }

    /// A device-dax character device the inventory lists in devdax mode, not mapped or held.
    static func deviceDax(_ path: String, inventory: Inventory, probe: any SelectionProbe) throws(SelectionError) -> Backing {
        let real = try resolved(.characterDevice, "--devdax", path, probe: probe)
        let name = FilePath(real).lastComponent?.string ?? path
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
        guard let align = DeviceAlign(rawValue: Int(device.align)) else { throw .unsupportedAlign(path: path, align: device.align) }
        return .deviceDax(path: "/dev/" + name, align: align)
    }

    /// A directory on ext4 or xfs whose new files get STATX_ATTR_DAX.
    static func fsdaxDirectory(_ path: String, probe: any SelectionProbe) throws(SelectionError) -> Backing {
        let real = try resolved(.directory, "--fsdax", path, probe: probe)
        guard let mount = mount(containing: real, in: probe.mounts()) else {
            throw .noDAX(path: path, mountpoint: "?", fstype: "?", reason: "no mount in /proc/mounts contains it")
        }
        guard let filesystem = DAXFilesystem(rawValue: mount.fstype) else {
            throw .notDAXFilesystem(path: path, mountpoint: mount.mountpoint, fstype: mount.fstype)
        }
        switch probe.scratchFileIsDAX(in: path) {
        case .failure(let errno): throw .scratchFailed(path: path, errno)
        case .success(true): return .fsdax(mountpoint: real, filesystem: filesystem)
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

    /// The O_DIRECT target. A block device is written from offset 0, so it must be non-DAX, used by
    /// nothing, carry no signature (file system, partition table, LVM, RAID, swap…), be large
    /// enough, and be named by `--allow-overwrite` unless the VM provisioned it. A directory must
    /// be on a non-DAX block device, and a scratch file there must open O_DIRECT.
    public static func blockTarget(
        _ path: String, source: BlockTargetSource, allowOverwrite: [String] = [],
        minimumBytes: Int = StepRequest.defaultLength, probe: any SelectionProbe = SystemSelectionProbe()
    ) throws(SelectionError) -> BlockTarget {
        let option = source.option
        let real = try resolve(option, path, probe: probe)
        let kind: FileKind
        switch probe.fileKind(real) {
        case .failure(let errno): throw .missing(option: option, path: path, errno)
        case .success(let found): kind = found
        }
        let target: BlockTarget
        switch kind {
        case .blockDevice:
            let name = FilePath(real).lastComponent?.string ?? path
            if probe.blockDeviceSupportsDAX(name) { throw .daxBlockDevice(path: path, device: name) }
            let holders = probe.holders(blockDevice: name, daxDevice: nil)
            guard holders.isEmpty else { throw .inUse(option: option, path: path, holders: holders) }
            if probe.isHeldExclusively(real) { throw .heldExclusively(option: option, path: path, device: name) }
            switch probe.signatures(real) {
            case .failure(let errno): throw .unreadable(option: option, path: path, errno)
            case .success(let signatures) where !signatures.isEmpty:
                throw .carriesData(option: option, path: path, device: name, signatures: signatures)
            case .success: break
            }
            let bytes = probe.blockDeviceBytes(name) ?? 0
            if bytes < minimumBytes { throw .tooSmall(option: option, path: path, bytes: bytes, needed: minimumBytes) }
            if case .provisioned = source {} else {
                let named = allowOverwrite.contains { (try? probe.resolve($0).get()) == real }
                guard named else { throw .overwriteNotAllowed(option: option, path: path, device: name) }
            }
            target = BlockTarget(path: real, kind: .device)
        case .directory:
            if let mount = mount(containing: real, in: probe.mounts()), blocklessFilesystems.contains(mount.fstype) {
                throw .notOnBlockDevice(option: option, path: path, mountpoint: mount.mountpoint, fstype: mount.fstype)
            }
            target = BlockTarget(path: real, kind: .directory)
        default:
            throw .wrongKind(option: option, path: path, expected: "a block device or a directory", found: kind.rawValue)
        }
        if let problem = probe.directIOProblem(target) { throw .unusableBlockTarget(path: path, reason: problem) }
        return target
    }

    /// The O_DIRECT target named outside the flags: `DAXREF_BLK` (the user's, checked like `--blk`),
    /// else the disk or directory the VM provisioned (`DAXREF_BLK_MNT`, then `DAXREF_BLK_DEV`, from
    /// the environment or `$DAXREF_RUN_DIR/provisioned.env`), trusted as disposable only inside a
    /// daxref guest. nil when none is named.
    public static func blockTarget(
        environment: [String: String], allowOverwrite: [String] = [], minimumBytes: Int = StepRequest.defaultLength,
        probe: any SelectionProbe = SystemSelectionProbe()
    ) throws(SelectionError) -> BlockTarget? {
        if let path = environment["DAXREF_BLK"], !path.isEmpty {
            return try blockTarget(path, source: .environment("DAXREF_BLK"), allowOverwrite: allowOverwrite, minimumBytes: minimumBytes, probe: probe)
        }
        var settings = environment
        if let runDirectory = environment["DAXREF_RUN_DIR"],
            let text = try? SystemFile.readString(FilePath(runDirectory).appending("provisioned.env"))
        {
            settings.merge(ProvisionedEnvironment.parse(text)) { fromEnvironment, _ in fromEnvironment }
        }
        let inGuest = environment["DAXREF_GUEST"] == "1"
        for key in ["DAXREF_BLK_MNT", "DAXREF_BLK_DEV"] {
            guard let path = settings[key], !path.isEmpty else { continue }
            let source: BlockTargetSource = inGuest ? .provisioned(key) : .environment(key)
            return try blockTarget(path, source: source, allowOverwrite: allowOverwrite, minimumBytes: minimumBytes, probe: probe)
        }
        return nil
    }

    /// The path with every link followed: missing, or a link that cannot be followed (ELOOP).
    private static func resolve(_ option: String, _ path: String, probe: any SelectionProbe) throws(SelectionError) -> String {
        switch probe.resolve(path) {
        case .failure(.noSuchFileOrDirectory): throw .missing(option: option, path: path, .noSuchFileOrDirectory)
        case .failure(let errno): throw .unresolvable(option: option, path: path, errno)
        case .success(let found): return found
        }
    }

    /// The path with every link followed, checked to be `kind`.
    private static func resolved(_ kind: FileKind, _ option: String, _ path: String, probe: any SelectionProbe) throws(SelectionError) -> String {
        let real = try resolve(option, path, probe: probe)
        switch probe.fileKind(real) {
        case .failure(let errno): throw .missing(option: option, path: path, errno)
        case .success(let found) where found != kind:
            throw .wrongKind(option: option, path: path, expected: kind.rawValue, found: found.rawValue)
        case .success: return real
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

    public func resolve(_ path: String) -> Result<String, Errno> {
        do { return .success(try SystemFile.resolve(FilePath(path)).string) } catch { return .failure(error) }
    }

    public func signatures(_ path: String) -> Result<[BlockSignature], Errno> {
        do { return .success(try BlockSignatures.probe(path)) } catch { return .failure(error) }
    }

    public func isHeldExclusively(_ path: String) -> Bool {
        // O_EXCL on a block device: EBUSY while mounted or claimed by md, dm or another O_EXCL opener.
        let fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK)
        if fd >= 0 { close(fd); return false }
        return errno == EBUSY
    }

    public func blockDeviceBytes(_ device: String) -> Int64? {
        // sysfs `size` counts 512-byte sectors whatever the logical block size.
        ((try? SystemFile.readAttribute(FilePath("/sys/class/block/\(device)/size"))) ?? nil).flatMap { Int64($0) }.map { $0 * 512 }
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
