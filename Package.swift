// swift-tools-version:6.0
// daxref: exercises ZONE_DEVICE / DAX memory on real kernels and compares what the kernel shows with
// a per-era model of page reference counting.
import PackageDescription

let package = Package(
    name: "daxref",
    platforms: [.macOS(.v13)],  // Linux is the only real target; this keeps SwiftPM's defaults quiet.
    products: [
        .executable(name: "daxref", targets: ["daxref"]),
        .library(name: "DaxrefKit", targets: ["DaxrefKit"]),
        .executable(name: "daxref-bench-ref", targets: ["daxref-bench-ref"]),
        .executable(name: "daxref-fuzz", targets: ["daxref-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // Layer 1, C reach: the system libraries as `ndctl list` and `daxctl list` use them.
        .systemLibrary(
            name: "CNdctl", path: "Modules/CNdctl", pkgConfig: "libndctl",
            providers: [.apt(["libndctl-dev", "uuid-dev"])]),
        .systemLibrary(
            name: "CDaxctl", path: "Modules/CDaxctl", pkgConfig: "libdaxctl",
            providers: [.apt(["libdaxctl-dev", "uuid-dev"])]),
        // libblkid: the signatures (file systems, partition tables, LVM, RAID, swap) that make a
        // block device one daxref refuses to overwrite, found the way wipefs finds them.
        .systemLibrary(
            name: "CBlkid", path: "Modules/CBlkid", pkgConfig: "blkid",
            providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(
            name: "CNuma", path: "Modules/CNuma", pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]),
        // Constants, raw syscalls and macros Swift cannot import, plus the va_list log trampoline.
        .target(name: "CDaxrefShim", dependencies: ["CNdctl", "CDaxctl"]),
        // Layers 2-9, one folder per concern (see README "Layout").
        .target(
            name: "DaxrefKit",
            dependencies: [
                "CNdctl", "CDaxctl", "CNuma", "CBlkid", "CDaxrefShim",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Layer 10: one type per subcommand.
        .executableTarget(
            name: "daxref",
            dependencies: [
                "DaxrefKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The C side of `daxref bench`'s pin and snapshot cases: the same syscalls, no Swift.
        .executableTarget(name: "daxref-bench-ref"),
        // The parsers as fuzz targets. A plain build replays inputs; scripts/fuzz.sh builds it with
        // -sanitize=fuzzer and -DDAXREF_FUZZ, which hands main to libFuzzer (docs/fuzzing.md).
        .systemLibrary(name: "CLibFuzzer", path: "Modules/CLibFuzzer"),
        .executableTarget(name: "daxref-fuzz", dependencies: ["DaxrefKit", "CLibFuzzer"]),
        .testTarget(
            name: "DaxrefKitTests",
            dependencies: ["DaxrefKit"],
            resources: [.copy("Fixtures")]),
    ]
)
