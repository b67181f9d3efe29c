import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a run's results go: each judged scenario into the stream beside the JSON report (`--json F`
/// → `F.partial`) as it comes, and the reports (`--json`, `--ktap`, `--junit`) at the end. The end
/// is either the run finishing, or a signal stopping it: then the stream gets its last line and
/// every report is written with what ran, saying where it stopped. A signal's cleanup runs on
/// another thread than the run, so everything here is behind one lock, and after the end nothing
/// more is recorded.
public final class RunRecorder: Sendable {
    struct State: ~Copyable {
        var stream: RunStream?
        var results: [ScenarioResult] = []
        var ended = false
        var streamFailed = false
    }

    private let state: Mutex<State>
    private let environment: RunEnvironment
    private let selected: [String]
    private let destinations: [ReportDestination]
    private let warn: @Sendable (String) -> Void
    private let started = ContinuousClock.now

    /// Opens the stream when `--json` names a file; a stream that cannot be opened is only a warning
    /// (the final report still comes).
    public init(environment: RunEnvironment, selected: [String], destinations: [ReportDestination],
                warn: @escaping @Sendable (String) -> Void) {
        self.environment = environment
        self.selected = selected
        self.destinations = destinations
        self.warn = warn
        var stream: RunStream?
        if let path = destinations.first(where: { $0.flag == "--json" })?.filePath {
            do { stream = try RunStream(path: path + RunStream.suffix, environment: environment, selected: selected) } catch {
                warn("cannot write \(path + RunStream.suffix) (\(error)); the results will only be in the final report")
            }
        }
        state = Mutex(State(stream: stream))
    }

    public func record(_ result: ScenarioResult) {
        state.withLock { state in
            guard !state.ended else { return }
            state.results.append(result)
            guard let stream = state.stream.take() else { return }
            do { try stream.append(result) } catch {
                if !state.streamFailed { warn("appending to \(stream.path) failed: \(error)") }
                state.streamFailed = true
            }
            state.stream = consume stream
        }
    }

    /// The run finished: every report is written, and the stream removed once the JSON report is
    /// there. Returns what could not be written.
    public func finish(_ report: RunReport) -> [ReportDestinationError] {
        state.withLock { state in
            guard !state.ended else { return [] }
            state.ended = true
            let failed = write(report)
            if let stream = state.stream.take() {
                if failed.contains(where: { $0.flag == "--json" }) { warn("the results are in \(stream.path)") } else { stream.finish() }
            }
            return failed
        }
    }

    /// A signal (`reason`) ends the run: the stream gets its last line, and the reports say where
    /// the run stopped and which scenarios did not run.
    public func stop(reason: String) {
        state.withLock { state in
            guard !state.ended else { return }
            state.ended = true
            var report = RunReport(environment: environment, scenarios: state.results,
                                   durationMilliseconds: StepLog.milliseconds(ContinuousClock.now - started))
            let finished = Set(state.results.map(\.id))
            report.stopped = RunStopped(reason: reason, afterScenario: state.results.last?.id, notRun: selected.filter { !finished.contains($0) })
            if let stream = state.stream.take() {
                try? stream.stop(reason: reason)
                // The stream stays unless the JSON report now holds all it holds.
                if !write(report).contains(where: { $0.flag == "--json" }) { stream.finish() }
            } else {
                _ = write(report)
            }
            warn(report.stopped!.summary + (destinations.isEmpty ? "" : "; reports written: " + destinations.map(\.description).joined(separator: ", ")))
        }
    }

    private func write(_ report: RunReport) -> [ReportDestinationError] {
        Self.write(report, to: destinations, warn: warn)
    }

    /// A run whose machine went down under it (a guest that panicked or hung) wrote no reports, only
    /// its stream: writes them from the stream, stopped for `reason`, and removes the stream once the
    /// JSON report holds it. Nil when there is no stream to recover from.
    public static func recover(
        destinations: [ReportDestination], reason: String, warn: @escaping @Sendable (String) -> Void
    ) -> RunStopped? {
        guard let json = destinations.first(where: { $0.flag == "--json" })?.filePath else { return nil }
        let streamPath = json + RunStream.suffix
        guard let data = FileManager.default.contents(atPath: streamPath) else { return nil }
        var report: RunReport
        do { report = try RunStream.report(from: data) } catch {
            warn("cannot recover the reports from \(streamPath): \(error)")
            return nil
        }
        report.stopped?.reason = reason
        if !write(report, to: destinations, warn: warn).contains(where: { $0.flag == "--json" }) {
            unlink(streamPath)
        }
        return report.stopped
    }

    private static func write(
        _ report: RunReport, to destinations: [ReportDestination], warn: @Sendable (String) -> Void
    ) -> [ReportDestinationError] {
        var failed: [ReportDestinationError] = []
        for destination in destinations {
            do {
                let text: String
                switch destination.flag {
                case "--ktap": text = report.renderKTAP()
                case "--junit": text = report.renderJUnit()
                default: text = try report.jsonString() + "\n"
                }
                try destination.write(text)
            } catch let error as ReportDestinationError {
                warn(error.description)
                failed.append(error)
            } catch {
                let failure = ReportDestinationError(flag: destination.flag, path: destination.description, problem: "\(error)")
                warn(failure.description)
                failed.append(failure)
            }
        }
        return failed
    }
}
