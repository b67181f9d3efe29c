import Foundation
import SystemPackage

/// What `daxref drive --json` writes.
public struct DriveReport: Codable, Sendable {
    public static let currentSchemaVersion = 2
    public var schemaVersion = DriveReport.currentSchemaVersion
    public var kernel: KernelFingerprint
    public var blockTarget: BlockTarget?
    public var backings: [Backing]
    public var steps: [StepResult]

    enum CodingKeys: String, CodingKey {
        case schemaVersion, kernel, backings, steps
        case blockTarget = "block_target"
    }
}

/// `daxref drive`: every selected workload on every selected backing, each step in its own helper
/// process. Reports what happened and what was observed; no model, no verdicts.
public enum Drive {
    /// The names `--backing` takes: every fixture a step maps, by its `name`.
    public static let backingNames: [String] = MemoryFixture.allCases.compactMap(\.name)

    /// Device memory from the inventory (the first devdax device of each align, fsdax mounts of
    /// ext4 and xfs whose DAX is not known to be off), then the two controls. A device whose align
    /// no fixture has is left out.
    public static func availableBackings(_ inventory: Inventory) -> [Backing] {
        var backings: [Backing] = []
        var seen = Set<MemoryFixture>()
        let devices = inventory.daxDevices.filter { $0.mode == .devdax && $0.enabled && $0.path != nil }.sorted { $0.chardev < $1.chardev }
        for device in devices.sorted(by: { $0.align < $1.align }) {
            guard let align = DeviceAlign(rawValue: Int(device.align)) else { continue }
            let backing = Backing.deviceDax(path: device.path!, align: align)
            if seen.insert(backing.fixture).inserted { backings.append(backing) }
        }
        for mount in inventory.daxMounts.sorted(by: { $0.mountpoint < $1.mountpoint }) where mount.statxDax != false {
            guard let filesystem = DAXFilesystem(rawValue: mount.fstype) else { continue }
            let backing = Backing.fsdax(mountpoint: mount.mountpoint, filesystem: filesystem)
            if seen.insert(backing.fixture).inserted { backings.append(backing) }
        }
        return backings + [.anonymous, .pageCache()]
    }

    /// Resolves `--backing` names (comma-separated or repeated; `all`) against what is available:
    /// the backings to use, and the fixtures named that are not here.
    public static func select(_ names: [String], from available: [Backing]) throws(DriveError) -> (backings: [Backing], missing: [MemoryFixture]) {
        let requested = names.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if requested.isEmpty || requested.contains("all") { return (available, []) }
        var backings: [Backing] = []
        var missing: [MemoryFixture] = []
        for name in requested {
            guard let fixture = MemoryFixture.allCases.first(where: { $0.name == name }) else {
                throw .unknownBacking(name, known: backingNames + ["all"])
            }
            if let backing = available.first(where: { $0.fixture == fixture }) {
                if !backings.contains(backing) { backings.append(backing) }
            } else if !missing.contains(fixture) {
                missing.append(fixture)
            }
        }
        return (backings, missing)
    }

    /// The steps `drive` runs: every workload a helper runs (namespace ones are `NamespaceSteps`')
    /// matching `glob`, on each fixture named but missing (they are reported skipped), then on each
    /// backing.
    public static func scenarios(on fixtures: [MemoryFixture], matching glob: String) -> [Scenario] {
        fixtures.flatMap { fixture in
            Workload.allCases.filter { !$0.variant.reconfiguresNamespace && $0.matches(glob, backingID: fixture.rawValue) }
                .map { Scenario(memory: fixture, workload: $0) }
        }
    }

    /// Runs `scenarios` with `plan`, each step in a helper (`executable drive --run-step <json>`);
    /// `progress` sees each result as it comes.
    public static func run(_ scenarios: [Scenario], plan: StepPlan, executable: String, progress: (StepResult) -> Void) -> DriveReport {
        var steps: [StepResult] = []
        for scenario in scenarios {
            let result: StepResult
            switch plan.step(for: scenario) {
            case .helper(let request): result = runStep(request, executable: executable, timeout: plan.stepTimeout)
            case .skip(let reason): result = .skipped(scenario, because: reason)
            case .namespace: result = .skipped(scenario, because: "reconfigures a spare namespace: drive --namespace-steps runs it")
            }
            steps.append(result)
            progress(result)
        }
        return DriveReport(kernel: .current(), blockTarget: plan.blockTarget, backings: plan.backings, steps: steps)
    }

    /// One step in a helper, turned into a result whatever happened to the helper.
    public static func runStep(_ request: StepRequest, executable: String, timeout: Double) -> StepResult {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(request)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var helper = HelperProcess(argv: [executable, "drive", "--run-step", json], deadline: timeout)
        helper.deliveredMarker = StepRunner.resultPrefix
        let scratch = ScratchGuard(directories: request.scratchDirectories)
        let outcome: HelperProcess.Outcome
        do { outcome = try helper.run() } catch {
            return StepResult(id: request.id, backing: request.backing.id, workload: request.workload, status: .error,
                              reason: "cannot start the helper \(executable): \(error)")
        }
        scratch.sweep(afterHelper: outcome.pid)
        var stepResult = result(of: outcome, for: request, timeout: timeout)
        sweepProbes(after: outcome, into: &stepResult)
        return stepResult
    }

    /// The step's result from what its helper did: its own result if it delivered one, else one
    /// made from how it ended.
    static func result(of outcome: HelperProcess.Outcome, for request: StepRequest, timeout: Double) -> StepResult {
        if var delivered = StepRunner.parseResult(fromOutput: outcome.stdout) {
            delivered.helperAbandoned = outcome.abandoned
            delivered.samples += outcome.samples
            return delivered
        }
        var result = StepResult(id: request.id, backing: request.backing.id, workload: request.workload, status: .error)
        result.samples = outcome.samples
        result.helperAbandoned = outcome.abandoned
        let lastWords = outcome.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
        switch outcome.exit {
        case .signaled(let signal) where !outcome.timedOut:
            result.status = .crashed
            result.reason = "helper killed by signal \(signal)" + (lastWords.isEmpty ? "" : ": \(lastWords)")
            result.observations[.faultSignal] = .integer(Int64(signal))
        case .exited(let code) where !outcome.timedOut:
            result.reason = "helper exited \(code) without a result" + (lastWords.isEmpty ? "" : ": \(lastWords)")
        default:
            result.status = .timedOut
            result.observations[.stepTimedOut] = .flag(true)
            result.reason = "no result within \(Int(timeout)) s" + (outcome.abandoned ? "; the helper could not be killed (D state) and was left behind" : "; helper killed")
            // Where it was stuck: the first task sleeping somewhere (wchan, state, kernel stack).
            let waits = outcome.samples.compactMap(\.wait)
            if let blocked = waits.first(where: { $0.wchan != "0" }) ?? waits.first {
                result.observations.merge(blocked.observations)
            }
        }
        return result
    }

    /// A kprobe step whose helper did not deliver was killed (or crashed) with its probes
    /// installed: its signal handlers cannot run on SIGKILL. Remove what it left, now that its
    /// process is gone, and say so in the result (`kprobe.probes_remaining`, `kprobe.swept`).
    static func sweepProbes(
        after outcome: HelperProcess.Outcome, into result: inout StepResult,
        tracefs injected: (any TracefsAccess)? = nil, isAlive: (Int32) -> Bool = KprobeSession.processIsAlive
    ) {
        guard result.workload.variant.requirement == .kprobes, StepRunner.parseResult(fromOutput: outcome.stdout) == nil else { return }
        let tracefs: any TracefsAccess
        if let injected {
            tracefs = injected
        } else {
            guard case .success(let real) = Tracefs.availableForKprobes() else { return }
            tracefs = real
        }
        result.observations[.kprobeSwept] = .list(KprobeSession.sweepStale(tracefs: tracefs, isAlive: isAlive).map { .text($0) })
        let remaining = ((try? tracefs.read("kprobe_events")) ?? "").split(separator: "\n")
            .filter { KprobeSession.group(ofDefinition: $0)?.hasPrefix(KprobeSession.groupPrefix) == true }
        result.observations[.kprobeProbesRemaining] = .integer(Int64(remaining.count))
    }
}

public enum DriveError: Error, CustomStringConvertible {
    case unknownBacking(String, known: [String])

    public var description: String {
        switch self {
        case .unknownBacking(let name, let known): "unknown backing `\(name)`; one of: \(known.joined(separator: ", "))"
        }
    }
}

/// `KEY=value` lines as guest-provision.sh writes them (printf %q quoting, which for the paths
/// it writes is at most backslash escapes).
package enum ProvisionedEnvironment {
    package static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            let key = String(line[..<equals]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: equals)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            } else {
                var unescaped = ""
                var escaping = false
                for character in value {
                    if escaping || character != "\\" { unescaped.append(character); escaping = false } else { escaping = true }
                }
                value = unescaped
            }
            if !key.isEmpty { values[key] = value }
        }
        return values
    }
}

extension StepRequest {
    /// Where the step's helper creates scratch files: the backing's directory (fsdax, page cache)
    /// and an O_DIRECT target directory.
    public var scratchDirectories: [String] {
        var directories: [String] = []
        if backing.hasFile, let path = backing.path { directories.append(path) }
        if let blockTarget, blockTarget.kind == .directory { directories.append(blockTarget.path) }
        return directories
    }
}
