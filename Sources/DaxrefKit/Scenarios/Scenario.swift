/// A scenario: a fixture (the memory) × a variant (the workload), with a stable dotted ID
/// `<backing>.<workload>` (`devdax.2m.iouring-register`, `fsdax.xfs.truncate.vmsplice-unmapped`).
/// IDs are never renamed once published; retired ones are listed in `ScenarioCatalogue.retired`.
public struct Scenario: Sendable, Hashable, Codable {
    public var memory: MemoryClass
    public var workload: Workload

    public init(memory: MemoryClass, workload: Workload) {
        self.memory = memory
        self.workload = workload
    }

    public var id: String { memory.rawValue + "." + workload.rawValue }

    /// Shell-glob match (`fnmatch`, `*` crosses dots), several globs comma-separated.
    public func matches(_ globs: String) -> Bool {
        globs.split(separator: ",").contains { Glob.matches(String($0), id) }
    }
}

public enum ScenarioCatalogue {
    /// Every scenario: the mapping fixtures × workloads (in `MemoryClass` and `Workload` order),
    /// then the namespaces the namespace scenarios create.
    public static let all: [Scenario] = MemoryClass.allCases.filter { !MemoryClass.namespaceOnly.contains($0) }.flatMap { memory in
        Workload.allCases.filter { applies($0, to: memory) }.map { Scenario(memory: memory, workload: $0) }
    } + NamespaceVariant.allCases.compactMap { variant in
        MemoryClass(rawValue: variant.backingID).map { Scenario(memory: $0, workload: variant.workload) }
    }

    /// The namespace variant a namespace scenario creates.
    public static func namespaceVariant(of scenario: Scenario) -> NamespaceVariant? {
        NamespaceVariant.allCases.first { $0.stepID == scenario.id }
    }

    /// A workload that needs a file runs only where there is one; namespace reconfiguration has
    /// its own fixtures (`NamespaceSteps`).
    static func applies(_ workload: Workload, to memory: MemoryClass) -> Bool {
        switch workload.requirement {
        case .file: memory.hasFile
        case .spareNamespace: false
        default: true
        }
    }

    /// IDs that existed once and are no longer run (kept so old reports still make sense).
    public static let retired: [String] = []

    public static func select(_ globs: String?) -> [Scenario] {
        guard let globs, !globs.isEmpty else { return all }
        return all.filter { $0.matches(globs) }
    }
}
