import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where a run that did not finish stopped: in the report rebuilt from its stream, or in the report a
/// signal cut short.
public struct RunStopped: Codable, Sendable, Equatable {
    /// `SIGTERM`, `SIGINT`…, or why the stream has no end (killed, guest panic, power loss).
    public var reason: String
    /// The last scenario with a result; nil when none finished.
    public var afterScenario: String?
    /// The selected scenarios without a result.
    public var notRun: [String]

    public init(reason: String, afterScenario: String?, notRun: [String]) {
        self.reason = reason
        self.afterScenario = afterScenario
        self.notRun = notRun
    }

    public var summary: String {
        "stopped (\(reason)) " + (afterScenario.map { "after \($0)" } ?? "before the first scenario finished")
            + "; \(notRun.count) scenario\(notRun.count == 1 ? "" : "s") not run"
    }
}

/// The run as it goes, as JSON Lines beside the final report (`<report>.partial`): a header with the
/// environment and the selected scenario IDs, then one line per scenario as soon as it is judged,
/// each written with one write(2) in append mode. A run cut short (a signal, SIGKILL, a guest
/// panic) keeps every scenario it measured; `RunStream.report(from:)` rebuilds a report from it
/// that says where it stopped. A run that finishes writes its report and removes the stream.
public struct RunStream: ~Copyable {
    public static let suffix = ".partial"
    public let path: String
    private let descriptor: FileDescriptor

    struct Header: Codable {
        var stream = "daxref-run"
        var schemaVersion = RunReport.currentSchemaVersion
        var environment: RunEnvironment
        var selected: [String]
    }

    enum Line: Codable {
        case scenario(ScenarioResult)
        case stopped(reason: String)
    }

    public init(path: String, environment: RunEnvironment, selected: [String]) throws(Errno) {
        let opened = try withTypedErrno {
            try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .truncate, .append, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        }
        do { try Self.writeLine(Header(environment: environment, selected: selected), to: opened) } catch {
            try? opened.close()
            throw error
        }
        descriptor = opened
        self.path = path
    }

    deinit { try? descriptor.close() }

    public func append(_ result: ScenarioResult) throws(Errno) {
        try Self.writeLine(Line.scenario(result), to: descriptor)
    }

    /// The last line of a run a signal ends.
    public func stop(reason: String) throws(Errno) {
        try Self.writeLine(Line.stopped(reason: reason), to: descriptor)
    }

    /// The run finished and its report is written: the stream has served its purpose.
    public consuming func finish() {
        unlink(path)
    }

    private static func writeLine(_ value: some Encodable, to descriptor: FileDescriptor) throws(Errno) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var bytes = try? encoder.encode(value) else { throw .invalidArgument }
        bytes.append(UInt8(ascii: "\n"))
        // One write: a reader (or a crash) sees whole lines, and at most the last one cut.
        let written = try withTypedErrno { try bytes.withUnsafeBytes { try descriptor.write($0) } }
        if written != bytes.count { throw .noSpace }
    }

    /// Whether `data` starts like a stream (its first line is the header).
    public static func isStream(_ data: Data) -> Bool {
        data.prefix(64).range(of: Data(#"{"environment":"#.utf8)) != nil
            && header(data).map { $0.stream == "daxref-run" } == true
    }

    private static func header(_ data: Data) -> Header? {
        let end = data.firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
        return try? JSONDecoder().decode(Header.self, from: data[data.startIndex..<end])
    }

    /// The report of a stream: every scenario it holds, and where and why it stopped. A cut last
    /// line (the write a crash interrupted) is left out.
    public static func report(from data: Data) throws(RunStreamError) -> RunReport {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        guard let first = lines.first, let header = try? JSONDecoder().decode(Header.self, from: Data(first)) else {
            throw RunStreamError(description: "not a daxref run stream (no header line)")
        }
        guard header.schemaVersion == RunReport.currentSchemaVersion else {
            throw RunStreamError(description: "a run stream of schemaVersion \(header.schemaVersion); this daxref reads \(RunReport.currentSchemaVersion)")
        }
        var results: [ScenarioResult] = []
        var reason = "ended without a final report (the run was killed, or the machine or guest went down)"
        for (index, line) in lines.dropFirst().enumerated() {
            do {
                switch try JSONDecoder().decode(Line.self, from: Data(line)) {
                case .scenario(let result): results.append(result)
                case .stopped(let why): reason = why
                }
            } catch {
                // Only the very last line may be cut; anything earlier is a damaged stream.
                guard index == lines.count - 2 else {
                    throw RunStreamError(description: "line \(index + 2) is not a stream entry: \(error)")
                }
            }
        }
        let finished = Set(results.map(\.id))
        let duration = results.reduce(Int64(0)) { $0 + ($1.durationMilliseconds ?? 0) }
        var report = RunReport(environment: header.environment, scenarios: results, durationMilliseconds: duration)
        report.stopped = RunStopped(reason: reason, afterScenario: results.last?.id, notRun: header.selected.filter { !finished.contains($0) })
        return report
    }
}

public struct RunStreamError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
