// JUnit XML as CI servers read it (the Ant/Jenkins schema: testsuites > testsuite > properties,
// testcase with failure, error or skipped; times in seconds).

extension RunReport {
    /// One `<testsuite name="daxref">` for the run; one `<testcase classname="<backing>"
    /// name="<workload>">` per scenario, with every mismatching check in its `<failure>`.
    public func renderJUnit() -> String {
        // Counted from the scenarios themselves, so totals agree with the lines above them even
        // for a report edited by hand.
        let totals = RunSummary(scenarios)
        let counts = "tests=\"\(scenarios.count)\" failures=\"\(totals.fail)\" errors=\"\(totals.error)\" skipped=\"\(totals.skip)\""
        let time = " time=\"\(junitSeconds(durationMilliseconds))\""
        var out = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>"]
        out.append("<testsuites name=\"daxref\" \(counts)\(time)>")
        out.append("  <testsuite name=\"daxref\" \(counts)\(time)>")
        out.append("    <properties>")
        let profile = environment.profile
        var properties: [(String, String)] = [
            ("kernel.release", environment.kernel.release),
            ("kernel.version", environment.kernel.version),
            ("kernel.machine", environment.machine),
            ("era", profile.era.rawValue),
            ("era.source", profile.eraSource),
            ("pmem.origin", environment.pmemOrigin),
            ("virtual-machine", String(environment.virtualMachine)),
            ("schemaVersion", String(schemaVersion)),
        ]
        if let version = profile.version { properties.insert(("kernel.upstream-version", version.description), at: 2) }
        for (name, value) in properties {
            out.append("      <property name=\"\(xmlEscaped(name))\" value=\"\(xmlEscaped(value))\"/>")
        }
        out.append("    </properties>")
        for scenario in scenarios { out += junitCase(scenario) }
        out.append("  </testsuite>")
        out.append("</testsuites>")
        return out.joined(separator: "\n") + "\n"
    }

    private func junitCase(_ scenario: ScenarioResult) -> [String] {
        let time = scenario.durationMilliseconds.map { " time=\"\(junitSeconds($0))\"" } ?? ""
        let open = "    <testcase classname=\"\(xmlEscaped(scenario.memory.rawValue))\" name=\"\(xmlEscaped(scenario.workload.rawValue))\"\(time)"
        switch scenario.outcome {
        case .pass:
            return [open + "/>"]
        case .skip:
            return [open + ">", "      <skipped message=\"\(xmlEscaped(scenario.skipReason ?? "skipped"))\"/>", "    </testcase>"]
        case .fail:
            let mismatches = scenario.checks.filter { $0.verdict == .mismatch }
            var message = "\(mismatches.count) of \(scenario.checks.count) checks mismatched: "
                + mismatches.map(\.rule).joined(separator: ", ")
            let findings = scenario.findingIDs
            if !findings.isEmpty { message += " (known finding \(findings.joined(separator: ", ")))" }
            var body = mismatches.map { mismatchDetail($0).joined(separator: "\n") }
            if let reason = scenario.reason { body.append("step: \(reason)") }
            return [open + ">",
                    "      <failure message=\"\(xmlEscaped(message))\" type=\"mismatch\">\(xmlEscaped(body.joined(separator: "\n\n"), inAttribute: false))</failure>",
                    "    </testcase>"]
        case .error:
            let errors = scenario.checks.filter { $0.verdict == .error }
            var body: [String] = []
            if let reason = scenario.reason { body.append("step: \(reason)") }
            body += errors.map { "\($0.rule): \($0.reason ?? "no reason recorded")\nobservable: \($0.observable)" }
            return [open + ">",
                    "      <error message=\"\(xmlEscaped(scenario.errorReason ?? "error"))\" type=\"error\">\(xmlEscaped(body.joined(separator: "\n\n"), inAttribute: false))</error>",
                    "    </testcase>"]
        }
    }
}

/// Milliseconds as JUnit's seconds with three decimals ("1.042").
func junitSeconds(_ milliseconds: Int64) -> String {
    let sign = milliseconds < 0 ? "-" : ""
    let magnitude = milliseconds.magnitude
    return sign + "\(magnitude / 1000)." + String(magnitude % 1000).leftPadded(to: 3)
}

/// Text safe in XML 1.0 content or attribute values: markup characters as entities, the control
/// characters XML 1.0 forbids as U+FFFD, and in attributes also quotes, and line breaks and tabs as
/// character references (attribute normalisation would turn them into spaces).
func xmlEscaped(_ text: String, inAttribute: Bool = true) -> String {
    var escaped = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"" where inAttribute: escaped += "&quot;"
        case "'" where inAttribute: escaped += "&apos;"
        case "\n": escaped += inAttribute ? "&#10;" : "\n"
        case "\r": escaped += "&#13;"
        case "\t": escaped += inAttribute ? "&#9;" : "\t"
        case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF:
            escaped += "\u{FFFD}"
        default:
            escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}
