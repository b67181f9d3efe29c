import SystemPackage

/// Why a step could not do what it set out to do (status `error`): set-up, not the kernel behaviour
/// under test. Syscalls whose errno *is* the observation never throw this.
enum WorkloadError: Error, CustomStringConvertible {
    case memory(MemoryError)
    case setup(operation: String, Errno)
    /// Something the step needs is not there (a non-DAX target that turned out to be DAX, …).
    case unavailable(String)

    var description: String {
        switch self {
        case .memory(let error): error.description
        case .setup(let operation, let errno): "\(operation): \(errno)"
        case .unavailable(let why): why
        }
    }

    /// Runs set-up code whose failure is a `WorkloadError.setup`.
    static func setup<T: ~Copyable>(_ operation: @autoclosure () -> String, _ body: () throws(Errno) -> T) throws(WorkloadError) -> T {
        do { return try body() } catch { throw .setup(operation: operation(), error) }
    }
}

extension Workload {
    /// Runs this workload on `memory`, recording into `log`.
    func run(on memory: inout MappedMemory, request: StepRequest, log: inout StepLog) throws(WorkloadError) {
        switch self {
        case .mapPrivate: try AccessWorkloads.mapPrivate(request: request, log: &log)
        case .touchRead: AccessWorkloads.touch(&memory, write: false, log: &log)
        case .touchWrite: AccessWorkloads.touch(&memory, write: true, log: &log)
        case .madviseDontNeed: AccessWorkloads.dontNeed(&memory, log: &log)
        case .munmap: AccessWorkloads.unmap(&memory, log: &log)
        case .fork: try ReferenceWorkloads.fork(&memory, log: &log)
        case .processVMReadv: try ReferenceWorkloads.processVMReadv(&memory, log: &log)
        case .vmsplice: try ReferenceWorkloads.vmsplice(&memory, log: &log)
        case .ioUringRegister: ReferenceWorkloads.ioUringRegister(&memory, log: &log)
        case .directRead: try ReferenceWorkloads.direct(&memory, read: true, request: request, log: &log)
        case .directWrite: try ReferenceWorkloads.direct(&memory, read: false, request: request, log: &log)
        case .truncateMapped: try LayoutWorkloads.run(.truncate, .mapped, &memory, request: request, log: &log)
        case .truncateSpliced: try LayoutWorkloads.run(.truncate, .spliced, &memory, request: request, log: &log)
        case .truncateSplicedUnmapped: try LayoutWorkloads.run(.truncate, .splicedUnmapped, &memory, request: request, log: &log)
        case .punchHoleMapped: try LayoutWorkloads.run(.punchHole, .mapped, &memory, request: request, log: &log)
        case .punchHoleSpliced: try LayoutWorkloads.run(.punchHole, .spliced, &memory, request: request, log: &log)
        case .punchHoleSplicedUnmapped: try LayoutWorkloads.run(.punchHole, .splicedUnmapped, &memory, request: request, log: &log)
        case .unlinkSplicedUnmapped: try LayoutWorkloads.run(.unlink, .splicedUnmapped, &memory, request: request, log: &log)
        case .closeSplicedUnmapped: try LayoutWorkloads.run(.close, .splicedUnmapped, &memory, request: request, log: &log)
        case .refcountTimeline: try TimelineWorkload.run(&memory, request: request, log: &log)
        case .createNamespaceMapMem, .createNamespaceMapDev:
            throw .unavailable("\(rawValue) reconfigures a namespace, not a mapping: it runs through NamespaceSteps")
        }
    }
}
