import ArgumentParser
import DaxrefKit
import Foundation

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Show the device memory this machine (or VM) has.",
        discussion: """
            Lists the kernel (release, command line, the Kconfig options that matter for DAX), \
            nvdimm regions and namespaces (as libndctl sees them), dax devices (libdaxctl), NUMA \
            nodes (libnuma) and mounted filesystems with DAX active (statx STATX_ATTR_DAX).

            --json uses ndctl's key names (dev, mode, map, size, align, chardev, blockdev, \
            target_node) and carries a schemaVersion. Sizes in JSON are bytes.

            With no pmem at all this still succeeds and says how to get emulated pmem.
            """)

    @Flag(help: "Print JSON for machines instead of tables.")
    var json = false

    func run() throws {
        let inventory: Inventory
        do { inventory = try Inventory.read() } catch {
            throw CLIError("inventory: \(error)")
        }
        if json {
            print(try inventory.jsonString())
        } else {
            print(inventory.humanReport())
        }
    }
}
