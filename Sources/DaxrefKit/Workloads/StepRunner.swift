import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs one step inside a helper process (`daxref drive --run-step <request>`): maps the memory,
/// runs the workload, and hands the result over before anything is cleaned up, because cleanup
/// (munmap, close, unlink) can block behind a task stuck in the kernel.
public enum StepRunner {
    /// Marks the result line on the helper's stdout; anything else there is ignored.
    public static let resultPrefix = "DAXREF-STEP-RESULT "

    /// Runs `request` and passes the result to `deliver`. If a watched call never returned, the
    /// process ends right after delivering (`_exit`): it must not wait for that task.
    public static func runInHelper(_ request: StepRequest, deliver: (StepResult) -> Void) {
        let started = ContinuousClock.now
        func result(_ status: StepStatus, _ reason: String?, _ log: borrowing StepLog) -> StepResult {
            var observations = log.observations
            observations[.stepDuration] = .integer(StepLog.milliseconds(ContinuousClock.now - started))
            return StepResult(
                id: request.id, backing: request.backing.id, workload: request.workload, status: status, reason: reason,
                observations: observations, checkpoints: log.checkpoints, samples: log.samples)
        }
        let run: @Sendable (inout MappedMemory, StepRequest, inout StepLog) throws(WorkloadError) -> Void
        switch request.workload.variant.procedure {
        case .unmapped(let body):
            // Maps and unmaps on its own: there is no shared mapping to set up.
            var log = StepLog(backing: request.backing, region: nil, keepPerPageLists: request.perPageLists)
            do {
                try body(request, &log)
                deliver(result(.completed, nil, log))
            } catch { deliver(result(.error, error.description, log)) }
            return
        case .namespace:
            deliver(result(.error, "\(request.workload.rawValue) reconfigures a namespace, not a mapping: it runs through NamespaceSteps",
                           StepLog(backing: request.backing, region: nil)))
            return
        case .mapped(let body): run = body
        }
        var memory: MappedMemory
        do { memory = try MappedMemory.open(request.backing, length: request.length) } catch {
            deliver(result(.error, error.description, StepLog(backing: request.backing, region: nil)))
            return
        }
        var log = StepLog(backing: request.backing, region: memory.region, keepPerPageLists: request.perPageLists)
        do {
            try run(&memory, request, &log)
            deliver(result(log.leftTaskStuck ? .timedOut : .completed, log.leftTaskStuck ? "a watched call never returned" : nil, log))
        } catch {
            deliver(result(.error, error.description, log))
        }
        if log.leftTaskStuck { _exit(0) }
    }

    /// The helper's side of the protocol: one line, `resultPrefix` + JSON, on stdout.
    public static func emit(_ result: StepResult) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        _ = try? FileDescriptor.standardOutput.writeAll(Array((resultPrefix + json + "\n").utf8))
    }

    /// The harness's side: the result in a helper's stdout, if it got that far.
    public static func parseResult(fromOutput output: String) -> StepResult? {
        for line in output.split(separator: "\n") where line.hasPrefix(resultPrefix) {
            return try? JSONDecoder().decode(StepResult.self, from: Data(line.dropFirst(resultPrefix.count).utf8))
        }
        return nil
    }
}
