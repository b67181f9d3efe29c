import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Which kernel this is: enough to tell refcount eras apart and to reproduce a run.
public struct KernelFingerprint: Codable, Sendable, Equatable {
    public var release: String
    public var version: String
    public var machine: String
    public var cmdline: String
    /// Where the Kconfig was read from, or nil when no config was readable.
    public var configSource: String?
    /// The relevant options (see `KernelConfig.relevantOptions`): "y", "m", a value, or "n" when unset.
    public var config: [String: String]

    enum CodingKeys: String, CodingKey {
        case release, version, machine, cmdline, config
        case configSource = "config_source"
    }

    /// uname(2) alone: what callers that only need the release should use (current() also reads
    /// the command line and the whole kernel config).
    public static func uname() -> (release: String, version: String, machine: String) {
        var names = utsname()
        Glibc.uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return (field(names.release), field(names.version), field(names.machine))
    }

    public static func current() -> KernelFingerprint {
        let (release, version, machine) = uname()
        let cmdline = (try? SystemFile.readAttribute("/proc/cmdline")) ?? nil
        let found = KernelConfig.locate(release: release)
        return KernelFingerprint(
            release: release, version: version, machine: machine,
            cmdline: cmdline ?? "", configSource: found?.source,
            config: found.map { KernelConfig.relevant(in: $0.text) } ?? [:])
    }
}

public enum KernelConfig {
    /// Options that decide what daxref can exercise or observe.
    public static let relevantOptions = [
        "ZONE_DEVICE", "LIBNVDIMM", "BLK_DEV_PMEM", "ND_PFN", "NVDIMM_DAX", "X86_PMEM_LEGACY",
        "ACPI_NFIT", "FS_DAX", "FS_DAX_PMD", "DEV_DAX", "DEV_DAX_PMEM", "DEV_DAX_KMEM",
        "DEV_DAX_HMEM", "DEV_DAX_CXL", "DEVICE_PRIVATE", "TRANSPARENT_HUGEPAGE",
        "ARCH_WANT_OPTIMIZE_DAX_VMEMMAP", "MEMORY_HOTPLUG", "IO_URING", "KPROBES", "KPROBE_EVENTS",
        "PROBE_EVENTS_BTF_ARGS", "DEBUG_INFO_BTF", "GUP_TEST", "DEBUG_VM", "PROC_PAGE_MONITOR",
        "EXT4_FS", "XFS_FS", "IKCONFIG_PROC",
    ]

    /// /proc/config.gz first (it is the running kernel's own), then /boot/config-RELEASE.
    static func locate(release: String) -> (source: String, text: String)? {
        if SystemFile.exists("/proc/config.gz"), let text = gunzip("/proc/config.gz") {
            return ("/proc/config.gz", text)
        }
        let boot = "/boot/config-" + release
        if let text = try? SystemFile.readString(FilePath(boot)) { return (boot, text) }
        return nil
    }

    /// `CONFIG_X=v` lines and `# CONFIG_X is not set` (recorded as "n") for the relevant options.
    public static func relevant(in text: String) -> [String: String] {
        let wanted = Set(relevantOptions)
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("CONFIG_"), let eq = line.firstIndex(of: "=") {
                let name = String(line[line.index(line.startIndex, offsetBy: 7)..<eq])
                if wanted.contains(name) { result[name] = String(line[line.index(after: eq)...]) }
            } else if line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") {
                let name = String(line.dropFirst(9).dropLast(11))
                if wanted.contains(name) { result[name] = "n" }
            }
        }
        for name in relevantOptions where result[name] == nil { result[name] = "n" }
        return result
    }

    private static func gunzip(_ path: String) -> String? {
        guard let output = try? Subprocess.capture(["gzip", "-dc", path]), output.status == 0 else {
            return nil
        }
        return output.stdout
    }
}
