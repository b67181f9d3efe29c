import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Boots a guest, runs one daxref command inside, streams its output and returns its exit status.
public struct VMRunner {
    public enum Accel: String, Sendable, CaseIterable {
        case auto, tcg, kvm
    }

    public struct Options: Sendable {
        public var command: [String]
        public var pmem: PmemOrigin = .nvdimm
        /// What guest-provision.sh sets up before the command (its words; empty = nothing).
        public var provision: [String] = ["devdax4k", "devdax2m", "spare", "ext4", "xfs", "blk"]
        public var accel: Accel = .auto
        public var cpuModel: String?
        public var memoryMiB = 4096
        public var timeout: Double = 900
        public var bootTimeout: Double = 120
        public var bootAttempts = 3
        /// Writable host directories visible at the same path in the guest (the cwd is always one).
        public var shares: [String] = []
        public var progress: Progress
        public var keepConsole: String?

        public init(command: [String], progress: Progress) {
            self.command = command
            self.progress = progress
        }
    }

    /// What one boot produced.
    public struct Outcome: Sendable {
        public var kernel: GuestKernel
        public var exitCode: Int32
        public var incidents: [ConsoleWatcher.Incident]
        public var timings: [(String, Double)]
        public var accel: String
    }

    public let scripts: ScriptsDirectory
    public let cache: CacheDirectory

    public init(scripts: ScriptsDirectory, cache: CacheDirectory) {
        self.scripts = scripts
        self.cache = cache
    }

    // MARK: kernel and initramfs

    public func resolve(_ request: KernelRequest, progress: Progress) throws(VMError) -> GuestKernel {
        switch request {
        case .local(let bzImage, let modules):
            return try GuestKernel.local(bzImage: bzImage, modules: modules)
        case .debian(let spec):
            progress.step("kernel \(spec): resolving and fetching (Debian archive from the system's apt sources)")
            // fetch-kernel.sh: 2 = a spec it cannot parse, 3 = no such kernel: the user's to fix.
            let output = try runScript(
                scripts.fetchKernel, ["--cache", cache.root, spec], progress: progress, what: "fetch-kernel",
                usageStatuses: [2, 3])
            let kernel = try GuestKernel.fromManifest(output, spec: spec)
            progress.step("kernel \(spec): \(kernel.release) (\(kernel.packageVersion ?? "?"), \(kernel.suite ?? "?"))"
                + (kernel.wasCached ? ", cached" : ""))
            return kernel
        }
    }

    /// Per kernel and per version of the initramfs scripts, built once and reused.
    public func initramfs(for kernel: GuestKernel, progress: Progress) throws(VMError) -> String {
        let fingerprint = scripts.initramfsFingerprint()
        let path = cache.root + "/initramfs/\(kernel.cacheKey)-\(fingerprint).cpio.gz"
        if SystemFile.exists(FilePath(path)) { return path }
        progress.step("initramfs for \(kernel.release): building")
        do {
            try FileManager.default.createDirectory(atPath: cache.root + "/initramfs", withIntermediateDirectories: true)
        } catch { throw .setup("cannot create \(cache.root)/initramfs: \(error)") }
        let kernelDirectory = try cache.kernelDirectory(for: kernel)
        _ = try runScript(scripts.buildInitramfs, [kernelDirectory, path], progress: progress, what: "build-initramfs")
        return path
    }

    /// What can be checked on the host before any kernel is fetched or booted: QEMU is there, and
    /// the guest will see this binary (and scripts/vm, if it provisions) at their paths.
    public func preflight(_ options: Options) throws(VMError) {
        guard Subprocess.findInPath(QemuConfiguration.program) != nil else { throw Self.qemuMissing }
        let cwd = FileManager.default.currentDirectoryPath
        _ = try GuestView.readOnlyShares(
            for: [(executablePath(), "the daxref binary")] + (options.provision.isEmpty ? [] : [(scripts.guestProvision, "scripts/vm")]),
            writableShares: RunDirectory.minimalShares([cwd] + options.shares))
    }

    // MARK: boot

    public func run(_ kernel: GuestKernel, initrd: String, options: Options) throws(VMError) -> Outcome {
        var accel = options.accel == .kvm ? "kvm" : "tcg"
        if options.accel == .auto, KVMProbe.worthTrying(cache: cache) { accel = "kvm" }
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try boot(kernel, initrd: initrd, options: options, accel: accel, attempt: attempt)
            } catch .boot(let why) where attempt < options.bootAttempts || accel == "kvm" {
                if accel == "kvm" && options.accel == .auto {
                    KVMProbe.recordFailure(cache: cache)
                    options.progress.warn("KVM did not boot the guest (\(why)); using TCG, now and in later runs")
                    accel = "tcg"
                    attempt = 0
                } else {
                    options.progress.step("boot attempt \(attempt) failed (\(why)); retrying")
                }
            }
        }
    }

    private func boot(_ kernel: GuestKernel, initrd: String, options: Options, accel: String, attempt: Int)
        throws(VMError) -> Outcome
    {
        guard Subprocess.findInPath(QemuConfiguration.program) != nil else { throw Self.qemuMissing }
        let run = try RunDirectory(kernel: kernel, options: options, scripts: scripts)
        var config = QemuConfiguration(
            kernel: kernel.vmlinuz, initrd: initrd, stdoutFile: run.stdoutFile, stderrFile: run.stderrFile,
            runDirectory: run.path)
        config.accel = accel
        if let model = options.cpuModel { config.cpuModel = model }
        config.memoryMiB = options.memoryMiB
        config.pmem = options.pmem
        config.shares = run.shares
        config.readOnlyShares = run.readOnlyShares
        config.nvdimmBacking = options.pmem == .nvdimm ? run.nvdimmBacking : nil
        config.scratchDisk = run.path + "/blk.img"
        try run.createBackings(config)

        let started = Date()
        var timings: [(String, Double)] = []
        options.progress.step("booting \(kernel.release) (\(accel), \(options.pmem.rawValue) pmem"
            + (attempt > 1 ? ", attempt \(attempt)" : "") + ")")
        let qemu = try QemuProcess(argv: config.argv)
        defer { qemu.kill() }
        var console: FileHandle? = nil
        if let log = options.keepConsole, FileManager.default.createFile(atPath: log, contents: nil) {
            console = FileHandle(forWritingAtPath: log)
        }
        var watcher = ConsoleWatcher()
        var stdoutTail = FileTail(path: run.stdoutFile)
        var stderrTail = FileTail(path: run.stderrFile)
        var lastLines: [String] = []
        var guestErrors: [String] = []
        let deadline = started.addingTimeInterval(options.timeout)
        // KVM is on probation until a boot worked: a working KVM reaches init in seconds, while the
        // known failure (stock kernels hanging after "Booting from ROM") never does.
        let bootLimit = accel == "kvm" && options.accel == .auto ? min(options.bootTimeout, 30) : options.bootTimeout
        let bootDeadline = started.addingTimeInterval(bootLimit)

        func drainOutputs() {
            if let data = stdoutTail.read() { FileHandle.standardOutput.write(data) }
            if let data = stderrTail.read() { FileHandle.standardError.write(data) }
        }

        while !watcher.finished {
            let lines = qemu.readConsole(timeout: 0.2)
            drainOutputs()
            for line in lines ?? [] {
                console?.write(Data((line + "\n").utf8))
                lastLines.append(line)
                if lastLines.count > 30 { lastLines.removeFirst() }
                let wasBooted = watcher.booted
                if let incident = watcher.consume(line) {
                    if incident.fault == .warning || incident.fault == .stall {
                        options.progress.warn("guest kernel: \(incident.headline)")
                    }
                }
                if !wasBooted, watcher.booted {
                    timings.append(("boot", Date().timeIntervalSince(started)))
                    options.progress.step("guest booted in \(format(timings.last!.1))")
                }
                if let marker = line.range(of: "DAXREF-GUEST: ") {
                    let word = line[marker.upperBound...].split(separator: " ").first.map(String.init) ?? ""
                    if word == "provisioned" || word == "command-start" {
                        timings.append((word, Date().timeIntervalSince(started)))
                        if word == "provisioned" { options.progress.step("provisioned in \(format(timings.last!.1))") }
                    }
                }
                if line.contains("DAXREF-GUEST-ERROR: ") {
                    options.progress.warn(line)
                    guestErrors.append(line)
                }
            }
            if let early = watcher.incidents.first(where: { $0.beforeInit && $0.fault != .warning && $0.fault != .stall }) {
                throw .boot("early-boot \(early.fault.rawValue): \(early.headline)")
            }
            if lines == nil, !watcher.finished {
                // Console closed: QEMU exited without the exit marker.
                let status = qemu.wait() ?? -1
                throw Self.unexpectedExit(
                    status: status, signal: qemu.endingSignal, qemuSaid: qemu.errorOutput, booted: watcher.booted,
                    kvmOnProbation: accel == "kvm" && options.accel == .auto, console: lastLines.suffix(15))
            }
            if !watcher.booted, Date() > bootDeadline {
                throw .boot("no sign of init within \(wholeSeconds(bootLimit)) s")
            }
            if Date() > deadline {
                // The kernel's own first report of the stall says where it began; the last lines only
                // show the latest repetition.
                let stall = watcher.incidents.first { $0.fault == .stall }
                throw .timeout("no exit status within \(wholeSeconds(options.timeout)) s (QEMU killed)"
                    + (stall.map { "; the guest kernel reported a stall first:\n" + $0.excerpt.joined(separator: "\n") + "\n" } ?? "")
                    + "; last console lines:\n" + lastLines.suffix(15).joined(separator: "\n"))
            }
        }
        // Give the guest's poweroff a moment so outputs are complete, then make sure QEMU is gone.
        _ = qemu.wait(timeout: 10)
        drainOutputs()
        timings.append(("total", Date().timeIntervalSince(started)))

        let faults = watcher.incidents.filter { $0.fault != .warning && $0.fault != .stall }
        if let fault = faults.first {
            throw .guestFault("\(fault.fault.rawValue): \(fault.headline)\n" + fault.excerpt.joined(separator: "\n"))
        }
        // init's own codes (scripts/vm/init): 253 provisioning failed, 254 guest setup failed; each
        // announced by a DAXREF-GUEST-ERROR line, which tells them from a command's own 253/254.
        if let code = watcher.exitCode, code == 253 || code == 254, let error = guestErrors.last {
            let said = error[error.range(of: "DAXREF-GUEST-ERROR: ")!.upperBound...]
            throw .guestSetup("\(said) (guest exit \(code)); last console lines:\n" + lastLines.suffix(15).joined(separator: "\n"))
        }
        return Outcome(kernel: kernel, exitCode: watcher.exitCode ?? 255, incidents: watcher.incidents,
                       timings: timings, accel: accel)
    }

    static let qemuMissing = VMError.setup(
        "\(QemuConfiguration.program) not found on PATH (scripts/bootstrap.sh installs it: apt-get install qemu-system-x86)")

    /// QEMU's console closed without the guest's exit marker: who ended it, in the user's terms.
    static func unexpectedExit(
        status: Int32, signal: Int32?, qemuSaid: String, booted: Bool, kvmOnProbation: Bool, console: ArraySlice<String>
    ) -> VMError {
        let said = qemuSaid.isEmpty ? "" : "; QEMU said:\n" + qemuSaid
        let lastLines = console.isEmpty ? "" : "\nlast console lines:\n" + console.joined(separator: "\n")
        if let signal {
            return .setup("QEMU was ended by \(CleanupOwner.name(of: signal)) on the host" + (booted ? " while the guest ran" : " during boot") + said + lastLines)
        }
        if !booted, status != 0, !kvmOnProbation {
            // Nonzero before any guest code ran: its command line or the host refused (bad --cpu,
            // too much --memory, a missing file); retrying cannot help.
            return .setup("QEMU refused to start (exit \(status))" + (said.isEmpty ? " and said nothing" : said))
        }
        if !booted { return .boot("QEMU exited (\(status)) before init ran" + said + lastLines) }
        return .guestFault("QEMU exited (\(status)) without an exit status from the guest" + said + lastLines)
    }

    private func runScript(_ script: String, _ arguments: [String], progress: Progress, what: String, usageStatuses: Set<Int32> = [])
        throws(VMError) -> String
    {
        let output: Subprocess.Output
        var showLine: ((String) -> Void)? = nil
        if progress.isInteractive { showLine = { line in progress.detail(line) } }
        do {
            output = try Subprocess.capture(["bash", script] + arguments, stderrLine: showLine)
        } catch { throw .setup("\(what): \(error)") }
        guard output.status == 0 else {
            let said = output.stderr.trimmingWhitespace()
            if usageStatuses.contains(output.status) {
                let lastLine = said.split(separator: "\n").last.map(String.init) ?? "exit \(output.status)"
                throw .usage(lastLine.replacingOccurrences(of: "\(what): error: ", with: ""))
            }
            // One line: the script's last error line says why (progress on a terminal showed the rest).
            let why = said.split(separator: "\n").last { $0.contains("error") } ?? said.split(separator: "\n").last ?? "no message"
            throw .setup("\(what) failed (exit \(output.status)): \(why)")
        }
        return output.stdout
    }
}

/// Seconds for a message, without trapping on a value no check caught.
func wholeSeconds(_ seconds: Double) -> String {
    seconds.isFinite && abs(seconds) < 1e15 ? String(Int(seconds.rounded())) : String(seconds)
}

func format(_ seconds: Double) -> String {
    String(Int(seconds * 10) / 10) + "." + String(Int(seconds * 10) % 10) + " s"
}

public enum KernelRequest: Sendable, Equatable {
    case debian(String)
    case local(bzImage: String, modules: String?)
}
