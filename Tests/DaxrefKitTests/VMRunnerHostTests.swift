import Foundation
import Testing

@testable import DaxrefKit

/// What the VM runner decides on the host: what the guest can see, QEMU's command line for
/// read-only shares, and what an unexpected QEMU exit is reported as.
@Suite struct VMRunnerHostTests {
    @Test func filesHiddenByTheGuestsOwnMountsAreSharedReadOnlyOrRefused() throws {
        let directory = NSTemporaryDirectory() + "daxref-guestview-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = directory + "/bin/daxref"
        _ = FileManager.default.createFile(atPath: binary, contents: Data())
        let inTmp = directory.hasPrefix("/tmp/")

        if inTmp {
            #expect(try GuestView.readOnlyShares(for: [(binary, "binary")], writableShares: ["/work"]) == [directory + "/bin"])
            #expect(try GuestView.readOnlyShares(for: [(binary, "binary")], writableShares: [directory]).isEmpty, "already shared writable")
        }
        #expect(try GuestView.readOnlyShares(for: [("/usr/bin/env", "env")], writableShares: []).isEmpty, "the host root is visible")
        #expect(throws: VMError.self) { try GuestView.readOnlyShares(for: [("/proc/self/exe", "binary")], writableShares: []) }
        #expect(throws: VMError.self) { try GuestView.readOnlyShares(for: [(directory + "/missing", "binary")], writableShares: []) }
        let direct = "/tmp/daxref-guestview-direct-\(getpid())"
        _ = FileManager.default.createFile(atPath: direct, contents: Data())
        defer { unlink(direct) }
        #expect(throws: VMError.self, "a share of /tmp itself would hide the guest's own /tmp") {
            try GuestView.readOnlyShares(for: [(direct, "binary")], writableShares: [])
        }
    }

    @Test func readOnlySharesAreMountedFirstAndReadOnly() {
        var config = QemuConfiguration(kernel: "k", initrd: "i", stdoutFile: "o", stderrFile: "e", runDirectory: "/r")
        config.shares = ["/tmp/x/work"]
        config.readOnlyShares = ["/tmp/x"]
        #expect(config.appendLine.contains("daxref.share0=/tmp/x daxref.share1=/tmp/x/work"))
        #expect(config.argv.contains("local,path=/tmp/x,mount_tag=share0,security_model=none,multidevs=remap,readonly=on"))
        #expect(config.argv.contains("local,path=/tmp/x/work,mount_tag=share1,security_model=none,multidevs=remap"))
    }

    @Test func anUnexpectedQEMUExitIsToldByWhoEndedIt() {
        func code(_ error: VMError) -> Int32 { error.exitCode }
        let killed = VMRunner.unexpectedExit(status: 137, signal: SIGKILL, qemuSaid: "", booted: true, kvmOnProbation: false, console: ["x"])
        #expect(code(killed) == 80)
        #expect(killed.description.contains("QEMU was ended by SIGKILL on the host while the guest ran"))
        let refused = VMRunner.unexpectedExit(
            status: 1, signal: nil, qemuSaid: "qemu-system-x86_64: unable to find CPU model 'banana'", booted: false,
            kvmOnProbation: false, console: [])
        #expect(code(refused) == 80)
        #expect(refused.description.contains("QEMU refused to start (exit 1); QEMU said:\nqemu-system-x86_64: unable to find CPU model 'banana'"))
        #expect(code(VMRunner.unexpectedExit(status: 1, signal: nil, qemuSaid: "kvm", booted: false, kvmOnProbation: true, console: [])) == 81,
                "KVM on probation falls back to TCG")
        #expect(code(VMRunner.unexpectedExit(status: 0, signal: nil, qemuSaid: "", booted: false, kvmOnProbation: false, console: [])) == 81)
        #expect(code(VMRunner.unexpectedExit(status: 0, signal: nil, qemuSaid: "", booted: true, kvmOnProbation: false, console: [])) == 82)
    }
}
