/// What `daxref run` and `daxref drive` run scenarios with: the memory found here for each fixture
/// (or why there is none), the O_DIRECT target, the spare namespace, and the step parameters.
/// `step(for:)` is the one place that decides whether a scenario can run here.
public struct StepPlan: Sendable {
    /// One backing per fixture found here.
    public var backings: [Backing]
    /// Why a fixture has no backing here (the skip reason of its scenarios).
    public var unavailable: [MemoryFixture: String]
    public var blockTarget: BlockTarget?
    /// The namespace the namespace scenarios may reconfigure (and restore); nil: they are skipped
    /// with `spareMissing`.
    public var spareNamespace: String?
    public var spareMissing: String
    public var length: Int
    /// Seconds per step before the harness gives up on its helper.
    public var stepTimeout: Double
    public var blockWait: Double
    public var releaseWait: Double
    public var perPageLists: Bool

    public init(
        backings: [Backing], unavailable: [MemoryFixture: String] = [:], blockTarget: BlockTarget?, spareNamespace: String? = nil,
        spareMissing: String = StepPlan.spareNotNamed, length: Int = StepRequest.defaultLength, stepTimeout: Double = 120,
        blockWait: Double = 1, releaseWait: Double = 5, perPageLists: Bool = false
    ) {
        self.backings = backings
        self.unavailable = unavailable
        self.blockTarget = blockTarget
        self.spareNamespace = spareNamespace
        self.spareMissing = spareMissing
        self.length = length
        self.stepTimeout = stepTimeout
        self.blockWait = blockWait
        self.releaseWait = releaseWait
        self.perPageLists = perPageLists
    }

    public static let spareNotNamed = "needs a namespace daxref may reconfigure and restore: --allow-reconfigure namespaceX.Y"

    /// How a scenario runs here.
    public enum Step: Sendable, Equatable {
        /// In a step helper, with this request.
        case helper(StepRequest)
        /// By `NamespaceSteps` on `spareNamespace`.
        case namespace
        /// Not at all, for this reason.
        case skip(String)
    }

    public func step(for scenario: Scenario) -> Step {
        let variant = scenario.workload.variant
        if variant.reconfiguresNamespace { return spareNamespace == nil ? .skip(spareMissing) : .namespace }
        guard let backing = backings.first(where: { $0.fixture == scenario.memory }) else {
            return .skip(unavailable[scenario.memory] ?? "no \(scenario.memory) memory here")
        }
        if let reason = variant.skipReason(on: backing, blockTarget: blockTarget) { return .skip(reason) }
        return .helper(StepRequest(
            backing: backing, workload: scenario.workload, length: length, blockTarget: blockTarget, blockWait: blockWait,
            releaseWait: releaseWait, perPageLists: perPageLists))
    }
}

// MARK: where `daxref run` gets its memory

/// What the user named for `daxref run`; all empty means "nothing named".
public struct MemoryRequest: Sendable, Equatable {
    public var devdax: [String]
    public var fsdax: [String]
    public var blk: String?
    public var allowOverwrite: [String]
    /// The namespace the namespace scenarios may reconfigure.
    public var allowReconfigure: String?

    public init(devdax: [String] = [], fsdax: [String] = [], blk: String? = nil, allowOverwrite: [String] = [], allowReconfigure: String? = nil) {
        self.devdax = devdax
        self.fsdax = fsdax
        self.blk = blk
        self.allowOverwrite = allowOverwrite
        self.allowReconfigure = allowReconfigure
    }

    var namesDeviceMemory: Bool { !devdax.isEmpty || !fsdax.isEmpty || blk != nil }
}

/// Why `daxref run` refuses to start (exit 64 or 1, before any scenario).
public enum PlanError: Error, Sendable, CustomStringConvertible {
    /// A named device, directory or disk was refused.
    case refused(SelectionError)
    /// Devices were named but the inventory to check them against could not be read.
    case noInventory
    /// The namespace `--allow-reconfigure` names cannot be used.
    case spare(String, ReconfigureError)

    public var description: String {
        switch self {
        case .refused(let error): error.description
        case .noInventory: "--devdax/--fsdax need the inventory, which could not be read"
        case .spare(let name, let error): "--allow-reconfigure \(name): \(error)"
        }
    }
}

extension StepPlan {
    /// The memory `daxref run` uses, by where it runs:
    /// - on a machine where the user named devices (`--devdax`, `--fsdax`, `--blk`): only those,
    ///   each through the device-safety checks (`Selection`);
    /// - in a daxref guest (`DAXREF_GUEST=1`): everything its provisioning made, and its spare
    ///   namespace, which is disposable there;
    /// - anywhere else: only the controls.
    /// The O_DIRECT target not named by `--blk` comes from `DAXREF_BLK` or the VM's provisioning. A
    /// spare named by `--allow-reconfigure` is checked (not touched) when `checkSpare`: when the run
    /// has namespace scenarios. Throws before anything runs.
    public static func forRun(
        _ request: MemoryRequest, environment: [String: String], inventory: Inventory?, checkSpare: Bool,
        probe: any SelectionProbe = SystemSelectionProbe(), namespaceHost: any NamespaceHost = SystemNamespaceHost()
    ) throws(PlanError) -> StepPlan {
        let inGuest = environment["DAXREF_GUEST"] == "1"
        var plan = StepPlan(backings: [.anonymous, .pageCache()], blockTarget: nil)
        do throws(SelectionError) {
            if request.blk == nil {
                plan.blockTarget = try Selection.blockTarget(environment: environment, allowOverwrite: request.allowOverwrite, probe: probe)
            }
        } catch { throw .refused(error) }
        if request.namesDeviceMemory {
            guard let inventory else { throw .noInventory }
            let selection: HardwareSelection
            do throws(SelectionError) {
                selection = try Selection.select(
                    devdax: request.devdax, fsdax: request.fsdax, blk: request.blk, allowOverwrite: request.allowOverwrite,
                    inventory: inventory, probe: probe)
            } catch { throw .refused(error) }
            plan.backings = selection.backings + plan.backings
            if let target = selection.blockTarget { plan.blockTarget = target }
            plan.markMissingDAX { _ in "not named (--devdax/--fsdax)" }
        } else if inGuest, let inventory {
            plan.backings = Drive.availableBackings(inventory)
            plan.markMissingDAX { fixture in "not provisioned in this VM (daxref vm --provision ...,\(fixture.provisionWord ?? fixture.rawValue))" }
        } else {
            let hasDeviceMemory = inventory?.hasDeviceMemory == true
            plan.markMissingDAX { _ in
                hasDeviceMemory ? "hardware mode uses only the memory you name: --devdax /dev/daxX.Y, --fsdax DIR"
                    : "no device memory here; try `daxref vm -- run`"
            }
        }

        // Namespace scenarios reconfigure a namespace: only one the user named, or the VM's disposable spare.
        plan.spareNamespace = request.allowReconfigure
        if request.allowReconfigure == nil, inGuest {
            plan.spareNamespace = SpareNamespace.fromProvisionedEnvironment(environment)
            if plan.spareNamespace == nil { plan.spareMissing = "no spare namespace provisioned in this VM (daxref vm --provision ...,spare)" }
        }
        if let named = request.allowReconfigure, checkSpare {
            do { _ = try NamespaceSteps.run(spare: named, scenarios: [], host: namespaceHost) } catch { throw .spare(named, error) }
        }
        return plan
    }

    /// Every DAX fixture without a backing here gets `reason`.
    private mutating func markMissingDAX(_ reason: (MemoryFixture) -> String) {
        for fixture in MemoryFixture.dax where !backings.contains(where: { $0.fixture == fixture }) {
            unavailable[fixture] = reason(fixture)
        }
    }
}
