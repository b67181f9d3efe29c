import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// `daxref kprobe-check`: a self-contained end-to-end check of the kprobe refcount observer on one
// device-dax device and/or one fsdax file. It deliberately uses plain mmap and a few syscalls
// rather than the Memory/Workloads layers, so it isolates the observer: map, fault, pin briefly,
// optionally O_DIRECT and vmsplice, unmap — and the refcount timeline of the first page at each
// step. The point is the era evidence: idle 1 vs 0, and whether a mapping takes a reference.

public struct KprobeCheckReport: Sendable, Codable {
    public struct Step: Sendable, Codable {
        public var name: String
        /// "ok", or what failed ("vmsplice: EINVAL") — the step's effect is then absent.
        public var result: String
        public var events: [String]
        public var markers: [String]
        public var refcounts: [Int32]
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
            pfn = try pagemapPFN(of: probe.address)
            munmap(probe.address, file.length)
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
        var recorder = StepRecorder(keepRawText: options.rawTraceDirectory != nil)

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
            var pipe: (read: Int32, write: Int32)?
            let held = vmspliceHold(address, pipe: &pipe)
            recorder.record("vmsplice (page held by a pipe)", held, session: &session)
            if let pipe {
                recorder.record("pipe drained (reference dropped)", drainPipe(pipe), session: &session)
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
        let captures = recorder.captures
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

    /// The trace as the kernel printed it, with the facts needed to interpret it as `#` comments
    /// (which the parser ignores): what was probed, the vmemmap base and the page under test.
    static func writeRawTrace(directory: String, target: KprobeCheckReport.Target, page: KprobePage, captures: [KprobeCapture]) {
        let release = KernelFingerprint.uname().release
        var text = "# kernel: \(release)\n# daxref kprobe-check \(target.kind) \(target.path) (\(target.mapFlags), \(target.mappingLength) bytes)\n"
        text += "# pfn: 0x\(String(page.pfn, radix: 16)) order \(page.compoundOrder)\n"
        if let info = target.session {
            text += "# vmemmap_base: 0x\(String(info.vmemmap.address, radix: 16)) (\(info.vmemmap.source))\n"
            text += "# page_layout: \(info.layoutNote)\n"
            text += info.installed.map { "# probe: \($0)\n" }.joined()
        }
        for capture in captures {
            text += "# step: \(capture.step)\n" + (capture.rawText ?? "")
        }
        // dax0.1 for a device, the mount's directory (ext4, xfs) for a file.
        let file = FilePath(target.path)
        let name = (target.kind == "devdax" ? file.lastComponent : file.removingLastComponent().lastComponent)?.string ?? "x"
        let path = directory + "/" + release + "-" + target.kind + "-" + name + ".trace"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Collects after each step, labelling what the probes saw with the step's name.
    struct StepRecorder {
        var keepRawText: Bool
        var steps: [KprobeCheckReport.Step] = []
        var captures: [KprobeCapture] = []

        mutating func record(_ name: String, _ result: String, session: inout KprobeSession) {
            usleep(20_000)  // let completions on other CPUs (bio end_io) reach the buffer
            let capture: KprobeCapture
            do { capture = try session.collect(step: name, keepingRawText: keepRawText) } catch {
                steps.append(.init(name: name, result: result + "; collect failed: \(error)", events: [], markers: [], refcounts: []))
                return
            }
            captures.append(capture)
            steps.append(.init(
                name: name, result: result, events: capture.events.map(\.summary), markers: capture.markers.map(\.summary),
                refcounts: capture.events.compactMap(\.refcount)))
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

    /// The PFN backing `address` from /proc/self/pagemap (bits 0-54; needs CAP_SYS_ADMIN).
    static func pagemapPFN(of address: UnsafeMutableRawPointer) throws -> UInt64 {
        let fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckError("open /proc/self/pagemap", Errno(rawValue: errno)) }
        defer { close(fd) }
        var entry: UInt64 = 0
        let offset = off_t(UInt(bitPattern: address) / 4096 * 8)
        guard pread(fd, &entry, 8, offset) == 8 else { throw CheckError("pread pagemap", Errno(rawValue: errno)) }
        guard entry >> 63 == 1 else { throw CheckError("page not present after the write") }
        let pfn = entry & ((1 << 55) - 1)
        guard pfn != 0 else { throw CheckError("pagemap shows PFN 0 (not CAP_SYS_ADMIN?)") }
        return pfn
    }

    // vmsplice(2) and process_vm_readv(2) are _GNU_SOURCE declarations Swift's Glibc does not
    // import; looked up once from libc instead of growing the C shim for a diagnostic command.
    private typealias VmspliceFunction = @convention(c) (Int32, UnsafePointer<iovec>?, Int, UInt32) -> Int
    private typealias ProcessVMReadvFunction =
        @convention(c) (pid_t, UnsafePointer<iovec>?, UInt, UnsafePointer<iovec>?, UInt, UInt) -> Int

    private static func libcFunction<T>(_ name: String, as type: T.Type) -> T? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }

    /// Reads 64 bytes of our own mapping through process_vm_readv: a short FOLL_PIN of the page
    /// (pin then unpin), which makes GUP probes fire with the current refcount.
    static func processVMRead(_ address: UnsafeMutableRawPointer) -> String {
        guard let readv = libcFunction("process_vm_readv", as: ProcessVMReadvFunction.self) else {
            return "process_vm_readv not in libc"
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        return buffer.withUnsafeMutableBytes { local in
            var localVector = iovec(iov_base: local.baseAddress, iov_len: 64)
            var remoteVector = iovec(iov_base: address, iov_len: 64)
            let count = readv(getpid(), &localVector, 1, &remoteVector, 1, 0)
            return count == 64 ? "ok" : "process_vm_readv: \(count < 0 ? "\(Errno(rawValue: errno))" : "short \(count)")"
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
    static func vmspliceHold(_ address: UnsafeMutableRawPointer, pipe result: inout (read: Int32, write: Int32)?) -> String {
        guard let vmsplice = libcFunction("vmsplice", as: VmspliceFunction.self) else { return "vmsplice not in libc" }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return "pipe: \(Errno(rawValue: errno))" }
        var vector = iovec(iov_base: address, iov_len: 4096)
        let count = vmsplice(fds[1], &vector, 1, 0)
        guard count == 4096 else {
            close(fds[0])
            close(fds[1])
            return "vmsplice: \(count < 0 ? "\(Errno(rawValue: errno))" : "short \(count)")"
        }
        result = (fds[0], fds[1])
        return "ok"
    }

    static func drainPipe(_ pipe: (read: Int32, write: Int32)) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(pipe.read, &buffer, 4096)
        close(pipe.read)
        close(pipe.write)
        return count == 4096 ? "ok" : "read pipe: \(count < 0 ? "\(Errno(rawValue: errno))" : "short \(count)")"
    }
}
