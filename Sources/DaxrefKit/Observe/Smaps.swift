import SystemPackage

/// One line of /proc/PID/maps, which is also the header of each VMA in smaps:
/// `7f0a00000000-7f0a00200000 rw-s 00000000 00:05 86   /dev/dax1.0`.
public struct VMAHeader: Codable, Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64
    /// `rw-s`: read, write, execute, and `s` shared / `p` private.
    public var permissions: String
    /// Offset into the file (or the device) in bytes.
    public var offset: UInt64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var inode: UInt64
    /// The file, or a pseudo name (`[heap]`, `[stack]`, `[rollup]`); nil for anonymous memory.
    /// Kept as the kernel prints it, including a ` (deleted)` suffix.
    public var path: String?

    public var range: Range<UInt64> { start..<end }
    public var isShared: Bool { permissions.hasSuffix("s") }

    /// Whether the line starts like a maps line (`<hex>-<hex> `), as opposed to a `Name:` field.
    static func looksLikeHeader(_ line: Substring) -> Bool {
        guard let dash = line.firstIndex(of: "-") else { return false }
        let low = line[..<dash]
        return !low.isEmpty && low.allSatisfy(\.isHexDigit)
    }

    static func parse(_ line: Substring, source: String, lineNumber: Int) throws(ObserverError) -> VMAHeader {
        func bad(_ reason: String) -> ObserverError { .malformed(source: source, line: lineNumber, reason: reason) }
        let parts = ProcText.fields(line)
        guard parts.count >= 5 else { throw bad("a VMA line needs at least 5 fields, has \(parts.count)") }
        let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = ProcText.hex(bounds[0]), let end = ProcText.hex(bounds[1]), start <= end
        else { throw bad("address range \"\(parts[0])\" is not <hex>-<hex>") }
        let permissions = parts[1]
        guard permissions.count == 4 else { throw bad("permissions \"\(permissions)\" are not 4 characters") }
        guard let offset = ProcText.hex(parts[2]) else { throw bad("offset \"\(parts[2])\" is not hex") }
        let device = parts[3].split(separator: ":", omittingEmptySubsequences: false)
        guard device.count == 2, let major = ProcText.hex(device[0]).flatMap(UInt32.init(exactly:)),
            let minor = ProcText.hex(device[1]).flatMap(UInt32.init(exactly:))
        else { throw bad("device \"\(parts[3])\" is not <hex>:<hex>") }
        guard let inode = ProcText.decimal(parts[4]) else { throw bad("inode \"\(parts[4])\" is not a number") }
        // The path is everything after the inode's column, and may itself contain spaces.
        var path: String?
        if parts.count > 5 {
            path = String(ProcText.trimmed(line[parts[4].endIndex...]))
        }
        return VMAHeader(
            start: start, end: end, permissions: String(permissions), offset: offset, deviceMajor: major,
            deviceMinor: minor, inode: inode, path: path)
    }
}

/// One VMA of /proc/PID/smaps: its header, every `Name: value [kB]` field (unknown ones included,
/// so a newer kernel's fields are kept, not dropped), and `VmFlags`.
public struct SmapsVMA: Codable, Sendable, Equatable {
    public var header: VMAHeader
    public var fields: [String: ProcQuantity]
    /// Two-letter flags (`rd wr sh mr mw me ms hg` …), as printed.
    public var vmFlags: [String]

    public subscript(field: String) -> Int64? { fields[field]?.value }
}

/// /proc/PID/smaps and /proc/PID/smaps_rollup (Documentation/filesystems/proc.rst §1.1).
public enum Smaps {
    /// Fields that describe the VMA rather than count memory in it: across several VMAs they are not
    /// summed (see `combine`).
    public static let perVMAFields: Set<String> = ["KernelPageSize", "MMUPageSize", "THPeligible", "ProtectionKey"]

    /// Parses smaps text. An empty text is no VMAs (a kernel thread has none); a field before the
    /// first header, a line that is neither header nor field, or a non-numeric value is an error.
    public static func parse(_ text: String, source: String = "smaps") throws(ObserverError) -> [SmapsVMA] {
        var vmas: [SmapsVMA] = []
        for (number, line) in ProcText.lines(text) {
            if VMAHeader.looksLikeHeader(line) {
                vmas.append(SmapsVMA(header: try VMAHeader.parse(line, source: source, lineNumber: number), fields: [:], vmFlags: []))
                continue
            }
            guard !vmas.isEmpty else {
                throw .malformed(source: source, line: number, reason: "field before the first VMA header")
            }
            guard let field = ProcText.colonField(line) else {
                throw .malformed(source: source, line: number, reason: "neither a VMA header nor a `Name: value` field")
            }
            let (name, value) = (field.name, field.value)
            if name == "VmFlags" {
                vmas[vmas.count - 1].vmFlags = ProcText.fields(value).map(String.init)
                continue
            }
            guard let quantity = ProcText.quantity(value) else {
                throw .malformed(source: source, line: number, reason: "\(name): \"\(value)\" is not `<number>` or `<number> kB`")
            }
            guard vmas[vmas.count - 1].fields.updateValue(quantity, forKey: String(name)) == nil else {
                throw .malformed(source: source, line: number, reason: "\(name) appears twice in one VMA")
            }
        }
        return vmas
    }

    /// smaps_rollup: one pseudo-VMA (`[rollup]`) spanning all mappings, with summed fields.
    public static func parseRollup(_ text: String) throws(ObserverError) -> SmapsVMA {
        let vmas = try parse(text, source: "smaps_rollup")
        guard vmas.count == 1 else {
            throw .malformed(source: "smaps_rollup", line: 0, reason: "expected one [rollup] entry, found \(vmas.count)")
        }
        return vmas[0]
    }

    /// The VMAs that overlap `range`.
    public static func overlapping(_ vmas: [SmapsVMA], _ range: Range<UInt64>) -> [SmapsVMA] {
        vmas.filter { $0.header.range.overlaps(range) }
    }

    /// Observations for the VMAs of one target range, keyed `<prefix>.<Field>`:
    /// - memory fields (kB) are summed over the VMAs;
    /// - per-VMA fields (`perVMAFields`) are the common value, or `.unavailable` when the VMAs differ;
    /// - `VmFlags` is the space-separated union in first-seen order;
    /// - `<prefix>.vmas` counts the VMAs.
    public static func observations(of vmas: [SmapsVMA], prefix: String = "smaps") -> Observations {
        var result = Observations()
        result[ObservableKey(prefix, "vmas")] = .integer(Int64(vmas.count))
        var names: [String] = []
        for vma in vmas { for name in vma.fields.keys where !names.contains(name) { names.append(name) } }
        for name in names {
            let values = vmas.compactMap { $0.fields[name]?.value }
            let key = ObservableKey(prefix, name)
            if perVMAFields.contains(name) {
                let distinct = Set(values)
                result[key] = distinct.count == 1 && values.count == vmas.count
                    ? .integer(values[0])
                    : .unavailable("differs across the \(vmas.count) VMAs: \(values.map(String.init).joined(separator: ", "))")
            } else {
                result[key] = .integer(values.reduce(0, +))
            }
        }
        var flags: [String] = []
        for vma in vmas { for flag in vma.vmFlags where !flags.contains(flag) { flags.append(flag) } }
        result[ObservableKey(prefix, "VmFlags")] = .text(flags.joined(separator: " "))
        return result
    }

    /// `smaps_rollup.<Field>` for each field of the rollup.
    public static func rollupObservations(of rollup: SmapsVMA) -> Observations {
        var result = Observations()
        for (name, quantity) in rollup.fields { result[ObservableKey("smaps_rollup", name)] = .integer(quantity.value) }
        return result
    }

    // MARK: live files (each read walks the page tables: see SnapshotSource.walksPageTables)

    public static func read(pid: Int32) throws(ObserverError) -> [SmapsVMA] {
        try parse(try ObserverError.readText(FilePath("/proc/\(pid)/smaps")))
    }

    public static func readRollup(pid: Int32) throws(ObserverError) -> SmapsVMA {
        try parseRollup(try ObserverError.readText(FilePath("/proc/\(pid)/smaps_rollup")))
    }
}

/// /proc/PID/maps: the VMA list without a page walk (safe next to 1 GiB PUD mappings).
public enum ProcMaps {
    public static func parse(_ text: String) throws(ObserverError) -> [VMAHeader] {
        var result: [VMAHeader] = []
        for (number, line) in ProcText.lines(text) {
            result.append(try VMAHeader.parse(line, source: "maps", lineNumber: number))
        }
        return result
    }

    public static func read(pid: Int32) throws(ObserverError) -> [VMAHeader] {
        try parse(try ObserverError.readText(FilePath("/proc/\(pid)/maps")))
    }
}
