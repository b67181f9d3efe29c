import Foundation
import SystemPackage

/// Case 4, on the host: what a kernel costs before and around the guest command. Per kernel:
/// - the kernel fetch into an empty cache (once: it downloads ~100 MB) and from the cache;
/// - the initramfs build;
/// - QEMU start → first guest command (boot, module loading, provisioning), with QEMU start → init
///   as its limit;
/// - the whole suite against the boot floor: `daxref vm -- <suite>` against `daxref vm -- --version`
///   (the same boot, provisioning and poweroff around a command that does nothing), repetitions
///   interleaved. The goal is suite ≤ 2 × floor.
public struct VMPhaseBench: Sendable {
    public var kernels: [String]
    /// The guest command of the suite run (`run`; `drive` until `daxref run` exists).
    public var suiteCommand: [String]
    /// `daxref vm --provision` for both the floor and the suite runs.
    public var provision: String
    public var repetitions: Int
    /// Seconds per VM run, fetch or build.
    public var timeout: Double
    /// The daxref that boots the guests (and runs inside them).
    public var executable: String
    public var scripts: ScriptsDirectory
    public var cache: CacheDirectory

    public init(
        kernels: [String], suiteCommand: [String], provision: String, repetitions: Int, timeout: Double, executable: String,
        scripts: ScriptsDirectory, cache: CacheDirectory
    ) {
        self.kernels = kernels
        self.suiteCommand = suiteCommand
        self.provision = provision
        self.repetitions = repetitions
        self.timeout = timeout
        self.executable = executable
        self.scripts = scripts
        self.cache = cache
    }

    /// The guest command of the floor runs: parses its arguments, prints a line, exits 0.
    public static let floorCommand = ["--version"]

    public func run(progress: (BenchCase) -> Void, note: (String) -> Void) -> [BenchCase] {
        var cases: [BenchCase] = []
        for spec in kernels {
            for item in phases(spec, note: note) {
                cases.append(item)
                progress(item)
            }
        }
        return cases
    }

    func phases(_ spec: String, note: (String) -> Void) -> [BenchCase] {
        let prefix = "vm.\(spec)"
        var fetchCold = BenchCase(
            id: "\(prefix).fetch-cold", group: .vmPhase, title: "fetch-kernel.sh \(spec) into an empty cache (package lists, download, unpack)",
            metric: .duration, notes: ["measured once per run: it downloads the kernel packages again"])
        var fetchCached = BenchCase(id: "\(prefix).fetch-cached", group: .vmPhase, title: "fetch-kernel.sh \(spec) from the cache", metric: .duration)
        var initramfs = BenchCase(id: "\(prefix).initramfs", group: .vmPhase, title: "build-initramfs.sh for \(spec)", metric: .duration)
        var boot = BenchCase(
            id: "\(prefix).boot", group: .vmPhase, title: "QEMU start → first guest command (boot, modules, provisioning: \(provision))",
            metric: .duration)
        var suite = BenchCase(
            id: "\(prefix).suite", group: .vmPhase,
            title: "whole suite `daxref vm -- \(suiteCommand.joined(separator: " "))` vs the boot floor `daxref vm -- \(Self.floorCommand.joined(separator: " "))`",
            metric: .duration, goal: BenchGoals.suite)

        // Fetch into an empty cache, once.
        note("\(spec): fetching into an empty cache")
        let coldCache = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-bench-cache-\(getpid())").path
        let cold = timed(["bash", scripts.fetchKernel, "--cache", coldCache, spec])
        try? FileManager.default.removeItem(atPath: coldCache)
        fetchCold.ours = side("fetch-kernel.sh, empty cache", [cold])

        // From the cache: the first call (untimed) makes sure it is there.
        note("\(spec): fetching from the cache")
        let manifest = timed(["bash", scripts.fetchKernel, "--cache", cache.root, spec])
        var kernel: GuestKernel?
        if case .success(let (_, output)) = manifest {
            kernel = try? GuestKernel.fromManifest(output, spec: spec)
        }
        guard let kernel else {
            let reason = "cannot fetch \(spec) into the cache: " + failure(manifest)
            let failed = [fetchCached, initramfs, boot, suite].map { benchCase in
                var failed = benchCase
                failed.status = .error
                failed.reason = reason
                return failed
            }
            return [Self.settleStatus(fetchCold)] + failed
        }
        fetchCached.ours = side("fetch-kernel.sh, cached", (0..<repetitions).map { _ in timed(["bash", scripts.fetchKernel, "--cache", cache.root, spec]) })

        note("\(spec): building the initramfs \(repetitions)×")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-bench-initramfs-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var builds: [Result<(Double, String), BenchProbeError>] = []
        do {
            let directory = try cache.kernelDirectory(for: kernel)
            for repetition in 0..<repetitions {
                builds.append(timed(["bash", scripts.buildInitramfs, directory, scratch + "/initrd-\(repetition).cpio.gz"]))
            }
        } catch { builds.append(.failure(BenchProbeError(error.description))) }
        try? FileManager.default.removeItem(atPath: scratch)
        initramfs.ours = side("build-initramfs.sh", builds)

        // Floor and suite, interleaved.
        var floorTotals: [Double] = [], toInit: [Double] = [], toCommand: [Double] = [], suiteTotals: [Double] = []
        var floorFailure: String?, suiteFailure: String?
        var suiteExits: [Int32] = []
        for repetition in 0..<repetitions {
            for run in repetition % 2 == 0 ? ["floor", "suite"] : ["suite", "floor"] {
                let command = run == "floor" ? Self.floorCommand : suiteCommand
                note("\(spec): \(run) run \(repetition + 1)/\(repetitions): daxref vm -- \(command.joined(separator: " "))")
                switch vmRun(spec, command: command) {
                case .success(let summary):
                    if run == "floor" {
                        guard summary.exitCode == 0, let total = summary.timings["total"], let first = summary.timings["command-start"],
                            let booted = summary.timings["boot"]
                        else {
                            floorFailure = floorFailure ?? "the floor run exited \(summary.exitCode) or printed no timings: \(summary.line)"
                            continue
                        }
                        floorTotals.append(total)
                        toCommand.append(first)
                        toInit.append(booted)
                    } else {
                        // The suite's own verdict (0 pass, 1 fail, 4 skip) does not change what it cost.
                        guard [0, 1, 4].contains(summary.exitCode), let total = summary.timings["total"] else {
                            suiteFailure = suiteFailure ?? "the suite run exited \(summary.exitCode): \(summary.line)"
                            continue
                        }
                        suiteTotals.append(total)
                        suiteExits.append(summary.exitCode)
                    }
                case .failure(let error):
                    if run == "floor" { floorFailure = floorFailure ?? error.description } else { suiteFailure = suiteFailure ?? error.description }
                }
            }
        }
        boot.ours = BenchSide(label: "QEMU start → guest command starts", samples: toCommand, failure: floorFailure)
        boot.limit = BenchSide(label: "QEMU start → init runs (kernel boot only)", samples: toInit, failure: floorFailure)
        suite.ours = BenchSide(label: "daxref vm -- \(suiteCommand.joined(separator: " "))", samples: suiteTotals, failure: suiteFailure)
        suite.peer = BenchSide(label: "boot floor: daxref vm -- \(Self.floorCommand.joined(separator: " "))", samples: floorTotals, failure: floorFailure)
        suite.notes = [
            "QEMU start → QEMU gone, from daxref vm's summary line (0.1 s resolution); provisioning: \(provision)",
            "suite exit statuses: \(suiteExits.map(String.init).joined(separator: ", "))",
        ]
        boot.notes = ["from the floor runs"]
        return [fetchCold, fetchCached, initramfs, boot, suite].map(Self.settleStatus)
    }

    /// measured when every side present has samples and no failure; else an error naming the side.
    static func settleStatus(_ benchCase: BenchCase) -> BenchCase {
        var settled = benchCase
        if settled.status == .error { return settled }
        for (name, side) in [("ours", settled.ours), ("peer", settled.peer)] {
            guard let side else { continue }
            if side.summary == nil || side.failure != nil {
                settled.status = .error
                settled.reason = "\(name): " + (side.failure ?? "no samples")
                return settled
            }
        }
        settled.status = settled.ours?.summary == nil ? .error : .measured
        return settled
    }

    // MARK: running

    /// Runs a script or program with the deadline; its wall time and stdout.
    func timed(_ argv: [String]) -> Result<(Double, String), BenchProbeError> {
        let start = ContinuousClock.now
        let outcome: HelperProcess.Outcome
        do { outcome = try HelperProcess(argv: argv, deadline: timeout).run() } catch {
            return .failure(BenchProbeError("cannot start \(argv.prefix(2).joined(separator: " ")): \(error)"))
        }
        let seconds = BenchProbe.seconds(since: start)
        guard !outcome.timedOut, outcome.exit == .exited(0) else {
            return .failure(BenchProbeError("\(argv.prefix(2).joined(separator: " ")): " + BenchProbe.describeFailure(outcome, timeout: timeout)))
        }
        return .success((seconds, outcome.stdout))
    }

    func side(_ label: String, _ runs: [Result<(Double, String), BenchProbeError>]) -> BenchSide {
        var samples: [Double] = []
        var failure: String?
        for run in runs {
            switch run {
            case .success(let (seconds, _)): samples.append(seconds)
            case .failure(let error): failure = failure ?? error.description
            }
        }
        return BenchSide(label: label, samples: samples, failure: failure)
    }

    func failure(_ run: Result<(Double, String), BenchProbeError>) -> String {
        if case .failure(let error) = run { return error.description }
        return "no manifest"
    }

    func vmRun(_ spec: String, command: [String]) -> Result<VMSummary, BenchProbeError> {
        let argv = [executable, "vm", "--quiet", "--kernel", spec, "--provision", provision, "--timeout", String(Int(timeout)), "--"] + command
        let outcome: HelperProcess.Outcome
        // daxref vm enforces --timeout itself; the margin covers kernel resolution and QEMU teardown.
        do { outcome = try HelperProcess(argv: argv, deadline: timeout + 120).run() } catch {
            return .failure(BenchProbeError("cannot start daxref vm: \(error)"))
        }
        guard let summary = VMSummary.parse(stderr: outcome.stderr) else {
            return .failure(BenchProbeError("daxref vm printed no summary line: " + BenchProbe.describeFailure(outcome, timeout: timeout + 120)))
        }
        return .success(summary)
    }
}

/// The line `daxref vm` prints on stderr after each kernel:
/// `daxref-vm: kernel=6.1 release=6.1.0-50-amd64 accel=tcg exit=0 boot=12.3 provisioned=14.0 command-start=14.5 total=20.1`
public struct VMSummary: Sendable, Equatable {
    public var line: String
    public var exitCode: Int32
    public var release: String?
    public var accel: String?
    /// Seconds since QEMU started: `boot` (init runs), `provisioned`, `command-start`, `total`.
    public var timings: [String: Double]

    public static let prefix = "daxref-vm: "

    /// The last summary line in `stderr`; nil when there is none or it has no exit status.
    public static func parse(stderr: String) -> VMSummary? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.hasPrefix(prefix) }) else { return nil }
        var fields: [String: String] = [:]
        for word in line.dropFirst(prefix.count).split(separator: " ") {
            guard let equals = word.firstIndex(of: "=") else { continue }
            fields[String(word[..<equals])] = String(word[word.index(after: equals)...])
        }
        guard let exit = fields["exit"].flatMap({ Int32($0) }) else { return nil }
        var timings: [String: Double] = [:]
        for name in ["boot", "provisioned", "command-start", "total"] {
            if let value = fields[name].flatMap(Double.init) { timings[name] = value }
        }
        return VMSummary(line: String(line), exitCode: exit, release: fields["release"], accel: fields["accel"], timings: timings)
    }
}
