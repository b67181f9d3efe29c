import Foundation

/// Compares an inventory with what `ndctl list` and `daxctl list` print, field by field, so that
/// "daxref sees what ndctl sees" is a check, not a claim.
public struct CrossCheck: Sendable {
    /// The commands whose JSON this check reads: numeric sizes (no -u), idle objects included.
    public static let ndctlCommand = ["ndctl", "list", "--regions", "--namespaces", "--idle"]
    public static let daxctlCommand = ["daxctl", "list", "--regions", "--devices", "--idle"]

    public struct Disagreement: Sendable, Equatable, CustomStringConvertible {
        public var object: String
        public var field: String
        public var ours: String
        public var theirs: String
        public var description: String { "\(object).\(field): daxref \(ours), ndctl/daxctl \(theirs)" }
    }

    public var compared: Int = 0
    public var disagreements: [Disagreement] = []

    /// `ndctlJSON` and `daxctlJSON` are the tools' stdout (empty when they found nothing).
    public init(inventory: Inventory, ndctlJSON: String, daxctlJSON: String) throws {
        let ndctl = try Self.objects(in: ndctlJSON)
        let daxctl = try Self.objects(in: daxctlJSON)

        let regions = Dictionary(inventory.regions.map { ($0.dev, $0) }, uniquingKeysWith: { a, _ in a })
        let theirRegions = ndctl.filter { ($0["dev"] as? String)?.hasPrefix("region") == true }
        for object in theirRegions {
            let dev = object["dev"] as! String
            guard let region = regions[dev] else { missing(dev, ours: "absent"); continue }
            check(dev, "size", region.size, object["size"])
            check(dev, "available_size", region.availableSize, object["available_size"])
            check(dev, "align", region.align, object["align"])
            check(dev, "type", region.type, object["type"])
            check(dev, "persistence_domain", region.persistenceDomain, object["persistence_domain"])
        }
        extra(Set(regions.keys).subtracting(theirRegions.map { $0["dev"] as! String }))

        let namespaces = Dictionary(inventory.namespaces.map { ($0.dev, $0) }, uniquingKeysWith: { a, _ in a })
        // Idle seeds (size 0) are listed by --idle but are nothing to exercise; daxref omits them.
        let theirNamespaces = ndctl.filter {
            ($0["dev"] as? String)?.hasPrefix("namespace") == true && Self.number($0["size"]) != 0
        }
        for object in theirNamespaces {
            let dev = object["dev"] as! String
            guard let namespace = namespaces[dev] else { missing(dev, ours: "absent"); continue }
            check(dev, "mode", namespace.mode.rawValue, object["mode"])
            check(dev, "map", namespace.map?.rawValue, object["map"])
            check(dev, "size", namespace.size, object["size"])
            check(dev, "align", namespace.align, object["align"])
            check(dev, "uuid", namespace.uuid, object["uuid"])
            check(dev, "name", namespace.name, object["name"])
            check(dev, "enabled", namespace.enabled, (object["state"] as? String).map { $0 != "disabled" } ?? true)
            check(dev, "blockdev", namespace.blockdev, object["blockdev"])
            check(dev, "chardev", namespace.chardev, object["chardev"])
        }
        extra(Set(namespaces.keys).subtracting(theirNamespaces.map { $0["dev"] as! String }))

        let devices = Dictionary(inventory.daxDevices.map { ($0.chardev, $0) }, uniquingKeysWith: { a, _ in a })
        // daxctl's device objects carry "chardev" but, unlike ndctl namespaces, no "dev";
        // size-0 seed devices are idle placeholders.
        let theirDevices = daxctl.filter {
            $0["chardev"] is String && $0["dev"] == nil && Self.number($0["size"]) != 0
        }
        for object in theirDevices {
            let name = object["chardev"] as! String
            guard let device = devices[name] else { missing(name, ours: "absent"); continue }
            check(name, "size", device.size, object["size"])
            check(name, "align", device.align, object["align"])
            check(name, "target_node", device.targetNode, object["target_node"])
            check(name, "mode", device.mode.rawValue, object["mode"])
        }
        extra(Set(devices.filter { $0.value.size > 0 }.keys).subtracting(theirDevices.map { $0["chardev"] as! String }))
    }

    public var agrees: Bool { disagreements.isEmpty }

    // A field ndctl omits is not compared: ndctl leaves out what does not apply (e.g. `map` on raw).
    private mutating func check<T: CustomStringConvertible>(_ object: String, _ field: String, _ ours: T?, _ theirs: Any?) {
        guard let theirs, !(theirs is NSNull) else { return }
        compared += 1
        let theirText = theirs is String || theirs is Bool ? "\(theirs)" : Self.number(theirs).map(String.init) ?? "\(theirs)"
        let ourText = ours.map(\.description) ?? "absent"
        if ourText != theirText {
            disagreements.append(Disagreement(object: object, field: field, ours: ourText, theirs: theirText))
        }
    }

    private mutating func missing(_ object: String, ours: String) {
        compared += 1
        disagreements.append(Disagreement(object: object, field: "listed", ours: ours, theirs: "listed"))
    }

    private mutating func extra(_ objects: Set<String>) {
        for object in objects.sorted() {
            disagreements.append(Disagreement(object: object, field: "listed", ours: "listed", theirs: "absent"))
        }
    }

    static func number(_ value: Any?) -> UInt64? {
        // ndctl prints no booleans in the fields compared here; on Linux a JSON 0 also matches
        // `is Bool`, so that test would drop real zeros.
        (value as? NSNumber)?.uint64Value
    }

    /// Every JSON object at any depth: the tools print a bare object or an array depending on count.
    static func objects(in json: String) throws -> [[String: Any]] {
        let trimmed = json.trimmingWhitespace()
        if trimmed.isEmpty { return [] }
        let root = try JSONSerialization.jsonObject(with: Data(trimmed.utf8))
        var found: [[String: Any]] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                found.append(object)
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(root)
        return found
    }
}
