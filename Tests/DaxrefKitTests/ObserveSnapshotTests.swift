import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import DaxrefKit

/// Live snapshots of this test process on whatever kernel runs the tests: the readers, the key
/// contract and the failure handling. DAX-specific values are checked on the recorded fixtures.
@Suite(.serialized) struct ObserveSnapshotTests {
    /// A private anonymous mapping with every page written: a non-ZONE_DEVICE reference point.
    final class AnonymousPages {
        let base: UnsafeMutableRawPointer
        let length: Int
        init(pages: Int) {
            length = pages * systemPageSize
            base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            for offset in stride(from: 0, to: length, by: systemPageSize) { base.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self) }
        }
        deinit { munmap(base, length) }
        var range: Range<UInt64> {
            let start = UInt64(UInt(bitPattern: base))
            return start..<start + UInt64(length)
        }
    }

    @Test func anonymousPagesAreSeenByEveryWalker() {
        let pages = AnonymousPages(pages: 16)
        let snapshot = Snapshot.take(SnapshotTarget(pid: getpid(), tid: gettidViaProc(), range: pages.range))
        let observed = snapshot.observations
        #expect(observed["pagemap.pages"] == .integer(16))
        #expect(observed["pagemap.present"] == .integer(16))
        #expect(observed["pagemap.file"] == .integer(0))
        // The range may share its VMA with neighbours, so Rss is at least the 64 KiB written.
        if case .integer(let rss)? = observed["smaps.Rss"] { #expect(rss >= 64) } else { Issue.record("smaps.Rss: \(String(describing: observed["smaps.Rss"]))") }
        #expect(observed["smaps.vmas"] == .integer(1))
        #expect(observed["snapshot.page_walks"] == .list(["pagemap", "smaps", "smaps_rollup", "numa_maps"].map(ObservedValue.text)))
        #expect(observed["snapshot.walk_split_pud"] == .integer(0))
        #expect(observed["task.state"] == .text("R"), "the thread taking the snapshot is running")
        if case .integer(let rss)? = observed["status.VmRSS"] { #expect(rss > 0) } else { Issue.record("status.VmRSS missing") }
        if geteuid() == 0 {
            // Root sees PFNs, so kpage* was read for RAM pages: no EOF, no NOPAGE.
            #expect(observed["kpageflags.eof"] == .integer(0))
            #expect(observed["kpageflags.nopage"] == .integer(0))
            if case .list(let values)? = observed["kpagecount.values"] { #expect(values.count == 16) } else { Issue.record("kpagecount.values missing") }
        }
    }

    @Test func everyProducedKeyIsInTheCatalogueAndConcreteKeysAreAlwaysPresent() {
        let pages = AnonymousPages(pages: 4)
        let observed = Snapshot.take(SnapshotTarget(pid: getpid(), tid: gettidViaProc(), range: pages.range, numaNode: 0)).observations
        for key in observed.values.keys {
            #expect(ObservableCatalogue.describe(key) != nil, "\(key) is not in the catalogue")
        }
        for prefix in ["smaps.", "pagemap.", "vmstat.", "meminfo.", "status.", "numa_maps.", "task.", "sysfs.node."] {
            for key in ObservableCatalogue.concreteKeys(under: prefix) {
                #expect(observed[key] != nil, "\(key) missing although its source was read")
            }
        }
    }

    @Test func skippingPageWalksSkipsThemAndSaysSo() {
        let pages = AnonymousPages(pages: 4)
        let observed = Snapshot.take(SnapshotTarget(pid: getpid(), range: pages.range), options: .withoutPageWalks).observations
        #expect(observed["snapshot.page_walks"] == .list([]))
        #expect(observed["smaps.Rss"] == nil)
        #expect(observed["pagemap.present"] == nil)
        #expect(observed["snapshot.walk_split_pud"] == .integer(0))
        guard case .unavailable? = observed["kpageflags.nopage"] else {
            Issue.record("without pagemap and without given PFNs there is nothing to look up")
            return
        }
        #expect(observed["status.RssFile"] != nil, "status does not walk and is still read")
    }

    @Test func aVanishedProcessLeavesGlobalCountersIntact() {
        // PID_MAX_LIMIT is 4194304: no process has this id.
        let observed = Snapshot.take(SnapshotTarget(pid: 4_194_305, tid: 4_194_305, range: 0x1000..<0x2000)).observations
        for key: ObservableKey in ["smaps.Rss", "pagemap.present", "status.RssFile", "numa_maps.pages", "task.wchan", "smaps_rollup.Rss"] {
            guard case .unavailable(let why)? = observed[key] else {
                Issue.record("\(key) should be unavailable, is \(String(describing: observed[key]))")
                continue
            }
            #expect(why.contains("No such file or directory") || why.contains("ENOENT"), "\(key): \(why)")
        }
        if case .integer? = observed["vmstat.nr_mapped"] {} else { Issue.record("vmstat is not per process and must still be read") }
        if case .integer? = observed["meminfo.Mapped"] {} else { Issue.record("meminfo must still be read") }
    }

    @Test func missingSysfsObjectsAreUnavailable() {
        let observed = Snapshot.take(
            SnapshotTarget(pid: getpid(), daxDevice: "dax999.999", namespace: "namespace999.999"),
            options: SnapshotOptions(sources: [.sysfs])).observations
        for key in ObservableCatalogue.concreteKeys(under: "sysfs.dax.") + ObservableCatalogue.concreteKeys(under: "sysfs.namespace.") {
            guard case .unavailable? = observed[key] else {
                Issue.record("\(key): \(String(describing: observed[key]))")
                continue
            }
        }
        #expect(observed["sysfs.node.id"] == nil, "no node asked for and none derived from a device")
    }

    @Test func kernelLogCursorSeesOnlyWhatCameAfterIt() throws {
        let cursor: KernelLogCursor
        do { cursor = try KernelLogCursor() } catch {
            return  // not root or no /dev/kmsg: nothing to test here
        }
        let marker = "daxref observer test marker \(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
        guard kmsg >= 0 else { return }
        // Without the newline the record stays open for continuation and is not readable yet.
        _ = ("<6>" + marker + "\n").withCString { write(kmsg, $0, strlen($0)) }
        close(kmsg)
        let findings = try cursor.readNew()
        #expect(findings.lines.contains(marker))
        #expect(findings.warnings.isEmpty)
        #expect(try cursor.readNew().lines.contains(marker) == false, "a second read starts after the first")
    }

    /// The calling thread's id, from /proc/thread-self (gettid is not imported by Swift's Glibc).
    private func gettidViaProc() -> Int32 {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &buffer, buffer.count - 1)
        guard count > 0 else { return getpid() }
        let text = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Int32(text.split(separator: "/").last ?? "") ?? getpid()
    }
}
