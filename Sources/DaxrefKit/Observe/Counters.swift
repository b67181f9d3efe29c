import SystemPackage

/// /proc/vmstat and /sys/devices/system/node/nodeN/vmstat: `name value` per line.
public enum VMStat {
    public static func parse(_ text: String, source: String = "vmstat") throws(ObserverError) -> [String: Int64] {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes, source: source) }
    }

    static func parse(_ text: ProcBytes, source: String) throws(ObserverError) -> [String: Int64] {
        var counters: [String: Int64] = [:]
        counters.reserveCapacity(256)
        try text.forEachLine { (number, line) throws(ObserverError) in
            var index = 0
            guard let name = line.field(after: &index), let text = line.field(after: &index), line.field(after: &index) == nil else {
                throw .malformed(source: source, line: number, reason: "expected `name value`, found \(line.fields.count) fields")
            }
            guard let value = text.counter else {
                throw .malformed(source: source, line: number, reason: "\(name.string): \"\(text.string)\" is not a number")
            }
            guard counters.updateValue(value, forKey: name.string) == nil else {
                throw .malformed(source: source, line: number, reason: "\(name.string) appears twice")
            }
        }
        guard !counters.isEmpty else { throw .malformed(source: source, line: 0, reason: "empty") }
        return counters
    }

    /// Reads /proc/vmstat or a node's vmstat.
    static func read(_ path: String, source: String) throws(ObserverError) -> [String: Int64] {
        try ProcBytes.with(try ObserverError.readBytes(path)) { (bytes) throws(ObserverError) in try parse(bytes, source: source) }
    }

    /// Folds the per-cpu deltas into the global counters first (Documentation/admin-guide/sysctl/vm.rst
    /// `stat_refresh`): otherwise a counter can lag by up to the per-cpu threshold per CPU.
    /// Needs root; returns whether the refresh happened, and never fails the read because of it.
    @discardableResult
    public static func refresh() -> Bool {
        do {
            let fd = try "/proc/sys/vm/stat_refresh".withCString { try FileDescriptor.open($0, .writeOnly, options: [.closeOnExec]) }
            defer { try? fd.close() }
            _ = try fd.writeAll("1".utf8)
            return true
        } catch {
            return false
        }
    }

    /// Refreshes, then reads /proc/vmstat.
    public static func read() throws(ObserverError) -> (counters: [String: Int64], refreshed: Bool) {
        let refreshed = refresh()
        return (try read("/proc/vmstat", source: "vmstat"), refreshed)
    }

    public static func observations(_ counters: [String: Int64], prefix: String = "vmstat") -> Observations {
        var result = Observations()
        for (name, value) in counters { result[ObservableKey(prefix, name)] = .integer(value) }
        return result
    }
}

/// /proc/meminfo (`Name:   1234 kB`) and the per-node files (`Node 0 Name:   1234 kB`).
public enum MemInfo {
    public static func parse(_ text: String, source: String = "meminfo") throws(ObserverError) -> [String: ProcQuantity] {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes, source: source) }
    }

    static func parse(_ text: ProcBytes, source: String) throws(ObserverError) -> [String: ProcQuantity] {
        var fields: [String: ProcQuantity] = [:]
        fields.reserveCapacity(64)
        try text.forEachLine { (number, rawLine) throws(ObserverError) in
            var line = rawLine
            // Per-node files prefix every line with "Node <n> ".
            var index = 0
            if let first = line.field(after: &index), first == "Node", line.field(after: &index)?.decimal != nil,
                let name = line.field(after: &index)
            {
                line = line.suffix(from: name.start - line.start)
            }
            guard let field = line.colonField else {
                throw .malformed(source: source, line: number, reason: "expected `Name: value`")
            }
            let (name, value) = (field.name, field.value)
            guard let quantity = value.quantity else {
                throw .malformed(source: source, line: number, reason: "\(name.string): \"\(value.string)\" is not `<number>` or `<number> kB`")
            }
            guard fields.updateValue(quantity, forKey: name.string) == nil else {
                throw .malformed(source: source, line: number, reason: "\(name.string) appears twice")
            }
        }
        guard !fields.isEmpty else { throw .malformed(source: source, line: 0, reason: "empty") }
        return fields
    }

    /// Reads /proc/meminfo or a node's meminfo.
    static func read(_ path: String, source: String) throws(ObserverError) -> [String: ProcQuantity] {
        try ProcBytes.with(try ObserverError.readBytes(path)) { (bytes) throws(ObserverError) in try parse(bytes, source: source) }
    }

    public static func read() throws(ObserverError) -> [String: ProcQuantity] {
        try read("/proc/meminfo", source: "meminfo")
    }

    public static func observations(_ fields: [String: ProcQuantity], prefix: String = "meminfo") -> Observations {
        var result = Observations()
        for (name, quantity) in fields { result[ObservableKey(prefix, name)] = .integer(quantity.value) }
        return result
    }
}
