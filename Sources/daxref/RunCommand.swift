import ArgumentParser
import DaxrefKit
import Foundation

/// `daxref run`: the scenario suite. Each scenario runs its workload in a helper process, and the
/// model says what this kernel's era must show; every check is a match, a mismatch (with the rule
/// and its citation), a skip (with the reason) or an error.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the scenario suite and compare what the kernel shows with the refcount model.",
        discussion: """
            Scenario IDs are <memory>.<workload>, e.g. devdax.2m.iouring-register or \
            fsdax.xfs.truncate.vmsplice-unmapped (`--list` prints them all). Memory: \
            \(MemoryFixture.dax.map(\.rawValue).joined(separator: ", ")), and the controls \
            \(MemoryFixture.controls.map(\.rawValue).joined(separator: " and ")), which show ordinary pages under the \
            same workloads.

            WHERE IT RUNS
              daxref run needs root (pagemap PFNs, kpageflags, tracefs); as another user it \
            runs nothing and exits 4. In a daxref VM (daxref vm -- run) the guest's provisioning made the memory: every \
            device and DAX mount it made is used. On a machine with real pmem or CXL memory, only \
            what you name is used: --devdax /dev/daxX.Y (repeatable), --fsdax DIR (a directory on \
            ext4/xfs mounted -o dax; daxref creates and removes its scratch files there), --blk PATH \
            (a non-DAX block device or a directory on one, for O_DIRECT; DAXREF_BLK=PATH is the \
            same). A block device is overwritten from offset 0, so it needs --allow-overwrite \
            naming it, and it is refused whatever you allow if it is in use or carries a file \
            system, partition table, LVM, RAID or swap signature (see docs/safety.md). The namespace scenarios \
            (memmap accounting: *.create-namespace.*) reconfigure one namespace and restore it \
            afterwards, only with --allow-reconfigure namespaceX.Y naming it. Devices and namespaces \
            that are mapped, mounted, or online as system-ram are refused. Scenarios whose memory is \
            missing are skipped with the reason.

            THE MODEL
              The kernel's era is detected from its version and from probes (/proc/kallsyms, \
            /proc/vmstat); --era overrides it. `daxref model` prints the expectations without \
            running anything. A mismatch that is a known kernel bug stays a failure, annotated \
            with the finding (see docs/findings.md).

            REPORTS
              --json, --ktap and --junit take a file, or - for standard output (the table then \
            goes to standard error). Each is checked before the first scenario and replaced \
            atomically at the end. While the run goes, --json F also has F.partial beside it: \
            one JSON line per scenario as it is judged. A run cut short (a signal, SIGKILL, a \
            guest panic) leaves F.partial with every scenario it measured (and, after a signal, \
            F itself, saying where it stopped); `daxref diff` reads either.

            EXIT STATUS (kselftest)
              0  every scenario that ran passed
              1  a scenario failed (mismatch) or could not be run (error), or the run stopped early
              4  nothing ran (everything skipped, or not root)
              64 bad usage or a refused device (nothing was run or written)
              74 a report could not be written at the end (F.partial keeps the results)
            """)

    @Option(help: ArgumentHelp("Shell globs over scenario IDs, comma-separated (e.g. 'fsdax.*.truncate.*,devdax.*.iouring*').", valueName: "globs"))
    var scenario: String?

    @Flag(help: "List the selected scenario IDs and exit.")
    var list = false

    @Option(help: ArgumentHelp("Use this era's rules instead of the detected one: \(Era.names).", valueName: "era"))
    var era: String?

    @Option(help: ArgumentHelp("Write the full report as JSON here.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write KTAP (kselftest's format) here.", valueName: "file"))
    var ktap: String?

    @Option(help: ArgumentHelp("Write JUnit XML here.", valueName: "file"))
    var junit: String?

    @Option(help: ArgumentHelp("A device-dax device to use (hardware mode; repeatable).", valueName: "path"))
    var devdax: [String] = []

    @Option(help: ArgumentHelp("A directory on an ext4/xfs -o dax mount to use (hardware mode; repeatable).", valueName: "dir"))
    var fsdax: [String] = []

    @Option(help: ArgumentHelp("A non-DAX block device or directory for the O_DIRECT scenarios (a device is overwritten: see --allow-overwrite).", valueName: "path"))
    var blk: String?

    @Option(help: ArgumentHelp("The block device --blk (or DAXREF_BLK) names, which the O_DIRECT scenarios may overwrite from offset 0.", valueName: "device"))
    var allowOverwrite: [String] = []

    @Option(help: ArgumentHelp("A namespace the namespace scenarios may reconfigure and then restore (hardware mode; it must not be in use).", valueName: "namespaceX.Y"))
    var allowReconfigure: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds per scenario before its helper is killed (or left behind in D state).", valueName: "seconds"),
            transform: seconds)
    var timeout: Double = 120

    @Option(help: ArgumentHelp("Colour in the table: auto (on a terminal), always, never.", valueName: "when"))
    var color: String = "auto"

    @Option(help: .hidden)
    var testKillAt: String?

    /// Fault injection: crash the guest kernel once this many scenarios are judged (in a daxref VM only).
    @Option(help: .hidden)
    var testPanicAfter: Int?

    func validate() throws {
        // First: as another user, every other check would only hide that nothing can run.
        if !list, geteuid() != 0 {
            printError("run: daxref run needs root (it reads pagemap PFNs, kpageflags and tracefs, and maps device memory); nothing ran")
            throw ExitCode(4)
        }
        if let era, Era.parse(era) == nil { throw ValidationError("--era: unknown era `\(era)`; one of: \(Era.names)") }
        if !["auto", "always", "never"].contains(color) { throw ValidationError("--color: auto, always or never") }
        try checkScenarioGlobs(scenario)
        for name in (testKillAt ?? "").split(separator: ",") where CheckpointName(rawValue: String(name)) == nil {
            throw ValidationError("--test-kill-at: no checkpoint `\(name)`; one of: \(CheckpointName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let allowReconfigure, !NamespaceReconfiguration.isNamespaceName(allowReconfigure) {
            throw ValidationError("--allow-reconfigure: `\(allowReconfigure)` is not a namespace name (namespaceX.Y, as `ndctl list -N` shows)")
        }
        if !allowOverwrite.isEmpty, blk == nil, (ProcessInfo.processInfo.environment["DAXREF_BLK"] ?? "").isEmpty {
            throw ValidationError("--allow-overwrite names a device for --blk (or DAXREF_BLK), and neither is given")
        }
        _ = try reportDestinations()
    }

    /// The report flags as given.
    var reportRequests: [(flag: String, path: String?)] { [("--json", json), ("--ktap", ktap), ("--junit", junit)] }

    /// --json/--ktap/--junit, each checked to be writable and distinct; the error exits 64.
    private func reportDestinations() throws -> [ReportDestination] {
        try checkedDestinations(reportRequests)
    }

    func run() throws {
        let scenarios = ScenarioCatalogue.select(scenario)
        if list {
            for scenario in scenarios { print(scenario.id) }
            return
        }
        if let testKillAt { setenv(FaultInjection.killAtVariable, testKillAt, 1) }  // helpers inherit it
        let destinations = try reportDestinations()
        let inventory: Inventory?
        do { inventory = try Inventory.read() } catch {
            printError("run: no inventory (\(error)); device memory scenarios will be skipped")
            inventory = nil
        }
        var plan: StepPlan
        do {
            plan = try StepPlan.forRun(
                MemoryRequest(devdax: devdax, fsdax: fsdax, blk: blk, allowOverwrite: allowOverwrite, allowReconfigure: allowReconfigure),
                environment: ProcessInfo.processInfo.environment, inventory: inventory,
                checkSpare: scenarios.contains { $0.namespaceTarget != nil })
        } catch .noInventory {
            throw CLIError(PlanError.noInventory.description)
        } catch {
            printError("run: \(error)")
            throw ExitCode(64)
        }
        plan.stepTimeout = timeout

        let profile = KernelProfile.detect(eraOverride: era.flatMap(Era.parse))
        printError("run: kernel \(profile.release), era \(profile.era.rawValue) (\(profile.eraSource))")
        for note in profile.notes { printError("run: note: \(note)") }
        let runEnvironment = RunEnvironment(kernel: .current(), profile: profile, inventory: inventory, backings: plan.backings,
                                            blockTarget: plan.blockTarget, cpus: ProcessInfo.processInfo.activeProcessorCount,
                                            virtualMachine: ProcessInfo.processInfo.environment["DAXREF_GUEST"] == "1")
        // Every judged scenario goes to the stream as it comes, for a run that does not finish.
        let recorder = RunRecorder(environment: runEnvironment, selected: scenarios.map(\.id), destinations: destinations) {
            printError("run: " + $0)
        }
        // Registered before any helper starts, so on a signal it runs last: helpers are gone and
        // their files swept when the reports say where the run stopped.
        let reports = CleanupOwner.shared.register("the run's reports") {
            recorder.stop(reason: CleanupOwner.shared.terminatingSignal.map(CleanupOwner.name(of:)) ?? "a signal")
        }
        let report = ScenarioRunner.run(scenarios, plan: plan, profile: profile, environment: runEnvironment, executable: "/proc/self/exe") {
            result, index, total in
            printError("run: [\(index)/\(total)] \(result.id): \(result.outcome.rawValue)" + (result.outcome == .skip ? "" : " (\(result.checks.count) checks)"))
            recorder.record(result)
            if index == testPanicAfter {
                do { try TestHooks.panicGuest() } catch { printError("run: --test-panic-after: \(error)") }
            }
        }

        // With a report on standard output, the table goes to standard error.
        let tableToStandardError = destinations.contains(where: \.isStandardOutput)
        let colour = color == "always" || (color == "auto" && isatty(tableToStandardError ? STDERR_FILENO : STDOUT_FILENO) != 0)
        if tableToStandardError { printError(report.renderTable(colour: colour), terminator: "") } else { print(report.renderTable(colour: colour), terminator: "") }
        let unwritten = recorder.finish(report)
        reports.end()
        if !unwritten.isEmpty { throw ExitCode(74) }
        throw ExitCode(report.exitCode)
    }
}
