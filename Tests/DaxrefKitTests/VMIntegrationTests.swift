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

    /// `daxref bench --quick` in a guest with the default provisioning: every case is in the report
    /// with numbers or an explicit reason, and what is provisioned is measured against its peer.
    /// Structure only: speed is what the benchmark itself reports, as ratios.
    @Test(arguments: vmKernels)
    func benchQuickReportsEveryCase(_ spec: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-vmbench-\(spec)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/bench.json"
        let result = try Subprocess.capture([
            Self.daxref, "vm", "--quiet", "--kernel", spec, "--timeout", "1800", "--", "bench", "--quick", "--json", json,
        ])
        #expect(result.status == 0, "daxref vm -- bench exited \(result.status):\n\(result.stderr)")
        let report = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(report.schemaVersion == BenchReport.currentSchemaVersion)
        #expect(report.environment.kernel.release.hasPrefix(spec + "."))
        #expect(report.environment.machine.virtualization.hasPrefix("qemu-"), "\(report.environment.machine)")
        #expect(report.environment.pmem?.origin.contains("ACPI.NFIT") == true)
        #expect(report.environment.blockTarget != nil)
        #expect(report.settings.quick && report.settings.repetitions == 2)

        // The default provisioning (devdax4k, devdax2m, ext4, xfs, blk) offers every one of these.
        var provisioned: [String] = []
        for backing in GuestBench.expectedBackingIDs {
            provisioned += ["copy.\(backing).into", "copy.\(backing).out", "fault-in.\(backing)", "direct.\(backing).read", "direct.\(backing).write"]
        }
        provisioned += ["pin.anon.private", "snapshot.anon.private"]
        let pinned = report.cases.first { $0.id.hasPrefix("pin.devdax.") }
        #expect(pinned != nil, "a device-dax pin case: \(report.cases.map(\.id))")
        if let pinned { provisioned += [pinned.id, "snapshot." + pinned.id.dropFirst("pin.".count)] }
        let byID = Dictionary(report.cases.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for id in provisioned {
            #expect(byID[id]?.status == .measured, "\(id): \(byID[id].map { "\($0.status) \($0.reason ?? "")" } ?? "missing")")
        }
        for benchCase in report.cases {
            switch benchCase.status {
            case .measured:
                let ours = benchCase.ours?.summary
                #expect(ours.map { $0.count == 2 && $0.min > 0 && $0.max.isFinite } == true, "\(benchCase.id): \(String(describing: ours))")
                if benchCase.peer != nil {
                    #expect(benchCase.peer?.summary?.median ?? 0 > 0, "\(benchCase.id)")
                    #expect(benchCase.ratio != nil, "\(benchCase.id)")
                }
                if benchCase.goal != nil { #expect(benchCase.goalMet != nil, "\(benchCase.id)") }
            case .unavailable:
                #expect(!(benchCase.reason ?? "").isEmpty, "\(benchCase.id) is unavailable without a reason")
            case .error:
                Issue.record("\(benchCase.id): \(benchCase.reason ?? "error without a reason")")
            }
        }
        // A refused pin is a result only when both sides were refused alike.
        if let pinned, pinned.status == .measured {
            #expect(pinned.ours?.outcome == pinned.peer?.outcome)
        }
    }
}
