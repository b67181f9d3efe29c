/// What one step (a workload on a backing) did and what was seen. No verdicts: the model compares
/// these with its expectations (issue 5).
public struct StepResult: Codable, Sendable, Equatable {
    /// `<backing>.<workload>`, e.g. `fsdax.ext4.truncate.vmsplice`.
    public var id: String
    public var backing: String
    public var workload: Workload
    public var status: StepStatus
    /// Why it was skipped, what failed, or how the helper ended.
    public var reason: String?
    /// The workload's own keys (`StepKeys`), for the step as a whole.
    public var observations: Observations
    /// Observer snapshots (smaps, pagemap, kpage*, vmstat, meminfo, status, dmesg, sysfs) at the
    /// step's named moments, in order: `before`, `held`, `pinned`, `blocked`, `after`, …
    public var checkpoints: [Checkpoint]
    /// Where a blocked task was, sampled while it was blocked (oldest first).
    public var samples: [TaskSample]
    /// The helper process could not be reaped (a task stuck in D state): it was left behind.
    public var helperAbandoned: Bool

    public init(
        id: String, backing: String, workload: Workload, status: StepStatus, reason: String? = nil,
        observations: Observations = Observations(), checkpoints: [Checkpoint] = [], samples: [TaskSample] = [],
        helperAbandoned: Bool = false
    ) {
        self.id = id
        self.backing = backing
        self.workload = workload
        self.status = status
        self.reason = reason
        self.observations = observations
        self.checkpoints = checkpoints
        self.samples = samples
        self.helperAbandoned = helperAbandoned
    }

    public static func skipped(_ workload: Workload, on backing: Backing, because reason: String) -> StepResult {
        StepResult(id: backing.id + "." + workload.rawValue, backing: backing.id, workload: workload, status: .skipped, reason: reason)
    }
}

public enum StepStatus: String, Codable, Sendable {
    /// The workload ran to its end. What each syscall returned (errnos included) is an observation.
    case completed
    /// Not applicable to the backing, or something it needs is missing (`reason`).
    case skipped
    /// Setting up failed (memory, files, pipes): nothing was learned about the kernel.
    case error
    /// The helper did not report before its deadline; `samples` show where its tasks were.
    case timedOut = "timed-out"
    /// The helper died from a signal outside the guarded memory accesses.
    case crashed
}

/// Observer readings at one named moment of a step.
public struct Checkpoint: Codable, Sendable, Equatable {
    public var name: String
    /// Since the step started.
    public var atMilliseconds: Int64
    public var observations: Observations
}

/// One look at a task: /proc/PID/task/TID/{wchan,stack,stat}.
public struct TaskSample: Codable, Sendable, Equatable {
    public var tid: Int32
    /// Since the step (or, for a helper the harness gave up on, the helper) started.
    public var atMilliseconds: Int64
    public var wait: TaskWait?
    /// Why the task could not be read (it ended, or /proc refused).
    public var unreadable: String?

    public static func take(pid: Int32, tid: Int32, atMilliseconds: Int64) -> TaskSample {
        do {
            return TaskSample(tid: tid, atMilliseconds: atMilliseconds, wait: try TaskWait.read(pid: pid, tid: tid))
        } catch {
            return TaskSample(tid: tid, atMilliseconds: atMilliseconds, unreadable: error.description)
        }
    }
}

/// The keys workloads record. Observers' keys (`smaps.*`, `pagemap.*`, `vmstat.*`, `task.*`, …) are
/// documented in `ObservableCatalogue`; these are about the step itself.
public enum StepKeys {
    /// text: the step's main syscall (`io_uring_register`, `ftruncate`, `vmsplice`, `pread`, …).
    public static let syscallName: ObservableKey = "syscall.name"
    /// integer: its errno, 0 when it succeeded.
    public static let syscallErrno: ObservableKey = "syscall.errno"
    /// integer: its return value when it succeeded (bytes for I/O, vmsplice and process_vm_readv).
    public static let syscallResult: ObservableKey = "syscall.result"
    /// integer µs: how long it took.
    public static let syscallDuration: ObservableKey = "syscall.duration.us"
    /// `syscall.<name>.errno` / `.result` / `.duration.us`: a secondary syscall of the step
    /// (`syscall.io_uring_unregister.errno`, `syscall.munmap.errno`).
    public static func secondary(_ name: String, _ field: String) -> ObservableKey { ObservableKey(rawValue: "syscall.\(name).\(field)") }

    /// integer ms: the whole step, in the helper (mapping to cleanup).
    public static let stepDuration: ObservableKey = "step.duration.ms"
    /// flag: the harness gave up waiting for the helper, or a blocking call never returned.
    public static let stepTimedOut: ObservableKey = "step.timed_out"
    /// flag: the call watched on another thread had not returned after the block wait.
    public static let stepBlocked: ObservableKey = "step.blocked"
    /// integer ms: from the watched call's start to its return (absent when it never returned).
    public static let stepBlockedDuration: ObservableKey = "step.blocked.ms"
    /// text: what made a blocked call return: `pipe-drain`, `munmap`, `itself` (it returned before
    /// any release), or `none` (still blocked).
    public static let stepReleasedBy: ObservableKey = "step.released_by"

    /// Where the blocked call slept, from the first sample taken while blocked (`task.*` keys are
    /// the observers'; the full series is in `StepResult.samples`).
    public static let taskWchan: ObservableKey = "task.wchan"
    public static let taskState: ObservableKey = "task.state"
    public static let taskStack: ObservableKey = "task.stack"

    /// integer bytes: memory present after a single access at the start of the mapping (pagemap
    /// PM_PRESENT over the whole mapping; fault-around of page-cache files shows up here too). For
    /// a 1 GiB PUD mapping the measuring walk itself splits the PUD: then it is 1 GiB per split
    /// (see `faultWalkSplitPUD`).
    public static let faultSize: ObservableKey = "fault.size"
    /// integer: thp_split_pud increase caused by the pagemap read that measured fault.size.
    public static let faultWalkSplitPUD: ObservableKey = "fault.walk_split_pud"
    /// integer: SIGBUS (7) or SIGSEGV (11) caught in a guarded access of this process; absent if none.
    public static let faultSignal: ObservableKey = "fault.signal"
    /// integer bytes: where in the mapping the signal hit.
    public static let faultOffset: ObservableKey = "fault.offset"
    /// integer: the signal a forked child caught in its guarded access.
    public static let childFaultSignal: ObservableKey = "child.fault.signal"

    /// flag: the data the step checks arrived intact (the pattern, word by word).
    public static let dataVerified: ObservableKey = "data.verified"
    /// integer bytes: offset of the first word that differed.
    public static let dataMismatchOffset: ObservableKey = "data.mismatch_offset"
    /// flag (fork): the child's writes are visible to the parent (shared mappings yes, private no).
    public static let dataChildWriteVisible: ObservableKey = "data.child_write_visible"
    /// flag (madv-dontneed): the data was still there after MADV_DONTNEED.
    public static let dataRetained: ObservableKey = "data.retained"

    /// integer bytes: pipe capacity after F_SETPIPE_SZ.
    public static let pipeCapacity: ObservableKey = "pipe.capacity"
    /// integer bytes: held in the pipe by vmsplice.
    public static let pipeHeld: ObservableKey = "pipe.held"
    /// integer bytes: read back out of the pipe when releasing.
    public static let pipeDrained: ObservableKey = "pipe.drained"

    /// integer bytes: the mapping's length and its alignment (device align for device-dax).
    public static let memoryLength: ObservableKey = "memory.length"
    public static let memoryAlignment: ObservableKey = "memory.alignment"
    /// integer bytes: how much the step's I/O, pin or splice covered.
    public static let memoryTransfer: ObservableKey = "memory.transfer"
}
