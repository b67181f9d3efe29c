import ArgumentParser
import DaxrefKit

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what changed between two `daxref run --json` reports (say, one kernel against another).",
        discussion: """
            Prints each side's kernel and era, then: scenarios whose outcome changed (A → B), \
            checks whose verdict or observed value changed (matched by rule ID within a scenario), \
            scenarios only one report has, the known findings each side showed, and how each \
            hypothesis came out on each side.

              daxref vm --kernel 6.1 -- run --json run-6.1.json
              daxref vm --kernel 7.2 -- run --json run-7.2.json
              daxref diff run-6.1.json run-7.2.json

            --json prints the same as one JSON object (the sides, changed, onlyInA, onlyInB, \
            unchanged, findings, hypotheses).

            EXIT STATUS
              0   no scenario both reports ran changed its outcome (checks may differ)
              1   some scenario both ran changed its outcome (scenarios only one
                  report has do not count)
              2   bad input: a file that cannot be read, is not a run report, or
                  has another schemaVersion
              64  bad usage (a missing argument)
            """)

    @Argument(help: ArgumentHelp("The first run report (A).", valueName: "A.json"))
    var first: String

    @Argument(help: ArgumentHelp("The second run report (B).", valueName: "B.json"))
    var second: String

    @Flag(help: "Print the diff as JSON instead of tables.")
    var json = false

    func run() throws {
        let reports: (RunReport, RunReport)
        do { reports = (try RunReport.load(path: first), try RunReport.load(path: second)) } catch {
            printError("Error: \(error)")
            throw ExitCode(2)
        }
        let diff = RunDiff(reports.0, reports.1, sources: (first, second))
        print(json ? try diff.jsonString() : diff.render(), terminator: json ? "\n" : "")
        if diff.outcomesChanged { throw ExitCode.failure }
    }
}
