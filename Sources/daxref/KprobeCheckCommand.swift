import ArgumentParser
import DaxrefKit
import Foundation

/// Hidden: an end-to-end check of the kprobe refcount observer (developers; used to record the
/// parser fixtures). Prints a JSON report on stdout.
struct KprobeCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kprobe-check",
        abstract: "Trace the _refcount of one DAX page through map, fault, pin, vmsplice and munmap.",
        discussion: """
            Installs tracefs kprobes (group daxref_<pid>, private trace instance) at the \
            refcount-relevant functions this kernel has, maps the device or file, and prints the \
            refcount timeline of its first page as JSON. Every probe is removed at the end (also on \
            errors and signals); the report lists any daxref probe still present, which must be none.

            In a daxref VM the provisioned devices are the defaults (DAXREF_DEVDAX_4K, \
            DAXREF_BLK_DEV); pass --devdax and/or --fsdax to choose.

            EXIT STATUS: 0 checked, 1 a probe was left installed or a target failed, 4 kprobes \
            unavailable (not root, no tracefs, no CONFIG_KPROBE_EVENTS).
            """,
        shouldDisplay: false)

    @Option(help: ArgumentHelp("A device-dax character device.", valueName: "/dev/daxX.Y"))
    var devdax: String?

    @Option(help: ArgumentHelp("A new file on a filesystem mounted -o dax (created, made 2 MiB long, removed afterwards).", valueName: "file"))
    var fsdax: String?

    @Option(help: ArgumentHelp("A file or block device on non-DAX storage for the O_DIRECT step.", valueName: "path"))
    var directIO: String?

    @Option(help: ArgumentHelp("Also write the JSON report to this file.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write each target's raw trace text to DIR/<release>-<kind>-<device or fs>.trace (parser fixtures).", valueName: "dir"))
    var rawTrace: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var devdax = self.devdax
        if devdax == nil, fsdax == nil { devdax = environment["DAXREF_DEVDAX_4K"] }
        guard devdax != nil || fsdax != nil else {
            throw ValidationError("give --devdax /dev/daxX.Y and/or --fsdax FILE")
        }
        // The same device policy as `run`: a device-dax device nobody maps, and a file of our own.
        if let devdax {
            do {
                let inventory = try Inventory.read()
                _ = try Selection.select(devdax: [devdax], inventory: inventory)
            } catch {
                printError("kprobe-check: \(error)")
                throw ExitCode(64)
            }
        }
        if let fsdax, FileManager.default.fileExists(atPath: fsdax) {
            printError("kprobe-check: --fsdax \(fsdax) exists; name a new file (daxref writes into it, then removes it)")
            throw ExitCode(64)
        }
        let report = KprobeCheck.run(.init(
            deviceDax: devdax, fsdaxFile: fsdax, directIOSource: directIO ?? environment["DAXREF_BLK_DEV"],
            rawTraceDirectory: rawTrace))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(report), as: UTF8.self)
        print(text)
        if let json { try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: json)) }

        guard report.available else {
            printError("kprobe-check: skipped: \(report.unavailableReason ?? "kprobes unavailable")")
            throw ExitCode(4)
        }
        var failed = false
        if !report.daxrefProbesRemaining.isEmpty {
            printError("kprobe-check: daxref probes still installed:\n  " + report.daxrefProbesRemaining.joined(separator: "\n  "))
            failed = true
        }
        for target in report.targets {
            if let error = target.error {
                printError("kprobe-check: \(target.kind) \(target.path): \(error)")
                failed = true
            } else {
                printError("kprobe-check: \(target.kind) \(target.path) pfn \(target.pfn ?? "?"): refcount timeline \(target.timeline)")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
