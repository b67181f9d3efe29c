import CDaxctl
import CNdctl

#if canImport(Glibc)
import Glibc
#endif

// Walks the libraries' trees into the value model. Everything the C side returns is copied out
// while the context is alive, so no pointer escapes.

extension NdctlContext {
    func buses() -> [Bus] {
        chain(first: ndctl_bus_get_first(raw), next: ndctl_bus_get_next).map { bus in
            Bus(
                dev: string(ndctl_bus_get_devname(bus)) ?? "?",
                provider: string(ndctl_bus_get_provider(bus)) ?? "?",
                regions: chain(first: ndctl_region_get_first(bus), next: ndctl_region_get_next)
                    .map(Self.region))
        }
    }

    private static func region(_ region: OpaquePointer) -> Region {
        let align = ndctl_region_get_align(region)
        let extent = ndctl_region_get_max_available_extent(region)
        return Region(
            dev: string(ndctl_region_get_devname(region)) ?? "?",
            size: ndctl_region_get_size(region),
            align: align == UInt.max || align == 0 ? nil : UInt64(align),
            availableSize: ndctl_region_get_available_size(region),
            maxAvailableExtent: extent == UInt64.max ? nil : extent,
            type: string(ndctl_region_get_type_name(region)) ?? "unknown",
            persistenceDomain: persistenceDomain(ndctl_region_get_persistence_domain(region)),
            numaNode: node(ndctl_region_get_numa_node(region)),
            targetNode: node(ndctl_region_get_target_node(region)),
            enabled: ndctl_region_is_enabled(region) != 0,
            namespaces: chain(first: ndctl_namespace_get_first(region), next: ndctl_namespace_get_next)
                .filter(isListed).map(namespace))
    }

    /// ndctl list hides idle seed namespaces (size 0, not configured); so do we.
    private static func isListed(_ ndns: OpaquePointer) -> Bool {
        ndctl_namespace_get_size(ndns) > 0 || ndctl_namespace_is_active(ndns)
    }

    private static func namespace(_ ndns: OpaquePointer) -> Namespace {
        let rawSize = ndctl_namespace_get_size(ndns)
        var result = Namespace(
            dev: string(ndctl_namespace_get_devname(ndns)) ?? "?",
            mode: mode(ndctl_namespace_get_mode(ndns)), map: nil, size: rawSize, rawSize: rawSize,
            align: nil, uuid: uuid { ndctl_namespace_get_uuid(ndns, $0) },
            rawUUID: uuid { ndctl_namespace_get_uuid(ndns, $0) },
            name: nonEmpty(string(ndctl_namespace_get_alt_name(ndns))),
            blockdev: nonEmpty(string(ndctl_namespace_get_block_device(ndns))), chardev: nil,
            numaNode: node(ndctl_namespace_get_numa_node(ndns)),
            targetNode: node(ndctl_namespace_get_target_node(ndns)),
            enabled: ndctl_namespace_is_active(ndns))
        if let pfn = ndctl_namespace_get_pfn(ndns) {
            result.map = location(ndctl_pfn_get_location(pfn))
            result.size = ndctl_pfn_get_size(pfn)
            result.align = UInt64(ndctl_pfn_get_align(pfn))
            result.uuid = uuid { ndctl_pfn_get_uuid(pfn, $0) }
            result.blockdev = nonEmpty(string(ndctl_pfn_get_block_device(pfn))) ?? result.blockdev
        } else if result.mode == .fsdax, ndctl_namespace_get_dax(ndns) == nil {
            // A legacy (e820 / label-less raw) pmem namespace without a pfn device: the pmem driver
            // puts its memmap in system RAM (drivers/nvdimm/pmem.c, pmem_attach_disk), as ndctl says.
            result.map = .mem
        }
        if let dax = ndctl_namespace_get_dax(ndns) {
            result.map = location(ndctl_dax_get_location(dax))
            result.size = ndctl_dax_get_size(dax)
            result.align = UInt64(ndctl_dax_get_align(dax))
            result.uuid = uuid { ndctl_dax_get_uuid(dax, $0) }
            if let daxRegion = ndctl_dax_get_daxctl_region(dax) {
                result.chardev = chain(first: daxctl_dev_get_first(daxRegion), next: daxctl_dev_get_next)
                    .compactMap { string(daxctl_dev_get_devname($0)) }.first
            }
        }
        return result
    }

    private static func mode(_ mode: ndctl_namespace_mode) -> NamespaceMode {
        switch mode {
        case NDCTL_NS_MODE_FSDAX: .fsdax
        case NDCTL_NS_MODE_DEVDAX: .devdax
        case NDCTL_NS_MODE_SECTOR: .sector
        case NDCTL_NS_MODE_RAW: .raw
        default: .unknown
        }
    }

    private static func location(_ location: ndctl_pfn_loc) -> MemmapLocation? {
        switch location {
        case NDCTL_PFN_LOC_RAM: .mem
        case NDCTL_PFN_LOC_PMEM: .dev
        default: nil
        }
    }

    private static func persistenceDomain(_ domain: ndctl_persistence_domain) -> String? {
        switch domain {
        case PERSISTENCE_NONE: "none"
        case PERSISTENCE_MEM_CTRL: "memory_controller"
        case PERSISTENCE_CPU_CACHE: "cpu_cache"
        case PERSISTENCE_UNKNOWN: "unknown"
        default: nil
        }
    }
}

extension DaxctlContext {
    func regions() -> [DaxRegion] {
        chain(first: daxctl_region_get_first(raw), next: daxctl_region_get_next).map { region in
            DaxRegion(
                id: Int(daxctl_region_get_id(region)),
                dev: string(daxctl_region_get_devname(region)),
                size: daxctl_region_get_size(region),
                align: UInt64(daxctl_region_get_align(region)),
                availableSize: daxctl_region_get_available_size(region),
                path: string(daxctl_region_get_path(region)),
                devices: chain(first: daxctl_dev_get_first(region), next: daxctl_dev_get_next)
                    .map(Self.device))
        }
    }

    private static func device(_ dev: OpaquePointer) -> DaxDevice {
        let name = string(daxctl_dev_get_devname(dev)) ?? "?"
        let path = "/dev/" + name
        return DaxDevice(
            chardev: name, size: daxctl_dev_get_size(dev), align: UInt64(daxctl_dev_get_align(dev)),
            targetNode: node(daxctl_dev_get_target_node(dev)),
            // daxctl reports system-ram when the kmem driver owns the device's memory.
            mode: daxctl_dev_get_memory(dev) != nil ? .systemRAM : .devdax,
            enabled: daxctl_dev_is_enabled(dev) != 0,
            path: access(path, F_OK) == 0 ? path : nil)
    }
}

/// libndctl reports "no node" as -1 (and errors as other negatives).
private func node(_ value: Int32) -> Int? { value >= 0 ? Int(value) : nil }

private func nonEmpty(_ text: String?) -> String? { text?.isEmpty == false ? text : nil }

/// A uuid_t from the library, formatted the way ndctl prints it; nil for the all-zero uuid.
private func uuid(_ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> String? {
    var bytes = [UInt8](repeating: 0, count: 16)
    bytes.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
    guard bytes.contains(where: { $0 != 0 }) else { return nil }
    let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }
    return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { hex[$0].joined() }.joined(separator: "-")
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
