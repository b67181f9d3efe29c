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
            fsdax.xfs.truncate.vmsplice-unmapped (`--list` prints them all). Memory: devdax.4k, \
            devdax.2m, devdax.1g, fsdax.ext4, fsdax.xfs, and the controls anon.private and \
            pagecache.tmpfs, which show ordinary pages under the same workloads.

            WHERE IT RUNS
              In a daxref VM (daxref vm -- run) the guest's provisioning made the memory: every \
            device and DAX mount it made is used. On a machine with real pmem or CXL memory, only \
            what you name is used: --devdax /dev/daxX.Y (repeatable), --fsdax DIR (a directory on \
            ext4/xfs mounted -o dax; daxref creates and removes its scratch files there), --blk PATH \
            (a non-DAX block device or a directory on one, for O_DIRECT). The namespace scenarios \
            (memmap accounting: *.create-namespace.*) reconfigure one namespace and restore it \
            afterwards, only with --allow-reconfigure namespaceX.Y naming it. Devices and namespaces \
            that are mapped, mounted, or online as system-ram are refused. Scenarios whose memory is \
            missing are skipped with the reason.

            THE MODEL
              The kernel's era is detected from its version and from probes (/proc/kallsyms, \
            /proc/vmstat); --era overrides it. `daxref model` prints the expectations without \
            running anything. A mismatch that is a known kernel bug stays a failure, annotated \
            with the finding (see docs/findings.md).

            EXIT STATUS (kselftest)
              0  every scenario that ran passed
              1  a scenario failed (mismatch) or could not be run (error)
              4  nothing ran (everything skipped)
              64 bad usage or a refused device
            """)

    @Option(help: ArgumentHelp("Shell globs over scenario IDs, comma-separated (e.g. 'fsdax.*.truncate.*,devdax.*.iouring*').", valueName: "globs"))
    var scenario: String?

    @Flag(help: "List the selected scenario IDs and exit.")
    var list = false

    @Option(help: ArgumentHelp("Use this era's rules instead of the detected one: pre-6.3, 6.3-6.14, 6.15+.", valueName: "era"))
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

    @Option(help: ArgumentHelp("A non-DAX block device or directory for the O_DIRECT scenarios.", valueName: "path"))
    var blk: String?

    @Option(help: ArgumentHelp("A namespace the namespace scenarios may reconfigure and then restore (hardware mode; it must not be in use).", valueName: "namespaceX.Y"))
    var allowReconfigure: String?

    @Option(help: ArgumentHelp("Seconds per scenario before its helper is killed (or left behind in D state).", valueName: "seconds"))
    var timeout: Double = 120

    @Option(help: ArgumentHelp("Colour in the table: auto (on a terminal), always, never.", valueName: "when"))
    var color: String = "auto"

    func validate() throws {
        if let era, Era.parse(era) == nil { throw ValidationError("--era: unknown era `\(era)`; one of: pre-6.3, 6.3-6.14, 6.15+") }
        if !["auto", "always", "never"].contains(color) { throw ValidationError("--color: auto, always or never") }
        if let scenario, ScenarioCatalogue.select(scenario).isEmpty {
            throw ValidationError("--scenario: no scenario matches `\(scenario)` (see `daxref run --list`)")
        }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let scenarios = ScenarioCatalogue.select(scenario)
        if list {
            for scenario in scenarios { print(scenario.id) }
            return
        }
        let environment = ProcessInfo.processInfo.environment
        let inGuest = environment["DAXREF_GUEST"] == "1"
        let inventory: Inventory?
        do { inventory = try Inventory.read() } catch {
            printError("run: no inventory (\(error)); device memory scenarios will be skipped")
            inventory = nil
        }

        var backings: [Backing] = [.anonymous, .pageCache()]
        var unavailable: [MemoryClass: String] = [:]
        var blockTarget = Drive.blockTarget(environment: environment)
        if !devdax.isEmpty || !fsdax.isEmpty || blk != nil {
            guard let inventory else { throw CLIError("--devdax/--fsdax need the inventory, which could not be read") }
            do {
                let selection = try Selection.select(devdax: devdax, fsdax: fsdax, blk: blk, inventory: inventory)
                backings = selection.backings + backings
                if let target = selection.blockTarget { blockTarget = target }
            } catch {
                printError("run: \(error)")
                throw ExitCode(64)
            }
            for memory in MemoryClass.dax where !backings.contains(where: { $0.id == memory.rawValue }) {
                unavailable[memory] = "not named (--devdax/--fsdax)"
            }
        } else if inGuest, let inventory {
            backings = Drive.availableBackings(inventory)
            for memory in MemoryClass.dax where !backings.contains(where: { $0.id == memory.rawValue }) {
                unavailable[memory] = memory == .devdax1g
                    ? "no 1G-aligned device-dax provisioned (daxref vm --provision ...,devdax1g)"
                    : "not provisioned in this VM (see daxref vm --provision)"
            }
        } else {
            for memory in MemoryClass.dax {
                unavailable[memory] = inventory?.hasDeviceMemory == true
                    ? "hardware mode uses only the memory you name: --devdax /dev/daxX.Y, --fsdax DIR"
                    : "no device memory here; try `daxref vm -- run`"
            }
        }

        // Namespace scenarios reconfigure a namespace: only one the user named, or the VM's disposable spare.
        var spare = allowReconfigure
        var spareMissing = "needs a namespace daxref may reconfigure and restore: --allow-reconfigure namespaceX.Y"
        if spare == nil, inGuest {
            spare = SpareNamespace.fromProvisionedEnvironment(environment)
            if spare == nil { spareMissing = "no spare namespace provisioned in this VM (daxref vm --provision ...,spare)" }
        }
        if let named = allowReconfigure, scenarios.contains(where: { ScenarioCatalogue.namespaceVariant(of: $0) != nil }) {
            do { _ = try NamespaceSteps.run(spare: named, variants: []) } catch {
                printError("run: --allow-reconfigure \(named): \(error)")
                throw ExitCode(64)
            }
        }

        let profile = KernelProfile.detect(eraOverride: era.flatMap(Era.parse))
        printError("run: kernel \(profile.release), era \(profile.era.rawValue) (\(profile.eraSource))")
        for note in profile.notes { printError("run: note: \(note)") }
        let plan = RunPlan(scenarios: scenarios, backings: backings, unavailable: unavailable, blockTarget: blockTarget,
                           profile: profile, stepTimeout: timeout, spareNamespace: spare, spareMissing: spareMissing)
        let runEnvironment = RunEnvironment(kernel: .current(), profile: profile, inventory: inventory, backings: backings,
                                            blockTarget: blockTarget, cpus: ProcessInfo.processInfo.activeProcessorCount,
                                            virtualMachine: inGuest)
        let report = ScenarioRunner.run(plan, environment: runEnvironment, executable: "/proc/self/exe") { result, index, total in
            printError("run: [\(index)/\(total)] \(result.id): \(result.outcome.rawValue)" + (result.outcome == .skip ? "" : " (\(result.checks.count) checks)"))
        }

        let colour = color == "always" || (color == "auto" && isatty(STDOUT_FILENO) != 0)
        print(report.renderTable(colour: colour), terminator: "")
        try write(json, "JSON") { try report.jsonString() + "\n" }
        try write(ktap, "KTAP") { report.renderKTAP() }
        try write(junit, "JUnit") { report.renderJUnit() }
        throw ExitCode(report.exitCode)
    }

    private func write(_ path: String?, _ what: String, _ render: () throws -> String) throws {
        guard let path else { return }
        do { try Data(try render().utf8).write(to: URL(fileURLWithPath: path)) } catch {
            throw CLIError("cannot write the \(what) report to \(path): \(error)")
        }
    }
}
