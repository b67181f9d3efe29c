/// Width the human reports keep to (long cells are cut or wrapped to fit).
let reportWidth = 120

extension RunReport {
    /// What `daxref run` prints for a person: the environment, one row per scenario, then every
    /// mismatch in full, the known findings, the hypotheses, and the totals.
    public func renderTable(colour: Bool) -> String {
        var out: [String] = []
        let labelWidth = headerFields.map(\.label.count).max() ?? 0
        for field in headerFields {
            out += wrapped(field.value, width: reportWidth, first: field.label.padding(to: labelWidth) + "  ",
                           rest: String(repeating: " ", count: labelWidth + 2))
        }
        out.append("")
        out.append(scenarioTable(colour: colour))
        out.append("")
        if !skipSection.isEmpty { out += skipSection + [""] }
        out += mismatchSection
        out.append("")
        out += findingSection
        out.append("")
        out += hypothesisSection
        out.append("")
        out.append(totalsLine)
        return out.joined(separator: "\n") + "\n"
    }

    private func scenarioTable(colour: Bool) -> String {
        var table = TextTable("SCENARIO", "OUTCOME", "CHECKS", "NOTE")
        let idWidth = max(8, scenarios.map(\.id.count).max() ?? 0)
        let checksWidth = max(6, scenarios.map { "\($0.matchedChecks)/\($0.checks.count)".count }.max() ?? 0)
        // indent, three padded columns and their separators come before the note.
        let noteWidth = max(24, reportWidth - (2 + idWidth + 2 + 7 + 2 + checksWidth + 2))
        for scenario in scenarios {
            table.add(scenario.id, scenario.outcome.label, "\(scenario.matchedChecks)/\(scenario.checks.count)",
                      scenario.note.oneLine.truncated(to: noteWidth))
        }
        var lines = table.render().split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.reversed().drop { $0 == " " }.reversed())
        }
        if colour {
            // After rendering, so that escape sequences do not count towards the column widths.
            for (index, scenario) in scenarios.enumerated() {
                lines[index + 1] = Self.colourSecondColumn(lines[index + 1], scenario.outcome.ansiColour)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The outcome is the second space-separated token of a row (scenario IDs have no spaces).
    private static func colourSecondColumn(_ line: String, _ colour: String) -> String {
        let afterIndent = line.firstIndex { $0 != " " } ?? line.endIndex
        let afterID = line[afterIndent...].firstIndex(of: " ") ?? line.endIndex
        guard let start = line[afterID...].firstIndex(where: { $0 != " " }) else { return line }
        let end = line[start...].firstIndex(of: " ") ?? line.endIndex
        return String(line[..<start]) + "\u{1B}[\(colour)m" + line[start..<end] + "\u{1B}[0m" + line[end...]
    }

    /// Each distinct skip reason once, in full (the table cuts notes to fit; the reason is what to act on).
    private var skipSection: [String] {
        var reasons: [(reason: String, ids: [String])] = []
        for scenario in scenarios where scenario.outcome == .skip {
            let reason = scenario.skipReason ?? "no reason recorded"
            if let index = reasons.firstIndex(where: { $0.reason == reason }) { reasons[index].ids.append(scenario.id) } else { reasons.append((reason, [scenario.id])) }
        }
        guard !reasons.isEmpty else { return [] }
        var out = ["Skipped"]
        for (reason, ids) in reasons {
            let which = ids.count <= 3 ? ids.joined(separator: ", ") : "\(ids.count) scenarios"
            out += wrapped("\(reason) (\(which))", width: reportWidth, first: "  ", rest: "    ")
        }
        return out
    }

    private var mismatchSection: [String] {
        let mismatches = scenarios.flatMap { scenario in scenario.checks.filter { $0.verdict == .mismatch }.map { (scenario.id, $0) } }
        guard !mismatches.isEmpty else { return ["Mismatches: none"] }
        var out = ["Mismatches (\(mismatches.count))"]
        for (id, check) in mismatches {
            out.append("  \(id)  \(check.rule)")
            var fields = [("statement", check.statement), ("observable", check.observable), ("expected", check.expected),
                          ("observed", check.observed ?? "nothing"), ("citation", check.citation.description)]
            if let finding = check.finding { fields.append(("finding", knownFindingLine(finding))) }
            for (label, value) in fields {
                out += wrapped(value, width: reportWidth, first: "    " + label.padding(to: 10) + "  ", rest: String(repeating: " ", count: 16))
            }
        }
        return out
    }

    private var findingSection: [String] {
        guard !findings.isEmpty else { return ["Known findings: none seen"] }
        var out = ["Known findings"]
        for occurrence in findings {
            let finding = occurrence.finding
            let hanging = String(repeating: " ", count: 4 + finding.id.count)
            out += wrapped(finding.title, width: reportWidth, first: "  \(finding.id)  ", rest: hanging)
            out += wrapped(finding.fixedBy ?? "no upstream fix known", width: reportWidth, first: hanging + "fixed by: ", rest: hanging + "  ")
            out += wrapped(occurrence.scenarios.joined(separator: ", "), width: reportWidth, first: hanging + "scenarios: ", rest: hanging + "  ")
        }
        return out
    }

    private var hypothesisSection: [String] {
        guard !hypotheses.isEmpty else { return ["Hypotheses: none"] }
        var out = ["Hypotheses"]
        for hypothesis in hypotheses {
            let hanging = String(repeating: " ", count: 4 + hypothesis.id.count)
            out += wrapped("\(hypothesis.status.rawValue): \(hypothesis.statement)", width: reportWidth,
                           first: "  \(hypothesis.id)  ", rest: hanging)
            if hypothesis.evidence.isEmpty { out.append(hanging + "evidence: none (no deciding check ran)") }
            for evidence in hypothesis.evidence {
                out += wrapped(evidence, width: reportWidth, first: hanging + "evidence: ", rest: hanging + "  ")
            }
        }
        return out
    }

    private var totalsLine: String {
        // Counted from the scenarios themselves, so totals agree with the lines above them even
        // for a report edited by hand.
        let totals = RunSummary(scenarios)
        var verdicts: [Verdict: Int] = [:]
        for scenario in scenarios { for check in scenario.checks { verdicts[check.verdict, default: 0] += 1 } }
        return "Totals: pass:\(totals.pass) fail:\(totals.fail) skip:\(totals.skip) error:\(totals.error) of \(scenarios.count) scenarios; checks "
            + Verdict.allCases.map { "\($0.rawValue):\(verdicts[$0] ?? 0)" }.joined(separator: " ")
    }
}

extension ScenarioResult {
    var matchedChecks: Int { checks.filter { $0.verdict == .match }.count }

    /// The table's note: the first mismatch (with its known finding), the skip or error reason.
    var note: String {
        switch outcome {
        case .pass:
            return ""
        case .fail:
            guard let first = checks.first(where: { $0.verdict == .mismatch }) else { return reason ?? "" }
            let summary = "\(first.observable): expected \(first.expected), saw \(first.observed ?? "nothing")"
            return first.finding.map { "known finding \($0); \(summary)" } ?? summary
        case .skip:
            return skipReason ?? ""
        case .error:
            return "error: " + (errorReason ?? "no reason recorded")
        }
    }
}

extension Outcome {
    var label: String { rawValue.uppercased() }

    /// SGR colour: pass green, fail red, skip yellow, error magenta.
    var ansiColour: String {
        switch self {
        case .pass: "32"
        case .fail: "31"
        case .skip: "33"
        case .error: "35"
        }
    }
}

extension String {
    /// At most `width` characters, an ellipsis marking the cut.
    func truncated(to width: Int) -> String {
        count <= width ? self : String(prefix(max(0, width - 1))) + "…"
    }
}

/// `text` broken at spaces into lines of at most `width` (a word longer than that stays whole),
/// the first line starting with `first`, the others with `rest`.
func wrapped(_ text: String, width: Int, first: String, rest: String) -> [String] {
    var lines: [String] = []
    var current = first
    var empty = true
    for word in text.oneLine.split(separator: " ") {
        if !empty && current.count + 1 + word.count > width {
            lines.append(current)
            current = rest
            empty = true
        }
        current += (empty ? "" : " ") + word
        empty = false
    }
    lines.append(current)
    return lines
}
