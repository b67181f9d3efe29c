import ArgumentParser
import DaxrefKit
import Foundation

/// `daxref model`: what the model expects, per scenario, without running anything.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Print the refcount model's expectations per scenario, without running anything.",
        discussion: """
            With --era, the expectations of that era's typical kernel: rules that depend on a change \
            whose release the model does not know for the whole era are shown as undetermined. \
            Without --era, the running kernel is probed as `daxref run` would (version, \
            /proc/kallsyms, /proc/vmstat).

            Each line: rule ID, where it is observed (key@checkpoint, or key.delta between two \
            checkpoints), the expectation in terms of the step (length, mappings), and the kernel \
            source it comes from. `--changes` lists the kernel changes the rules depend on.
            """)

    @Option(help: ArgumentHelp("\(Era.names) (default: the running kernel's).", valueName: "era"))
    var era: String?

    @Option(help: ArgumentHelp("Shell globs over scenario IDs, comma-separated.", valueName: "globs"))
    var scenario: String?

    @Flag(help: "Print the expectations as JSON.")
    var json = false

    @Flag(help: "List the kernel changes the rules depend on, with how each is detected.")
    var changes = false

    func validate() throws {
        if let era, Era.parse(era) == nil { throw ValidationError("--era: unknown era `\(era)`; one of: \(Era.names)") }
        try checkScenarioGlobs(scenario)
    }

    func run() throws {
        let profile = era.flatMap(Era.parse).map(KernelProfile.typical) ?? KernelProfile.detect()
        if changes {
            var table = TextTable("change", "first release", "detected by", "here", "citation")
            for change in KernelChange.catalogue {
                let here = profile.changes[change.id].map { $0 ? "present" : "absent" } ?? "unknown"
                table.add(change.id, change.firstRelease?.description ?? "unknown", change.probe.description, here, change.citation.description)
            }
            print(table.render())
            return
        }
        let expectations = ModelExpectations(profile: profile, scenarios: ScenarioCatalogue.select(scenario))
        if json {
            print(try expectations.jsonString())
        } else {
            print(expectations.renderText(), terminator: "")
        }
    }
}
