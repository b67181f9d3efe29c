/// `daxref run`: each selected scenario on the memory here, isolated in its own helper process
/// with a deadline (the driver's `Drive.runStep`), then judged against the model.
public enum ScenarioRunner {
    /// Runs `scenarios` with `plan` and judges them under `profile`; `progress` sees each scenario's
    /// result as it comes (index from 1, total).
    public static func run(_ scenarios: [Scenario], plan: StepPlan, profile: KernelProfile, environment: RunEnvironment, executable: String,
                           progress: (ScenarioResult, Int, Int) -> Void) -> RunReport {
        let started = ContinuousClock.now
        var results: [ScenarioResult] = []
        var namespaceSteps: [String: StepResult]?
        for (index, scenario) in scenarios.enumerated() {
            let predictions = RefcountModel.predictions(memory: scenario.memory, workload: scenario.workload, profile: profile)
            let result: ScenarioResult
            switch plan.step(for: scenario) {
            case .helper(let request):
                let step = Drive.runStep(request, executable: executable, timeout: plan.stepTimeout)
                result = VerdictEngine.judge(scenario, step: step, predictions: predictions, profile: profile)
            case .namespace:
                if namespaceSteps == nil { namespaceSteps = runNamespaceSteps(scenarios, plan: plan) }
                if let step = namespaceSteps?[scenario.id] {
                    result = VerdictEngine.judge(scenario, step: step, predictions: predictions, profile: profile)
                } else {
                    result = VerdictEngine.notRun(scenario, reason: plan.spareMissing, predictions: predictions)
                }
            case .skip(let reason):
                result = VerdictEngine.notRun(scenario, reason: reason, predictions: predictions)
            }
            results.append(result)
            progress(result, index + 1, scenarios.count)
        }
        return RunReport(environment: environment, scenarios: results, durationMilliseconds: StepLog.milliseconds(ContinuousClock.now - started))
    }

    /// All selected namespace scenarios in one pass over the spare (each reconfigures and restores it).
    static func runNamespaceSteps(_ scenarios: [Scenario], plan: StepPlan) -> [String: StepResult] {
        guard let spare = plan.spareNamespace else { return [:] }
        let selected = scenarios.filter { $0.namespaceTarget != nil }
        do {
            return Dictionary(try NamespaceSteps.run(spare: spare, scenarios: selected).map { ($0.id, $0) }) { first, _ in first }
        } catch {
            return Dictionary(selected.map { ($0.id, StepResult.skipped($0, because: "\(spare) cannot be used: \(error)")) }) { first, _ in first }
        }
    }
}
