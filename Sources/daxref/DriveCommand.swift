import ArgumentParser
import DaxrefKit
import Foundation

/// `daxref drive`: runs the workloads on the provisioned memory and reports what the kernel did
/// and showed. Hidden: the scenario runner (`daxref run`) is the user-facing way; this is the driver
/// underneath, kept runnable for debugging one workload on one backing.
struct DriveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drive",
        abstract: "Run DAX workloads on every provisioned backing and record what was observed (no verdicts).",
        discussion: """
            Backings come from the inventory (the first devdax device of each align; ext4/xfs mounted \
            -o dax) plus two controls: private anonymous memory and a tmpfs file. O_DIRECT goes to \
            DAXREF_BLK (a block device or a directory on a non-DAX filesystem), else to what VM \
            provisioning wrote in $DAXREF_RUN_DIR/provisioned.env (DAXREF_BLK_MNT, DAXREF_BLK_DEV).

            Each step runs in a helper process (this binary again) with a deadline, so a SIGBUS, a \
            hang, or a task stuck in D state costs one step, not the run. Step IDs are \
            <backing>.<workload>, e.g. devdax.2m.iouring-register, fsdax.xfs.truncate.vmsplice.

            refcount-timeline installs tracefs kprobes (root, CONFIG_KPROBE_EVENTS; skipped without) \
            and records the first page's real _refcount at each moment as kprobe.refcount.<moment>; \
            every probe is removed at the end, also when the helper is killed.

            EXIT STATUS
              0  every step ran (or was skipped as not applicable)
              1  a step could not be set up, crashed its helper, or timed out
              4  nothing to run (no step selected)
            """,
        shouldDisplay: false)

    @Option(
        name: .customLong("backing"),
        help: ArgumentHelp(
            "\((Drive.backingNames + ["all"]).joined(separator: ", ")) (repeatable, or comma-separated).",
            valueName: "name"))
    var backings: [String] = []

    @Option(help: ArgumentHelp("Shell globs, comma-separated, over workload names or full step IDs (e.g. 'truncate.*,iouring*', 'fsdax.*').", valueName: "globs"))
    var workload = "*"

    @Option(help: ArgumentHelp("Write the full report (observations, checkpoints, task samples) as JSON here.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Mapping length per step in bytes (rounded up to the backing's alignment).", valueName: "bytes"))
    var length = StepRequest.defaultLength

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds per step before its helper is killed (or left behind if it cannot be).", valueName: "seconds"),
            transform: seconds)
    var timeout: Double = 120

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a truncate/punch/unlink/close may take before it counts as blocked.", valueName: "seconds"),
            transform: seconds)
    var blockWait: Double = 1

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a blocked call after each release (pipe drain, munmap).", valueName: "seconds"),
            transform: seconds)
    var releaseWait: Double = 5

    @Flag(help: "Keep per-page lists (PFNs, kpagecount, kpageflags) in the JSON checkpoints, however long.")
    var perPage = false

    @Option(help: ArgumentHelp(
        "Write each refcount-timeline step's raw kprobe trace to DIR/<release>-timeline-<backing>.trace (parser fixtures).",
        valueName: "dir", visibility: .hidden))
    var kprobeTrace: String?

    @Option(help: .hidden)
    var runStep: String?

    /// The create-namespace memmap steps on a spare namespace (NamespaceStepsEntry.swift).
    @Option(help: .hidden)
    var namespaceSteps: String?

    func validate() throws {
        guard runStep == nil else { return }
        if length < systemPageSize { throw ValidationError("--length: at least one page (\(systemPageSize) bytes)") }
        if let namespaceSteps, namespaceSteps != "provisioned", !NamespaceReconfiguration.isNamespaceName(namespaceSteps) {
            throw ValidationError("--namespace-steps: `\(namespaceSteps)` is not a namespace name (namespaceX.Y, as `ndctl list -N` shows) or `provisioned`")
        }
        _ = try checkedDestinations([("--json", json)])
    }

    func run() throws {
        if let namespaceSteps { return try runNamespaceSteps(namespaceSteps) }
        if let runStep {
            let request: StepRequest
            do { request = try JSONDecoder().decode(StepRequest.self, from: Data(runStep.utf8)) } catch {
                throw CLIError("--run-step: not a step request: \(error)")
            }
            StepRunner.runInHelper(request, deliver: StepRunner.emit)
            return
        }

        if let kprobeTrace {
            // Helpers inherit the environment; the step itself writes its trace.
            setenv(TimelineWorkload.traceDirectoryVariable, kprobeTrace, 1)
        }
        let inventory: Inventory
        do { inventory = try Inventory.read() } catch { throw CLIError("inventory: \(error)") }
        let selection: (backings: [Backing], missing: [MemoryFixture])
        do { selection = try Drive.select(backings, from: Drive.availableBackings(inventory)) } catch {
            throw ValidationError(error.description)
        }
        let blockTarget: BlockTarget?
        do { blockTarget = try Selection.blockTarget(environment: ProcessInfo.processInfo.environment, minimumBytes: length) } catch {
            printError("drive: \(error)")
            throw ExitCode(64)
        }
        let plan = StepPlan(
            backings: selection.backings,
            unavailable: Dictionary(uniqueKeysWithValues: selection.missing.map { ($0, "not provisioned here (see `daxref inventory`)") }),
            blockTarget: blockTarget, length: length, stepTimeout: timeout, blockWait: blockWait, releaseWait: releaseWait,
            perPageLists: perPage)
        let scenarios = Drive.scenarios(on: selection.missing + selection.backings.map(\.fixture), matching: workload)
        if scenarios.isEmpty {
            printError("drive: no step matches --workload \(workload) on \(plan.backings.map(\.id).joined(separator: ", "))")
            throw ExitCode(4)
        }
        let report = Drive.run(scenarios, plan: plan, executable: "/proc/self/exe") { step in
            printError("drive: \(step.id): \(step.status.rawValue)" + (step.reason.map { " (\($0))" } ?? ""))
        }
        print(report.renderTable())
        if let json {
            do { try Data((try report.jsonString() + "\n").utf8).write(to: URL(fileURLWithPath: json)) } catch {
                throw CLIError("cannot write \(json): \(error)")
            }
        }
        if report.steps.contains(where: { [.error, .crashed, .timedOut].contains($0.status) }) { throw ExitCode.failure }
    }
}
