/// Where a rule comes from: kernel file, function, version (and line or commit when known).
public struct Citation: Codable, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var function: String
    public var version: String
    public var line: String?
    public var commit: String?

    public init(file: String, function: String, version: String, line: String? = nil, commit: String? = nil) {
        self.file = file
        self.function = function
        self.version = version
        self.line = line
        self.commit = commit
    }

    /// `[7.2 fs/dax.c:965 dax_break_layout_final()]`, plus the commit when there is one.
    public var description: String {
        "[\(version) \(file)\(line.map { ":" + $0 } ?? "") \(function)()]" + (commit.map { " (\($0))" } ?? "")
    }
}

/// Which page-table level maps the memory (from the device align, or for fsdax from the fault the
/// driver measured: fsdax gets PMDs only where the file's extents are 2 MiB aligned).
public enum Granularity: String, Codable, Sendable {
    case pte, pmd, pud

    public init?(mappingSize: Int) {
        switch mappingSize {
        case 4096: self = .pte
        case 2 << 20: self = .pmd
        case 1 << 30: self = .pud
        default: return nil
        }
    }
}

/// Where in a step's result an observable is read. Checkpoints and keys are typed: a rule cannot
/// name one that does not exist (whether its variants take and record them is a test).
public enum Site: Sendable, Equatable, CustomStringConvertible {
    /// The step's own observations (`syscall.errno`, `step.blocked`, `task.wchan`, …).
    case step(Observable)
    /// One named checkpoint's snapshot.
    case checkpoint(CheckpointName, Observable)
    /// An integer key's change from one checkpoint to another (to − from).
    case change(Observable, from: CheckpointName, to: CheckpointName)
    /// A list key gathered over every checkpoint (kernel log lines logged during the step).
    case everyCheckpoint(Observable)

    public var observable: Observable {
        switch self {
        case .step(let key), .checkpoint(_, let key), .change(let key, _, _), .everyCheckpoint(let key): key
        }
    }

    public var key: ObservableKey { observable.key }

    /// The checkpoints it reads.
    public var checkpoints: [CheckpointName] {
        switch self {
        case .step, .everyCheckpoint: []
        case .checkpoint(let name, _): [name]
        case .change(_, let from, let to): [from, to]
        }
    }

    public var description: String {
        switch self {
        case .step(let key): key.rawValue
        case .checkpoint(let name, let key): "\(key.rawValue)@\(name)"
        case .change(let key, let from, let to): "\(key.key.delta) (\(from)→\(to))"
        case .everyCheckpoint(let key): "\(key.rawValue)@any"
        }
    }
}

/// A number a rule expects, in terms of the step's parameters (never of what the kernel showed).
public indirect enum Amount: Sendable, Equatable, CustomStringConvertible {
    case constant(Int64)
    /// The bytes the step's transfer covered (`memory.transfer`, else `memory.length`).
    case lengthBytes
    case lengthKB
    /// 4 KiB pages.
    case lengthPages
    /// Page-table entries mapping the length at the scenario's granularity.
    case mappings
    /// The size one mapping entry covers (device align; for fsdax the measured fault size).
    case mappingSize
    case times(Amount, Int64)
    case divided(Amount, Int64)
    case negative(Amount)
    case plus(Amount, Amount)
    case smaller(Amount, Amount)
    /// What the step's pipe could hold (`pipe.capacity`, as F_SETPIPE_SZ granted it).
    case pipeCapacity
    /// The capacity of the namespace a namespace scenario created (`namespace.raw_size`).
    case namespaceBytes

    public func evaluate(_ context: StepContext) -> Int64? {
        switch self {
        case .constant(let value): value
        case .lengthBytes: context.length
        case .lengthKB: context.length.map { $0 / 1024 }
        case .lengthPages: context.length.map { $0 / 4096 }
        case .mappings:
            if let length = context.length, let size = context.mappingSize, size > 0 { (length + size - 1) / size } else { nil }
        case .mappingSize: context.mappingSize
        case .times(let amount, let factor): amount.evaluate(context).map { $0 * factor }
        case .divided(let amount, let divisor): amount.evaluate(context).map { $0 / divisor }
        case .negative(let amount): amount.evaluate(context).map { -$0 }
        case .plus(let a, let b): a.evaluate(context).flatMap { x in b.evaluate(context).map { x + $0 } }
        case .smaller(let a, let b): a.evaluate(context).flatMap { x in b.evaluate(context).map { min(x, $0) } }
        case .pipeCapacity: context.pipeCapacity
        case .namespaceBytes: context.namespaceBytes
        }
    }

    public var description: String {
        switch self {
        case .constant(let value): String(value)
        case .lengthBytes: "length"
        case .lengthKB: "length in kB"
        case .lengthPages: "length in 4K pages"
        case .mappings: "number of mappings"
        case .mappingSize: "mapping size"
        case .times(let amount, let factor): "\(factor) × \(amount)"
        case .divided(let amount, let divisor): "\(amount) / \(divisor)"
        case .negative(let amount): "−(\(amount))"
        case .plus(let a, let b): "\(a) + \(b)"
        case .smaller(let a, let b): "the smaller of \(a) and \(b)"
        case .pipeCapacity: "pipe capacity"
        case .namespaceBytes: "namespace bytes"
        }
    }
}

/// The parameters of one step that expectations are expressed in.
public struct StepContext: Sendable, Equatable {
    public var length: Int64?
    public var mappingSize: Int64?
    public var pipeCapacity: Int64?
    public var namespaceBytes: Int64?

    public init(length: Int64?, mappingSize: Int64?, pipeCapacity: Int64? = nil, namespaceBytes: Int64? = nil) {
        self.length = length
        self.mappingSize = mappingSize
        self.pipeCapacity = pipeCapacity
        self.namespaceBytes = namespaceBytes
    }

    /// From the step: the transfer (or mapping) length it recorded; the mapping size is the device
    /// align for device-dax, the measured `fault.size` for fsdax, and unknown for the controls.
    public init(step: StepResult, memory: MemoryFixture) {
        func integer(_ key: Observable) -> Int64? {
            if case .integer(let value)? = step.observations[key] { return value }
            return nil
        }
        length = integer(.memoryTransfer) ?? integer(.memoryLength)
        pipeCapacity = integer(.pipeCapacity)
        namespaceBytes = integer(.namespaceRawSize)
        if let align = memory.deviceAlign {
            mappingSize = Int64(align)
        } else if memory.isFsdaxFile, let fault = integer(.faultSize), fault == 4096 || fault == 2 << 20 {
            mappingSize = fault
        } else {
            mappingSize = nil
        }
    }
}

/// What a rule expects an observable to be.
public enum ExpectedValue: Sendable, Equatable, CustomStringConvertible {
    case equals(Amount)
    /// Within `tolerance` of the amount: for counters other activity in the same process or
    /// system also moves (the tolerance is stated with the rule, never fitted to a result).
    case approximately(Amount, tolerance: Amount)
    case atLeast(Amount)
    case flag(Bool)
    case text(String)
    /// Any of these texts (e.g. a function some builds inline into its caller).
    case oneOf([String])
    /// A text (or a list of texts) containing this.
    case contains(String)
    /// No element of a list (or the text) contains this.
    case excludes(String)
    /// The observer found nothing to print (`unavailable`: the kernel does not have it).
    case absent

    public var description: String {
        switch self {
        case .equals(let amount): "= \(amount)"
        case .approximately(let amount, let tolerance): "≈ \(amount) (± \(tolerance))"
        case .atLeast(let amount): "≥ \(amount)"
        case .flag(let value): String(value)
        case .text(let text): "\"\(text)\""
        case .oneOf(let texts): "one of " + texts.map { "\"\($0)\"" }.joined(separator: ", ")
        case .contains(let text): "contains \"\(text)\""
        case .excludes(let text): "nothing containing \"\(text)\""
        case .absent: "absent (not provided by this kernel)"
        }
    }

    /// The expectation with its amounts evaluated for this step ("= 1024"), for reports.
    public func resolved(_ context: StepContext) -> String {
        func value(_ amount: Amount) -> String { amount.evaluate(context).map(String.init) ?? "? (\(amount))" }
        switch self {
        case .equals(let amount): return "= \(value(amount))"
        case .approximately(let amount, let tolerance): return "≈ \(value(amount)) ± \(value(tolerance))"
        case .atLeast(let amount): return "≥ \(value(amount))"
        default: return description
        }
    }
}

/// One rule of the model: under which kernels and for which memory and workloads it applies,
/// what it expects where, and the kernel source that says so.
public struct Rule: Sendable, Identifiable {
    /// Stable dotted ID (`layout.waits-for-unmapped-busy`); reports and findings refer to it.
    public var id: String
    /// What the kernel does, in one line.
    public var statement: String
    public var eras: Set<Era>
    /// Kernel changes that must be present (true) or absent (false) for the rule to apply.
    public var requires: [String: Bool]
    public var memory: Set<MemoryFixture>
    public var workloads: Set<Workload>
    /// Only when the scenario's mapping granularity is this (nil: any).
    public var granularity: Granularity?
    public var site: Site
    public var expected: ExpectedValue
    public var citation: Citation

    public init(_ id: String, _ statement: String, eras: Set<Era> = Set(Era.allCases), requires: [String: Bool] = [:],
                memory: [MemoryFixture], workloads: [Workload], granularity: Granularity? = nil,
                at site: Site, expect expected: ExpectedValue, cite citation: Citation) {
        self.id = id
        self.statement = statement
        self.eras = eras
        self.requires = requires
        self.memory = Set(memory)
        self.workloads = Set(workloads)
        self.granularity = granularity
        self.site = site
        self.expected = expected
        self.citation = citation
    }
}
