import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Reconfigures an opted-in spare namespace into the geometry of each namespace scenario (its
/// fixture's mode and align, its variant's memmap location) and records what creating it did to
/// memory: checkpoints `before` (the spare as it was), `created`, and `restored`, each with
/// /proc/vmstat (refreshed), /proc/meminfo, the namespace's sysfs attributes and the kernel log.
/// Creating a fsdax or devdax namespace allocates its memmap (struct pages): in RAM with
/// `--map=mem`, on the device with `--map=dev`; with device-dax compound pages (align > 4 KiB) the
/// kernel may deduplicate the memmap's tail pages (mm/sparse-vmemmap.c, `vmstat.nr_memmap_pages`).
public enum NamespaceSteps {
    /// The namespace scenarios of the catalogue, in order.
    public static let scenarios = ScenarioCatalogue.all.filter { $0.namespaceTarget != nil }

    static let checkpoints: [CheckpointName] = [.before, .created, .restored]
    /// What each checkpoint reads: the counters creating a namespace moves, and the namespace itself.
    static let snapshotSources: Set<SnapshotSource> = [.vmstat, .meminfo, .sysfs]
    /// What a step records about the namespace it created, and about ndctl.
    static let records: [ObservableKey] = [
        Observable.namespaceMode, .namespaceSize, .namespaceRawSize, .namespaceAlign, .namespaceMap, .namespaceDevice, .ndctlExit,
        .ndctlStderr, .ndctlDuration, .ndctlList,
    ].map(\.key)

    /// Runs `scenarios` (namespace scenarios) on `spare` (a namespace the user allowed daxref to
    /// reconfigure), restoring it after each one, so it ends as it started. Throws before touching
    /// anything when the spare does not exist or is in use; once running, problems become step
    /// results. A spare that cannot be taken or restored stops the run: the remaining scenarios are
    /// skipped with that reason.
    public static func run(
        spare: String, scenarios: [Scenario] = NamespaceSteps.scenarios,
        host: any NamespaceHost = SystemNamespaceHost(), timeout: Double = NamespaceReconfiguration.defaultTimeout,
        progress: (StepResult) -> Void = { _ in }
    ) throws(ReconfigureError) -> [StepResult] {
        let original = try NamespaceReconfiguration(namespace: spare, host: host, timeout: timeout).original
        var results: [StepResult] = []
        var stopReason: String?
        for scenario in scenarios {
            guard let target = scenario.namespaceTarget else { preconditionFailure("\(scenario.id) is not a namespace scenario") }
            let result: StepResult
            if let reason = stopReason ?? skipReason(target, on: original) {
                result = .skipped(scenario, because: reason)
            } else {
                let (step, stop) = runOne(scenario, target: target, spare: spare, host: host, timeout: timeout)
                result = step
                stopReason = stop
            }
            results.append(result)
            progress(result)
        }
        return results
    }

    /// Why `target` cannot be made from `spare`, or nil. Only the geometry is checked here; what the
    /// kernel refuses is an observation (`ndctl.exit`).
    static func skipReason(_ target: NamespaceTarget, on spare: NamespaceConfiguration) -> String? {
        let align = target.align
        if let problem = target.problem(on: spare) { return problem }
        guard align > UInt64(DeviceAlign.align2m.bytes) else { return nil }
        guard let resource = spare.resource else { return "\(spare.dev) has no readable physical start (sysfs resource)" }
        if NamespaceGeometry.wholePages(resource: resource, size: spare.rawSize, align: align) == 0 {
            return "\(spare.dev) (\(spare.rawSize >> 20) MiB at 0x\(String(resource, radix: 16))) holds no whole \(sizeLabel(Int(align))) page after its 8 KiB info block; give it ≥ 1 GiB + 1 GiB of margin"
        }
        return nil
    }

    /// One scenario: before → reconfigure → created → restore → restored. Returns the step and, when
    /// the spare must not be touched again (it could not be taken or restored), why.
    static func runOne(_ scenario: Scenario, target: NamespaceTarget, spare: String, host: any NamespaceHost, timeout: Double) -> (StepResult, String?) {
        let started = ContinuousClock.now
        var result = StepResult(id: scenario.id, backing: scenario.memory.rawValue, workload: scenario.workload, status: .completed)
        let kernelLog = try? KernelLogCursor()
        func checkpoint(_ name: CheckpointName) {
            let target = SnapshotTarget(pid: getpid(), namespace: spare)
            let options = SnapshotOptions(sources: snapshotSources)
            let snapshot: Snapshot
            switch kernelLog {
            case .some(let cursor): snapshot = Snapshot.take(target, options: options, kernelLog: cursor)
            case .none: snapshot = Snapshot.take(target, options: options)
            }
            result.checkpoints.append(Checkpoint(name: name, atMilliseconds: StepLog.milliseconds(ContinuousClock.now - started), observations: snapshot.observations))
        }
        func finish() { result.observations[.stepDuration] = .integer(StepLog.milliseconds(ContinuousClock.now - started)) }

        var owner: NamespaceReconfiguration
        do { owner = try NamespaceReconfiguration(namespace: spare, host: host, timeout: timeout) } catch {
            result.status = .error
            result.reason = error.description
            finish()
            return (result, "\(spare) became unusable before \(scenario.id): \(error)")
        }
        // A signal between reconfiguring and restoring must not leave the spare reconfigured: its
        // owner's deinit cannot run then, so the cleanup owner puts the original back (the ndctl
        // run in progress, a helper registered later, is ended first).
        let original = owner.original
        let onSignal: CleanupRegistration? = host is SystemNamespaceHost
            ? CleanupOwner.shared.register("namespace \(spare) back to \(original.mode.rawValue)") {
                for arguments in NdctlCommand.restore(spare, to: original) {
                    _ = SystemNamespaceHost().ndctl(arguments, timeout: timeout)
                }
            } : nil
        checkpoint(.before)
        do {
            let outcome = try owner.apply(target)
            record(outcome, into: &result)
            let created = owner.current
            result.observations[.ndctlList] = .text(owner.currentListing.trimmingWhitespace())
            result.observations[.namespaceMode] = .text(created.mode.rawValue)
            result.observations[.namespaceSize] = .integer(Int64(created.size))
            result.observations[.namespaceRawSize] = .integer(Int64(created.rawSize))
            result.observations[.namespaceAlign] = created.align.map { .integer(Int64($0)) } ?? .unavailable("ndctl listed no align")
            result.observations[.namespaceMap] = created.map.map { .text($0.rawValue) } ?? .unavailable("ndctl listed no map")
            result.observations[.namespaceDevice] = (created.chardev ?? created.blockdev).map(ObservedValue.text)
                ?? .unavailable("ndctl listed no device")
        } catch .ndctl(let outcome) {
            // What the kernel (through ndctl) refused is the observation, like a syscall's errno.
            record(outcome, into: &result)
            if outcome.timedOut {
                result.status = .timedOut
                result.reason = outcome.description
            }
        } catch {
            result.status = .error
            result.reason = error.description
        }
        checkpoint(.created)
        var restoreFailure: String?
        do { try owner.restore() } catch { restoreFailure = error.description }
        _ = consume onSignal
        checkpoint(.restored)
        if let restoreFailure {
            result.status = .error
            result.reason = [result.reason, "restoring \(spare) failed: \(restoreFailure)"].compactMap { $0 }.joined(separator: "; ")
        }
        finish()
        return (result, restoreFailure.map { "\(spare) could not be restored after \(scenario.id): \($0)" })
    }

    static func record(_ outcome: NdctlOutcome, into result: inout StepResult) {
        result.observations[.ndctlExit] = .integer(outcome.exitCode)
        result.observations[.ndctlDuration] = .integer(outcome.milliseconds)
        if !outcome.succeeded {
            result.observations[.ndctlStderr] = .text(outcome.stderr.trimmingWhitespace())
            if outcome.timedOut {
                result.observations[.stepTimedOut] = .flag(true)
                if let wait = outcome.wait {
                    result.observations[.taskWchan] = .text(wait.wchan)
                    result.observations[.taskState] = .text(wait.state)
                }
            }
        }
    }
}

extension NamespaceSteps {
    /// One row per step: what ndctl did, what was created, and the memmap it cost
    /// (`vmstat.nr_memmap_pages` created − before, also per GiB of the namespace's raw size; MemFree
    /// in kB), and whether restoring gave it back (restored − before).
    public static func renderTable(_ steps: [StepResult]) -> String {
        var table = TextTable("STEP", "STATUS", "NDCTL", "CREATED", "MEMMAP Δ", "PER GiB", "MemFree Δ kB", "AFTER RESTORE Δ")
        for step in steps {
            let o = step.observations
            var ndctl = ""
            if case .integer(let exit)? = o[.ndctlExit] {
                ndctl = exit == 0 ? "ok" : "exit \(exit)"
                if case .integer(let ms)? = o[.ndctlDuration] { ndctl += " \(ms)ms" }
            }
            var created = ""
            if case .integer(let size)? = o[.namespaceSize], case .integer(let raw)? = o[.namespaceRawSize] {
                created = "\(humanBytes(UInt64(size))) of \(humanBytes(UInt64(raw)))"
            }
            let memmap = delta(step, .vmstatNrMemmapPages, from: .before, to: .created)
            var perGiB = ""
            if case .integer(let pages)? = memmap, case .integer(let raw)? = o[.namespaceRawSize], raw > 0 {
                let tenths = (pages * 10 << 30) / raw
                perGiB = "\(tenths / 10).\(abs(tenths % 10))"
            }
            table.rows.append([
                step.id, step.status.rawValue + (step.status == .completed ? "" : step.reason.map { ": \($0)" } ?? ""), ndctl, created,
                cell(memmap), perGiB, cell(delta(step, .meminfoMemFree, from: .before, to: .created)),
                cell(delta(step, .vmstatNrMemmapPages, from: .before, to: .restored)),
            ])
        }
        return table.render()
    }

    /// `key` at checkpoint `to` minus at `from`, or why there is none.
    static func delta(_ step: StepResult, _ key: Observable, from: CheckpointName, to: CheckpointName) -> ObservedValue? {
        func value(_ name: CheckpointName) -> ObservedValue? { step.checkpoints.first { $0.name == name }?.observations[key] }
        switch (value(from), value(to)) {
        case (.integer(let before)?, .integer(let after)?): return .integer(after - before)
        case (.unavailable(let why)?, _), (_, .unavailable(let why)?): return .unavailable(why)
        default: return nil
        }
    }

    private static func cell(_ value: ObservedValue?) -> String {
        switch value {
        case .integer(let number)?: number > 0 ? "+\(number)" : String(number)
        case .unavailable?: "n/a"
        case let other?: other.description
        case nil: ""
        }
    }
}

/// What `daxref drive --namespace-steps … --json` writes.
public struct NamespaceStepsReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = NamespaceStepsReport.currentSchemaVersion
    public var kernel: KernelFingerprint
    public var spare: String
    public var steps: [StepResult]
    /// `ndctl list` of the spare before the steps and after them: identical when it was restored.
    public var ndctlListBefore: String
    public var ndctlListAfter: String

    enum CodingKeys: String, CodingKey {
        case schemaVersion, kernel, spare, steps
        case ndctlListBefore = "ndctl_list_before"
        case ndctlListAfter = "ndctl_list_after"
    }

    public init(kernel: KernelFingerprint, spare: String, steps: [StepResult], ndctlListBefore: String, ndctlListAfter: String) {
        self.kernel = kernel
        self.spare = spare
        self.steps = steps
        self.ndctlListBefore = ndctlListBefore
        self.ndctlListAfter = ndctlListAfter
    }
}
