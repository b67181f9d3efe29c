import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// A kprobe session: the probes of one daxref process, in a private group `daxref_<pid>`, recorded
// into a private tracefs instance `instances/daxref_<pid>` (its own ring buffer, so daxref neither
// reads nor clears anyone else's trace). The session is a move-only owner: however it ends —
// close(), a thrown error, a return, a signal, exit(3) — its probes are disabled and removed.
//
//   var session = try KprobeSession.start(pages: pages)   // install, filter, enable (once)
//   workload()
//   session.sample()                                       // read the pages' refcounts now
//   let capture = try session.collect(step: "fault")       // drain the buffer, match to pages
//   let info = session.close()                             // disable, remove, verify none left
//
// Probes are enabled once and disabled once: every enable or disable rewrites kernel text, and
// under multi-threaded TCG that cross-CPU patching once oopsed (int3) a 7.2 guest.

public enum KprobeSessionError: Error, Sendable, Equatable, CustomStringConvertible {
    case unavailable(KprobeUnavailable)
    /// A tracefs operation the session cannot do without failed.
    case tracefs(operation: String, path: String, Errno)

    public var description: String {
        switch self {
        case .unavailable(let why): "kprobes unavailable: \(why)"
        case .tracefs(let operation, let path, let errno): "tracefs: \(operation) \(path): \(errno)"
        }
    }
}

/// The result of removing a session's probes.
public struct KprobeCleanupReport: Sendable, Equatable, Codable {
    /// `-:GROUP/EVENT` commands that failed, with their errno.
    public var failures: [String]
    /// daxref lines of this session still in kprobe_events afterwards (must be empty).
    public var leftover: [String]
    public var clean: Bool { leftover.isEmpty }
}

public struct KprobeSession: ~Copyable {
    public let group: String
    public let pages: [KprobePage]
    public private(set) var info: KprobeSessionInfo
    private let tracefs: any TracefsAccess
    private var installedEvents: [String] = []
    private var targetsByEvent: [String: KprobeTarget] = [:]
    private var instanceMade = false
    private var isOpen = true
    /// The sampling probe, when installed, and the thread whose getppid() it records.
    public private(set) var sampler: KprobeSampler?
    private let samplerThread: Int32

    /// The instance (ring buffer) directory, relative to tracefs.
    private var instanceDirectory: String { "instances/" + group }

    public static let groupPrefix = "daxref_"
    /// Functions a calibration probe can sit on: a syscall daxref triggers at will (getppid).
    static let calibrationFunctions = ["__x64_sys_getppid", "__do_sys_getppid", "sys_getppid"]

    private init(group: String, pages: [KprobePage], tracefs: any TracefsAccess, info: KprobeSessionInfo, samplerThread: Int32) {
        self.group = group
        self.pages = pages
        self.tracefs = tracefs
        self.info = info
        self.samplerThread = samplerThread
    }

    deinit {
        if isOpen { _ = removeEverything() }
    }


    /// Installs the catalogue entries this kernel has, filtered to `pages`, and starts recording.
    /// With `sampling`, also the sampling probe: `sample()` then reads the pages' refcounts, and
    /// must be called on the thread that started the session (its getppid() is what is recorded).
    /// Pass `tracefs` etc. only in tests; by default the real tracefs, kallsyms and BTF are used.
    public static func start(
        pages: [KprobePage],
        catalogue: [KprobeTarget] = KprobeCatalog.targets,
        sampling: Bool = true,
        tracefs injected: (any TracefsAccess)? = nil,
        symbols injectedSymbols: KernelSymbols? = nil,
        layout injectedLayout: (layout: PageLayout, note: String)? = nil,
        processID: Int32 = getpid(),
        isAlive: (Int32) -> Bool = processIsAlive
    ) throws(KprobeSessionError) -> KprobeSession {
        let tracefs: any TracefsAccess
        if let injected {
            tracefs = injected
        } else {
            switch Tracefs.availableForKprobes() {
            case .success(let real): tracefs = real
            case .failure(let why): throw .unavailable(why)
            }
        }
        if injected == nil, KprobeSignalCleanup.isArmed { throw .unavailable(.anotherSessionActive) }

        var phases = PhaseClock()
        let staleRemoved = sweepStale(tracefs: tracefs, ownProcessID: processID, isAlive: isAlive)
        phases.lap("sweep")
        let (layout, layoutNote) = injectedLayout ?? PageLayout.current()
        phases.lap("btf")
        let wanted = Set(catalogue.map(\.symbol) + calibrationFunctions + ["vmemmap_base"])
        let symbols: KernelSymbols
        if let injectedSymbols {
            symbols = injectedSymbols
        } else {
            do { symbols = try KernelSymbols.read(wanted: wanted, tracefs: tracefs) } catch {
                throw .tracefs(operation: "read symbols", path: "/proc/kallsyms", error)
            }
        }
        phases.lap("symbols")
        let plan = KprobePlan.choose(from: catalogue, symbols: symbols)

        let group = groupPrefix + String(processID)
        var session = KprobeSession(
            group: group, pages: pages, tracefs: tracefs,
            info: KprobeSessionInfo(
                group: group, installed: [], failed: [], missing: plan.skipped, filters: [:],
                vmemmap: VmemmapBase(address: VmemmapBase.unrandomised, source: "not determined"),
                layout: layout, layoutNote: layoutNote, staleRemoved: staleRemoved, symbolSource: symbols.source),
            samplerThread: injected == nil ? CDaxrefShim_gettid() : processID)
        // From here on an error leaves `session` to its deinit, which removes what was made.
        try session.makeInstance()
        if let root = tracefs.mountPoint {
            KprobeSignalCleanup.arm(
                mountPoint: root, instance: group, group: group,
                eventNames: ["vmemmap_base", KprobeSampler.event] + plan.selected.map(\.target.eventName))
        }
        session.info.vmemmap = session.calibrateVmemmap(symbols: symbols)
        phases.lap("calibrate")
        try session.install(plan, layout: layout)
        if sampling { session.installSampler(symbols: symbols, layout: layout) }
        phases.lap("install")
        try session.enable()
        phases.lap("enable")
        session.info.startPhases = phases.laps
        return session
    }

    // MARK: - Steps of start

    private mutating func makeInstance() throws(KprobeSessionError) {
        do { try tracefs.makeDirectory(instanceDirectory) } catch {
            throw .tracefs(operation: "mkdir", path: instanceDirectory, error)
        }
        instanceMade = true
    }

    private mutating func addProbe(_ line: String, event: String) throws(Errno) {
        installedEvents.append(event)  // before the write: a half-done write is still removed
        do { try tracefs.write("kprobe_events", line + "\n", mode: .append) } catch {
            installedEvents.removeLast()
            throw error
        }
    }

    private mutating func removeProbe(_ event: String) throws(Errno) {
        try tracefs.write("kprobe_events", "-:\(group)/\(event)\n", mode: .append)
        installedEvents.removeAll { $0 == event }
    }

    /// vmemmap_base is randomised with KASLR; a probe can read the kernel variable through the
    /// `@SYMBOL` fetcharg. It sits on getppid(2), which this thread then calls.
    private mutating func calibrateVmemmap(symbols: KernelSymbols) -> VmemmapBase {
        func fallback(_ why: String) -> VmemmapBase {
            VmemmapBase(address: VmemmapBase.unrandomised, source: "default 0xffffea0000000000 (\(why))")
        }
        guard symbols.hasData("vmemmap_base") || symbols.source != "/proc/kallsyms" else {
            return fallback("no vmemmap_base symbol: memory layout not randomised")
        }
        guard let function = Self.calibrationFunctions.first(where: { symbols.textDefinitions(of: $0).count == 1 }) else {
            return fallback("no getppid syscall symbol to probe")
        }
        let event = "vmemmap_base"
        do {
            try addProbe("p:\(group)/\(event) \(function) vmb=@vmemmap_base:x64", event: event)
        } catch {
            return fallback("@vmemmap_base fetcharg rejected: \(error)")
        }
        defer {
            try? tracefs.write("\(instanceDirectory)/events/\(group)/\(event)/enable", "0", mode: .replace)
            try? removeProbe(event)
        }
        do {
            try tracefs.write("\(instanceDirectory)/events/\(group)/\(event)/enable", "1", mode: .replace)
            _ = getppid()
            try tracefs.write("\(instanceDirectory)/events/\(group)/\(event)/enable", "0", mode: .replace)
            let trace = KprobeTraceParser.parse(try tracefs.drain("\(instanceDirectory)/trace_pipe"))
            let values = trace.records.filter { $0.event == event }.compactMap { $0["vmb"]?.unsigned }
            guard let value = values.first else { return fallback("calibration probe recorded nothing") }
            // A vmemmap base is a kernel address aligned to at least 1 GiB (PUD) in every layout.
            guard value >> 47 == 0x1ffff || value >> 56 == 0xff, value & ((1 << 30) - 1) == 0 else {
                return fallback("@vmemmap_base read 0x\(String(value, radix: 16)), not a vmemmap base")
            }
            return VmemmapBase(address: value, source: "@vmemmap_base")
        } catch {
            return fallback("calibration probe failed: \(error)")
        }
    }

    /// Adds one probe per selected target; a target the kernel refuses is recorded, not fatal.
    private mutating func install(_ plan: KprobePlan, layout: PageLayout) throws(KprobeSessionError) {
        let matcher = KprobeEventMatcher(pages: pages, vmemmap: info.vmemmap, layout: layout, targets: [:])
        let filter = matcher.pageFilter()
        for selected in plan.selected {
            var target = selected.target
            guard let subject = target.resolvedSubject(layout: layout) else {
                info.missing.append(KprobePlan.Skipped(
                    symbol: target.symbol, kind: target.kind,
                    reason: "its argument's layout is unknown without BTF (\(info.layoutNote))"))
                continue
            }
            target.subject = subject  // the matcher sees where the page came from, resolved
            let line = target.definition(group: group, module: selected.module, layout: layout)
            do { try addProbe(line, event: target.eventName) } catch {
                info.failed.append("\(line): \(error)")
                continue
            }
            info.installed.append(line)
            targetsByEvent[target.eventName] = target
            if case .page = target.subject, let filter {
                let path = "\(instanceDirectory)/events/\(group)/\(target.eventName)/filter"
                do {
                    try tracefs.write(path, filter, mode: .replace)
                    info.filters[target.eventName] = filter
                } catch {
                    info.failed.append("filter for \(target.eventName) (\(error)): recording unfiltered")
                }
            }
        }
    }

    /// The sampling probe on getppid, filtered to the session's thread. A kernel that refuses it
    /// leaves the session without samples (recorded in `info.failed`), not without probes.
    private mutating func installSampler(symbols: KernelSymbols, layout: PageLayout) {
        guard !pages.isEmpty else { return }
        guard let function = Self.calibrationFunctions.first(where: { symbols.textDefinitions(of: $0).count == 1 }) else {
            info.failed.append("sampler: no getppid syscall symbol to probe")
            return
        }
        let sampler = KprobeSampler(pages: pages, vmemmap: info.vmemmap, layout: layout)
        let line = sampler.definition(group: group, function: function)
        do { try addProbe(line, event: KprobeSampler.event) } catch {
            info.failed.append("\(line): \(error)")
            return
        }
        info.installed.append(line)
        self.sampler = sampler
        let path = "\(instanceDirectory)/events/\(group)/\(KprobeSampler.event)/filter"
        let filter = "common_pid == \(samplerThread)"
        do {
            try tracefs.write(path, filter, mode: .replace)
            info.filters[KprobeSampler.event] = filter
        } catch {
            info.failed.append("filter for \(KprobeSampler.event) (\(error)): other threads' getppid() recorded too")
        }
    }

    private mutating func enable() throws(KprobeSessionError) {
        guard !installedEvents.isEmpty else { return }
        let path = "\(instanceDirectory)/events/\(group)/enable"
        do { try tracefs.write(path, "1", mode: .replace) } catch { throw .tracefs(operation: "enable", path: path, error) }
    }

    // MARK: - Use

    /// The events (probe names) installed, with their targets.
    public var targets: [String: KprobeTarget] { targetsByEvent }

    /// Has the sampling probe read the pages' struct page words now (on the calling thread, which
    /// must be the one that started the session); `collect` returns the readings. Without the
    /// sampling probe this does nothing.
    public func sample() {
        guard sampler != nil else { return }
        _ = getppid()
    }

    /// Drains what the probes recorded since the last collect and attributes it to `pages`.
    /// With `keepingRawText` the capture carries the trace text as read (fixture recording).
    public mutating func collect(step: String, keepingRawText: Bool = false) throws(KprobeSessionError) -> KprobeCapture {
        let path = "\(instanceDirectory)/trace_pipe"
        let text: String
        do { text = try tracefs.drain(path) } catch { throw .tracefs(operation: "read", path: path, error) }
        let matcher = KprobeEventMatcher(
            pages: pages, vmemmap: info.vmemmap, layout: info.layout, targets: targetsByEvent, sampler: sampler,
            samplerThread: samplerThread)
        var capture = matcher.match(KprobeTraceParser.parse(text), step: step)
        if keepingRawText { capture.rawText = text }
        return capture
    }

    /// Disables and removes every probe of the session and its instance, then checks
    /// kprobe_events for leftovers.
    public consuming func close() -> KprobeCleanupReport {
        closeReturningInfo().0
    }

    /// close(), also giving the final session info (with `leftover` set).
    public consuming func closeReturningInfo() -> (KprobeCleanupReport, KprobeSessionInfo) {
        var phases = PhaseClock()
        info.profile = readProfile()
        phases.lap("profile")
        let report = removeEverything()
        phases.lap("remove")
        info.closePhases = phases.laps
        isOpen = false  // deinit, which runs at the end of this consuming method, has nothing left to do
        info.leftover = report.leftover
        return (report, info)
    }

    /// Hits and misses of this session's probes from `kprobe_profile`, read before removal. A
    /// miss (a kprobe that fired while another kprobe handler ran on the CPU) is a gap in the
    /// timeline. kprobe_profile names events without their group; names in other groups that
    /// collide with ours would be summed in.
    private func readProfile() -> [String: KprobeHitCount] {
        guard let text = try? tracefs.read("kprobe_profile") else { return [:] }
        var profile: [String: KprobeHitCount] = [:]
        let ours = Set(installedEvents)
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 3, ours.contains(String(words[0])), let hits = Int(words[1]), let missed = Int(words[2])
            else { continue }
            let name = String(words[0])
            profile[name] = KprobeHitCount(
                hits: (profile[name]?.hits ?? 0) + hits, missed: (profile[name]?.missed ?? 0) + missed)
        }
        return profile
    }

    /// Milliseconds per phase of start/close, for finding what is slow under TCG.
    struct PhaseClock {
        private var last = ContinuousClock.now
        private(set) var laps: [String] = []

        mutating func lap(_ name: String) {
            let now = ContinuousClock.now
            let duration = now - last
            laps.append("\(name)=\(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)")
            last = now
        }
    }

    /// Not mutating because deinit uses it too (self is immutable there); removing an event that
    /// is already gone only fails, so running it twice is harmless.
    private func removeEverything() -> KprobeCleanupReport {
        var failures: [String] = []
        if instanceMade {
            // Disabled first: tracefs refuses (EBUSY) to delete an event that is enabled anywhere.
            if tracefs.exists("\(instanceDirectory)/events/\(group)") {
                do { try tracefs.write("\(instanceDirectory)/events/\(group)/enable", "0", mode: .replace) } catch {
                    failures.append("disable \(group): \(error)")
                }
            }
            do { try tracefs.removeDirectory(instanceDirectory) } catch {
                failures.append("rmdir \(instanceDirectory): \(error)")
            }
        }
        for event in installedEvents {
            do { try tracefs.write("kprobe_events", "-:\(group)/\(event)\n", mode: .append) } catch {
                failures.append("-:\(group)/\(event): \(error)")
            }
        }
        if tracefs.mountPoint != nil { KprobeSignalCleanup.disarm() }
        let leftover = ((try? tracefs.read("kprobe_events")) ?? "")
            .split(separator: "\n").filter { Self.group(ofDefinition: $0) == group }.map(String.init)
        return KprobeCleanupReport(failures: failures, leftover: leftover)
    }

    // MARK: - Stale sessions

    /// The group of a `kprobe_events` line: "p:GROUP/EVENT …" or "r16:GROUP/EVENT …".
    static func group(ofDefinition line: Substring) -> String? {
        guard let colon = line.firstIndex(of: ":"), let slash = line[colon...].firstIndex(of: "/") else { return nil }
        return String(line[line.index(after: colon)..<slash])
    }

    static func event(ofDefinition line: Substring) -> String? {
        guard let slash = line.firstIndex(of: "/") else { return nil }
        return String(line[line.index(after: slash)...].prefix { $0 != " " })
    }

    public static func processIsAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes what crashed daxref runs left behind: `daxref_<pid>` instances and probe groups
    /// whose process no longer exists. Returns what was removed ("group daxref_123 (4 probes)").
    @discardableResult
    public static func sweepStale(
        tracefs: any TracefsAccess, ownProcessID: Int32 = getpid(), isAlive: (Int32) -> Bool = processIsAlive
    ) -> [String] {
        func isStale(_ name: String) -> Bool {
            guard name.hasPrefix(groupPrefix), let pid = Int32(name.dropFirst(groupPrefix.count)) else { return false }
            return pid != ownProcessID && !isAlive(pid)
        }
        var removed: [String] = []
        for instance in ((try? tracefs.listDirectory("instances")) ?? []) where isStale(instance) {
            try? tracefs.write("instances/\(instance)/events/enable", "0", mode: .replace)
            do {
                try tracefs.removeDirectory("instances/\(instance)")
                removed.append("instance \(instance)")
            } catch {
                removed.append("instance \(instance) NOT removed: \(error)")
            }
        }
        let lines = ((try? tracefs.read("kprobe_events")) ?? "").split(separator: "\n")
        var staleEvents: [String: [String]] = [:]
        for line in lines {
            if let group = group(ofDefinition: line), isStale(group), let event = event(ofDefinition: line) {
                staleEvents[group, default: []].append(event)
            }
        }
        for (group, events) in staleEvents.sorted(by: { $0.key < $1.key }) {
            try? tracefs.write("events/\(group)/enable", "0", mode: .replace)  // if enabled at the top level
            var failed = 0
            for event in events {
                do { try tracefs.write("kprobe_events", "-:\(group)/\(event)\n", mode: .append) } catch { failed += 1 }
            }
            removed.append("group \(group) (\(events.count - failed) of \(events.count) probes removed)")
        }
        return removed
    }
}
