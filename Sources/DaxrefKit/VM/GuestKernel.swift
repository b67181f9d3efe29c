import Foundation
import SystemPackage

/// A kernel to boot: a Debian package resolved by scripts/vm/fetch-kernel.sh, or the user's own build.
public struct GuestKernel: Sendable, Equatable {
    /// What the user asked for, for reports ("6.1", "7.2", "bzImage").
    public var spec: String
    public var vmlinuz: String
    /// The lib/modules/<release> directory; nil for a kernel with everything built in.
    public var modules: String?
    public var config: String?
    /// `uname -r` of the kernel.
    public var release: String
    /// Debian package version, or nil for an own build.
    public var packageVersion: String?
    public var suite: String?
    public var wasCached: Bool

    /// A stable name for caches keyed by kernel.
    public var cacheKey: String { (packageVersion ?? release).replacingOccurrences(of: "/", with: "_") }

    /// Parses fetch-kernel.sh's key=value manifest.
    public static func fromManifest(_ text: String, spec: String) throws(VMError) -> GuestKernel {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let vmlinuz = fields["vmlinuz"], let release = fields["release"] else {
            throw .setup("fetch-kernel.sh printed no vmlinuz/release for \(spec): \(text)")
        }
        return GuestKernel(
            spec: spec, vmlinuz: vmlinuz, modules: fields["modules"], config: fields["config"],
            release: release, packageVersion: fields["version"], suite: fields["suite"],
            wasCached: fields["cached"] == "yes")
    }

    /// An own-built kernel: `bzImage` plus an optional modules directory, either
    /// lib/modules/<release> itself or an INSTALL_MOD_PATH root that contains it.
    public static func local(bzImage: String, modules: String?) throws(VMError) -> GuestKernel {
        guard SystemFile.exists(FilePath(bzImage)) else { throw .usage("no such file (give a kernel image, e.g. arch/x86/boot/bzImage, or a Debian series like 6.12)") }
        guard let release = bzImageRelease(bzImage) else {
            throw .usage("not an x86 bzImage (no kernel version in its setup header)")
        }
        var modulesDir: String? = nil
        if let modules {
            let candidates = [modules, modules + "/lib/modules/" + release]
            modulesDir = candidates.first { SystemFile.exists(FilePath($0 + "/modules.dep")) }
            guard modulesDir != nil else {
                throw .usage("\(modules): no modules.dep for \(release) (run `make modules_install INSTALL_MOD_PATH=DIR`, then pass DIR)")
            }
        }
        let config = [modulesDir.map { $0 + "/build/.config" }, URL(fileURLWithPath: bzImage)
            .deletingLastPathComponent().appendingPathComponent("../../../.config").standardized.path]
            .compactMap { $0 }.first { SystemFile.exists(FilePath($0)) }
        return GuestKernel(
            spec: bzImage, vmlinuz: bzImage, modules: modulesDir, config: config, release: release,
            packageVersion: nil, suite: nil, wasCached: true)
    }

    /// The release string from the bzImage setup header (x86 boot protocol ≥ 2.00: the
    /// `kernel_version` field at 0x20E points to a NUL-terminated string at 0x200 + value).
    static func bzImageRelease(_ path: String) -> String? {
        guard let bytes = try? SystemFile.readBytes(FilePath(path), limit: 1 << 16), bytes.count > 0x210,
            bytes[0x202..<0x206].elementsEqual("HdrS".utf8)
        else { return nil }
        let offset = Int(bytes[0x20E]) | Int(bytes[0x20F]) << 8
        let start = 0x200 + offset
        guard start < bytes.count else { return nil }
        let text = String(decoding: bytes[start...].prefix { $0 != 0 && $0 != UInt8(ascii: " ") }, as: UTF8.self)
        return text.isEmpty ? nil : text
    }
}
