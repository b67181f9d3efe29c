import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// Reconfiguring one namespace the user named, and putting it back. The ndctl CLI does the changes
// (`create-namespace --force --reconfig`, `destroy-namespace --force`) because the reconfiguration
// logic — info-block zeroing, pfn/dax seed devices, autorecover on failure, label quirks — lives in
// ndctl's namespace.c, not in libndctl; doing it through the library would be a second, less tested
// copy of that logic. Reads go through the same tool (`ndctl list --json`), plus the namespace's
// sysfs attributes for what ndctl does not print (the raw size, the label uuid, the physical start).

/// How a namespace is configured now.
public struct NamespaceConfiguration: Codable, Sendable, Equatable {
    public var dev: String
    public var mode: NamespaceMode
    public var map: MemmapLocation?
    /// Usable bytes as ndctl reports them: the pfn / dax device's size for fsdax and devdax.
    public var size: UInt64
    /// The capacity allocated to the namespace (sysfs `size`); 0 for an idle one.
    public var rawSize: UInt64
    public var align: UInt64?
    /// The label's uuid (sysfs `uuid`), which ndctl can set again; the pfn/dax uuid it cannot.
    public var rawUUID: String?
    public var name: String?
    public var sectorSize: UInt64?
    public var blockdev: String?
    public var chardev: String?
    public var enabled: Bool
    /// Physical start address (sysfs `resource`), when the namespace has one.
    public var resource: UInt64?

    enum CodingKeys: String, CodingKey {
        case dev, mode, map, size, align, name, blockdev, chardev, enabled, resource
        case rawSize = "raw_size"
        case rawUUID = "raw_uuid"
        case sectorSize = "sector_size"
    }

    /// No capacity: an unconfigured seed or a destroyed namespace.
    public var isIdle: Bool { rawSize == 0 }

    /// The fields a restore sets, rendered for comparison and for messages.
    var restorable: [String: String] {
        var fields = ["mode": mode.rawValue, "raw_size": String(rawSize), "name": name ?? "", "enabled": String(enabled)]
        if isIdle { return ["raw_size": "0"] }
        if mode == .raw || mode == .sector { fields["uuid"] = rawUUID ?? "" }
        if mode == .fsdax || mode == .devdax {
            fields["align"] = align.map(String.init) ?? ""
            fields["map"] = map?.rawValue ?? ""
        }
        if mode == .sector { fields["sector_size"] = sectorSize.map(String.init) ?? "" }
        return fields
    }

    /// From `ndctl list` JSON (any shape: object or array, nested under regions or not) and the
    /// namespace's sysfs attributes; nil when ndctl did not list `namespace`.
    package static func parse(ndctlJSON: String, namespace: String, attribute: (String) -> String?) throws -> NamespaceConfiguration? {
        guard let object = try CrossCheck.objects(in: ndctlJSON).first(where: { $0["dev"] as? String == namespace }) else {
            return nil
        }
        func number(_ key: String) -> UInt64? { CrossCheck.number(object[key]) }
        func text(_ key: String) -> String? { (object[key] as? String).flatMap { $0.isEmpty ? nil : $0 } }
        // `--verbose` nests a devdax namespace's devices under "daxregion": {"devices": [{"chardev": …}]}.
        func nestedText(_ key: String, in value: Any) -> String? {
            if let object = value as? [String: Any] {
                if let found = (object[key] as? String).flatMap({ $0.isEmpty ? nil : $0 }) { return found }
                return object.keys.sorted().lazy.compactMap { nestedText(key, in: object[$0]!) }.first
            }
            return (value as? [Any])?.lazy.compactMap { nestedText(key, in: $0) }.first
        }
        let rawSize = attribute("size").flatMap { UInt64($0) } ?? number("size") ?? 0
        let uuid = attribute("uuid").flatMap { $0.isEmpty ? nil : $0 }
        let resource = attribute("resource").flatMap { $0.hasPrefix("0x") ? UInt64($0.dropFirst(2), radix: 16) : nil }
        return NamespaceConfiguration(
            dev: namespace, mode: text("mode").flatMap(NamespaceMode.init(rawValue:)) ?? .unknown,
            map: text("map").flatMap(MemmapLocation.init(rawValue:)), size: number("size") ?? 0, rawSize: rawSize,
            align: number("align"), rawUUID: uuid, name: text("name"), sectorSize: number("sector_size"),
            blockdev: text("blockdev"), chardev: nestedText("chardev", in: object), enabled: text("state") != "disabled",
            resource: resource)
    }
}

/// What to turn a namespace into.
public struct NamespaceTarget: Codable, Sendable, Equatable, CustomStringConvertible {
    /// `.devdax` or `.fsdax`.
    public var mode: NamespaceMode
    /// Bytes: 4096, 2 MiB or 1 GiB.
    public var align: UInt64
    public var map: MemmapLocation
    /// Bytes to allocate, only for an idle namespace; otherwise the namespace keeps its capacity.
    public var size: UInt64?

    public init(mode: NamespaceMode, align: UInt64, map: MemmapLocation, size: UInt64? = nil) {
        self.mode = mode
        self.align = align
        self.map = map
        self.size = size
    }

    public var description: String {
        "\(mode.rawValue) align \(sizeLabel(Int(align))) map=\(map.rawValue)" + (size.map { " size \($0)" } ?? "")
    }

    /// Why this target cannot be applied to `namespace`, or nil.
    func problem(on namespace: NamespaceConfiguration) -> String? {
        guard mode == .devdax || mode == .fsdax else { return "only devdax or fsdax can be requested, not \(mode.rawValue)" }
        guard align >= UInt64(systemPageSize), align & (align - 1) == 0 else { return "align \(align) is not a power of two ≥ the page size" }
        let capacity = namespace.isIdle ? size : namespace.rawSize
        guard let capacity, capacity > 0 else { return "\(namespace.dev) is idle (no capacity): give a size" }
        if !namespace.isIdle, let size, size != namespace.rawSize {
            return "\(namespace.dev) keeps its \(namespace.rawSize) bytes; a size can only be given for an idle namespace"
        }
        guard capacity % align == 0 else { return "\(namespace.dev)'s \(capacity) bytes are not a multiple of align \(align) (ndctl refuses)" }
        return nil
    }
}

/// One ndctl run, however it ended.
public struct NdctlOutcome: Sendable, Equatable, CustomStringConvertible {
    public var arguments: [String]
    /// nil when it did not end by itself (killed at the deadline, or left behind in D state).
    public var exit: ExitStatus?
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    /// Where ndctl was in the kernel when the deadline passed.
    public var wait: TaskWait?
    public var milliseconds: Int64

    public init(
        arguments: [String], exit: ExitStatus?, stdout: String = "", stderr: String = "", timedOut: Bool = false,
        wait: TaskWait? = nil, milliseconds: Int64 = 0
    ) {
        self.arguments = arguments
        self.exit = exit
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
        self.wait = wait
        self.milliseconds = milliseconds
    }

    public var succeeded: Bool { exit == .exited(0) && !timedOut }
    /// The shell's convention: the exit code, 128 + signal, or -1 when it never ended.
    public var exitCode: Int64 {
        switch exit {
        case .exited(let code)?: Int64(code)
        case .signaled(let signal)?: 128 + Int64(signal)
        case nil: -1
        }
    }
    public var command: String { (["ndctl"] + arguments).joined(separator: " ") }

    public var description: String {
        if timedOut {
            let where_ = wait.map { " (wchan \($0.wchan), state \($0.state))" } ?? ""
            return "`\(command)` did not finish in time\(where_); " + (exit == nil ? "it could not be killed and was left behind" : "killed")
        }
        let words = stderr.split(separator: "\n").suffix(4).joined(separator: " | ")
        return "`\(command)` failed (\(exit.map(\.description) ?? "no status"))" + (words.isEmpty ? "" : ": \(words)")
    }
}

public enum ReconfigureError: Error, Sendable, CustomStringConvertible {
    /// The name is not of the form namespaceX.Y.
    case notANamespace(String)
    case noSuchNamespace(String, known: [String])
    case inUse(String, holders: [DeviceHolder])
    /// Its block device carries a file system, partition table… that reconfiguring would destroy.
    case carriesData(String, blockDevice: String, signatures: [BlockSignature])
    /// Its current mode is one daxref could not restore.
    case unsupportedMode(String, NamespaceMode)
    case invalidTarget(String, NamespaceTarget, reason: String)
    /// ndctl failed or timed out.
    case ndctl(NdctlOutcome)
    /// ndctl's output could not be read.
    case unreadable(String, reason: String)
    /// After a restore the namespace differs from how it was: field → (was, is).
    case restoreMismatch(String, differences: [String])

    public var description: String {
        switch self {
        case .notANamespace(let name):
            "`\(name)` is not a namespace name (namespaceX.Y, as `ndctl list -N` shows); for a pmem or dax device, name the namespace that holds it"
        case .noSuchNamespace(let name, let known):
            "no namespace \(name) here" + (known.isEmpty ? " (there are no namespaces)" : "; there are: \(known.joined(separator: ", "))")
        case .inUse(let name, let holders):
            "refusing to reconfigure \(name): it is in use: " + holders.map(\.description).joined(separator: "; ")
        case .carriesData(let name, let blockDevice, let signatures):
            "refusing to reconfigure \(name): /dev/\(blockDevice) carries data: " + signatures.map(\.description).joined(separator: ", ")
                + ". If it is disposable, erase it first (wipefs --all /dev/\(blockDevice))"
        case .unsupportedMode(let name, let mode):
            "refusing to reconfigure \(name): its mode is \(mode.rawValue), which daxref could not restore"
        case .invalidTarget(let name, let target, let reason): "cannot make \(name) \(target): \(reason)"
        case .ndctl(let outcome): outcome.description
        case .unreadable(let what, let reason): "cannot read \(what): \(reason)"
        case .restoreMismatch(let name, let differences):
            "\(name) was not restored exactly: " + differences.joined(separator: ", ")
        }
    }
}

/// What reconfiguring needs from the machine: ndctl, the namespace's sysfs attributes, the in-use
/// scan and a place for messages. `SystemNamespaceHost` is the real one; tests give their own.
public protocol NamespaceHost {
    /// Runs `ndctl arguments…`, stopped after `timeout` seconds.
    func ndctl(_ arguments: [String], timeout: Double) -> NdctlOutcome
    /// /sys/bus/nd/devices/<object>/<attribute>, nil when absent or unreadable.
    func ndAttribute(_ object: String, _ attribute: String) -> String?
    /// The names under /sys/bus/nd/devices.
    func ndObjects() -> [String]
    /// Who is using the namespace's block device (with partitions) or dax device.
    func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder]
    /// What libblkid finds on the namespace's block device (`BlockSignatures.probe`).
    func signatures(blockDevice: String) -> Result<[BlockSignature], Errno>
    /// A note for the user (stderr).
    func report(_ message: String)
}

public struct SystemNamespaceHost: NamespaceHost {
    public init() {}

    public func signatures(blockDevice: String) -> Result<[BlockSignature], Errno> {
        do { return .success(try BlockSignatures.probe("/dev/" + blockDevice)) } catch { return .failure(error) }
    }

    public func ndctl(_ arguments: [String], timeout: Double) -> NdctlOutcome {
        guard Subprocess.findInPath("ndctl") != nil else {
            return NdctlOutcome(arguments: arguments, exit: .exited(127), stderr: "ndctl: not found in PATH (Debian package ndctl)")
        }
        let helper = HelperProcess(argv: ["ndctl"] + arguments, deadline: timeout)
        do {
            let outcome = try helper.run()
            return NdctlOutcome(
                arguments: arguments, exit: outcome.exit, stdout: outcome.stdout, stderr: outcome.stderr,
                timedOut: outcome.timedOut, wait: outcome.samples.first?.wait, milliseconds: outcome.elapsedMilliseconds)
        } catch {
            return NdctlOutcome(arguments: arguments, exit: nil, stderr: "could not start ndctl: \(error)")
        }
    }

    public func ndAttribute(_ object: String, _ attribute: String) -> String? {
        (try? SystemFile.readAttribute(FilePath("/sys/bus/nd/devices").appending(object).appending(attribute))) ?? nil
    }

    public func ndObjects() -> [String] {
        (try? SystemFile.listDirectory("/sys/bus/nd/devices")) ?? []
    }

    public func holders(blockDevice: String?, daxDevice: String?) -> [DeviceHolder] {
        DeviceUsage.read(blockDevice: blockDevice, daxDevice: daxDevice).holders(blockDevice: blockDevice, daxDevice: daxDevice)
    }

    public func report(_ message: String) {
        _ = try? FileDescriptor.standardError.writeAll(Array((message + "\n").utf8))
    }
}

/// The ndctl command lines, built in one place.
enum NdctlCommand {
    static func list(_ namespace: String) -> [String] {
        ["list", "--namespaces", "--idle", "--verbose", "--namespace=" + namespace]
    }

    static func reconfigure(_ namespace: String, to target: NamespaceTarget, idle: Bool) -> [String] {
        var arguments = [
            "create-namespace", "--force", "--reconfig=" + namespace, "--mode=" + target.mode.rawValue,
            "--align=\(target.align)", "--map=" + target.map.rawValue,
        ]
        if idle, let size = target.size { arguments.append("--size=\(size)") }
        return arguments
    }

    /// The commands that bring `namespace` back to `original`, in order.
    static func restore(_ namespace: String, to original: NamespaceConfiguration) -> [[String]] {
        if original.isIdle { return [["destroy-namespace", "--force", namespace]] }
        var arguments = ["create-namespace", "--force", "--reconfig=" + namespace, "--mode=" + original.mode.rawValue, "--size=\(original.rawSize)"]
        if let uuid = original.rawUUID { arguments.append("--uuid=" + uuid) }
        if let name = original.name { arguments.append("--name=" + name) }
        if original.mode == .fsdax || original.mode == .devdax {
            if let align = original.align { arguments.append("--align=\(align)") }
            if let map = original.map { arguments.append("--map=" + map.rawValue) }
        }
        if original.mode == .sector, let sectorSize = original.sectorSize { arguments.append("--sector-size=\(sectorSize)") }
        var commands = [arguments]
        if !original.enabled { commands.append(["disable-namespace", namespace]) }
        return commands
    }
}

/// Owns a namespace while daxref has it reconfigured. `init` records how it is and refuses one that
/// is in use; `apply` reconfigures it (any number of times); `restore()` puts the original back and
/// checks it. An owner dropped without `restore()` restores in its deinit (best effort, reported).
public struct NamespaceReconfiguration: ~Copyable {
    public let namespace: String
    public let original: NamespaceConfiguration
    /// As ndctl listed it after the last change.
    public private(set) var current: NamespaceConfiguration
    /// What `ndctl list` printed for `current` (evidence for reports).
    public private(set) var currentListing: String
    /// Seconds allowed for each ndctl run.
    public let timeout: Double
    private let host: any NamespaceHost
    /// Something was changed (or attempted) that the original must be restored over.
    private var changed = false

    public static let defaultTimeout: Double = 120

    public init(namespace: String, host: any NamespaceHost = SystemNamespaceHost(), timeout: Double = defaultTimeout) throws(ReconfigureError) {
        let (configuration, listing) = try Self.readWithListing(namespace, host: host, timeout: timeout)
        guard [.raw, .fsdax, .devdax, .sector].contains(configuration.mode) else {
            throw .unsupportedMode(namespace, configuration.mode)
        }
        try Self.checkFree(configuration, host: host)
        self.namespace = namespace
        self.original = configuration
        self.current = configuration
        self.currentListing = listing
        self.timeout = timeout
        self.host = host
    }

    /// Reconfigures the namespace to `target`. On success `current` is what ndctl lists afterwards;
    /// the outcome is returned for its timing. A failed ndctl run throws `.ndctl` with its outcome.
    @discardableResult
    public mutating func apply(_ target: NamespaceTarget) throws(ReconfigureError) -> NdctlOutcome {
        if let reason = target.problem(on: current) { throw .invalidTarget(namespace, target, reason: reason) }
        try Self.checkFree(current, host: host)
        changed = true
        let outcome = host.ndctl(NdctlCommand.reconfigure(namespace, to: target, idle: current.isIdle), timeout: timeout)
        // Whatever ndctl did, `current` should say what is there now.
        if let (now, listing) = try? Self.readWithListing(namespace, host: host, timeout: timeout) {
            current = now
            currentListing = listing
        }
        guard outcome.succeeded else { throw .ndctl(outcome) }
        return outcome
    }

    /// Puts the original configuration back and checks that ndctl now lists it so; returns what it
    /// lists. Refuses (and leaves it as it is) while the namespace is in use.
    @discardableResult
    public consuming func restore() throws(ReconfigureError) -> NamespaceConfiguration {
        let pending = changed
        changed = false
        guard pending else { return current }
        return try putBack()
    }

    deinit {
        guard changed else { return }
        do {
            _ = try putBack()
            host.report("daxref: \(namespace) was restored to \(original.mode.rawValue) (its owner was dropped without restore())")
        } catch {
            host.report("daxref: \(namespace) was left reconfigured: \(error)")
        }
    }

    private func putBack() throws(ReconfigureError) -> NamespaceConfiguration {
        let now = (try? Self.read(namespace, host: host, timeout: timeout)) ?? current
        try Self.checkFree(now, host: host)
        for arguments in NdctlCommand.restore(namespace, to: original) {
            let outcome = host.ndctl(arguments, timeout: timeout)
            guard outcome.succeeded else { throw .ndctl(outcome) }
        }
        let restored: NamespaceConfiguration
        do { restored = try Self.read(namespace, host: host, timeout: timeout) } catch {
            // A destroyed namespace the kernel then removed is as idle as it gets.
            if original.isIdle, case .noSuchNamespace = error { return original }
            throw error
        }
        let (was, is_) = (original.restorable, restored.restorable)
        let differences = Set(was.keys).union(is_.keys).sorted().compactMap { key in
            was[key] == is_[key] ? nil : "\(key) was \(was[key] ?? "absent"), is \(is_[key] ?? "absent")"
        }
        guard differences.isEmpty else { throw .restoreMismatch(namespace, differences: differences) }
        return restored
    }

    /// How `namespace` is configured now (ndctl list plus sysfs).
    public static func read(_ namespace: String, host: any NamespaceHost, timeout: Double = defaultTimeout) throws(ReconfigureError) -> NamespaceConfiguration {
        try readWithListing(namespace, host: host, timeout: timeout).configuration
    }

    static func readWithListing(_ namespace: String, host: any NamespaceHost, timeout: Double) throws(ReconfigureError) -> (configuration: NamespaceConfiguration, listing: String) {
        guard isNamespaceName(namespace) else { throw .notANamespace(namespace) }
        func known() -> [String] {
            host.ndObjects().filter { isNamespaceName($0) && (host.ndAttribute($0, "size") ?? "0") != "0" }
                .sorted { $0.localizedStandardCompare($1) == .orderedAscending }
        }
        guard host.ndObjects().contains(namespace) else { throw .noSuchNamespace(namespace, known: known()) }
        let outcome = host.ndctl(NdctlCommand.list(namespace), timeout: timeout)
        guard outcome.succeeded else { throw .ndctl(outcome) }
        let parsed: NamespaceConfiguration?
        do {
            parsed = try NamespaceConfiguration.parse(ndctlJSON: outcome.stdout, namespace: namespace) { host.ndAttribute(namespace, $0) }
        } catch {
            throw .unreadable("`\(outcome.command)` output", reason: "\(error)")
        }
        guard let parsed else { throw .noSuchNamespace(namespace, known: known()) }
        return (parsed, outcome.stdout)
    }

    /// `ndctl list --namespaces --idle --verbose --namespace=<namespace>` as ndctl prints it: for
    /// showing that a namespace is back exactly as it was.
    public static func listing(_ namespace: String, host: any NamespaceHost = SystemNamespaceHost(), timeout: Double = defaultTimeout) -> NdctlOutcome {
        host.ndctl(NdctlCommand.list(namespace), timeout: timeout)
    }

    /// `namespaceX.Y` with decimal X and Y, as `ndctl list -N` names them.
    public static func isNamespaceName(_ name: String) -> Bool {
        let parts = name.dropFirst("namespace".count).split(separator: ".", omittingEmptySubsequences: false)
        return name.hasPrefix("namespace") && parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    private static func checkFree(_ configuration: NamespaceConfiguration, host: any NamespaceHost) throws(ReconfigureError) {
        let holders = host.holders(blockDevice: configuration.blockdev, daxDevice: configuration.chardev)
        guard holders.isEmpty else { throw .inUse(configuration.dev, holders: holders) }
        // Unmounted is not unused: a file system on it would be gone after create-namespace.
        if let blockDevice = configuration.blockdev {
            switch host.signatures(blockDevice: blockDevice) {
            case .success(let found) where !found.isEmpty: throw .carriesData(configuration.dev, blockDevice: blockDevice, signatures: found)
            case .success: break
            case .failure(let errno): throw .unreadable("/dev/\(blockDevice)", reason: "\(errno) (daxref must see that it holds no data)")
            }
        }
    }
}

/// Where data can go in a namespace (drivers/nvdimm/pfn_devs.c, nd_pfn_init): the info block takes
/// the first 8 KiB, data starts at the next `align` boundary after it and ends at the last boundary
/// before the namespace's end. With `--map=mem` nothing else is reserved.
public enum NamespaceGeometry {
    public static let infoBlockBytes: UInt64 = 8 << 10

    /// Whole `align`-sized pages a namespace at `resource` of `size` bytes holds with --map=mem.
    public static func wholePages(resource: UInt64, size: UInt64, align: UInt64) -> UInt64 {
        guard align > 0 else { return 0 }
        let dataStart = (resource + infoBlockBytes + align - 1) / align * align
        let dataEnd = (resource + size) / align * align
        return dataEnd > dataStart ? (dataEnd - dataStart) / align : 0
    }
}

/// The namespace `daxref vm` provisioned for reconfiguration (guest-provision.sh `spare`).
public enum SpareNamespace {
    public static let environmentKey = "DAXREF_SPARE_NAMESPACE"

    /// DAXREF_SPARE_NAMESPACE from the environment, else from $DAXREF_RUN_DIR/provisioned.env; nil
    /// outside a provisioned guest. Inside one the spare is disposable, so this is the opt-in.
    public static func fromProvisionedEnvironment(_ environment: [String: String]) -> String? {
        if let name = environment[environmentKey], !name.isEmpty { return name }
        guard let runDirectory = environment["DAXREF_RUN_DIR"],
            let text = try? SystemFile.readString(FilePath(runDirectory).appending("provisioned.env"))
        else { return nil }
        return ProvisionedEnvironment.parse(text)[environmentKey].flatMap { $0.isEmpty ? nil : $0 }
    }
}
