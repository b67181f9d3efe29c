import Foundation
import Testing

@testable import DaxrefKit

/// The object model and the ndctl cross-check on inventories recorded in real guests
/// (Fixtures/inventory/README.md says how; the kernel release is the directory name).
@Suite struct InventoryFixtureTests {
    static let releases = ["6.1.0-50-amd64", "7.2.13+deb14-amd64"]

    struct Recorded {
        var inventoryJSON: String
        var inventory: Inventory
        var ndctl: String
        var daxctl: String
    }

    static func load(_ release: String) throws -> Recorded {
        func text(_ name: String) throws -> String {
            let url = try #require(Bundle.module.url(
                forResource: name, withExtension: "json", subdirectory: "Fixtures/inventory/\(release)"))
            return try String(contentsOf: url, encoding: .utf8)
        }
        let json = try text("inventory")
        return Recorded(
            inventoryJSON: json, inventory: try JSONDecoder().decode(Inventory.self, from: Data(json.utf8)),
            ndctl: try text("ndctl"), daxctl: try text("daxctl"))
    }

    @Test(arguments: releases)
    func modelMatchesProvisionedLayout(_ release: String) throws {
        let inventory = try Self.load(release).inventory
        #expect(inventory.kernel.release == release)
        #expect(inventory.buses.map(\.provider) == ["ACPI.NFIT"])
        let namespaces = Dictionary(uniqueKeysWithValues: inventory.namespaces.map { ($0.name ?? "", $0) })
        #expect(namespaces["daxref-devdax4k"]?.align == 4096)
        #expect(namespaces["daxref-devdax2m"]?.align == 2 << 20)
        #expect(namespaces["daxref-ext4"]?.mode == .fsdax && namespaces["daxref-xfs"]?.mode == .fsdax)
        #expect(inventory.namespaces.allSatisfy { $0.enabled && $0.map == .dev && $0.size < $0.rawSize })
        #expect(inventory.daxDevices.map(\.chardev).sorted() == ["dax0.0", "dax0.1"])
        #expect(Set(inventory.namespaces.compactMap(\.chardev)) == Set(inventory.daxDevices.map(\.chardev)))
        #expect(inventory.daxMounts.count == 2 && inventory.daxMounts.allSatisfy { $0.statxDax == true })
        #expect(inventory.hasDeviceMemory)
    }

    @Test(arguments: releases)
    func jsonUsesNdctlKeysAndRoundTrips(_ release: String) throws {
        let recorded = try Self.load(release)
        for key in ["\"schemaVersion\"", "\"dev\"", "\"mode\"", "\"map\"", "\"align\"", "\"chardev\"",
                    "\"blockdev\"", "\"target_node\"", "\"available_size\"", "\"raw_uuid\""] {
            #expect(recorded.inventoryJSON.contains(key), "missing \(key)")
        }
        let again = try JSONDecoder().decode(Inventory.self, from: Data(try recorded.inventory.jsonString().utf8))
        #expect(again == recorded.inventory)
        #expect(try recorded.inventory.jsonString() == recorded.inventoryJSON.trimmingWhitespace(),
                "encoding is stable (sorted keys), so reports diff cleanly")
    }

    @Test(arguments: releases + ["6.1.0-50-amd64-e820"])
    func crossCheckAgreesWithRecordedNdctl(_ release: String) throws {
        let recorded = try Self.load(release)
        let check = try CrossCheck(inventory: recorded.inventory, ndctlJSON: recorded.ndctl, daxctlJSON: recorded.daxctl)
        #expect(check.agrees, "\(check.disagreements)")
        #expect(check.compared >= (release.hasSuffix("-e820") ? 16 : 40), "fields compared: \(check.compared)")
    }

    @Test func legacyE820NamespacesHaveMemmapInRAM() throws {
        let inventory = try Self.load("6.1.0-50-amd64-e820").inventory
        #expect(inventory.buses.map(\.provider) == ["e820"])
        #expect(inventory.namespaces.count == 2)
        #expect(inventory.namespaces.allSatisfy { $0.mode == .fsdax && $0.map == .mem && $0.size == 512 << 20 })
    }

    @Test func crossCheckCatchesEachKindOfDisagreement() throws {
        let recorded = try Self.load(Self.releases[0])
        var wrong = recorded.inventory
        wrong.buses[0].regions[0].namespaces[0].size += 4096
        wrong.buses[0].regions[0].namespaces[1].uuid = wrong.buses[0].regions[0].namespaces[1].rawUUID
        wrong.buses[0].regions[0].availableSize = 0
        wrong.daxRegions.removeLast()
        let check = try CrossCheck(inventory: wrong, ndctlJSON: recorded.ndctl, daxctlJSON: recorded.daxctl)
        let fields = Set(check.disagreements.map { "\($0.object).\($0.field)" })
        let first = recorded.inventory.namespaces[0].dev, second = recorded.inventory.namespaces[1].dev
        let dropped = recorded.inventory.daxRegions.last!.devices[0].chardev
        #expect(fields == ["\(first).size", "\(second).uuid", "region0.available_size", "\(dropped).listed"])
    }

    @Test func crossCheckOnEmptyMachineComparesNothing() throws {
        var inventory = try Self.load(Self.releases[0]).inventory
        inventory.buses = []
        inventory.daxRegions = []
        let check = try CrossCheck(inventory: inventory, ndctlJSON: "", daxctlJSON: "")
        #expect(check.agrees && check.compared == 0)
        #expect(throws: (any Error).self) { try CrossCheck(inventory: inventory, ndctlJSON: "{not json", daxctlJSON: "") }
    }

    @Test func humanReportShowsDevicesAndNoPmemAdvice() throws {
        let inventory = try Self.load(Self.releases[1]).inventory
        let report = inventory.humanReport()
        for needle in ["region0", "namespace0.0", "dax0.1", "/mnt/daxref/xfs", "yes (/mnt/daxref/xfs/"] {
            #expect(report.contains(needle), "missing \(needle)")
        }
        #expect(!report.contains("daxref vm --kernel"))
        var empty = inventory
        empty.buses = []
        empty.daxRegions = []
        #expect(empty.humanReport().contains("No persistent memory or device-dax memory on this machine"))
        #expect(empty.humanReport().contains("daxref vm --kernel 6.1 -- inventory"))
    }
}
