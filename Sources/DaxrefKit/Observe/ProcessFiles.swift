import SystemPackage

/// /proc/PID/status: `Name:\tvalue` lines. Every field is kept as text; the `kB` ones (VmRSS,
/// RssAnon, RssFile, RssShmem, VmPTE, …) are also numbers, which is what observers report.
public struct ProcStatus: Codable, Sendable, Equatable {
    public var fields: [String: String]

    /// The fields printed as `<number> kB`.
    public var kilobytes: [String: Int64] {
        fields.compactMapValues { value in
            guard let quantity = ProcText.quantity(Substring(value)), quantity.unit == .kilobytes else { return nil }
            return quantity.value
        }
    }

    /// The state letter of the `State:` field (`S (sleeping)` → `S`).
    public var state: String? { fields["State"].flatMap { $0.first.map(String.init) } }

    public static func parse(_ text: String) throws(ObserverError) -> ProcStatus {
        var fields: [String: String] = [:]
        for (number, line) in ProcText.lines(text) {
            guard let field = ProcText.colonField(line) else {
                throw .malformed(source: "status", line: number, reason: "expected `Name: value`")
            }
            let value = String(field.value)
            // A kB field must carry a number; "VmRSS: lots kB" is corruption, not text.
            if value.hasSuffix(" kB"), ProcText.quantity(field.value) == nil {
                throw .malformed(source: "status", line: number, reason: "\(field.name): \"\(value)\" is not `<number> kB`")
            }
            fields[String(field.name)] = value
        }
        guard fields["Name"] != nil, fields["Pid"] != nil else {
            throw .malformed(source: "status", line: 0, reason: "no Name: or Pid: field")
        }
        return ProcStatus(fields: fields)
    }

    public static func read(pid: Int32) throws(ObserverError) -> ProcStatus {
        try parse(try ObserverError.readText(FilePath("/proc/\(pid)/status")))
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
    /// never counted here in any era (reference §5.4).
    public var pagesPerNode: [Int: Int64]

    public var pages: Int64 { pagesPerNode.values.reduce(0, +) }
}

public enum NumaMaps {
    public static func parse(_ text: String) throws(ObserverError) -> [NumaMapsEntry] {
        var entries: [NumaMapsEntry] = []
        for (number, line) in ProcText.lines(text) {
            func bad(_ reason: String) -> ObserverError { .malformed(source: "numa_maps", line: number, reason: reason) }
            let words = ProcText.fields(line)
            guard words.count >= 2, let start = ProcText.hex(words[0]) else { throw bad("expected `<hex address> <policy> …`") }
            var entry = NumaMapsEntry(start: start, policy: String(words[1]), file: nil, markers: [], counters: [:], pagesPerNode: [:])
            for word in words.dropFirst(2) {
                guard let equals = word.firstIndex(of: "=") else {
                    entry.markers.append(String(word))
                    continue
                }
                let name = word[..<equals]
                let value = word[word.index(after: equals)...]
                if name == "file" {
                    // seq_file_path escapes "\n\t= " as octal, so a path never contains a raw space.
                    entry.file = MountEntry.unescape(value)
                    continue
                }
                guard let count = ProcText.counter(value) else { throw bad("\(name): \"\(value)\" is not a number") }
                if name.first == "N", let node = ProcText.decimal(name.dropFirst()).flatMap(Int.init(exactly:)) {
                    entry.pagesPerNode[node] = count
                } else {
                    entry.counters[String(name)] = count
                }
            }
            entries.append(entry)
        }
        return entries
    }

    public static func read(pid: Int32) throws(ObserverError) -> [NumaMapsEntry] {
        try parse(try ObserverError.readText(FilePath("/proc/\(pid)/numa_maps")))
    }

    /// The entries of the VMAs overlapping `range`. numa_maps prints only start addresses, so the
    /// VMA extents come from /proc/PID/maps (which does not walk page tables).
    public static func overlapping(_ entries: [NumaMapsEntry], _ range: Range<UInt64>, vmas: [VMAHeader]) -> [NumaMapsEntry] {
        let starts = Set(vmas.filter { $0.range.overlaps(range) }.map(\.start))
        return entries.filter { starts.contains($0.start) }
    }

    /// `numa_maps.pages` (sum of all N<node>), `numa_maps.N<node>`, summed counters, and the policy
    /// (the common one; `.unavailable` when the VMAs differ). `kernelpagesize_kB` is per VMA, like smaps.
    public static func observations(of entries: [NumaMapsEntry]) -> Observations {
        var result = Observations()
        result["numa_maps.vmas"] = .integer(Int64(entries.count))
        result["numa_maps.pages"] = .integer(entries.map(\.pages).reduce(0, +))
        for node in Set(entries.flatMap(\.pagesPerNode.keys)) {
            result[ObservableKey("numa_maps", "N\(node)")] = .integer(entries.compactMap { $0.pagesPerNode[node] }.reduce(0, +))
        }
        for name in Set(entries.flatMap(\.counters.keys)) where name != "kernelpagesize_kB" {
            result[ObservableKey("numa_maps", name)] = .integer(entries.compactMap { $0.counters[name] }.reduce(0, +))
        }
        let policies = Set(entries.map(\.policy))
        result["numa_maps.policy"] = policies.count == 1 ? .text(policies.first!) : .unavailable("policies differ: \(policies.sorted())")
        let pageSizes = Set(entries.compactMap { $0.counters["kernelpagesize_kB"] })
        if let only = pageSizes.first, pageSizes.count == 1 {
            result["numa_maps.kernelpagesize_kB"] = .integer(only)
        }
        return result
    }
}

/// What a task is doing: /proc/PID/task/TID/{wchan,stack,stat}. Used to see where a blocked
/// truncate sleeps (ext4_break_layouts on 6.1, ext4_wait_dax_page on 6.15+; reference §1.4).
public struct TaskWait: Codable, Sendable, Equatable {
    /// The function the task sleeps in; "0" when running or when the reader may not ptrace it.
    public var wchan: String
    /// Kernel stack frames (`ext4_break_layouts+0x12f/0x1b0 [ext4]`); nil when unreadable (needs root).
    public var stack: [String]?
    /// /proc/PID/task/TID/stat field 3: R, S, D, T, t, Z, X, I, P.
    public var state: String

    /// The frames of /proc/…/stack without the `[<0>] ` address prefix (addresses are hidden anyway).
    public static func parseStack(_ text: String) -> [String] {
        ProcText.lines(text).map { _, line in
            var frame = ProcText.trimmed(line)
            if frame.hasPrefix("["), let close = frame.firstIndex(of: "]") {
                frame = ProcText.trimmed(frame[frame.index(after: close)...])
            }
            return String(frame)
        }
    }

    /// The state letter from a stat line: `1234 (comm with ) and spaces) S 1 …`. The comm may contain
    /// anything, so the state is the first field after the *last* `)`.
    public static func parseStatState(_ text: String) throws(ObserverError) -> String {
        guard let close = text.lastIndex(of: ")") else {
            throw .malformed(source: "stat", line: 1, reason: "no `(comm)`")
        }
        guard let state = ProcText.fields(text[text.index(after: close)...]).first, state.count == 1,
            "RSDTtZXIPWxKN".contains(state)
        else { throw .malformed(source: "stat", line: 1, reason: "no state letter after `(comm)`") }
        return String(state)
    }

    public static func read(pid: Int32, tid: Int32) throws(ObserverError) -> TaskWait {
        let directory = "/proc/\(pid)/task/\(tid)"
        var wchan = try ObserverError.readText(FilePath(directory + "/wchan"))
        while wchan.last?.isWhitespace == true { wchan.removeLast() }
        let state = try parseStatState(try ObserverError.readText(FilePath(directory + "/stat")))
        let stack = try? parseStack(ObserverError.readText(FilePath(directory + "/stack")))
        return TaskWait(wchan: wchan.isEmpty ? "0" : wchan, stack: stack, state: state)
    }

    public var observations: Observations {
        var result = Observations()
        result["task.wchan"] = .text(wchan)
        result["task.state"] = .text(state)
        result["task.stack"] = stack.map { .list($0.map(ObservedValue.text)) } ?? .unavailable("stack not readable (needs root)")
        return result
    }
}
