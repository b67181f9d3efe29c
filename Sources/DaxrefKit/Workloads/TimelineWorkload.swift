import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `refcount-timeline`: the real `_refcount` (and `_pincount`) of the first page of the mapping at
/// named moments, read by the kernel through a kprobe session owned by this helper process (see
/// KprobeSampler.swift). One write fault, one short-term FOLL_PIN (process_vm_readv), one FOLL_GET
/// hold (vmsplice), one long-term FOLL_PIN hold (io_uring fixed buffer), munmap. Every hold covers
/// only the first 4 KiB page, so each moment differs from the one before by exactly one reference.
/// The keys (`kprobe.refcount.<moment>`, …) and what each moment means are in
/// their `Observable` cases (Observables.swift).
public enum TimelineWorkload {
    /// The moments, in the order they happen. The raw value is the key suffix.
    enum Moment: String, CaseIterable {
        case idle, faulted
        case pinnedTransient = "pinned_transient"
        case spliced, unspliced, pinned, released, unmapped

        /// `kprobe.refcount.<moment>`.
        var refcount: Observable {
            switch self {
            case .idle: .kprobeRefcountIdle
            case .faulted: .kprobeRefcountFaulted
            case .pinnedTransient: .kprobeRefcountPinnedTransient
            case .spliced: .kprobeRefcountSpliced
            case .unspliced: .kprobeRefcountUnspliced
            case .pinned: .kprobeRefcountPinned
            case .released: .kprobeRefcountReleased
            case .unmapped: .kprobeRefcountUnmapped
            }
        }

        /// `kprobe.pincount.<moment>`.
        var pincount: ObservableKey { ObservableFamily.kprobePincount.key(rawValue) }
    }

    /// What a timeline step records: the session's keys, each moment's counts, how the page was
    /// found and held, and what the harness sweeps after a helper that died with probes installed.
    static let records: [ObservableKey] = [
        Observable.memoryTransfer, .faultOffset, .pipeHeld, .pipeDrained, .kprobeAvailable, .kprobePinMechanism, .kprobePageLocatedBy,
        .kprobePageShape, .kprobeSwept,
    ].map(\.key) + KprobeObservations.sessionKeys + Moment.allCases.flatMap { [$0.refcount.key, $0.pincount] }
        + [Syscall.processVMReadv, .vmsplice, .ioUringSetup, .ioUringRegister, .ioUringUnregister, .munmap].flatMap(\.keys)

    /// What `kprobe.pin_mechanism` says: the only FOLL_PIN daxref can hold open at will, and why it
    /// is this one (the catalogue repeats the reasoning).
    static let pinMechanism =
        "io_uring IORING_REGISTER_BUFFERS of the first 4 KiB (pin_user_pages FOLL_WRITE|FOLL_PIN|FOLL_LONGTERM), held until IORING_UNREGISTER_BUFFERS; refused on fsdax (EOPNOTSUPP) and for device-dax by 6.1 io_uring"

    /// Set (by `drive --kprobe-trace DIR`) to write each step's raw trace as a parser fixture.
    public static let traceDirectoryVariable = "DAXREF_KPROBE_TRACE_DIR"

    /// Probes on the paths this workload takes (not the break-layouts waits it never causes): fewer
    /// probes, less kernel text patched when they are enabled and disabled.
    static var catalogue: [KprobeTarget] { KprobeCatalog.targets.filter { $0.role != .layout } }


    static func run(_ memory: inout MappedMemory, request: StepRequest, log: inout StepLog) throws(WorkloadError) {
        let backing = memory.backing
        let first = memory.region.prefix(bytes: systemPageSize)
        log[.memoryTransfer] = .integer(Int64(first.count))
        log[.kprobePinMechanism] = .text(pinMechanism)

        // Where the first page is. Anonymous memory has no page until the fault, so it is faulted
        // first and has no idle moment.
        let page: KprobePage
        let locatedBy: String
        if backing.kind == .anonymous {
            if log.fault(MemoryAccess.touch(first.prefix(bytes: 1), stride: 1, write: true)) { return }
            page = KprobePage(pfn: try located(KprobePage.pfnMapped(at: first.baseAddress!)), compoundOrder: 9, label: backing.id + "+0x0")
            locatedBy = "pagemap after the measured write fault (an anonymous page does not exist before it)"
            log[Moment.idle.refcount] = .unavailable("an anonymous page does not exist before its first fault")
        } else {
            let found = try locateBeforeFault(&memory)
            page = found.page
            locatedBy = found.locatedBy
        }
        log[.kprobePageLocatedBy] = .text(locatedBy)

        var session: KprobeSession
        do { session = try KprobeSession.start(pages: [page], catalogue: catalogue) } catch {
            throw .unavailable("kprobe session: \(error)")
        }
        let traceDirectory = getenv(traceDirectoryVariable).map { String(cString: $0) }
        var recorder = KprobeRecorder(keepRawText: traceDirectory != nil)

        if backing.kind != .anonymous {
            recorder.record(Moment.idle.rawValue, session: &session)
            if log.fault(MemoryAccess.touch(first.prefix(bytes: 1), stride: 1, write: true)) {
                finish(session, page: page, recorder: recorder, backing: backing, traceDirectory: traceDirectory, log: &log)
                return
            }
        }
        recorder.record(Moment.faulted.rawValue, session: &session)
        if backing.kind == .devdax, backing.alignment < 1 << 30, case .success(let mapped) = KprobePage.pfnMapped(at: first.baseAddress!),
            mapped != page.pfn
        {
            // The sysfs PFN was wrong: every reading would be of another page.
            throw .unavailable("sysfs says the first page is PFN 0x\(String(page.pfn, radix: 16)), pagemap 0x\(String(mapped, radix: 16))")
        }

        transientPin(first, page: page, recorder: &recorder, session: &session, log: &log)
        try splice(first, recorder: &recorder, session: &session, log: &log)
        longTermPin(first, recorder: &recorder, session: &session, log: &log)
        recorder.record(Moment.released.rawValue, session: &session)

        if let mapping = memory.mapping.take() {
            do {
                try mapping.unmap()
                log.secondarySyscall(.munmap, .success(0))
            } catch { log.secondarySyscall(.munmap, .failure(error)) }
            log.mappingReleased()
        }
        recorder.record(Moment.unmapped.rawValue, session: &session)
        finish(session, page: page, recorder: recorder, backing: backing, traceDirectory: traceDirectory, log: &log)
    }

    // MARK: moments

    /// process_vm_readv of 64 bytes of our own first page: pinned and unpinned inside the call, so
    /// no sample can see it held; the value is what `gup_put_folio` read on entry, just before the
    /// unpin subtracted (the count while the pin was held).
    static func transientPin(
        _ first: UnsafeMutableRawBufferPointer, page: KprobePage, recorder: inout KprobeRecorder, session: inout KprobeSession,
        log: inout StepLog
    ) {
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { staging.deallocate() }
        let outcome = Result { () throws(Errno) in
            try ProcessMemory.read(from: getpid(), remote: UnsafeRawBufferPointer(first.prefix(bytes: 64)), into: staging)
        }
        log.secondarySyscall(.processVMReadv, outcome)
        let capture = try? recorder.record(Moment.pinnedTransient.rawValue, sampling: false, session: &session).get()
        let unpin = capture?.events.first { $0.function == "gup_put_folio" && !$0.isReturn && $0.pfn == page.pfn }
        if case .failure(let errno) = outcome {
            log[Moment.pinnedTransient.refcount] = .unavailable("process_vm_readv: \(errno)")
        } else if let refcount = unpin?.refcount {
            log[Moment.pinnedTransient.refcount] = .integer(Int64(refcount))
        } else {
            log[Moment.pinnedTransient.refcount] = .unavailable(
                session.targets["gup_put_folio"] == nil ? "gup_put_folio is not probed on this kernel" : "no gup_put_folio hit for the page")
        }
    }

    /// vmsplice of the first page into a pipe (FOLL_GET, held while the page sits in the pipe),
    /// then the pipe is read out and closed.
    static func splice(
        _ first: UnsafeMutableRawBufferPointer, recorder: inout KprobeRecorder, session: inout KprobeSession, log: inout StepLog
    ) throws(WorkloadError) {
        let pipe = try WorkloadError.setup("pipe") { () throws(Errno) in try OwnedPipe() }
        let outcome = Result { () throws(Errno) in try pipe.writeEnd!.vmsplice(UnsafeRawBufferPointer(first)) }
        log.secondarySyscall(.vmsplice, outcome)
        guard case .success(let held) = outcome, held > 0 else {
            recorder.record(Moment.spliced.rawValue, sampling: false, session: &session)
            log[Moment.spliced.refcount] = .unavailable("vmsplice: \(outcome)")
            return
        }
        log[.pipeHeld] = .integer(Int64(held))
        recorder.record(Moment.spliced.rawValue, session: &session)
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: held, alignment: 64)
        defer { staging.deallocate() }
        if let drained = try? withTypedErrno({ try pipe.readEnd.read(into: staging) }) {
            log[.pipeDrained] = .integer(Int64(drained))
        }
        _ = consume pipe
        recorder.record(Moment.unspliced.rawValue, session: &session)
    }

    /// IORING_REGISTER_BUFFERS of the first page, sampled while registered, then unregistered and
    /// the ring closed. A refusal is the observation: `pinned` is then unavailable with the errno.
    static func longTermPin(_ first: UnsafeMutableRawBufferPointer, recorder: inout KprobeRecorder, session: inout KprobeSession, log: inout StepLog) {
        var pin: IoUringBufferPin
        do { pin = try IoUringBufferPin(registering: first) } catch {
            let (call, errno): (Syscall, Errno) = switch error {
            case .setup(let errno): (.ioUringSetup, errno)
            case .register(let errno): (.ioUringRegister, errno)
            }
            log.secondarySyscall(call, .failure(errno))
            recorder.record(Moment.pinned.rawValue, sampling: false, session: &session)
            log[Moment.pinned.refcount] = .unavailable("\(call): \(errno.symbolicName) (\(errno.rawValue))")
            log[Moment.pinned.pincount] = .unavailable("not pinned: \(call) refused")
            return
        }
        log.secondarySyscall(.ioUringRegister, .success(0))
        recorder.record(Moment.pinned.rawValue, session: &session)
        do {
            try pin.unregister()
            log.secondarySyscall(.ioUringUnregister, .success(0))
        } catch { log.secondarySyscall(.ioUringUnregister, .failure(error)) }
    }

    // MARK: set-up and the end

    /// The first page of the backing before this mapping faults it. Device-dax: offset 0 is the
    /// device's first range, `resource` in sysfs (no fault at all). Files (fsdax, tmpfs): a write
    /// fault through a second, short-lived mapping of the same file offset and pagemap — DAX file
    /// blocks and page-cache pages keep their PFN across mappings — unmapped before the idle moment.
    static func locateBeforeFault(_ memory: inout MappedMemory) throws(WorkloadError) -> (page: KprobePage, locatedBy: String) {
        let backing = memory.backing
        let label = backing.id + "+0x0"
        if backing.kind == .devdax {
            let name = FilePath(backing.path ?? "").lastComponent?.string ?? ""
            let path = FilePath("/sys/bus/dax/devices").appending(name).appending("resource")
            let text = (try? SystemFile.readAttribute(path)) ?? nil
            guard let text, let start = UInt64(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16) else {
                throw .unavailable("\(path): no physical start address (\(text ?? "unreadable"))")
            }
            let order = backing.alignment.trailingZeroBitCount - systemPageSize.trailingZeroBitCount
            return (KprobePage(pfn: start / UInt64(systemPageSize), compoundOrder: order, label: label),
                    "sysfs \(path) (the device's first byte; no fault before idle)")
        }
        guard let descriptor = memory.file?.descriptor else { throw .unavailable("no open file to locate the first page in") }
        let discovery = try WorkloadError.setup("mmap a second view of the file") { () throws(Errno) in
            try MemoryMapping(
                length: backing.alignment, alignment: backing.alignment, protection: .readWrite,
                flags: backing.kind == .fsdax ? [.sharedValidate, .sync] : .shared, file: descriptor)
        }
        let touched = MemoryAccess.touch(discovery.bytes.prefix(bytes: 1), stride: 1, write: true)
        if let fault = touched.fault { throw .unavailable("signal \(fault.signal) writing the discovery mapping") }
        let pfn = KprobePage.pfnMapped(at: discovery.base)
        try? discovery.unmap()
        // An fsdax PMD fault makes (6.15+) an order-9 folio; a tmpfs huge page would be one too.
        return (KprobePage(pfn: try located(pfn), compoundOrder: 9, label: label),
                "pagemap of a second mapping of the same file offset, write-faulted and unmapped before idle")
    }

    static func located(_ result: Result<UInt64, KprobeLocateError>) throws(WorkloadError) -> UInt64 {
        switch result {
        case .success(let pfn): return pfn
        case .failure(let error): throw .unavailable("cannot locate the first page: \(error)")
        }
    }

    /// Closes the session (every probe removed) and records what it saw.
    static func finish(
        _ session: consuming KprobeSession, page: KprobePage, recorder: KprobeRecorder, backing: Backing, traceDirectory: String?,
        log: inout StepLog
    ) {
        let (cleanup, info) = session.closeReturningInfo()
        for (key, value) in KprobeObservations.make(pages: [page], captures: recorder.captures, session: info, cleanup: cleanup).values {
            log[key] = value
        }
        if let shape = recorder.sample(Moment.faulted.rawValue, pfn: page.pfn)?.shape { log[.kprobePageShape] = .text(shape.rawValue) }
        if let traceDirectory {
            let title = "daxref drive --workload refcount-timeline on \(backing.id) (\(backing.path ?? "anonymous"))"
            KprobeTraceFixture.write(
                KprobeTraceFixture.text(title: title, page: page, session: info, captures: recorder.captures),
                directory: traceDirectory, name: "timeline-" + backing.id)
        }
        log.checkpoint(.after)
    }
}
