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
              80  setup failed on the host (kernel fetch, initramfs, QEMU)
              81  the guest did not boot (after retries)
              82  the guest kernel panicked, oopsed or hit a BUG (console excerpt printed)
              83  timeout: the guest hung; QEMU was killed
            With --matrix: 0 if every kernel returned 0, else the first failure's status.

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

    @Option(help: ArgumentHelp("Guest RAM in MiB.", valueName: "mib"))
    var memory = 4096

    // The whole scenario suite runs in one boot; under TCG on a busy 2-core host it has taken 15 min.
    // Hangs inside a scenario are bounded by `run` itself; this limit is the last resort.
    @Option(help: ArgumentHelp("Wall-clock limit per boot, seconds; QEMU is killed after it.", valueName: "seconds"))
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
        let known: Set = ["devdax4k", "devdax2m", "devdax1g", "spare", "ext4", "xfs", "blk", "blkfs", "btt", "none"]
        for word in provisionWords where !known.contains(word) {
            throw ValidationError("unknown --provision item '\(word)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if pmem == .e820, provisionWords != ["none"] {
            throw ValidationError("--pmem e820 gives two raw legacy regions that cannot be carved into namespaces; use it with --provision none (provisioning needs --pmem nvdimm)")
        }
        guard timeout > 0, memory >= 1024 else { throw ValidationError("--timeout must be > 0 and --memory ≥ 1024") }
    }

    private var provisionWords: [String] {
        provision.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    func run() throws {
        let progress = Progress(quiet: quiet)
        let runner: VMRunner
        do { runner = VMRunner(scripts: try ScriptsDirectory(), cache: CacheDirectory()) } catch {
            printError("daxref vm: \(error)")
            throw ExitCode(error.exitCode)
        }
        var options = VMRunner.Options(command: command, progress: progress)
        options.pmem = pmem
        options.provision = provisionWords.filter { $0 != "none" }
        options.accel = accel
        options.cpuModel = cpu
        options.memoryMiB = memory
        options.timeout = timeout
        options.shares = share + (try outputDirectories(in: command))
        options.keepConsole = consoleLog

        let specs = matrix.map { $0.split(separator: ",").map(String.init) } ?? [kernel!]
        var results: [(spec: String, status: Int32, line: String)] = []
        for spec in specs {
            let request: KernelRequest =
                spec.contains("/") || FileManager.default.fileExists(atPath: spec)
                ? .local(bzImage: spec, modules: modules) : .debian(spec)
            do {
                let guest = try runner.resolve(request, progress: progress)
                let initrd = try runner.initramfs(for: guest, progress: progress)
                let outcome = try runner.run(guest, initrd: initrd, options: options)
                let times = outcome.timings.map { "\($0.0)=\(String(format: "%.1f", $0.1))" }.joined(separator: " ")
                results.append((spec, outcome.exitCode,
                    "kernel=\(spec) release=\(guest.release) accel=\(outcome.accel) exit=\(outcome.exitCode) \(times)"))
            } catch {
                printError("daxref vm: \(spec): \(error)")
                results.append((spec, error.exitCode, "kernel=\(spec) exit=\(error.exitCode) error=\(errorKind(error))"))
            }
            printError("daxref-vm: " + results.last!.line)
        }
        if specs.count > 1 {
            printError("\nmatrix summary")
            for result in results {
                printError("  \(result.spec.padding(toLength: 8, withPad: " ", startingAt: 0)) "
                    + (result.status == 0 ? "ok" : "exit \(result.status)") + "   " + result.line)
            }
        }
        if let failure = results.first(where: { $0.status != 0 }) { throw ExitCode(failure.status) }
    }

    private func errorKind(_ error: VMError) -> String {
        switch error {
        case .setup: "setup"
        case .boot: "boot"
        case .guestFault: "guest-fault"
        case .timeout: "timeout"
        }
    }

    /// Host directories for what the guest command writes, so it appears at the same path here:
    /// the directory of a report file (--json/--ktap/--junit/--svg F), or a directory argument
    /// (--evidence DIR), created here first. Relative paths are under the cwd, which is shared.
    private func outputDirectories(in arguments: [String]) throws -> [String] {
        let fileFlags: Set = ["--json", "--ktap", "--junit", "--svg"]
        let directoryFlags: Set = ["--evidence"]
        var directories: [String] = []
        for (index, argument) in arguments.enumerated() {
            var flag = argument, value: String?
            if let eq = argument.firstIndex(of: "=") {
                flag = String(argument[..<eq])
                value = String(argument[argument.index(after: eq)...])
            } else if index + 1 < arguments.count {
                value = arguments[index + 1]
            }
            guard let value, value.hasPrefix("/") else { continue }
            if fileFlags.contains(flag) {
                directories.append(URL(fileURLWithPath: value).deletingLastPathComponent().path)
            } else if directoryFlags.contains(flag) {
                do { try FileManager.default.createDirectory(atPath: value, withIntermediateDirectories: true) } catch {
                    throw CLIError("cannot create \(value) for the guest to write into: \(error)")
                }
                directories.append(value)
            }
        }
        return directories
    }
}

extension PmemOrigin: ExpressibleByArgument {}
extension VMRunner.Accel: ExpressibleByArgument {}
