import SystemPackage

/// /proc/vmstat and /sys/devices/system/node/nodeN/vmstat: `name value` per line.
public enum VMStat {
    public static func parse(_ text: String, source: String = "vmstat") throws(ObserverError) -> [String: Int64] {
        var counters: [String: Int64] = [:]
        for (number, line) in ProcText.lines(text) {
            let parts = ProcText.fields(line)
            guard parts.count == 2 else {
                throw .malformed(source: source, line: number, reason: "expected `name value`, found \(parts.count) fields")
            }
            guard let value = ProcText.counter(parts[1]) else {
                throw .malformed(source: source, line: number, reason: "\(parts[0]): \"\(parts[1])\" is not a number")
            }
            guard counters.updateValue(value, forKey: String(parts[0])) == nil else {
                throw .malformed(source: source, line: number, reason: "\(parts[0]) appears twice")
            }
        }
        guard !counters.isEmpty else { throw .malformed(source: source, line: 0, reason: "empty") }
        return counters
    }

    /// Folds the per-cpu deltas into the global counters first (Documentation/admin-guide/sysctl/vm.rst
    /// `stat_refresh`): otherwise a counter can lag by up to the per-cpu threshold per CPU.
    /// Needs root; returns whether the refresh happened, and never fails the read because of it.
    @discardableResult
    public static func refresh() -> Bool {
        do {
            let fd = try FileDescriptor.open("/proc/sys/vm/stat_refresh", .writeOnly, options: [.closeOnExec])
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
        return (try parse(try ObserverError.readText("/proc/vmstat")), refreshed)
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
        var fields: [String: ProcQuantity] = [:]
        for (number, rawLine) in ProcText.lines(text) {
            var line = rawLine
            // Per-node files prefix every line with "Node <n> ".
            let words = ProcText.fields(line)
            if words.count > 2, words[0] == "Node", ProcText.decimal(words[1]) != nil {
                line = line[words[2].startIndex...]
            }
            guard let field = ProcText.colonField(line) else {
                throw .malformed(source: source, line: number, reason: "expected `Name: value`")
            }
            guard let quantity = ProcText.quantity(field.value) else {
                throw .malformed(source: source, line: number, reason: "\(field.name): \"\(field.value)\" is not `<number>` or `<number> kB`")
            }
            guard fields.updateValue(quantity, forKey: String(field.name)) == nil else {
                throw .malformed(source: source, line: number, reason: "\(field.name) appears twice")
            }
        }
        guard !fields.isEmpty else { throw .malformed(source: source, line: 0, reason: "empty") }
        return fields
    }

    public static func read() throws(ObserverError) -> [String: ProcQuantity] {
        try parse(try ObserverError.readText("/proc/meminfo"))
    }

    public static func observations(_ fields: [String: ProcQuantity], prefix: String = "meminfo") -> Observations {
        var result = Observations()
        for (name, quantity) in fields { result[ObservableKey(prefix, name)] = .integer(quantity.value) }
        return result
    }
}
