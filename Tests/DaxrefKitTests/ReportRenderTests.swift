import Foundation
#if canImport(FoundationXML)
import FoundationXML  // XMLDocument on Linux
#endif
import Testing

@testable import DaxrefKit

// Synthetic run reports covering every outcome (pass, fail with and without a known finding, skip,
// error) and every verdict (match, mismatch, skip, error), rendered as KTAP, JUnit and the table,
// read back by independent readers (a small KTAP reader here, libxml2 for the XML).

private let citation = Citation(file: "fs/dax.c", function: "dax_disassociate_entry", version: "6.1", line: "398")

private func check(_ rule: String, _ verdict: Verdict, expected: String = "true", observed: String? = nil, reason: String? = nil,
                   finding: String? = nil, observable: String = "step.blocked") -> Check {
    Check(rule: rule, statement: "statement of \(rule)", observable: observable, expected: expected, observed: observed,
          verdict: verdict, reason: reason, citation: citation, finding: finding)
}

private func scenario(_ memory: MemoryFixture, _ workload: Workload, _ outcome: Outcome, reason: String? = nil,
                      milliseconds: Int64? = 1042, _ checks: [Check]) -> ScenarioResult {
    ScenarioResult(id: Scenario(memory: memory, workload: workload).id, memory: memory, workload: workload, outcome: outcome,
                   reason: reason, durationMilliseconds: milliseconds, checks: checks,
                   evidence: ScenarioEvidence(status: outcome == .skip ? .skipped : .completed, observations: Observations(),
                                              checkpoints: [:], samples: []))
}

private func report(release: String, version: KernelVersion, era: Era, _ scenarios: [ScenarioResult]) -> RunReport {
    let kernel = KernelFingerprint(release: release, version: "#1 SMP PREEMPT_DYNAMIC Debian \(version)-1", machine: "x86_64",
                                   cmdline: "console=ttyS0", configSource: nil, config: [:])
    let profile = KernelProfile(release: release, version: version, era: era, eraSource: "probe", changes: [:],
                                notes: ["a note from the profile"])
    var environment = RunEnvironment(kernel: kernel, profile: profile, inventory: nil, backings: [], blockTarget: nil, cpus: 2,
                                     virtualMachine: true)
    environment.pmemOrigin = "ACPI.NFIT"
    environment.namespaces = [RunEnvironment.NamespaceSummary(dev: "namespace0.0", mode: "fsdax", map: "dev", align: 2 << 20, size: 1 << 30)]
    return RunReport(environment: environment, scenarios: scenarios, durationMilliseconds: 65_432)
}

/// Reasons with everything XML and KTAP must escape or keep on one line.
private let nastyReason = "needs <pmem> & \"quotes\" 'here' # not a directive\nsecond line"

/// An old-era kernel: one scenario of each outcome; the fail carries known finding B1.
private let oldKernel = report(release: "6.1.0-50-amd64", version: KernelVersion(6, 1, 176), era: .plainReferences, [
    scenario(.devdax(.align2m), .touchRead, .pass, [
        check("devdax.fault-size-is-align", .match, expected: "= 2097152", observed: "2097152", observable: "fault.size"),
        check("smaps.rss", .match, expected: "≈ 2048 ± 512", observed: "2048", observable: "smaps.Rss@touched"),
    ]),
    scenario(.fsdax(.ext4), .truncateSplicedUnmapped, .fail, [
        check("layout.waits-for-unmapped-busy", .mismatch, observed: "false", finding: "B1"),
        check("layout.no-disassociate-warning", .match, expected: "nothing containing \"dax_disassociate_entry\"", observed: "[]",
              observable: "dmesg.warnings@any"),
        check("layout.wchan.ext4", .skip, reason: "not observed: task.wchan not recorded by the step"),
    ]),
    scenario(.fsdax(.xfs), .truncateMapped, .fail, [
        check("layout.mapped-page-not-busy", .mismatch, expected: "false", observed: "true"),
    ]),
    scenario(.devdax(.align1g), .touchWrite, .skip, reason: nastyReason, milliseconds: nil, [
        check("devdax.fault-size-is-align", .skip, expected: "= 1073741824", reason: nastyReason, observable: "fault.size"),
    ]),
    scenario(.fsdax(.xfs), .unlinkSplicedUnmapped, .error, reason: "the helper could not create <file> & failed", [
        check("layout.waits-for-unmapped-busy", .error, reason: "the step did not run to its end: ENOSPC"),
    ]),
    scenario(.anonymous, .madviseDontNeed, .skip, reason: "the model predicts nothing for this scenario in era pre-6.3", []),
])

// MARK: - KTAP

/// A strict reader of the KTAP subset the renderer emits: version line and plan at each level,
/// subtests indented two spaces more than their parent's result line, `# ` diagnostics.
private struct KTAPNode {
    var plan: Int
    var results: [KTAPResult] = []
    /// Diagnostics after the last result (kselftest's totals).
    var trailing: [String] = []
}

private struct KTAPResult {
    var ok: Bool
    var number: Int
    var name: String
    var directive: String?
    var diagnostics: [String]
    var subtests: KTAPNode?
}

private struct KTAPParseError: Error, CustomStringConvertible {
    var description: String
}

/// The whole text must be one top-level KTAP document.
private func parseKTAP(_ text: String) throws -> KTAPNode {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard lines.last == "" else { throw KTAPParseError(description: "no final newline") }
    lines.removeLast()
    var position = 0
    let node = try parseKTAPLevel(lines, &position, depth: 0)
    guard position == lines.count else { throw KTAPParseError(description: "line \(position + 1): not part of the document: `\(lines[position])`") }
    return node
}

private func parseKTAPLevel(_ lines: [String], _ position: inout Int, depth: Int) throws -> KTAPNode {
    let indent = String(repeating: "  ", count: depth)
    func content(_ line: String) -> String? {
        guard line.hasPrefix(indent) else { return nil }
        let rest = line.dropFirst(indent.count)
        return rest.first == " " ? nil : String(rest)
    }
    guard position < lines.count, content(lines[position]) == "KTAP version 1" else {
        throw KTAPParseError(description: "line \(position + 1): expected `\(indent)KTAP version 1`")
    }
    position += 1
    guard position < lines.count, let planLine = content(lines[position]), planLine.hasPrefix("1.."), let plan = Int(planLine.dropFirst(3)) else {
        throw KTAPParseError(description: "line \(position + 1): expected a plan at depth \(depth)")
    }
    position += 1
    var node = KTAPNode(plan: plan)
    var diagnostics: [String] = []
    var subtests: KTAPNode?
    while position < lines.count {
        let line = lines[position]
        if line.hasPrefix(indent + "  KTAP version 1") {
            guard subtests == nil else { throw KTAPParseError(description: "line \(position + 1): two subtest blocks for one test") }
            subtests = try parseKTAPLevel(lines, &position, depth: depth + 1)
            continue
        }
        guard let content = content(line) else { break }
        if content.hasPrefix("# ") {
            diagnostics.append(String(content.dropFirst(2)))
        } else if content.hasPrefix("ok ") || content.hasPrefix("not ok ") {
            guard node.results.count < plan else { throw KTAPParseError(description: "line \(position + 1): more results than the plan") }
            let ok = content.hasPrefix("ok ")
            let rest = content.dropFirst(ok ? 3 : 7)
            let fields = rest.split(separator: " ", maxSplits: 1)
            guard let number = Int(fields[0]) else { throw KTAPParseError(description: "line \(position + 1): no test number") }
            let tail = fields.count > 1 ? String(fields[1]) : ""
            let parts = tail.split(separator: "#", maxSplits: 1)
            let name = parts.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            let directive = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
            node.results.append(KTAPResult(ok: ok, number: number, name: name, directive: directive, diagnostics: diagnostics,
                                           subtests: subtests))
            diagnostics = []
            subtests = nil
        } else {
            throw KTAPParseError(description: "line \(position + 1): unexpected `\(line)`")
        }
        position += 1
    }
    if subtests != nil || (depth > 0 && !diagnostics.isEmpty) {
        throw KTAPParseError(description: "line \(position + 1): a subtest block or diagnostics without a result line")
    }
    node.trailing = diagnostics
    return node
}

@Suite struct KTAPRenderTests {
    @Test func planAndNestingMatchTheResults() throws {
        let text = oldKernel.renderKTAP()
        let top = try parseKTAP(text)
        #expect(top.plan == oldKernel.scenarios.count)
        #expect(top.results.count == top.plan)
        #expect(top.results.map(\.number) == Array(1...top.plan))
        #expect(top.results.map(\.name) == oldKernel.scenarios.map(\.id))
        for (result, scenario) in zip(top.results, oldKernel.scenarios) {
            if scenario.checks.isEmpty {
                #expect(result.subtests == nil)
                continue
            }
            let subtests = try #require(result.subtests, "\(scenario.id) has no nested block")
            #expect(subtests.plan == scenario.checks.count)
            #expect(subtests.results.count == scenario.checks.count)
            #expect(subtests.results.map(\.number) == Array(1...scenario.checks.count))
            #expect(subtests.results.map(\.name) == scenario.checks.map(\.rule))
        }
        // Everything after the last scenario is the totals line.
        #expect(top.trailing == ["Totals: pass:1 fail:2 xfail:0 xpass:0 skip:2 error:1"])
        #expect(text.hasPrefix("KTAP version 1\n1..6\n# kernel: 6.1.0-50-amd64 (6.1.176) x86_64, in a daxref VM\n# era: pre-6.3, decided by probe\n"))
    }

    @Test func outcomesAndVerdictsBecomeResultsAndDirectives() throws {
        let top = try parseKTAP(oldKernel.renderKTAP())
        let results = top.results
        try #require(results.count == 6 && results.allSatisfy { $0.subtests != nil || $0.name == "anon.private.madv-dontneed" })
        // pass
        #expect(results[0].ok && results[0].directive == nil)
        #expect(results[0].subtests!.results.allSatisfy { $0.ok && $0.directive == nil })
        // A known finding stays `not ok`, and says which finding it is.
        #expect(!results[1].ok)
        #expect(results[1].diagnostics.contains { $0.hasPrefix("known finding B1: fsdax break-layouts skips pages no VMA maps") })
        let checks = results[1].subtests!.results
        #expect(!checks[0].ok)
        #expect(checks[0].diagnostics.contains("expected: true"))
        #expect(checks[0].diagnostics.contains("observed: false"))
        #expect(checks[0].diagnostics.contains("rule: layout.waits-for-unmapped-busy: statement of layout.waits-for-unmapped-busy"))
        #expect(checks[0].diagnostics.contains("citation: [6.1 fs/dax.c:398 dax_disassociate_entry()]"))
        #expect(checks[0].diagnostics.contains { $0.hasPrefix("known finding B1: ") })
        #expect(checks[1].ok && checks[1].diagnostics.isEmpty)
        #expect(checks[2].ok && checks[2].directive == "SKIP not observed: task.wchan not recorded by the step")
        // A mismatch without a finding names none.
        #expect(!results[2].ok)
        #expect(!results[2].diagnostics.contains { $0.contains("known finding") })
        #expect(results[2].subtests!.results[0].diagnostics.contains("expected: false"))
        // skip: `ok` with the directive and the reason on one line.
        #expect(results[3].ok)
        #expect(results[3].directive == "SKIP needs <pmem> & \"quotes\" 'here' # not a directive second line")
        #expect(results[3].subtests!.results[0].ok && results[3].subtests!.results[0].directive?.hasPrefix("SKIP needs <pmem>") == true)
        // error: `not ok # ERROR` after an `error:` diagnostic, at both levels.
        #expect(!results[4].ok && results[4].directive == "ERROR")
        #expect(results[4].diagnostics == ["error: the helper could not create <file> & failed"])
        let errorCheck = results[4].subtests!.results[0]
        #expect(!errorCheck.ok && errorCheck.directive == "ERROR")
        #expect(errorCheck.diagnostics == ["error: the step did not run to its end: ENOSPC"])
        // A scenario the model predicts nothing for: skipped, no nested block.
        #expect(results[5].ok && results[5].directive == "SKIP the model predicts nothing for this scenario in era pre-6.3")
    }

    @Test func findingTitlesComeFromTheReport() {
        // A report read from JSON names its findings as its daxref did, whatever this catalogue says now.
        var older = oldKernel
        older.findings[0].finding.title = "the title an older daxref recorded"
        #expect(older.renderKTAP().contains("\n# known finding B1: the title an older daxref recorded\nnot ok 2 "))
        #expect(older.renderJUnit().contains("known finding B1: the title an older daxref recorded"))
    }

    @Test func theReaderRejectsWhatKTAPForbids() {
        // Subtest results indented past their version line, more results than planned, a block with no parent result.
        #expect(throws: KTAPParseError.self) { try parseKTAP("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n    ok 1 a\nok 1 b\n") }
        #expect(throws: KTAPParseError.self) { try parseKTAP("KTAP version 1\n1..1\nok 1 a\nok 2 b\n") }
        #expect(throws: KTAPParseError.self) { try parseKTAP("KTAP version 1\n1..0\n  KTAP version 1\n  1..1\n  ok 1 a\n") }
        #expect(throws: Never.self) { try parseKTAP("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 a\nok 1 b\n# Totals\n") }
    }

    @Test func emptyRunHasAnEmptyPlan() throws {
        let empty = report(release: "7.2.13+deb14-amd64", version: KernelVersion(7, 2, 13), era: .normalRefcount, [])
        let top = try parseKTAP(empty.renderKTAP())
        #expect(top.plan == 0 && top.results.isEmpty)
        #expect(top.trailing.last == "Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0")
    }
}

// MARK: - JUnit

@Suite struct JUnitRenderTests {
    private func document(_ report: RunReport) throws -> XMLElement {
        let document = try XMLDocument(xmlString: report.renderJUnit(), options: [])
        return try #require(document.rootElement())
    }

    @Test func oneSuiteWithPropertiesAndCounts() throws {
        let root = try document(oldKernel)
        #expect(root.name == "testsuites")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        let suite = suites[0]
        #expect(suite.attribute(forName: "name")?.stringValue == "daxref")
        #expect(suite.attribute(forName: "tests")?.stringValue == "6")
        #expect(suite.attribute(forName: "failures")?.stringValue == "2")
        #expect(suite.attribute(forName: "errors")?.stringValue == "1")
        #expect(suite.attribute(forName: "skipped")?.stringValue == "2")
        #expect(suite.attribute(forName: "time")?.stringValue == "65.432")
        var properties: [String: String] = [:]
        for property in suite.elements(forName: "properties").first?.elements(forName: "property") ?? [] {
            properties[property.attribute(forName: "name")!.stringValue!] = property.attribute(forName: "value")?.stringValue
        }
        #expect(properties["kernel.release"] == "6.1.0-50-amd64")
        #expect(properties["kernel.upstream-version"] == "6.1.176")
        #expect(properties["era"] == "pre-6.3")
        #expect(properties["era.source"] == "probe")
        #expect(properties["pmem.origin"] == "ACPI.NFIT")
    }

    @Test func testcasesCarryTheirOutcome() throws {
        let cases = try document(oldKernel).elements(forName: "testsuite")[0].elements(forName: "testcase")
        #expect(cases.count == oldKernel.scenarios.count)
        #expect(cases.map { $0.attribute(forName: "classname")?.stringValue ?? "" } == oldKernel.scenarios.map(\.memory.rawValue))
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue ?? "" } == oldKernel.scenarios.map(\.workload.rawValue))
        #expect(cases[0].attribute(forName: "time")?.stringValue == "1.042")
        #expect(cases[3].attribute(forName: "time") == nil, "an unknown duration is left out, not made 0")
        #expect(cases[0].children?.isEmpty ?? true)

        let failure = try #require(cases[1].elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue == "1 of 3 checks mismatched: layout.waits-for-unmapped-busy (known finding B1)")
        let body = failure.stringValue ?? ""
        for line in ["rule: layout.waits-for-unmapped-busy: statement of layout.waits-for-unmapped-busy", "observable: step.blocked",
                     "expected: true", "observed: false", "citation: [6.1 fs/dax.c:398 dax_disassociate_entry()]"] {
            #expect(body.split(separator: "\n").contains(Substring(line)), "failure body lacks \(line)")
        }
        #expect(body.contains("known finding B1: fsdax break-layouts"))
        #expect(!body.contains("layout.no-disassociate-warning"), "matching checks are not failures")
        #expect(cases[2].elements(forName: "failure").first?.stringValue?.contains("known finding") == false)

        // Escaping: the reason with <, &, both quotes and a line break comes back unchanged.
        let skipped = try #require(cases[3].elements(forName: "skipped").first)
        #expect(skipped.attribute(forName: "message")?.stringValue == nastyReason)

        let error = try #require(cases[4].elements(forName: "error").first)
        #expect(error.attribute(forName: "message")?.stringValue == "the helper could not create <file> & failed")
        #expect(error.stringValue?.contains("layout.waits-for-unmapped-busy: the step did not run to its end: ENOSPC") == true)
        #expect(cases[5].elements(forName: "skipped").first?.attribute(forName: "message")?.stringValue
            == "the model predicts nothing for this scenario in era pre-6.3")
    }

    @Test func escapingCoversMarkupAndForbiddenCharacters() throws {
        #expect(xmlEscaped("a<b>&\"c\"'d'") == "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;")
        #expect(xmlEscaped("x\ny\tz") == "x&#10;y&#9;z")
        #expect(xmlEscaped("x\ny \"q\" 'a' <&>", inAttribute: false) == "x\ny \"q\" 'a' &lt;&amp;&gt;")
        #expect(xmlEscaped("bell\u{07}") == "bell\u{FFFD}")
        var withControl = oldKernel
        withControl.scenarios[3].reason = "nul\u{0} and escape \u{1B}[31m"
        let skipped = try document(withControl).elements(forName: "testsuite")[0].elements(forName: "testcase")[3]
            .elements(forName: "skipped").first
        #expect(skipped?.attribute(forName: "message")?.stringValue == "nul\u{FFFD} and escape \u{FFFD}[31m")
    }

    @Test func secondsHaveThreeDecimals() {
        #expect(junitSeconds(0) == "0.000")
        #expect(junitSeconds(7) == "0.007")
        #expect(junitSeconds(120_050) == "120.050")
    }
}

// MARK: - Table

@Suite struct TableRenderTests {
    private func stripANSI(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    }

    @Test func headerRowsAndSections() throws {
        let text = oldKernel.renderTable(colour: false)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(!text.contains("\u{1B}"))
        #expect(lines[0] == "kernel  6.1.0-50-amd64 (6.1.176) x86_64, in a daxref VM")
        #expect(lines[1] == "era     pre-6.3, decided by probe")
        #expect(lines[2] == "pmem    ACPI.NFIT; namespaces: namespace0.0 fsdax map=dev")
        #expect(lines[3] == "note    a note from the profile")
        let header = try #require(lines.firstIndex { $0.hasPrefix("  SCENARIO") })
        let rows = Array(lines[(header + 1)...(header + oldKernel.scenarios.count)])
        let outcomeColumn = try #require(lines[header].range(of: "OUTCOME")).lowerBound.utf16Offset(in: lines[header])
        let expected: [(String, String, String)] = [
            ("devdax.2m.touch-read", "PASS", "2/2"),
            ("fsdax.ext4.truncate.vmsplice-unmapped", "FAIL", "1/3"),
            ("fsdax.xfs.truncate.mapped", "FAIL", "0/1"),
            ("devdax.1g.touch-write", "SKIP", "0/1"),
            ("fsdax.xfs.unlink.vmsplice-unmapped", "ERROR", "0/1"),
            ("anon.private.madv-dontneed", "SKIP", "0/0"),
        ]
        for (row, (id, outcome, checks)) in zip(rows, expected) {
            let cells = row.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
            #expect(cells[0] == Substring(id) && cells[1] == Substring(outcome) && cells[2] == Substring(checks), "row: \(row)")
            #expect(row.range(of: " \(outcome) ")?.lowerBound.utf16Offset(in: row) == outcomeColumn - 1, "misaligned: \(row)")
        }
        #expect(rows[0].hasSuffix("2/2"), "a pass has no note")
        #expect(rows[1].hasSuffix("known finding B1; step.blocked: expected true, saw false"))
        #expect(rows[2].hasSuffix("step.blocked: expected false, saw true"))
        #expect(rows[3].hasSuffix("needs <pmem> & \"quotes\" 'here' # not a directive second line"))
        #expect(rows[4].hasSuffix("error: the helper could not create <file> & failed"))

        let skipped = try #require(lines.firstIndex(of: "Skipped"))
        #expect(lines[skipped + 1] == "  needs <pmem> & \"quotes\" 'here' # not a directive second line (devdax.1g.touch-write)")
        #expect(lines[skipped + 2] == "  the model predicts nothing for this scenario in era pre-6.3 (anon.private.madv-dontneed)")
        #expect(lines[skipped + 3] == "")

        let mismatches = try #require(lines.firstIndex(of: "Mismatches (2)"))
        #expect(lines[mismatches + 1] == "  fsdax.ext4.truncate.vmsplice-unmapped  layout.waits-for-unmapped-busy")
        let block = lines[(mismatches + 1)...].prefix { !$0.isEmpty }
        for field in ["    statement   statement of layout.waits-for-unmapped-busy", "    observable  step.blocked",
                      "    expected    true", "    observed    false", "    citation    [6.1 fs/dax.c:398 dax_disassociate_entry()]"] {
            #expect(block.contains(field), "missing \(field)")
        }
        #expect(block.contains { $0.hasPrefix("    finding     known finding B1: fsdax break-layouts") })
        #expect(block.contains("  fsdax.xfs.truncate.mapped  layout.mapped-page-not-busy"))

        let findings = try #require(lines.firstIndex(of: "Known findings"))
        #expect(lines[findings + 1].hasPrefix("  B1  fsdax break-layouts skips pages"))
        let findingBlock = lines[(findings + 1)...].prefix { !$0.isEmpty }
        #expect(findingBlock.contains { $0.hasPrefix("      fixed by: fs/dax: return unmapped busy pages") })
        #expect(findingBlock.contains("      scenarios: fsdax.ext4.truncate.vmsplice-unmapped"))

        let hypotheses = try #require(lines.firstIndex(of: "Hypotheses"))
        let hypothesisBlock = lines[(hypotheses + 1)...].prefix { !$0.isEmpty }
        #expect(hypothesisBlock.contains { $0.hasPrefix("  B1  holds: truncate/punch hole") })
        #expect(hypothesisBlock.contains("      evidence: fsdax.ext4.truncate.vmsplice-unmapped: step.blocked = false (mismatch)"))
        #expect(hypothesisBlock.contains { $0.hasPrefix("  B7  not-settled: ") })
        #expect(hypothesisBlock.contains("      evidence: none (no deciding check ran)"))

        #expect(lines.last(where: { !$0.isEmpty }) == "Totals: pass:1 fail:2 skip:2 error:1 of 6 scenarios; checks match:3 mismatch:2 skip:2 error:1")
        for line in lines { #expect(line.count <= 120, "over 120 columns: \(line)") }
    }

    @Test func colourOnlyWhenAsked() {
        let plain = oldKernel.renderTable(colour: false)
        let coloured = oldKernel.renderTable(colour: true)
        #expect(coloured.contains("\u{1B}[32mPASS\u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[31mFAIL\u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[33mSKIP\u{1B}[0m"))
        #expect(coloured.contains("\u{1B}[35mERROR\u{1B}[0m"))
        #expect(stripANSI(coloured) == plain, "colour changes nothing but the escapes")
    }

    @Test func longNotesAreCutToTheWidth() {
        var long = oldKernel
        long.scenarios[3].reason = String(repeating: "very long reason ", count: 20)
        let row = long.renderTable(colour: false).split(separator: "\n").first { $0.hasPrefix("  devdax.1g.touch-write") }
        #expect(row?.count == 120)
        #expect(row?.hasSuffix("…") == true)
    }

    @Test func emptySectionsSaySo() {
        let clean = report(release: "7.2.13+deb14-amd64", version: KernelVersion(7, 2, 13), era: .normalRefcount, [
            scenario(.devdax(.align4k), .touchRead, .pass, [check("devdax.fault-size-is-align", .match, observed: "true")]),
        ])
        let text = clean.renderTable(colour: false)
        #expect(text.contains("\nMismatches: none\n"))
        #expect(text.contains("\nKnown findings: none seen\n"))
        #expect(!text.contains("Skipped"))
    }
}

// MARK: - Diff

@Suite struct RunDiffTests {
    /// The same suite on a 6.15+ kernel: the B1 scenario now passes, the XFS truncate still fails
    /// with another observation, one check's observed value moved, 1G ran here and the anon
    /// scenario did not, and a new scenario exists only here.
    private let newKernel = report(release: "7.2.13+deb14-amd64", version: KernelVersion(7, 2, 13), era: .normalRefcount, [
        scenario(.devdax(.align2m), .touchRead, .pass, [
            check("devdax.fault-size-is-align", .match, expected: "= 2097152", observed: "2097152", observable: "fault.size"),
            check("smaps.rss", .match, expected: "≈ 2048 ± 512", observed: "2040", observable: "smaps.Rss@touched"),
        ]),
        scenario(.fsdax(.ext4), .truncateSplicedUnmapped, .pass, [
            check("layout.waits-for-unmapped-busy", .match, observed: "true"),
            check("layout.no-disassociate-warning", .match, expected: "nothing containing \"dax_disassociate_entry\"", observed: "[]",
                  observable: "dmesg.warnings@any"),
            check("layout.wchan.ext4", .match, expected: "\"ext4_wait_dax_page\"", observed: "ext4_wait_dax_page"),
        ]),
        scenario(.fsdax(.xfs), .truncateMapped, .fail, [
            check("layout.mapped-page-not-busy", .mismatch, expected: "false", observed: "true"),
        ]),
        scenario(.devdax(.align1g), .touchWrite, .pass, [
            check("devdax.fault-size-is-align", .match, expected: "= 1073741824", observed: "1073741824", observable: "fault.size"),
        ]),
        scenario(.fsdax(.xfs), .unlinkSplicedUnmapped, .error, reason: "the helper could not create <file> & failed", [
            check("layout.waits-for-unmapped-busy", .error, reason: "the step did not run to its end: ENOSPC"),
            check("evict.waits-uninterruptibly", .skip, reason: "not observed"),
        ]),
        scenario(.pageCache, .vmsplice, .pass, [check("pagecache.pipe-holds", .match, observed: "1")]),
    ])

    @Test func outcomesChecksAndOneSidedScenarios() throws {
        let diff = RunDiff(oldKernel, newKernel, sources: ("run-6.1.json", "run-7.2.json"))
        #expect(diff.a.kernelRelease == "6.1.0-50-amd64" && diff.a.era == .plainReferences && diff.a.source == "run-6.1.json")
        #expect(diff.b.kernelRelease == "7.2.13+deb14-amd64" && diff.b.era == .normalRefcount)
        #expect(diff.outcomesChanged)
        #expect(diff.changed.map(\.id) == ["devdax.2m.touch-read", "fsdax.ext4.truncate.vmsplice-unmapped", "devdax.1g.touch-write",
                                           "fsdax.xfs.unlink.vmsplice-unmapped"])
        #expect(diff.unchanged == 1, "fsdax.xfs.truncate.mapped is the same on both")

        let touch = diff.changed[0]
        #expect(!touch.outcomeChanged)
        #expect(touch.checks == [RunDiff.CheckChange(rule: "smaps.rss", verdictA: .match, verdictB: .match, observedA: "2048", observedB: "2040")])

        let truncate = diff.changed[1]
        #expect(truncate.outcomeA == .fail && truncate.outcomeB == .pass)
        #expect(truncate.checks.map(\.rule) == ["layout.waits-for-unmapped-busy", "layout.wchan.ext4"])
        #expect(truncate.checks[0] == RunDiff.CheckChange(rule: "layout.waits-for-unmapped-busy", verdictA: .mismatch, verdictB: .match,
                                                           observedA: "false", observedB: "true"))

        let huge = diff.changed[2]
        #expect(huge.outcomeA == .skip && huge.outcomeB == .pass)

        let unlink = diff.changed[3]
        #expect(!unlink.outcomeChanged)
        #expect(unlink.checks == [RunDiff.CheckChange(rule: "evict.waits-uninterruptibly", verdictA: nil, verdictB: .skip,
                                                      observedA: nil, observedB: nil)])

        #expect(diff.onlyInA == [RunDiff.OnlyOneSide(id: "anon.private.madv-dontneed", outcome: .skip)])
        #expect(diff.onlyInB == [RunDiff.OnlyOneSide(id: "pagecache.tmpfs.vmsplice", outcome: .pass)])

        #expect(diff.findings.map(\.id) == ["B1"])
        #expect(diff.findings[0].scenariosA == ["fsdax.ext4.truncate.vmsplice-unmapped"] && diff.findings[0].scenariosB.isEmpty)
        let b1 = try #require(diff.hypotheses.first { $0.id == "B1" })
        #expect(b1.statusA == .holds && b1.statusB == .doesNotHold)

        let text = diff.render()
        #expect(text.hasPrefix("A run-6.1.json: kernel 6.1.0-50-amd64 (6.1.176), era pre-6.3 (decided by probe); pass:1 fail:2 skip:2 error:1\n"
            + "B run-7.2.json: kernel 7.2.13+deb14-amd64 (7.2.13), era 6.15+ (decided by probe); pass:4 fail:1 skip:0 error:1\n"))
        #expect(text.contains("Outcomes changed (2 of 5 scenarios in both)"))
        let rows = text.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.contains(["fsdax.ext4.truncate.vmsplice-unmapped", "fail", "pass"]))
        #expect(rows.contains(["devdax.1g.touch-write", "skip", "pass"]))
        #expect(text.contains("Checks changed (5)"))
        #expect(rows.contains(["devdax.2m.touch-read", "smaps.rss", "match", "→", "match", "2048", "→", "2040"]))
        #expect(rows.contains(["devdax.1g.touch-write", "devdax.fault-size-is-align", "skip", "→", "match", "-", "→", "1073741824"]))
        #expect(text.contains("Only in A (1)") && text.contains("Only in B (1)"))
        #expect(rows.contains { $0.starts(with: ["B1", "holds", "does-not-hold", "truncate/punch"]) })
        #expect(rows.contains { $0.starts(with: ["B7", "not-settled", "not-settled", "the"]) })
        #expect(text.contains("\nKnown findings\n  B1  fsdax break-layouts skips pages no VMA maps")
            && text.contains("\n      A: fsdax.ext4.truncate.vmsplice-unmapped\n      B: none\n"))
        for line in text.split(separator: "\n") { #expect(line.count <= 120, "over 120 columns: \(line)") }

        let json = try diff.jsonString()
        let decoded = try JSONDecoder().decode(RunDiff.self, from: Data(json.utf8))
        #expect(decoded.changed == diff.changed && decoded.onlyInB == diff.onlyInB)
    }

    @Test func identicalReportsHaveNoChanges() {
        let diff = RunDiff(oldKernel, oldKernel)
        #expect(!diff.outcomesChanged)
        #expect(diff.changed.isEmpty && diff.onlyInA.isEmpty && diff.onlyInB.isEmpty)
        #expect(diff.unchanged == oldKernel.scenarios.count)
        #expect(diff.render().contains("Outcomes: none changed (6 scenarios in both)\n\nChecks: none changed\n"))
    }

    @Test func checkOnlyChangesDoNotChangeTheOutcome() {
        var observedMoved = oldKernel
        observedMoved.scenarios[0].checks[1].observed = "2049"
        let diff = RunDiff(oldKernel, observedMoved)
        #expect(!diff.outcomesChanged)
        #expect(diff.changed.count == 1 && diff.changed[0].checks.count == 1)
    }

    @Test func longObservedValuesAreCutToTheWidth() throws {
        var longer = oldKernel
        longer.scenarios[1].checks[1].observed = "[" + Array(repeating: "WARNING: CPU: 1 PID: 314 at fs/dax.c:398 dax_disassociate_entry", count: 4)
            .joined(separator: ", ") + "]"
        let text = RunDiff(oldKernel, longer).render()
        let row = try #require(text.split(separator: "\n").first { $0.contains("layout.no-disassociate-warning") })
        #expect(row.count == 120, "\(row.count) columns: \(row)")
        #expect(row.contains("[] → [WARNING: CPU: 1") && row.hasSuffix("…"), "\(row)")
    }

    @Test func loadingRejectsBadInput() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-diff-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        func loadError(_ path: String) -> String? {
            do { _ = try RunReport.load(path: path); return nil } catch { return error.description }
        }

        let good = try write("good.json", try oldKernel.jsonString())
        let loaded = try RunReport.load(path: good)
        #expect(loaded.scenarios.map(\.id) == oldKernel.scenarios.map(\.id))
        #expect(RunDiff(oldKernel, loaded).changed.isEmpty)

        #expect(loadError(directory.appendingPathComponent("missing.json").path)?.contains("cannot read") == true)
        #expect(loadError(try write("text.json", "not json at all"))?.contains("not JSON") == true)
        // An inventory also has a schemaVersion; it is still not a run report.
        #expect(loadError(try write("inventory.json", #"{"schemaVersion": 1, "regions": []}"#))?.contains("not a daxref run report") == true)
        let future = try oldKernel.jsonString().replacingOccurrences(of: "\"schemaVersion\" : 1", with: "\"schemaVersion\" : 99")
        #expect(loadError(try write("future.json", future))?.contains("schemaVersion 99; this daxref reads schemaVersion 1") == true)
        let broken = try oldKernel.jsonString().replacingOccurrences(of: "\"outcome\" : \"pass\"", with: "\"outcome\" : \"great\"")
        let brokenError = loadError(try write("broken.json", broken))
        #expect(brokenError?.contains("not a valid run report") == true)
        #expect(brokenError?.contains("scenarios[0].outcome") == true, "\(brokenError ?? "")")
    }

    /// `daxref diff /dev/zero x` read 1 GiB of zeros before failing (and a FIFO blocked in open):
    /// only regular files up to `maximumFileSize` are read.
    @Test func loadingRefusesEndlessAndHugeFiles() throws {
        func loadError(_ path: String) -> String? {
            do { _ = try RunReport.load(path: path); return nil } catch { return error.description }
        }
        #expect(loadError("/dev/zero")?.contains("/dev/zero: not a regular file") == true, "\(loadError("/dev/zero") ?? "")")

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-diff-size-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(loadError(fifo)?.contains("not a regular file") == true)
        // Sparse: one byte over the limit costs no disk and, refused by size, is never read.
        let huge = directory.appendingPathComponent("huge.json").path
        #expect(FileManager.default.createFile(atPath: huge, contents: nil))
        #expect(truncate(huge, off_t(RunReport.maximumFileSize + 1)) == 0)
        #expect(loadError(huge)?.contains("larger than a run report can be (at most 256 MiB)") == true, "\(loadError(huge) ?? "")")
    }

    /// JSONDecoder calls valid JSON with a number no integer holds "not valid JSON"; the error names
    /// the field instead, and keeps "not JSON" for what is not JSON.
    @Test(arguments: ["99999999999999999999", "1e400", "-1e400", "2.5"])
    func numbersThatFitNoFieldNameTheField(_ number: String) throws {
        let json = try oldKernel.jsonString()
        let scenarioField = json.replacingOccurrences(of: "\"durationMilliseconds\" : 1042", with: "\"durationMilliseconds\" : \(number)")
        #expect(scenarioField != json)
        let message = try #require(loadFailure(scenarioField))
        #expect(message.contains("source.json: not a valid run report: field scenarios[0].durationMilliseconds: number"), "\(message)")
        #expect(message.contains(number == "2.5" ? "is not an integer" : "out of range"), "\(message)")

        let version = json.replacingOccurrences(of: "\"schemaVersion\" : 1", with: "\"schemaVersion\" : \(number)")
        let versionMessage = try #require(loadFailure(version))
        #expect(versionMessage.contains("field schemaVersion: number"), "\(versionMessage)")
    }

    @Test func invalidJSONIsCalledThat() throws {
        let json = try oldKernel.jsonString()
        let message = try #require(loadFailure(String(json.dropLast(10))))
        #expect(message.hasPrefix("source.json: not JSON: "), "\(message)")
        #expect(try #require(loadFailure("[1, 2]")).contains("not a daxref run report"))
    }

    private func loadFailure(_ text: String) -> String? {
        do { _ = try RunReport.decode(Data(text.utf8), source: "source.json"); return nil } catch { return error.description }
    }
}

// MARK: - Streams and destinations

@Suite struct RunStreamTests {
    static func temporaryDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-stream-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A run killed mid-way (no final report, the last write cut) keeps every whole line, and the
    /// rebuilt report says where it stopped and what did not run.
    @Test func aCutStreamKeepsEveryScenarioItHolds() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/run.json.partial"
        let selected = oldKernel.scenarios.map(\.id) + ["devdax.4k.fork"]
        do {
            let stream = try RunStream(path: path, environment: oldKernel.environment, selected: selected)
            for result in oldKernel.scenarios.prefix(3) { try stream.append(result) }
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"scenario":{"_0":{"id":"fsdax.x"#.utf8))
        try handle.close()

        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(RunStream.isStream(data))
        let report = try RunStream.report(from: data)
        #expect(report.scenarios.map(\.id) == oldKernel.scenarios.prefix(3).map(\.id))
        let stopped = try #require(report.stopped)
        #expect(stopped.reason.contains("without a final report"))
        #expect(stopped.afterScenario == oldKernel.scenarios[2].id)
        #expect(stopped.notRun == Array(selected.dropFirst(3)))
        #expect(report.exitCode == 1, "a run that stopped early is not a pass")
        #expect(report.renderKTAP().hasSuffix("Bail out! \(stopped.summary)\n"))
        #expect(report.renderTable(colour: false).contains("stopped"))
        #expect(report.environment.kernel.release == "6.1.0-50-amd64")
    }

    @Test func aSignalEndsTheStreamWithItsReasonAndAFinishedRunRemovesIt() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/run.json.partial"
        do {
            let stream = try RunStream(path: path, environment: oldKernel.environment, selected: oldKernel.scenarios.map(\.id))
            try stream.append(oldKernel.scenarios[0])
            try stream.stop(reason: "SIGTERM")
        }
        let report = try RunStream.report(from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(report.stopped?.reason == "SIGTERM")
        #expect(report.stopped?.notRun.count == oldKernel.scenarios.count - 1)

        let finished = try RunStream(path: path, environment: oldKernel.environment, selected: [])
        finished.finish()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A guest that went down under the run (`daxref vm` saw a panic or a hang) leaves only the
    /// stream: the host writes every report from it, with the guest's reason, and drops the stream.
    @Test func reportsAreRecoveredFromTheStreamOfARunWhoseGuestWentDown() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let destinations = try ReportDestination.check([("--json", directory + "/run.json"), ("--ktap", directory + "/run.ktap")])
        #expect(RunRecorder.recover(destinations: destinations, reason: "x") { _ in } == nil, "no stream, nothing to recover")
        do {
            let stream = try RunStream(path: directory + "/run.json.partial", environment: oldKernel.environment, selected: oldKernel.scenarios.map(\.id))
            try stream.append(oldKernel.scenarios[0])
        }
        let stopped = try #require(RunRecorder.recover(destinations: destinations, reason: "guest timed out: no exit status within 2400 s") { _ in })
        #expect(stopped.reason == "guest timed out: no exit status within 2400 s")
        #expect(stopped.afterScenario == oldKernel.scenarios[0].id)
        let report = try JSONDecoder().decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/run.json")))
        #expect(report.scenarios.map(\.id) == [oldKernel.scenarios[0].id])
        #expect(report.stopped == stopped)
        #expect(try String(contentsOfFile: directory + "/run.ktap", encoding: .utf8).contains("Bail out! "))
        #expect(!FileManager.default.fileExists(atPath: directory + "/run.json.partial"))
    }

    @Test func aDamagedLineBeforeTheLastIsAnError() throws {
        var lines = String(decoding: try JSONEncoder().encode(["stream": "daxref-run"]), as: UTF8.self)
        lines += "\nnot json\n{}\n"
        #expect(throws: RunStreamError.self) { try RunStream.report(from: Data(lines.utf8)) }
        #expect(!RunStream.isStream(Data(try oldKernel.jsonString().utf8)), "a final report is not a stream")
    }
}

@Suite struct ReportDestinationTests {
    @Test func badPathsAreRefusedBeforeAnyWork() throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func problem(_ requests: [(flag: String, path: String)]) -> String? {
            do { _ = try ReportDestination.check(requests); return nil } catch { return error.problem }
        }
        #expect(problem([("--json", directory + "/r"), ("--ktap", directory + "/r")])?.contains("the same file as --json") == true)
        #expect(problem([("--json", directory + "/r"), ("--ktap", directory + "/../" + (directory as NSString).lastPathComponent + "/r")]) != nil,
                "the same file by another path")
        #expect(problem([("--json", "-"), ("--ktap", "-")]) != nil, "standard output once")
        #expect(problem([("--json", directory)])?.contains("is a directory") == true)
        #expect(problem([("--json", directory + "/missing/r.json")])?.contains("cannot be used") == true)
        #expect(problem([("--json", "/proc/daxref-x")])?.contains("cannot be created") == true)
        #expect(problem([("--json", "/dev/full")])?.contains("a character device") == true)
        #expect(problem([("--json", "")]) != nil)
        #expect(problem([("--json", directory + "/new.json"), ("--ktap", "-")]) == nil)
        #expect(!FileManager.default.fileExists(atPath: directory + "/new.json"), "checking leaves no file behind")
    }

    @Test func anExistingReportIsUntouchedUntilTheNewOneIsComplete() throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/run.json"
        try Data("old report\n".utf8).write(to: URL(fileURLWithPath: path))
        let destination = try #require(try ReportDestination.check([("--json", path)]).first)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old report\n")
        try destination.write("new report\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new report\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["run.json"], "no temporary file left")
    }
}

@Suite struct PartialRunDiffTests {
    /// `daxref diff` takes the stream of a run that did not finish, and says so.
    @Test func diffReadsAStreamAndSaysWhereItStopped() throws {
        let directory = try RunStreamTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let partial = directory + "/run.json" + RunStream.suffix
        do {
            let stream = try RunStream(path: partial, environment: oldKernel.environment, selected: oldKernel.scenarios.map(\.id))
            try stream.append(oldKernel.scenarios[0])
        }
        let full = directory + "/full.json"
        try Data(try oldKernel.jsonString().utf8).write(to: URL(fileURLWithPath: full))
        let diff = RunDiff(try RunReport.load(path: full), try RunReport.load(path: partial), sources: (full, partial))
        #expect(diff.b.stopped?.notRun.count == oldKernel.scenarios.count - 1)
        #expect(diff.a.stopped == nil)
        #expect(diff.render().contains("B did not finish: stopped (ended without a final report"))
        #expect(diff.onlyInA.count == oldKernel.scenarios.count - 1)
    }
}

@Suite struct RunReportLoadMessageTests {
    /// A JSON array used to be explained as "Expected to decode Dictionary<String, Any>": Swift's
    /// words, not the user's.
    @Test func anArrayIsNotAReportInPlainWords() {
        do {
            _ = try RunReport.decode(Data("[]".utf8), source: "arr.json")
            Issue.record("an array decoded as a run report")
        } catch {
            #expect(error.description == "arr.json: not a daxref run report (its JSON is not an object, and a run report is one)")
        }
    }
}
