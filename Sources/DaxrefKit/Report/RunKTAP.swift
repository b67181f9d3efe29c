// KTAP as the kernel documents it: Documentation/dev-tools/ktap.rst (KTAP version 1: version and
// plan lines, nested subtests indented two spaces with their own version line and plan, `# SKIP`
// and `# ERROR` directives, diagnostics as `# ` lines directly before the result they explain), and
// the totals line of tools/testing/selftests/kselftest.h ksft_print_cnts().

import Foundation

extension RunReport {
    /// One KTAP test per scenario, each with its checks as a nested subtest block. A known finding
    /// is still `not ok`; the finding is named in the diagnostics.
    public func renderKTAP() -> String {
        var out = KTAPWriter(report: self)
        out.line("KTAP version 1")
        out.line("1..\(scenarios.count)")
        for field in headerFields { out.diagnostic("\(field.label): \(field.value)") }
        for (index, scenario) in scenarios.enumerated() {
            if !scenario.checks.isEmpty {
                out.depth += 1
                out.line("KTAP version 1")
                out.line("1..\(scenario.checks.count)")
                for (checkIndex, check) in scenario.checks.enumerated() { out.check(check, number: checkIndex + 1) }
                out.depth -= 1
            }
            out.scenario(scenario, number: index + 1)
        }
        // Counted from the scenarios themselves, so totals agree with the lines above them even
        // for a report edited by hand.
        let totals = RunSummary(scenarios)
        out.diagnostic("Totals: pass:\(totals.pass) fail:\(totals.fail) xfail:0 xpass:0 skip:\(totals.skip) error:\(totals.error)")
        // ktap.rst: "Bail out!" says the run was aborted before all of its tests ran.
        if let stopped { out.line("Bail out! " + stopped.summary) }
        return out.text
    }

    /// Kernel, era (and how it was decided), where the pmem came from: the top of the text reports.
    var headerFields: [(label: String, value: String)] {
        let profile = environment.profile
        var kernel = environment.kernel.release + (profile.version.map { " (\($0))" } ?? "") + " " + environment.machine
        if environment.virtualMachine { kernel += ", in a daxref VM" }
        var pmem = environment.pmemOrigin
        if !environment.namespaces.isEmpty {
            pmem += "; namespaces: " + environment.namespaces.map { "\($0.dev) \($0.mode)" + ($0.map.map { " map=\($0)" } ?? "") }
                .joined(separator: ", ")
        }
        var fields = [("kernel", kernel), ("era", "\(profile.era.rawValue), decided by \(profile.eraSource)"), ("pmem", pmem)]
        fields += profile.notes.map { ("note", $0) }
        if let stopped { fields.append(("stopped", stopped.summary)) }
        return fields
    }
}


private struct KTAPWriter {
    let report: RunReport
    var text = ""
    var depth = 0

    mutating func line(_ content: String) {
        text += String(repeating: "  ", count: depth) + content + "\n"
    }

    /// One `# ` line per line of `content` (a diagnostic never spans lines).
    mutating func diagnostic(_ content: String) {
        for part in content.split(separator: "\n", omittingEmptySubsequences: false) { line("# " + part) }
    }

    /// `<result> <number> <description>[ # <directive> <data>]`; the description cannot hold `#`
    /// and the directive's data must stay on the line.
    mutating func result(_ ok: Bool, _ number: Int, _ name: String, directive: String? = nil) {
        let description = name.replacingOccurrences(of: "#", with: "_").oneLine
        line((ok ? "ok" : "not ok") + " \(number) \(description)" + (directive.map { " # " + $0.oneLine } ?? ""))
    }

    mutating func check(_ check: Check, number: Int) {
        switch check.verdict {
        case .match:
            result(true, number, check.rule)
        case .skip:
            result(true, number, check.rule, directive: "SKIP" + (check.reason.map { " " + $0 } ?? ""))
        case .mismatch:
            for detail in report.mismatchDetail(check) { diagnostic(detail) }
            result(false, number, check.rule)
        case .error:
            diagnostic("error: " + (check.reason ?? "no reason recorded"))
            result(false, number, check.rule, directive: "ERROR")
        }
    }

    mutating func scenario(_ scenario: ScenarioResult, number: Int) {
        switch scenario.outcome {
        case .pass:
            result(true, number, scenario.id)
        case .skip:
            result(true, number, scenario.id, directive: "SKIP" + (scenario.skipReason.map { " " + $0 } ?? ""))
        case .fail:
            let mismatches = scenario.checks.filter { $0.verdict == .mismatch }
            diagnostic("\(scenario.id): \(mismatches.count) of \(scenario.checks.count) checks mismatched")
            for finding in scenario.findingIDs { diagnostic(report.knownFindingLine(finding)) }
            if let reason = scenario.reason { diagnostic("step: \(reason)") }
            result(false, number, scenario.id)
        case .error:
            diagnostic("error: " + (scenario.errorReason ?? "no reason recorded"))
            result(false, number, scenario.id, directive: "ERROR")
        }
    }
}

extension RunReport {
    /// `known finding B1: <title>`, the title as the report recorded it (a report read from JSON may
    /// be older than this daxref's catalogue).
    func knownFindingLine(_ id: String) -> String {
        let title = findings.first { $0.finding.id == id }?.finding.title ?? KnownFinding.catalogue.first { $0.id == id }?.title
        return "known finding \(id): " + (title ?? "(title not recorded)")
    }

    /// Everything about a mismatch, one field a line (KTAP diagnostics, JUnit failure bodies).
    func mismatchDetail(_ check: Check) -> [String] {
        var lines = [
            "rule: \(check.rule): \(check.statement)",
            "observable: \(check.observable)",
            "expected: \(check.expected)",
            "observed: \(check.observed ?? "nothing")",
            "citation: \(check.citation)",
        ]
        if let finding = check.finding { lines.append(knownFindingLine(finding)) }
        return lines
    }
}

extension ScenarioResult {
    /// The scenario's reason, else the first skipped check's.
    var skipReason: String? {
        reason ?? checks.first { $0.verdict == .skip }?.reason
    }

    /// The scenario's reason, else the first erroring check's.
    var errorReason: String? {
        reason ?? checks.first { $0.verdict == .error }?.reason
    }

    /// Known findings among the mismatches, in check order, without repeats.
    var findingIDs: [String] {
        var seen: [String] = []
        for check in checks where check.verdict == .mismatch {
            if let finding = check.finding, !seen.contains(finding) { seen.append(finding) }
        }
        return seen
    }
}

extension String {
    /// Line breaks and tabs as spaces: for single-line fields (KTAP directives, table cells).
    var oneLine: String {
        String(map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }
}
