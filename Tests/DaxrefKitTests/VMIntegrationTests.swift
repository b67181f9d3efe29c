import Foundation
import Testing

@testable import DaxrefKit

/// Real kernels, real QEMU, real libndctl: `daxref vm --kernel K -- inventory --verify` must boot,
/// provision pmem, and the guest's inventory must agree with ndctl/daxctl inside that guest.
/// Enabled by DAXREF_VM_KERNELS (scripts/test.sh sets "6.1,7.2"); skipped, and shown as skipped, without it.
private let vmKernels: [String] = (ProcessInfo.processInfo.environment["DAXREF_VM_KERNELS"] ?? "")
    .split(separator: ",").map(String.init)

@Suite(.serialized, .enabled(if: !vmKernels.isEmpty, "set DAXREF_VM_KERNELS to boot real kernels"))
struct VMIntegrationTests {
    static var daxref: String {
        ProcessInfo.processInfo.environment["DAXREF_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/daxref").path
    }

    @Test(arguments: vmKernels)
    func inventoryInGuestAgreesWithNdctl(_ spec: String) throws {
        let evidence = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-vmtest-\(spec)-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: evidence) }
        let result = try Subprocess.capture([
            Self.daxref, "vm", "--quiet", "--kernel", spec, "--timeout", "600",
            "--", "inventory", "--json", "--verify", "--evidence", evidence,
        ])
        #expect(result.status == 0, "daxref vm exited \(result.status):\n\(result.stderr)")
        #expect(result.stderr.contains("verify: daxref agrees with ndctl/daxctl"), "\(result.stderr)")

        let inventory = try JSONDecoder().decode(Inventory.self, from: Data(result.stdout.utf8))
        #expect(inventory.schemaVersion == Inventory.currentSchemaVersion)
        #expect(inventory.kernel.release.hasPrefix(spec + "."), "booted \(inventory.kernel.release) for \(spec)")
        #expect(inventory.kernel.configSource != nil, "the guest kernel's config should be readable")

        let devdax = inventory.daxDevices.filter { $0.mode == .devdax }
        #expect(Set(devdax.map(\.align)).isSuperset(of: [4096, 2 << 20]), "devdax at 4K and 2M: \(devdax)")
        #expect(devdax.allSatisfy { $0.path != nil }, "every devdax device has its /dev node")
        let fsdax = inventory.namespaces.filter { $0.mode == .fsdax }
        #expect(fsdax.count >= 2 && fsdax.allSatisfy { $0.blockdev != nil }, "fsdax namespaces: \(fsdax)")
        #expect(Set(inventory.daxMounts.map(\.fstype)).isSuperset(of: ["ext4", "xfs"]))
        for mount in inventory.daxMounts {
            #expect(mount.statxDax == true, "DAX must really be active on \(mount.mountpoint): \(mount)")
        }

        // The evidence is what the agreement was computed from; check it independently here.
        let ndctl = try String(contentsOfFile: evidence + "/ndctl.json", encoding: .utf8)
        let daxctl = try String(contentsOfFile: evidence + "/daxctl.json", encoding: .utf8)
        let check = try CrossCheck(inventory: inventory, ndctlJSON: ndctl, daxctlJSON: daxctl)
        #expect(check.agrees, "\(check.disagreements)")
        #expect(check.compared >= 20, "compared only \(check.compared) fields")
    }
}
