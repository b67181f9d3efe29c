import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The work of one helper process (`daxref bench --run-probe <json>`): all repetitions of one case,
/// our side and its peer interleaved (the order alternates by repetition), so drift on the machine
/// (another guest, a host page-cache flush) hits both sides alike. An untimed warm-up round of
/// every side comes first. In a helper because the memory
/// under test can fault (SIGBUS) or the kernel can hang in it: that costs one case, not the run.
public struct BenchProbe: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// memcpy anonymous → DAX, DAX → anonymous, anonymous → anonymous; and fault-in of fresh
        /// DAX and anonymous mappings.
        case copy
        /// O_DIRECT passes with the buffer in DAX: daxref's own, fio's with the same memory, fio's
        /// with anonymous memory.
        case direct
        /// io_uring pin/unpin and pagemap + smaps snapshot: daxref's Swift code vs the C reference.
        case pinSnapshot = "pin-snapshot"
    }

    public var kind: Kind
    public var backing: Backing
    /// copy: bytes per copy and per fault-in mapping; direct: bytes per pass; pin-snapshot: the mapping.
    public var length: Int
    public var repetitions: Int
    public var direction: Fio.Direction?
    public var blockSize: Int?
    public var blockTarget: BlockTarget?
    /// fio's path, nil when there is none (the peer side then says so).
    public var fio: String?
    public var referenceProgram: String?
    /// Seconds for each fio or reference-program run.
    public var subprocessTimeout: Double
    /// copy: also time the fault-in of fresh mappings.
    public var faultIn: Bool
    /// copy: copies of `length` per repetition, so one repetition lasts long enough to time.
    public var passes: Int

    public init(
        kind: Kind, backing: Backing, length: Int, repetitions: Int, direction: Fio.Direction? = nil, blockSize: Int? = nil,
        blockTarget: BlockTarget? = nil, fio: String? = nil, referenceProgram: String? = nil, subprocessTimeout: Double = 300,
        faultIn: Bool = false, passes: Int = 1
    ) {
        self.kind = kind
        self.backing = backing
        self.length = length
        self.repetitions = repetitions
        self.direction = direction
        self.blockSize = blockSize
        self.blockTarget = blockTarget
        self.fio = fio
        self.referenceProgram = referenceProgram
        self.subprocessTimeout = subprocessTimeout
        self.faultIn = faultIn
        self.passes = passes
    }

    /// Series names in a result.
    public enum Series {
        public static let copyInto = "copy.into"
        public static let copyOut = "copy.out"
        public static let copyAnonymous = "copy.anonymous"
        public static let faultIn = "fault-in"
        public static let faultInAnonymous = "fault-in.anonymous"
        public static let direct = "direct.daxref"
        public static let directFio = "direct.fio"
        public static let directFioAnonymous = "direct.fio-anonymous"
        public static let pin = "pin.daxref"
        public static let pinReference = "pin.reference"
        public static let snapshot = "snapshot.daxref"
        public static let snapshotReference = "snapshot.reference"
        /// The pagemap part of each snapshot (the rest is smaps).
        public static let snapshotPagemap = "snapshot.daxref.pagemap"
        public static let snapshotReferencePagemap = "snapshot.reference.pagemap"
    }
}

/// What a probe measured: samples per series (bytes/s or seconds), the outcome of calls that can be
/// refused, why a series stopped short, and facts for the notes.
public struct BenchProbeResult: Codable, Sendable, Equatable {
    public var series: [String: [Double]] = [:]
    public var outcomes: [String: String] = [:]
    public var failures: [String: String] = [:]
    public var notes: [String] = []
    /// The probe as a whole could not run (setup failed, the helper crashed or timed out).
    public var error: String?

    public init(error: String? = nil) { self.error = error }

    /// Round 0 is the untimed warm-up (code loaded, caches filled, lazy setup done on every side);
    /// rounds 1… are the repetitions.
    mutating func add(_ series: String, _ value: Double, round: Int) {
        if round > 0 { self.series[series, default: []].append(value) }
    }

    /// Records the first failure of a series; later ones of the same series are the same story.
    mutating func fail(_ series: String, _ why: String) {
        if failures[series] == nil { failures[series] = why }
    }

    /// Records what a call returned; a different answer on a later repetition is itself a finding.
    mutating func record(outcome: String, for series: String) {
        if let earlier = outcomes[series], earlier != outcome {
            fail(series, "the outcome changed between repetitions: \(earlier), then \(outcome)")
        }
        outcomes[series] = outcome
    }
}

struct BenchProbeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension BenchProbe {
    /// Marks the result line on the helper's stdout.
    public static let resultPrefix = "DAXREF-BENCH-RESULT "

    /// Runs the probe in this process.
    public func run() -> BenchProbeResult {
        var result = BenchProbeResult()
        do {
            switch kind {
            case .copy: try runCopy(&result)
            case .direct: try runDirect(&result)
            case .pinSnapshot: try runPinSnapshot(&result)
            }
        } catch {
            result.error = error.description
        }
        return result
    }

    /// The helper's side: one line, `resultPrefix` + JSON, on stdout.
    public static func emit(_ result: BenchProbeResult) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        _ = try? FileDescriptor.standardOutput.writeAll(Array((resultPrefix + json + "\n").utf8))
    }

    /// The harness's side: runs the probe in a helper (`executable bench --run-probe <json>`) with a
    /// deadline and turns whatever happened into a result. A helper that times out is reported with
    /// where its threads were waiting.
    public func runInHelper(executable: String, timeout: Double) -> BenchProbeResult {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var helper = HelperProcess(argv: [executable, "bench", "--run-probe", json], deadline: timeout)
        helper.deliveredMarker = Self.resultPrefix
        let scratch = ScratchGuard(directories: (backing.hasFile ? [backing.path ?? ""] : [])
            + (blockTarget?.kind == .directory ? [blockTarget?.path ?? ""] : []))
        let outcome: HelperProcess.Outcome
        do { outcome = try helper.run() } catch {
            return BenchProbeResult(error: "cannot start the helper \(executable): \(error)")
        }
        scratch.sweep(afterHelper: outcome.pid)
        for line in outcome.stdout.split(separator: "\n") where line.hasPrefix(Self.resultPrefix) {
            if let result = try? JSONDecoder().decode(BenchProbeResult.self, from: Data(line.dropFirst(Self.resultPrefix.count).utf8)) {
                return result
            }
        }
        return BenchProbeResult(error: Self.describeFailure(outcome, timeout: timeout))
    }

    /// Why a helper (probe, fio, reference program) gave no result: its exit, or its deadline and
    /// where its threads were blocked, plus its last stderr lines.
    static func describeFailure(_ outcome: HelperProcess.Outcome, timeout: Double) -> String {
        let lastWords = outcome.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
        let tail = lastWords.isEmpty ? "" : ": \(lastWords)"
        if outcome.timedOut {
            let waits = outcome.samples.compactMap { sample in
                sample.wait.map { "tid \(sample.tid) \($0.state) wchan=\($0.wchan)" }
            }
            return "no result within \(Int(timeout)) s"
                + (waits.isEmpty ? "" : " (\(waits.joined(separator: ", ")))")
                + (outcome.abandoned ? "; could not be killed (D state), left behind" : "; killed") + tail
        }
        switch outcome.exit {
        case .signaled(let signal): return "killed by signal \(signal)" + tail
        case .exited(let code): return "exited \(code) without a result" + tail
        case nil: return "could not be reaped" + tail
        }
    }

    /// Runs another program with this probe's subprocess deadline; its stdout, or why there is none.
    func runProgram(_ argv: [String]) -> Result<String, BenchProbeError> {
        let outcome: HelperProcess.Outcome
        do { outcome = try HelperProcess(argv: argv, deadline: subprocessTimeout).run() } catch {
            return .failure(BenchProbeError("cannot start \(argv[0]): \(error)"))
        }
        if outcome.timedOut || outcome.exit != .exited(0) {
            return .failure(BenchProbeError(Self.describeFailure(outcome, timeout: subprocessTimeout)))
        }
        return .success(outcome.stdout)
    }

    // MARK: copy

    private func runCopy(_ result: inout BenchProbeResult) throws(BenchProbeError) {
        if faultIn {
            for round in 0...repetitions {
                for side in alternating([Series.faultIn, Series.faultInAnonymous], round) {
                    let fresh = try Self.map(side == Series.faultIn ? backing : .anonymous, length: length)
                    let region = fresh.region.prefix(bytes: length)
                    let start = ContinuousClock.now
                    let touched = MemoryAccess.touch(region, stride: systemPageSize, write: true)
                    let seconds = Self.seconds(since: start)
                    try Self.check(touched, "first write to \(side == Series.faultIn ? backing.id : "anonymous memory")")
                    result.add(side, seconds, round: round)
                    keepAlive(fresh)
                }
            }
        }
        let dax = try Self.map(backing, length: length)
        let source = try Self.map(.anonymous, length: length)
        let destination = try Self.map(.anonymous, length: length)
        let daxRegion = dax.region.prefix(bytes: length)
        let sourceRegion = source.region.prefix(bytes: length)
        let destinationRegion = destination.region.prefix(bytes: length)
        // Prefaulted, so the copies measure bandwidth and not faults.
        try Self.check(MemoryAccess.fill(sourceRegion, seed: MemoryAccess.parentSeed), "filling the anonymous source")
        try Self.check(MemoryAccess.touch(destinationRegion, stride: systemPageSize, write: true), "prefaulting the anonymous destination")
        try Self.check(MemoryAccess.touch(daxRegion, stride: systemPageSize, write: true), "prefaulting \(backing.id)")
        let copies: [(String, UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer)] = [
            (Series.copyInto, daxRegion, sourceRegion),
            (Series.copyOut, destinationRegion, daxRegion),
            (Series.copyAnonymous, destinationRegion, sourceRegion),
        ]
        for round in 0...repetitions {
            for (series, to, from) in rotated(copies, round) {
                let start = ContinuousClock.now
                for _ in 0..<passes { to.baseAddress!.copyMemory(from: from.baseAddress!, byteCount: length) }
                result.add(series, Double(length * passes) / Self.seconds(since: start), round: round)
            }
        }
        // The copies really happened, to the right places (this also keeps them from being elided).
        try Self.check(MemoryAccess.verify(UnsafeRawBufferPointer(daxRegion), seed: MemoryAccess.parentSeed), "verifying \(backing.id) after the copies")
        try Self.check(MemoryAccess.verify(UnsafeRawBufferPointer(destinationRegion), seed: MemoryAccess.parentSeed), "verifying the anonymous destination")
        keepAlive(dax)
        keepAlive(source)
        keepAlive(destination)
    }

    // MARK: direct

    private func runDirect(_ result: inout BenchProbeResult) throws(BenchProbeError) {
        guard let blockTarget, let direction, let blockSize else {
            throw BenchProbeError("a direct probe needs a block target, a direction and a block size")
        }
        let passBytes = length / blockSize * blockSize
        guard passBytes > 0 else { throw BenchProbeError("--direct-size \(length) is smaller than the block size \(blockSize)") }
        let target = try Self.openDirect(blockTarget, length: passBytes)
        let device = target.descriptor

        // The buffer memory, the same for both sides: the device itself, or one file on the DAX
        // filesystem that both map MAP_SHARED from offset 0 (so the very same pages).
        let bufferFile: ScratchFile?
        var bufferDescriptor: FileDescriptor?
        var fioMemory: Fio.BufferMemory?
        switch backing.kind {
        case .devdax:
            let path = backing.path ?? ""
            let needed = Fio.Job.mappingLength(blockSize: blockSize, align: backing.alignment)
            let size = (try? DeviceDaxGeometry.read(device: FilePath(path)))?.size ?? 0
            if needed <= size {
                fioMemory = .deviceDax(path: path, align: backing.alignment)
            } else {
                result.fail(Series.directFio, "fio maps \(humanBytes(UInt64(needed))) of the device for a \(humanBytes(UInt64(blockSize))) block (the block plus slack rounded up to the \(humanBytes(UInt64(backing.alignment))) align, plus one more align unit); \(path) has \(humanBytes(UInt64(size)))")
            }
            bufferDescriptor = try Self.setup("open \(path)") { () throws(Errno) in
                try withTypedErrno { try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec]) }
            }
            bufferFile = nil
        case .fsdax, .pagecache:
            let file = try Self.setup("create the buffer file in \(backing.path ?? "")") { () throws(Errno) in
                try ScratchFile(in: FilePath(backing.path ?? ""))
            }
            let needed = max(Fio.Job.mappingLength(blockSize: blockSize, align: systemPageSize), backing.mappingLength(for: blockSize))
            try Self.setup("fallocate \(file.path)") { () throws(Errno) in
                try file.descriptor!.allocate(.allocate, offset: 0, length: Int64(needed))
            }
            if backing.kind == .fsdax, (try? StatxAttributes.of(file.path))?.isDAX != true {
                throw BenchProbeError("\(file.path): not a DAX file (statx STATX_ATTR_DAX clear or unknown)")
            }
            fioMemory = .daxFile(path: file.path.string)
            bufferDescriptor = file.descriptor
            bufferFile = consume file
        case .anonymous:
            fioMemory = .anonymous
            bufferFile = nil
        }
        defer { if backing.kind == .devdax { try? bufferDescriptor?.close() } }
        // fio's target: the same block device, or a file of its own in the same directory.
        let fioTargetFile: ScratchFile?
        var fioTarget = blockTarget.path
        if blockTarget.kind == .directory {
            let file = try Self.setup("create fio's target file in \(blockTarget.path)") { () throws(Errno) in
                try ScratchFile(in: FilePath(blockTarget.path))
            }
            try Self.setup("fallocate \(file.path)") { () throws(Errno) in
                try file.descriptor!.allocate(.allocate, offset: 0, length: Int64(passBytes))
            }
            fioTarget = file.path.string
            fioTargetFile = consume file
        } else {
            fioTargetFile = nil
        }
        if fio == nil {
            result.fail(Series.directFio, "fio is not installed (scripts/bootstrap.sh installs it)")
            result.fail(Series.directFioAnonymous, "fio is not installed (scripts/bootstrap.sh installs it)")
        }

        for round in 0...repetitions {
            for series in alternating([Series.direct, Series.directFio, Series.directFioAnonymous], round) {
                switch series {
                case Series.direct:
                    guard result.failures[series] == nil else { continue }
                    // A fresh mapping per pass, like fio's buffer in its fresh process: a read's first
                    // pread faults the buffer in (GUP) on both sides; a write's buffer is filled
                    // first on both (fio fills it when it sets up).
                    let mapping = try mapDirectBuffer(file: bufferDescriptor, blockSize: blockSize)
                    let buffer = mapping.bytes.prefix(bytes: blockSize)
                    if direction == .write {
                        try Self.check(MemoryAccess.fill(buffer, seed: MemoryAccess.parentSeed), "filling \(backing.id)")
                    }
                    let start = ContinuousClock.now
                    var offset = 0
                    while offset < passBytes {
                        let moved: Int
                        do {
                            moved = try withTypedErrno {
                                direction == .read
                                    ? try device.read(fromAbsoluteOffset: Int64(offset), into: buffer)
                                    : try device.write(toAbsoluteOffset: Int64(offset), UnsafeRawBufferPointer(buffer))
                            }
                        } catch {
                            result.fail(series, "O_DIRECT \(direction == .read ? "pread" : "pwrite") at \(offset): \(error.symbolicName)")
                            break
                        }
                        guard moved == blockSize else {
                            result.fail(series, "O_DIRECT \(direction.rawValue) at \(offset) moved \(moved) of \(blockSize) bytes")
                            break
                        }
                        offset += moved
                    }
                    if offset == passBytes { result.add(series, Double(passBytes) / Self.seconds(since: start), round: round) }
                    keepAlive(mapping)
                default:
                    let memory = series == Series.directFio ? fioMemory : .anonymous
                    guard let fio, let memory, result.failures[series] == nil else { continue }
                    var argv = Fio.Job(target: fioTarget, direction: direction, blockSize: blockSize, totalBytes: passBytes, memory: memory).arguments
                    argv[0] = fio
                    switch runProgram(argv) {
                    case .success(let output):
                        do { result.add(series, try Fio.parse(output, direction: direction).bandwidth, round: round) } catch {
                            result.fail(series, error.description)
                        }
                    case .failure(let error):
                        result.fail(series, "fio: \(error)")
                    }
                }
            }
        }
        // The files stay until the last pass.
        keepAlive(bufferFile)
        keepAlive(fioTargetFile)
        keepAlive(target)
    }

    /// The O_DIRECT buffer for one pass: `file` (the device-dax device or the shared DAX file)
    /// mapped MAP_SHARED from offset 0, or anonymous memory; whole align units, aligned.
    private func mapDirectBuffer(file: FileDescriptor?, blockSize: Int) throws(BenchProbeError) -> MemoryMapping {
        let length = backing.mappingLength(for: blockSize)
        do {
            return try MemoryMapping(
                length: length, alignment: backing.alignment, protection: .readWrite,
                flags: file == nil ? [.private, .anonymous] : .shared, file: file)
        } catch {
            throw BenchProbeError("mmap \(length) bytes of \(backing.description): \(error.symbolicName)")
        }
    }

    // MARK: pin and snapshot

    private func runPinSnapshot(_ result: inout BenchProbeResult) throws(BenchProbeError) {
        let mappedLength = backing.mappingLength(for: length)
        let pid = getpid()
        if referenceProgram == nil {
            result.fail(Series.pinReference, "no reference program")
            result.fail(Series.snapshotReference, "no reference program")
        }
        // Pin: like the C program, which runs in a fresh process, daxref maps and prefaults a fresh
        // mapping for every registration, so both pin memory in the same state (a 1 GiB device
        // mapped by one PUD, not one split by an earlier pagemap read).
        for round in 0...repetitions {
            for series in alternating([Series.pin, Series.pinReference], round) {
                if series == Series.pin {
                    let fresh = try Self.map(backing, length: mappedLength)
                    try Self.check(MemoryAccess.touch(fresh.region, stride: systemPageSize, write: true), "prefaulting \(backing.id)")
                    let (seconds, outcome) = try Self.pinAndUnpin(fresh.region)
                    result.add(series, seconds, round: round)
                    result.record(outcome: outcome, for: series)
                    keepAlive(fresh)
                } else if let program = referenceProgram, result.failures[series] == nil {
                    let argv = ReferenceProgram.pinArguments(
                        program: program, device: backing.kind == .devdax ? backing.path : nil, length: mappedLength,
                        align: backing.alignment)
                    switch runProgram(argv) {
                    case .success(let output):
                        do {
                            let line = try ReferenceProgram.parsePin(output)
                            result.add(series, line.seconds, round: round)
                            result.record(outcome: line.outcome, for: series)
                        } catch { result.fail(series, error.description) }
                    case .failure(let error): result.fail(series, error.description)
                    }
                }
            }
        }
        // Snapshot: one mapping in this process; the C program reads this process's files.
        let memory = try Self.map(backing, length: mappedLength)
        let region = memory.region
        let range = UInt64(UInt(bitPattern: region.baseAddress))..<UInt64(UInt(bitPattern: region.baseAddress)) + UInt64(region.count)
        var swiftSnapshot: (present: Int, rss: Int64)?
        var referenceSnapshot: ReferenceProgram.SnapshotLine?
        for round in 0...repetitions {
            for series in alternating([Series.snapshot, Series.snapshotReference], round) {
                // Reading pagemap or smaps splits a 1 GiB PUD mapping, so every read starts mapped again.
                try Self.check(MemoryAccess.touch(region, stride: systemPageSize, write: true), "prefaulting \(backing.id)")
                if series == Series.snapshot {
                    // What the C side does too: read and decode pagemap, count the present pages;
                    // read and parse all of smaps, sum Rss over the range's VMAs.
                    let start = ContinuousClock.now
                    let present: Int
                    let pagemapSeconds: Double
                    let vmas: [SmapsVMA]
                    do {
                        present = try Pagemap.read(pid: pid, range: range).present
                        pagemapSeconds = Self.seconds(since: start)
                        vmas = try Smaps.read(pid: pid)
                    } catch {
                        result.fail(series, error.description)
                        continue
                    }
                    let rss = Smaps.overlapping(vmas, range).compactMap { $0["Rss"] }.reduce(0, +)
                    result.add(series, Self.seconds(since: start), round: round)
                    result.add(Series.snapshotPagemap, pagemapSeconds, round: round)
                    swiftSnapshot = (present, rss)
                } else if let program = referenceProgram, result.failures[series] == nil {
                    switch runProgram(ReferenceProgram.snapshotArguments(program: program, pid: pid, start: range.lowerBound, length: region.count)) {
                    case .success(let output):
                        do {
                            let line = try ReferenceProgram.parseSnapshot(output)
                            result.add(series, line.seconds, round: round)
                            result.add(Series.snapshotReferencePagemap, line.pagemapSeconds, round: round)
                            referenceSnapshot = line
                        } catch { result.fail(series, error.description) }
                    case .failure(let error): result.fail(series, error.description)
                    }
                }
            }
        }
        // Both sides must have read the same thing, or the comparison is of different work.
        if let ours = swiftSnapshot, let theirs = referenceSnapshot {
            result.notes.append("pagemap present pages: daxref \(ours.present), C \(theirs.presentPages); smaps Rss of the range: daxref \(ours.rss) kB, C \(theirs.rssKilobytes) kB; smaps VMAs read: \(theirs.vmas)")
            if ours.present != theirs.presentPages || ours.rss != Int64(theirs.rssKilobytes) {
                result.fail(Series.snapshotReference, "the two sides read different contents (see notes)")
            }
        }
        keepAlive(memory)
    }

    /// io_uring_setup + IORING_REGISTER_BUFFERS + IORING_UNREGISTER_BUFFERS + close, timed as one;
    /// a refused registration is an outcome (its errno name), not an error.
    static func pinAndUnpin(_ region: UnsafeMutableRawBufferPointer) throws(BenchProbeError) -> (Double, String) {
        let start = ContinuousClock.now
        var pin: IoUringBufferPin
        do { pin = try IoUringBufferPin(registering: region) } catch {
            switch error {
            case .setup(let errno): throw BenchProbeError("io_uring_setup: \(errno.symbolicName)")
            case .register(let errno): return (seconds(since: start), errno.symbolicName)
            }
        }
        do { try pin.unregister() } catch { throw BenchProbeError("IORING_UNREGISTER_BUFFERS: \(error.symbolicName)") }
        _ = consume pin  // closes the ring, inside the timing
        return (seconds(since: start), "ok")
    }

    // MARK: shared pieces

    /// The mapping must outlive the raw pointers into it that the timed loops use.
    @inline(never)
    func keepAlive<T: ~Copyable>(_ value: borrowing T) {}

    static func map(_ backing: Backing, length: Int) throws(BenchProbeError) -> MappedMemory {
        do { return try MappedMemory.open(backing, length: length) } catch { throw BenchProbeError(error.description) }
    }

    static func openDirect(_ target: BlockTarget, length: Int) throws(BenchProbeError) -> DirectTarget {
        do { return try DirectTarget(target, length: length) } catch { throw BenchProbeError(error.description) }
    }

    static func check(_ outcome: MemoryAccess.Outcome, _ what: String) throws(BenchProbeError) {
        if let fault = outcome.fault {
            throw BenchProbeError("\(what): signal \(fault.signal) at offset \(fault.offset)")
        }
        if let mismatch = outcome.mismatchOffset {
            throw BenchProbeError("\(what): data differs at offset \(mismatch)")
        }
    }

    static func setup<T: ~Copyable>(_ what: String, _ body: () throws(Errno) -> T) throws(BenchProbeError) -> T {
        do { return try body() } catch { throw BenchProbeError("\(what): \(error.symbolicName)") }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// Odd repetitions run the sides in reverse order.
    func alternating<T>(_ sides: [T], _ repetition: Int) -> [T] {
        repetition % 2 == 0 ? sides : sides.reversed()
    }

    /// Each repetition starts with the next side.
    func rotated<T>(_ sides: [T], _ repetition: Int) -> [T] {
        let shift = repetition % sides.count
        return Array(sides[shift...] + sides[..<shift])
    }
}
