import ArgumentParser
import DaxrefKit
import Foundation

/// `daxref bench`: ratios measured side by side in one run, never absolute numbers alone.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure daxref against its peers, side by side in one run (not a test).",
        discussion: """
            Every case compares our side with a peer doing the same work in the same \
            run, repetitions interleaved after an untimed warm-up, and reports min / \
            median / max and the ratio of the medians (daxref ÷ peer). Run it where \
            the DAX memory is: in a VM (see EXAMPLES) or on a host with pmem.

            CASES (--cases)
              copy      memcpy anonymous → DAX and DAX → anonymous, vs the same
                        memcpy anonymous → anonymous (the RAM bandwidth here).
                        Goal: ≥ 0.9×.
              fault-in  first write to each page of a fresh DAX mapping vs a
                        fresh anonymous one (no goal).
              direct    O_DIRECT pread/pwrite, buffer in DAX, to the non-DAX
                        block target, vs fio doing the same I/O with its buffer
                        in the same DAX memory; limit: fio with an anonymous
                        buffer. Goal: ≥ 0.95×.
              pin       io_uring register + unregister of 1 GiB of device-dax
                        (else the largest device; the size is reported) vs the
                        C program daxref-bench-ref making the same calls.
                        Goal: ≤ 1.1×. A pin the kernel refuses (EOPNOTSUPP
                        before 6.5) is compared on the refused call.
              snapshot  pagemap + smaps of that mapping, read by daxref's
                        observers vs by the C program reading the same files.
                        Goal: ≤ 1.1×.
            Anonymous memory gets pin and snapshot cases too, as the control.
            Each case runs in a helper with a deadline (--timeout): a hang is
            reported with where the helper was blocked and costs that case only.

            VM PHASES (--vm-phases, on the host)
              Per kernel: kernel fetch into an empty cache (once) and from the
              cache, initramfs build, QEMU start → first guest command (limit:
              QEMU start → init), and the whole suite (daxref vm -- <suite>)
              vs the boot floor (daxref vm -- --version). Goal: suite ≤ 2×.

            READING THE NUMBERS
              Trust the ratio: both sides ran on the same machine, in the same
              minutes, alternating. Absolute numbers depend on the machine class,
              printed with the table and kept in the JSON (cores, bare metal or
              QEMU TCG/KVM, pmem origin). Under TCG every instruction and memory
              access is emulated: absolute figures are far below hardware.

            EXIT STATUS
              0  every case was measured, or is unavailable here for a reason
              1  a case failed (setup error, helper crashed or timed out, or
                 the two sides disagreed)
              4  nothing selected
            A goal that is not met is reported, not failed.

            EXAMPLES
              daxref vm --kernel 7.2 --timeout 7200 \\
                --provision devdax4k,devdax2m,devdax1g,ext4,xfs,blk \\
                -- bench --json b.json --svg b.svg
              daxref vm --kernel 6.1 -- bench --quick
              daxref bench --vm-phases 6.1,7.2 --suite-command run --json p.json
            """)

    @Option(help: ArgumentHelp("Comma-separated: copy, fault-in, direct, pin, snapshot (default: all).", valueName: "list"))
    var cases: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Repetitions per case (default 5; 2 with --quick; 3 for --vm-phases).", valueName: "n"),
            transform: count)
    var repetitions: Int?

    @Flag(help: "Smoke test: small sizes (16 MiB copies and passes, 64 MiB pins), 2 repetitions.")
    var quick = false

    @Option(help: ArgumentHelp("Write the report (environment, settings, every sample) as JSON here.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Write a bar chart (SVG) here.", valueName: "file"))
    var svg: String?

    @Option(help: ArgumentHelp("Bytes per memcpy and per fault-in mapping (K/M/G suffixes; default 128M).", valueName: "size"))
    var copySize: String?

    @Option(help: ArgumentHelp("Bytes per O_DIRECT pass (default 128M; the VM's block disk has 256M).", valueName: "size"))
    var directSize: String?

    @Option(help: ArgumentHelp("O_DIRECT block size, a multiple of 4K (default 1M).", valueName: "size"))
    var blockSize: String?

    @Option(help: ArgumentHelp("Bytes pinned and snapshotted (default 1G).", valueName: "size"))
    var pinSize: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds one case (all its repetitions) may take before its helper is killed.", valueName: "seconds"),
            transform: seconds)
    var timeout: Double?

    @Option(help: ArgumentHelp("The C reference program (default: daxref-bench-ref beside this daxref).", valueName: "path"))
    var reference: String?

    @Option(help: ArgumentHelp("On the host: measure the VM phases of these kernels instead (comma-separated specs).", valueName: "specs"))
    var vmPhases: String?

    @Option(help: ArgumentHelp("With --vm-phases: the guest command of the suite run.", valueName: "command"))
    var suiteCommand = "run"

    @Option(help: ArgumentHelp("With --vm-phases: daxref vm --provision for the floor and suite runs.", valueName: "list"))
    var provision = "devdax4k,devdax2m,ext4,xfs,blk"

    @Option(help: .hidden)
    var runProbe: String?

    func validate() throws {
        _ = try checkedDestinations([("--json", json), ("--svg", svg)])
        if let reference, !FileManager.default.isExecutableFile(atPath: reference) {
            throw ValidationError("--reference \(reference): not an executable file (the C peer is built as daxref-bench-ref beside daxref)")
        }
        _ = try settings()
        if vmPhases != nil {
            if cases != nil || copySize != nil || directSize != nil || blockSize != nil || pinSize != nil || reference != nil {
                throw ValidationError("--vm-phases measures VM phases on the host; --cases and the size options are for the in-guest cases")
            }
            if kernels.isEmpty { throw ValidationError("--vm-phases needs kernel specs, e.g. 6.1,7.2") }
            if suiteCommand.split(separator: " ").isEmpty { throw ValidationError("--suite-command is empty") }
        }
    }

    private var kernels: [String] {
        (vmPhases ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func settings() throws -> BenchSettings {
        var settings = quick ? BenchSettings.quick : BenchSettings.standard
        if let repetitions { settings.repetitions = repetitions } else if vmPhases != nil { settings.repetitions = quick ? 2 : 3 }
        if let timeout { settings.timeout = timeout }
        func size(_ text: String?, _ option: String) throws -> Int? {
            guard let text else { return nil }
            guard let bytes = ByteCount.parse(text) else {
                throw ValidationError("\(option) \(text): not a size (a byte count, optionally with K, M or G)")
            }
            return bytes
        }
        settings.copyBytes = try size(copySize, "--copy-size") ?? settings.copyBytes
        settings.directBytes = try size(directSize, "--direct-size") ?? settings.directBytes
        settings.blockSize = try size(blockSize, "--block-size") ?? settings.blockSize
        settings.pinBytes = try size(pinSize, "--pin-size") ?? settings.pinBytes
        if settings.blockSize % 4096 != 0 { throw ValidationError("--block-size must be a multiple of 4K (O_DIRECT alignment)") }
        if settings.directBytes < settings.blockSize { throw ValidationError("--direct-size must be at least --block-size") }
        if let cases {
            guard !cases.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ValidationError("--cases is empty; one or more of: copy, fault-in, direct, pin, snapshot")
            }
            var groups: [BenchCase.Group] = []
            for word in cases.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let group = BenchCase.Group(rawValue: word), group != .vmPhase else {
                    throw ValidationError("unknown case `\(word)`; one of: copy, fault-in, direct, pin, snapshot")
                }
                if !groups.contains(group) { groups.append(group) }
            }
            settings.groups = groups
        }
        if vmPhases != nil {
            settings.groups = [.vmPhase]
            settings.vmKernels = kernels
            settings.suiteCommand = suiteCommand.split(separator: " ").map(String.init)
            settings.provision = provision
        }
        return settings
    }

    func run() throws {
        if let runProbe {
            let probe: BenchProbe
            do { probe = try JSONDecoder().decode(BenchProbe.self, from: Data(runProbe.utf8)) } catch {
                throw CLIError("--run-probe: not a probe: \(error)")
            }
            BenchProbe.emit(probe.run())
            return
        }
        let settings = try settings()
        if settings.groups.isEmpty {
            printError("bench: no case selected")
            throw ExitCode(4)
        }
        let report = vmPhases != nil ? try runVMPhases(settings) : try runGuestCases(settings)
        print(report.renderTable())
        do {
            if let json { try Data((try report.jsonString() + "\n").utf8).write(to: URL(fileURLWithPath: json)) }
            if let svg { try Data(report.renderSVG().utf8).write(to: URL(fileURLWithPath: svg)) }
        } catch {
            throw CLIError("cannot write the report: \(error)")
        }
        if report.cases.isEmpty { throw ExitCode(4) }
        if report.hasErrors { throw ExitCode.failure }
    }

    private func runGuestCases(_ settings: BenchSettings) throws -> BenchReport {
        var inventory: Inventory?
        do { inventory = try Inventory.read() } catch { printError("bench: inventory: \(error) (DAX cases will be unavailable)") }
        // The O_DIRECT cases write the block target from offset 0: the same policy as `daxref run`.
        let blockTarget: BlockTarget?
        do {
            blockTarget = try Selection.blockTarget(environment: ProcessInfo.processInfo.environment, minimumBytes: settings.directBytes)
        } catch {
            printError("bench: \(error)")
            throw ExitCode(64)
        }
        let fio = GuestBench.locateFio()
        let referencePath = reference ?? ReferenceProgram.defaultPath()
        let referenceProgram = FileManager.default.isExecutableFile(atPath: referencePath) ? referencePath : nil
        if referenceProgram == nil { printError("bench: \(referencePath) is not an executable; pin and snapshot are unavailable") }
        let bench = GuestBench(
            settings: settings, executable: "/proc/self/exe", referenceProgram: referenceProgram, fio: fio,
            backings: inventory.map(Drive.availableBackings) ?? [], blockTarget: blockTarget)
        let cases = bench.run(progress: Self.show)
        var tools = ["daxref": Daxref.configuration.version]
        if let fio { tools["fio"] = GuestBench.fioVersion(fio) ?? fio }
        if let referenceProgram { tools["reference"] = referenceProgram }
        return BenchReport(
            environment: BenchEnvironment(
                kernel: inventory?.kernel ?? .current(), machine: .current(), pmem: inventory.map(PmemFingerprint.init),
                blockTarget: blockTarget, tools: tools),
            settings: settings, cases: cases)
    }

    private func runVMPhases(_ settings: BenchSettings) throws -> BenchReport {
        let scripts: ScriptsDirectory
        do { scripts = try ScriptsDirectory() } catch { throw CLIError("bench: \(error)") }
        let bench = VMPhaseBench(
            kernels: settings.vmKernels ?? [], suiteCommand: settings.suiteCommand ?? [], provision: provision,
            repetitions: settings.repetitions, timeout: settings.timeout, executable: executablePath(), scripts: scripts,
            cache: CacheDirectory())
        let cases = bench.run(progress: Self.show, note: { printError("bench: \($0)") })
        return BenchReport(
            environment: BenchEnvironment(
                kernel: .current(), machine: .current(withQEMUVersion: true), pmem: nil, blockTarget: nil,
                tools: ["daxref": Daxref.configuration.version]),
            settings: settings, cases: cases)
    }

    /// One stderr line per case as it finishes.
    private static func show(_ benchCase: BenchCase) {
        var line = "bench: \(benchCase.id): \(benchCase.status.rawValue)"
        if let ratio = benchCase.displayRatio {
            line += " " + ratio + (benchCase.goal.map { " (goal \($0))" } ?? "")
        }
        if let reason = benchCase.reason { line += " (\(reason))" }
        printError(line)
    }
}
