import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Fault injection for tests (`daxref run --test-kill-at NAME,…`): a step helper SIGKILLs itself
/// when it reaches a checkpoint of that name, holding whatever the step holds there (pins, a blocked call).
public enum FaultInjection {
    public static let killAtVariable = "DAXREF_TEST_KILL_AT"
}

/// The syscalls steps record by name: the main one as `syscall.name` with `syscall.errno` and
/// `syscall.result`, the others as `syscall.<name>.errno` / `.result` / `.duration.us`.
public enum Syscall: String, CaseIterable, Sendable {
    case mmap, madvise, munmap, fork, vmsplice, ftruncate, fallocate, unlink, close, read, pread, pwrite
    case processVMReadv = "process_vm_readv"
    case ioUringSetup = "io_uring_setup"
    case ioUringRegister = "io_uring_register"
    case ioUringUnregister = "io_uring_unregister"
    /// fcntl(F_SETPIPE_SZ).
    case fcntlSetPipeSize = "fcntl_setpipe_sz"

    /// Its keys as a secondary syscall of a step.
    public var errnoKey: ObservableKey { ObservableFamily.secondarySyscallErrno.key(rawValue) }
    public var resultKey: ObservableKey { ObservableFamily.secondarySyscallResult.key(rawValue) }
    public var durationKey: ObservableKey { ObservableFamily.secondarySyscallDuration.key(rawValue) }
    public var keys: [ObservableKey] { [errnoKey, resultKey, durationKey] }
}

/// What a running step records: its own observations, observer checkpoints and task samples.
/// Checkpoints are O's `Snapshot`s of this process's view of the mapping, plus the kernel log since
/// the previous checkpoint.
struct StepLog: ~Copyable {
    private let started = ContinuousClock.now
    private var target: SnapshotTarget
    private let options: SnapshotOptions
    private let kernelLog: KernelLogCursor?
    private(set) var observations = Observations()
    private(set) var checkpoints: [Checkpoint] = []
    private(set) var samples: [TaskSample] = []
    /// A watched call never returned: the helper must not clean up (that could block behind it).
    private(set) var leftTaskStuck = false

    private let keepPerPageLists: Bool

    init(backing: Backing, region: UnsafeMutableRawBufferPointer?, keepPerPageLists: Bool = false) {
        self.keepPerPageLists = keepPerPageLists
        let range = region.map { UInt64(UInt(bitPattern: $0.baseAddress)) ..< UInt64(UInt(bitPattern: $0.baseAddress)) + UInt64($0.count) }
        let device = backing.kind == .devdax ? backing.path.map { FilePath($0).lastComponent?.string ?? $0 } : nil
        target = SnapshotTarget(pid: getpid(), range: range, daxDevice: device)
        // A page walk splits 1 GiB PUD mappings; a checkpoint must not change what it looks at.
        options = backing.fixture.pageWalksSplitMappings ? .withoutPageWalks : .everything
        kernelLog = try? KernelLogCursor()
        if let region {
            observations[.memoryLength] = .integer(Int64(region.count))
            observations[.memoryAlignment] = .integer(Int64(backing.alignment))
        }
    }

    private static let killCheckpoints: Set<Substring> = Set(
        (getenv(FaultInjection.killAtVariable).map { String(cString: $0) } ?? "").split(separator: ","))

    var elapsedMilliseconds: Int64 { Self.milliseconds(ContinuousClock.now - started) }

    subscript(key: ObservableKey) -> ObservedValue? {
        get { observations[key] }
        set { observations[key] = newValue }
    }

    subscript(key: Observable) -> ObservedValue? {
        get { observations[key] }
        set { observations[key] = newValue }
    }

    /// Snapshot now, named; `tid` adds the `task.*` keys of that thread.
    mutating func checkpoint(_ name: CheckpointName, tid: Int32? = nil) {
        if Self.killCheckpoints.contains(Substring(name.rawValue)) { kill(getpid(), SIGKILL) }
        var target = self.target
        target.tid = tid
        let snapshot: Snapshot
        switch kernelLog {
        case .some(let cursor): snapshot = Snapshot.take(target, options: options, kernelLog: cursor)
        case .none: snapshot = Snapshot.take(target, options: options)
        }
        var observations = snapshot.observations
        if !keepPerPageLists {
            for (key, value) in observations.values {
                if case .list(let items) = value, items.count > Self.perPageListLimit {
                    observations[key] = .unavailable("per-page list of \(items.count) entries left out (drive --per-page keeps it)")
                }
            }
        }
        checkpoints.append(Checkpoint(name: name, atMilliseconds: elapsedMilliseconds, observations: observations))
    }

    /// Per-page lists (pagemap.pfns, kpagecount.values, kpageflags.values) longer than this are left
    /// out of checkpoints unless asked for: 1024 pages × 3 lists × every checkpoint made reports of
    /// tens of MB, and their counts (present, nopage, zero, union) stay.
    static let perPageListLimit = 64

    /// The step's main syscall.
    mutating func syscall(_ call: Syscall, _ outcome: Result<Int, Errno>, duration: Duration? = nil) {
        observations[.syscallName] = .text(call.rawValue)
        record(outcome, errno: Observable.syscallErrno.key, result: Observable.syscallResult.key)
        if let duration { observations[.syscallDuration] = .integer(Self.microseconds(duration)) }
    }

    /// A secondary syscall: `syscall.<name>.errno`, `.result`, `.duration.us`.
    mutating func secondarySyscall(_ call: Syscall, _ outcome: Result<Int, Errno>, duration: Duration? = nil) {
        record(outcome, errno: call.errnoKey, result: call.resultKey)
        if let duration { observations[call.durationKey] = .integer(Self.microseconds(duration)) }
    }

    private mutating func record(_ outcome: Result<Int, Errno>, errno: ObservableKey, result: ObservableKey) {
        switch outcome {
        case .success(let value):
            observations[errno] = .integer(0)
            observations[result] = .integer(Int64(value))
        case .failure(let error):
            observations[errno] = .integer(Int64(error.rawValue))
        }
    }

    /// A guarded access's fault, if it had one: recorded under `signal`/`offset`; true when it faulted.
    @discardableResult
    mutating func fault(_ access: MemoryAccess.Outcome, signal: Observable = .faultSignal, offset: Observable = .faultOffset) -> Bool {
        guard let fault = access.fault else { return false }
        observations[signal] = .integer(Int64(fault.signal))
        observations[offset] = .integer(Int64(fault.offset))
        return true
    }

    /// A pattern check: `data.verified`, and the first differing offset.
    mutating func verification(_ access: MemoryAccess.Outcome) {
        if fault(access) { observations[.dataVerified] = .flag(false); return }
        observations[.dataVerified] = .flag(access.mismatchOffset == nil)
        if let mismatch = access.mismatchOffset { observations[.dataMismatchOffset] = .integer(Int64(mismatch)) }
    }

    mutating func sample(pid: Int32, tid: Int32) -> TaskSample {
        let sample = TaskSample.take(pid: pid, tid: tid, atMilliseconds: elapsedMilliseconds)
        samples.append(sample)
        return sample
    }

    mutating func markTaskStuck() { leftTaskStuck = true }

    /// The mapping is gone: later checkpoints must not walk its old range, which the next mmap in
    /// this process (a staging buffer, a thread stack) may reuse.
    mutating func mappingReleased() { target.range = nil }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func microseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}
