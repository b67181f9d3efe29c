/// Everything a helper process needs to run one step; passed as JSON on its command line.
public struct StepRequest: Codable, Sendable, Equatable {
    public var backing: Backing
    public var workload: Workload
    /// Requested mapping length in bytes (rounded up to the backing's alignment).
    public var length: Int
    public var blockTarget: BlockTarget?
    /// Seconds a watched call (truncate, punch hole, unlink, close) may take before it counts as
    /// blocked and is sampled.
    public var blockWait: Double
    /// Seconds to wait for a blocked call after each release action.
    public var releaseWait: Double
    /// Keep per-page lists (PFNs, kpagecount, kpageflags) in checkpoints, however long.
    public var perPageLists: Bool

    public init(
        backing: Backing, workload: Workload, length: Int = StepRequest.defaultLength, blockTarget: BlockTarget? = nil,
        blockWait: Double = 1, releaseWait: Double = 5, perPageLists: Bool = false
    ) {
        self.backing = backing
        self.workload = workload
        self.length = length
        self.blockTarget = blockTarget
        self.blockWait = blockWait
        self.releaseWait = releaseWait
        self.perPageLists = perPageLists
    }

    /// Two PMDs: one PMD fault can be told from a whole-mapping populate.
    public static let defaultLength = 4 << 20
    /// O_DIRECT, vmsplice, pins and remote reads cover at most this much of a mapping, so a 1 GiB
    /// device does not turn into a 1 GiB transfer under TCG.
    public static let transferLimit = 4 << 20

    public var id: String { backing.id + "." + workload.rawValue }
}

/// Where O_DIRECT goes: a non-DAX block device (written from offset 0: it must be a scratch disk,
/// named explicitly), or a directory on a non-DAX filesystem (a scratch file is created there).
public struct BlockTarget: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        case device
        case directory
    }

    public var path: String
    public var kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    public var description: String { "\(path) (\(kind.rawValue))" }
}
