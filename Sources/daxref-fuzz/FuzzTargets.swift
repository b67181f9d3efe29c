import DaxrefKit
import Foundation

/// One parser as a fuzz target: bytes in, the parse and what its callers derive from the value.
/// A target must not crash, trap or hang on any input; throwing a parse error is the expected outcome.
struct FuzzTarget: Sendable {
    var name: String
    var parses: String
    var run: @Sendable ([UInt8]) -> Void
}

extension FuzzTarget {
    static let all: [FuzzTarget] = [
        text("smaps", "/proc/PID/smaps and smaps_rollup (Smaps)") { text in
            if let vmas = try? Smaps.parse(text) { _ = Smaps.observations(of: vmas) }
            if let rollup = try? Smaps.parseRollup(text) { _ = Smaps.rollupObservations(of: rollup) }
        },
        text("maps", "/proc/PID/maps (ProcMaps)") { text in _ = try? ProcMaps.parse(text) },
        bytes("pagemap", "/proc/PID/pagemap words (Pagemap.decode)") { bytes in
            guard let range = try? Pagemap.decode(bytes, startAddress: 0x7f00_0000_0000, pageSize: 4096) else { return }
            _ = range.observations
            if !range.entries.isEmpty { _ = range.address(ofPage: range.entries.count - 1) }
        },
        bytes("kpageflags", "/proc/kpageflags and kpagecount words (KernelPageFile.decode)") { bytes in
            // One PFN more than the bytes hold: the last reads as end of file, as past max_pfn.
            let requested = bytes.count / 8 + 1
            guard let words = try? KernelPageFile.decode(bytes, firstPFN: 0x10_0000, requested: requested) else { return }
            for case .value(let value) in words.map(\.word) { _ = KernelPageFlags(rawValue: value).description }
        },
        text("vmstat", "/proc/vmstat and node vmstat (VMStat)") { text in
            if let counters = try? VMStat.parse(text) { _ = VMStat.observations(counters) }
        },
        text("meminfo", "/proc/meminfo and node meminfo (MemInfo)") { text in
            if let fields = try? MemInfo.parse(text) { _ = MemInfo.observations(fields) }
        },
        text("sysfs", "dax and nvdimm sysfs attributes (SysfsObject.observations)") { text in
            // Every attribute holds the input, so each conversion (decimal, hex, text) sees it.
            let names = ["size", "align", "target_node", "numa_node", "resource", "modalias", "mode", "holder"]
            let object = SysfsObject(path: "/sys/fuzz", attributes: Dictionary(uniqueKeysWithValues: names.map { ($0, text) }))
            _ = DaxDeviceSysfs.observations(object)
            _ = NamespaceSysfs.observations(namespace: object, holder: object)
        },
        text("cpulist", "sysfs CPU and node lists like 0-3,5 (CPUList)") { text in _ = CPUList.parse(text) },
        bytes("kallsyms", "/proc/kallsyms and available_filter_functions (KernelSymbols)") { bytes in
            let wanted = Set(KprobeCatalog.targets.map(\.symbol))
            _ = KprobePlan.choose(from: KprobeCatalog.targets, symbols: KernelSymbols.parseKallsyms(bytes, wanted: wanted))
            _ = KernelSymbols.parseFilterFunctions(String(decoding: bytes, as: UTF8.self), wanted: wanted)
        },
        text("kprobe-trace", "tracefs trace of kprobe events (KprobeTraceParser)") { text in
            _ = KprobeTraceParser.parse(text)
        },
        bytes("btf", "/sys/kernel/btf/vmlinux (BTFReader, PageLayout.from)") { bytes in
            guard let btf = try? BTFReader(bytes: bytes) else { return }
            _ = PageLayout.from(btf, path: "fuzz")
        },
        text("kmsg", "/dev/kmsg records and dumps (KernelLogRecord, KernelLogFindings)") { text in
            if let record = try? KernelLogRecord.parse(text) { _ = KernelLogFindings.scan([record]).observations }
            if let records = try? KernelLogRecord.parseDump(text) { _ = KernelLogFindings.scan(records).observations }
        },
        text("console", "the VM's serial console, line by line (ConsoleWatcher)") { text in
            var watcher = ConsoleWatcher()
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) { watcher.consume(String(line)) }
        },
        text("ndctl", "ndctl/daxctl list JSON (CrossCheck, NamespaceConfiguration)") { text in
            // inventory.json NUL ndctl.json NUL daxctl.json: the cross-check needs an inventory to compare.
            let parts = text.split(separator: "\0", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { return }
            _ = try? NamespaceConfiguration.parse(ndctlJSON: parts[1], namespace: "namespace0.0") { _ in nil }
            guard let inventory = try? JSONDecoder().decode(Inventory.self, from: Data(parts[0].utf8)) else { return }
            _ = try? CrossCheck(inventory: inventory, ndctlJSON: parts[1], daxctlJSON: parts[2])
        },
        text("mounts", "/proc/mounts (MountEntry)") { text in
            for entry in MountEntry.parse(text) { _ = entry?.daxOption }
        },
        text("provisioned", "the guest's KEY=value provisioning file (ProvisionedEnvironment)") { text in
            _ = ProvisionedEnvironment.parse(text)
        },
        text("status", "/proc/PID/status (ProcStatus)") { text in
            if let status = try? ProcStatus.parse(text) { _ = (status.observations, status.state) }
        },
        text("numa_maps", "/proc/PID/numa_maps (NumaMaps)") { text in
            if let entries = try? NumaMaps.parse(text) { _ = NumaMaps.observations(of: entries) }
        },
        text("task", "/proc/PID/task/TID/stack and stat (TaskWait)") { text in
            _ = TaskWait.parseStack(text)
            _ = try? TaskWait.parseStatState(text)
        },
        text("uname", "uname release NUL version (KernelVersion)") { text in
            let parts = text.split(separator: "\0", maxSplits: 1, omittingEmptySubsequences: false)
            if let version = KernelVersion.of(release: String(parts[0]), version: parts.count > 1 ? String(parts[1]) : "") {
                _ = Era.of(version)
            }
        },
        text("step-result", "a workload helper's stdout with its result line (StepRunner)") { text in
            _ = StepRunner.parseResult(fromOutput: text)
        },
        bytes("runreport", "`daxref run --json` as `daxref diff` loads it (RunReport, RunDiff)") { bytes in
            guard let report = try? RunReport.decode(Data(bytes), source: "fuzz") else { return }
            let diff = RunDiff(report, report)
            _ = diff.render()
            _ = try? diff.jsonString()
        },
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// A parser of text: the bytes decoded as the readers do (invalid UTF-8 repaired).
    private static func text(_ name: String, _ parses: String, _ run: @escaping @Sendable (String) -> Void) -> FuzzTarget {
        FuzzTarget(name: name, parses: parses) { bytes in run(String(decoding: bytes, as: UTF8.self)) }
    }

    private static func bytes(_ name: String, _ parses: String, _ run: @escaping @Sendable ([UInt8]) -> Void) -> FuzzTarget {
        FuzzTarget(name: name, parses: parses, run: run)
    }
}
