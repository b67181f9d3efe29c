import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// `daxref kprobe-check`: a self-contained end-to-end check of the kprobe refcount observer on one
// device-dax device and/or one fsdax file. It deliberately uses plain mmap rather than the Memory/
// Workloads layers, so it isolates the observer: map, fault, pin briefly, optionally O_DIRECT and
// vmsplice, unmap — and the refcount timeline of the first page at each step. The point is the era
// evidence: idle 1 vs 0, and whether a mapping takes a reference. The `refcount-timeline` workload
// of `daxref drive` records the same kind of timeline on every backing, through the same recorder.

public struct KprobeCheckReport: Sendable, Codable {
    public struct Step: Sendable, Codable {
        public var name: String
        /// "ok", or what failed ("vmsplice: EINVAL") — the step's effect is then absent.
        public var result: String
        public var events: [String]
        public var markers: [String]
        public var refcounts: [Int32]
        /// The sampling probe's reading after the step (`KprobeSample.summary`).
        public var sample: String?
    }

    public struct Target: Sendable, Codable {
        public var kind: String
        public var path: String
        public var mappingLength: Int
        public var pfn: String?
        public var compoundOrder: Int
        public var mapFlags: String
        public var steps: [Step]
        /// Time-ordered governing refcount values across all steps.
        public var timeline: [Int32]
        public var session: KprobeSessionInfo?
        public var cleanup: KprobeCleanupReport?
        public var unmatchedHits: Int
        public var lostEvents: Int
        public var parseErrors: [String]
        public var error: String?
    }

    public var schemaVersion = 1
    public var kernelRelease: String
    public var available: Bool
    public var unavailableReason: String?
    public var staleSwept: [String]
    public var targets: [Target]
    /// Lines of kprobe_events naming any daxref group after everything finished (must be empty).
    public var daxrefProbesRemaining: [String]
}

public enum KprobeCheck {
    public struct Options: Sendable {
        public var deviceDax: String?
        public var fsdaxFile: String?
        /// A readable file or block device on non-DAX storage for the O_DIRECT step.
        public var directIOSource: String?
        /// Write the raw trace text of each target here as `<release>-<kind>-<name>.trace` (fixtures).
        public var rawTraceDirectory: String?
        public init(deviceDax: String?, fsdaxFile: String?, directIOSource: String?, rawTraceDirectory: String? = nil) {
            self.deviceDax = deviceDax
            self.fsdaxFile = fsdaxFile
            self.directIOSource = directIOSource
            self.rawTraceDirectory = rawTraceDirectory
        }
    }

    public static func run(_ options: Options) -> KprobeCheckReport {
        var report = KprobeCheckReport(
            kernelRelease: KernelFingerprint.uname().release, available: true, unavailableReason: nil,
            staleSwept: [], targets: [], daxrefProbesRemaining: [])
        switch Tracefs.availableForKprobes() {
        case .failure(let why):
            report.available = false
            report.unavailableReason = why.description
            return report
        case .success(let tracefs):
            report.staleSwept = KprobeSession.sweepStale(tracefs: tracefs)
            if let device = options.deviceDax {
                report.targets.append(check(kind: "devdax", path: device, options: options))
            }
            if let file = options.fsdaxFile {
                report.targets.append(check(kind: "fsdax", path: file, options: options))
            }
            report.daxrefProbesRemaining = ((try? tracefs.read("kprobe_events")) ?? "")
                .split(separator: "\n").filter { $0.contains(":" + KprobeSession.groupPrefix) }.map(String.init)
        }
        return report
    }

    // MARK: - One target

    private static func check(kind: String, path: String, options: Options) -> KprobeCheckReport.Target {
        var target = KprobeCheckReport.Target(
            kind: kind, path: path, mappingLength: 0, pfn: nil, compoundOrder: 0, mapFlags: "", steps: [], timeline: [],
            session: nil, cleanup: nil, unmatchedHits: 0, lostEvents: 0, parseErrors: [], error: nil)
        let file: OpenedTarget
        do { file = try OpenedTarget.open(kind: kind, path: path) } catch {
            target.error = "\(error)"
            return target
        }
        defer { file.close() }
        target.mappingLength = file.length
        target.compoundOrder = file.compoundOrder

        // Discover the PFN with a throwaway mapping: device-dax offsets and fsdax file blocks keep
        // their PFN across mappings, so the session can filter on it before the measured fault.
        let pfn: UInt64
        do {
            let probe = try file.map()
            target.mapFlags = probe.flags
            probe.address.storeBytes(of: 0x5a, as: UInt8.self)
            let located = KprobePage.pfnMapped(at: probe.address)
            munmap(probe.address, file.length)
            pfn = try located.get()
        } catch {
            target.error = "\(error)"
            return target
        }
        target.pfn = "0x" + String(pfn, radix: 16)
        let page = KprobePage(pfn: pfn, compoundOrder: file.compoundOrder, label: "\(path)+0x0")

        var session: KprobeSession
        do { session = try KprobeSession.start(pages: [page]) } catch {
            target.error = "\(error)"
            return target
        }
        var recorder = StepRecorder(recorder: KprobeRecorder(keepRawText: options.rawTraceDirectory != nil), pfn: pfn)

        _ = try? session.collect(step: "setup")  // drop anything from before the first step
        var mapping: (address: UnsafeMutableRawPointer, flags: String)?
        do {
            let mapped = try file.map()
            mapping = mapped
            recorder.record("mmap", "ok", session: &session)
            mapped.address.storeBytes(of: 0xa5, as: UInt8.self)
            recorder.record("fault-write", "ok", session: &session)
        } catch {
            recorder.record("mmap", "\(error)", session: &session)
        }
        if let address = mapping?.address {
            recorder.record("pin-unpin (process_vm_readv)", processVMRead(address), session: &session)
            if let source = options.directIOSource {
                recorder.record("O_DIRECT read into the page", directRead(from: source, into: address), session: &session)
            }
            var pipe: OwnedPipe?
            let held = vmspliceHold(address, pipe: &pipe)
            recorder.record("vmsplice (page held by a pipe)", held, session: &session)
            if let pipe = pipe.take() {
                recorder.record("pipe drained (reference dropped)", drain(pipe), session: &session)
            }
            recorder.record("pin-unpin again (process_vm_readv)", processVMRead(address), session: &session)
            munmap(address, file.length)
            recorder.record("munmap", "ok", session: &session)
        }
        if kind == "fsdax", file.createdByUs {
            // Truncate runs the break-layouts scan (dax_layout_busy_page_range, *_break_layouts).
            let result = ftruncate(file.descriptor, 0) == 0 ? "ok" : "ftruncate: \(Errno(rawValue: errno))"
            recorder.record("ftruncate to 0 (unmapped)", result, session: &session)
        }

        let (cleanup, info) = session.closeReturningInfo()
        target.cleanup = cleanup
        target.session = info
        target.steps = recorder.steps
        let captures = recorder.recorder.captures
        let events = captures.flatMap(\.events).sorted { $0.timestampNanoseconds < $1.timestampNanoseconds }
        target.timeline = events.compactMap(\.refcount)
        target.unmatchedHits = captures.reduce(0) { $0 + $1.unmatched }
        target.lostEvents = captures.reduce(0) { $0 + $1.lostEvents }
        target.parseErrors = captures.flatMap(\.parseErrors)
        if let directory = options.rawTraceDirectory {
            writeRawTrace(directory: directory, target: target, page: page, captures: captures)
        }
        return target
    }

    /// The trace as the kernel printed it (`KprobeTraceFixture`), as
    /// `<release>-<kind>-<device or fs>.trace`.
    static func writeRawTrace(directory: String, target: KprobeCheckReport.Target, page: KprobePage, captures: [KprobeCapture]) {
        let title = "daxref kprobe-check \(target.kind) \(target.path) (\(target.mapFlags), \(target.mappingLength) bytes)"
        // dax0.1 for a device, the mount's directory (ext4, xfs) for a file.
        let file = FilePath(target.path)
        let name = (target.kind == "devdax" ? file.lastComponent : file.removingLastComponent().lastComponent)?.string ?? "x"
        KprobeTraceFixture.write(
            KprobeTraceFixture.text(title: title, page: page, session: target.session, captures: captures),
            directory: directory, name: target.kind + "-" + name)
    }

    /// Adds the report's per-step entries to what the shared recorder collects.
    struct StepRecorder {
        var recorder: KprobeRecorder
        var pfn: UInt64
        var steps: [KprobeCheckReport.Step] = []

        mutating func record(_ name: String, _ result: String, session: inout KprobeSession) {
            switch recorder.record(name, session: &session) {
            case .failure(let error):
                steps.append(.init(name: name, result: result + "; collect failed: \(error)", events: [], markers: [], refcounts: []))
            case .success(let capture):
                steps.append(.init(
                    name: name, result: result, events: capture.events.map(\.summary), markers: capture.markers.map(\.summary),
                    refcounts: capture.events.compactMap(\.refcount), sample: capture.samples.first { $0.pfn == pfn }?.summary))
            }
        }
    }

    // MARK: - Plain syscalls

    /// MAP_SHARED_VALIDATE and MAP_SYNC (linux/mman.h; not exported by Glibc's Swift module).
    static let mapSharedValidate: Int32 = 0x03
    static let mapSync: Int32 = 0x80000
    /// O_DIRECT on x86_64 (a _GNU_SOURCE constant Swift does not see).
    static let oDirect: Int32 = 0o40000

    struct CheckError: Error, CustomStringConvertible {
        var description: String
        init(_ what: String, _ errno: Errno? = nil) { description = errno.map { "\(what): \($0)" } ?? what }
    }

    struct OpenedTarget {
        var descriptor: Int32
        var length: Int
        var compoundOrder: Int
        var isDeviceDax: Bool
        var createdByUs: Bool
        var path: String

        static func open(kind: String, path: String) throws -> OpenedTarget {
            if kind == "devdax" {
                let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
                guard fd >= 0 else { throw CheckError("open \(path)", Errno(rawValue: errno)) }
                let name = FilePath(path).lastComponent?.string ?? path
                let align = (try? SystemFile.readAttribute(FilePath("/sys/bus/dax/devices/\(name)/align")))
                    .flatMap { $0 }.flatMap { Int($0) } ?? 2 << 20
                // The device's align is its fault size: 4 KiB → order 0, 2 MiB → order 9 compound pages.
                return OpenedTarget(
                    descriptor: fd, length: align, compoundOrder: align.trailingZeroBitCount - 12, isDeviceDax: true,
                    createdByUs: false, path: path)
            }
            let existed = SystemFile.exists(FilePath(path))
            let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CheckError("open \(path)", Errno(rawValue: errno)) }
            let length = 2 << 20
            let rc = posix_fallocate(fd, 0, off_t(length))
            guard rc == 0 else {
                Glibc.close(fd)
                throw CheckError("posix_fallocate \(path)", Errno(rawValue: rc))
            }
            // An fsdax PMD mapping builds an order-9 folio on 6.15+; hits on its head are matched
            // only after the matcher sees page[1] naming it as head, so order 9 is safe for PTEs too.
            return OpenedTarget(
                descriptor: fd, length: length, compoundOrder: 9, isDeviceDax: false, createdByUs: !existed, path: path)
        }

        func map() throws -> (address: UnsafeMutableRawPointer, flags: String) {
            let protection = PROT_READ | PROT_WRITE
            if !isDeviceDax {
                // MAP_SYNC is the DAX promise for files; a non-DAX file refuses it (EOPNOTSUPP).
                let address = mmap(nil, length, protection, Self.validateFlags, descriptor, 0)
                if let address, address != MAP_FAILED { return (address, "MAP_SHARED_VALIDATE|MAP_SYNC") }
                throw CheckError("mmap MAP_SYNC (is the file on a -o dax mount?)", Errno(rawValue: errno))
            }
            let address = mmap(nil, length, protection, MAP_SHARED, descriptor, 0)
            guard let address, address != MAP_FAILED else { throw CheckError("mmap", Errno(rawValue: errno)) }
            return (address, "MAP_SHARED")
        }

        static var validateFlags: Int32 { KprobeCheck.mapSharedValidate | KprobeCheck.mapSync }

        func close() {
            Glibc.close(descriptor)
            if createdByUs { unlink(path) }
        }
    }

    /// Reads 64 bytes of our own mapping through process_vm_readv: a short FOLL_PIN of the page
    /// (pin then unpin), which makes GUP probes fire with the current refcount.
    static func processVMRead(_ address: UnsafeMutableRawPointer) -> String {
        var buffer = [UInt8](repeating: 0, count: 64)
        return buffer.withUnsafeMutableBytes { local in
            let count = Result { () throws(Errno) in
                try ProcessMemory.read(from: getpid(), remote: UnsafeRawBufferPointer(start: address, count: 64), into: local)
            }
            switch count {
            case .success(64): return "ok"
            case .success(let short): return "process_vm_readv: short \(short)"
            case .failure(let errno): return "process_vm_readv: \(errno)"
            }
        }
    }

    /// O_DIRECT read of 4 KiB into the DAX page: the block layer takes the user page with GUP
    /// (6.1 FOLL_GET, 6.3+ FOLL_PIN) for the duration of the I/O.
    static func directRead(from source: String, into address: UnsafeMutableRawPointer) -> String {
        let fd = open(source, O_RDONLY | O_CLOEXEC | oDirect)
        guard fd >= 0 else { return "open O_DIRECT \(source): \(Errno(rawValue: errno))" }
        defer { close(fd) }
        let count = pread(fd, address, 4096, 0)
        return count == 4096 ? "ok" : "pread O_DIRECT: \(count < 0 ? "\(Errno(rawValue: errno))" : "short \(count)")"
    }

    /// vmsplice of the page into a pipe: the pipe keeps a FOLL_GET reference until drained.
    static func vmspliceHold(_ address: UnsafeMutableRawPointer, pipe result: inout OwnedPipe?) -> String {
        let pipe: OwnedPipe
        do { pipe = try OwnedPipe() } catch { return "pipe: \(error)" }
        let count: Int
        do { count = try pipe.writeEnd!.vmsplice(UnsafeRawBufferPointer(start: address, count: 4096)) } catch {
            return "vmsplice: \(error)"
        }
        guard count == 4096 else { return "vmsplice: short \(count)" }
        result = consume pipe
        return "ok"
    }

    /// Reads the spliced page back out (dropping the pipe's reference) and closes the pipe.
    static func drain(_ pipe: consuming OwnedPipe) -> String {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        let count: Int
        do { count = try withTypedErrno { try pipe.readEnd.read(into: buffer) } } catch { return "read pipe: \(error)" }
        _ = consume pipe
        return count == 4096 ? "ok" : "read pipe: short \(count)"
    }
}
