import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The per-boot directory init reads through the host root (cmd, cwd, provision) plus the
/// files QEMU needs (nvdimm backing, scratch disk, guest stdout/stderr). Removed, with the nvdimm
/// backing, when its owner goes away, or by `CleanupOwner` when a signal ends daxref first.
struct RunDirectory: ~Copyable {
    let path: String
    /// Writable host directories at the same path in the guest (the cwd and report directories).
    let shares: [String]
    /// Read-only ones: where the binary and scripts/vm are when the guest's own mounts hide them.
    let readOnlyShares: [String]

    var stdoutFile: String { path + "/guest.stdout" }
    var stderrFile: String { path + "/guest.stderr" }
    /// In /dev/shm (memory), not the run directory: the guest writes its pmem at memory speed.
    let nvdimmBacking: String
    private let cleanup: CleanupRegistration

    init(kernel: GuestKernel, options: VMRunner.Options, scripts: ScriptsDirectory) throws(VMError) {
        Self.removeStale()
        let cwd = FileManager.default.currentDirectoryPath
        let shares = Self.minimalShares([cwd] + options.shares)
        let binary = executablePath()
        let readOnly = try GuestView.readOnlyShares(
            for: [(binary, "the daxref binary")] + (options.provision.isEmpty ? [] : [(scripts.guestProvision, "scripts/vm")]),
            writableShares: shares)

        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("daxref-vm.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .setup("mkdtemp: \(Errno(rawValue: errno))")
        }
        let path = String(cString: made)
        let backing = "/dev/shm/daxref-pmem." + (path as NSString).lastPathComponent
        let cleanup = CleanupOwner.shared.register("run directory \(path), \(backing)") { Self.remove(path, backing) }

        let command = ([binary] + options.command).map(shellQuote).joined(separator: " ")
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
        for (name, text) in files where !FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8)) {
            Self.remove(path, backing)
            throw .setup("cannot write \(path)/\(name)")
        }
        self.path = path
        self.shares = shares
        self.readOnlyShares = readOnly
        self.nvdimmBacking = backing
        self.cleanup = cleanup
    }

    deinit { Self.remove(path, nvdimmBacking) }

    /// Sparse backing files: the nvdimm and a 256 MiB scratch disk.
    func createBackings(_ config: QemuConfiguration) throws(VMError) {
        var files: [(String, Int)] = []
        if let nvdimm = config.nvdimmBacking { files.append((nvdimm, config.nvdimmSizeMiB)) }
        if let disk = config.scratchDisk { files.append((disk, 256)) }
        for (file, mebibytes) in files {
            let fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0, ftruncate(fd, off_t(mebibytes) << 20) == 0 else {
                let error = Errno(rawValue: errno)
                if fd >= 0 { close(fd) }
                throw .setup("cannot create \(file): \(error)")
            }
            close(fd)
        }
    }

    private static func remove(_ path: String, _ backing: String) {
        try? FileManager.default.removeItem(atPath: path)
        unlink(backing)
    }

    /// Run directories (and their /dev/shm backings) of daxref processes that no longer exist:
    /// a daxref killed by SIGKILL cannot clean up after itself (its QEMU dies with it).
    static func removeStale() {
        let temporary = NSTemporaryDirectory()
        for name in (try? SystemFile.listDirectory(FilePath(temporary))) ?? [] where name.hasPrefix("daxref-vm.") {
            let directory = (temporary as NSString).appendingPathComponent(name)
            guard let owner = (try? SystemFile.readAttribute(FilePath(directory + "/owner"))) ?? nil,
                let pid = pid_t(owner), !ProcessLiveness.isRunning(pid)
            else { continue }
            remove(directory, "/dev/shm/daxref-pmem." + name)
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

/// What the guest sees of the host: its root read-only through 9p, except where scripts/vm/init
/// mounts the guest's own file systems (fresh tmpfs on /tmp, /run, /mnt, /dev/shm; the guest's
/// /proc, /sys, /dev). Host files there are invisible unless shared.
enum GuestView {
    /// Mounted over by init with a fresh tmpfs: a host directory below can be shared into it.
    static let freshTmpfs = ["/tmp", "/run", "/mnt", "/dev/shm"]
    /// The guest's own: host files below cannot be shown there.
    static let guestOwned = ["/proc", "/sys", "/dev"]

    static func isBelow(_ path: String, _ root: String) -> Bool { path == root || path.hasPrefix(root + "/") }

    /// The directories to share read-only so that every one of `files` (path, what it is) is at its
    /// own path in the guest; throws for a file the guest cannot be shown.
    static func readOnlyShares(for files: [(path: String, what: String)], writableShares: [String]) throws(VMError) -> [String] {
        var shares: [String] = []
        for (rawPath, what) in files {
            let path = URL(fileURLWithPath: rawPath).standardized.path
            guard SystemFile.exists(FilePath(path)) else {
                throw .setup("\(what) \(path) does not exist (replaced or deleted while daxref runs?); the guest runs it from the host")
            }
            if writableShares.contains(where: { isBelow(path, $0) }) || shares.contains(where: { isBelow(path, $0) }) { continue }
            let directory = (path as NSString).deletingLastPathComponent
            if let root = freshTmpfs.first(where: { isBelow(path, $0) }) {
                // Sharing the tmpfs root itself would hide the guest's own (writable) one.
                guard directory != root else {
                    throw .setup("\(what) \(path) is directly in \(root), which the guest mounts afresh: move it into a directory of its own (e.g. \(root)/daxref/) or outside \(freshTmpfs.joined(separator: ", "))")
                }
                shares.append(directory)
            } else if let root = guestOwned.first(where: { isBelow(path, $0) }) {
                throw .setup("\(what) \(path) is under \(root), which the guest replaces with its own: put it elsewhere")
            }
        }
        return RunDirectory.minimalShares(shares)
    }
}
