import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

/// A machine for the selection checks: file kinds, mounts, what a scratch file reports, holders.
struct MockSelectionProbe: SelectionProbe {
    var kinds: [String: FileKind] = [:]
    var links: [String: String] = [:]
    var mountTable = ""
    /// Directory → STATX_ATTR_DAX of a new file there (nil: not reported); absent: creating fails.
    var scratchDAX: [String: Bool?] = [:]
    var holdersByDevice: [String: [DeviceHolder]] = [:]
    var daxCapable: Set<String> = []
    var directIOProblems: [String: String] = [:]
    /// Paths whose links loop (ELOOP).
    var loops: Set<String> = []
    var signaturesByPath: [String: [BlockSignature]] = [:]
    var exclusive: Set<String> = []
    var bytes: [String: Int64] = [:]

    func fileKind(_ path: String) -> Result<FileKind, Errno> { kinds[path].map { .success($0) } ?? .failure(.noSuchFileOrDirectory) }
    func resolve(_ path: String) -> Result<String, Errno> {
        if loops.contains(path) { return .failure(.tooManySymbolicLinkLevels) }
        let real = links[path] ?? path
        return kinds[real] == nil ? .failure(.noSuchFileOrDirectory) : .success(real)
    }
    func signatures(_ path: String) -> Result<[BlockSignature], Errno> { .success(signaturesByPath[path] ?? []) }
    func isHeldExclusively(_ path: String) -> Bool { exclusive.contains(path) }
    func blockDeviceBytes(_ device: String) -> Int64? { bytes[device] ?? (1 << 30) }
    func mounts() -> [MountEntry] { MountEntry.parse(mountTable).compactMap { $0 } }
    func scratchFileIsDAX(in directory: String) -> Result<Bool?, Errno> {
        guard let dax = scratchDAX[directory] else { return .failure(.permissionDenied) }
        return .success(dax)
    }
    func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder] {
        [blockDevice, daxDevice].compactMap { $0 }.flatMap { holdersByDevice[$0] ?? [] }
    }
    func blockDeviceSupportsDAX(_ device: String) -> Bool { daxCapable.contains(device) }
    func directIOProblem(_ target: BlockTarget) -> String? { directIOProblems[target.path] }
}

@Suite struct SelectionTests {
    /// The guests' inventories (Fixtures/inventory): dax0.0 is 2M-aligned, dax0.1 4K-aligned.
    static func inventory(_ release: String = "7.2.13+deb14-amd64") throws -> Inventory {
        let url = try #require(Bundle.module.url(forResource: "inventory", withExtension: "json", subdirectory: "Fixtures/inventory/\(release)"))
        return try JSONDecoder().decode(Inventory.self, from: Data(contentsOf: url))
    }

    static let guestMounts = """
        /dev/pmem0.2 /mnt/daxref/ext4 ext4 rw,relatime,dax=always 0 0
        /dev/pmem0.3 /mnt/daxref/xfs xfs rw,relatime,attr2,inode64,dax=always 0 0
        /dev/vda /mnt/plain ext4 rw,relatime 0 0
        /dev/vdb /mnt/inode xfs rw,relatime,dax=inode 0 0
        tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
        """

    static var probe: MockSelectionProbe {
        var probe = MockSelectionProbe()
        probe.kinds = [
            "/dev/dax0.0": .characterDevice, "/dev/dax0.1": .characterDevice, "/dev/dax9.9": .characterDevice,
            "/dev/char/252:0": .characterDevice, "/dev/pmem0.2": .blockDevice, "/dev/vdc": .blockDevice, "/dev/vda": .blockDevice,
            "/dev/null": .characterDevice, "/mnt/daxref/ext4": .directory, "/mnt/daxref/ext4/sub": .directory,
            "/mnt/daxref/xfs": .directory, "/mnt/plain": .directory, "/mnt/inode": .directory, "/tmp": .directory,
            "/mnt/daxref/ext4x": .directory, "/etc/hostname": .regularFile,
        ]
        probe.links = ["/dev/char/252:0": "/dev/dax0.0"]
        probe.mountTable = guestMounts
        probe.scratchDAX = ["/mnt/daxref/ext4": true, "/mnt/daxref/ext4/sub": true, "/mnt/daxref/xfs": true, "/mnt/plain": false, "/mnt/inode": false]
        probe.daxCapable = ["pmem0.2"]
        return probe
    }

    static func refusal(devdax: [String] = [], fsdax: [String] = [], blk: String? = nil, allowOverwrite: [String] = [],
                        probe: MockSelectionProbe = probe) throws -> SelectionError? {
        let inventory = try inventory()
        do {
            _ = try Selection.select(devdax: devdax, fsdax: fsdax, blk: blk, allowOverwrite: allowOverwrite, inventory: inventory, probe: probe)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["6.1.0-50-amd64", "7.2.13+deb14-amd64"])
    func devdaxFromRecordedInventory(_ release: String) throws {
        let selection = try Selection.select(devdax: ["/dev/dax0.0", "/dev/dax0.1"], inventory: try Self.inventory(release), probe: Self.probe)
        #expect(selection.backings.map(\.id) == ["devdax.2m", "devdax.4k"])
        #expect(selection.backings.map(\.alignment) == [2 << 20, 4096])
        #expect(selection.backings.map(\.path) == ["/dev/dax0.0", "/dev/dax0.1"])
        #expect(selection.blockTarget == nil)
        let viaLink = try Selection.select(devdax: ["/dev/char/252:0"], inventory: try Self.inventory(release), probe: Self.probe)
        #expect(viaLink.backings.first?.path == "/dev/dax0.0", "a link to the node names the same device")
    }

    @Test func devdaxRefusals() throws {
        guard case .notDeviceDax(_, let known)? = try Self.refusal(devdax: ["/dev/dax9.9"]) else { Issue.record("dax9.9"); return }
        #expect(known == ["dax0.0", "dax0.1"])
        #expect(try Self.refusal(devdax: ["/dev/dax9.9"])!.description.contains("/dev/dax0.0, /dev/dax0.1"))
        #expect(try Self.refusal(devdax: ["/dev/dax0.5"]) == .missing(option: "--devdax", path: "/dev/dax0.5", .noSuchFileOrDirectory))
        #expect(try Self.refusal(devdax: ["/dev/pmem0.2"]) == .wrongKind(option: "--devdax", path: "/dev/pmem0.2", expected: "a character device", found: "a block device"))
        #expect(try Self.refusal(devdax: ["/dev/null"]) == .notDeviceDax(path: "/dev/null", known: ["dax0.0", "dax0.1"]))
        #expect(try Self.refusal(devdax: ["/dev/dax0.0", "/dev/char/252:0"]) == .duplicate(id: "devdax.2m", paths: ["/dev/dax0.0", "/dev/char/252:0"]))

        var mapped = Self.probe
        mapped.holdersByDevice["dax0.1"] = [.mapped(device: "dax0.1", pid: 4242, command: "qemu-system-x86")]
        let inUse = try Self.refusal(devdax: ["/dev/dax0.1"], probe: mapped)
        #expect(inUse == .inUse(option: "--devdax", path: "/dev/dax0.1", holders: [.mapped(device: "dax0.1", pid: 4242, command: "qemu-system-x86")]))
        #expect(inUse?.description == "--devdax /dev/dax0.1: in use: /dev/dax0.1 is mapped by qemu-system-x86 (pid 4242)")

        var opened = Self.probe
        opened.holdersByDevice["dax0.1"] = [.open(device: "dax0.1", pid: 4243, command: "monitor")]
        #expect(try Self.refusal(devdax: ["/dev/dax0.1"], probe: opened) == nil, "open without a mapping is no obstacle")

        var kmem = Self.probe
        kmem.holdersByDevice["dax0.0"] = [.driver(device: "dax0.0", driver: "kmem")]
        #expect(try Self.refusal(devdax: ["/dev/dax0.0"], probe: kmem) == .systemRAM(path: "/dev/dax0.0", device: "dax0.0"))
        var inventory = try Self.inventory()
        inventory.daxRegions[0].devices[0].mode = .systemRAM
        let chardev = inventory.daxRegions[0].devices[0].chardev
        #expect(throws: SelectionError.systemRAM(path: "/dev/\(chardev)", device: chardev)) {
            try Selection.select(devdax: ["/dev/\(chardev)"], inventory: inventory, probe: Self.probe)
        }
    }

    @Test func fsdaxDirectories() throws {
        let selection = try Selection.select(fsdax: ["/mnt/daxref/ext4/sub", "/mnt/daxref/xfs"], inventory: try Self.inventory(), probe: Self.probe)
        #expect(selection.backings == [.fsdax(mountpoint: "/mnt/daxref/ext4/sub", filesystem: .ext4), .fsdax(mountpoint: "/mnt/daxref/xfs", filesystem: .xfs)])
        #expect(selection.backings.map(\.id) == ["fsdax.ext4", "fsdax.xfs"])
    }

    @Test func fsdaxRefusals() throws {
        #expect(try Self.refusal(fsdax: ["/tmp"]) == .notDAXFilesystem(path: "/tmp", mountpoint: "/tmp", fstype: "tmpfs"))
        guard case .noDAX(_, "/mnt/plain", "ext4", let reason)? = try Self.refusal(fsdax: ["/mnt/plain"]) else { Issue.record("plain ext4"); return }
        #expect(reason == "mounted without -o dax (options: rw,relatime)")
        guard case .noDAX(_, _, _, let inode)? = try Self.refusal(fsdax: ["/mnt/inode"]) else { Issue.record("dax=inode"); return }
        #expect(inode.contains("dax=inode") && inode.contains("chattr +x"))
        var off = Self.probe
        off.scratchDAX["/mnt/daxref/ext4"] = false
        guard case .noDAX(_, _, _, let dmesg)? = try Self.refusal(fsdax: ["/mnt/daxref/ext4"], probe: off) else { Issue.record("dax off"); return }
        #expect(dmesg.contains("dax=always, yet DAX is off"))
        off.scratchDAX["/mnt/daxref/ext4"] = .some(nil)
        guard case .noDAX(_, _, _, let old)? = try Self.refusal(fsdax: ["/mnt/daxref/ext4"], probe: off) else { Issue.record("no statx"); return }
        #expect(old.contains("before 5.8"))
        // /mnt/daxref/ext4x is not under /mnt/daxref/ext4 (whole path components), and the scratch file cannot be made.
        #expect(try Self.refusal(fsdax: ["/mnt/daxref/ext4x"]) == .noDAX(path: "/mnt/daxref/ext4x", mountpoint: "?", fstype: "?", reason: "no mount in /proc/mounts contains it"))
        #expect(try Self.refusal(fsdax: ["/etc/hostname"]) == .wrongKind(option: "--fsdax", path: "/etc/hostname", expected: "a directory", found: "a regular file"))
        #expect(try Self.refusal(fsdax: ["/mnt/daxref/ext4", "/mnt/daxref/ext4/sub"]) == .duplicate(id: "fsdax.ext4", paths: ["/mnt/daxref/ext4", "/mnt/daxref/ext4/sub"]))
        var denied = Self.probe
        denied.scratchDAX["/mnt/daxref/xfs"] = nil
        #expect(try Self.refusal(fsdax: ["/mnt/daxref/xfs"], probe: denied) == .scratchFailed(path: "/mnt/daxref/xfs", .permissionDenied))
    }

    @Test func mountLookupUsesWholeComponentsAndTheTopMount() {
        let mounts = MountEntry.parse("/dev/root / ext4 rw 0 0\n/dev/a /mnt ext4 rw 0 0\n/dev/b /mnt xfs rw 0 0\n").compactMap { $0 }
        #expect(Selection.mount(containing: "/mnt/x", in: mounts)?.source == "/dev/b", "the later mount is on top")
        #expect(Selection.mount(containing: "/mntx", in: mounts)?.source == "/dev/root")
    }

    @Test func blockTargets() throws {
        let inventory = try Self.inventory()
        #expect(try Selection.select(blk: "/dev/vdc", allowOverwrite: ["/dev/vdc"], inventory: inventory, probe: Self.probe).blockTarget
            == BlockTarget(path: "/dev/vdc", kind: .device))
        #expect(try Selection.select(blk: "/mnt/plain", inventory: inventory, probe: Self.probe).blockTarget == BlockTarget(path: "/mnt/plain", kind: .directory))
        #expect(try Self.refusal(blk: "/dev/pmem0.2", allowOverwrite: ["/dev/pmem0.2"]) == .daxBlockDevice(path: "/dev/pmem0.2", device: "pmem0.2"))
        var mounted = Self.probe
        mounted.holdersByDevice["vda"] = [.mounted(device: "vda", mountpoint: "/mnt/plain")]
        #expect(try Self.refusal(blk: "/dev/vda", allowOverwrite: ["/dev/vda"], probe: mounted)?.description == "--blk /dev/vda: in use: /dev/vda is mounted on /mnt/plain")
        var direct = Self.probe
        direct.directIOProblems["/mnt/daxref/ext4"] = "/mnt/daxref/ext4 is on a DAX filesystem; O_DIRECT needs a non-DAX block device"
        #expect(try Self.refusal(blk: "/mnt/daxref/ext4", probe: direct) == .unusableBlockTarget(
            path: "/mnt/daxref/ext4", reason: "/mnt/daxref/ext4 is on a DAX filesystem; O_DIRECT needs a non-DAX block device"))
        #expect(try Self.refusal(blk: "/dev/null") == .wrongKind(option: "--blk", path: "/dev/null", expected: "a block device or a directory", found: "a character device"))
        #expect(try Self.refusal(blk: "/dev/sdz") == .missing(option: "--blk", path: "/dev/sdz", .noSuchFileOrDirectory))
    }

    /// The data-loss defect: an unmounted device with a file system was overwritten. Now a signature
    /// refuses it whatever the opt-in, and an empty device still needs the opt-in naming it.
    @Test func blockDevicesNeedAnOptInAndNoSignature() throws {
        #expect(try Self.refusal(blk: "/dev/vdc") == .overwriteNotAllowed(option: "--blk", path: "/dev/vdc", device: "vdc"))
        #expect(try Self.refusal(blk: "/dev/vdc")!.description.contains("--allow-overwrite /dev/vdc"))
        #expect(try Self.refusal(blk: "/dev/vdc", allowOverwrite: ["/dev/vda"]) == .overwriteNotAllowed(option: "--blk", path: "/dev/vdc", device: "vdc"))
        var linked = Self.probe
        linked.kinds["/dev/disk/by-id/virtio-daxref"] = .blockDevice
        linked.links["/dev/disk/by-id/virtio-daxref"] = "/dev/vdc"
        #expect(try Selection.select(blk: "/dev/disk/by-id/virtio-daxref", allowOverwrite: ["/dev/vdc"], inventory: try Self.inventory(), probe: linked)
            .blockTarget == BlockTarget(path: "/dev/vdc", kind: .device), "a link and its target name the same device")

        var ext4 = Self.probe
        let signature = BlockSignature(type: "ext4", usage: "filesystem", offset: 1080, label: "home")
        ext4.signaturesByPath["/dev/vdc"] = [signature]
        let refusal = try Self.refusal(blk: "/dev/vdc", allowOverwrite: ["/dev/vdc"], probe: ext4)
        #expect(refusal == .carriesData(option: "--blk", path: "/dev/vdc", device: "vdc", signatures: [signature]))
        #expect(refusal?.description.contains("ext4 (filesystem at offset 1080, label \"home\")") == true)
        #expect(refusal?.description.contains("wipefs") == true)

        var held = Self.probe
        held.exclusive = ["/dev/vdc"]
        #expect(try Self.refusal(blk: "/dev/vdc", allowOverwrite: ["/dev/vdc"], probe: held) == .heldExclusively(option: "--blk", path: "/dev/vdc", device: "vdc"))
        var tiny = Self.probe
        tiny.bytes["vdc"] = 0
        #expect(try Self.refusal(blk: "/dev/vdc", allowOverwrite: ["/dev/vdc"], probe: tiny)
            == .tooSmall(option: "--blk", path: "/dev/vdc", bytes: 0, needed: StepRequest.defaultLength))
        var looping = Self.probe
        looping.loops = ["/tmp/loop"]
        let loop = try Self.refusal(blk: "/tmp/loop", probe: looping)
        #expect(loop == .unresolvable(option: "--blk", path: "/tmp/loop", .tooManySymbolicLinkLevels))
        #expect(loop?.description.contains("Too many levels of symbolic links") == true)
        #expect(try Self.refusal(devdax: ["/tmp/loop"], probe: looping) == .unresolvable(option: "--devdax", path: "/tmp/loop", .tooManySymbolicLinkLevels))
        #expect(try Self.refusal(blk: "/tmp") == .notOnBlockDevice(option: "--blk", path: "/tmp", mountpoint: "/tmp", fstype: "tmpfs"))
    }

    /// DAXREF_BLK goes through the same checks as --blk (it used to skip all of them); the VM's
    /// provisioned disk needs no opt-in inside a guest, but is checked all the same.
    @Test func environmentTargetsGoThroughThePolicy() throws {
        var ext4 = Self.probe
        ext4.signaturesByPath["/dev/vdc"] = [BlockSignature(type: "ext4", usage: "filesystem")]
        #expect(throws: SelectionError.overwriteNotAllowed(option: "DAXREF_BLK", path: "/dev/vdc", device: "vdc")) {
            try Selection.blockTarget(environment: ["DAXREF_BLK": "/dev/vdc"], probe: Self.probe)
        }
        #expect(throws: SelectionError.carriesData(option: "DAXREF_BLK", path: "/dev/vdc", device: "vdc", signatures: ext4.signaturesByPath["/dev/vdc"]!)) {
            try Selection.blockTarget(environment: ["DAXREF_BLK": "/dev/vdc"], allowOverwrite: ["/dev/vdc"], probe: ext4)
        }
        var mounted = Self.probe
        mounted.holdersByDevice["vda"] = [.mounted(device: "vda", mountpoint: "/")]
        #expect(throws: SelectionError.inUse(option: "DAXREF_BLK", path: "/dev/vda", holders: [.mounted(device: "vda", mountpoint: "/")])) {
            try Selection.blockTarget(environment: ["DAXREF_BLK": "/dev/vda"], allowOverwrite: ["/dev/vda"], probe: mounted)
        }
        let guest = ["DAXREF_GUEST": "1", "DAXREF_BLK_DEV": "/dev/vdc"]
        #expect(try Selection.blockTarget(environment: guest, probe: Self.probe) == BlockTarget(path: "/dev/vdc", kind: .device))
        #expect(throws: SelectionError.self) { try Selection.blockTarget(environment: guest, probe: ext4) }
        #expect(throws: SelectionError.overwriteNotAllowed(option: "DAXREF_BLK_DEV", path: "/dev/vdc", device: "vdc")) {
            try Selection.blockTarget(environment: ["DAXREF_BLK_DEV": "/dev/vdc"], probe: Self.probe)
        }
        #expect(try Selection.blockTarget(environment: [:], probe: Self.probe) == nil)
    }

    /// The real probe on this machine's ordinary files (no device memory needed).
    @Test func systemProbeBasics() throws {
        let probe = SystemSelectionProbe()
        #expect(try probe.fileKind("/dev/null").get() == .characterDevice)
        #expect(try probe.fileKind("/").get() == .directory)
        #expect(throws: Errno.noSuchFileOrDirectory) { try probe.fileKind("/nonexistent-daxref").get() }
        #expect(probe.mounts().contains { $0.mountpoint == "/" })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-select-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // No DAX here (or no attribute at all on an old kernel), and the scratch file is gone afterwards.
        #expect(try probe.scratchFileIsDAX(in: directory).get() != true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        #expect(throws: SelectionError.self) { try Selection.select(fsdax: [directory], inventory: try Self.inventory(), probe: probe) }
    }
}
