import SystemPackage

/// /proc/PID/status: `Name:\tvalue` lines. Every field is kept as text; the `kB` ones (VmRSS,
/// RssAnon, RssFile, RssShmem, VmPTE, …) are also numbers, which is what observers report.
public struct ProcStatus: Codable, Sendable, Equatable {
    public var fields: [String: String]

    /// The fields printed as `<number> kB`.
    public var kilobytes: [String: Int64] {
        fields.compactMapValues { value in
            guard let quantity = ProcBytes.with(value, \.quantity), quantity.unit == .kilobytes else { return nil }
            return quantity.value
        }
    }

    /// The state letter of the `State:` field (`S (sleeping)` → `S`).
    public var state: String? { fields["State"].flatMap { $0.first.map(String.init) } }

    public static func parse(_ text: String) throws(ObserverError) -> ProcStatus {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes) }
    }

    static func parse(_ text: ProcBytes) throws(ObserverError) -> ProcStatus {
        var fields: [String: String] = [:]
        try text.forEachLine { (number, line) throws(ObserverError) in
            guard let field = line.colonField else {
                throw .malformed(source: "status", line: number, reason: "expected `Name: value`")
            }
            let (name, value) = (field.name, field.value)
            // A kB field must carry a number; "VmRSS: lots kB" is corruption, not text.
            if value.hasSuffix(" kB"), value.quantity == nil {
                throw .malformed(source: "status", line: number, reason: "\(name.string): \"\(value.string)\" is not `<number> kB`")
            }
            fields[name.string] = value.string
        }
        guard fields["Name"] != nil, fields["Pid"] != nil else {
            throw .malformed(source: "status", line: 0, reason: "no Name: or Pid: field")
        }
        return ProcStatus(fields: fields)
    }

    public static func read(pid: Int32) throws(ObserverError) -> ProcStatus {
        try ProcBytes.with(try ObserverError.readBytes("/proc/\(pid)/status")) { (bytes) throws(ObserverError) in try parse(bytes) }
    }

    public var observations: Observations {
        var result = Observations()
        for (name, value) in kilobytes { result[ObservableKey("status", name)] = .integer(value) }
        return result
    }
}

/// One line of /proc/PID/numa_maps (Documentation/filesystems/proc.rst §1.2, fs/proc/task_mmu.c
/// show_numa_map): `<start> <policy> [file=<path>|heap|stack] [huge] [anon=N] [dirty=N] [mapped=N]
/// [mapmax=N] [swapcache=N] [active=N] [writeback=N] [N<node>=pages…] kernelpagesize_kB=N`.
public struct NumaMapsEntry: Codable, Sendable, Equatable {
    public var start: UInt64
    public var policy: String
    public var file: String?
    /// Bare words: `heap`, `stack`, `huge`.
    public var markers: [String]
    /// `anon`, `dirty`, `mapped`, `mapmax`, `swapcache`, `active`, `writeback`, `kernelpagesize_kB`,
    /// and any `name=number` a newer kernel adds.
    public var counters: [String: Int64]
    /// Pages per node (`N0=512`): pages the walk found with a struct page on that node. DAX pages are
    /// never counted here in any era: can_gather_numa_stats() refuses them (fs/proc/task_mmu.c).
    public var pagesPerNode: [Int: Int64]

    /// nil when the counts overflow (a corrupt line).
    public var pages: Int64? { pagesPerNode.values.checkedSum }
}

public enum NumaMaps {
    public static func parse(_ text: String) throws(ObserverError) -> [NumaMapsEntry] {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes) }
    }

    /// Parses numa_maps, keeping only the entries whose start is in `starts` (all when nil); of the other
    /// lines only the address is read (as for smaps, the kept lines are checked against the format).
    static func parse(_ text: ProcBytes, keeping starts: Set<UInt64>? = nil) throws(ObserverError) -> [NumaMapsEntry] {
        var entries: [NumaMapsEntry] = []
        try text.forEachLine { (number, line) throws(ObserverError) in
            func bad(_ reason: String) -> ObserverError { .malformed(source: "numa_maps", line: number, reason: reason) }
            var index = 0
            guard let address = line.field(after: &index), let policy = line.field(after: &index), let start = address.hex
            else { throw bad("expected `<hex address> <policy> …`") }
            guard starts?.contains(start) ?? true else { return }
            var entry = NumaMapsEntry(start: start, policy: policy.string, file: nil, markers: [], counters: [:], pagesPerNode: [:])
            while let word = line.field(after: &index) {
                guard let equals = word.firstIndex(of: UInt8(ascii: "=")) else {
                    entry.markers.append(word.string)
                    continue
                }
                let name = word.prefix(upTo: equals)
                let value = word.suffix(from: equals + 1)
                if name == "file" {
                    // seq_file_path escapes "\n\t= " as octal, so a path never contains a raw space.
                    entry.file = value.contains(UInt8(ascii: "\\")) ? MountEntry.unescape(Substring(value.string)) : value.string
                    continue
                }
                guard let count = value.counter else { throw bad("\(name.string): \"\(value.string)\" is not a number") }
                if name.hasPrefix("N"), let node = name.suffix(from: 1).decimal.flatMap(Int.init(exactly:)) {
                    entry.pagesPerNode[node] = count
                } else {
                    entry.counters[name.string] = count
                }
            }
            entries.append(entry)
        }
        return entries
    }

    /// The entries of process `pid`, or only those of the VMAs overlapping `range` (whose extents come
    /// from /proc/PID/maps, read first).
    public static func read(pid: Int32, overlapping range: Range<UInt64>? = nil) throws(ObserverError) -> [NumaMapsEntry] {
        var starts: Set<UInt64>?
        if let range { starts = Self.starts(of: try ProcMaps.read(pid: pid), overlapping: range) }
        return try ProcBytes.with(try ObserverError.readBytes("/proc/\(pid)/numa_maps")) { (bytes) throws(ObserverError) in
            try parse(bytes, keeping: starts)
        }
    }

    /// The entries of the VMAs overlapping `range`. numa_maps prints only start addresses, so the
    /// VMA extents come from /proc/PID/maps (which does not walk page tables).
    public static func overlapping(_ entries: [NumaMapsEntry], _ range: Range<UInt64>, vmas: [VMAHeader]) -> [NumaMapsEntry] {
        let starts = starts(of: vmas, overlapping: range)
        return entries.filter { starts.contains($0.start) }
    }

    static func starts(of vmas: [VMAHeader], overlapping range: Range<UInt64>) -> Set<UInt64> {
        Set(vmas.filter { $0.range.overlaps(range) }.map(\.start))
    }

    /// `numa_maps.pages` (sum of all N<node>), `numa_maps.N<node>`, summed counters, and the policy
    /// (the common one; `.unavailable` when the VMAs differ). `kernelpagesize_kB` is per VMA, like smaps.
    public static func observations(of entries: [NumaMapsEntry]) -> Observations {
        var result = Observations()
        result[.numaMapsVmas] = .integer(Int64(entries.count))
        result[.numaMapsPages] = .sum(entries.flatMap(\.pagesPerNode.values))
        for node in Set(entries.flatMap(\.pagesPerNode.keys)) {
            result[ObservableKey("numa_maps", "N\(node)")] = .sum(entries.compactMap { $0.pagesPerNode[node] })
        }
        for name in Set(entries.flatMap(\.counters.keys)) where name != "kernelpagesize_kB" {
            result[ObservableKey("numa_maps", name)] = .sum(entries.compactMap { $0.counters[name] })
        }
        let policies = Set(entries.map(\.policy))
        result[.numaMapsPolicy] = policies.count == 1 ? .text(policies.first!) : .unavailable("policies differ: \(policies.sorted())")
        let pageSizes = Set(entries.compactMap { $0.counters["kernelpagesize_kB"] })
        if let only = pageSizes.first, pageSizes.count == 1 {
            result[.numaMapsKernelPageSize] = .integer(only)
        }
        return result
    }
}

/// What a task is doing: /proc/PID/task/TID/{wchan,stack,stat}. Used to see where a blocked
/// truncate sleeps (ext4_break_layouts on 6.1, ext4_wait_dax_page on 6.15+; fs/ext4/inode.c).
public struct TaskWait: Codable, Sendable, Equatable {
    /// The function the task sleeps in; "0" when running or when the reader may not ptrace it.
    public var wchan: String
    /// Kernel stack frames (`ext4_break_layouts+0x12f/0x1b0 [ext4]`); nil when unreadable (needs root).
    public var stack: [String]?
    /// /proc/PID/task/TID/stat field 3: R, S, D, T, t, Z, X, I, P.
    public var state: String

    /// The frames of /proc/…/stack without the `[<0>] ` address prefix (addresses are hidden anyway).
    public static func parseStack(_ text: String) -> [String] {
        ProcBytes.with(text) { bytes in
            var frames: [String] = []
            bytes.forEachLine { _, line in
                var frame = line.trimmed
                if frame.hasPrefix("["), let close = frame.firstIndex(of: UInt8(ascii: "]")) {
                    frame = frame.suffix(from: close + 1).trimmed
                }
                frames.append(frame.string)
            }
            return frames
        }
    }

    /// The state letter from a stat line: `1234 (comm with ) and spaces) S 1 …`. The comm may contain
    /// anything, so the state is the first field after the *last* `)`.
    public static func parseStatState(_ text: String) throws(ObserverError) -> String {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else {
                throw .malformed(source: "stat", line: 1, reason: "no `(comm)`")
            }
            var index = close + 1
            guard let state = bytes.field(after: &index), state.count == 1, Self.stateLetters.contains(state[0])
            else { throw .malformed(source: "stat", line: 1, reason: "no state letter after `(comm)`") }
            return state.string
        }
    }

    private static let stateLetters = Array("RSDTtZXIPWxKN".utf8)

    public static func read(pid: Int32, tid: Int32) throws(ObserverError) -> TaskWait {
        let directory = "/proc/\(pid)/task/\(tid)"
        let wchan = try ProcBytes.with(try ObserverError.readBytes(directory + "/wchan")) { $0.trimmed.string }
        let state = try parseStatState(String(decoding: try ObserverError.readBytes(directory + "/stat"), as: UTF8.self))
        let stack = (try? ObserverError.readBytes(directory + "/stack")).map { parseStack(String(decoding: $0, as: UTF8.self)) }
        return TaskWait(wchan: wchan.isEmpty ? "0" : wchan, stack: stack, state: state)
    }

    public var observations: Observations {
        var result = Observations()
        result[.taskWchan] = .text(wchan)
        result[.taskState] = .text(state)
        result[.taskStack] = stack.map { .list($0.map(ObservedValue.text)) } ?? .unavailable("stack not readable (needs root)")
        return result
    }
}
