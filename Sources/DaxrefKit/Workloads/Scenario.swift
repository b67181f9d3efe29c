/// A scenario: a fixture (the memory) × a variant (the workload), with a stable dotted ID
/// `<memory>.<workload>` (`devdax.2m.iouring-register`, `fsdax.xfs.truncate.vmsplice-unmapped`).
/// IDs are never renamed once published; retired ones are listed in `ScenarioCatalogue.retired`.
public struct Scenario: Sendable, Hashable, Codable {
    public var memory: MemoryFixture
    public var workload: Workload

    public init(memory: MemoryFixture, workload: Workload) {
        self.memory = memory
        self.workload = workload
    }

    public var id: String { memory.rawValue + "." + workload.rawValue }

    /// Shell-glob match (`fnmatch`, `*` crosses dots), several globs comma-separated.
    public func matches(_ globs: String) -> Bool {
        globs.split(separator: ",").contains { Glob.matches(String($0), id) }
    }

    /// The namespace a namespace scenario reconfigures the spare into; nil for the others.
    public var namespaceTarget: NamespaceTarget? {
        guard case .namespace(let map) = workload.variant.procedure else { return nil }
        return memory.namespaceTarget(map: map)
    }
}

/// Every scenario there is: each variant on each fixture it applies to (`Variant.fixtures`).
public enum ScenarioCatalogue {
    /// Fixture-major in `MemoryFixture.allCases` order, variants in `Workload` order; the namespace
    /// scenarios last, as they run: in one pass over the spare namespace after everything else.
    public static let all: [Scenario] = [false, true].flatMap { namespaces in
        MemoryFixture.allCases.flatMap { memory in
            Workload.allCases.filter { $0.variant.reconfiguresNamespace == namespaces && $0.variant.fixtures.contains(memory) }
                .map { Scenario(memory: memory, workload: $0) }
        }
    }

    /// IDs that existed once and are no longer run (kept so old reports still make sense).
    public static let retired: [String] = []

    public static func select(_ globs: String?) -> [Scenario] {
        guard let globs, !globs.isEmpty else { return all }
        return all.filter { $0.matches(globs) }
    }
}
