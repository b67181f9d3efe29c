import SystemPackage

/// Attribute files of one sysfs object, raw (trailing newline removed). Kept raw so a fixture
/// directory and a live directory go through the same typed conversion (`observations`).
public struct SysfsObject: Codable, Sendable, Equatable {
    public var path: String
    /// Attribute name → content; an attribute the kernel does not have is absent.
    public var attributes: [String: String]
    /// Attribute name → why it exists but could not be read (an unconfigured "seed" device answers
    /// ENXIO for `size` and `resource`).
    public var unreadable: [String: String]

    public init(path: String, attributes: [String: String], unreadable: [String: String] = [:]) {
        self.path = path
        self.attributes = attributes
        self.unreadable = unreadable
    }

    /// How an attribute's text becomes an observed value.
    public enum Format: Sendable {
        /// A decimal number (sizes in bytes, node ids; `-1` for "no node").
        case decimal
        /// A `0x`-prefixed hex number (`resource`, a physical address).
        case hex
        case text
    }

    /// Reads `names` under `directory`. Absent attributes are left out, unreadable ones recorded with
    /// their error; only a missing directory fails the object as a whole.
    public static func read(_ directory: FilePath, names: [String]) throws(ObserverError) -> SysfsObject {
        guard SystemFile.exists(directory) else { throw .unreadable(path: directory.string, .noSuchFileOrDirectory) }
        var object = SysfsObject(path: directory.string, attributes: [:])
        let prefix = directory.string + "/"
        for name in names {
            do {
                var value = String(decoding: try ObserverError.readBytes(prefix + name), as: UTF8.self)
                while value.last == "\n" { value.removeLast() }
                object.attributes[name] = value
            } catch .unreadable(_, .noSuchFileOrDirectory) {
                continue  // the kernel does not have it
            } catch .unreadable(_, let errno) {
                object.unreadable[name] = errno.description
            } catch {
                object.unreadable[name] = error.description
            }
        }
        return object
    }

    /// `<prefix>.<key>` for each schema entry: the typed value, or `.unavailable` saying why.
    public func observations(prefix: String, schema: [(attribute: String, key: String, format: Format)]) -> Observations {
        var result = Observations()
        for entry in schema {
            let key = ObservableKey(prefix, entry.key)
            guard let text = attributes[entry.attribute] else {
                result[key] = .unavailable(
                    unreadable[entry.attribute].map { "cannot read \(path)/\(entry.attribute): \($0)" }
                        ?? "no attribute \(entry.attribute) in \(path)")
                continue
            }
            result[key] = ProcBytes.with(text) { bytes in
                let trimmed = bytes.trimmed
                switch entry.format {
                case .text:
                    return .text(trimmed.string)
                case .decimal:
                    return trimmed.counter.map(ObservedValue.integer)
                        ?? .unavailable("\(entry.attribute) is not a decimal number: \"\(text)\"")
                case .hex:
                    return trimmed.hasPrefix("0x") ? trimmed.hex.map { .integer(Int64(bitPattern: $0)) }
                        ?? .unavailable("\(entry.attribute) is not a hex number: \"\(text)\"")
                        : .unavailable("\(entry.attribute) is not a 0x-prefixed hex number: \"\(text)\"")
                }
            }
        }
        return result
    }
}

/// A device-dax instance: /sys/bus/dax/devices/daxX.Y (drivers/dax/bus.c). Kernels built with the
/// old dax class (CONFIG_DEV_DAX_PMEM_COMPAT) also show it as /sys/class/dax/daxX.Y.
public enum DaxDeviceSysfs {
    public static let schema: [(attribute: String, key: String, format: SysfsObject.Format)] = [
        ("size", "size", .decimal), ("align", "align", .decimal), ("target_node", "target_node", .decimal),
        ("numa_node", "numa_node", .decimal), ("resource", "resource", .hex), ("modalias", "modalias", .text),
    ]

    public static func read(device: String) throws(ObserverError) -> SysfsObject {
        let bus = FilePath("/sys/bus/dax/devices").appending(device)
        let directory = SystemFile.exists(bus) ? bus : FilePath("/sys/class/dax").appending(device)
        do { return try SysfsObject.read(directory, names: schema.map(\.attribute)) } catch {
            throw .unreadable(path: bus.string, .noSuchFileOrDirectory)  // name the usual place, not the fallback
        }
    }

    public static func observations(_ object: SysfsObject) -> Observations {
        object.observations(prefix: "sysfs.dax", schema: schema)
    }
}

/// An nvdimm namespace (/sys/bus/nd/devices/namespaceX.Y, drivers/nvdimm/namespace_devs.c) and
/// its holder: the pfnX.Y (fsdax) or daxX.Y (devdax) that carries `align` and the memmap location.
public enum NamespaceSysfs {
    static let namespaceSchema: [(attribute: String, key: String, format: SysfsObject.Format)] = [
        // The kernel's mode names: "memory" (= ndctl fsdax), "dax" (devdax), "safe" (sector), "raw".
        ("mode", "mode", .text), ("size", "size", .decimal), ("resource", "resource", .hex),
        ("holder", "holder", .text), ("numa_node", "numa_node", .decimal),
    ]
    static let holderSchema: [(attribute: String, key: String, format: SysfsObject.Format)] = [
        // The holder's "mode" is where its memmap lives: "ram" (ndctl --map=mem) or "pmem" (--map=dev).
        ("align", "align", .decimal), ("mode", "holder_mode", .text), ("size", "holder_size", .decimal),
    ]

    /// `namespace` may also name its holder (`pfn0.1`, `dax0.0`, `btt0.0`): /sys/block/pmemX.Y/device
    /// links to the holder, not the namespace, for fsdax; the holder's `namespace` attribute leads back.
    public static func read(namespace: String) throws(ObserverError) -> (namespace: SysfsObject, holder: SysfsObject?) {
        let root = FilePath("/sys/bus/nd/devices")
        var namespace = namespace
        if !namespace.hasPrefix("namespace") {
            let link = root.appending(namespace).appending("namespace")
            let owner: String?
            do { owner = try SystemFile.readAttribute(link) } catch { throw .unreadable(path: link.string, error) }
            guard let owner, !owner.isEmpty else { throw .unreadable(path: link.string, .noSuchFileOrDirectory) }
            namespace = owner
        }
        let object = try SysfsObject.read(root.appending(namespace), names: namespaceSchema.map(\.attribute))
        guard let holder = object.attributes["holder"], !holder.isEmpty else { return (object, nil) }
        return (object, try SysfsObject.read(root.appending(holder), names: holderSchema.map(\.attribute)))
    }

    public static func observations(namespace: SysfsObject, holder: SysfsObject?) -> Observations {
        var result = namespace.observations(prefix: "sysfs.namespace", schema: namespaceSchema)
        if let holder {
            result.merge(holder.observations(prefix: "sysfs.namespace", schema: holderSchema))
        } else {
            for entry in holderSchema {
                result[ObservableKey("sysfs.namespace", entry.key)] = .unavailable("namespace has no holder (raw mode)")
            }
        }
        return result
    }
}

/// A NUMA node's own counters: /sys/devices/system/node/nodeN/{meminfo,vmstat}.
public enum NodeSysfs {
    public static func read(node: Int) throws(ObserverError) -> (meminfo: [String: ProcQuantity], vmstat: [String: Int64]) {
        let directory = "/sys/devices/system/node/node\(node)"
        return (
            try MemInfo.read(directory + "/meminfo", source: "node\(node)/meminfo"),
            try VMStat.read(directory + "/vmstat", source: "node\(node)/vmstat")
        )
    }

    public static func observations(node: Int, meminfo: [String: ProcQuantity], vmstat: [String: Int64]) -> Observations {
        var result = MemInfo.observations(meminfo, prefix: "sysfs.node.meminfo")
        result.merge(VMStat.observations(vmstat, prefix: "sysfs.node.vmstat"))
        result[.sysfsNodeID] = .integer(Int64(node))
        return result
    }
}
