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
    /// The workload's own keys (`Variant.records`), for the step as a whole.
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

    public static func skipped(_ scenario: Scenario, because reason: String) -> StepResult {
        StepResult(id: scenario.id, backing: scenario.memory.rawValue, workload: scenario.workload, status: .skipped, reason: reason)
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
    public var name: CheckpointName
    /// Since the step started.
    public var atMilliseconds: Int64
    public var observations: Observations
}

/// The moments at which steps take snapshots. Each variant declares the ones it takes
/// (`Variant.checkpoints`) and rules name them, so a misspelt checkpoint does not compile. The raw
/// value is the name reports publish.
public enum CheckpointName: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case before, after
    /// Every page accessed (touch), or written before an advice.
    case touched
    case advised
    /// Written and mapped, before munmap.
    case mapped
    case unmapped
    /// A forked child's writes done and the child gone.
    case childExited = "child-exited"
    /// A forked child has the pages mapped (it read the parent's pattern).
    case childMapped = "child-mapped"
    /// Held by vmsplice in a pipe, still mapped; then unmapped; then read out of the pipe.
    case held
    case heldUnmapped = "held-unmapped"
    case drained
    /// io_uring fixed buffer registered (long-term pinned), refused, or unregistered.
    case pinned, refused, unpinned
    /// The watched call (truncate, punch hole, unlink, close) had not returned after the block wait.
    case blocked
    /// A namespace step's reconfigured namespace exists; then the spare is as it was.
    case created, restored

    public var description: String { rawValue }
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
