/// What the model expects of one scenario on one kernel: the rules that apply, and the ones it
/// cannot decide (a change it cannot detect).
public struct Prediction: Sendable {
    public var rule: Rule
    /// Why the model cannot apply the rule here (nil: it applies).
    public var undetermined: String?
}

public enum RefcountModel {
    /// The rules for `memory` × `workload` under `profile`, in catalogue order.
    public static func predictions(memory: MemoryFixture, workload: Workload, profile: KernelProfile,
                                   rules: [Rule] = Rule.catalogue) -> [Prediction] {
        rules.compactMap { rule in
            guard rule.memory.contains(memory), rule.workloads.contains(workload), rule.eras.contains(profile.era) else { return nil }
            var unknown: [String] = []
            for (change, required) in rule.requires.sorted(by: { $0.key < $1.key }) {
                switch profile.changes[change] {
                case .some(let present) where present != required: return nil
                case .some: continue
                case .none: unknown.append(change)
                }
            }
            if unknown.isEmpty { return Prediction(rule: rule) }
            let titles = unknown.map { id in KernelChange.named(id).map { "\($0.title) [\(id)]" } ?? id }
            return Prediction(rule: rule, undetermined: "cannot tell whether this kernel has: " + titles.joined(separator: "; "))
        }
    }
}
