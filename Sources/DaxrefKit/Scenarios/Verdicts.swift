/// The verdict on one check: the kernel showed what the rule expects (match), something else
/// (mismatch: a regression, a known bug, or a model error — never hidden), nothing to compare
/// (skip, with the reason), or the harness failed to observe (error).
public enum Verdict: String, Codable, Sendable, CaseIterable {
    case match, mismatch, skip, error
}

/// One rule checked against one step.
public struct Check: Codable, Sendable, Equatable {
    public var rule: String
    public var statement: String
    /// Where the observable was read (`smaps.Rss@touched`, `vmstat.nr_foll_pin_acquired.delta (before→pinned)`).
    public var observable: String
    /// The expectation with the step's numbers filled in.
    public var expected: String
    public var observed: String?
    public var verdict: Verdict
    public var reason: String?
    public var citation: Citation
    /// A known kernel bug this mismatch is (still a failure).
    public var finding: String?
}

/// A scenario's outcome: fail if any check mismatched, error if the harness failed, pass if
/// something matched and nothing else went wrong, skip otherwise.
public enum Outcome: String, Codable, Sendable, CaseIterable {
    case pass, fail, skip, error

    /// kselftest exit codes: 0 pass, 1 fail, 4 skip.
    public var exitCode: Int32 {
        switch self {
        case .pass: 0
        case .fail, .error: 1
        case .skip: 4
        }
    }
}

public struct ScenarioResult: Codable, Sendable {
    public var id: String
    public var memory: MemoryFixture
    public var workload: Workload
    public var outcome: Outcome
    /// Why it was skipped or failed to run.
    public var reason: String?
    public var durationMilliseconds: Int64?
    public var checks: [Check]
    /// The step's own observations and, per checkpoint, the keys the rules read: enough to see
    /// why each verdict is what it is and to diff two kernels.
    public var evidence: ScenarioEvidence
}

public struct ScenarioEvidence: Codable, Sendable, Equatable {
    public var status: StepStatus
    public var observations: Observations
    public var checkpoints: [String: Observations]
    public var samples: [TaskSample]
}

public enum VerdictEngine {
    /// Judges one step against the model's predictions for it.
    public static func judge(_ scenario: Scenario, step: StepResult, predictions: [Prediction], profile: KernelProfile) -> ScenarioResult {
        let era = profile.era
        let context = StepContext(step: step, memory: scenario.memory)
        var checks: [Check] = []
        for prediction in predictions {
            checks.append(check(prediction, step: step, context: context, profile: profile))
        }
        var result = ScenarioResult(
            id: scenario.id, memory: scenario.memory, workload: scenario.workload, outcome: outcome(of: checks),
            reason: step.reason, durationMilliseconds: step.observations[.stepDuration].flatMap(\.integerValue),
            checks: checks, evidence: evidence(of: step, predictions: predictions))
        switch step.status {
        case .skipped: result.outcome = .skip
        case .error, .crashed: result.outcome = checks.contains { $0.verdict == .mismatch } ? .fail : .error
        case .completed, .timedOut: break
        }
        if checks.isEmpty && step.status == .completed {
            result.outcome = .skip
            result.reason = "the model predicts nothing for this scenario in era \(era.rawValue)"
        }
        return result
    }

    /// A scenario that could not run at all (its memory is not here).
    public static func notRun(_ scenario: Scenario, reason: String, predictions: [Prediction]) -> ScenarioResult {
        let checks = predictions.map { prediction in
            Check(rule: prediction.rule.id, statement: prediction.rule.statement, observable: prediction.rule.site.description,
                  expected: prediction.rule.expected.description, observed: nil, verdict: .skip, reason: reason,
                  citation: prediction.rule.citation)
        }
        return ScenarioResult(id: scenario.id, memory: scenario.memory, workload: scenario.workload, outcome: .skip, reason: reason,
                              checks: checks, evidence: ScenarioEvidence(status: .skipped, observations: Observations(), checkpoints: [:], samples: []))
    }

    static func outcome(of checks: [Check]) -> Outcome {
        if checks.contains(where: { $0.verdict == .mismatch }) { return .fail }
        if checks.contains(where: { $0.verdict == .error }) { return .error }
        if checks.contains(where: { $0.verdict == .match }) { return .pass }
        return .skip
    }

    static func check(_ prediction: Prediction, step: StepResult, context: StepContext, profile: KernelProfile) -> Check {
        let rule = prediction.rule
        var check = Check(rule: rule.id, statement: rule.statement, observable: rule.site.description,
                          expected: rule.expected.resolved(context), observed: nil, verdict: .skip, reason: nil, citation: rule.citation)
        if let undetermined = prediction.undetermined {
            check.reason = undetermined
            return check
        }
        switch step.status {
        case .skipped:
            check.reason = step.reason ?? "step skipped"
            return check
        case .error, .crashed:
            check.verdict = .error
            check.reason = "the step did not run to its end: " + (step.reason ?? step.status.rawValue)
            return check
        case .completed, .timedOut: break
        }
        if let granularity = rule.granularity {
            guard let size = context.mappingSize else {
                check.reason = "the mapping size is not known (the step recorded no fault.size)"
                return check
            }
            guard Granularity(mappingSize: Int(size)) == granularity else {
                check.reason = "applies to \(granularity.rawValue) mappings; this one maps \(size) bytes"
                return check
            }
        }
        let observed = locate(rule.site, in: step)
        switch observed {
        case .missing(let why):
            if case .absent = rule.expected {
                check.verdict = .match
                check.observed = "absent"
            } else if step.status == .timedOut {
                check.verdict = .error
                check.reason = "the step timed out before recording this (\(why))"
            } else {
                check.reason = "not observed: \(why)"
            }
        case .unavailable(let why):
            check.observed = "unavailable (\(why))"
            if case .absent = rule.expected { check.verdict = .match } else { check.reason = "not observable here: \(why)" }
        case .value(let value):
            check.observed = value.description
            switch evaluate(rule.expected, value, context) {
            case .some(true): check.verdict = .match
            case .some(false):
                check.verdict = .mismatch
                check.finding = KnownFinding.matching(rule: rule.id, profile: profile)?.id
            case .none:
                check.verdict = .error
                check.reason = "cannot compare \(value) with \(rule.expected.resolved(context))"
            }
        }
        return check
    }

    enum Located {
        case value(ObservedValue)
        case unavailable(String)
        case missing(String)
    }

    static func locate(_ site: Site, in step: StepResult) -> Located {
        func checkpoint(_ name: CheckpointName) -> Checkpoint? { step.checkpoints.first { $0.name == name } }
        func lookup(_ observations: Observations, _ key: Observable, _ place: String) -> Located {
            switch observations[key] {
            case .unavailable(let why)?: .unavailable(why)
            case .some(let value): .value(value)
            case .none: .missing("\(key.rawValue) not recorded \(place)")
            }
        }
        switch site {
        case .step(let key):
            return lookup(step.observations, key, "by the step")
        case .checkpoint(let name, let key):
            guard let snapshot = checkpoint(name) else { return .missing("no checkpoint `\(name)`") }
            return lookup(snapshot.observations, key, "at `\(name)`")
        case .change(let key, let from, let to):
            guard let first = checkpoint(from) else { return .missing("no checkpoint `\(from)`") }
            guard let second = checkpoint(to) else { return .missing("no checkpoint `\(to)`") }
            switch (lookup(first.observations, key, "at `\(from)`"), lookup(second.observations, key, "at `\(to)`")) {
            case (.value(.integer(let before)), .value(.integer(let after))): return .value(.integer(after - before))
            case (.unavailable(let why), _), (_, .unavailable(let why)): return .unavailable(why)
            case (.missing(let why), _), (_, .missing(let why)): return .missing(why)
            default: return .missing("\(key.rawValue) is not a number")
            }
        case .everyCheckpoint(let key):
            var items: [ObservedValue] = []
            var seen = false
            for snapshot in step.checkpoints {
                switch snapshot.observations[key] {
                case .list(let values)?: items += values; seen = true
                case .some(.unavailable): continue
                case .some(let value): items.append(value); seen = true
                case .none: continue
                }
            }
            return seen ? .value(.list(items)) : .missing("\(key) not recorded at any checkpoint")
        }
    }

    /// nil when the value's type does not fit the expectation.
    static func evaluate(_ expectation: ExpectedValue, _ value: ObservedValue, _ context: StepContext) -> Bool? {
        switch (expectation, value) {
        case (.equals(let amount), .integer(let observed)):
            return amount.evaluate(context).map { $0 == observed }
        case (.approximately(let amount, let tolerance), .integer(let observed)):
            guard let expected = amount.evaluate(context), let slack = tolerance.evaluate(context) else { return nil }
            return abs(observed - expected) <= slack
        case (.atLeast(let amount), .integer(let observed)):
            return amount.evaluate(context).map { observed >= $0 }
        case (.flag(let expected), .flag(let observed)):
            return expected == observed
        case (.text(let expected), .text(let observed)):
            return expected == observed
        case (.oneOf(let texts), .text(let observed)):
            return texts.contains(observed)
        case (.contains(let needle), _):
            return value.texts.map { $0.contains { $0.contains(needle) } }
        case (.excludes(let needle), _):
            return value.texts.map { !$0.contains { $0.contains(needle) } }
        case (.absent, _):
            return false
        default:
            return nil
        }
    }

    /// The step's observations, and per checkpoint the keys some prediction reads.
    static func evidence(of step: StepResult, predictions: [Prediction]) -> ScenarioEvidence {
        let keys = Set(predictions.map(\.rule.site.key))
        var checkpoints: [String: Observations] = [:]
        for checkpoint in step.checkpoints {
            var kept = Observations()
            for key in keys { if let value = checkpoint.observations[key] { kept[key] = value } }
            if let wchan = checkpoint.observations[.taskWchan] { kept[.taskWchan] = wchan }
            checkpoints[checkpoint.name.rawValue] = kept
        }
        return ScenarioEvidence(status: step.status, observations: step.observations, checkpoints: checkpoints, samples: step.samples)
    }
}

extension ObservedValue {
    var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The value as texts: a text, or a list of texts (nil for other kinds).
    var texts: [String]? {
        switch self {
        case .text(let text): [text]
        case .list(let items): items.compactMap { if case .text(let text) = $0 { text } else { nil } }
        default: nil
        }
    }
}
