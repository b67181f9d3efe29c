import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The namespace configurations whose creation `NamespaceSteps` measures. Creating a fsdax or
/// devdax namespace allocates its memmap (struct pages): in RAM with `--map=mem`, on the device with
/// `--map=dev`; with device-dax compound pages (align > 4 KiB) the kernel may deduplicate the
/// memmap's tail pages (reference §5.5, `vmstat.nr_memmap_pages`).
public enum NamespaceVariant: String, CaseIterable, Codable, Sendable {
    case devdax4kMapMem = "devdax.4k.map-mem"
    case devdax2mMapMem = "devdax.2m.map-mem"
    case devdax2mMapDev = "devdax.2m.map-dev"
    case devdax1gMapMem = "devdax.1g.map-mem"
    case fsdax2mMapMem = "fsdax.2m.map-mem"
    case fsdax2mMapDev = "fsdax.2m.map-dev"

    public var target: NamespaceTarget {
        switch self {
        case .devdax4kMapMem: NamespaceTarget(mode: .devdax, align: 4 << 10, map: .mem)
        case .devdax2mMapMem: NamespaceTarget(mode: .devdax, align: 2 << 20, map: .mem)
        case .devdax2mMapDev: NamespaceTarget(mode: .devdax, align: 2 << 20, map: .dev)
        case .devdax1gMapMem: NamespaceTarget(mode: .devdax, align: 1 << 30, map: .mem)
        case .fsdax2mMapMem: NamespaceTarget(mode: .fsdax, align: 2 << 20, map: .mem)
        case .fsdax2mMapDev: NamespaceTarget(mode: .fsdax, align: 2 << 20, map: .dev)
        }
    }

    /// `devdax.4k`, `devdax.2m`, `devdax.1g`, `fsdax.2m`: the first part of the step ID.
    public var backingID: String { target.mode.rawValue + "." + Backing.sizeLabel(Int(target.align)) }
    public var workload: Workload { target.map == .mem ? .createNamespaceMapMem : .createNamespaceMapDev }
    /// `devdax.2m.create-namespace.map-dev`.
    public var stepID: String { backingID + "." + workload.rawValue }
}

/// The keys a create-namespace step records (observers' keys are in `ObservableCatalogue`).
extension StepKeys {
    /// text: the created namespace's mode as ndctl lists it (`devdax`, `fsdax`).
    public static let namespaceMode: ObservableKey = "namespace.mode"
    /// integer bytes: its usable size as ndctl lists it (the dax / pfn device, after the info block
    /// and any `--map=dev` memmap reserve).
    public static let namespaceSize: ObservableKey = "namespace.size"
    /// integer bytes: the capacity the namespace spans (sysfs `size`), which the memmap covers.
    public static let namespaceRawSize: ObservableKey = "namespace.raw_size"
    /// integer bytes: its alignment.
    public static let namespaceAlign: ObservableKey = "namespace.align"
    /// text: where its memmap is, `mem` or `dev`.
    public static let namespaceMap: ObservableKey = "namespace.map"
    /// text: the device it got (`dax0.2`, `pmem0.2`).
    public static let namespaceDevice: ObservableKey = "namespace.device"
    /// integer: ndctl's exit status (128 + signal if killed, -1 if it never ended): the step's errno.
    public static let ndctlExit: ObservableKey = "ndctl.exit"
    /// text: what ndctl printed on stderr, when it failed.
    public static let ndctlStderr: ObservableKey = "ndctl.stderr"
    /// integer ms: how long the create-namespace run took.
    public static let ndctlDuration: ObservableKey = "ndctl.duration.ms"
    /// text: `ndctl list --verbose` of the created namespace, as printed (evidence for namespace.*).
    public static let ndctlList: ObservableKey = "ndctl.list"
}

/// Reconfigures an opted-in spare namespace into each `NamespaceVariant` and records what creating
/// it did to memory: checkpoints `before` (the spare as it was), `created`, and `restored`, each with
/// /proc/vmstat (refreshed), /proc/meminfo, the namespace's sysfs attributes and the kernel log.
public enum NamespaceSteps {
    /// Runs `variants` on `spare` (a namespace the user allowed daxref to reconfigure), restoring it
    /// after each one, so it ends as it started. Throws before touching anything when the spare does
    /// not exist or is in use; once running, problems become step results. A spare that cannot be
    /// taken or restored stops the run: the remaining variants are skipped with that reason.
    public static func run(
        spare: String, variants: [NamespaceVariant] = NamespaceVariant.allCases,
        host: any NamespaceHost = SystemNamespaceHost(), timeout: Double = NamespaceReconfiguration.defaultTimeout,
        progress: (StepResult) -> Void = { _ in }
    ) throws(ReconfigureError) -> [StepResult] {
        let original = try NamespaceReconfiguration(namespace: spare, host: host, timeout: timeout).original
        var results: [StepResult] = []
        var stopReason: String?
        for variant in variants {
            let result: StepResult
            if let stopReason {
                result = StepResult(id: variant.stepID, backing: variant.backingID, workload: variant.workload, status: .skipped, reason: stopReason)
            } else if let reason = skipReason(variant, on: original) {
                result = StepResult(id: variant.stepID, backing: variant.backingID, workload: variant.workload, status: .skipped, reason: reason)
            } else {
                let (step, stop) = runOne(variant, spare: spare, host: host, timeout: timeout)
                result = step
                stopReason = stop
            }
            results.append(result)
            progress(result)
        }
        return results
    }

    /// Why `variant` cannot be made from `spare`, or nil. Only the geometry is checked here; what the
    /// kernel refuses is an observation (`ndctl.exit`).
    static func skipReason(_ variant: NamespaceVariant, on spare: NamespaceConfiguration) -> String? {
        let align = variant.target.align
        if let problem = variant.target.problem(on: spare) { return problem }
        guard align > UInt64(Backing.pmdSize) else { return nil }
        guard let resource = spare.resource else { return "\(spare.dev) has no readable physical start (sysfs resource)" }
        if NamespaceGeometry.wholePages(resource: resource, size: spare.rawSize, align: align) == 0 {
            return "\(spare.dev) (\(spare.rawSize >> 20) MiB at 0x\(String(resource, radix: 16))) holds no whole \(Backing.sizeLabel(Int(align))) page after its 8 KiB info block; give it ≥ 1 GiB + 1 GiB of margin"
        }
        return nil
    }

    /// One variant: before → reconfigure → created → restore → restored. Returns the step and, when
    /// the spare must not be touched again (it could not be taken or restored), why.
    static func runOne(_ variant: NamespaceVariant, spare: String, host: any NamespaceHost, timeout: Double) -> (StepResult, String?) {
        let started = ContinuousClock.now
        var result = StepResult(id: variant.stepID, backing: variant.backingID, workload: variant.workload, status: .completed)
        let kernelLog = try? KernelLogCursor()
        func checkpoint(_ name: String) {
            let target = SnapshotTarget(pid: getpid(), namespace: spare)
            let options = SnapshotOptions(sources: [.vmstat, .meminfo, .sysfs])
            let snapshot: Snapshot
            switch kernelLog {
            case .some(let cursor): snapshot = Snapshot.take(target, options: options, kernelLog: cursor)
            case .none: snapshot = Snapshot.take(target, options: options)
            }
            result.checkpoints.append(Checkpoint(name: name, atMilliseconds: StepLog.milliseconds(ContinuousClock.now - started), observations: snapshot.observations))
        }
        func finish() { result.observations[StepKeys.stepDuration] = .integer(StepLog.milliseconds(ContinuousClock.now - started)) }

        var owner: NamespaceReconfiguration
        do { owner = try NamespaceReconfiguration(namespace: spare, host: host, timeout: timeout) } catch {
            result.status = .error
            result.reason = error.description
            finish()
            return (result, "\(spare) became unusable before \(variant.stepID): \(error)")
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
        checkpoint("before")
        do {
            let outcome = try owner.apply(variant.target)
            record(outcome, into: &result)
            let created = owner.current
            result.observations[StepKeys.ndctlList] = .text(owner.currentListing.trimmingWhitespace())
            result.observations[StepKeys.namespaceMode] = .text(created.mode.rawValue)
            result.observations[StepKeys.namespaceSize] = .integer(Int64(created.size))
            result.observations[StepKeys.namespaceRawSize] = .integer(Int64(created.rawSize))
            result.observations[StepKeys.namespaceAlign] = created.align.map { .integer(Int64($0)) } ?? .unavailable("ndctl listed no align")
            result.observations[StepKeys.namespaceMap] = created.map.map { .text($0.rawValue) } ?? .unavailable("ndctl listed no map")
            result.observations[StepKeys.namespaceDevice] = (created.chardev ?? created.blockdev).map(ObservedValue.text)
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
        checkpoint("created")
        var restoreFailure: String?
        do { try owner.restore() } catch { restoreFailure = error.description }
        _ = consume onSignal
        checkpoint("restored")
        if let restoreFailure {
            result.status = .error
            result.reason = [result.reason, "restoring \(spare) failed: \(restoreFailure)"].compactMap { $0 }.joined(separator: "; ")
        }
        finish()
        return (result, restoreFailure.map { "\(spare) could not be restored after \(variant.stepID): \($0)" })
    }

    static func record(_ outcome: NdctlOutcome, into result: inout StepResult) {
        result.observations[StepKeys.ndctlExit] = .integer(outcome.exitCode)
        result.observations[StepKeys.ndctlDuration] = .integer(outcome.milliseconds)
        if !outcome.succeeded {
            result.observations[StepKeys.ndctlStderr] = .text(outcome.stderr.trimmingWhitespace())
            if outcome.timedOut {
                result.observations[StepKeys.stepTimedOut] = .flag(true)
                if let wait = outcome.wait {
                    result.observations[StepKeys.taskWchan] = .text(wait.wchan)
                    result.observations[StepKeys.taskState] = .text(wait.state)
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
            if case .integer(let exit)? = o[StepKeys.ndctlExit] {
                ndctl = exit == 0 ? "ok" : "exit \(exit)"
                if case .integer(let ms)? = o[StepKeys.ndctlDuration] { ndctl += " \(ms)ms" }
            }
            var created = ""
            if case .integer(let size)? = o[StepKeys.namespaceSize], case .integer(let raw)? = o[StepKeys.namespaceRawSize] {
                created = "\(humanBytes(UInt64(size))) of \(humanBytes(UInt64(raw)))"
            }
            let memmap = delta(step, "vmstat.nr_memmap_pages", from: "before", to: "created")
            var perGiB = ""
            if case .integer(let pages)? = memmap, case .integer(let raw)? = o[StepKeys.namespaceRawSize], raw > 0 {
                let tenths = (pages * 10 << 30) / raw
                perGiB = "\(tenths / 10).\(abs(tenths % 10))"
            }
            table.rows.append([
                step.id, step.status.rawValue + (step.status == .completed ? "" : step.reason.map { ": \($0)" } ?? ""), ndctl, created,
                cell(memmap), perGiB, cell(delta(step, "meminfo.MemFree", from: "before", to: "created")),
                cell(delta(step, "vmstat.nr_memmap_pages", from: "before", to: "restored")),
            ])
        }
        return table.render()
    }

    /// `key` at checkpoint `to` minus at `from`, or why there is none.
    static func delta(_ step: StepResult, _ key: ObservableKey, from: String, to: String) -> ObservedValue? {
        func value(_ name: String) -> ObservedValue? { step.checkpoints.first { $0.name == name }?.observations[key] }
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
