import ArgumentParser
import DaxrefKit
import Foundation

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Show the device memory this machine (or VM) has.",
        discussion: """
            Lists the kernel (release, command line, the Kconfig options that matter for DAX), \
            nvdimm regions and namespaces (as libndctl sees them), dax devices (libdaxctl), NUMA \
            nodes (libnuma) and mounted filesystems with DAX active (statx STATX_ATTR_DAX).

            --json uses ndctl's key names (dev, mode, map, size, align, chardev, blockdev, \
            target_node) and carries a schemaVersion. Sizes in JSON are bytes.

            With no pmem at all this still succeeds and says how to get emulated pmem.
            """)

    @Flag(help: "Print JSON for machines instead of tables.")
    var json = false

    @Flag(help: "Also run `ndctl list` and `daxctl list` and fail (exit 1) unless they agree with daxref.")
    var verify = false

    @Option(help: ArgumentHelp(
        "With --verify: write inventory.json, ndctl.json and daxctl.json (the raw tool output) into this directory.",
        valueName: "dir"))
    var evidence: String?

    func validate() throws {
        if evidence != nil && !verify { throw ValidationError("--evidence goes with --verify") }
        if let evidence {
            do { _ = try ReportDestination.directory(flag: "--evidence", path: evidence) } catch { throw ValidationError(error.description) }
        }
    }

    func run() throws {
        let inventory: Inventory
        do { inventory = try Inventory.read() } catch {
            throw CLIError("inventory: \(error)")
        }
        if json {
            print(try inventory.jsonString())
        } else {
            print(inventory.humanReport())
        }
        if verify { try crossCheck(inventory) }
    }

    private func crossCheck(_ inventory: Inventory) throws {
        let ndctl = try runTool(CrossCheck.ndctlCommand)
        let daxctl = try runTool(CrossCheck.daxctlCommand)
        if let evidence {
            try FileManager.default.createDirectory(atPath: evidence, withIntermediateDirectories: true)
            for (name, text) in [("inventory.json", try inventory.jsonString()), ("ndctl.json", ndctl), ("daxctl.json", daxctl)] {
                try Data((text + (text.hasSuffix("\n") ? "" : "\n")).utf8).write(to: URL(fileURLWithPath: evidence + "/" + name))
            }
        }
        let check = try CrossCheck(inventory: inventory, ndctlJSON: ndctl, daxctlJSON: daxctl)
        let verdict = check.agrees ? "agrees" : "DISAGREES"
        // On stderr so that --json output stays one JSON document.
        printError("verify: daxref \(verdict) with ndctl/daxctl on \(check.compared) fields "
            + "(\(inventory.regions.count) regions, \(inventory.namespaces.count) namespaces, "
            + "\(inventory.daxDevices.count) dax devices)")
        for disagreement in check.disagreements { printError("  \(disagreement)") }
        if !check.agrees { throw ExitCode.failure }
    }

    private func runTool(_ argv: [String]) throws -> String {
        let output: Subprocess.Output
        do { output = try Subprocess.capture(argv) } catch {
            throw CLIError("\(error) (install the ndctl and daxctl packages, or run scripts/bootstrap.sh)")
        }
        guard output.status == 0 else {
            throw CLIError("`\(argv.joined(separator: " "))` failed (\(output.status)): \(output.stderr)")
        }
        return output.stdout
    }
}
