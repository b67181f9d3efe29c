import Foundation
import SystemPackage

/// The cases that run where the DAX memory is (in the guest under `daxref vm`, or on a host with
/// pmem): copy and fault-in, O_DIRECT, pin and snapshot. One helper process per case; within it,
/// our side and its peer alternate repetition by repetition.
public struct GuestBench: Sendable {
    public var settings: BenchSettings
    /// The daxref binary helpers run (`/proc/self/exe`).
    public var executable: String
    /// daxref-bench-ref, or nil when it is not there (pin and snapshot are then unavailable).
    public var referenceProgram: String?
    /// fio, or nil when it is not installed (O_DIRECT is then unavailable).
    public var fio: String?
    /// DAX backings available here (`Drive.availableBackings` without the controls).
    public var backings: [Backing]
    public var blockTarget: BlockTarget?

    /// What the default VM provisioning offers; each gets its cases, or unavailable ones saying so.
    public static let expectedBackingIDs = [MemoryFixture.devdax(.align4k), .devdax(.align2m), .fsdax(.ext4), .fsdax(.xfs)].map(\.rawValue)

    public init(
        settings: BenchSettings, executable: String, referenceProgram: String?, fio: String?, backings: [Backing],
        blockTarget: BlockTarget?
    ) {
        self.settings = settings
        self.executable = executable
        self.referenceProgram = referenceProgram
        self.fio = fio
        self.backings = backings.filter(\.isDAX)
        self.blockTarget = blockTarget
    }

    /// The backings the copy and O_DIRECT cases cover: the expected ones in their order (possibly
    /// missing here), then any other DAX backing that is present (devdax.1g).
    var coveredBackings: [(id: String, backing: Backing?)] {
        let expected = Self.expectedBackingIDs.map { id in (id, backings.first { $0.id == id }) }
        let others = backings.filter { !Self.expectedBackingIDs.contains($0.id) }.map { ($0.id, Optional($0)) }
        return expected + others
    }

    public func run(progress: (BenchCase) -> Void) -> [BenchCase] {
        var cases: [BenchCase] = []
        func emit(_ batch: [BenchCase]) {
            for item in batch {
                cases.append(item)
                progress(item)
            }
        }
        let groups = Set(settings.groups)
        if !groups.isDisjoint(with: [.copy, .faultIn]) {
            for (id, backing) in coveredBackings { emit(copyCases(id: id, backing: backing, groups: groups)) }
        }
        if groups.contains(.direct) {
            for (id, backing) in coveredBackings {
                for direction in Fio.Direction.allCases { emit([directCase(id: id, backing: backing, direction: direction)]) }
            }
        }
        if !groups.isDisjoint(with: [.pin, .snapshot]) {
            for target in pinTargets() { emit(pinSnapshotCases(target, groups: groups)) }
        }
        return cases
    }

    // MARK: copy and fault-in

    func copyCases(id: String, backing: Backing?, groups: Set<BenchCase.Group>) -> [BenchCase] {
        var templates: [BenchCase] = []
        if groups.contains(.copy) {
            for (direction, arrow) in [("into", "anonymous → \(id)"), ("out", "\(id) → anonymous")] {
                var template = BenchCase(
                    id: "copy.\(id).\(direction)", group: .copy, title: "memcpy \(arrow)", metric: .bandwidth,
                    bytes: settings.copyBytes * settings.copyPasses, goal: BenchGoals.copy)
                template.ours = BenchSide(label: "daxref: memcpy \(arrow)", samples: [])
                template.peer = BenchSide(label: "anonymous → anonymous (the limit: RAM bandwidth here)", samples: [])
                templates.append(template)
            }
        }
        if groups.contains(.faultIn) {
            var template = BenchCase(
                id: "fault-in.\(id)", group: .faultIn, title: "first write to every page of a fresh \(id) mapping",
                metric: .duration, bytes: settings.copyBytes)
            template.ours = BenchSide(label: "\(id)", samples: [])
            template.peer = BenchSide(label: "anonymous memory", samples: [])
            templates.append(template)
        }
        guard let backing else {
            return templates.map { .unavailable($0.id, group: $0.group, title: $0.title, metric: $0.metric, goal: $0.goal, reason: Self.notProvisioned(id)) }
        }
        let probe = BenchProbe(
            kind: .copy, backing: backing, length: settings.copyBytes, repetitions: settings.repetitions,
            subprocessTimeout: settings.timeout, faultIn: groups.contains(.faultIn), passes: settings.copyPasses)
        let result = probe.runInHelper(executable: executable, timeout: settings.timeout)
        let thp = Self.transparentHugepageMode().map { "anonymous memory: transparent_hugepage \($0)" }
        return templates.map { template in
            let (ours, peer): (String, String) =
                switch template.id {
                case "copy.\(id).into": (BenchProbe.Series.copyInto, BenchProbe.Series.copyAnonymous)
                case "copy.\(id).out": (BenchProbe.Series.copyOut, BenchProbe.Series.copyAnonymous)
                default: (BenchProbe.Series.faultIn, BenchProbe.Series.faultInAnonymous)
                }
            var notes = [
                template.group == .copy
                    ? "\(settings.copyPasses) × \(humanBytes(UInt64(settings.copyBytes))) memcpy per repetition on \(backing.description); all three buffers prefaulted first; the same memcpy on both sides"
                    : "a fresh \(humanBytes(UInt64(settings.copyBytes))) mapping of \(backing.description) per repetition, one write per page"
            ]
            if backing.kind == .fsdax { notes.append("fsdax mappings are MAP_SHARED_VALIDATE|MAP_SYNC of a fallocated file, as daxref maps them for its workloads") }
            notes += thp.map { [$0] } ?? []
            return Self.settle(template, result: result, ours: ours, peer: peer, notes: notes)
        }
    }

    // MARK: O_DIRECT

    func directCase(id: String, backing: Backing?, direction: Fio.Direction) -> BenchCase {
        let verb = direction == .read ? "pread into" : "pwrite from"
        var template = BenchCase(
            id: "direct.\(id).\(direction.rawValue)", group: .direct,
            title: "O_DIRECT \(verb) a \(id) buffer, \(humanBytes(UInt64(settings.blockSize))) blocks",
            metric: .bandwidth, bytes: settings.directBytes / settings.blockSize * settings.blockSize, goal: BenchGoals.direct)
        func unavailable(_ reason: String) -> BenchCase {
            .unavailable(template.id, group: template.group, title: template.title, metric: template.metric, goal: template.goal, reason: reason)
        }
        guard let backing else { return unavailable(Self.notProvisioned(id)) }
        guard let blockTarget else {
            return unavailable("no non-DAX block target: provision `blk` (daxref vm --provision …,blk) or set DAXREF_BLK")
        }
        guard let fio else { return unavailable("fio is not installed (scripts/bootstrap.sh installs it)") }
        if backing.kind == .devdax, let path = backing.path, let size = try? DeviceDaxGeometry.read(device: FilePath(path)).size {
            let needed = Fio.Job.mappingLength(blockSize: settings.blockSize, align: backing.alignment)
            if needed > size {
                return unavailable("fio cannot use \(path) as its buffer: for a \(humanBytes(UInt64(settings.blockSize))) block it maps \(humanBytes(UInt64(needed))) (block and page slack rounded up to the \(humanBytes(UInt64(backing.alignment))) align, plus one more align unit), the device has \(humanBytes(UInt64(size)))")
            }
        }
        template.ours = BenchSide(label: "daxref: O_DIRECT \(verb) \(id)", samples: [])
        let fioMemory = backing.kind == .devdax ? "--mem=mmaphuge:\(backing.path ?? "") --hugepage-size=\(backing.alignment)" : "--mem=mmapshared:<the same file in \(backing.path ?? "")>"
        template.peer = BenchSide(label: "fio, buffer in \(id) (\(fioMemory))", samples: [])
        template.limit = BenchSide(label: "fio, anonymous buffer (the device with ordinary memory)", samples: [])
        let probe = BenchProbe(
            kind: .direct, backing: backing, length: settings.directBytes, repetitions: settings.repetitions, direction: direction,
            blockSize: settings.blockSize, blockTarget: blockTarget, fio: fio, subprocessTimeout: settings.timeout)
        let result = probe.runInHelper(executable: executable, timeout: settings.timeout)
        let notes = [
            "\(humanBytes(UInt64(template.bytes ?? 0))) per pass to \(blockTarget), sequential from offset 0, one I/O at a time",
            "the buffer is mapped fresh for every pass on both sides (MAP_SHARED of \(backing.kind == .devdax ? "the device" : "one fallocated file both map"), offset 0): a read's first pread faults it in, a write's is filled first",
            "fio: psync, iodepth 1, invalidate=0, gtod_reduce=1, scramble_buffers=0; its timed window also covers its open of the target",
        ]
        return Self.settle(
            template, result: result, ours: BenchProbe.Series.direct, peer: BenchProbe.Series.directFio,
            limit: BenchProbe.Series.directFioAnonymous, notes: notes)
    }

    // MARK: pin and snapshot

    struct PinTarget {
        var id: String
        var backing: Backing?
        var length: Int
        var reason: String?
    }

    /// The device-dax device for the 1 GiB cases: the largest-align device that holds
    /// `settings.pinBytes`, else the largest device (its size, rounded down to its align, is used
    /// and reported); and anonymous memory as the labelled control.
    func pinTargets() -> [PinTarget] {
        let devices: [(backing: Backing, size: Int)] = backings.filter { $0.kind == .devdax }.compactMap { backing in
            guard let path = backing.path, let size = try? DeviceDaxGeometry.read(device: FilePath(path)).size else { return nil }
            return (backing, size / backing.alignment * backing.alignment)
        }
        var targets: [PinTarget] = []
        let fitting = devices.filter { $0.size >= settings.pinBytes }.max { $0.backing.alignment < $1.backing.alignment }
        if let chosen = fitting ?? devices.max(by: { $0.size < $1.size }), chosen.size > 0 {
            let length = min(settings.pinBytes, chosen.size) / chosen.backing.alignment * chosen.backing.alignment
            if length > 0 {
                targets.append(PinTarget(id: chosen.backing.id, backing: chosen.backing, length: length))
            } else {
                targets.append(PinTarget(id: chosen.backing.id, backing: nil, length: 0, reason: "\(chosen.backing.description) is smaller than its align"))
            }
        } else {
            targets.append(PinTarget(id: "devdax", backing: nil, length: 0, reason: "no device-dax device here (provision devdax1g, devdax2m or devdax4k)"))
        }
        targets.append(PinTarget(id: Backing.anonymous.id, backing: .anonymous, length: settings.pinBytes))
        return targets
    }

    func pinSnapshotCases(_ target: PinTarget, groups: Set<BenchCase.Group>) -> [BenchCase] {
        let size = humanBytes(UInt64(target.length))
        let control = target.backing?.kind == .anonymous ? " (control: ordinary memory)" : ""
        var templates: [BenchCase] = []
        if groups.contains(.pin) {
            var template = BenchCase(
                id: "pin.\(target.id)", group: .pin,
                title: "io_uring register + unregister of \(size) of \(target.backing?.description ?? target.id)\(control)",
                metric: .duration, bytes: target.length, goal: BenchGoals.reference)
            template.ours = BenchSide(label: "daxref (Swift): IoUringBufferPin", samples: [])
            template.peer = BenchSide(label: "C reference (daxref-bench-ref pin)", samples: [])
            templates.append(template)
        }
        if groups.contains(.snapshot) {
            var template = BenchCase(
                id: "snapshot.\(target.id)", group: .snapshot,
                title: "pagemap + smaps of a \(size) \(target.backing?.description ?? target.id) mapping\(control)",
                metric: .duration, bytes: target.length, goal: BenchGoals.reference)
            template.ours = BenchSide(label: "daxref (Swift): Pagemap.read + Smaps.read", samples: [])
            template.peer = BenchSide(label: "C reference (daxref-bench-ref snapshot)", samples: [])
            templates.append(template)
        }
        func unavailable(_ reason: String) -> [BenchCase] {
            templates.map { .unavailable($0.id, group: $0.group, title: $0.title, metric: $0.metric, goal: $0.goal, reason: reason) }
        }
        guard let backing = target.backing else { return unavailable(target.reason ?? "no memory to pin") }
        guard let referenceProgram else {
            return unavailable("the C reference program \(ReferenceProgram.name) is not beside daxref (build it: swift build builds both)")
        }
        let probe = BenchProbe(
            kind: .pinSnapshot, backing: backing, length: target.length, repetitions: settings.repetitions,
            referenceProgram: referenceProgram, subprocessTimeout: settings.timeout)
        let result = probe.runInHelper(executable: executable, timeout: settings.timeout)
        return templates.map { template in
            if template.group == .pin {
                var notes = [
                    "each side maps and prefaults a fresh \(size) mapping of \(backing.description) for every registration; timed: io_uring_setup, IORING_REGISTER_BUFFERS (one iovec per GiB), IORING_UNREGISTER_BUFFERS, close"
                ]
                if target.length < settings.pinBytes {
                    notes.append("\(size) used: the largest whole-align size the device offers (asked for \(humanBytes(UInt64(settings.pinBytes))))")
                }
                var settled = Self.settle(template, result: result, ours: BenchProbe.Series.pin, peer: BenchProbe.Series.pinReference, notes: notes)
                Self.checkRefusals(&settled)
                return settled
            }
            var notes = [
                "the C program reads the Swift process's own /proc/PID/pagemap and smaps, so both parse the same files; the range is prefaulted before each read (a read splits a 1 GiB PUD mapping)"
            ] + result.notes
            if let oursTotal = SampleSummary(result.series[BenchProbe.Series.snapshot] ?? [])?.median,
                let oursPagemap = SampleSummary(result.series[BenchProbe.Series.snapshotPagemap] ?? [])?.median,
                let theirsTotal = SampleSummary(result.series[BenchProbe.Series.snapshotReference] ?? [])?.median,
                let theirsPagemap = SampleSummary(result.series[BenchProbe.Series.snapshotReferencePagemap] ?? [])?.median
            {
                notes.append("medians by part: pagemap daxref \(formatSeconds(oursPagemap)), C \(formatSeconds(theirsPagemap)); smaps (the rest) daxref \(formatSeconds(oursTotal - oursPagemap)), C \(formatSeconds(theirsTotal - theirsPagemap))")
            }
            return Self.settle(template, result: result, ours: BenchProbe.Series.snapshot, peer: BenchProbe.Series.snapshotReference, notes: notes)
        }
    }

    /// A pin refused on both sides is still a comparison (of the refused call); different answers
    /// mean the sides did not do the same thing.
    static func checkRefusals(_ benchCase: inout BenchCase) {
        guard benchCase.status == .measured, let ours = benchCase.ours?.outcome, let peer = benchCase.peer?.outcome else { return }
        if ours != peer {
            benchCase.status = .error
            benchCase.reason = "the sides got different answers: daxref \(ours), C \(peer)"
        } else if ours != "ok" {
            benchCase.notes.insert("both sides were refused with \(ours): the times are of the refused registration (the kernel walks and refuses the pages)", at: 0)
        }
    }

    // MARK: shared pieces

    static func notProvisioned(_ id: String) -> String {
        "\(id) is not provisioned here (see `daxref inventory`; the VM provisions it with --provision)"
    }

    /// Fills a case's sides from a probe result and decides its status: measured when every side it
    /// has got samples (the limit is extra: its failure becomes a note), else an error saying why.
    static func settle(
        _ template: BenchCase, result: BenchProbeResult, ours: String, peer: String?, limit: String? = nil, notes: [String]
    ) -> BenchCase {
        var settled = template
        settled.notes = notes
        if let error = result.error {
            settled.status = .error
            settled.reason = error
            return settled
        }
        func side(_ template: BenchSide?, _ series: String?) -> BenchSide? {
            guard let template, let series else { return nil }
            return BenchSide(
                label: template.label, samples: result.series[series] ?? [], outcome: result.outcomes[series],
                failure: result.failures[series])
        }
        settled.ours = side(template.ours, ours)
        settled.peer = side(template.peer, peer)
        settled.limit = side(template.limit, limit)
        let required = [("daxref", settled.ours), ("peer", settled.peer)].compactMap { name, side in side.map { (name, $0) } }
        for (name, side) in required where side.summary == nil || side.failure != nil {
            settled.status = .error
            settled.reason = "\(name): " + (side.failure ?? "no samples")
            return settled
        }
        if let limit = settled.limit, let failure = limit.failure {
            settled.notes.append("limit not measured: \(failure)")
        }
        settled.status = .measured
        return settled
    }

    /// fio from PATH.
    public static func locateFio() -> String? { Subprocess.findInPath("fio") }

    /// `fio-3.33`
    public static func fioVersion(_ fio: String) -> String? {
        guard let output = try? Subprocess.capture([fio, "--version"]), output.status == 0 else { return nil }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The bracketed mode of /sys/kernel/mm/transparent_hugepage/enabled (`always`, `madvise`, `never`).
    static func transparentHugepageMode() -> String? {
        guard let text = (try? SystemFile.readAttribute("/sys/kernel/mm/transparent_hugepage/enabled")) ?? nil,
            let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close
        else { return nil }
        return String(text[text.index(after: open)..<close])
    }
}
