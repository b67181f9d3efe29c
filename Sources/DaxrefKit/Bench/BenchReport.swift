/// What `daxref bench --json` writes: where it ran, with what settings, and every case.
public struct BenchReport: Codable, Sendable {
    public static let currentSchemaVersion = 1
    public var schemaVersion = BenchReport.currentSchemaVersion
    public var environment: BenchEnvironment
    public var settings: BenchSettings
    public var cases: [BenchCase]

    public init(environment: BenchEnvironment, settings: BenchSettings, cases: [BenchCase]) {
        self.environment = environment
        self.settings = settings
        self.cases = cases
    }

    /// A case that should have produced a number and did not because something broke (as opposed
    /// to being unavailable here for a stated reason).
    public var hasErrors: Bool { cases.contains { $0.status == .error } }
}

/// One comparison: our side and its peer measured in the same run, repetitions interleaved, plus
/// (where there is one) the limit the hardware or setup allows.
public struct BenchCase: Codable, Sendable, Equatable {
    public enum Group: String, Codable, Sendable, CaseIterable {
        /// memcpy into / out of a DAX mapping vs anonymous memory.
        case copy
        /// First touch of every page of a fresh mapping (information, no goal).
        case faultIn = "fault-in"
        /// O_DIRECT with a DAX buffer vs fio with the same buffer memory.
        case direct
        /// io_uring buffer registration and unregistration vs the C reference.
        case pin
        /// pagemap + smaps of the mapping vs the C reference.
        case snapshot
        /// Host side: kernel fetch, initramfs, boot, whole suite.
        case vmPhase = "vm-phase"
    }

    public enum Metric: String, Codable, Sendable {
        /// Bytes per second; higher is better.
        case bandwidth
        /// Seconds; lower is better.
        case duration
    }

    public enum Status: String, Codable, Sendable {
        /// Ours (and the peer, where the case has one) produced numbers.
        case measured
        /// Not possible here, for the stated reason (nothing provisioned, no fio, …).
        case unavailable
        /// Something broke: setup failed, a helper crashed or timed out. The reason says what.
        case error
    }

    /// Stable ID: `<group>.<backing>[.<direction>]` (`copy.devdax.2m.into`, `direct.fsdax.xfs.read`,
    /// `pin.devdax.1g`) or `vm.<kernel>.<phase>`.
    public var id: String
    public var group: Group
    /// One line for people: what is compared, with the device or mount.
    public var title: String
    public var metric: Metric
    /// Bytes moved, pinned or mapped per repetition (nil where it does not apply).
    public var bytes: Int?
    public var ours: BenchSide?
    public var peer: BenchSide?
    public var limit: BenchSide?
    public var goal: BenchGoal?
    public var status: Status
    /// Why the case is unavailable or failed.
    public var reason: String?
    /// What a reader needs to interpret the numbers (refusals both sides saw, sizes used, …).
    public var notes: [String]

    public init(
        id: String, group: Group, title: String, metric: Metric, bytes: Int? = nil, ours: BenchSide? = nil,
        peer: BenchSide? = nil, limit: BenchSide? = nil, goal: BenchGoal? = nil, status: Status = .measured,
        reason: String? = nil, notes: [String] = []
    ) {
        self.id = id
        self.group = group
        self.title = title
        self.metric = metric
        self.bytes = bytes
        self.ours = ours
        self.peer = peer
        self.limit = limit
        self.goal = goal
        self.status = status
        self.reason = reason
        self.notes = notes
    }

    /// A case that could not run here.
    public static func unavailable(
        _ id: String, group: Group, title: String, metric: Metric, goal: BenchGoal? = nil, reason: String
    ) -> BenchCase {
        BenchCase(id: id, group: group, title: title, metric: metric, goal: goal, status: .unavailable, reason: reason)
    }

    /// ours ÷ peer, medians, in the metric's own unit: for bandwidth ≥ 1 means ours is faster, for
    /// duration ≤ 1 means ours is faster. nil unless both sides have numbers.
    public var ratio: Double? {
        guard let ours = ours?.summary?.median, let peer = peer?.summary?.median, peer > 0 else { return nil }
        return ours / peer
    }

    /// Whether the ratio meets the goal; nil without a goal or a ratio.
    public var goalMet: Bool? {
        guard let goal, let ratio else { return nil }
        return goal.isMet(by: ratio)
    }

    /// The ratio for people: two decimals, three where two would print the goal itself (0.8985
    /// shows as 0.899×, not as a "0.90×" that missed a 0.90× goal).
    public var displayRatio: String? {
        guard let ratio else { return nil }
        if let goal, formatDecimal(ratio, places: 2) == formatDecimal(goal.ratio, places: 2), ratio != goal.ratio {
            return formatDecimal(ratio, places: 3) + "×"
        }
        return formatRatio(ratio)
    }

    enum CodingKeys: String, CodingKey {
        case id, group, title, metric, bytes, ours, peer, limit, goal, status, reason, notes, ratio
        case goalMet = "goal_met"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        group = try container.decode(Group.self, forKey: .group)
        title = try container.decode(String.self, forKey: .title)
        metric = try container.decode(Metric.self, forKey: .metric)
        bytes = try container.decodeIfPresent(Int.self, forKey: .bytes)
        ours = try container.decodeIfPresent(BenchSide.self, forKey: .ours)
        peer = try container.decodeIfPresent(BenchSide.self, forKey: .peer)
        limit = try container.decodeIfPresent(BenchSide.self, forKey: .limit)
        goal = try container.decodeIfPresent(BenchGoal.self, forKey: .goal)
        status = try container.decode(Status.self, forKey: .status)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        notes = try container.decodeIfPresent([String].self, forKey: .notes) ?? []
    }

    /// The derived ratio and goal_met are written too, so a reader of the JSON needs no arithmetic.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(group, forKey: .group)
        try container.encode(title, forKey: .title)
        try container.encode(metric, forKey: .metric)
        try container.encodeIfPresent(bytes, forKey: .bytes)
        try container.encodeIfPresent(ours, forKey: .ours)
        try container.encodeIfPresent(peer, forKey: .peer)
        try container.encodeIfPresent(limit, forKey: .limit)
        try container.encodeIfPresent(goal, forKey: .goal)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(reason, forKey: .reason)
        try container.encode(notes, forKey: .notes)
        try container.encodeIfPresent(ratio, forKey: .ratio)
        try container.encodeIfPresent(goalMet, forKey: .goalMet)
    }
}

/// One side of a case: who did it, every repetition, and their summary.
public struct BenchSide: Codable, Sendable, Equatable {
    /// `daxref (Swift)`, `anonymous memory`, `fio 3.33`, `C reference`, …
    public var label: String
    /// One value per repetition, in the case's metric unit (bytes/s or seconds), in run order.
    public var samples: [Double]
    public var summary: SampleSummary?
    /// What the measured call returned, where that varies: `ok`, or the errno name both sides must
    /// agree on (`EOPNOTSUPP` for a refused long-term pin).
    public var outcome: String?
    /// Why this side has no (or too few) samples.
    public var failure: String?

    public init(label: String, samples: [Double], outcome: String? = nil, failure: String? = nil) {
        self.label = label
        self.samples = samples
        self.summary = SampleSummary(samples)
        self.outcome = outcome
        self.failure = failure
    }
}

/// The acceptance goal for a case's ratio (ours ÷ peer).
public struct BenchGoal: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Comparison: String, Codable, Sendable {
        case atLeast = ">="
        case atMost = "<="
    }

    public var comparison: Comparison
    public var ratio: Double

    public static func atLeast(_ ratio: Double) -> BenchGoal { BenchGoal(comparison: .atLeast, ratio: ratio) }
    public static func atMost(_ ratio: Double) -> BenchGoal { BenchGoal(comparison: .atMost, ratio: ratio) }

    public func isMet(by value: Double) -> Bool {
        switch comparison {
        case .atLeast: value >= ratio
        case .atMost: value <= ratio
        }
    }

    public var description: String {
        (comparison == .atLeast ? "≥ " : "≤ ") + formatRatio(ratio)
    }
}

/// The goals of the benchmark issue, one place.
public enum BenchGoals {
    /// DAX mmap copy ≥ 0.9 × anonymous memcpy in the same guest.
    public static let copy = BenchGoal.atLeast(0.9)
    /// O_DIRECT with DAX buffers ≥ 0.95 × fio.
    public static let direct = BenchGoal.atLeast(0.95)
    /// Swift pin/unpin and snapshot ≤ 1.1 × the C program.
    public static let reference = BenchGoal.atMost(1.1)
    /// The whole suite ≤ 2 × the kernel's boot floor.
    public static let suite = BenchGoal.atMost(2)
}

/// `0.97×`: two decimals, enough for goals given to two decimals.
func formatRatio(_ ratio: Double) -> String {
    formatDecimal(ratio, places: 2) + "×"
}

/// Fixed decimals without Foundation's locale-dependent formatting.
func formatDecimal(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    let fraction = scaled % Int64(scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard places > 0 else { return sign + String(whole) }
    return sign + String(whole) + "." + String(fraction).leftPadded(to: places)
}
