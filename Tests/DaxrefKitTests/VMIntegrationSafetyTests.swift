import Foundation
import Testing

@testable import DaxrefKit

/// Fault injection on real boots: `daxref vm` ended by SIGTERM mid-boot and mid-command, QEMU
/// killed under it, a guest kernel panic, QEMU refusing to start, a binary under /tmp. Each must
/// end with the right status and a clear line, and leave no run directory, no /dev/shm pmem backing
/// and no QEMU. The guest runs `daxref test-hook` (hold, guest-panic) and nothing is provisioned
/// unless the case needs it, so each boot costs only the boot (about 10-25 s under TCG).
/// Enabled by DAXREF_VM_KERNELS like the other VM tests; DAXREF_BIN names the binary.
private let vmKernels: [String] = (ProcessInfo.processInfo.environment["DAXREF_VM_KERNELS"] ?? "")
    .split(separator: ",").map(String.init)

@Suite(.serialized, .enabled(if: !vmKernels.isEmpty, "set DAXREF_VM_KERNELS to boot real kernels"))
struct VMIntegrationSafetyTests {
    /// What one `daxref vm` owns on the host, found while it runs.
    struct Owned {
        var runDirectories: Set<String> = []
        var qemu: Set<pid_t> = []

        mutating func look(at vm: RunningProcess) {
            let temporary = NSTemporaryDirectory()
            for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix("daxref-vm.") {
                let owner = try? String(contentsOfFile: temporary + "/" + name + "/owner", encoding: .utf8)
                if owner?.trimmingCharacters(in: .whitespacesAndNewlines) == String(vm.pid) {
                    runDirectories.insert(URL(fileURLWithPath: temporary + "/" + name).standardized.path)
                }
            }
            for child in RunningProcess.children(of: vm.pid) where RunningProcess.command(of: child).hasPrefix("qemu-system") {
                qemu.insert(child)
            }
        }

        /// What is still there once daxref has ended.
        func leftovers() -> [String] {
            var left: [String] = []
            for directory in runDirectories {
                if FileManager.default.fileExists(atPath: directory) { left.append(directory) }
                let backing = "/dev/shm/daxref-pmem." + (directory as NSString).lastPathComponent
                if FileManager.default.fileExists(atPath: backing) { left.append(backing) }
            }
            for pid in qemu where !ProcessLiveness.waitUntilEnded(pid, timeout: 3) {
                left.append("QEMU pid \(pid)")
                kill(pid, SIGKILL)
            }
            return left
        }
    }

    /// Starts `daxref vm --kernel SPEC [extra] -- guest…` and records what it owns until `until` holds.
    static func start(_ spec: String, _ extra: [String] = [], guest: [String], environment: [String: String]? = nil,
                      until: (RunningProcess, Owned) -> Bool, within timeout: Double) throws -> (RunningProcess, Owned, Bool) {
        let vm = try RunningProcess(
            [RunningProcess.daxref, "vm", "--quiet", "--kernel", spec, "--provision", "none", "--timeout", "600"] + extra + ["--"] + guest,
            environment: environment)
        var owned = Owned()
        let reached = vm.waitFor(timeout: timeout) { vm in
            owned.look(at: vm)
            return until(vm, owned)
        }
        return (vm, owned, reached)
    }

    @Test(arguments: vmKernels)
    func sigtermMidBootLeavesNothing(_ spec: String) throws {
        let (vm, owned, started) = try Self.start(spec, guest: ["test-hook", "hold", "300"], until: { vm, owned in
            !owned.qemu.isEmpty && !owned.runDirectories.isEmpty
        }, within: 300)
        try #require(started, "QEMU never started: \(vm.stderr)")
        usleep(1_500_000)  // into the kernel's boot, well before init runs the command
        #expect(!vm.stdout.contains("holding"), "the guest command already ran: not mid-boot any more")
        vm.signal(SIGTERM)
        let ending = vm.wait(timeout: 60)
        #expect(ending == .signaled(SIGTERM), "\(ending?.description ?? "still running after 60 s"): \(vm.stderr)")
        #expect(vm.stderr.contains("daxref: SIGTERM: cleaning up: QEMU"), "\(vm.stderr)")
        #expect(owned.leftovers().isEmpty, "left behind: \(owned.leftovers())")
    }

    @Test(arguments: vmKernels)
    func sigtermMidCommandLeavesNothing(_ spec: String) throws {
        let (vm, owned, holding) = try Self.start(spec, guest: ["test-hook", "hold", "300"], until: { vm, _ in
            vm.stdout.contains("holding")
        }, within: 300)
        try #require(holding, "the guest command never started: \(vm.stderr)")
        vm.signal(SIGTERM)
        let ending = vm.wait(timeout: 60)
        #expect(ending == .signaled(SIGTERM), "\(ending?.description ?? "still running after 60 s"): \(vm.stderr)")
        #expect(vm.stderr.contains("daxref: SIGTERM: cleaning up: QEMU"), "\(vm.stderr)")
        #expect(!owned.qemu.isEmpty && !owned.runDirectories.isEmpty)
        #expect(owned.leftovers().isEmpty, "left behind: \(owned.leftovers())")
    }

    @Test(arguments: vmKernels)
    func qemuKilledMidCommandIsAHostSideFailure(_ spec: String) throws {
        let (vm, owned, holding) = try Self.start(spec, guest: ["test-hook", "hold", "300"], until: { vm, _ in
            vm.stdout.contains("holding")
        }, within: 300)
        try #require(holding, "the guest command never started: \(vm.stderr)")
        let qemu = try #require(owned.qemu.first)
        kill(qemu, SIGKILL)
        let ending = vm.wait(timeout: 60)
        #expect(ending == .exited(80), "\(ending?.description ?? "still running after 60 s"): \(vm.stderr)")
        #expect(vm.stderr.contains("QEMU was ended by SIGKILL on the host while the guest ran"), "\(vm.stderr)")
        #expect(owned.leftovers().isEmpty, "left behind: \(owned.leftovers())")
    }

    @Test(arguments: vmKernels)
    func guestPanicIsReportedWithAConsoleExcerpt(_ spec: String) throws {
        var owned = VMIntegrationSafetyTests.Owned()
        let (vm, seen, _) = try Self.start(spec, guest: ["test-hook", "guest-panic"], until: { _, _ in false }, within: 300)
        owned = seen
        let ending = vm.wait(timeout: 60)
        #expect(ending == .exited(82), "\(ending?.description ?? "still running"): \(vm.stderr)")
        #expect(vm.stderr.contains("guest kernel fault: "), "\(vm.stderr)")
        #expect(vm.stderr.contains("sysrq"), "the excerpt shows the trigger: \(vm.stderr)")
        #expect(!owned.runDirectories.isEmpty)
        #expect(owned.leftovers().isEmpty, "left behind: \(owned.leftovers())")
    }

    /// Used to fail after the boot with "provisioning failed (127)" and an undocumented 253: the
    /// guest's /tmp is its own tmpfs. Now the binary's and scripts' directories are shared read-only.
    @Test(arguments: vmKernels)
    func binaryAndScriptsCopiedUnderTmpRunInTheGuest(_ spec: String) throws {
        let directory = "/tmp/daxref-vmtest-copy-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: RunningProcess.daxref, toPath: directory + "/bin/daxref")
        let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/vm").path
        try FileManager.default.copyItem(atPath: scripts, toPath: directory + "/vm")
        var environment = ProcessInfo.processInfo.environment
        environment["DAXREF_SCRIPTS"] = directory + "/vm"
        let vm = try RunningProcess(
            [directory + "/bin/daxref", "vm", "--quiet", "--kernel", spec, "--provision", "devdax4k", "--timeout", "600",
             "--", "test-hook", "hold", "0"],
            environment: environment)
        let ending = vm.wait(timeout: 600)
        #expect(ending == .exited(0), "\(ending?.description ?? "still running"): \(vm.stderr)")
        #expect(vm.stdout.contains("holding"))
    }

    /// QEMU's own words, as a host setup failure (80), not "QEMU exited (Optional(1))" and 81.
    @Test(arguments: vmKernels)
    func qemuRefusingToStartIsASetupFailureWithItsMessage(_ spec: String) throws {
        // A model QEMU does not have is refused before anything is fetched (QEMU's list says so)...
        let banana = try Subprocess.capture([RunningProcess.daxref, "vm", "--kernel", spec, "--cpu", "banana", "--", "inventory"])
        #expect(banana.status == 64, "\(banana.stderr)")
        #expect(banana.stderr.contains("--cpu banana: QEMU has no such CPU model"), "\(banana.stderr)")
        // ...and what only QEMU itself can refuse (a feature flag) comes back in QEMU's own words.
        let feature = try Subprocess.capture([RunningProcess.daxref, "vm", "--kernel", spec, "--cpu", "Haswell,+nosuchfeature", "--", "inventory"])
        #expect(feature.status == 80, "\(feature.stderr)")
        #expect(feature.stderr.contains("QEMU refused to start (exit 1); QEMU said:"), "\(feature.stderr)")
        #expect(feature.stderr.contains("nosuchfeature"), "\(feature.stderr)")

        // A PATH with everything but QEMU.
        let bin = NSTemporaryDirectory() + "daxref-noqemu-\(getpid())"
        try? FileManager.default.removeItem(atPath: bin)
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bin) }
        for directory in ["/usr/local/bin", "/usr/bin", "/usr/sbin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix("qemu-system") {
                try? FileManager.default.createSymbolicLink(atPath: bin + "/" + name, withDestinationPath: directory + "/" + name)
            }
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin
        let vm = try RunningProcess([RunningProcess.daxref, "vm", "--kernel", spec, "--", "inventory"], environment: environment)
        let ending = vm.wait(timeout: 120)
        #expect(ending == .exited(80), "\(vm.stderr)")
        #expect(vm.stderr.contains("qemu-system-x86_64 not found on PATH"), "\(vm.stderr)")
    }

    /// A bad spec after a good one is found before the good one boots.
    @Test(arguments: vmKernels)
    func badSpecLaterInAMatrixStopsBeforeTheFirstBoot(_ spec: String) throws {
        let started = Date()
        let result = try Subprocess.capture([RunningProcess.daxref, "vm", "--matrix", "\(spec),9.99", "--", "inventory"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("9.99"), "\(result.stderr)")
        #expect(!result.stderr.contains("daxref-vm: kernel=\(spec)"), "\(spec) booted first: \(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 120)
    }
}
