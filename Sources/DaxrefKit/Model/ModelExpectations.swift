/// The model's expectations for a set of scenarios under one kernel profile, without running
/// anything (`daxref model`).
public struct ModelExpectations: Codable, Sendable {
    public struct Expected: Codable, Sendable {
        public var rule: String
        public var statement: String
        public var observable: String
        public var expected: String
        public var granularity: String?
        public var citation: Citation
        /// Why the model cannot apply the rule to this kernel.
        public var undetermined: String?
    }

    public struct ScenarioExpectations: Codable, Sendable {
        public var id: String
        public var expectations: [Expected]
    }

    public var schemaVersion = 1
    public var profile: KernelProfile
    public var scenarios: [ScenarioExpectations]

    public init(profile: KernelProfile, scenarios: [Scenario]) {
        self.profile = profile
        self.scenarios = scenarios.map { scenario in
            let predictions = RefcountModel.predictions(memory: scenario.memory, workload: scenario.workload, profile: profile)
            return ScenarioExpectations(id: scenario.id, expectations: predictions.map { prediction in
                Expected(rule: prediction.rule.id, statement: prediction.rule.statement, observable: prediction.rule.site.description,
                         expected: prediction.rule.expected.description, granularity: prediction.rule.granularity?.rawValue,
                         citation: prediction.rule.citation, undetermined: prediction.undetermined)
            })
        }
    }

    /// One block per scenario: `rule  observable  expected  citation`.
    public func renderText() -> String {
        var text = "era \(profile.era.rawValue) (\(profile.release); \(profile.eraSource))\n"
        for note in profile.notes { text += "note: \(note)\n" }
        for scenario in scenarios {
            text += "\n\(scenario.id)\n"
            if scenario.expectations.isEmpty { text += "  (no expectations in this era)\n"; continue }
            var table = TextTable("rule", "observable", "expected", "source")
            for expected in scenario.expectations {
                let condition = expected.granularity.map { " [\($0) mappings only]" } ?? ""
                let value = expected.undetermined.map { "undetermined: \($0)" } ?? expected.expected + condition
                table.add(expected.rule, expected.observable, value, expected.citation.description)
            }
            text += table.render() + "\n"
        }
        return text
    }
}
