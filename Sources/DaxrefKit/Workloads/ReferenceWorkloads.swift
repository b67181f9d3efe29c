import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Workloads that make the kernel take references to the pages: children, pipes, pins, I/O.
/// Each covers the first `StepRequest.transferLimit` bytes of the mapping.
enum ReferenceWorkloads {
    /// How long a forked child may take to report or exit.
    static let childTimeout: Double = 30

    static func fork(_ memory: inout MappedMemory, log: inout StepLog) throws(WorkloadError) {
        let transfer = transferRange(memory, &log)
        if log.fault(MemoryAccess.fill(transfer, seed: MemoryAccess.parentSeed)) { return }
        log.checkpoint(.before)
        var child: ForkedChild
        do {
            child = try ForkedChild(region: transfer, verify: MemoryAccess.parentSeed, fill: MemoryAccess.childSeed, holdUntilReleased: false)
        } catch {
            log.syscall(.fork, .failure(error))
            return
        }
        log.syscall(.fork, .success(0))
        guard let report = child.awaitReport(seconds: childTimeout) else {
            throw .unavailable("the forked child sent no report within \(Int(childTimeout)) s")
        }
        let seen = MemoryAccess.Outcome(report.verified)
        let written = MemoryAccess.Outcome(report.filled)
        log.fault(seen.fault == nil ? written : seen, signal: Observable.childFaultSignal, offset: .childFaultOffset)
        log[.dataVerified] = .flag(seen.isIntact)
        _ = child.releaseAndReap(seconds: childTimeout)
        log.checkpoint(.childExited)
        let parentView = MemoryAccess.verify(UnsafeRawBufferPointer(transfer), seed: MemoryAccess.childSeed)
        if !log.fault(parentView) { log[.dataChildWriteVisible] = .flag(parentView.isIntact) }
    }

    /// The parent reads, with process_vm_readv, the pages of a child that has them mapped (the
    /// child's read of the parent's pattern faults them into its own page tables first).
    static func processVMReadv(_ memory: inout MappedMemory, log: inout StepLog) throws(WorkloadError) {
        let transfer = transferRange(memory, &log)
        if log.fault(MemoryAccess.fill(transfer, seed: MemoryAccess.parentSeed)) { return }
        var child = try WorkloadError.setup("fork") { () throws(Errno) in
            try ForkedChild(region: transfer, verify: MemoryAccess.parentSeed, fill: nil, holdUntilReleased: true)
        }
        guard let report = child.awaitReport(seconds: childTimeout) else {
            throw .unavailable("the forked child sent no report within \(Int(childTimeout)) s")
        }
        log.fault(MemoryAccess.Outcome(report.verified), signal: Observable.childFaultSignal, offset: .childFaultOffset)
        log.checkpoint(.childMapped)
        let staging = try stagingBuffer(transfer.count)
        let start = ContinuousClock.now
        let outcome = Result { () throws(Errno) in
            try ProcessMemory.read(from: child.pid, remote: UnsafeRawBufferPointer(transfer), into: staging.bytes)
        }
        log.syscall(.processVMReadv, outcome, duration: ContinuousClock.now - start)
        if case .success(let count) = outcome {
            let check = MemoryAccess.verify(UnsafeRawBufferPointer(staging.bytes.prefix(bytes: count)), seed: MemoryAccess.parentSeed)
            log.verification(check)
            if count < transfer.count { log[.dataVerified] = .flag(false) }
        }
        _ = child.releaseAndReap(seconds: childTimeout)
    }

    /// vmsplice into a pipe, munmap, then drain: the pipe's references outlive the mapping.
    static func vmsplice(_ memory: inout MappedMemory, log: inout StepLog) throws(WorkloadError) {
        let transfer = transferRange(memory, &log)
        if log.fault(MemoryAccess.fill(transfer, seed: MemoryAccess.parentSeed)) { return }
        let pipe = try WorkloadError.setup("pipe") { () throws(Errno) in try OwnedPipe() }
        let held = spliceAll(UnsafeRawBufferPointer(transfer), into: pipe, log: &log, primary: true)
        log.checkpoint(.held)
        if let mapping = memory.mapping.take() {
            do {
                try mapping.unmap()
                log.secondarySyscall(.munmap, .success(0))
            } catch { log.secondarySyscall(.munmap, .failure(error)) }
            log.mappingReleased()
        }
        log.checkpoint(.heldUnmapped)
        try drain(pipe, held: held, log: &log)
        log.checkpoint(.drained)
    }

    /// IORING_REGISTER_BUFFERS (FOLL_LONGTERM) and unregister, each timed.
    static func ioUringRegister(_ memory: inout MappedMemory, log: inout StepLog) {
        let transfer = transferRange(memory, &log)
        if log.fault(MemoryAccess.fill(transfer, seed: MemoryAccess.parentSeed)) { return }
        log.checkpoint(.before)
        let start = ContinuousClock.now
        var pin: IoUringBufferPin
        do {
            pin = try IoUringBufferPin(registering: transfer)
        } catch {
            switch error {
            case .setup(let errno): log.syscall(.ioUringSetup, .failure(errno))
            case .register(let errno): log.syscall(.ioUringRegister, .failure(errno), duration: ContinuousClock.now - start)
            }
            log.checkpoint(.refused)
            return
        }
        log.syscall(.ioUringRegister, .success(0), duration: ContinuousClock.now - start)
        log.checkpoint(.pinned)
        let unpinStart = ContinuousClock.now
        let unpinned: Result<Int, Errno>
        do {
            try pin.unregister()
            unpinned = .success(0)
        } catch { unpinned = .failure(error) }
        log.secondarySyscall(.ioUringUnregister, unpinned, duration: ContinuousClock.now - unpinStart)
        log.checkpoint(.unpinned)
        log.verification(MemoryAccess.verify(UnsafeRawBufferPointer(transfer), seed: MemoryAccess.parentSeed))
    }

    /// O_DIRECT between the DAX buffer and a non-DAX block device; the data is checked on the far
    /// side (in the DAX buffer after a read, in a staging buffer read back after a write).
    static func direct(_ memory: inout MappedMemory, read: Bool, request: StepRequest, log: inout StepLog) throws(WorkloadError) {
        guard let blockTarget = request.blockTarget else { throw .unavailable("no block target") }
        let transfer = transferRange(memory, &log)
        let target = try DirectTarget(blockTarget, length: transfer.count)
        let staging = try stagingBuffer(transfer.count)
        if read {
            // The device gets the pattern through the staging buffer, then it comes back into DAX.
            _ = MemoryAccess.fill(staging.bytes, seed: MemoryAccess.deviceSeed)
            _ = try WorkloadError.setup("O_DIRECT pwrite to \(blockTarget.path)") { () throws(Errno) in
                try target.write(UnsafeRawBufferPointer(staging.bytes.prefix(bytes: transfer.count)))
            }
            log.checkpoint(.before)
            let start = ContinuousClock.now
            let outcome = Result { () throws(Errno) in try target.read(into: transfer) }
            log.syscall(.pread, outcome, duration: ContinuousClock.now - start)
            if case .success(let count) = outcome {
                log.verification(MemoryAccess.verify(UnsafeRawBufferPointer(transfer.prefix(bytes: count)), seed: MemoryAccess.deviceSeed))
                if count < transfer.count { log[.dataVerified] = .flag(false) }
            }
            log.checkpoint(.after)
        } else {
            if log.fault(MemoryAccess.fill(transfer, seed: MemoryAccess.parentSeed)) { return }
            log.checkpoint(.before)
            let start = ContinuousClock.now
            let outcome = Result { () throws(Errno) in try target.write(UnsafeRawBufferPointer(transfer)) }
            log.syscall(.pwrite, outcome, duration: ContinuousClock.now - start)
            // Before the read-back: its own O_DIRECT pins the staging buffer, which is not under test.
            log.checkpoint(.after)
            if case .success(let count) = outcome {
                let readBack = staging.bytes.prefix(bytes: transfer.count)
                _ = try WorkloadError.setup("O_DIRECT pread of \(blockTarget.path)") { () throws(Errno) in
                    try target.read(into: readBack)
                }
                log.verification(MemoryAccess.verify(UnsafeRawBufferPointer(readBack.prefix(bytes: count)), seed: MemoryAccess.parentSeed))
                if count < transfer.count { log[.dataVerified] = .flag(false) }
            }
        }
    }

    // MARK: shared pieces

    static func transferRange(_ memory: borrowing MappedMemory, _ log: inout StepLog) -> UnsafeMutableRawBufferPointer {
        let transfer = memory.region.prefix(bytes: StepRequest.transferLimit)
        log[.memoryTransfer] = .integer(Int64(transfer.count))
        return transfer
    }

    /// Anonymous, page-aligned memory for data that must not be DAX.
    static func stagingBuffer(_ length: Int) throws(WorkloadError) -> MemoryMapping {
        try WorkloadError.setup("mmap a staging buffer of \(length)") { () throws(Errno) in
            try MemoryMapping(length: max(length, systemPageSize), alignment: systemPageSize, protection: .readWrite, flags: [.private, .anonymous])
        }
    }

    /// vmsplice as much of `range` as the pipe takes (its capacity raised to the range first).
    /// Records `pipe.capacity`, `pipe.held`, and the vmsplice outcome (main syscall or secondary).
    static func spliceAll(_ range: UnsafeRawBufferPointer, into pipe: borrowing OwnedPipe, log: inout StepLog, primary: Bool) -> Int {
        // Above /proc/sys/fs/pipe-max-size only with CAP_SYS_RESOURCE; without it, the maximum.
        do {
            log[.pipeCapacity] = .integer(Int64(try pipe.setCapacity(range.count)))
        } catch {
            let maximum = ((try? SystemFile.readAttribute("/proc/sys/fs/pipe-max-size")) ?? nil).flatMap { Int($0) }
            if error == .notPermitted, let maximum, let capacity = try? pipe.setCapacity(min(maximum, range.count)) {
                log[.pipeCapacity] = .integer(Int64(capacity))
            } else {
                log.secondarySyscall(.fcntlSetPipeSize, .failure(error))
            }
        }
        var held = 0
        var failure: Errno?
        let start = ContinuousClock.now
        while held < range.count, let writeEnd = pipe.writeEnd {
            do {
                let count = try writeEnd.vmsplice(UnsafeRawBufferPointer(rebasing: range[held...]), flags: .nonBlocking)
                if count == 0 { break }
                held += count
            } catch {
                // EAGAIN after progress only means the pipe is full; before progress it is the answer.
                if error != .resourceTemporarilyUnavailable || held == 0 { failure = error }
                break
            }
        }
        let outcome: Result<Int, Errno> = failure.map { .failure($0) } ?? .success(held)
        if primary {
            log.syscall(.vmsplice, outcome, duration: ContinuousClock.now - start)
        } else {
            log.secondarySyscall(.vmsplice, outcome, duration: ContinuousClock.now - start)
        }
        log[.pipeHeld] = .integer(Int64(held))
        return held
    }

    /// Reads the `held` bytes back out of the pipe (dropping its page references) and checks they
    /// are the pattern that was spliced: `pipe.drained`, `data.verified`.
    static func drain(_ pipe: borrowing OwnedPipe, held: Int, log: inout StepLog) throws(WorkloadError) {
        guard held > 0 else { return }
        let staging = try stagingBuffer(held)
        var drained = 0
        while drained < held {
            guard let ready = try? ChildProcess.pollReadable([pipe.readEnd], timeoutMilliseconds: 5000), ready[0],
                let count = try? pipe.readEnd.read(into: UnsafeMutableRawBufferPointer(rebasing: staging.bytes[drained..<held])),
                count > 0
            else { break }
            drained += count
        }
        log[.pipeDrained] = .integer(Int64(drained))
        log.verification(MemoryAccess.verify(UnsafeRawBufferPointer(staging.bytes.prefix(bytes: drained)), seed: MemoryAccess.parentSeed))
        if drained < held { log[.dataVerified] = .flag(false) }
    }
}

/// The far side of O_DIRECT: the block device itself (from offset 0), or a preallocated scratch
/// file on a non-DAX filesystem, opened O_DIRECT.
struct DirectTarget: ~Copyable {
    let descriptor: FileDescriptor
    private let scratch: ScratchFile?

    init(_ target: BlockTarget, length: Int) throws(WorkloadError) {
        var scratch: ScratchFile?
        var path = FilePath(target.path)
        if target.kind == .directory {
            let file = try WorkloadError.setup("create a file in \(target.path)") { () throws(Errno) in
                try ScratchFile(in: FilePath(target.path))
            }
            try WorkloadError.setup("fallocate \(file.path)") { () throws(Errno) in
                try file.descriptor!.allocate(.allocate, offset: 0, length: Int64(length))
            }
            if (try? StatxAttributes.of(file.path))?.isDAX == true {
                throw .unavailable("\(target.path) is on a DAX filesystem; O_DIRECT needs a non-DAX block device")
            }
            path = file.path
            scratch = consume file
        }
        descriptor = try WorkloadError.setup("open \(path) O_DIRECT") { () throws(Errno) in
            try withTypedErrno { try FileDescriptor.open(path, .readWrite, options: [.direct, .closeOnExec]) }
        }
        // Open now: the name is not needed any more, and a helper killed from here on leaves nothing.
        if target.kind == .directory, let name = scratch?.takeUnlink() { try? unlinkFile(name) }
        self.scratch = scratch
    }

    deinit { try? descriptor.close() }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try withTypedErrno { try descriptor.read(fromAbsoluteOffset: 0, into: buffer) }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try withTypedErrno { try descriptor.write(toAbsoluteOffset: 0, buffer) }
    }
}
