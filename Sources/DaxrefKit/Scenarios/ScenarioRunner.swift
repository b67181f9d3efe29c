/// `daxref run`: each selected scenario on the memory here, isolated in its own helper process
/// with a deadline (the driver's `Drive.runStep`), then judged against the model.
public struct RunPlan: Sendable {
    public var scenarios: [Scenario]
    public var backings: [Backing]
    /// Why a memory class has no backing here (shown as the skip reason of its scenarios).
    public var unavailable: [MemoryClass: String]
    public var blockTarget: BlockTarget?
    public var profile: KernelProfile
    public var length: Int
    public var stepTimeout: Double
    public var blockWait: Double
    public var releaseWait: Double
    /// The namespace the namespace scenarios may reconfigure (and restore); nil: they are skipped
    /// with `spareMissing`.
    public var spareNamespace: String?
    public var spareMissing: String

    public init(scenarios: [Scenario], backings: [Backing], unavailable: [MemoryClass: String] = [:], blockTarget: BlockTarget?,
                profile: KernelProfile, length: Int = StepRequest.defaultLength, stepTimeout: Double = 120,
                blockWait: Double = 1, releaseWait: Double = 5, spareNamespace: String? = nil,
                spareMissing: String = "needs a namespace daxref may reconfigure: --allow-reconfigure namespaceX.Y") {
        self.spareNamespace = spareNamespace
        self.spareMissing = spareMissing
        self.scenarios = scenarios
        self.backings = backings
        self.unavailable = unavailable
        self.blockTarget = blockTarget
        self.profile = profile
        self.length = length
        self.stepTimeout = stepTimeout
        self.blockWait = blockWait
        self.releaseWait = releaseWait
    }
}

public enum ScenarioRunner {
    /// Runs `plan`; `progress` sees each scenario's result as it comes (index from 1, total).
    public static func run(_ plan: RunPlan, environment: RunEnvironment, executable: String,
                           progress: (ScenarioResult, Int, Int) -> Void) -> RunReport {
        let started = ContinuousClock.now
        var results: [ScenarioResult] = []
        var namespaceSteps: [String: StepResult]?
        for (index, scenario) in plan.scenarios.enumerated() {
            let predictions = RefcountModel.predictions(memory: scenario.memory, workload: scenario.workload, profile: plan.profile)
            let result: ScenarioResult
            if ScenarioCatalogue.namespaceVariant(of: scenario) != nil {
                if namespaceSteps == nil { namespaceSteps = runNamespaceSteps(plan) }
                if let step = namespaceSteps?[scenario.id] {
                    result = VerdictEngine.judge(scenario, step: step, predictions: predictions, profile: plan.profile)
                } else {
                    result = VerdictEngine.notRun(scenario, reason: plan.spareMissing, predictions: predictions)
                }
            } else if let backing = plan.backings.first(where: { $0.id == scenario.memory.rawValue }) {
                if let reason = scenario.workload.skipReason(on: backing, blockTarget: plan.blockTarget) {
                    result = VerdictEngine.notRun(scenario, reason: reason, predictions: predictions)
                } else {
                    let request = StepRequest(backing: backing, workload: scenario.workload, length: plan.length,
                                              blockTarget: plan.blockTarget, blockWait: plan.blockWait, releaseWait: plan.releaseWait)
                    let step = Drive.runStep(request, executable: executable, timeout: plan.stepTimeout)
                    result = VerdictEngine.judge(scenario, step: step, predictions: predictions, profile: plan.profile)
                }
            } else {
                let reason = plan.unavailable[scenario.memory] ?? "no \(scenario.memory.rawValue) memory here"
                result = VerdictEngine.notRun(scenario, reason: reason, predictions: predictions)
            }
            results.append(result)
            progress(result, index + 1, plan.scenarios.count)
        }
        let elapsed = ContinuousClock.now - started
        return RunReport(environment: environment, scenarios: results,
                         durationMilliseconds: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    /// All selected namespace variants in one pass over the spare (each reconfigures and restores it).
    static func runNamespaceSteps(_ plan: RunPlan) -> [String: StepResult] {
        guard let spare = plan.spareNamespace else { return [:] }
        let variants = plan.scenarios.compactMap(ScenarioCatalogue.namespaceVariant)
        do {
            return Dictionary(try NamespaceSteps.run(spare: spare, variants: variants).map { ($0.id, $0) }) { first, _ in first }
        } catch {
            return Dictionary(variants.map { variant in
                (variant.stepID, StepResult(id: variant.stepID, backing: variant.backingID, workload: variant.workload, status: .skipped,
                                            reason: "\(spare) cannot be used: \(error)"))
            }) { first, _ in first }
        }
    }
}
