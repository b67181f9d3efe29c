import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The per-boot directory init reads through the host root (cmd, cwd, provision) plus the
/// files QEMU needs (nvdimm backing, scratch disk, guest stdout/stderr). Removed after the boot.
struct RunDirectory {
    let path: String
    let shares: [String]

    var stdoutFile: String { path + "/guest.stdout" }
    var stderrFile: String { path + "/guest.stderr" }

    init(kernel: GuestKernel, options: VMRunner.Options, scripts: ScriptsDirectory) throws(VMError) {
        var template = Array((NSTemporaryDirectory() + "/daxref-vm.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .setup("mkdtemp: \(Errno(rawValue: errno))")
        }
        path = String(cString: made)
        let cwd = FileManager.default.currentDirectoryPath
        shares = Self.minimalShares([cwd] + options.shares)

        let command = ([executablePath()] + options.command).map(shellQuote).joined(separator: " ")
        var files = [
            "cmd": "exec \(command)\n",
            "cwd": cwd + "\n",
        ]
        if !options.provision.isEmpty {
            files["provision"] = "exec /bin/sh \(shellQuote(scripts.guestProvision)) "
                + options.provision.map(shellQuote).joined(separator: " ") + "\n"
        }
        for (name, text) in files {
            guard FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8)) else {
                throw .setup("cannot write \(path)/\(name)")
            }
        }
    }

    /// Sparse backing files: an nvdimm per backing path and a 512 MiB scratch disk.
    func createBackings(_ config: QemuConfiguration) throws(VMError) {
        var files = config.nvdimmBackings.map { ($0, config.nvdimmSizeMiB) }
        if let disk = config.scratchDisk { files.append((disk, 512)) }
        for (file, mebibytes) in files {
            let fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0, ftruncate(fd, off_t(mebibytes) << 20) == 0 else {
                throw .setup("cannot create \(file): \(Errno(rawValue: errno))")
            }
            close(fd)
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Drops shares inside another share (9p would show the outer one there anyway) and "/".
    static func minimalShares(_ paths: [String]) -> [String] {
        let normalized = Set(paths.map { URL(fileURLWithPath: $0).standardized.path }).filter { $0 != "/" }
        return normalized.filter { path in
            !normalized.contains { other in other != path && path.hasPrefix(other + "/") }
        }.sorted()
    }
}
