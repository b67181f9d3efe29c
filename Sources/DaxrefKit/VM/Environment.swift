import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// scripts/vm of this checkout: found beside the running binary (.build/<config>/daxref), or
/// named by DAXREF_SCRIPTS.
public struct ScriptsDirectory: Sendable {
    public let path: String

    public init() throws(VMError) {
        if let explicit = ProcessInfo.processInfo.environment["DAXREF_SCRIPTS"] {
            guard SystemFile.exists(FilePath(explicit + "/init")) else {
                throw .setup("DAXREF_SCRIPTS=\(explicit) has no init script")
            }
            path = explicit
            return
        }
        var directory = URL(fileURLWithPath: executablePath()).deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = directory.appendingPathComponent("scripts/vm").path
            if SystemFile.exists(FilePath(candidate + "/init")) { path = candidate; return }
            directory.deleteLastPathComponent()
        }
        throw .setup("cannot find scripts/vm above \(executablePath()); run daxref from its checkout or set DAXREF_SCRIPTS")
    }

    public var fetchKernel: String { path + "/fetch-kernel.sh" }
    public var buildInitramfs: String { path + "/build-initramfs.sh" }
    public var guestProvision: String { path + "/guest-provision.sh" }

    /// Changes whenever anything that goes into an initramfs changes, so stale ones are not reused.
    public func initramfsFingerprint() -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in ["build-initramfs.sh", "init"] {
            for byte in (try? SystemFile.readBytes(FilePath(path + "/" + name))) ?? [] {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}

/// The binary the guest runs: this very one, through the read-only host root.
public func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// ${DAXREF_CACHE:-${XDG_CACHE_HOME:-~/.cache}/daxref}: kernels, apt state, initramfs images.
public struct CacheDirectory: Sendable {
    public let root: String

    public init() {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["DAXREF_CACHE"], !explicit.isEmpty {
            root = explicit
        } else {
            let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment["HOME"] ?? "/root") + "/.cache"
            root = base + "/daxref"
        }
    }

    /// The KERNEL_DIR layout build-initramfs.sh reads (vmlinuz, modules, config), as links.
    func kernelDirectory(for kernel: GuestKernel) throws(VMError) -> String {
        let directory = root + "/kernel-dirs/" + kernel.cacheKey
        let manager = FileManager.default
        do {
            try? manager.removeItem(atPath: directory)
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try manager.createSymbolicLink(atPath: directory + "/vmlinuz", withDestinationPath: kernel.vmlinuz)
            if let modules = kernel.modules {
                try manager.createSymbolicLink(atPath: directory + "/modules", withDestinationPath: modules)
            }
            if let config = kernel.config {
                try manager.createSymbolicLink(atPath: directory + "/config", withDestinationPath: config)
            }
        } catch { throw .setup("cannot prepare \(directory): \(error)") }
        return directory
    }
}

/// Host-side progress: phases on a TTY, nothing but warnings otherwise (stdout stays the guest's).
public struct Progress: Sendable {
    public let isInteractive: Bool
    public let quiet: Bool

    public init(quiet: Bool = false) {
        isInteractive = isatty(STDERR_FILENO) == 1
        self.quiet = quiet
    }

    public func step(_ message: String) {
        guard isInteractive, !quiet else { return }
        FileHandle.standardError.write(Data("\u{1b}[2m[daxref vm]\u{1b}[0m \(message)\n".utf8))
    }

    public func detail(_ line: String) {
        guard isInteractive, !quiet else { return }
        FileHandle.standardError.write(Data("\u{1b}[2m    \(line)\u{1b}[0m\n".utf8))
    }

    public func warn(_ message: String) {
        FileHandle.standardError.write(Data("daxref vm: \(message)\n".utf8))
    }
}

/// KVM is used only once a boot has shown it works here; a failed boot is remembered per host kernel.
enum KVMProbe {
    static func worthTrying(cache: CacheDirectory) -> Bool {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return !SystemFile.exists(FilePath(marker(cache)))
    }

    static func recordFailure(cache: CacheDirectory) {
        try? FileManager.default.createDirectory(atPath: cache.root, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: marker(cache), contents: Data("KVM hung or failed to boot a guest\n".utf8))
    }

    private static func marker(_ cache: CacheDirectory) -> String {
        cache.root + "/kvm-unusable-" + KernelFingerprint.uname().release
    }
}

/// POSIX sh single-quoting.
func shellQuote(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
