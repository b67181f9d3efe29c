import ArgumentParser

@main
struct Daxref: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daxref",
        abstract: "Exercise ZONE_DEVICE / DAX memory on a real kernel and check its reference counting.",
        discussion: """
            daxref sees device memory the way `ndctl list` does (inventory), and boots Debian or \
            self-built kernels with emulated persistent memory under QEMU to run itself inside (vm).

            Exit codes follow kselftest: 0 pass, 1 fail, 4 skip; `vm` adds its own (see `daxref vm --help`).
            """,
        version: "0.1.0",
        subcommands: [InventoryCommand.self, RunCommand.self, ModelCommand.self, VMCommand.self, KprobeCheckCommand.self, DriveCommand.self, CaptureFixturesCommand.self, BenchCommand.self, DiffCommand.self, TestHookCommand.self])
}
