import CDaxrefShim
import Foundation
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import DaxrefKit

/// The guarded loops: faults become results, the process lives on.
@Suite(.serialized) struct WorkloadMemoryAccessTests {
    @Test func patternRoundTripsAndCatchesMisplacedData() throws {
        let mapping = try MemoryMapping(length: 4 * 4096, alignment: 4096, protection: .readWrite, flags: [.private, .anonymous])
        #expect(MemoryAccess.fill(mapping.bytes, seed: 42).isIntact)
        #expect(MemoryAccess.verify(UnsafeRawBufferPointer(mapping.bytes), seed: 42).isIntact)
        #expect(MemoryAccess.verify(UnsafeRawBufferPointer(mapping.bytes), seed: 43).mismatchOffset == 0)
        // A page's data at another offset (what a wrong PFN would give) is not the pattern there.
        mapping.bytes.baseAddress!.advanced(by: 8192).copyMemory(from: mapping.bytes.baseAddress!, byteCount: 4096)
        #expect(MemoryAccess.verify(UnsafeRawBufferPointer(mapping.bytes), seed: 42).mismatchOffset == 8192)
    }

    @Test func sigbusBeyondEndOfFileIsAResult() throws {
        // A shared file mapping whose file shrank: the second page raises SIGBUS, as truncated
        // fsdax pages do.
        var memory = try MappedMemory.open(.pageCache(), length: 2 << 20)
        let descriptor = memory.file?.descriptor
        try #require(descriptor != nil)
        try descriptor!.resize(to: 4096)
        let outcome = MemoryAccess.touch(memory.region.prefix(bytes: 3 * 4096), stride: 4096, write: false)
        #expect(outcome.fault == MemoryAccess.Fault(signal: SIGBUS, offset: 4096))
        // The guard is re-armed: the next access works and the next fault is caught again.
        #expect(MemoryAccess.touch(memory.region.prefix(bytes: 4096), stride: 4096, write: true).isIntact)
        #expect(MemoryAccess.fill(memory.region, seed: 1).fault?.signal == SIGBUS)
        _ = memory.mapping.take()
    }

    @Test func sigsegvOnInaccessibleMemoryIsAResult() throws {
        let mapping = try MemoryMapping(length: 2 * 4096, alignment: 4096, protection: .none, flags: [.private, .anonymous])
        let outcome = MemoryAccess.verify(UnsafeRawBufferPointer(mapping.bytes), seed: 1)
        #expect(outcome.fault == MemoryAccess.Fault(signal: SIGSEGV, offset: 0))
        #expect(outcome.mismatchOffset == nil)
    }
}

/// Children, watched calls and helpers: the parts that keep a stuck or crashing step from taking
/// the harness down.
@Suite(.serialized) struct WorkloadIsolationTests {
    @Test func forkedChildSeesSharedDataAndItsWritesComeBack() throws {
        let memory = try MappedMemory.open(.pageCache(), length: 2 << 20)
        let region = memory.region.prefix(bytes: 64 << 10)
        _ = MemoryAccess.fill(region, seed: MemoryAccess.parentSeed)
        var child = try ForkedChild(region: region, verify: MemoryAccess.parentSeed, fill: MemoryAccess.childSeed, holdUntilReleased: false)
        let received = child.awaitReport(seconds: 10)
        let report = try #require(received)
        let childPID = child.pid
        #expect(report.pid == childPID)
        #expect(MemoryAccess.Outcome(report.verified).isIntact)
        #expect(MemoryAccess.Outcome(report.filled).isIntact)
        let exit = child.releaseAndReap(seconds: 10)
        #expect(exit == .exited(0))
        #expect(MemoryAccess.verify(UnsafeRawBufferPointer(region), seed: MemoryAccess.childSeed).isIntact)
    }

    @Test func heldChildWaitsForReleaseAndCanBeReadRemotely() throws {
        let memory = try MappedMemory.open(.anonymous, length: 2 << 20)
        let region = memory.region.prefix(bytes: 64 << 10)
        _ = MemoryAccess.fill(region, seed: MemoryAccess.parentSeed)
        var child = try ForkedChild(region: region, verify: MemoryAccess.parentSeed, fill: nil, holdUntilReleased: true)
        let received = child.awaitReport(seconds: 10)
        _ = try #require(received)
        usleep(50_000)
        let childPID = child.pid
        #expect(try ChildProcess.reapIfEnded(childPID) == nil, "a holding child waits for its release")
        let local = try MemoryMapping(length: region.count, alignment: 4096, protection: .readWrite, flags: [.private, .anonymous])
        let count = try ProcessMemory.read(from: childPID, remote: UnsafeRawBufferPointer(region), into: local.bytes)
        #expect(count == region.count)
        #expect(MemoryAccess.verify(UnsafeRawBufferPointer(local.bytes), seed: MemoryAccess.parentSeed).isIntact)
        let exit = child.releaseAndReap(seconds: 10)
        #expect(exit == .exited(0))
    }

    @Test func watchedCallSamplesABlockedTaskAndMeasuresUntilRelease() throws {
        let pipe = try OwnedPipe()
        let readEnd = pipe.readEnd
        var log = StepLog(backing: .anonymous, region: nil)
        let request = StepRequest(backing: .anonymous, workload: .truncateSpliced, blockWait: 0.3, releaseWait: 5)
        var watch = WatchedCall(.read, request: request, log: &log) { () throws(Errno) in
            var byte: UInt8 = 0
            return try withTypedErrno { try withUnsafeMutableBytes(of: &byte) { try readEnd.read(into: $0) } }
        }
        #expect(watch.wasBlocked && watch.isRunning)
        let whileBlocked = log.observations
        let samples = log.samples, checkpoints = log.checkpoints
        #expect(whileBlocked[.taskState] == .text("S"))
        if case .text(let wchan)? = whileBlocked[.taskWchan] { #expect(wchan != "0" && !wchan.isEmpty, "a sleeping task has a wchan") } else {
            Issue.record("no task.wchan: \(String(describing: whileBlocked[.taskWchan]))")
        }
        #expect(samples.count == WatchedCall.sampleCount)
        #expect(checkpoints.map(\.name.rawValue) == ["blocked"])
        _ = try pipe.writeEnd!.writeAll([1])
        watch.release(by: "pipe-write")
        watch.finish(&log)
        let after = log.observations
        let stuck = log.leftTaskStuck
        #expect(after[.stepBlocked] == .flag(true))
        #expect(after[.stepReleasedBy] == .text("pipe-write"))
        #expect(after[.syscallResult] == .integer(1))
        if case .integer(let ms)? = after[.stepBlockedDuration] { #expect(ms >= 300) } else { Issue.record("no step.blocked.ms") }
        #expect(!stuck)
    }

    @Test func watchedCallThatNeverReturnsIsReportedNotAwaited() throws {
        let pipe = try OwnedPipe()
        let readEnd = pipe.readEnd
        var log = StepLog(backing: .anonymous, region: nil)
        let request = StepRequest(backing: .anonymous, workload: .truncateSpliced, blockWait: 0.1, releaseWait: 0.1)
        var watch = WatchedCall(.read, request: request, log: &log) { () throws(Errno) in
            var byte: UInt8 = 0
            return try withTypedErrno { try withUnsafeMutableBytes(of: &byte) { try readEnd.read(into: $0) } }
        }
        watch.release(by: "nothing")
        watch.finish(&log)
        let observed = log.observations
        let stuck = log.leftTaskStuck
        #expect(observed[.stepTimedOut] == .flag(true))
        #expect(observed[.stepReleasedBy] == .text("none"))
        #expect(observed[.syscallErrno] == nil, "no errno for a call that has not returned")
        #expect(stuck)
        // Let the thread go so it does not outlive the test process's expectations.
        _ = try pipe.writeEnd!.writeAll([1])
        usleep(50_000)
    }

    @Test func helperThatHangsIsSampledKilledAndReported() throws {
        var helper = HelperProcess(argv: ["/bin/sh", "-c", "echo started; exec sleep 30"], deadline: 0.5)
        helper.killGrace = 2
        let outcome = try helper.run()
        #expect(outcome.timedOut)
        #expect(outcome.exit == .signaled(SIGKILL))
        #expect(outcome.stdout == "started\n")
        #expect(outcome.elapsedMilliseconds < 5000)
        let sleeping = try #require(outcome.samples.first?.wait)
        #expect(sleeping.state == "S")
        let result = Drive.result(of: outcome, for: StepRequest(backing: .anonymous, workload: .touchRead), timeout: 0.5)
        #expect(result.status == .timedOut)
        #expect(result.observations[.stepTimedOut] == .flag(true))
        #expect(result.observations[.taskState] == .text("S"))
        #expect(result.observations[.taskWchan] != nil)
        // Root reads the kernel stack; anyone else gets the reason it is missing.
        if geteuid() == 0 {
            guard case .list(let frames)? = result.observations[.taskStack] else {
                Issue.record("no task.stack: \(String(describing: result.observations[.taskStack]))")
                return
            }
            #expect(!frames.isEmpty)
        } else {
            guard case .unavailable? = result.observations[.taskStack] else {
                Issue.record("task.stack should say why it is missing")
                return
            }
        }
        #expect(!result.helperAbandoned)
    }

    @Test func helperThatDeliveredButDoesNotExitGetsOnlyTheGrace() throws {
        let delivered = StepResult(id: "anon.private.touch-read", backing: "anon.private", workload: .touchRead, status: .completed)
        let line = try String(decoding: JSONEncoder().encode(delivered), as: UTF8.self)
        var helper = HelperProcess(argv: ["/bin/sh", "-c", "echo '\(StepRunner.resultPrefix)\(line)'; exec sleep 30"], deadline: 60)
        helper.deliveredMarker = StepRunner.resultPrefix
        helper.exitGrace = 0.3
        let outcome = try helper.run()
        #expect(outcome.elapsedMilliseconds < 10_000, "the 60 s deadline must not apply once delivered")
        let result = Drive.result(of: outcome, for: StepRequest(backing: .anonymous, workload: .touchRead), timeout: 60)
        #expect(result.status == .completed, "the helper's own result is kept")
        #expect(!result.samples.isEmpty, "where the lingering helper was is kept too")
    }

    @Test func helperKilledBySignalIsACrash() throws {
        let outcome = try HelperProcess(argv: ["/bin/sh", "-c", "echo dying >&2; kill -BUS $$"], deadline: 10).run()
        #expect(outcome.exit == .signaled(SIGBUS))
        #expect(!outcome.timedOut)
        let result = Drive.result(of: outcome, for: StepRequest(backing: .anonymous, workload: .touchRead), timeout: 10)
        #expect(result.status == .crashed)
        #expect(result.observations[.faultSignal] == .integer(Int64(SIGBUS)))
        #expect(result.reason?.contains("dying") == true)
    }

    @Test func deliveredLineDetection() {
        let marker = StepRunner.resultPrefix
        #expect(HelperProcess.hasCompleteLine(startingWith: marker, in: Array("noise\n\(marker){}\n".utf8)))
        #expect(!HelperProcess.hasCompleteLine(startingWith: marker, in: Array("\(marker){\"partial".utf8)))
        #expect(!HelperProcess.hasCompleteLine(startingWith: marker, in: Array("x \(marker){}\n".utf8)), "only at a line start")
    }
}

/// Every workload the controls support, run in this process on this host's kernel, with the
/// observations that do not depend on DAX.
@Suite(.serialized) struct WorkloadControlTests {
    /// Runs the step, and holds it to its variant's declaration: every key it recorded and every
    /// checkpoint it took is one the variant declares.
    static func run(_ workload: Workload, on backing: Backing, blockTarget: BlockTarget? = nil) -> StepResult {
        var delivered: StepResult?
        StepRunner.runInHelper(StepRequest(backing: backing, workload: workload, blockTarget: blockTarget, blockWait: 0.5, releaseWait: 2)) {
            delivered = $0
        }
        let step = delivered!
        let variant = workload.variant
        let undeclared = step.observations.values.keys.filter { !variant.records.contains($0) }
        #expect(undeclared.isEmpty, "\(step.id) recorded keys its variant does not declare: \(undeclared.sorted())")
        #expect(step.checkpoints.allSatisfy { variant.checkpoints.contains($0.name) }, "\(step.id): \(step.checkpoints.map(\.name))")
        return step
    }

    @Test(arguments: [Backing.anonymous, .pageCache()])
    func accessWorkloads(_ backing: Backing) {
        let write = Self.run(.touchWrite, on: backing)
        #expect(write.status == .completed, "\(write.reason ?? "")")
        #expect(write.observations[.dataVerified] == .flag(true))
        if case .integer(let size)? = write.observations[.faultSize] {
            #expect(size >= 4096 && size <= 4 << 20)
        } else { Issue.record("no fault.size") }
        #expect(write.checkpoints.map(\.name.rawValue) == ["before", "touched"])
        #expect(write.checkpoints[1].observations["pagemap.present"] == .integer(1024), "every page of 4 MiB present")

        let dontNeed = Self.run(.madviseDontNeed, on: backing)
        #expect(dontNeed.observations[.syscallErrno] == .integer(0))
        #expect(dontNeed.observations[.dataRetained] == .flag(backing.kind == .pagecache), "anonymous pages are zero after MADV_DONTNEED")
        #expect(dontNeed.checkpoints.last?.observations["pagemap.present"] == .integer(0))

        let unmap = Self.run(.munmap, on: backing)
        #expect(unmap.observations[.syscallName] == .text("munmap"))
        #expect(unmap.checkpoints.first?.observations["smaps.vmas"] == .integer(1))
        #expect(unmap.checkpoints.last?.observations["smaps.vmas"] == nil, "no walk of a range that may be reused")

        let privateMap = Self.run(.mapPrivate, on: backing)
        #expect(privateMap.observations[.syscallErrno] == .integer(0))
    }

    @Test(arguments: [Backing.anonymous, .pageCache()])
    func referenceWorkloads(_ backing: Backing) throws {
        let fork = Self.run(.fork, on: backing)
        #expect(fork.observations[.dataVerified] == .flag(true))
        #expect(fork.observations[.dataChildWriteVisible] == .flag(backing.kind == .pagecache), "private memory is copied on write")

        let remote = Self.run(.processVMReadv, on: backing)
        #expect(remote.observations[.syscallResult] == .integer(Int64(StepRequest.transferLimit)))
        #expect(remote.observations[.dataVerified] == .flag(true))

        let splice = Self.run(.vmsplice, on: backing)
        #expect(splice.status == .completed, "\(splice.reason ?? "")")
        if case .integer(let held)? = splice.observations[.pipeHeld] { #expect(held >= 64 << 10) } else { Issue.record("no pipe.held") }
        #expect(splice.observations[.pipeDrained] == splice.observations[.pipeHeld])
        #expect(splice.observations[.dataVerified] == .flag(true), "the pipe kept the pages after munmap")
        #expect(splice.checkpoints.map(\.name.rawValue) == ["held", "held-unmapped", "drained"])

        let pin = Self.run(.ioUringRegister, on: backing)
        if pin.observations[.syscallName] == .text("io_uring_register") {
            #expect(pin.observations[.syscallErrno] == .integer(0))
            #expect(pin.observations[Syscall(rawValue: "io_uring_unregister")!.errnoKey] == .integer(0))
            let acquired = pin.checkpoints.compactMap { checkpoint -> Int64? in
                if case .integer(let value)? = checkpoint.observations["vmstat.nr_foll_pin_acquired"] { return value } else { return nil }
            }
            if acquired.count == 3 { #expect(acquired[1] - acquired[0] >= 1024, "FOLL_PIN per 4 KiB page: \(acquired)") }
        }

        let directory = FileManager.default.temporaryDirectory.path
        let read = Self.run(.directRead, on: backing, blockTarget: BlockTarget(path: directory, kind: .directory))
        let write = Self.run(.directWrite, on: backing, blockTarget: BlockTarget(path: directory, kind: .directory))
        for step in [read, write] where step.status == .completed {
            // tmpfs refuses O_DIRECT on some kernels (EINVAL at open): then the step is an error, not a pass.
            #expect(step.observations[.dataVerified] == .flag(true), "\(step.id)")
        }
    }

    @Test(arguments: [Workload.truncateMapped, .truncateSpliced, .truncateSplicedUnmapped, .punchHoleSpliced, .unlinkSplicedUnmapped, .closeSplicedUnmapped])
    func layoutWorkloadsOnPageCacheDoNotBlock(_ workload: Workload) {
        let step = Self.run(workload, on: .pageCache())
        #expect(step.status == .completed, "\(step.reason ?? "")")
        #expect(step.observations[.stepBlocked] == .flag(false))
        #expect(step.observations[.syscallErrno] == .integer(0))
        if workload != .truncateMapped {
            #expect(step.observations[.dataVerified] == .flag(true), "page cache pages in a pipe survive the change")
        }
        #expect(step.checkpoints.map(\.name.rawValue) == ["before", "after"])
    }

    @Test func fileWorkloadsSkipMemoryWithoutAFile() {
        let scenario = Scenario(memory: .anonymous, workload: .truncateSpliced)
        guard case .skip(let reason) = StepPlan(backings: [.anonymous], blockTarget: nil).step(for: scenario) else {
            Issue.record("a file workload was planned on anonymous memory")
            return
        }
        #expect(reason.contains("needs a file"))
        #expect(!ScenarioCatalogue.all.contains(scenario), "and the catalogue never pairs them")
    }

    @Test func setupFailureIsAnErrorWithTheReason() {
        let missing = Backing.deviceDax(path: "/dev/dax99.0", align: .align4k)
        let step = Self.run(.touchRead, on: missing)
        #expect(step.status == .error)
        #expect(step.reason?.contains("dax99.0") == true)
    }
}

@Suite struct WorkloadSelectionTests {
    static func inventory(devices: [DaxDevice], mounts: [DaxMount]) -> Inventory {
        Inventory(
            schemaVersion: 1,
            kernel: KernelFingerprint(release: "6.1.0", version: "", machine: "x86_64", cmdline: "", configSource: nil, config: [:]),
            buses: [], daxRegions: [DaxRegion(id: 0, dev: "region0", size: 0, align: 0, availableSize: 0, path: nil, devices: devices)],
            numaNodes: [], daxMounts: mounts)
    }

    static func device(_ name: String, align: UInt64, mode: DaxDeviceMode = .devdax) -> DaxDevice {
        DaxDevice(chardev: name, size: 256 << 20, align: align, targetNode: nil, mode: mode, enabled: true, path: "/dev/" + name)
    }

    @Test func backingsComeFromTheInventoryPlusControls() {
        let inventory = Self.inventory(
            devices: [Self.device("dax0.1", align: 2 << 20), Self.device("dax0.0", align: 4096), Self.device("dax0.2", align: 4096),
                      Self.device("dax1.0", align: 4096, mode: .systemRAM)],
            mounts: [
                DaxMount(source: "/dev/pmem1", mountpoint: "/mnt/daxref/xfs", fstype: "xfs", daxOption: "dax=always", statxDax: nil, statxProbe: nil),
                DaxMount(source: "/dev/pmem0", mountpoint: "/mnt/daxref/ext4", fstype: "ext4", daxOption: "dax", statxDax: true, statxProbe: nil),
                DaxMount(source: "/dev/pmem2", mountpoint: "/mnt/off", fstype: "ext4", daxOption: "dax=inode", statxDax: false, statxProbe: nil),
            ])
        let backings = Drive.availableBackings(inventory)
        #expect(backings.map(\.id) == ["devdax.4k", "devdax.2m", "fsdax.ext4", "fsdax.xfs", "anon.private", "pagecache.tmpfs"])
        #expect(backings[0].path == "/dev/dax0.0", "the first device of an align, by name")
        #expect(backings[1].alignment == 2 << 20)
    }

    @Test func backingNamesSelectAndReportWhatIsMissing() throws {
        let available = [Backing.deviceDax(path: "/dev/dax0.0", align: .align4k), .anonymous, .pageCache()]
        #expect(try Drive.select([], from: available).backings == available)
        #expect(try Drive.select(["all"], from: available).backings == available)
        let chosen = try Drive.select(["anon,devdax4k", "anon", "xfs"], from: available)
        #expect(chosen.backings.map(\.id) == ["anon.private", "devdax.4k"])
        #expect(chosen.missing == [.fsdax(.xfs)])
        #expect(throws: DriveError.self) { try Drive.select(["nvme"], from: available) }
    }

    @Test func workloadGlobsAndRequirements() {
        let file = Workload.allCases.filter { $0.variant.requirement == .file }
        #expect(file.count == 8)
        #expect(Workload.truncateSpliced.matches("truncate.*", backingID: "fsdax.xfs"))
        #expect(Workload.truncateSpliced.matches("fsdax.*.truncate*", backingID: "fsdax.xfs"))
        #expect(!Workload.truncateSpliced.matches("fsdax.*", backingID: "devdax.2m"))
        #expect(Workload.ioUringRegister.matches("iouring*", backingID: "anon.private"))
        #expect(Workload.ioUringRegister.matches("touch-*,iouring*", backingID: "anon.private"))
        #expect(!Workload.fork.matches("touch-*,iouring*", backingID: "anon.private"))
        #expect(Workload.directRead.variant.skipReason(on: .anonymous, blockTarget: nil) != nil)
        #expect(Workload.directRead.variant.skipReason(on: .anonymous, blockTarget: BlockTarget(path: "/tmp", kind: .directory)) == nil)
        #expect(Workload.refcountTimeline.rawValue == "refcount-timeline")
        #expect(Workload.refcountTimeline.variant.skipReason(on: .anonymous, blockTarget: nil, kprobes: { .noTracefs })?.contains("tracefs") == true)
        #expect(Workload.refcountTimeline.variant.skipReason(on: .anonymous, blockTarget: nil, kprobes: { nil }) == nil)
        #expect(Drive.scenarios(on: [.anonymous, .pageCache], matching: "truncate.*").map(\.id) == [
            "anon.private.truncate.mapped", "anon.private.truncate.vmsplice", "anon.private.truncate.vmsplice-unmapped",
            "pagecache.tmpfs.truncate.mapped", "pagecache.tmpfs.truncate.vmsplice", "pagecache.tmpfs.truncate.vmsplice-unmapped",
        ])
    }

    @Test func blockTargetFromEnvironmentAndProvisionedFile() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: run) }
        // A directory wins over the raw device; /dev/null (a char device) is never a block target, and
        // tmpfs (no block device under it) is refused.
        var probe = MockSelectionProbe()
        probe.kinds = ["/mnt/blk": .directory, "/dev/null": .characterDevice, "/dev/shm": .directory]
        probe.mountTable = "/dev/vdc /mnt/blk ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n"
        try "DAXREF_DEVDAX_4K=/dev/dax0.0\nDAXREF_BLK_DEV=/dev/null\nDAXREF_BLK_MNT=/mnt/blk\n".write(
            to: run.appendingPathComponent("provisioned.env"), atomically: true, encoding: .utf8)
        #expect(try Selection.blockTarget(environment: ["DAXREF_RUN_DIR": run.path, "DAXREF_GUEST": "1"], probe: probe)
            == BlockTarget(path: "/mnt/blk", kind: .directory))
        #expect(throws: SelectionError.self) { try Selection.blockTarget(environment: ["DAXREF_BLK_DEV": "/dev/null"], probe: probe) }
        #expect(throws: SelectionError.notOnBlockDevice(option: "DAXREF_BLK", path: "/dev/shm", mountpoint: "/dev/shm", fstype: "tmpfs")) {
            try Selection.blockTarget(environment: ["DAXREF_BLK": "/dev/shm", "DAXREF_RUN_DIR": run.path], probe: probe)
        }
        #expect(ProvisionedEnvironment.parse("A=/mnt/with\\ space\nB='quoted'\n# comment\nbroken\n") == ["A": "/mnt/with space", "B": "quoted"])
    }

    @Test func tableShowsErrnoNamesAndBlockedCalls() {
        var pin = StepResult(id: "fsdax.ext4.iouring-register", backing: "fsdax.ext4", workload: .ioUringRegister, status: .completed)
        pin.observations[.syscallName] = .text("io_uring_register")
        pin.observations[.syscallErrno] = .integer(95)
        var truncate = StepResult(id: "fsdax.ext4.truncate.vmsplice", backing: "fsdax.ext4", workload: .truncateSpliced, status: .completed)
        truncate.observations[.stepBlocked] = .flag(true)
        truncate.observations[.stepBlockedDuration] = .integer(1203)
        truncate.observations[.taskWchan] = .text("ext4_break_layouts")
        truncate.observations[.faultSize] = .integer(2 << 20)
        let report = DriveReport(
            kernel: KernelFingerprint(release: "6.1.0-50-amd64", version: "", machine: "", cmdline: "", configSource: nil, config: [:]),
            blockTarget: nil, backings: [], steps: [pin, truncate])
        let table = report.renderTable()
        #expect(table.contains("io_uring_register EOPNOTSUPP"))
        #expect(table.contains("BLOCKED 1203ms wchan=ext4_break_layouts"))
        #expect(table.contains("fault=2M"))
        #expect(table.contains("2 steps: 2 completed"))
    }
}
