import ArgumentParser
import DaxrefKit
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Hidden: records the raw /proc, /sys and /dev/kmsg content the observer parsers are tested on.
/// Runs inside a daxref VM (root, provisioned devdax and fsdax), maps DAX memory with plain mmap and
/// copies the files byte for byte into DIR/<kernel release>/. See the README it writes there.
struct CaptureFixturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture-proc-fixtures",
        abstract: "Record raw observer input (smaps, pagemap, kpageflags, vmstat, kmsg, sysfs) as test fixtures.",
        discussion: """
            Maps each device-dax device and a file on each fsdax mount, touches every page, and \
            copies smaps, smaps_rollup, maps, status, numa_maps, the pagemap slice of each mapping, \
            kpagecount/kpageflags of its PFNs, vmstat and meminfo (before and after), the sysfs \
            attributes of dax devices, namespaces and node 0, and the kernel log. It also blocks a \
            truncate on a page held by vmsplice (with the file mapped, and unmapped) to record the \
            blocked task's wchan/stack/state and any WARN. Needs root. Defaults come from the VM's \
            provisioning (DAXREF_DEVDAX_4K/2M/1G, DAXREF_FSDAX_EXT4/XFS).
            """,
        shouldDisplay: false)

    @Argument(help: ArgumentHelp("Directory to write into; a subdirectory named after the kernel release is created.", valueName: "dir"))
    var directory: String

    @Option(name: .customLong("devdax"), help: ArgumentHelp("A device-dax device to map (repeatable).", valueName: "/dev/daxX.Y"))
    var devdaxDevices: [String] = []

    @Option(name: .customLong("fsdax"), help: ArgumentHelp("A directory on a filesystem mounted -o dax (repeatable).", valueName: "dir"))
    var fsdaxDirectories: [String] = []

    @Option(help: ArgumentHelp("Suffix for the output directory (<release>-<label>), e.g. e820.", valueName: "label"))
    var label: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let devices = devdaxDevices.isEmpty
            ? ["DAXREF_DEVDAX_4K", "DAXREF_DEVDAX_2M", "DAXREF_DEVDAX_1G"].compactMap { environment[$0] } : devdaxDevices
        let mounts = fsdaxDirectories.isEmpty
            ? ["DAXREF_FSDAX_EXT4", "DAXREF_FSDAX_XFS"].compactMap { environment[$0] } : fsdaxDirectories
        guard !devices.isEmpty || !mounts.isEmpty else {
            throw ValidationError("no devices: pass --devdax and/or --fsdax (or run inside `daxref vm`)")
        }
        do { _ = try ReportDestination.directory(flag: "capture-proc-fixtures", path: directory) } catch {
            throw ValidationError(error.description)
        }
        var capture = try FixtureCapture(root: directory, label: label)
        try capture.run(devices: devices, mounts: mounts)
        printError("capture-proc-fixtures: wrote \(capture.directory)")
    }
}

/// The capture itself; every file it writes is listed in the README it writes last.
private struct FixtureCapture {
    let directory: String
    var notes: [String] = []
    var mappings: [Mapping] = []
    /// Raw /dev/kmsg from the start of the capture (opened at the end of the buffer).
    let kmsg: Int32

    struct Mapping {
        var name: String
        var address: UInt64
        var length: Int
        var path: String
        /// The fsdax mount the file lives on.
        var mount: String? = nil

        var range: Range<UInt64> { address..<address + UInt64(length) }
    }

    init(root: String, label: String?) throws {
        let release = KernelFingerprint.uname().release
        directory = root + "/" + release + (label.map { "-" + $0 } ?? "")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if kmsg >= 0 { lseek(kmsg, 0, SEEK_END) }
    }

    mutating func run(devices: [String], mounts: [String]) throws {
        copy("/proc/vmstat", as: "vmstat-before")
        copy("/proc/meminfo", as: "meminfo-before")

        for device in devices { mapDeviceDax(device) }
        for mount in mounts { mapFileDax(in: mount) }
        mapAnonymous()

        copy("/proc/vmstat", as: "vmstat-after-touch")
        copy("/proc/meminfo", as: "meminfo-after-touch")
        copy("/proc/self/status", as: "status")
        copy("/proc/self/maps", as: "maps")
        // Page walkers last among the process files (a walk splits 1 GiB PUD mappings); pagemap first.
        for mapping in mappings { capturePages(of: mapping) }
        copy("/proc/self/smaps", as: "smaps")
        copy("/proc/self/smaps_rollup", as: "smaps_rollup")
        copy("/proc/self/numa_maps", as: "numa_maps")
        copy("/proc/vmstat", as: "vmstat-after-walks")
        copyKernelPageProbes()
        for mapping in mappings { saveSnapshot(of: mapping) }

        for mount in mounts {
            blockTruncate(in: mount, keepMapped: true)
            blockTruncate(in: mount, keepMapped: false)
        }
        copySysfs()
        saveKernelLog()
        writeReadme()
    }

    // MARK: mappings

    mutating func mapDeviceDax(_ device: String) {
        let fd = open(device, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return note("\(device): open failed: \(lastError())") }
        let align = Int(attribute("/sys/bus/dax/devices/\(device.split(separator: "/").last!)/align") ?? "") ?? 4096
        // Named by alignment, not by device name: daxX.Y numbering differs between kernels.
        let name = "devdax-" + (align >= 1 << 30 ? "\(align >> 30)g" : align >= 1 << 20 ? "\(align >> 20)m" : "\(align >> 10)k")
        // Two units of the device's alignment, at most 4 MiB except for 1 GiB devices (one unit).
        let length = align >= 1 << 30 ? align : max(2 * align, 4 << 20)
        let privately = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        if privately == MAP_FAILED {
            note("\(device): mmap(MAP_PRIVATE) refused as expected: \(lastError())")
        } else {
            note("\(device): mmap(MAP_PRIVATE) unexpectedly succeeded")
            munmap(privately, length)
        }
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            return note("\(device): mmap(MAP_SHARED, \(length)) failed: \(lastError())")
        }
        touch(base, length)
        mappings.append(Mapping(name: name, address: UInt64(UInt(bitPattern: base)), length: length, path: device))
        note("\(device): align \(align), mapped \(length) bytes at 0x\(String(UInt(bitPattern: base), radix: 16)), every 4 KiB page written")
    }

    mutating func mapFileDax(in mount: String) {
        let fsName = mount.split(separator: "/").last.map(String.init) ?? "fsdax"
        let path = mount + "/daxref-fixture"
        let length = 4 << 20
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return note("\(path): create failed: \(lastError())") }
        guard posix_fallocate(fd, 0, off_t(length)) == 0 else { return note("\(path): fallocate failed") }
        // MAP_SHARED_VALIDATE (0x03) | MAP_SYNC (0x80000), include/uapi/asm-generic/mman-common.h:
        // the kernel refuses MAP_SYNC unless the file really is DAX.
        var base = mmap(nil, length, PROT_READ | PROT_WRITE, 0x03 | 0x80000, fd, 0)
        if base == MAP_FAILED {
            note("\(path): MAP_SYNC refused (\(lastError())); mapping MAP_SHARED")
            base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        }
        guard let base, base != MAP_FAILED else { return note("\(path): mmap failed: \(lastError())") }
        touch(base, length)
        mappings.append(Mapping(name: "fsdax-" + fsName, address: UInt64(UInt(bitPattern: base)), length: length, path: path, mount: mount))
        note("\(path): fallocated and mapped \(length) bytes (MAP_SYNC) at 0x\(String(UInt(bitPattern: base), radix: 16)), every page written")
    }

    mutating func mapAnonymous() {
        let length = 1 << 20
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED
        else { return note("anonymous mmap failed: \(lastError())") }
        touch(base, length)
        mappings.append(Mapping(name: "anon", address: UInt64(UInt(bitPattern: base)), length: length, path: "(anonymous)"))
        note("anonymous control: \(length) bytes at 0x\(String(UInt(bitPattern: base), radix: 16)), every page written")
    }

    func touch(_ base: UnsafeMutableRawPointer, _ length: Int) {
        for offset in stride(from: 0, to: length, by: 4096) { base.storeBytes(of: UInt8(0x5a), toByteOffset: offset, as: UInt8.self) }
    }

    // MARK: pagemap and kpage*

    /// pagemap-<name>.bin (the mapping's entries), kpageflags-<name>.bin and kpagecount-<name>.bin
    /// (the words of the PFN run first...last present PFN, at most 2048; short when past EOF).
    mutating func capturePages(of mapping: Mapping) {
        let pages = mapping.length / 4096
        let fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: pages * 8)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(mapping.address / 4096 * 8)) }
        guard got == bytes.count else { return note("\(mapping.name): pagemap read \(got) of \(bytes.count) bytes: \(lastError())") }
        // The whole range is read (one walk, as a snapshot does); a 1 GiB mapping's 2 MiB of entries
        // is cut to its first 4 MiB worth (1024 entries) to keep fixtures small.
        let saved = min(pages, 1024)
        write(Array(bytes[0..<saved * 8]), as: "pagemap-\(mapping.name).bin")
        pagemapPagesSaved[mapping.name] = saved
        let pfns = stride(from: 0, to: bytes.count, by: 8).compactMap { offset -> UInt64? in
            let word = bytes[offset..<offset + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return word >> 63 == 1 ? word & ((1 << 55) - 1) : nil
        }
        guard let first = pfns.min(), let last = pfns.max(), first != 0 else {
            return note("\(mapping.name): no present PFNs (or hidden)")
        }
        let count = Int(min(last - first + 1, 2048))
        for file in ["kpageflags", "kpagecount"] {
            write(readWords("/proc/\(file)", first: first, count: count), as: "\(file)-\(mapping.name).bin")
        }
        mappingsPFNs[mapping.name] = (first, count)
    }

    var mappingsPFNs: [String: (first: UInt64, count: Int)] = [:]
    var pagemapPagesSaved: [String: Int] = [:]

    func readWords(_ path: String, first: UInt64, count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count * 8)
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(first * 8) + off_t(done)) }
            if got <= 0 { break }
            done += got
        }
        return Array(bytes[0..<done])
    }

    /// kpage-probes.txt: PFN 1 and 0x100 (RAM), the first PFN of each hole between "System RAM"
    /// ranges of /proc/iomem (no memmap: KPF_NOPAGE or 0 depending on the era), and a PFN far beyond
    /// the end of the file (EOF). iomem is saved next to it.
    mutating func copyKernelPageProbes() {
        copy("/proc/iomem", as: "iomem")
        var lines = ["# pfn file bytes-read value (hex), from pread of 8 bytes at pfn*8"]
        // A hole's first PFN usually shares a memory section with RAM and has a (reserved) memmap;
        // the first section-aligned PFN inside the hole has none (128 MiB sections on x86_64).
        let holeSections = ramHoles().compactMap { hole -> UInt64? in
            let aligned = (hole.lowerBound + 0x7fff) & ~UInt64(0x7fff)
            return aligned < hole.upperBound ? aligned : nil
        }
        for pfn: UInt64 in [1, 0x100] + ramHoles().map(\.lowerBound) + holeSections + [1 << 36] {
            for file in ["kpageflags", "kpagecount"] {
                let bytes = readWords("/proc/\(file)", first: pfn, count: 1)
                let value = bytes.count == 8 ? "0x" + String(bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, radix: 16) : "-"
                lines.append("\(pfn) \(file) \(bytes.count) \(value)")
            }
        }
        write(Array((lines.joined(separator: "\n") + "\n").utf8), as: "kpage-probes.txt")
    }

    /// Gaps between top-level "System RAM" ranges of /proc/iomem, in PFNs.
    func ramHoles() -> [Range<UInt64>] {
        guard let text = try? String(contentsOfFile: "/proc/iomem", encoding: .utf8) else { return [] }
        let ram: [ClosedRange<UInt64>] = text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix(" "), line.hasSuffix(": System RAM") else { return nil }
            let bounds = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            return bounds.count == 2 && bounds[1] > 0 ? (bounds[0] >> 12)...(bounds[1] >> 12) : nil
        }
        return zip(ram, ram.dropFirst()).compactMap { low, high in
            low.upperBound + 1 < high.lowerBound ? (low.upperBound + 1)..<high.lowerBound : nil
        }
    }

    /// snapshot-<name>.json: what `Snapshot.take` makes of the same mapping (its observations), so
    /// the snapshot API itself is checked on each kernel, not only the parsers.
    mutating func saveSnapshot(of mapping: Mapping) {
        var target = SnapshotTarget(pid: getpid(), range: mapping.range)
        if mapping.path.hasPrefix("/dev/dax") {
            let device = String(mapping.path.dropFirst("/dev/".count))
            target.daxDevice = device
            target.namespace = attribute("/sys/bus/nd/devices/\(device)/namespace")
        } else if let mount = mapping.mount, let source = mountSource(mount) {
            // /sys/block/pmemX.Y/device links to the holder (pfnX.Y); NamespaceSysfs resolves it.
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/block/\(source)/device")
            target.namespace = link.map { ($0 as NSString).lastPathComponent }
            target.numaNode = 0
        }
        let snapshot = Snapshot.take(target)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // compact: per-PFN lists are long
        guard let data = try? encoder.encode(snapshot.observations) else { return note("\(mapping.name): snapshot does not encode") }
        write([UInt8](data) + [10], as: "snapshot-\(mapping.name).json")
    }

    /// The block device name (`pmem0.2`) mounted at `mount`, from /proc/mounts.
    func mountSource(_ mount: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 1, fields[1] == mount, fields[0].hasPrefix("/dev/") { return String(fields[0].dropFirst(5)) }
        }
        return nil
    }

    // MARK: blocked truncate

    /// Maps a 2 MiB fsdax file, writes page 0, vmsplices it into a pipe (the pipe holds a page
    /// reference), optionally unmaps, then truncates on another thread. Records whether it blocked,
    /// the thread's wchan/stack/stat while blocked, and how long it took to finish after the pipe
    /// was drained.
    mutating func blockTruncate(in mount: String, keepMapped: Bool) {
        let fsName = mount.split(separator: "/").last.map(String.init) ?? "fsdax"
        let label = "truncate-\(fsName)-\(keepMapped ? "mapped" : "unmapped")"
        let path = mount + "/daxref-\(label)"
        let length = 2 << 20
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return note("\(label): create failed: \(lastError())") }
        defer {
            close(fd)
            unlink(path)
        }
        guard posix_fallocate(fd, 0, off_t(length)) == 0,
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED
        else { return note("\(label): fallocate/mmap failed: \(lastError())") }
        touch(base, 4096)
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return note("\(label): pipe failed") }
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        var vector = iovec(iov_base: base, iov_len: 4096)
        let spliced = Libc.vmsplice(pipeEnds[1], &vector, 1, 0)
        guard spliced == 4096 else {
            munmap(base, length)
            return note("\(label): vmsplice returned \(spliced): \(lastError())")
        }
        if !keepMapped { munmap(base, length) }

        let call = BlockingCall { ftruncate(fd, 0) == 0 ? 0 : errno }
        Thread.sleep(forTimeInterval: 1.5)
        if call.finished {
            note("\(label): ftruncate did not block (returned errno \(call.result ?? -1)) with the page held by the pipe")
        } else {
            let tid = call.tid
            let taskDirectory = "/proc/self/task/\(tid)"
            copy(taskDirectory + "/wchan", as: "\(label)/wchan")
            copy(taskDirectory + "/stack", as: "\(label)/stack")
            copy(taskDirectory + "/stat", as: "\(label)/stat")
            let drainedAt = Date()
            var sink = [UInt8](repeating: 0, count: 4096)
            _ = read(pipeEnds[0], &sink, sink.count)
            let finished = call.wait(seconds: 10)
            note("\(label): ftruncate blocked (task files in \(label)/); after draining the pipe it "
                + (finished ? "finished in \(Int(Date().timeIntervalSince(drainedAt) * 1000)) ms (errno \(call.result ?? -1))" : "was still blocked after 10 s"))
            if !finished { return }  // do not close or unlink a file whose truncate is stuck
        }
        if keepMapped { munmap(base, length) }
    }

    // MARK: sysfs, kernel log, README

    mutating func copySysfs() {
        for device in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/dax/devices")) ?? [] {
            for name in ["size", "align", "target_node", "numa_node", "resource", "modalias"] {
                copy("/sys/bus/dax/devices/\(device)/\(name)", as: "sysfs/bus/dax/devices/\(device)/\(name)")
            }
        }
        for device in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/nd/devices")) ?? [] {
            let names: [String]
            if device.hasPrefix("namespace") {
                names = ["mode", "size", "resource", "holder", "numa_node"]
            } else if device.hasPrefix("pfn") || device.hasPrefix("dax") {
                names = ["align", "mode", "size", "namespace", "resource"]
            } else {
                continue
            }
            for name in names { copy("/sys/bus/nd/devices/\(device)/\(name)", as: "sysfs/bus/nd/devices/\(device)/\(name)") }
        }
        copy("/sys/devices/system/node/node0/meminfo", as: "sysfs/devices/system/node/node0/meminfo")
        copy("/sys/devices/system/node/node0/vmstat", as: "sysfs/devices/system/node/node0/vmstat")
    }

    /// kmsg.txt: every record logged during the capture, raw, one after the other (a record's
    /// continuation lines start with a space).
    mutating func saveKernelLog() {
        guard kmsg >= 0 else { return note("/dev/kmsg: open failed") }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let got = read(kmsg, &buffer, buffer.count)
            if got > 0 { text += buffer[0..<got]; continue }
            if got < 0, errno == EPIPE { continue }
            break
        }
        write(text, as: "kmsg.txt")
    }

    mutating func writeReadme() {
        var lines = [
            "# Observer fixtures from Linux \(KernelFingerprint.uname().release)",
            "",
            "Captured by `daxref capture-proc-fixtures` inside `daxref vm` on \(ISO8601DateFormatter().string(from: Date())).",
            "`uname -v`: \(KernelFingerprint.uname().version)",
            "",
            "Files are raw copies (byte for byte) of the kernel files named in their file name:",
            "`vmstat-before` / `meminfo-before` before anything was mapped; `*-after-touch` after every",
            "mapping below was written; `vmstat-after-walks` after pagemap, smaps, smaps_rollup and",
            "numa_maps were read. `pagemap-<mapping>.bin` holds the mapping's pagemap entries (at most",
            "the first 1024, see mappings.txt);",
            "`kpageflags-<mapping>.bin` / `kpagecount-<mapping>.bin` hold the words of consecutive PFNs",
            "from the first present PFN (shorter than asked means EOF). `kmsg.txt` is every /dev/kmsg",
            "record logged during the capture. `truncate-*` directories hold wchan/stack/stat of a thread",
            "blocked in ftruncate while a vmsplice'd page was held. `snapshot-<mapping>.json` is what",
            "`Snapshot.take` observed for the mapping (after the walks above). `kpage-probes.txt` reads single PFNs",
            "(RAM, the first PFN of each hole between System RAM ranges of the saved `iomem`, far past EOF).",
            "",
            "## Mappings",
            "",
            "| mapping | address | length | backing | first PFN | PFN words |",
            "|---|---|---|---|---|---|",
        ]
        for mapping in mappings {
            let pfns = mappingsPFNs[mapping.name]
            lines.append(
                "| \(mapping.name) | 0x\(String(mapping.address, radix: 16)) | \(mapping.length) | \(mapping.path) | "
                    + (pfns.map { "0x" + String($0.first, radix: 16) + " | \($0.count)" } ?? "- | 0") + " |")
        }
        lines += ["", "## Notes", ""] + notes.map { "- " + $0 }
        write(Array((lines.joined(separator: "\n") + "\n").utf8), as: "README.md")
        // Machine-readable twin of the mapping table, for the tests.
        let table = mappings.map { mapping in
            let pfns = mappingsPFNs[mapping.name]
            return "\(mapping.name) 0x\(String(mapping.address, radix: 16)) \(mapping.length) 0x\(String(pfns?.first ?? 0, radix: 16)) \(pfns?.count ?? 0) \(pagemapPagesSaved[mapping.name] ?? 0) \(mapping.path)"
        }
        write(Array((["# name address length first-pfn pfn-words pagemap-pages path"] + table).joined(separator: "\n").utf8 + [10]), as: "mappings.txt")
    }

    // MARK: helpers

    mutating func note(_ text: String) {
        notes.append(text)
        printError("capture-proc-fixtures: " + text)
    }

    /// Copies a file's bytes (read to EOF, as /proc and /sys need) to `name` under the directory.
    mutating func copy(_ source: String, as name: String) {
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return note("\(source): \(lastError())") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = read(fd, &buffer, buffer.count)
            if got < 0 { return note("\(source): read: \(lastError())") }
            if got == 0 { break }
            bytes += buffer[0..<got]
        }
        write(bytes, as: name)
    }

    func write(_ bytes: [UInt8], as name: String) {
        let path = directory + "/" + name
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !FileManager.default.createFile(atPath: path, contents: Data(bytes)) {
            printError("capture-proc-fixtures: cannot write \(path)")
        }
    }

    func attribute(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs a blocking system call on its own thread so the caller can watch the thread while it sleeps
/// in the kernel. `tid` is the kernel thread id (for /proc/self/task/<tid>).
private final class BlockingCall: @unchecked Sendable {
    private let condition = NSCondition()
    private var _tid: Int32 = 0
    private var _result: Int32?

    init(_ body: @escaping @Sendable () -> Int32) {
        Thread.detachNewThread { [self] in
            condition.lock()
            _tid = Libc.gettid()
            condition.broadcast()
            condition.unlock()
            let value = body()
            condition.lock()
            _result = value
            condition.broadcast()
            condition.unlock()
        }
        condition.lock()
        while _tid == 0 { condition.wait() }
        condition.unlock()
    }

    var tid: Int32 { condition.lock(); defer { condition.unlock() }; return _tid }
    var result: Int32? { condition.lock(); defer { condition.unlock() }; return _result }
    var finished: Bool { result != nil }

    func wait(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while _result == nil { if !condition.wait(until: deadline) { break } }
        return _result != nil
    }
}

/// glibc functions Swift's Glibc module does not import (they are behind _GNU_SOURCE), looked up
/// at run time so this developer tool needs no C shim of its own.
private enum Libc {
    private static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let pointer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { fatalError("glibc lacks \(name)") }
        return unsafeBitCast(pointer, to: type)
    }

    static func gettid() -> Int32 {
        symbol("gettid", as: (@convention(c) () -> Int32).self)()
    }

    static func vmsplice(_ fd: Int32, _ vector: UnsafePointer<iovec>, _ count: Int, _ flags: UInt32) -> Int {
        symbol("vmsplice", as: (@convention(c) (Int32, UnsafePointer<iovec>, Int, UInt32) -> Int).self)(fd, vector, count, flags)
    }
}

/// `strerror(errno)` with the number, for notes.
private func lastError() -> String {
    let code = errno
    return "errno \(code) (\(String(cString: strerror(code))))"
}
