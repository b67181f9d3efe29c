import SystemPackage

public enum InventoryError: Error, Sendable, CustomStringConvertible {
    case library(LibraryError)
    case unreadable(String, Errno)
    case malformed(String, String)

    public var description: String {
        switch self {
        case .library(let error): error.description
        case .unreadable(let path, let errno): "cannot read \(path): \(errno)"
        case .malformed(let path, let why): "unexpected content in \(path): \(why)"
        }
    }
}

/// Everything daxref can see about device memory on this machine.
public struct Inventory: Codable, Sendable, Equatable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    public var kernel: KernelFingerprint
    public var buses: [Bus]
    public var daxRegions: [DaxRegion]
    public var numaNodes: [NumaNode]
    public var daxMounts: [DaxMount]

    enum CodingKeys: String, CodingKey {
        case schemaVersion, kernel, buses
        case daxRegions = "dax_regions"
        case numaNodes = "numa_nodes"
        case daxMounts = "dax_mounts"
    }

    public var regions: [Region] { buses.flatMap(\.regions) }
    public var namespaces: [Namespace] { regions.flatMap(\.namespaces) }
    public var daxDevices: [DaxDevice] { daxRegions.flatMap(\.devices) }
    /// Whether there is any device memory to exercise at all.
    public var hasDeviceMemory: Bool { !regions.isEmpty || !daxDevices.isEmpty }

    public static func read() throws(InventoryError) -> Inventory {
        let buses: [Bus]
        let daxRegions: [DaxRegion]
        do {
            buses = try NdctlContext().buses()
            daxRegions = try DaxctlContext().regions()
        } catch { throw .library(error) }
        return Inventory(
            schemaVersion: currentSchemaVersion, kernel: .current(), buses: buses,
            daxRegions: daxRegions, numaNodes: try NumaNode.online(), daxMounts: try DaxMount.current())
    }
}
