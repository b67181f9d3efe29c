import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A file daxref created for one step: closed and unlinked when its owner goes away, unless a
/// workload closed or unlinked it itself (the close/unlink workloads time exactly those calls).
public struct ScratchFile: ~Copyable {
    public let path: FilePath
    /// nil once closed.
    public private(set) var descriptor: FileDescriptor?
    /// false once the workload took over unlinking.
    private var unlinkOnDeinit = true

    /// Creates `daxref-<owner>-<pid>-<n>-<attempt>.data` in `directory` (O_EXCL: never someone else's
    /// file). `owner` is the run's top daxref process (`ScratchFile.owner`), so that process can
    /// sweep what a helper it killed left behind.
    public init(in directory: FilePath) throws(Errno) {
        var attempt = 0
        while true {
            let name = ScratchName(owner: Self.owner, creator: getpid(), serial: scratchSerial.add(1, ordering: .relaxed).newValue, attempt: attempt)
            let candidate = directory.appending(name.fileName)
            do {
                descriptor = try withTypedErrno {
                    try FileDescriptor.open(
                        candidate, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                        permissions: [.ownerReadWrite])
                }
                path = candidate
                return
            } catch Errno.fileExists where attempt < 100 {
                attempt += 1
            }
        }
    }

    deinit {
        if let descriptor { try? descriptor.close() }
        if unlinkOnDeinit { _ = path.withPlatformString { unlink($0) } }
    }

    /// close(2) now, with its errno.
    public mutating func close() throws(Errno) {
        guard let open = takeDescriptor() else { return }
        try withTypedErrno { try open.close() }
    }

    /// The descriptor, for a workload that closes it itself (possibly on another thread, where the
    /// last close may block).
    public mutating func takeDescriptor() -> FileDescriptor? {
        defer { descriptor = nil }
        return descriptor
    }

    /// The path, for a workload that unlinks it itself (possibly on another thread, where it may block).
    public mutating func takeUnlink() -> FilePath {
        unlinkOnDeinit = false
        return path
    }

    public var isOpen: Bool { descriptor != nil }

}

extension ScratchFile {
    /// Names helpers pass on to their own helpers: the pid of the daxref process that owns the run.
    public static let ownerEnvironmentKey = "DAXREF_SCRATCH_OWNER"

    /// The run's owner: inherited from the daxref that started this helper, else this process.
    public static let owner: pid_t = {
        if let text = ProcessInfo.processInfo.environment[ownerEnvironmentKey], let pid = pid_t(text), pid > 0 { return pid }
        return getpid()
    }()

    /// Removes the scratch files of run `owner` in `directory` (only `creator`'s when given). A file
    /// whose creator still runs (other than this process) is left: it may be stuck in the kernel on
    /// that very file, and unlink would then block here too. Returns the names removed.
    @discardableResult
    public static func sweep(in directory: FilePath, owner: pid_t = ScratchFile.owner, creator: pid_t? = nil) -> [String] {
        sweep(in: directory) { name in
            name.owner == owner && (creator == nil || name.creator == creator)
                && (name.creator == getpid() || !ProcessLiveness.isRunning(name.creator))
        }
    }

    /// Removes scratch files of runs that are over: neither their owner nor their creator is running
    /// (a run ended by SIGKILL, or a helper that was stuck in D state and has since ended).
    @discardableResult
    public static func sweepStale(in directory: FilePath) -> [String] {
        sweep(in: directory) { name in !ProcessLiveness.isRunning(name.owner) && !ProcessLiveness.isRunning(name.creator) }
    }

    private static func sweep(in directory: FilePath, where matches: (ScratchName) -> Bool) -> [String] {
        var removed: [String] = []
        for entry in (try? SystemFile.listDirectory(directory)) ?? [] {
            guard let name = ScratchName(fileName: entry), matches(name) else { continue }
            if (try? unlinkFile(directory.appending(entry))) != nil { removed.append(entry) }
        }
        return removed
    }
}

/// `daxref-<owner>-<creator>-<serial>-<attempt>.data`; also reads the older
/// `daxref-<creator>-<serial>-<attempt>.data` (owner = creator).
public struct ScratchName: Sendable, Equatable {
    public var owner: pid_t
    public var creator: pid_t
    public var serial: Int
    public var attempt: Int

    public init(owner: pid_t, creator: pid_t, serial: Int, attempt: Int) {
        self.owner = owner
        self.creator = creator
        self.serial = serial
        self.attempt = attempt
    }

    public init?(fileName: String) {
        guard fileName.hasPrefix("daxref-"), fileName.hasSuffix(".data") else { return nil }
        let numbers = fileName.dropFirst("daxref-".count).dropLast(".data".count).split(separator: "-", omittingEmptySubsequences: false)
        let values = numbers.compactMap { Int($0) }
        guard values.count == numbers.count, values.allSatisfy({ $0 >= 0 }) else { return nil }
        switch values.count {
        case 4:
            guard let owner = pid_t(exactly: values[0]), let creator = pid_t(exactly: values[1]) else { return nil }
            self.init(owner: owner, creator: creator, serial: values[2], attempt: values[3])
        case 3:
            guard let creator = pid_t(exactly: values[0]) else { return nil }
            self.init(owner: creator, creator: creator, serial: values[1], attempt: values[2])
        default:
            return nil
        }
    }

    public var fileName: String { "daxref-\(owner)-\(creator)-\(serial)-\(attempt).data" }
}

/// unlink(2), retried on EINTR.
public func unlinkFile(_ path: FilePath) throws(Errno) {
    _ = try retryingOnInterrupt { path.withPlatformString { unlink($0) < 0 ? -errno : 0 } }
}

/// Numbers scratch files, so concurrent steps in one process never pick the same name.
private let scratchSerial = Atomic<Int>(0)

/// The scratch directories one helper works in, from the parent's side: while it runs, a signal
/// that ends daxref sweeps the run's files there (the helper registers after this, so it is killed
/// before the sweep); afterwards `sweep(after:)` removes what a helper killed on its deadline left.
/// The first guard of a directory in a process also sweeps what earlier, SIGKILLed runs left there.
public struct ScratchGuard: ~Copyable {
    public let directories: [FilePath]
    private let registration: CleanupRegistration?

    public init(directories: [String]) {
        let unique = Array(Set(directories.filter { !$0.isEmpty })).sorted().map { FilePath($0) }
        self.directories = unique
        for directory in unique where sweptStale.withLock({ $0.insert(directory.string).inserted }) {
            ScratchFile.sweepStale(in: directory)
        }
        if unique.isEmpty {
            registration = nil
        } else {
            let owner = ScratchFile.owner
            registration = CleanupOwner.shared.register("scratch files in \(unique.map(\.string).joined(separator: ", "))") {
                for directory in unique { ScratchFile.sweep(in: directory, owner: owner) }
            }
        }
    }

    /// After a helper that has ended (`pid`, reaped): its files, if it was killed before removing them.
    /// Nothing for a helper still running (abandoned in D state): its files wait for a later sweep.
    @discardableResult
    public func sweep(afterHelper pid: pid_t) -> [String] {
        guard pid > 0, !ProcessLiveness.isRunning(pid) else { return [] }
        return directories.flatMap { ScratchFile.sweep(in: $0, creator: pid) }
    }
}

/// Directories already swept for stale files by this process.
private let sweptStale = Mutex<Set<String>>([])
