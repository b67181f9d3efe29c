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
    /// In /dev/shm (memory), not the run directory: the guest writes its pmem at memory speed.
    let nvdimmBacking: String

    init(kernel: GuestKernel, options: VMRunner.Options, scripts: ScriptsDirectory) throws(VMError) {
        Self.removeStale()
        var template = Array((NSTemporaryDirectory() + "/daxref-vm.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .setup("mkdtemp: \(Errno(rawValue: errno))")
        }
        path = String(cString: made)
        nvdimmBacking = "/dev/shm/daxref-pmem." + (path as NSString).lastPathComponent
        let cwd = FileManager.default.currentDirectoryPath
        shares = Self.minimalShares([cwd] + options.shares)

        let command = ([executablePath()] + options.command).map(shellQuote).joined(separator: " ")
        var files = [
            "cmd": "exec \(command)\n",
            "cwd": cwd + "\n",
            "owner": "\(getpid())\n",
        ]
        // init installs it as /boot/config-<release> in the guest.
        if let config = kernel.config, let text = try? SystemFile.readString(FilePath(config)) {
            files["config"] = text
        }
        if !options.provision.isEmpty {
            files["provision"] = "exec \(shellQuote(scripts.guestProvision)) "
                + options.provision.map(shellQuote).joined(separator: " ") + "\n"
        }
        for (name, text) in files {
            guard FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8)) else {
                throw .setup("cannot write \(path)/\(name)")
            }
        }
    }

    /// Sparse backing files: the nvdimm and a 256 MiB scratch disk.
    func createBackings(_ config: QemuConfiguration) throws(VMError) {
        var files: [(String, Int)] = []
        if let nvdimm = config.nvdimmBacking { files.append((nvdimm, config.nvdimmSizeMiB)) }
        if let disk = config.scratchDisk { files.append((disk, 256)) }
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
        try? FileManager.default.removeItem(atPath: nvdimmBacking)
    }

    /// Run directories (and their /dev/shm backings) of daxref processes that no longer exist:
    /// a daxref killed by a signal cannot clean up after itself (its QEMU dies with it).
    static func removeStale() {
        let temporary = NSTemporaryDirectory()
        for name in (try? SystemFile.listDirectory(FilePath(temporary))) ?? [] where name.hasPrefix("daxref-vm.") {
            let directory = temporary + "/" + name
            guard let owner = (try? SystemFile.readAttribute(FilePath(directory + "/owner"))) ?? nil,
                let pid = pid_t(owner), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: "/dev/shm/daxref-pmem." + name)
        }
    }

    /// Drops shares inside another share (9p would show the outer one there anyway) and "/".
    static func minimalShares(_ paths: [String]) -> [String] {
        let normalized = Set(paths.map { URL(fileURLWithPath: $0).standardized.path }).filter { $0 != "/" }
        return normalized.filter { path in
            !normalized.contains { other in other != path && path.hasPrefix(other + "/") }
        }.sorted()
    }
}
