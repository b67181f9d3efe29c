import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Workloads that access, advise and unmap the mapping itself.
enum AccessWorkloads {
    static func mapPrivate(request: StepRequest, log: inout StepLog) throws(WorkloadError) {
        let refusal: Errno?
        do { refusal = try MappedMemory.privateMappingRefusal(request.backing, length: request.length) } catch {
            throw .memory(error)
        }
        log.syscall(.mmap, refusal.map { .failure($0) } ?? .success(0))
    }

    /// One access at offset 0, fault.size from what became present, then every page.
    static func touch(_ memory: inout MappedMemory, write: Bool, log: inout StepLog) {
        let region = memory.region
        log.checkpoint(.before)
        if log.fault(MemoryAccess.touch(region.prefix(bytes: 1), stride: 1, write: write)) { return }
        measureFaultSize(region, backing: memory.backing, log: &log)
        if log.fault(MemoryAccess.touch(region, stride: systemPageSize, write: write)) { return }
        if write {
            if log.fault(MemoryAccess.fill(region, seed: MemoryAccess.parentSeed)) { return }
            log.verification(MemoryAccess.verify(UnsafeRawBufferPointer(region), seed: MemoryAccess.parentSeed))
        }
        log.checkpoint(.touched)
    }

    /// pagemap PM_PRESENT over the whole mapping, right after the first access. On a PUD-mapped
    /// device the read splits the PUD (thp_split_pud) and the range then reads as not present, so
    /// a split counts as one 1 GiB fault.
    static func measureFaultSize(_ region: UnsafeMutableRawBufferPointer, backing: Backing, log: inout StepLog) {
        let start = UInt64(UInt(bitPattern: region.baseAddress))
        let watchSplits = backing.alignment >= 1 << 30
        let splitsBefore = watchSplits ? (try? VMStat.read())?.counters["thp_split_pud"] : nil
        let pagemap: PagemapRange
        do { pagemap = try Pagemap.read(pid: getpid(), range: start..<(start + UInt64(region.count))) } catch {
            log[.faultSize] = .unavailable(error.description)
            return
        }
        var size = Int64(pagemap.present) * Int64(pagemap.pageSize)
        if let splitsBefore, let splitsAfter = (try? VMStat.read())?.counters["thp_split_pud"] {
            let splits = splitsAfter - splitsBefore
            log[.faultWalkSplitPUD] = .integer(splits)
            if splits > 0 { size = max(size, splits << 30) }
        }
        log[.faultSize] = .integer(size)
    }

    static func dontNeed(_ memory: inout MappedMemory, log: inout StepLog) {
        let region = memory.region
        if log.fault(MemoryAccess.fill(region, seed: MemoryAccess.parentSeed)) { return }
        log.checkpoint(.touched)
        let start = ContinuousClock.now
        let outcome = Result { () throws(Errno) in try VirtualMemory.advise(region.baseAddress!, length: region.count, .dontNeed) }
        log.syscall(.madvise, outcome.map { 0 }, duration: ContinuousClock.now - start)
        log.checkpoint(.advised)
        let check = MemoryAccess.verify(UnsafeRawBufferPointer(region), seed: MemoryAccess.parentSeed)
        if !log.fault(check) { log[.dataRetained] = .flag(check.isIntact) }
    }

    static func unmap(_ memory: inout MappedMemory, log: inout StepLog) {
        if log.fault(MemoryAccess.fill(memory.region, seed: MemoryAccess.parentSeed)) { return }
        log.checkpoint(.mapped)
        guard let mapping = memory.mapping.take() else { return }
        let start = ContinuousClock.now
        let outcome: Result<Int, Errno>
        do {
            try mapping.unmap()
            outcome = .success(0)
        } catch { outcome = .failure(error) }
        log.syscall(.munmap, outcome, duration: ContinuousClock.now - start)
        log.mappingReleased()
        log.checkpoint(.unmapped)
    }
}
