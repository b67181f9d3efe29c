import CNuma
import SystemPackage

extension NumaNode {
    /// Online nodes from sysfs, sized and connected through libnuma.
    static func online() throws(InventoryError) -> [NumaNode] {
        let path: FilePath = "/sys/devices/system/node/online"
        let list: String?
        do { list = try SystemFile.readAttribute(path) } catch { throw .unreadable(path.string, error) }
        guard let list, numa_available() >= 0 else { return [] }
        guard let nodes = CPUList.parse(list) else {
            throw .malformed(path.string, "expected a node list like 0-1,3, read \"\(list)\"")
        }
        let cpuMask = numa_allocate_cpumask()
        defer { numa_bitmask_free(cpuMask) }
        let possibleCPUs = Int(numa_num_possible_cpus())
        return nodes.map { node in
            var free: Int64 = 0
            let total = numa_node_size64(Int32(node), &free)
            var cpus: [Int] = []
            if numa_node_to_cpus(Int32(node), cpuMask) == 0 {
                cpus = (0..<possibleCPUs).filter { numa_bitmask_isbitset(cpuMask, UInt32($0)) != 0 }
            }
            return NumaNode(
                node: node, memoryTotal: UInt64(max(total, 0)), memoryFree: UInt64(max(free, 0)),
                cpus: cpus, distances: nodes.map { Int(numa_distance(Int32(node), Int32($0))) })
        }
    }
}

/// The kernel's list format for CPUs and nodes: "0-3,5,8-9".
public enum CPUList {
    /// More entries than any kernel lists (NR_CPUS is at most 8192): "0-99999999999" is not a list
    /// to expand into memory.
    static let maximumCount = 1 << 16

    public static func parse(_ text: String) -> [Int]? {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty { return [] }
        var result: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]),
                let high = Int(bounds[bounds.count - 1]), low <= high, low >= 0, high - low < maximumCount - result.count
            else { return nil }
            result.append(contentsOf: low...high)
        }
        return result
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
