import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Changes to a file's layout (truncate, punch hole) and inode eviction (the last unlink or close)
/// while its pages are mapped or held by a pipe. The change runs on another thread; if it blocks,
/// where it sleeps is sampled, then the holds are released one by one (drain the pipe, then
/// munmap) and the time it stayed blocked is measured. A change that never returns is reported and
/// left behind (it may sleep uninterruptibly); the helper process then ends without cleaning up.
enum LayoutWorkloads {
    enum Change {
        /// ftruncate(fd, 0).
        case truncate
        /// fallocate(PUNCH_HOLE|KEEP_SIZE) over the whole file.
        case punchHole
        /// The last unlink of a closed file: evicts the inode.
        case unlink
        /// The last close of an unlinked file: evicts the inode (in the closing task's task_work).
        case close

        var syscall: Syscall {
            switch self {
            case .truncate: .ftruncate
            case .punchHole: .fallocate
            case .unlink: .unlink
            case .close: .close
            }
        }
    }

    enum Hold {
        /// Mapped and faulted in; no other reference.
        case mapped
        /// Mapped, and held by vmsplice in a pipe.
        case spliced
        /// Held by vmsplice, unmapped.
        case splicedUnmapped
    }

    static func run(_ change: Change, _ hold: Hold, _ memory: inout MappedMemory, request: StepRequest, log: inout StepLog) throws(WorkloadError) {
        let region = memory.region
        if log.fault(MemoryAccess.fill(region, seed: MemoryAccess.parentSeed)) { return }
        // Created for every hold (empty when only mapped), so releasing is the same code for all.
        let pipe = try WorkloadError.setup("pipe") { () throws(Errno) in try OwnedPipe() }
        let held = hold == .mapped ? 0 : ReferenceWorkloads.spliceAll(UnsafeRawBufferPointer(region), into: pipe, log: &log, primary: false)
        if hold == .splicedUnmapped { unmap(&memory, log: &log) }

        let body: @Sendable () throws(Errno) -> Int
        switch change {
        case .truncate, .punchHole:
            guard let descriptor = memory.file?.descriptor else { throw .unavailable("no open file") }
            let length = Int64(region.count)
            if change == .truncate {
                body = { () throws(Errno) in
                    try withTypedErrno { try descriptor.resize(to: 0) }
                    return 0
                }
            } else {
                body = { () throws(Errno) in
                    try descriptor.allocate([.punchHole, .keepSize], offset: 0, length: length)
                    return 0
                }
            }
        case .unlink:
            do { try memory.file?.close(); log.secondarySyscall(.close, .success(0)) } catch { log.secondarySyscall(.close, .failure(error)) }
            guard let path = memory.file?.takeUnlink() else { throw .unavailable("no file") }
            body = { () throws(Errno) in
                try unlinkFile(path)
                return 0
            }
        case .close:
            guard let path = memory.file?.takeUnlink(), let descriptor = memory.file?.takeDescriptor() else {
                throw .unavailable("no open file")
            }
            do { try unlinkFile(path); log.secondarySyscall(.unlink, .success(0)) } catch { log.secondarySyscall(.unlink, .failure(error)) }
            body = { () throws(Errno) in
                try withTypedErrno { try descriptor.close() }
                return 0
            }
        }
        log.checkpoint(.before)

        var watch = WatchedCall(change.syscall, request: request, log: &log, body)
        var drained = false
        if watch.isRunning, held > 0 {
            try ReferenceWorkloads.drain(pipe, held: held, log: &log)
            drained = true
            watch.release(by: "pipe-drain")
        }
        if watch.isRunning, memory.mapping != nil {
            unmap(&memory, log: &log)
            watch.release(by: "munmap")
        }
        watch.finish(&log)
        if watch.isRunning { return }
        // The pipe still holds what was spliced before the change: does it still read as the data?
        if !drained { try ReferenceWorkloads.drain(pipe, held: held, log: &log) }
        log.checkpoint(.after)
    }

    private static func unmap(_ memory: inout MappedMemory, log: inout StepLog) {
        guard let mapping = memory.mapping.take() else { return }
        do {
            try mapping.unmap()
            log.secondarySyscall(.munmap, .success(0))
        } catch { log.secondarySyscall(.munmap, .failure(error)) }
        log.mappingReleased()
    }
}
