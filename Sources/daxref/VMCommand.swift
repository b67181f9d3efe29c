import ArgumentParser
import DaxrefKit
import Foundation

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Boot a kernel with emulated pmem under QEMU and run daxref inside it.",
        discussion: """
            The guest runs this same daxref binary: the host's root is its read-only root (9p with a \
            tmpfs overlay), and the current directory is shared writable at the same path, so \
            `--json out.json` inside appears as out.json here. The guest command's stdout and \
            stderr are streamed to yours; progress goes to stderr on a terminal.

            KERNEL SPEC
              6.1, 6.12, 7.2 …    newest Debian kernel of that series (bookworm, backports, trixie, sid)
              6.1.158-1           an exact Debian package version
              PATH/bzImage        your own build; add --modules DIR for its modules
                                  (DIR = lib/modules/<release> or an INSTALL_MOD_PATH root)
            Debian kernels are downloaded with apt (a private apt state, the archive from your apt \
            sources) into ${XDG_CACHE_HOME:-~/.cache}/daxref and reused.

            Before the command, the guest provisions pmem: devdax at 4K and 2M, fsdax with ext4 \
            and xfs mounted -o dax (under /mnt/daxref), a spare raw namespace the guest command may \
            reconfigure (DAXREF_SPARE_NAMESPACE), and a non-DAX block device (--provision).

            EXIT STATUS
              the guest command's own status (daxref: 0 pass, 1 fail, 4 skip), or
              64  bad usage: an option value, or a kernel spec that is empty, unknown
                  or not a bzImage (all specs are resolved before the first boot)
              80  the host side failed: kernel fetch, initramfs, QEMU not found or
                  refusing to start (its message is printed), the binary or
                  scripts/vm not visible to the guest, or QEMU ended by a signal
              81  the guest did not boot (after retries)
              82  the guest kernel panicked, oopsed or hit a BUG (console excerpt)
              83  timeout: the guest hung; QEMU was killed (the kernel's first
                  lockup, RCU stall or hung-task report is printed)
              After 82 or 83 under `run --json F`, F (and --ktap/--junit) are
              written from the stream the guest left, saying where it stopped.
              84  the guest booted but could not set up for the command
                  (provisioning failed, a share did not mount): it did not run
              128+N  daxref was ended by signal N (SIGINT, SIGTERM, SIGHUP) after
                  ending QEMU and removing the run directory and its /dev/shm
                  pmem backing (docs/safety.md)
            With --matrix: 0 if every kernel returned 0, else the first failure's status.

            The guest sees the host's root, except /tmp, /run, /mnt and /dev/shm (its own tmpfs) and \
            /proc, /sys, /dev: a daxref binary or scripts/vm under the first four is shared into the \
            guest read-only (it must be in a directory of its own there); under the last three it is \
            refused (80).

            EXAMPLES
              daxref vm --kernel 6.1 -- inventory --verify
              daxref vm --matrix 6.1,7.2 -- inventory --json
              daxref vm --kernel ~/linux/arch/x86/boot/bzImage --modules /tmp/mods -- inventory
            """)

    @Option(help: ArgumentHelp("Kernel to boot (see KERNEL SPEC).", valueName: "spec"))
    var kernel: String?

    @Option(help: ArgumentHelp("Comma-separated kernel specs: run the same command on each.", valueName: "specs"))
    var matrix: String?

    @Option(help: ArgumentHelp("Modules of an own-built kernel.", valueName: "dir"))
    var modules: String?

    @Option(help: "Emulated pmem: nvdimm (QEMU NVDIMM with labels, ACPI NFIT) or e820 (memmap=).")
    var pmem: PmemOrigin = .nvdimm

    @Option(help: ArgumentHelp(
        "What to provision before the command, comma-separated: devdax4k, devdax2m, devdax1g (needs room), spare (raw namespace to reconfigure), ext4, xfs (fsdax mounted -o dax), blk (non-DAX virtio disk), blkfs (ext4 on it), btt; or none.",
        valueName: "list"))
    var provision = "devdax4k,devdax2m,spare,ext4,xfs,blk"

    @Option(help: "Accelerator: auto (KVM only once a boot proved it works, else TCG), tcg, kvm.")
    var accel: VMRunner.Accel = .auto

    @Option(help: ArgumentHelp("QEMU CPU model (default: one every supported series boots under TCG).", valueName: "model"))
    var cpu: String?

    @Option(help: ArgumentHelp("Guest RAM in MiB (1024 up to this host's RAM).", valueName: "mib"))
    var memory = 4096

    // The whole scenario suite runs in one boot; under TCG on a busy 2-core host it has taken 15 min.
    // Hangs inside a scenario are bounded by `run` itself; this limit is the last resort.
    @Option(parsing: .unconditional, help: ArgumentHelp("Wall-clock limit per boot, seconds (up to a week); QEMU is killed after it.", valueName: "seconds"),
            transform: seconds)
    var timeout: Double = 2400

    @Option(help: ArgumentHelp(
        "Extra host directory shared writable at the same path (repeatable). Report paths given to the guest command (--json/--ktap/--junit F, --evidence DIR) are shared automatically.",
        valueName: "dir"))
    var share: [String] = []

    @Option(help: ArgumentHelp("Keep the guest's serial console in this file.", valueName: "file"))
    var consoleLog: String?

    @Flag(help: "No progress output, even on a terminal.")
    var quiet = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The daxref command to run in the guest (after --).", valueName: "daxref-arguments"))
    var command: [String] = []

    func validate() throws {
        guard (kernel == nil) != (matrix == nil) else {
            throw ValidationError("give exactly one of --kernel SPEC or --matrix SPEC,SPEC…")
        }
        guard !command.isEmpty else {
            throw ValidationError("no guest command: add `-- <daxref arguments>`, e.g. `-- inventory`")
        }
        if modules != nil, matrix != nil {
            throw ValidationError("--modules goes with --kernel PATH/bzImage, not --matrix")
        }
        let known = Set(MemoryFixture.allCases.compactMap(\.provisionWord) + ["spare", "blk", "blkfs", "btt", "none"])
        for word in provisionWords where !known.contains(word) {
            throw ValidationError("unknown --provision item '\(word)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if pmem == .e820, provisionWords != ["none"] {
            throw ValidationError("--pmem e820 gives two raw legacy regions that cannot be carved into namespaces; use it with --provision none (provisioning needs --pmem nvdimm)")
        }
        let hostMiB = Self.hostMemoryMiB()
        guard memory >= 1024, memory <= hostMiB else {
            throw ValidationError("--memory \(memory): want MiB from 1024 to \(hostMiB) (this host's RAM)")
        }
        for spec in kernelSpecs where spec.isEmpty {
            throw ValidationError(matrix != nil
                ? "--matrix '\(matrix!)': an empty kernel spec (want e.g. --matrix 6.1,7.2)"
                : "--kernel: an empty kernel spec (want e.g. --kernel 6.1)")
        }
        for directory in share where !Self.isDirectory(directory) {
            throw ValidationError("--share \(directory): not a directory")
        }
        if let modules, !FileManager.default.fileExists(atPath: modules) {
            throw ValidationError("--modules \(modules): no such directory")
        }
        if let first = command.first, first == "daxref" || first.hasSuffix("/daxref") {
            throw ValidationError("the guest command is daxref's own arguments: drop the leading '\(first)' (e.g. `-- inventory`)")
        }
        _ = try checkedDestinations([("--console-log", consoleLog)])
        if let cpu, let models = Self.qemuCPUModels(), !models.contains(String(cpu.prefix { $0 != "," })) {
            throw ValidationError("--cpu \(cpu): QEMU has no such CPU model (`qemu-system-x86_64 -cpu help` lists them)")
        }
        try Self.checkGuestCommand(command)
        for output in Self.outputs(in: command) where !output.isDirectory {
            let directory = Self.directory(of: output.path)
            guard Self.isDirectory(directory) else {
                throw ValidationError("\(output.flag) \(output.path): no directory \(directory) here to share with the guest")
            }
        }
    }

    /// The guest command, parsed and validated here as the guest will, so a bad flag or value costs
    /// no boot. Only "needs root" is left to the guest, which runs as root whoever started the VM.
    static func checkGuestCommand(_ command: [String]) throws {
        do { _ = try Daxref.parseAsRoot(command) } catch {
            // --version and --help are answers, not errors; 4 is the non-root refusal.
            if [ExitCode.success.rawValue, 4].contains(Daxref.exitCode(for: error).rawValue) { return }
            throw ValidationError("guest command `\(command.joined(separator: " "))`: "
                + Daxref.message(for: error).replacingOccurrences(of: "\n", with: " "))
        }
    }

    /// The CPU models `qemu-system-x86_64 -cpu help` lists (plus `host` and `max`); nil when QEMU
    /// cannot tell (not installed: the preflight says so).
    static func qemuCPUModels() -> Set<String>? {
        guard let output = try? Subprocess.capture(["qemu-system-x86_64", "-cpu", "help"]), output.status == 0 else { return nil }
        let names = output.stdout.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            return words.count >= 2 && words[0] == "x86" ? String(words[1]) : nil
        }
        return names.isEmpty ? nil : Set(names + ["host", "max"])
    }

    static func directory(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func hostMemoryMiB() -> Int {
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let line = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
        let kibibytes = line.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) }
        return kibibytes.map { $0 / 1024 } ?? 1 << 20
    }

    /// --kernel SPEC, or each item of --matrix (empty items kept, so validate() can refuse them).
    private var kernelSpecs: [String] {
        if let matrix {
            return matrix.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return kernel.map { [$0.trimmingCharacters(in: .whitespaces)] } ?? []
    }

    private var provisionWords: [String] {
        provision.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    func run() throws {
        let progress = Progress(quiet: quiet)
        var options = VMRunner.Options(command: command, progress: progress)
        options.pmem = pmem
        options.provision = provisionWords.filter { $0 != "none" }
        options.accel = accel
        options.cpuModel = cpu
        options.memoryMiB = memory
        options.timeout = timeout
        options.shares = share + (try outputDirectories(in: command))
        options.keepConsole = consoleLog

        // Everything that can fail before a boot is checked for every kernel first, so a bad spec late
        // in a matrix costs no boots: own builds (usage), then the host, then Debian specs, initramfs.
        let runner: VMRunner
        var prepared: [(spec: String, guest: GuestKernel?, initrd: String)] = []
        var current = ""
        do {
            for spec in kernelSpecs {
                current = spec + ": "
                let isLocal = spec.contains("/") || FileManager.default.fileExists(atPath: spec)
                prepared.append((spec, isLocal ? try GuestKernel.local(bzImage: spec, modules: modules) : nil, ""))
            }
            current = ""
            runner = VMRunner(scripts: try ScriptsDirectory(), cache: CacheDirectory())
            try runner.preflight(options)
            for index in prepared.indices where prepared[index].guest == nil {
                current = prepared[index].spec + ": "
                prepared[index].guest = try runner.resolve(.debian(prepared[index].spec), progress: progress)
            }
            for index in prepared.indices {
                current = prepared[index].spec + ": "
                prepared[index].initrd = try runner.initramfs(for: prepared[index].guest!, progress: progress)
            }
        } catch {
            printError("daxref vm: \(current)\(error)")
            throw ExitCode(error.exitCode)
        }

        var results: [(spec: String, status: Int32, line: String)] = []
        for (spec, resolved, initrd) in prepared {
            let guest = resolved!
            do {
                let outcome = try runner.run(guest, initrd: initrd, options: options)
                let times = outcome.timings.map { "\($0.0)=\(String(format: "%.1f", $0.1))" }.joined(separator: " ")
                results.append((spec, outcome.exitCode,
                    "kernel=\(spec) release=\(guest.release) accel=\(outcome.accel) exit=\(outcome.exitCode) \(times)"))
            } catch {
                printError("daxref vm: \(spec): \(error)")
                recoverRunReports(after: error)
                results.append((spec, error.exitCode, "kernel=\(spec) exit=\(error.exitCode) error=\(error.kind)"))
            }
            printError("daxref-vm: " + results.last!.line)
        }
        let specs = prepared.map(\.spec)
        if specs.count > 1 {
            printError("\nmatrix summary")
            for result in results {
                printError("  \(result.spec.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                    + (result.status == 0 ? "ok" : "exit \(result.status)") + "   " + result.line)
            }
        }
        if let failure = results.first(where: { $0.status != 0 }) { throw ExitCode(failure.status) }
    }

    /// A guest that went down under `daxref run` (panic, hang) left its stream, not its reports:
    /// write them from the stream, saying why the run stopped, so what ran is not lost.
    private func recoverRunReports(after error: VMError) {
        switch error {
        case .guestFault, .timeout: break
        case .usage, .setup, .boot, .guestSetup: return  // the run never started
        }
        guard let run = try? Daxref.parseAsRoot(command) as? RunCommand,
              let destinations = try? checkedDestinations(run.reportRequests) else { return }
        let reason = String(error.description.prefix { $0 != "\n" }.prefix(300))
        let stopped = RunRecorder.recover(destinations: destinations, reason: reason) { printError("daxref vm: " + $0) }
        guard let stopped else { return }
        printError("daxref vm: the guest's run " + stopped.summary + "; reports written from its stream: "
            + destinations.map(\.description).joined(separator: ", "))
    }

    /// Host directories for what the guest command writes, so it appears at the same path here:
    /// the directory of a report file (--json/--ktap/--junit/--svg F), or a directory argument
    /// (--evidence DIR), created here first. Relative paths are under the cwd, which is shared.
    private func outputDirectories(in arguments: [String]) throws -> [String] {
        var directories: [String] = []
        for output in Self.outputs(in: arguments) {
            if !output.isDirectory {
                directories.append(URL(fileURLWithPath: output.path).deletingLastPathComponent().path)
                continue
            }
            do { try FileManager.default.createDirectory(atPath: output.path, withIntermediateDirectories: true) } catch {
                printError("daxref vm: cannot create \(output.path) for the guest to write into: \(error)")
                throw ExitCode(80)
            }
            directories.append(output.path)
        }
        return directories
    }

    /// The absolute report paths in a guest command: files (--json/--ktap/--junit/--svg F) and
    /// directories (--evidence DIR).
    static func outputs(in arguments: [String]) -> [(flag: String, path: String, isDirectory: Bool)] {
        let fileFlags: Set = ["--json", "--ktap", "--junit", "--svg"]
        let directoryFlags: Set = ["--evidence"]
        var outputs: [(flag: String, path: String, isDirectory: Bool)] = []
        for (index, argument) in arguments.enumerated() {
            var flag = argument, value: String?
            if let eq = argument.firstIndex(of: "=") {
                flag = String(argument[..<eq])
                value = String(argument[argument.index(after: eq)...])
            } else if index + 1 < arguments.count {
                value = arguments[index + 1]
            }
            guard let value, value.hasPrefix("/") else { continue }
            if fileFlags.contains(flag) { outputs.append((flag, value, false)) }
            if directoryFlags.contains(flag) { outputs.append((flag, value, true)) }
        }
        return outputs
    }
}

extension PmemOrigin: ExpressibleByArgument {}
extension VMRunner.Accel: ExpressibleByArgument {}
