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
    static func looksLikeHeader(_ line: ProcBytes) -> Bool {
        var index = 0
        while index < line.count, ProcBytes.isHexDigit(line[index]) { index += 1 }
        return index > 0 && index < line.count && line[index] == UInt8(ascii: "-")
    }

    static func parse(_ line: String, source: String, lineNumber: Int) throws(ObserverError) -> VMAHeader {
        try ProcBytes.with(line) { (bytes) throws(ObserverError) in try parse(bytes, source: source, lineNumber: lineNumber) }
    }

    static func parse(_ line: ProcBytes, source: String, lineNumber: Int) throws(ObserverError) -> VMAHeader {
        func bad(_ reason: String) -> ObserverError { .malformed(source: source, line: lineNumber, reason: reason) }
        var index = 0
        guard let addresses = line.field(after: &index), let permissions = line.field(after: &index),
            let offsetField = line.field(after: &index), let deviceField = line.field(after: &index),
            let inodeField = line.field(after: &index)
        else { throw bad("a VMA line needs at least 5 fields, has \(line.fields.count)") }
        guard let (start, end) = addresses.pair(separator: UInt8(ascii: "-")), start <= end
        else { throw bad("address range \"\(addresses.string)\" is not <hex>-<hex>") }
        guard permissions.count == 4 else { throw bad("permissions \"\(permissions.string)\" are not 4 characters") }
        guard let offset = offsetField.hex else { throw bad("offset \"\(offsetField.string)\" is not hex") }
        guard let (major, minor) = deviceField.pair(separator: UInt8(ascii: ":")).flatMap({ pair in
            UInt32(exactly: pair.0).flatMap { major in UInt32(exactly: pair.1).map { (major, $0) } }
        })
        else { throw bad("device \"\(deviceField.string)\" is not <hex>:<hex>") }
        guard let inode = inodeField.decimal else { throw bad("inode \"\(inodeField.string)\" is not a number") }
        // The path is everything after the inode's column, and may itself contain spaces.
        let rest = line.suffix(from: index).trimmed
        return VMAHeader(
            start: start, end: end, permissions: permissions.string, offset: offset, deviceMajor: major,
            deviceMinor: minor, inode: inode, path: rest.isEmpty ? nil : rest.string)
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
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes, source: source) }
    }

    /// Parses smaps, keeping only the VMAs that overlap `range` (all when nil). Headers are always
    /// checked; the field lines of a VMA that is left out are skipped unread: they are most of the file,
    /// and the kernel prints every VMA in the same format, which the kept ones are checked against.
    static func parse(_ text: ProcBytes, source: String, overlapping range: Range<UInt64>? = nil) throws(ObserverError) -> [SmapsVMA] {
        var vmas: [SmapsVMA] = []
        var current: SmapsVMA?
        var sawHeader = false
        try text.forEachLine { (number, line) throws(ObserverError) in
            if VMAHeader.looksLikeHeader(line) {
                if let done = current { vmas.append(done) }
                let header = try VMAHeader.parse(line, source: source, lineNumber: number)
                sawHeader = true
                let keep = range.map { header.range.overlaps($0) } ?? true
                current = keep ? SmapsVMA(header: header, fields: [:], vmFlags: []) : nil
                return
            }
            guard sawHeader else {
                throw .malformed(source: source, line: number, reason: "field before the first VMA header")
            }
            guard current != nil else { return }
            guard let field = line.colonField else {
                throw .malformed(source: source, line: number, reason: "neither a VMA header nor a `Name: value` field")
            }
            let (name, value) = (field.name, field.value)
            if name == "VmFlags" {
                current!.vmFlags = value.fields.map(\.string)
                return
            }
            guard let quantity = value.quantity else {
                throw .malformed(source: source, line: number, reason: "\(name.string): \"\(value.string)\" is not `<number>` or `<number> kB`")
            }
            guard current!.fields.updateValue(quantity, forKey: name.string) == nil else {
                throw .malformed(source: source, line: number, reason: "\(name.string) appears twice in one VMA")
            }
        }
        if let done = current { vmas.append(done) }
        return vmas
    }

    /// smaps_rollup: one pseudo-VMA (`[rollup]`) spanning all mappings, with summed fields.
    public static func parseRollup(_ text: String) throws(ObserverError) -> SmapsVMA {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parseRollup(bytes) }
    }

    static func parseRollup(_ text: ProcBytes) throws(ObserverError) -> SmapsVMA {
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
                result[key] = .sum(values)
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

    /// The VMAs of process `pid`, or only those overlapping `range`.
    public static func read(pid: Int32, overlapping range: Range<UInt64>? = nil) throws(ObserverError) -> [SmapsVMA] {
        try ProcBytes.with(try ObserverError.readBytes("/proc/\(pid)/smaps")) { (bytes) throws(ObserverError) in
            try parse(bytes, source: "smaps", overlapping: range)
        }
    }

    public static func readRollup(pid: Int32) throws(ObserverError) -> SmapsVMA {
        try ProcBytes.with(try ObserverError.readBytes("/proc/\(pid)/smaps_rollup")) { (bytes) throws(ObserverError) in
            try parseRollup(bytes)
        }
    }
}

/// /proc/PID/maps: the VMA list without a page walk (safe next to 1 GiB PUD mappings).
public enum ProcMaps {
    public static func parse(_ text: String) throws(ObserverError) -> [VMAHeader] {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try parse(bytes) }
    }

    static func parse(_ text: ProcBytes) throws(ObserverError) -> [VMAHeader] {
        var result: [VMAHeader] = []
        try text.forEachLine { (number, line) throws(ObserverError) in
            result.append(try VMAHeader.parse(line, source: "maps", lineNumber: number))
        }
        return result
    }

    public static func read(pid: Int32) throws(ObserverError) -> [VMAHeader] {
        try ProcBytes.with(try ObserverError.readBytes("/proc/\(pid)/maps")) { (bytes) throws(ObserverError) in try parse(bytes) }
    }
}
