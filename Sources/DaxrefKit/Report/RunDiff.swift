import Foundation
import SystemPackage

/// What changed from one run report (A) to another (B), typically the same scenarios on two
/// kernels: outcomes, check verdicts and observed values (checks matched by rule ID), scenarios
/// only one side ran, and the findings and hypotheses of each side.
public struct RunDiff: Codable, Sendable {
    public struct Side: Codable, Sendable, Equatable {
        /// Where the report came from (its file), when known.
        public var source: String?
        public var kernelRelease: String
        public var kernelVersion: KernelVersion?
        public var era: Era
        public var eraSource: String
        public var summary: RunSummary
        /// That run did not finish (a report rebuilt from its stream, or cut short by a signal).
        public var stopped: RunStopped?
    }

    public struct CheckChange: Codable, Sendable, Equatable {
        public var rule: String
        /// nil: the scenario on that side has no check of this rule.
        public var verdictA: Verdict?
        public var verdictB: Verdict?
        public var observedA: String?
        public var observedB: String?
    }

    public struct ScenarioChange: Codable, Sendable, Equatable {
        public var id: String
        public var outcomeA: Outcome
        public var outcomeB: Outcome
        public var checks: [CheckChange]
        public var outcomeChanged: Bool { outcomeA != outcomeB }
    }

    public struct OnlyOneSide: Codable, Sendable, Equatable {
        public var id: String
        public var outcome: Outcome
    }

    public struct FindingComparison: Codable, Sendable, Equatable {
        public var id: String
        public var title: String
        public var scenariosA: [String]
        public var scenariosB: [String]
    }

    public struct HypothesisComparison: Codable, Sendable, Equatable {
        public var id: String
        public var statement: String
        /// nil: that report does not carry this hypothesis.
        public var statusA: HypothesisOutcome.Status?
        public var statusB: HypothesisOutcome.Status?
    }

    public var a: Side
    public var b: Side
    /// Scenarios both sides ran whose outcome or any check differs, in A's order.
    public var changed: [ScenarioChange]
    public var onlyInA: [OnlyOneSide]
    public var onlyInB: [OnlyOneSide]
    /// Scenarios both sides ran with the same outcome and checks.
    public var unchanged: Int
    public var findings: [FindingComparison]
    public var hypotheses: [HypothesisComparison]

    /// Whether a scenario both sides ran has a different outcome (the exit status of `daxref diff`).
    public var outcomesChanged: Bool { changed.contains { $0.outcomeChanged } }

    public init(_ reportA: RunReport, _ reportB: RunReport, sources: (String?, String?) = (nil, nil)) {
        func side(_ report: RunReport, _ source: String?) -> Side {
            Side(source: source, kernelRelease: report.environment.kernel.release, kernelVersion: report.environment.profile.version,
                 era: report.environment.profile.era, eraSource: report.environment.profile.eraSource, summary: report.summary,
                 stopped: report.stopped)
        }
        a = side(reportA, sources.0)
        b = side(reportB, sources.1)
        let scenariosB = Dictionary(reportB.scenarios.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let idsA = Set(reportA.scenarios.map(\.id))
        changed = []
        unchanged = 0
        for scenarioA in reportA.scenarios {
            guard let scenarioB = scenariosB[scenarioA.id] else { continue }
            let checks = Self.compareChecks(scenarioA.checks, scenarioB.checks)
            if scenarioA.outcome == scenarioB.outcome && checks.isEmpty {
                unchanged += 1
            } else {
                changed.append(ScenarioChange(id: scenarioA.id, outcomeA: scenarioA.outcome, outcomeB: scenarioB.outcome, checks: checks))
            }
        }
        onlyInA = reportA.scenarios.filter { scenariosB[$0.id] == nil }.map { OnlyOneSide(id: $0.id, outcome: $0.outcome) }
        onlyInB = reportB.scenarios.filter { !idsA.contains($0.id) }.map { OnlyOneSide(id: $0.id, outcome: $0.outcome) }

        var findingIDs: [String] = []
        for occurrence in reportA.findings + reportB.findings where !findingIDs.contains(occurrence.finding.id) {
            findingIDs.append(occurrence.finding.id)
        }
        findings = findingIDs.map { id in
            let inA = reportA.findings.first { $0.finding.id == id }
            let inB = reportB.findings.first { $0.finding.id == id }
            return FindingComparison(id: id, title: (inA ?? inB)!.finding.title, scenariosA: inA?.scenarios ?? [], scenariosB: inB?.scenarios ?? [])
        }

        var hypothesisIDs: [String] = []
        for outcome in reportA.hypotheses + reportB.hypotheses where !hypothesisIDs.contains(outcome.id) {
            hypothesisIDs.append(outcome.id)
        }
        hypotheses = hypothesisIDs.map { id in
            let inA = reportA.hypotheses.first { $0.id == id }
            let inB = reportB.hypotheses.first { $0.id == id }
            return HypothesisComparison(id: id, statement: (inA ?? inB)!.statement, statusA: inA?.status, statusB: inB?.status)
        }
    }

    /// Checks paired by rule ID (the n-th check of a rule on one side with the n-th on the other);
    /// only pairs whose verdict or observed value differ, and rules only one side checked.
    static func compareChecks(_ checksA: [Check], _ checksB: [Check]) -> [CheckChange] {
        var rules: [String] = []
        for check in checksA + checksB where !rules.contains(check.rule) { rules.append(check.rule) }
        var changes: [CheckChange] = []
        for rule in rules {
            let ofA = checksA.filter { $0.rule == rule }
            let ofB = checksB.filter { $0.rule == rule }
            for index in 0..<max(ofA.count, ofB.count) {
                let checkA = index < ofA.count ? ofA[index] : nil
                let checkB = index < ofB.count ? ofB[index] : nil
                if let checkA, let checkB, checkA.verdict == checkB.verdict, checkA.observed == checkB.observed { continue }
                changes.append(CheckChange(rule: rule, verdictA: checkA?.verdict, verdictB: checkB?.verdict,
                                           observedA: checkA?.observed, observedB: checkB?.observed))
            }
        }
        return changes
    }

    /// For a person: each side's kernel and era, then what changed.
    public func render() -> String {
        var out: [String] = []
        for (label, side) in [("A", a), ("B", b)] {
            let version = side.kernelVersion.map { " (\($0))" } ?? ""
            out.append("\(label)\(side.source.map { " " + $0 } ?? ""): kernel \(side.kernelRelease)\(version), era \(side.era.rawValue) (decided by \(side.eraSource)); "
                + "pass:\(side.summary.pass) fail:\(side.summary.fail) skip:\(side.summary.skip) error:\(side.summary.error)")
            if let stopped = side.stopped { out.append("  \(label) did not finish: \(stopped.summary)") }
        }
        out.append("")
        let outcomeChanges = changed.filter(\.outcomeChanged)
        if outcomeChanges.isEmpty {
            out.append("Outcomes: none changed (\(unchanged + changed.count) scenarios in both)")
        } else {
            out.append("Outcomes changed (\(outcomeChanges.count) of \(unchanged + changed.count) scenarios in both)")
            var table = TextTable("SCENARIO", "A", "B")
            for change in outcomeChanges { table.add(change.id, change.outcomeA.rawValue, change.outcomeB.rawValue) }
            out.append(table.render())
        }
        let checkChanges = changed.flatMap { change in change.checks.map { (change.id, $0) } }
        out.append("")
        if checkChanges.isEmpty {
            out.append("Checks: none changed")
        } else {
            out.append("Checks changed (\(checkChanges.count))")
            let verdicts = checkChanges.map { "\($0.1.verdictA?.rawValue ?? "-") → \($0.1.verdictB?.rawValue ?? "-")" }
            // Observed values (lists, log lines) are cut so that a row fits the report width.
            let fixed = 2 + [checkChanges.map(\.0.count).max()!, checkChanges.map(\.1.rule.count).max()!, verdicts.map(\.count).max()!]
                .map { $0 + 2 }.reduce(0, +)
            let room = max(16, reportWidth - fixed - 3)
            var table = TextTable("SCENARIO", "RULE", "VERDICT A → B", "OBSERVED A → B")
            for ((id, check), verdict) in zip(checkChanges, verdicts) {
                guard check.observedA != check.observedB else {
                    table.add(id, check.rule, verdict, "same")
                    continue
                }
                var observedA = (check.observedA ?? "-").oneLine, observedB = (check.observedB ?? "-").oneLine
                if observedA.count + observedB.count > room {
                    // The shorter one whole if it fits in half the room, the longer one cut to the rest.
                    let half = room / 2
                    if observedA.count <= half {
                        observedB = observedB.truncated(to: room - observedA.count)
                    } else if observedB.count <= half {
                        observedA = observedA.truncated(to: room - observedB.count)
                    } else {
                        observedA = observedA.truncated(to: half)
                        observedB = observedB.truncated(to: room - half)
                    }
                }
                table.add(id, check.rule, verdict, "\(observedA) → \(observedB)")
            }
            out.append(table.render())
        }
        for (label, only) in [("A", onlyInA), ("B", onlyInB)] where !only.isEmpty {
            out.append("")
            out.append("Only in \(label) (\(only.count))")
            var table = TextTable("SCENARIO", "OUTCOME")
            for scenario in only { table.add(scenario.id, scenario.outcome.rawValue) }
            out.append(table.render())
        }
        out.append("")
        if findings.isEmpty {
            out.append("Known findings: none on either side")
        } else {
            out.append("Known findings")
            for finding in findings {
                out.append("  \(finding.id)  " + finding.title.truncated(to: reportWidth - 4 - finding.id.count))
                for (label, ids) in [("A", finding.scenariosA), ("B", finding.scenariosB)] {
                    let hanging = String(repeating: " ", count: 4 + finding.id.count)
                    out += wrapped(ids.isEmpty ? "none" : ids.joined(separator: ", "), width: reportWidth, first: hanging + label + ": ",
                                   rest: hanging + "   ")
                }
            }
        }
        if !hypotheses.isEmpty {
            out.append("")
            out.append("Hypotheses")
            var table = TextTable("HYPOTHESIS", "A", "B", "STATEMENT")
            for hypothesis in hypotheses {
                let statusA = hypothesis.statusA?.rawValue ?? "-", statusB = hypothesis.statusB?.rawValue ?? "-"
                table.add(hypothesis.id, statusA, statusB, hypothesis.statement)
            }
            // Cut the statements to the width the other columns leave.
            let rendered = table.render().split(separator: "\n").map { String($0).truncated(to: reportWidth) }
            out += rendered
        }
        return out.joined(separator: "\n") + "\n"
    }
}

/// Why a file could not be used as a run report.
public struct RunReportLoadError: Error, CustomStringConvertible {
    public var description: String
}

extension RunReport {
    /// The most `load` reads: a full suite's report is a few MiB, so anything larger is not one.
    public static let maximumFileSize = 256 << 20

    /// Reads a `daxref run --json` file; the error says which of unreadable, not a regular file, too
    /// large, not JSON, not a run report, another schema version, or which field is wrong it is.
    public static func load(path: String) throws(RunReportLoadError) -> RunReport {
        func failure(_ reason: String) -> RunReportLoadError { RunReportLoadError(description: "\(path): \(reason)") }
        let tooLarge = "larger than a run report can be (at most \(maximumFileSize >> 20) MiB)"
        let bytes: [UInt8]
        do {
            // Non-blocking: opening a FIFO must not wait for a writer (it is refused below anyway).
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.nonBlocking, .closeOnExec])
            defer { try? fd.close() }
            var status = stat()
            guard fstat(fd.rawValue, &status) == 0 else { throw Errno(rawValue: errno) }
            // /dev/zero, a pipe or a terminal may never end; a report is a file `run --json` wrote.
            guard status.st_mode & S_IFMT == S_IFREG else { throw failure("not a regular file (a run report is the file `daxref run --json` writes)") }
            guard status.st_size <= maximumFileSize else { throw failure(tooLarge) }
            bytes = try SystemFile.readAll(fd, limit: maximumFileSize + 1)
        } catch let error as RunReportLoadError {
            throw error
        } catch {
            throw failure("cannot read: \(error)")
        }
        guard bytes.count <= maximumFileSize else { throw failure(tooLarge) }  // it grew while being read
        return try decode(Data(bytes), source: path)
    }

    package static func decode(_ data: Data, source: String) throws(RunReportLoadError) -> RunReport {
        // The stream of a run that did not finish (`F.partial`): its report says where it stopped.
        if RunStream.isStream(data) {
            do { return try RunStream.report(from: data) } catch {
                throw RunReportLoadError(description: "\(source): \(error)")
            }
        }
        struct Envelope: Decodable {
            var schemaVersion: Int?
            var environment: IgnoredValue?
            var scenarios: IgnoredValue?
        }
        struct IgnoredValue: Decodable {
            init(from decoder: Decoder) throws {}
        }
        let decoder = JSONDecoder()
        let envelope: Envelope
        do { envelope = try decoder.decode(Envelope.self, from: data) } catch {
            throw RunReportLoadError(description: "\(source): \(Self.describe(error, in: data))")
        }
        guard envelope.environment != nil, envelope.scenarios != nil else {
            throw RunReportLoadError(description: "\(source): not a daxref run report (expected the JSON object `daxref run --json` writes)")
        }
        guard envelope.schemaVersion == currentSchemaVersion else {
            throw RunReportLoadError(description: "\(source): run report schemaVersion "
                + (envelope.schemaVersion.map(String.init) ?? "missing") + "; this daxref reads schemaVersion \(currentSchemaVersion)")
        }
        do { return try decoder.decode(RunReport.self, from: data) } catch {
            throw RunReportLoadError(description: "\(source): \(Self.describe(error, in: data))")
        }
    }

    /// What is wrong, in the words of its kind: not JSON; JSON but not a run report; or the field
    /// (as a JSON key path) that a run report cannot hold.
    private static func describe(_ error: Error, in data: Data) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?:
            return "not a valid run report: missing `\(key.stringValue)` at \(context.codingPath.isEmpty ? "top level" : keyPath(context.codingPath))"
        case .typeMismatch? where codingPathIsEmpty(error):
            return "not a daxref run report (its JSON is not an object, and a run report is one)"
        case .dataCorrupted(let context)? where context.codingPath.isEmpty:
            // JSONDecoder says "not valid JSON", with no path, both for bad syntax and for valid JSON
            // with a number no Swift integer holds: walk the document to tell which.
            do { _ = try JSONDecoder().decode(NumberCheck.self, from: data) } catch let number as NumberCheck.Problem {
                return "not a valid run report: field \(keyPath(number.codingPath)): \(number.reason)"
            } catch {}
            do { _ = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed) } catch {
                return "not JSON: " + ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")
            }
            return "not JSON: \(context.debugDescription)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            return "not a valid run report: \(context.debugDescription) (at \(keyPath(context.codingPath)))"
        default:
            return "not a valid run report: \(error)"
        }
    }

    private static func codingPathIsEmpty(_ error: Error) -> Bool {
        if case .typeMismatch(_, let context)? = error as? DecodingError { return context.codingPath.isEmpty }
        return false
    }

    /// `scenarios[0].checks[1].observed`
    private static func keyPath(_ codingPath: [CodingKey]) -> String {
        let joined = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? "." + key.stringValue }.joined()
        return joined.hasPrefix(".") ? String(joined.dropFirst()) : joined
    }

    /// Walks any JSON value and throws at the first number that is not a 64-bit integer: every number
    /// in a run report is a count, size, address or duration.
    private struct NumberCheck: Decodable {
        struct Problem: Error {
            var codingPath: [CodingKey]
            var reason: String
        }

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: Decoder) throws {
            if let object = try? decoder.container(keyedBy: AnyKey.self) {
                for key in object.allKeys { _ = try object.decode(NumberCheck.self, forKey: key) }
            } else if var array = try? decoder.unkeyedContainer() {
                while !array.isAtEnd { _ = try array.decode(NumberCheck.self) }
            } else {
                let value = try decoder.singleValueContainer()
                if value.decodeNil() || (try? value.decode(Bool.self)) != nil || (try? value.decode(String.self)) != nil
                    || (try? value.decode(Int64.self)) != nil || (try? value.decode(UInt64.self)) != nil
                {
                    return
                }
                let double = try? value.decode(Double.self)
                let reason = double.map { $0.rounded() == $0 ? "number \($0) out of range (not a 64-bit integer)" : "number \($0) is not an integer" }
                throw Problem(codingPath: decoder.codingPath, reason: reason ?? "number out of range")
            }
        }
    }
}
