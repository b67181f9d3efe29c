import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Something using a device that daxref is about to reconfigure or write to: the reason to refuse.
public enum DeviceHolder: Sendable, Equatable, CustomStringConvertible {
    /// A file system on the device (or one of its partitions) is mounted.
    case mounted(device: String, mountpoint: String)
    case swap(device: String)
    /// Another block device is stacked on it (device mapper, md, bcache: sysfs `holders/`).
    case stacked(device: String, holder: String)
    /// A process has it mapped (/proc/PID/maps).
    case mapped(device: String, pid: Int32, command: String)
    /// A process has it open (/proc/PID/fd).
    case open(device: String, pid: Int32, command: String)
    /// A dax device bound to a driver other than device_dax: `kmem` means its memory is online as
    /// system RAM.
    case driver(device: String, driver: String)

    public var description: String {
        switch self {
        case .mounted(let device, let mountpoint): "/dev/\(device) is mounted on \(mountpoint)"
        case .swap(let device): "/dev/\(device) is in use as swap"
        case .stacked(let device, let holder): "/dev/\(device) is held by \(holder) (/sys/class/block/\(device)/holders)"
        case .mapped(let device, let pid, let command): "/dev/\(device) is mapped by \(command) (pid \(pid))"
        case .open(let device, let pid, let command): "/dev/\(device) is open in \(command) (pid \(pid))"
        case .driver(let device, "kmem"):
            "\(device) is online as system-ram (kmem driver; `daxctl reconfigure-device --mode=devdax \(device)` returns it)"
        case .driver(let device, let driver): "\(device) is bound to the \(driver) driver, not device_dax"
        }
    }
}

/// Who uses which devices: mounts, swap, stacked block devices, processes' mappings and open files,
/// dax drivers. Devices are kernel names (`pmem0.2`, `pmem0.2p1`, `dax0.1`). `read` collects it
/// from /proc and sysfs; `holders` is the decision, separate so it can be tested on made-up input.
public struct DeviceUsage: Sendable, Equatable {
    public struct MountedDevice: Sendable, Equatable {
        public var device: String
        public var mountpoint: String
        public init(device: String, mountpoint: String) {
            self.device = device
            self.mountpoint = mountpoint
        }
    }

    public struct ProcessUse: Sendable, Equatable {
        public var pid: Int32
        public var command: String
        public var mapped: Set<String>
        public var open: Set<String>
        public init(pid: Int32, command: String, mapped: Set<String> = [], open: Set<String> = []) {
            self.pid = pid
            self.command = command
            self.mapped = mapped
            self.open = open
        }
    }

    public var mounts: [MountedDevice] = []
    public var swaps: [String] = []
    /// Block device → its partitions.
    public var partitions: [String: [String]] = [:]
    /// Block device or partition → what is stacked on it.
    public var stacked: [String: [String]] = [:]
    public var processes: [ProcessUse] = []
    /// Dax device → the driver it is bound to (`device_dax`, `kmem`, …); absent when unbound.
    public var daxDrivers: [String: String] = [:]

    public init() {}

    /// Everything holding `blockDevice` (and its partitions) or `daxDevice`; empty when both are free.
    public func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder] {
        var result: [DeviceHolder] = []
        var devices: [String] = []
        if let blockDevice { devices += [blockDevice] + (partitions[blockDevice] ?? []) }
        for device in devices {
            result += mounts.filter { $0.device == device }.map { .mounted(device: device, mountpoint: $0.mountpoint) }
            if swaps.contains(device) { result.append(.swap(device: device)) }
            result += (stacked[device] ?? []).map { .stacked(device: device, holder: $0) }
        }
        if let daxDevice {
            devices.append(daxDevice)
            if let driver = daxDrivers[daxDevice], driver != "device_dax" { result.append(.driver(device: daxDevice, driver: driver)) }
        }
        for process in processes {
            for device in devices where process.mapped.contains(device) {
                result.append(.mapped(device: device, pid: process.pid, command: process.command))
            }
            for device in devices where process.open.contains(device) && !process.mapped.contains(device) {
                result.append(.open(device: device, pid: process.pid, command: process.command))
            }
        }
        return result
    }

    /// Reads what matters for `blockDevice` and `daxDevice` from /proc and sysfs. Processes are all of
    /// /proc except `excludingPID`; ones that end or refuse while being read are passed over.
    public static func read(blockDevice: String?, daxDevice: String?, excludingPID: Int32? = nil) -> DeviceUsage {
        var usage = DeviceUsage()
        var interesting = Set<String>()
        if let blockDevice {
            let partitions = partitions(of: blockDevice)
            usage.partitions[blockDevice] = partitions
            for device in [blockDevice] + partitions {
                interesting.insert(device)
                let holders = (try? SystemFile.listDirectory(FilePath("/sys/class/block/\(device)/holders"))) ?? []
                if !holders.isEmpty { usage.stacked[device] = holders }
            }
            let mounts = (try? SystemFile.readString("/proc/mounts")).map(MountEntry.parse) ?? []
            for case let mount? in mounts {
                if let device = deviceName(mount.source, resolving: true), interesting.contains(device) {
                    usage.mounts.append(MountedDevice(device: device, mountpoint: mount.mountpoint))
                }
            }
            // /proc/swaps: a header line, then `Filename Type Size Used Priority`.
            let swaps = ((try? SystemFile.readString("/proc/swaps")) ?? "").split(separator: "\n").dropFirst()
            usage.swaps = swaps.compactMap { line in
                line.split(separator: " ").first.flatMap { deviceName(MountEntry.unescape($0), resolving: true) }
            }.filter(interesting.contains)
        }
        if let daxDevice {
            interesting.insert(daxDevice)
            if let driver = try? SystemFile.readLink(FilePath("/sys/bus/dax/devices/\(daxDevice)/driver")) {
                usage.daxDrivers[daxDevice] = FilePath(driver).lastComponent?.string
            }
        }
        guard !interesting.isEmpty else { return usage }
        for name in (try? SystemFile.listDirectory("/proc")) ?? [] {
            guard let pid = Int32(name), pid != excludingPID else { continue }
            var use = ProcessUse(pid: pid, command: (try? SystemFile.readAttribute(FilePath("/proc/\(pid)/comm")) ?? nil) ?? "?")
            for vma in (try? ProcMaps.read(pid: pid)) ?? [] {
                if let path = vma.path, let device = deviceName(path, resolving: false), interesting.contains(device) {
                    use.mapped.insert(device)
                }
            }
            let fdDirectory = FilePath("/proc/\(pid)/fd")
            for fd in (try? SystemFile.listDirectory(fdDirectory)) ?? [] {
                if let target = try? SystemFile.readLink(fdDirectory.appending(fd)),
                    let device = deviceName(target, resolving: false), interesting.contains(device)
                {
                    use.open.insert(device)
                }
            }
            if !use.mapped.isEmpty || !use.open.isEmpty { usage.processes.append(use) }
        }
        return usage
    }

    /// Partitions of a block device: its sysfs directory's subdirectories that have a `partition` file.
    static func partitions(of device: String) -> [String] {
        let directory = FilePath("/sys/class/block/\(device)")
        return ((try? SystemFile.listDirectory(directory)) ?? []).filter {
            $0.hasPrefix(device) && SystemFile.exists(directory.appending($0).appending("partition"))
        }
    }

    /// `/dev/pmem0.2` → `pmem0.2`; nil for anything but a node directly in /dev (devtmpfs names
    /// every block and dax device there). With `resolving`, symbolic links (/dev/disk/by-…,
    /// /dev/mapper/…) are followed first.
    static func deviceName(_ path: String, resolving: Bool) -> String? {
        var path = path
        if resolving, path.hasPrefix("/"), let real = try? SystemFile.resolve(FilePath(path)) { path = real.string }
        guard path.hasPrefix("/dev/") else { return nil }
        let name = path.dropFirst("/dev/".count)
        guard !name.isEmpty, !name.contains("/"), !name.hasSuffix(" (deleted)") else { return nil }
        return String(name)
    }
}
