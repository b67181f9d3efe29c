extension Inventory {
    /// What `daxref inventory` prints for a person.
    public func humanReport() -> String {
        var out: [String] = []
        out.append("kernel   \(kernel.release) (\(kernel.machine))")
        out.append("cmdline  \(kernel.cmdline)")
        if let source = kernel.configSource {
            let set = KernelConfig.relevantOptions.filter { (kernel.config[$0] ?? "n") != "n" }
            let unset = KernelConfig.relevantOptions.filter { (kernel.config[$0] ?? "n") == "n" }
            out.append("config   \(source): \(set.count) relevant options set; not set: "
                + (unset.isEmpty ? "none" : unset.joined(separator: " ")))
        } else {
            out.append("config   not readable (no /proc/config.gz, no /boot/config-\(kernel.release))")
        }

        out.append("")
        if regions.isEmpty {
            out.append("regions  none")
        } else {
            var table = TextTable("REGION", "BUS", "TYPE", "SIZE", "AVAILABLE", "ALIGN", "PERSISTENCE", "NODE")
            for bus in buses {
                for region in bus.regions {
                    table.add(
                        region.dev, bus.provider, region.type, humanBytes(region.size),
                        humanBytes(region.availableSize), region.align.map(humanBytes) ?? "-",
                        region.persistenceDomain ?? "-", region.numaNode.map(String.init) ?? "-")
                }
            }
            out.append("regions")
            out.append(table.render())
        }

        if !namespaces.isEmpty {
            var table = TextTable("NAMESPACE", "MODE", "MAP", "SIZE", "ALIGN", "DEVICE", "UUID")
            for namespace in namespaces {
                table.add(
                    namespace.dev, namespace.mode.rawValue, namespace.map?.rawValue ?? "-",
                    humanBytes(namespace.size), namespace.align.map(humanBytes) ?? "-",
                    namespace.blockdev ?? namespace.chardev ?? "-", namespace.uuid ?? "-")
            }
            out.append("namespaces")
            out.append(table.render())
        }

        if daxDevices.isEmpty {
            out.append("dax devices  none")
        } else {
            var table = TextTable("DAX DEVICE", "MODE", "SIZE", "ALIGN", "TARGET NODE", "STATE")
            for device in daxDevices {
                table.add(
                    device.chardev, device.mode.rawValue, humanBytes(device.size), humanBytes(device.align),
                    device.targetNode.map(String.init) ?? "-", device.enabled ? "enabled" : "disabled")
            }
            out.append("dax devices")
            out.append(table.render())
        }

        if daxMounts.isEmpty {
            out.append("dax mounts   none")
        } else {
            var table = TextTable("MOUNT", "SOURCE", "FS", "OPTION", "DAX ACTIVE (statx)")
            for mount in daxMounts {
                let active = mount.statxDax.map { ($0 ? "yes" : "NO") + " (\(mount.statxProbe ?? ""))" }
                    ?? "unknown: no regular file to check"
                table.add(mount.mountpoint, mount.source, mount.fstype, mount.daxOption, active)
            }
            out.append("dax mounts")
            out.append(table.render())
        }

        out.append("")
        var nodes = TextTable("NODE", "MEMORY", "FREE", "CPUS", "DISTANCES")
        for node in numaNodes {
            nodes.add(
                String(node.node), humanBytes(node.memoryTotal), humanBytes(node.memoryFree),
                node.cpus.isEmpty ? "-" : cpuListString(node.cpus),
                node.distances.map(String.init).joined(separator: " "))
        }
        out.append(numaNodes.isEmpty ? "numa     not available" : "numa nodes")
        if !numaNodes.isEmpty { out.append(nodes.render()) }

        if !hasDeviceMemory {
            out.append("")
            out.append("""
                No persistent memory or device-dax memory on this machine: nothing for daxref to \
                exercise here.
                To run against a real kernel with emulated pmem, boot one in a VM:
                  daxref vm --kernel 6.1 -- inventory
                (see `daxref vm --help`; no KVM needed).
                """)
        }
        return out.joined(separator: "\n")
    }
}

/// "0-3,5" from [0,1,2,3,5].
func cpuListString(_ cpus: [Int]) -> String {
    var parts: [String] = []
    var index = 0
    let sorted = cpus.sorted()
    while index < sorted.count {
        var end = index
        while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
        parts.append(end == index ? "\(sorted[index])" : "\(sorted[index])-\(sorted[end])")
        index = end + 1
    }
    return parts.joined(separator: ",")
}
