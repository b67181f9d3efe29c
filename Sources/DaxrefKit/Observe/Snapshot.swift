/// What a snapshot looks at.
public struct SnapshotTarget: Codable, Sendable, Equatable {
    public var pid: Int32
    /// A thread whose wait state to record (`task.*`), e.g. one blocked in truncate.
    public var tid: Int32?
    /// The virtual range under test (`smaps.*`, `pagemap.*`, `kpage*`, `numa_maps.*`).
    public var range: Range<UInt64>?
    /// `daxX.Y` (`sysfs.dax.*`).
    public var daxDevice: String?
    /// `namespaceX.Y` (`sysfs.namespace.*`).
    public var namespace: String?
    /// `sysfs.node.*`; defaults to the dax device's `numa_node` when a device is given.
    public var numaNode: Int?
    /// PFNs for kpagecount/kpageflags; defaults to the present PFNs pagemap found.
    public var pfns: [UInt64]?

    public init(
        pid: Int32, tid: Int32? = nil, range: Range<UInt64>? = nil, daxDevice: String? = nil, namespace: String? = nil,
        numaNode: Int? = nil, pfns: [UInt64]? = nil
    ) {
        self.pid = pid
        self.tid = tid
        self.range = range
        self.daxDevice = daxDevice
        self.namespace = namespace
        self.numaNode = numaNode
        self.pfns = pfns
    }
}

/// The files a snapshot can read. The kernel log is not among them: it is read when a
/// `KernelLogCursor` is passed, because "since when" belongs to the caller.
public enum SnapshotSource: String, CaseIterable, Codable, Sendable {
    // Page walkers, in the order a snapshot runs them: pagemap first, because each walk splits a
    // 1 GiB DAX PUD mapping and later walkers then see it gone.
    case pagemap, smaps, smapsRollup = "smaps_rollup", numaMaps = "numa_maps"
    case kernelPages = "kpage", vmstat, meminfo, status, task, sysfs

    /// Reading it walks the target's page tables (`walk_page_range` without a `pud_entry`), which
    /// splits (zaps) 1 GiB device-dax PUD mappings and bumps `thp_split_pud` (mm/pagewalk.c walk_pud_range).
    public var walksPageTables: Bool { [.pagemap, .smaps, .smapsRollup, .numaMaps].contains(self) }
}

public struct SnapshotOptions: Sendable, Equatable {
    public var sources: Set<SnapshotSource>

    public init(sources: Set<SnapshotSource>) { self.sources = sources }

    public static let everything = SnapshotOptions(sources: Set(SnapshotSource.allCases))
    /// For 1 GiB mappings that must stay intact: no smaps, smaps_rollup, pagemap or numa_maps
    /// (and so no kpage* unless the target names PFNs).
    public static let withoutPageWalks = SnapshotOptions(sources: Set(SnapshotSource.allCases.filter { !$0.walksPageTables }))
}

/// Everything the observers read at one moment, as stable keys (`observations`, see
/// `ObservableCatalogue`) and as the typed records they came from. A source that fails records
/// `.unavailable(reason)` for its keys; the rest of the snapshot is unaffected.
public struct Snapshot: Codable, Sendable, Equatable {
    public var target: SnapshotTarget
    public var observations: Observations
    public var records: Records

    public struct Records: Codable, Sendable, Equatable {
        /// The VMAs overlapping the target range.
        public var smaps: [SmapsVMA]?
        public var smapsRollup: SmapsVMA?
        public var pagemap: PagemapRange?
        public var kernelPages: KernelPageReadings?
        public var status: ProcStatus?
        /// The entries overlapping the target range.
        public var numaMaps: [NumaMapsEntry]?
        public var task: TaskWait?
        public var kernelLog: KernelLogFindings?
        public var daxDevice: SysfsObject?
        public var namespace: SysfsObject?
        public var namespaceHolder: SysfsObject?
    }

    /// Reads the sources in `options` for `target`; with a cursor, also the kernel log since the
    /// cursor was opened or last read (read last, so it includes anything the walks provoked).
    /// Never throws: failures become `.unavailable` values.
    public static func take(_ target: SnapshotTarget, options: SnapshotOptions = .everything, kernelLog: borrowing KernelLogCursor) -> Snapshot {
        var snapshot = take(target, options: options)
        var findings: KernelLogFindings?
        snapshot.observations.merge(gather(prefix: "dmesg.") { () throws(ObserverError) in
            let read = try kernelLog.readNew()
            findings = read
            return read.observations
        })
        snapshot.records.kernelLog = findings
        return snapshot
    }

    /// As `take(_:options:kernelLog:)`, without the kernel log.
    public static func take(_ target: SnapshotTarget, options: SnapshotOptions = .everything) -> Snapshot {
        var reader = Reader(target: target, options: options)
        reader.readAll()
        return Snapshot(target: target, observations: reader.observations, records: reader.records)
    }

    /// Runs one source. On success, its observations plus `.unavailable` for each concrete catalogue
    /// key under `prefix` it did not produce (a counter this kernel lacks); on failure, every concrete
    /// key under `prefix` with the reason.
    static func gather(prefix: String, _ read: () throws(ObserverError) -> Observations) -> Observations {
        var result: Observations
        do { result = try read() } catch {
            result = Observations()
            for key in concreteKeys(under: prefix) { result[key] = .unavailable(error.description) }
            return result
        }
        for key in concreteKeys(under: prefix) where result[key] == nil {
            result[key] = .unavailable("not in what the kernel printed")
        }
        return result
    }

    /// `ObservableCatalogue.concreteKeys(under:)`, worked out once per process for the prefixes a
    /// snapshot gathers: filtering the whole catalogue for every source cost milliseconds per
    /// checkpoint in a TCG guest.
    static func concreteKeys(under prefix: String) -> [ObservableKey] {
        concreteKeysByPrefix[prefix] ?? ObservableCatalogue.concreteKeys(under: prefix)
    }

    private static let concreteKeysByPrefix: [String: [ObservableKey]] = {
        let all = ObservableCatalogue.concreteKeys(under: "")
        let prefixes = [
            "vmstat.", "meminfo.", "status.", "task.", "sysfs.dax.", "sysfs.namespace.", "sysfs.node.", "pagemap.", "smaps.",
            "smaps_rollup.", "numa_maps.", "kpage", "dmesg.",
        ]
        return Dictionary(uniqueKeysWithValues: prefixes.map { prefix in (prefix, all.filter { $0.rawValue.hasPrefix(prefix) }) })
    }()

    private struct Reader {
        let target: SnapshotTarget
        let options: SnapshotOptions
        var observations = Observations()
        var records = Records()

        init(target: SnapshotTarget, options: SnapshotOptions) {
            self.target = target
            self.options = options
            observations.values.reserveCapacity(768)  // a devdax snapshot has about 500 keys; no rehashing on the way
        }

        mutating func readAll() {
            let pid = target.pid
            // vmstat before the walks, so the walks' own PUD splits can be measured (snapshot.walk_split_pud).
            var splitsBeforeWalks: Int64?
            if options.sources.contains(.vmstat) {
                observations.merge(gather(prefix: "vmstat.") { () throws(ObserverError) in
                    let (counters, refreshed) = try VMStat.read()
                    splitsBeforeWalks = counters["thp_split_pud"]
                    var result = VMStat.observations(counters)
                    result[.snapshotVmstatRefreshed] = .flag(refreshed)
                    return result
                })
            }
            if options.sources.contains(.meminfo) {
                observations.merge(gather(prefix: "meminfo.") { () throws(ObserverError) in MemInfo.observations(try MemInfo.read()) })
            }
            if options.sources.contains(.status) {
                observations.merge(gather(prefix: "status.") { () throws(ObserverError) in
                    let status = try ProcStatus.read(pid: pid)
                    records.status = status
                    return status.observations
                })
            }
            if options.sources.contains(.task), let tid = target.tid {
                observations.merge(gather(prefix: "task.") { () throws(ObserverError) in
                    let task = try TaskWait.read(pid: pid, tid: tid)
                    records.task = task
                    return task.observations
                })
            }
            if options.sources.contains(.sysfs) { readSysfs() }

            var walks: [String] = []
            for source in SnapshotSource.allCases where source.walksPageTables && options.sources.contains(source) {
                // Without a range only the whole-process rollup makes sense.
                guard target.range != nil || source == .smapsRollup else { continue }
                walks.append(source.rawValue)
                readWalker(source, range: target.range ?? 0..<0)
            }
            observations[.snapshotPageWalks] = .list(walks.map(ObservedValue.text))

            if options.sources.contains(.kernelPages) { readKernelPages() }

            if let before = splitsBeforeWalks {
                // thp_split_pud is an event counter (summed over CPUs on read), so no refresh is needed.
                let after = walks.isEmpty ? before : (try? VMStat.read("/proc/vmstat", source: "vmstat"))?["thp_split_pud"]
                observations[.snapshotWalkSplitPUD] = after.map { .integer($0 - before) }
                    ?? .unavailable("could not re-read thp_split_pud after the walks")
            }
        }

        mutating func readWalker(_ source: SnapshotSource, range: Range<UInt64>) {
            let pid = target.pid
            switch source {
            case .pagemap:
                observations.merge(gather(prefix: "pagemap.") { () throws(ObserverError) in
                    let pagemap = try Pagemap.read(pid: pid, range: range)
                    records.pagemap = pagemap
                    return pagemap.observations
                })
            case .smaps:
                observations.merge(gather(prefix: "smaps.") { () throws(ObserverError) in
                    let vmas = try Smaps.read(pid: pid, overlapping: range)
                    records.smaps = vmas
                    return Smaps.observations(of: vmas)
                })
            case .smapsRollup:
                observations.merge(gather(prefix: "smaps_rollup.") { () throws(ObserverError) in
                    let rollup = try Smaps.readRollup(pid: pid)
                    records.smapsRollup = rollup
                    return Smaps.rollupObservations(of: rollup)
                })
            case .numaMaps:
                observations.merge(gather(prefix: "numa_maps.") { () throws(ObserverError) in
                    let entries = try NumaMaps.read(pid: pid, overlapping: range)
                    records.numaMaps = entries
                    return NumaMaps.observations(of: entries)
                })
            case .kernelPages, .vmstat, .meminfo, .status, .task, .sysfs:
                preconditionFailure("\(source) does not walk page tables")
            }
        }

        mutating func readKernelPages() {
            let pfns: [UInt64]
            if let given = target.pfns {
                pfns = given
            } else if let pagemap = records.pagemap, !pagemap.pfnsHidden {
                pfns = pagemap.pfns
            } else {
                let why = records.pagemap == nil ? "no PFNs: pagemap was not read" : "no PFNs: pagemap hides them (no CAP_SYS_ADMIN)"
                for key in concreteKeys(under: "kpage") { observations[key] = .unavailable(why) }
                return
            }
            observations.merge(gather(prefix: "kpage") { () throws(ObserverError) in
                let readings = try KernelPageReadings.read(pfns: pfns)
                records.kernelPages = readings
                return readings.observations
            })
        }

        mutating func readSysfs() {
            var node = target.numaNode
            if let device = target.daxDevice {
                observations.merge(gather(prefix: "sysfs.dax.") { () throws(ObserverError) in
                    let object = try DaxDeviceSysfs.read(device: device)
                    records.daxDevice = object
                    let result = DaxDeviceSysfs.observations(object)
                    if node == nil, case .integer(let numa)? = result[.sysfsDaxNumaNode], numa >= 0 { node = Int(numa) }
                    return result
                })
            }
            if let namespace = target.namespace {
                observations.merge(gather(prefix: "sysfs.namespace.") { () throws(ObserverError) in
                    let (object, holder) = try NamespaceSysfs.read(namespace: namespace)
                    records.namespace = object
                    records.namespaceHolder = holder
                    return NamespaceSysfs.observations(namespace: object, holder: holder)
                })
            }
            if let node {
                observations.merge(gather(prefix: "sysfs.node.") { () throws(ObserverError) in
                    let (meminfo, vmstat) = try NodeSysfs.read(node: node)
                    return NodeSysfs.observations(node: node, meminfo: meminfo, vmstat: vmstat)
                })
            }
        }
    }
}
