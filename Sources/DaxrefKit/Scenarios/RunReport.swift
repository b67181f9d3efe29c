/// What `daxref run --json` writes: the environment, every scenario with its checks (expected,
/// observed, verdict, rule and citation), the known findings seen, and the hypotheses settled.
public struct RunReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = RunReport.currentSchemaVersion
    public var environment: RunEnvironment
    public var scenarios: [ScenarioResult]
    public var findings: [FindingOccurrence]
    public var hypotheses: [HypothesisOutcome]
    public var summary: RunSummary
    public var durationMilliseconds: Int64
    /// Set when the run did not finish: a signal ended it, or the report was rebuilt from the
    /// stream of a run that was killed (`RunStream`).
    public var stopped: RunStopped?

    public init(environment: RunEnvironment, scenarios: [ScenarioResult], durationMilliseconds: Int64) {
        self.environment = environment
        self.scenarios = scenarios
        self.durationMilliseconds = durationMilliseconds
        findings = FindingOccurrence.collect(scenarios)
        hypotheses = HypothesisOutcome.settle(scenarios)
        summary = RunSummary(scenarios)
    }

    /// kselftest: 1 if anything failed or errored (a run that stopped early counts), 4 if
    /// everything was skipped, else 0.
    public var exitCode: Int32 {
        if summary.fail > 0 || stopped != nil || summary.error > 0 { return 1 }
        if summary.pass == 0 { return 4 }
        return 0
    }
}

/// Where the run happened: enough to reproduce it and to tell two runs apart.
public struct RunEnvironment: Codable, Sendable {
    public var kernel: KernelFingerprint
    public var profile: KernelProfile
    /// `ACPI.NFIT` (NVDIMM or QEMU nvdimm), `e820` (legacy memmap=), a CXL provider, or `none`.
    public var pmemOrigin: String
    public var namespaces: [NamespaceSummary]
    public var backings: [Backing]
    public var blockTarget: BlockTarget?
    public var machine: String
    public var cpus: Int
    /// Inside a daxref VM (the guest's provisioning did the setup), or on hardware.
    public var virtualMachine: Bool

    public struct NamespaceSummary: Codable, Sendable, Equatable {
        public var dev: String
        public var mode: String
        public var map: String?
        public var align: UInt64?
        public var size: UInt64
    }

    public init(kernel: KernelFingerprint, profile: KernelProfile, inventory: Inventory?, backings: [Backing],
                blockTarget: BlockTarget?, cpus: Int, virtualMachine: Bool) {
        self.kernel = kernel
        self.profile = profile
        let providers = inventory.map { Array(Set($0.buses.map(\.provider))).sorted() } ?? []
        pmemOrigin = providers.isEmpty ? (inventory?.daxDevices.isEmpty == false ? "dax (no nvdimm bus)" : "none") : providers.joined(separator: ", ")
        namespaces = inventory?.namespaces.map {
            NamespaceSummary(dev: $0.dev, mode: $0.mode.rawValue, map: $0.map?.rawValue, align: $0.align, size: $0.size)
        } ?? []
        self.backings = backings
        self.blockTarget = blockTarget
        machine = kernel.machine
        self.cpus = cpus
        self.virtualMachine = virtualMachine
    }
}

public struct RunSummary: Codable, Sendable, Equatable {
    public var pass = 0, fail = 0, skip = 0, error = 0
    public var checks: [String: Int] = [:]

    init(_ scenarios: [ScenarioResult]) {
        for scenario in scenarios {
            switch scenario.outcome {
            case .pass: pass += 1
            case .fail: fail += 1
            case .skip: skip += 1
            case .error: error += 1
            }
            for check in scenario.checks { checks[check.verdict.rawValue, default: 0] += 1 }
        }
    }
}

/// A known finding seen in this run, with the scenarios that showed it.
public struct FindingOccurrence: Codable, Sendable {
    public var finding: KnownFinding
    public var scenarios: [String]

    static func collect(_ scenarios: [ScenarioResult]) -> [FindingOccurrence] {
        KnownFinding.catalogue.compactMap { finding in
            let ids = scenarios.filter { $0.checks.contains { $0.finding == finding.id } }.map(\.id)
            return ids.isEmpty ? nil : FindingOccurrence(finding: finding, scenarios: ids)
        }
    }
}

public struct HypothesisOutcome: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// A deciding check came out as the hypothesis says.
        case holds
        /// Deciding checks ran and none came out that way.
        case doesNotHold = "does-not-hold"
        /// No deciding check ran (scenario skipped, era without the rule).
        case notSettled = "not-settled"
    }

    public var id: String
    public var statement: String
    public var status: Status
    /// Scenario and verdict of each deciding check.
    public var evidence: [String]

    static func settle(_ scenarios: [ScenarioResult]) -> [HypothesisOutcome] {
        Hypothesis.catalogue.map { hypothesis in
            var evidence: [String] = []
            var decided: [Verdict] = []
            for scenario in scenarios where Scenario(memory: scenario.memory, workload: scenario.workload).matches(hypothesis.scenarios) {
                for check in scenario.checks where check.rule == hypothesis.rule && [.match, .mismatch].contains(check.verdict) {
                    decided.append(check.verdict)
                    evidence.append("\(scenario.id): \(check.observable) = \(check.observed ?? "?") (\(check.verdict.rawValue))")
                }
            }
            let status: Status = decided.isEmpty ? .notSettled : (decided.contains(hypothesis.holdsWhen) ? .holds : .doesNotHold)
            return HypothesisOutcome(id: hypothesis.id, statement: hypothesis.statement, status: status, evidence: evidence)
        }
    }
}
