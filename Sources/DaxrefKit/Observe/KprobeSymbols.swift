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
        var definitions: [String: [Definition]] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard columns.count >= 3, columns[1].count == 1 else { continue }
            let name = String(columns[2])
            guard wanted.contains(baseName(name)) else { continue }
            var module: String?
            if columns.count >= 4, columns[3].hasPrefix("["), columns[3].hasSuffix("]") {
                module = String(columns[3].dropFirst().dropLast())
            }
            definitions[name, default: []].append(Definition(type: columns[1].first!, module: module))
        }
        return KernelSymbols(definitions: definitions, source: "/proc/kallsyms")
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
            return parseKallsyms(try SystemFile.readString("/proc/kallsyms"), wanted: wanted)
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
