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
            let output = try runScript(
                scripts.fetchKernel, ["--cache", cache.root, spec], progress: progress, what: "fetch-kernel")
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
        let run = try RunDirectory(kernel: kernel, options: options, scripts: scripts)
        defer { run.remove() }
        var config = QemuConfiguration(
            kernel: kernel.vmlinuz, initrd: initrd, stdoutFile: run.stdoutFile, stderrFile: run.stderrFile,
            runDirectory: run.path)
        config.accel = accel
        if let model = options.cpuModel { config.cpuModel = model }
        config.memoryMiB = options.memoryMiB
        config.pmem = options.pmem
        config.shares = run.shares
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
                    if incident.fault == .warning {
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
                if line.contains("DAXREF-GUEST-ERROR: ") { options.progress.warn(line) }
            }
            if let early = watcher.incidents.first(where: { $0.beforeInit && $0.fault != .warning }) {
                throw .boot("early-boot \(early.fault.rawValue): \(early.headline)")
            }
            if lines == nil, !watcher.finished {
                // Console closed: QEMU exited without the exit marker.
                let status = qemu.wait()
                if !watcher.booted { throw .boot("QEMU exited (\(status)) before init ran; last console lines:\n" + lastLines.suffix(15).joined(separator: "\n")) }
                throw .guestFault("QEMU exited (\(status)) without an exit status from the guest; last console lines:\n" + lastLines.suffix(15).joined(separator: "\n"))
            }
            if !watcher.booted, Date() > bootDeadline {
                throw .boot("no sign of init within \(Int(bootLimit)) s")
            }
            if Date() > deadline {
                throw .timeout("no exit status within \(Int(options.timeout)) s (QEMU killed); last console lines:\n"
                    + lastLines.suffix(15).joined(separator: "\n"))
            }
        }
        // Give the guest's poweroff a moment so outputs are complete, then make sure QEMU is gone.
        _ = qemu.wait(timeout: 10)
        drainOutputs()
        timings.append(("total", Date().timeIntervalSince(started)))

        let faults = watcher.incidents.filter { $0.fault != .warning }
        if let fault = faults.first {
            throw .guestFault("\(fault.fault.rawValue): \(fault.headline)\n" + fault.excerpt.joined(separator: "\n"))
        }
        return Outcome(kernel: kernel, exitCode: watcher.exitCode ?? 255, incidents: watcher.incidents,
                       timings: timings, accel: accel)
    }

    private func runScript(_ script: String, _ arguments: [String], progress: Progress, what: String)
        throws(VMError) -> String
    {
        let output: Subprocess.Output
        var showLine: ((String) -> Void)? = nil
        if progress.isInteractive { showLine = { line in progress.detail(line) } }
        do {
            output = try Subprocess.capture(["bash", script] + arguments, stderrLine: showLine)
        } catch { throw .setup("\(what): \(error)") }
        guard output.status == 0 else {
            throw .setup("\(what) failed (exit \(output.status)):\n\(output.stderr.trimmingWhitespace())")
        }
        return output.stdout
    }
}

func format(_ seconds: Double) -> String {
    String(Int(seconds * 10) / 10) + "." + String(Int(seconds * 10) % 10) + " s"
}

public enum KernelRequest: Sendable, Equatable {
    case debian(String)
    case local(bzImage: String, modules: String?)
}
