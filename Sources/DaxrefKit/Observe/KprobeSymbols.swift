import SystemPackage

/// The kernel's function symbols that matter for probing, read from /proc/kallsyms (or, if that
/// is unreadable, tracefs `available_filter_functions`).
public struct KernelSymbols: Sendable, Equatable {
    public struct Definition: Sendable, Equatable {
        /// The kallsyms type letter: t/T text, d/D data, r/R read-only data, b/B bss.
        public var type: Character
        /// The module it belongs to, nil for vmlinux.
        public var module: String?
    }

    /// Definitions per name, only for the names asked for and their compiler clones
    /// (`name.constprop.0`, `name.isra.0`, `name.part.0`, `name.cold`).
    public var definitions: [String: [Definition]]
    /// Where they were read from.
    public var source: String

    public init(definitions: [String: [Definition]], source: String) {
        self.definitions = definitions
        self.source = source
    }

    /// Parses kallsyms text: "ffffffff81234560 T name\t[module]" per line; keeps only `wanted`
    /// names and their clones. Unparsable lines are skipped (kallsyms has no other line kinds).
    public static func parseKallsyms(_ text: String, wanted: Set<String>) -> KernelSymbols {
        parseKallsyms(Array(text.utf8), wanted: wanted)
    }

    /// The same over the raw bytes, in one pass without per-line allocation: /proc/kallsyms has
    /// 100-200k lines, which a line-splitting parse took 90 s to get through in a TCG guest. Only
    /// lines whose base name hashes like a wanted one are decoded.
    public static func parseKallsyms(_ bytes: [UInt8], wanted: Set<String>) -> KernelSymbols {
        let wantedHashes = Set(wanted.map { hash(Array($0.utf8)[...]) })
        var definitions: [String: [Definition]] = [:]
        bytes.withUnsafeBufferPointer { buffer in
            let count = buffer.count
            var index = 0
            while index < count {
                let lineStart = index
                var lineEnd = index
                while lineEnd < count && buffer[lineEnd] != 0x0A { lineEnd += 1 }
                index = lineEnd + 1
                // "ADDRESS T NAME[\t[MODULE]]": the name starts after the second space.
                var cursor = lineStart
                while cursor < lineEnd && buffer[cursor] != 0x20 { cursor += 1 }
                let typeAt = cursor + 1
                guard typeAt + 2 < lineEnd, buffer[typeAt + 1] == 0x20 else { continue }
                let nameStart = typeAt + 2
                var nameEnd = nameStart
                var baseEnd = -1
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                while nameEnd < lineEnd && buffer[nameEnd] != 0x09 && buffer[nameEnd] != 0x20 {
                    if baseEnd < 0 {
                        if buffer[nameEnd] == 0x2E { baseEnd = nameEnd } else { hash = (hash ^ UInt64(buffer[nameEnd])) &* 0x100_0000_01b3 }
                    }
                    nameEnd += 1
                }
                guard wantedHashes.contains(hash), nameEnd > nameStart else { continue }
                let name = String(decoding: UnsafeBufferPointer(rebasing: buffer[nameStart..<nameEnd]), as: UTF8.self)
                guard wanted.contains(baseName(name)) else { continue }
                var module: String?
                var moduleStart = nameEnd
                while moduleStart < lineEnd && (buffer[moduleStart] == 0x09 || buffer[moduleStart] == 0x20) { moduleStart += 1 }
                if moduleStart < lineEnd, buffer[moduleStart] == 0x5B, buffer[lineEnd - 1] == 0x5D {
                    module = String(decoding: UnsafeBufferPointer(rebasing: buffer[(moduleStart + 1)..<(lineEnd - 1)]), as: UTF8.self)
                }
                let type = Character(Unicode.Scalar(buffer[typeAt]))
                definitions[name, default: []].append(Definition(type: type, module: module))
            }
        }
        return KernelSymbols(definitions: definitions, source: "/proc/kallsyms")
    }

    /// FNV-1a of a name's bytes (the kallsyms prefilter).
    private static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// Parses `available_filter_functions`: "name" or "name [module]" per line (traceable text only).
    public static func parseFilterFunctions(_ text: String, wanted: Set<String>) -> KernelSymbols {
        var definitions: [String: [Definition]] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(separator: " ")
            guard let first = columns.first else { continue }
            let name = String(first)
            guard wanted.contains(baseName(name)) else { continue }
            let module = columns.count >= 2 && columns[1].hasPrefix("[") ? String(columns[1].dropFirst().dropLast()) : nil
            definitions[name, default: []].append(Definition(type: "t", module: module))
        }
        return KernelSymbols(definitions: definitions, source: "available_filter_functions")
    }

    /// "insert_pfn.constprop.0" → "insert_pfn".
    static func baseName(_ name: String) -> String {
        String(name.prefix { $0 != "." })
    }

    /// Reads the running kernel's symbols for `wanted`.
    public static func read(wanted: Set<String>, tracefs: any TracefsAccess) throws(Errno) -> KernelSymbols {
        do {
            return parseKallsyms(try SystemFile.readBytes("/proc/kallsyms"), wanted: wanted)
        } catch {
            return parseFilterFunctions(try tracefs.read("available_filter_functions"), wanted: wanted)
        }
    }

    public func textDefinitions(of name: String) -> [Definition] {
        (definitions[name] ?? []).filter { $0.type == "t" || $0.type == "T" }
    }

    public func hasData(_ name: String) -> Bool {
        (definitions[name] ?? []).contains { "dDbBrR".contains($0.type) }
    }

    /// Clones of `name` the compiler made (their arguments may differ, so they are not probed).
    public func clones(of name: String) -> [String] {
        definitions.keys.filter { $0 != name && Self.baseName($0) == name }.sorted()
    }
}

/// Which catalogue targets this kernel gets, and why the others do not.
public struct KprobePlan: Sendable, Equatable {
    public struct Selected: Sendable, Equatable {
        public var target: KprobeTarget
        public var module: String?
    }

    public struct Skipped: Sendable, Equatable, Codable {
        public var symbol: String
        public var kind: KprobeTarget.Kind
        public var reason: String
    }

    public var selected: [Selected]
    public var skipped: [Skipped]

    /// One probe per catalogue entry whose symbol is a single text symbol here. A name defined
    /// more than once cannot be probed by name (tracefs refuses ambiguous symbols), and a name
    /// present only as a compiler clone has an unknown argument layout.
    public static func choose(from catalogue: [KprobeTarget], symbols: KernelSymbols) -> KprobePlan {
        var plan = KprobePlan(selected: [], skipped: [])
        for target in catalogue {
            let definitions = symbols.textDefinitions(of: target.symbol)
            switch definitions.count {
            case 1:
                plan.selected.append(Selected(target: target, module: definitions[0].module))
            case 0:
                let clones = symbols.clones(of: target.symbol)
                let reason = clones.isEmpty
                    ? "not in \(symbols.source) (absent in this era, or inlined)"
                    : "only compiler clones \(clones.joined(separator: ", ")) (argument layout unknown)"
                plan.skipped.append(Skipped(symbol: target.symbol, kind: target.kind, reason: reason))
            default:
                plan.skipped.append(Skipped(
                    symbol: target.symbol, kind: target.kind,
                    reason: "\(definitions.count) definitions in \(symbols.source) (ambiguous)"))
            }
        }
        return plan
    }
}
