import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

/// A machine with namespaces, as far as reconfiguration sees it: ndctl list / create-namespace /
/// destroy-namespace / disable-namespace act on `namespaces` and print what ndctl 76 prints
/// (`--verbose` nests devdax devices under "daxregion", as in Fixtures/namespace).
final class MockNamespaceHost: NamespaceHost {
    struct State: Equatable {
        var mode = "raw"
        var map: String?
        var align: UInt64?
        var rawSize: UInt64
        var uuid: String
        var name: String?
        var enabled = true
        var sectorSize: UInt64 = 512
    }

    var namespaces: [String: State]
    var commands: [[String]] = []
    var holders: [DeviceHolder] = []
    var reports: [String] = []
    /// Answers a create-namespace instead of carrying it out (its exit status and stderr).
    var failCreate: ((_ arguments: [String]) -> NdctlOutcome?)?
    /// A broken restore: create-namespace ignores --name.
    var ignoreName = false
    var resource = "0x180000000"

    init(_ namespaces: [String: State]) { self.namespaces = namespaces }

    static func spare(name: String? = "daxref-spare", size: UInt64 = 2 << 30) -> MockNamespaceHost {
        MockNamespaceHost(["namespace0.0": State(rawSize: size, uuid: "01b5afd9-fa0c-4064-90ec-224027003ab4", name: name)])
    }

    var mutations: [[String]] { commands.filter { $0[0] != "list" } }

    func ndctl(_ arguments: [String], timeout: Double) -> NdctlOutcome {
        commands.append(arguments)
        func value(_ option: String) -> String? {
            arguments.first { $0.hasPrefix("--\(option)=") }.map { String($0.dropFirst(option.count + 3)) }
        }
        switch arguments[0] {
        case "list":
            let dev = value("namespace")!
            guard let state = namespaces[dev] else { return NdctlOutcome(arguments: arguments, exit: .exited(0)) }
            return NdctlOutcome(arguments: arguments, exit: .exited(0), stdout: "[\n" + Self.listing(dev, state) + "\n]\n")
        case "create-namespace":
            if let failure = failCreate?(arguments) { return failure }
            let dev = value("reconfig")!
            var state = namespaces[dev]!
            state.mode = value("mode")!
            state.align = value("align").flatMap { UInt64($0) }
            state.map = value("map")
            if let size = value("size") { state.rawSize = UInt64(size)! }
            if let uuid = value("uuid") { state.uuid = uuid } else { state.uuid = UUID().uuidString.lowercased() }
            if let name = value("name"), !ignoreName { state.name = name } else if ignoreName { state.name = nil }
            if let sector = value("sector-size") { state.sectorSize = UInt64(sector)! }
            state.enabled = true
            namespaces[dev] = state
            return NdctlOutcome(arguments: arguments, exit: .exited(0), stdout: Self.listing(dev, state), milliseconds: 7)
        case "destroy-namespace":
            namespaces[arguments.last!] = State(rawSize: 0, uuid: "", name: nil, enabled: false)
            return NdctlOutcome(arguments: arguments, exit: .exited(0), stderr: "destroyed 1 namespace\n")
        case "disable-namespace":
            namespaces[arguments.last!]!.enabled = false
            return NdctlOutcome(arguments: arguments, exit: .exited(0))
        default:
            return NdctlOutcome(arguments: arguments, exit: .exited(1), stderr: "unexpected command")
        }
    }

    static func listing(_ dev: String, _ state: State) -> String {
        var fields: [String] = ["\"dev\":\"\(dev)\"", "\"mode\":\"\(state.mode)\""]
        if state.rawSize == 0 {
            fields += ["\"size\":0", "\"uuid\":\"00000000-0000-0000-0000-000000000000\"", "\"sector_size\":512", "\"state\":\"disabled\""]
            return "  {" + fields.joined(separator: ",") + "}"
        }
        if let map = state.map { fields.append("\"map\":\"\(map)\"") }
        let usable = state.mode == "raw" || state.mode == "sector" ? state.rawSize : state.rawSize - (state.align ?? 4096)
        fields.append("\"size\":\(usable)")
        if state.mode == "raw" {
            fields.append("\"uuid\":\"\(state.uuid)\"")
        } else {
            fields += ["\"uuid\":\"9d39beb3-5b0f-46e2-a901-c8d16d56b553\"", "\"raw_uuid\":\"\(state.uuid)\""]
        }
        fields.append("\"sector_size\":\(state.sectorSize)")
        if state.mode == "devdax" {
            fields.append("\"daxregion\":{\"id\":0,\"devices\":[{\"chardev\":\"dax0.7\",\"mode\":\"devdax\"}]}")
        } else {
            fields.append("\"blockdev\":\"pmem0\(state.mode == "sector" ? "s" : "")\"")
        }
        if let align = state.align { fields.append("\"align\":\(align)") }
        if let name = state.name { fields.append("\"name\":\"\(name)\"") }
        if !state.enabled { fields.append("\"state\":\"disabled\"") }
        return "  {" + fields.joined(separator: ",") + "}"
    }

    func ndAttribute(_ object: String, _ attribute: String) -> String? {
        guard let state = namespaces[object] else { return nil }
        switch attribute {
        case "size": return String(state.rawSize)
        case "uuid": return state.uuid
        case "resource": return state.rawSize == 0 ? nil : resource
        default: return nil
        }
    }

    func ndObjects() -> [String] { ["ndbus0", "region0", "btt0.0", "dax0.0", "pfn0.0"] + namespaces.keys.sorted() }

    func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder] { holders }

    var signatures: [BlockSignature] = []
    func signatures(blockDevice: String) -> Result<[BlockSignature], Errno> { .success(signatures) }

    func report(_ message: String) { reports.append(message) }
}

@Suite struct NamespaceReconfigureTests {
    static let devdax2mMem = NamespaceTarget(mode: .devdax, align: 2 << 20, map: .mem)

    // MARK: ndctl's JSON, recorded

    static let releases = ["6.1.0-50-amd64", "7.2.13+deb14-amd64"]

    static func fixture(_ release: String, _ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures/namespace/\(release)"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The spare as the guests listed it (Fixtures/namespace/README.md): raw, then each variant.
    @Test(arguments: releases)
    func parsesRecordedListings(_ release: String) throws {
        let sysfs = ["size": "2147483648", "uuid": "633a0c30-2286-4b00-a836-a13a76b6305a", "resource": "0x180000000"]
        func parse(_ name: String) throws -> NamespaceConfiguration {
            try #require(try NamespaceConfiguration.parse(ndctlJSON: try Self.fixture(release, name), namespace: "namespace0.0") { sysfs[$0] })
        }
        let raw = try parse("raw")
        #expect(raw.mode == .raw && raw.map == nil && raw.align == nil && raw.chardev == nil)
        #expect(raw.blockdev == "pmem0" && raw.name == "daxref-spare" && raw.enabled && raw.size == 2 << 30)
        #expect(raw.rawSize == 2 << 30 && raw.resource == 0x1_8000_0000 && raw.rawUUID == sysfs["uuid"])

        let devdax = try parse("devdax-4k-map-mem")
        #expect(devdax.mode == .devdax && devdax.map == .mem && devdax.align == 4096)
        #expect(devdax.chardev == "dax0.0", "the device is nested under daxregion.devices with --verbose")
        #expect(devdax.blockdev == nil && devdax.size < devdax.rawSize)

        let huge = try parse("devdax-1g-map-mem")
        #expect(huge.align == 1 << 30 && huge.size == 1 << 30, "one 1 GiB page in the 2 GiB spare")

        let altmap = try parse("devdax-2m-map-dev")
        #expect(altmap.map == .dev && altmap.size < (2 << 30) - (2 << 20), "map=dev reserves the memmap on the device")

        let fsdax = try parse("fsdax-2m-map-mem")
        #expect(fsdax.mode == .fsdax && fsdax.map == .mem && fsdax.align == 2 << 20 && fsdax.blockdev == "pmem0" && fsdax.chardev == nil)
        #expect(try NamespaceConfiguration.parse(ndctlJSON: try Self.fixture(release, "raw"), namespace: "namespace0.1") { sysfs[$0] } == nil)
    }

    @Test func idleSeedFromRecordedInventoryListing() throws {
        let url = try #require(Bundle.module.url(forResource: "ndctl", withExtension: "json", subdirectory: "Fixtures/inventory/7.2.13+deb14-amd64"))
        let idle = try #require(try NamespaceConfiguration.parse(ndctlJSON: String(contentsOf: url, encoding: .utf8), namespace: "namespace0.4") { _ in nil })
        #expect(idle.isIdle && !idle.enabled && idle.mode == .raw)
        #expect(idle.restorable == ["raw_size": "0"])
        let fsdax = try #require(try NamespaceConfiguration.parse(ndctlJSON: String(contentsOf: url, encoding: .utf8), namespace: "namespace0.2") { _ in nil })
        #expect(fsdax.blockdev == "pmem0.2" && fsdax.name == "daxref-ext4" && fsdax.map == .dev)
    }

    // MARK: names

    @Test func namesThatAreNotNamespacesAreRefused() {
        let host = MockNamespaceHost.spare()
        for name in ["pmem0.3", "dax0.0", "namespace0", "namespace0.x", "namespace.1", "namespace0.1.2", "region0", ""] {
            guard case .notANamespace? = Self.error({ try NamespaceReconfiguration(namespace: name, host: host) }) else {
                Issue.record("\(name) should be refused as not a namespace name")
                continue
            }
        }
        #expect(host.commands.isEmpty, "nothing is run for a bad name")
    }

    @Test func missingNamespaceListsTheOnesThereAre() {
        let host = MockNamespaceHost([
            "namespace0.10": .init(rawSize: 1 << 30, uuid: "a"), "namespace0.2": .init(rawSize: 1 << 30, uuid: "b"),
            "namespace0.3": .init(rawSize: 0, uuid: ""),
        ])
        let error = Self.error { try NamespaceReconfiguration(namespace: "namespace0.9", host: host) }
        guard case .noSuchNamespace("namespace0.9", let known)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(known == ["namespace0.2", "namespace0.10"], "sized namespaces, in natural order")
        #expect(error!.description.contains("there are: namespace0.2, namespace0.10"))
    }

    // MARK: in use

    @Test func namespaceInUseIsRefusedBeforeAnythingChanges() {
        let host = MockNamespaceHost.spare()
        host.holders = [.mounted(device: "pmem0.3p1", mountpoint: "/mnt/data"), .mapped(device: "dax0.1", pid: 42, command: "postgres")]
        let error = Self.error { try NamespaceReconfiguration(namespace: "namespace0.0", host: host) }
        guard case .inUse("namespace0.0", let holders)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(holders.count == 2)
        #expect(error!.description.contains("/dev/pmem0.3p1 is mounted on /mnt/data"))
        #expect(error!.description.contains("/dev/dax0.1 is mapped by postgres (pid 42)"))
        #expect(host.mutations.isEmpty)
    }

    /// An unmounted file system on the namespace is data too: refused before anything changes.
    @Test func namespaceCarryingDataIsRefused() {
        let host = MockNamespaceHost.spare()
        host.signatures = [BlockSignature(type: "xfs", usage: "filesystem", offset: 0)]
        let error = Self.error { try NamespaceReconfiguration(namespace: "namespace0.0", host: host) }
        guard case .carriesData("namespace0.0", "pmem0", let found)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(found.map(\.type) == ["xfs"])
        #expect(error!.description.contains("wipefs"))
        #expect(host.mutations.isEmpty)
    }

    @Test func holdersFromMadeUpMachine() {
        var usage = DeviceUsage()
        usage.partitions = ["pmem0.3": ["pmem0.3p1", "pmem0.3p2"]]
        usage.mounts = [.init(device: "pmem0.3p2", mountpoint: "/srv"), .init(device: "pmem0.30", mountpoint: "/other")]
        usage.swaps = ["pmem0.3p1"]
        usage.stacked = ["pmem0.3": ["dm-0"], "pmem0.31": ["dm-1"]]
        usage.processes = [
            .init(pid: 42, command: "qemu", mapped: ["dax0.1"], open: ["dax0.1"]),
            .init(pid: 43, command: "mkfs.xfs", open: ["pmem0.3"]),
            .init(pid: 44, command: "bystander", mapped: ["dax0.10"], open: ["pmem0.30"]),
        ]
        usage.daxDrivers = ["dax0.1": "device_dax", "dax1.0": "kmem"]

        #expect(usage.holders(blockDevice: "pmem0.3", daxDevice: nil) == [
            .stacked(device: "pmem0.3", holder: "dm-0"), .swap(device: "pmem0.3p1"),
            .mounted(device: "pmem0.3p2", mountpoint: "/srv"), .open(device: "pmem0.3", pid: 43, command: "mkfs.xfs"),
        ], "partitions count, look-alike names (pmem0.30, pmem0.31, dax0.10) do not")
        #expect(usage.holders(blockDevice: nil, daxDevice: "dax0.1") == [.mapped(device: "dax0.1", pid: 42, command: "qemu")],
                "mapped and open by the same process is one holder; device_dax is the normal driver")
        #expect(usage.holders(blockDevice: nil, daxDevice: "dax1.0") == [.driver(device: "dax1.0", driver: "kmem")])
        #expect(DeviceHolder.driver(device: "dax1.0", driver: "kmem").description.contains("online as system-ram"))
        #expect(usage.holders(blockDevice: "pmem0.4", daxDevice: "dax0.4").isEmpty, "nothing uses these")
    }

    @Test func deviceNamesOnlyForNodesInDev() throws {
        #expect(DeviceUsage.deviceName("/dev/dax0.0", resolving: false) == "dax0.0")
        #expect(DeviceUsage.deviceName("/dev/shm/dax0.0", resolving: false) == nil)
        #expect(DeviceUsage.deviceName("/dev/zero (deleted)", resolving: false) == nil)
        #expect(DeviceUsage.deviceName("/mnt/daxref/ext4/file", resolving: false) == nil)
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-link-\(UUID().uuidString)").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(DeviceUsage.deviceName(link, resolving: true) == "null", "a mount source like /dev/disk/by-uuid/… is followed")
        #expect(DeviceUsage.deviceName(link, resolving: false) == nil)
    }

    /// The real /proc scan finds this process's open descriptor, and leaves it out when excluded.
    @Test func liveScanFindsAnOpenDescriptor() throws {
        let fd = try FileDescriptor.open("/dev/null", .readOnly)
        defer { try? fd.close() }
        let usage = DeviceUsage.read(blockDevice: nil, daxDevice: "null")
        #expect(usage.holders(blockDevice: nil, daxDevice: "null").contains { holder in
            if case .open("null", getpid(), _) = holder { true } else { false }
        })
        let others = DeviceUsage.read(blockDevice: nil, daxDevice: "null", excludingPID: getpid())
        #expect(!others.processes.contains { $0.pid == getpid() })
    }

    // MARK: reconfigure and restore

    @Test func applyThenRestoreBringsTheOriginalBack() throws {
        let host = MockNamespaceHost.spare()
        let before = host.namespaces
        var owner = try NamespaceReconfiguration(namespace: "namespace0.0", host: host)
        #expect(owner.original.mode == .raw && owner.original.rawSize == 2 << 30)
        let outcome = try owner.apply(Self.devdax2mMem)
        #expect(outcome.succeeded && outcome.milliseconds == 7)
        #expect(owner.current.mode == .devdax && owner.current.map == .mem && owner.current.align == 2 << 20 && owner.current.chardev == "dax0.7")
        #expect(owner.currentListing.contains("\"daxregion\""))
        try owner.apply(NamespaceTarget(mode: .fsdax, align: 2 << 20, map: .dev))
        let restored = try owner.restore()
        #expect(restored.mode == .raw)
        #expect(host.namespaces == before, "mode, size, uuid and name as they were")
        #expect(host.mutations == [
            ["create-namespace", "--force", "--reconfig=namespace0.0", "--mode=devdax", "--align=2097152", "--map=mem"],
            ["create-namespace", "--force", "--reconfig=namespace0.0", "--mode=fsdax", "--align=2097152", "--map=dev"],
            ["create-namespace", "--force", "--reconfig=namespace0.0", "--mode=raw", "--size=2147483648",
             "--uuid=01b5afd9-fa0c-4064-90ec-224027003ab4", "--name=daxref-spare"],
        ])
        #expect(host.reports.isEmpty)
    }

    @Test func forgottenOwnerRestoresInItsDeinit() throws {
        let host = MockNamespaceHost.spare()
        let before = host.namespaces
        do {
            var owner = try NamespaceReconfiguration(namespace: "namespace0.0", host: host)
            try owner.apply(Self.devdax2mMem)
            #expect(host.namespaces["namespace0.0"]?.mode == "devdax")
        }
        #expect(host.namespaces == before)
        #expect(host.mutations.count == 2)
        #expect(host.reports.count == 1 && host.reports[0].contains("namespace0.0 was restored"))
    }

    @Test func untouchedOwnerChangesNothing() throws {
        let host = MockNamespaceHost.spare()
        do { _ = try NamespaceReconfiguration(namespace: "namespace0.0", host: host) }
        try NamespaceReconfiguration(namespace: "namespace0.0", host: host).restore()
        #expect(host.mutations.isEmpty && host.reports.isEmpty)
    }

    @Test func restoreRefusesWhileInUseAndIsNotRetriedByDeinit() throws {
        let host = MockNamespaceHost.spare()
        var owner = try NamespaceReconfiguration(namespace: "namespace0.0", host: host)
        try owner.apply(Self.devdax2mMem)
        host.holders = [.mapped(device: "dax0.7", pid: 7, command: "app")]
        do {
            try owner.restore()
            Issue.record("restored while mapped")
        } catch {
            guard case .inUse = error else { Issue.record("\(error)"); return }
        }
        #expect(host.namespaces["namespace0.0"]?.mode == "devdax", "left as it is rather than pulled from under a process")
        #expect(host.mutations.count == 1 && host.reports.isEmpty)
    }

    @Test func idleNamespaceGetsASizeAndIsDestroyedAgain() throws {
        let host = MockNamespaceHost(["namespace0.4": .init(rawSize: 0, uuid: "", enabled: false)])
        var owner = try NamespaceReconfiguration(namespace: "namespace0.4", host: host)
        #expect(owner.original.isIdle)
        guard case .invalidTarget? = Self.error({ try owner.apply(Self.devdax2mMem) }) else {
            Issue.record("an idle namespace needs a size")
            return
        }
        var sized = Self.devdax2mMem
        sized.size = 1 << 30
        try owner.apply(sized)
        #expect(host.namespaces["namespace0.4"]?.rawSize == 1 << 30)
        try owner.restore()
        #expect(host.mutations.last == ["destroy-namespace", "--force", "namespace0.4"])
        #expect(host.namespaces["namespace0.4"]?.rawSize == 0)
    }

    @Test func failedCreateCarriesExitAndStderrAndIsStillRestored() throws {
        let host = MockNamespaceHost.spare()
        host.failCreate = { arguments in
            arguments.contains("--align=1073741824")
                ? NdctlOutcome(arguments: arguments, exit: .exited(1), stderr: "libndctl: ndctl_dax_enable: dax0.1: failed to enable\nfailed to reconfigure namespace: No such device or address\n")
                : nil
        }
        var owner = try NamespaceReconfiguration(namespace: "namespace0.0", host: host)
        let error = Self.error { try owner.apply(NamespaceTarget(mode: .devdax, align: 1 << 30, map: .mem)) }
        guard case .ndctl(let outcome)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(outcome.exitCode == 1 && !outcome.succeeded)
        #expect(error!.description.contains("No such device or address") && error!.description.contains("--align=1073741824"))
        try owner.restore()
        #expect(host.mutations.count == 2, "an attempted change is restored over, whatever ndctl did")
    }

    @Test func restoreThatDiffersIsReported() throws {
        let host = MockNamespaceHost.spare()
        var owner = try NamespaceReconfiguration(namespace: "namespace0.0", host: host)
        try owner.apply(Self.devdax2mMem)
        host.ignoreName = true
        do {
            try owner.restore()
            Issue.record("a restore that lost the name passed")
        } catch {
            guard case .restoreMismatch(_, let differences) = error else { Issue.record("\(error)"); return }
            #expect(differences == ["name was daxref-spare, is "])
        }
    }

    @Test func restoreCommandsPerOriginalMode() {
        var fsdax = NamespaceConfiguration(
            dev: "namespace1.0", mode: .fsdax, map: .dev, size: 1, rawSize: 1 << 30, align: 2 << 20, rawUUID: "u", name: nil,
            sectorSize: 512, blockdev: "pmem1", chardev: nil, enabled: true, resource: nil)
        #expect(NdctlCommand.restore("namespace1.0", to: fsdax) == [[
            "create-namespace", "--force", "--reconfig=namespace1.0", "--mode=fsdax", "--size=1073741824", "--uuid=u",
            "--align=2097152", "--map=dev",
        ]])
        fsdax.mode = .sector
        fsdax.sectorSize = 4096
        fsdax.enabled = false
        let sector = NdctlCommand.restore("namespace1.0", to: fsdax)
        #expect(sector.first?.contains("--sector-size=4096") == true && sector.first?.contains("--map=dev") == false)
        #expect(sector.last == ["disable-namespace", "namespace1.0"], "a disabled namespace is disabled again")
    }

    @Test func targetsThatCannotBeMade() throws {
        let spare = try NamespaceReconfiguration.read("namespace0.0", host: MockNamespaceHost.spare(size: 1536 << 20))
        #expect(NamespaceTarget(mode: .devdax, align: 3000, map: .mem).problem(on: spare) != nil)
        #expect(NamespaceTarget(mode: .raw, align: 4096, map: .mem).problem(on: spare) != nil)
        #expect(NamespaceTarget(mode: .devdax, align: 1 << 30, map: .mem).problem(on: spare)?.contains("not a multiple") == true)
        #expect(NamespaceTarget(mode: .devdax, align: 2 << 20, map: .mem, size: 1 << 30).problem(on: spare)?.contains("idle") == true)
        #expect(NamespaceTarget(mode: .fsdax, align: 2 << 20, map: .dev).problem(on: spare) == nil)
    }

    @Test func outcomeDescriptions() {
        let hung = NdctlOutcome(
            arguments: ["destroy-namespace", "--force", "namespace0.0"], exit: .signaled(9), timedOut: true,
            wait: TaskWait(wchan: "nd_pmem_remove", stack: nil, state: "D"))
        #expect(hung.description == "`ndctl destroy-namespace --force namespace0.0` did not finish in time (wchan nd_pmem_remove, state D); killed")
        #expect(hung.exitCode == 137 && !hung.succeeded)
        #expect(NdctlOutcome(arguments: ["list"], exit: nil, timedOut: true).description.contains("left behind"))
        #expect(NdctlOutcome(arguments: ["list"], exit: nil).exitCode == -1)
    }

    // MARK: geometry and the spare

    @Test func wholePagesAfterTheInfoBlock() {
        let g: UInt64 = 1 << 30, m: UInt64 = 1 << 20
        #expect(NamespaceGeometry.wholePages(resource: 6 * g, size: 2 * g, align: g) == 1, "measured: 1 GiB of the 2 GiB spare at 6 GiB")
        #expect(NamespaceGeometry.wholePages(resource: 6 * g + 512 * m, size: 2 * g, align: g) == 1)
        #expect(NamespaceGeometry.wholePages(resource: 6 * g, size: g, align: g) == 0, "the info block pushes data past the only boundary")
        #expect(NamespaceGeometry.wholePages(resource: 6 * g + 16 * m, size: 2 * g - 16 * m, align: g) == 1)
        #expect(NamespaceGeometry.wholePages(resource: 6 * g + 16 * m, size: g, align: g) == 0, "data would start at 7 GiB, the end is 7 GiB + 16 MiB")
        #expect(NamespaceGeometry.wholePages(resource: 6 * g, size: 2 * g, align: 2 * m) == 1023, "measured: 2145386496 bytes")
        #expect(NamespaceGeometry.wholePages(resource: 6 * g, size: 2 * g, align: 0) == 0)
    }

    @Test func spareFromEnvironmentOrProvisionedFile() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-spare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: run) }
        try "DAXREF_DEVDAX_4K=/dev/dax0.2\nDAXREF_SPARE_NAMESPACE=namespace0.0\n".write(
            to: run.appendingPathComponent("provisioned.env"), atomically: true, encoding: .utf8)
        #expect(SpareNamespace.fromProvisionedEnvironment(["DAXREF_RUN_DIR": run.path]) == "namespace0.0")
        #expect(SpareNamespace.fromProvisionedEnvironment(["DAXREF_RUN_DIR": run.path, "DAXREF_SPARE_NAMESPACE": "namespace1.0"]) == "namespace1.0")
        #expect(SpareNamespace.fromProvisionedEnvironment([:]) == nil)
        #expect(SpareNamespace.fromProvisionedEnvironment(["DAXREF_RUN_DIR": "/nonexistent"]) == nil)
    }

    /// The ReconfigureError `body` throws; nil when it throws nothing (or something else).
    static func error<T: ~Copyable>(_ body: () throws -> T) -> ReconfigureError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? ReconfigureError
        }
    }
}
