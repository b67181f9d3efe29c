import Foundation
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import DaxrefKit

// Parser behaviour on small inputs, especially malformed ones: each must give a typed error with a
// line number (or an `.unavailable` value), never a crash and never a silent 0.
// The real-kernel fixtures are exercised in ObserveFixtureTests.

/// The line number of a `.malformed` error, or nil for anything else (or no error).
private func malformedLine(_ body: () throws(ObserverError) -> Void) -> Int? {
    do { try body() } catch {
        if case .malformed(_, let line, _) = error { return line }
    }
    return nil
}

@Suite struct ObserveSmapsParserTests {
    let vma = """
        7f2c40000000-7f2c40400000 rw-s 00000000 00:06 143                        /dev/dax0.0
        Size:               4096 kB
        KernelPageSize:     2048 kB
        Rss:                   0 kB
        FutureField:          12 kB
        THPeligible:    0
        VmFlags: rd wr sh mr mw me ms hg
        7f2c40400000-7f2c40401000 rw-p 00000000 00:00 0
        Size:                  4 kB
        KernelPageSize:        4 kB
        Rss:                   4 kB
        THPeligible:    1
        VmFlags: rd wr mr mw me ac
        """

    @Test func keepsEveryFieldIncludingUnknownOnes() throws {
        let vmas = try Smaps.parse(vma)
        #expect(vmas.count == 2)
        #expect(vmas[0].header.path == "/dev/dax0.0")
        #expect(vmas[0].header.isShared)
        #expect(vmas[0].header.deviceMinor == 6)
        #expect(vmas[0].header.inode == 143)
        #expect(vmas[0].fields["FutureField"] == ProcQuantity(12, .kilobytes))
        #expect(vmas[0].fields["THPeligible"] == ProcQuantity(0, .none))
        #expect(vmas[0].vmFlags.contains("hg"))
        #expect(vmas[1].header.path == nil, "anonymous memory has no path")
    }

    @Test func sumsMemoryFieldsButNotPerVMAFields() throws {
        let observations = Smaps.observations(of: try Smaps.parse(vma))
        #expect(observations["smaps.vmas"] == .integer(2))
        #expect(observations["smaps.Size"] == .integer(4100))
        #expect(observations["smaps.Rss"] == .integer(4))
        guard case .unavailable? = observations["smaps.KernelPageSize"] else {
            Issue.record("2048 and 4 must not be summed or picked: \(String(describing: observations["smaps.KernelPageSize"]))")
            return
        }
        #expect(observations["smaps.VmFlags"] == .text("rd wr sh mr mw me ms hg ac"))
    }

    /// Found while writing the fuzz target: two VMAs whose Rss sum overflows Int64 trapped in `observations`.
    @Test func sumsThatOverflowAreUnavailable() throws {
        let vmas = try Smaps.parse("""
            7f0000000000-7f0000001000 rw-p 00000000 00:00 0
            Rss: 9223372036854775807 kB
            Size: 4 kB
            7f0000001000-7f0000002000 rw-p 00000000 00:00 0
            Rss: 1 kB
            Size: 4 kB
            """)
        let observations = Smaps.observations(of: vmas)
        #expect(observations["smaps.Size"] == .integer(8))
        guard case .unavailable? = observations["smaps.Rss"] else {
            Issue.record("an overflowing sum must be unavailable: \(String(describing: observations["smaps.Rss"]))")
            return
        }
    }

    @Test func pathsWithSpacesAndDeletedSuffixSurvive() throws {
        let header = try VMAHeader.parse("7f00-8f00 r--p 00001000 fd:01 42    /tmp/a b (deleted)", source: "maps", lineNumber: 1)
        #expect(header.path == "/tmp/a b (deleted)")
        #expect(header.offset == 0x1000)
        #expect(header.deviceMajor == 0xfd)
    }

    @Test(arguments: [
        ("Rss: 4 kB\n", 1),  // field before any header
        ("7f00-8f00 rw-s 00000000 00:06 1 /x\nRss: four kB\n", 2),  // garbage number
        ("7f00-8f00 rw-s 00000000 00:06 1 /x\nRss: 4 MB\n", 2),  // unknown unit
        ("7f00-8f00 rw-s 00000000 00:06 1 /x\nRss 4 kB\n", 2),  // no colon
        ("7f00-8f00 rw-s 00000000 00:06 1 /x\nRss: 4 kB\nRss: 4 kB\n", 3),  // duplicate field
        ("7f00-8f00 rw-s 00000000\n", 1),  // truncated header
        ("7f00-zz rw-s 00000000 00:06 1\n", 1),  // bad address
        ("8f00-7f00 rw-s 00000000 00:06 1\n", 1),  // inverted range
        ("7f00-8f00 rw-s 00000000 0006 1\n", 1),  // device without colon
    ])
    func malformedSmapsIsALineNumberedError(_ text: String, _ line: Int) {
        #expect(malformedLine { () throws(ObserverError) in _ = try Smaps.parse(text) } == line)
    }

    @Test func emptySmapsIsNoVMAsButEmptyRollupIsAnError() throws {
        #expect(try Smaps.parse("").isEmpty)
        #expect(malformedLine { () throws(ObserverError) in _ = try Smaps.parseRollup("") } == 0)
    }

    private func parse(_ text: String, overlapping range: Range<UInt64>) throws(ObserverError) -> [SmapsVMA] {
        try ProcBytes.with(text) { (bytes) throws(ObserverError) in try Smaps.parse(bytes, source: "smaps", overlapping: range) }
    }

    @Test func aRangeKeepsOnlyItsVMAsWithTheSameFields() throws {
        let all = try Smaps.parse(vma)
        let kept = try parse(vma, overlapping: 0x7f2c40400000..<0x7f2c40400800)
        #expect(kept == [all[1]])
        #expect(try parse(vma, overlapping: 0x7f2c3fff0000..<0x7f2c50000000) == all)
        #expect(try parse(vma, overlapping: 0x1000..<0x2000).isEmpty)
    }

    @Test func aRangeStillChecksHeadersAndTheKeptFields() {
        let garbageHeader = vma + "\n7f2c40401000-zz rw-p 00000000 00:00 0\n"
        #expect(malformedLine { () throws(ObserverError) in _ = try parse(garbageHeader, overlapping: 0x7f2c40000000..<0x7f2c40001000) } == 14)
        let garbageField = vma.replacingOccurrences(of: "Rss:                   0 kB", with: "Rss: zero kB")
        #expect(malformedLine { () throws(ObserverError) in _ = try parse(garbageField, overlapping: 0x7f2c40000000..<0x7f2c40001000) } == 4)
        // The field lines of a VMA that is left out are not read (documented): same format as the kept ones.
        #expect((try? parse(garbageField, overlapping: 0x7f2c40400000..<0x7f2c40401000))?.count == 1)
        #expect(malformedLine { () throws(ObserverError) in _ = try parse("Rss: 4 kB\n" + vma, overlapping: 0x1000..<0x2000) } == 1)
    }
}

@Suite struct ObservePagemapTests {
    private func bytes(_ words: [UInt64]) -> [UInt8] {
        words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
    }

    @Test func decodesEveryDocumentedBit() throws {
        let present: UInt64 = 1 << 63 | 1 << 61 | 1 << 56 | 1 << 55 | 0x12345
        let swapped: UInt64 = 1 << 62 | (77 << 5) | 3
        let guarded: UInt64 = 1 << 58 | 1 << 57
        let range = try Pagemap.decode(bytes([present, swapped, guarded, 0]), startAddress: 0x7000_0000, pageSize: 4096)
        let entry = range.entries[0]
        #expect(entry.isPresent && entry.isFileOrSharedAnon && entry.isExclusive && entry.isSoftDirty)
        #expect(entry.pfn == 0x12345)
        #expect(range.entries[1].pfn == nil)
        #expect(range.entries[1].swapType == 3 && range.entries[1].swapOffset == 77)
        #expect(range.entries[2].isGuardRegion && range.entries[2].isUffdWriteProtected)
        #expect(range.address(ofPage: 3) == 0x7000_3000)
        let observed = range.observations
        #expect(observed["pagemap.present"] == .integer(1))
        #expect(observed["pagemap.swapped"] == .integer(1))
        #expect(observed["pagemap.file"] == .integer(1))
        #expect(observed["pagemap.pfns"] == .list([.integer(0x12345)]))
    }

    @Test func hiddenPFNsAreUnavailableNotZero() throws {
        let range = try Pagemap.decode(bytes([1 << 63, 1 << 63]), startAddress: 0, pageSize: 4096)
        #expect(range.pfnsHidden)
        guard case .unavailable? = range.observations["pagemap.pfns"] else {
            Issue.record("zeroed PFNs must not be reported as PFN 0")
            return
        }
    }

    @Test func partialEntryIsAnError() {
        #expect(malformedLine { () throws(ObserverError) in _ = try Pagemap.decode([1, 2, 3], startAddress: 0, pageSize: 4096) } == 0)
    }

    @Test func readsThisProcessesOwnAnonymousPages() throws {
        let pageSize = systemPageSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        for offset in stride(from: 0, to: buffer.count, by: pageSize) { buffer[offset] = 1 }
        let start = UInt64(UInt(bitPattern: buffer.baseAddress!))
        let range = try Pagemap.read(pid: getpid(), range: start..<start + UInt64(buffer.count))
        #expect(range.entries.count == 8)
        #expect(range.present == 8, "every written page is present")
        #expect(range.fileOrSharedAnon == 0, "private anonymous memory is not PM_FILE")
    }
}

@Suite struct ObserveKernelPageTests {
    @Test func namesFlagsAndSpotsNoPage() {
        let flags = KernelPageFlags(rawValue: 1 << 20)
        #expect(flags.isNoPage)
        #expect(flags.description == "NOPAGE")
        #expect(KernelPageFlags(rawValue: 1 << 32 | 1 << 11 | 1 << 50).flagNames == ["MMAP", "RESERVED", "BIT50"])
        #expect(KernelPageFlags(rawValue: 0).description == "0")
    }

    @Test func shortReadMeansEndOfFile() throws {
        let words = try KernelPageFile.decode([0, 0, 0x10, 0, 0, 0, 0, 0], firstPFN: 100, requested: 3)
        #expect(words.map { $0.pfn } == [100, 101, 102])
        #expect(words.map { $0.word } == [.value(0x100000), .endOfFile, .endOfFile])
        #expect(malformedLine { () throws(ObserverError) in _ = try KernelPageFile.decode([0, 0, 0], firstPFN: 0, requested: 1) } == 0)
    }

    @Test func countsNoPageZeroAndEOFSeparately() {
        let readings = KernelPageReadings(
            pfns: [1, 2, 3, 4], counts: [.value(0), .value(0), .endOfFile, .readError(errno: 5)],
            flags: [.value(1 << 20), .value(0), .endOfFile, .readError(errno: 5)])
        let observed = readings.observations
        #expect(observed["kpageflags.nopage"] == .integer(1))
        #expect(observed["kpageflags.zero"] == .integer(1))
        #expect(observed["kpageflags.eof"] == .integer(1))
        #expect(observed["kpageflags.errors"] == .integer(1))
        #expect(observed["kpagecount.eof"] == .integer(1))
        #expect(observed["kpageflags.union"] == .text("NOPAGE"))
    }

    @Test func groupsConsecutivePFNsIntoRuns() {
        #expect(KernelPageFile.consecutiveRuns([1, 2, 3, 7, 8, 10]) == [1...3, 7...8, 10...10])
        #expect(KernelPageFile.consecutiveRuns([]) == [])
        #expect(KernelPageFile.consecutiveRuns(Array(5..<70_005)) == [5...65_540, 65_541...70_004], "a run stops at 64 Ki PFNs")
    }
}

@Suite struct ObserveCounterParserTests {
    @Test func vmstatKeepsDriftedCountersNegative() throws {
        let counters = try VMStat.parse("nr_free_pages 12\nnr_foll_pin_acquired 18446744073709551615\n")
        #expect(counters["nr_free_pages"] == 12)
        #expect(counters["nr_foll_pin_acquired"] == -1)
    }

    @Test(arguments: [
        ("", 0), ("nr_free_pages\n", 1), ("nr_free_pages 12 13\n", 1), ("nr_free_pages x\n", 1),
        ("a 1\na 2\n", 2), ("a 99999999999999999999999\n", 1),
    ])
    func malformedVMStat(_ text: String, _ line: Int) {
        #expect(malformedLine { () throws(ObserverError) in _ = try VMStat.parse(text) } == line)
    }

    @Test func meminfoKeepsUnitsAndReadsPerNodeFiles() throws {
        let global = try MemInfo.parse("MemTotal:        4026500 kB\nHugePages_Total:       0\n")
        #expect(global["MemTotal"] == ProcQuantity(4_026_500, .kilobytes))
        #expect(global["HugePages_Total"] == ProcQuantity(0, .none))
        let node = try MemInfo.parse("Node 0 MemTotal:       4026500 kB\nNode 0 FilePmdMapped:        0 kB\n")
        #expect(node["FilePmdMapped"] == ProcQuantity(0, .kilobytes))
    }

    @Test(arguments: [("", 0), ("MemTotal 12 kB\n", 1), ("MemTotal: 12 kB\nMapped: lots\n", 2), ("Mapped: 1 2 3\n", 1)])
    func malformedMeminfo(_ text: String, _ line: Int) {
        #expect(malformedLine { () throws(ObserverError) in _ = try MemInfo.parse(text) } == line)
    }

    @Test func deltasOfCounters() throws {
        let before = VMStat.observations(try VMStat.parse("nr_foll_pin_acquired 10\nthp_split_pud 0\n"))
        let after = VMStat.observations(try VMStat.parse("nr_foll_pin_acquired 522\nthp_split_pud 1\n"))
        let deltas = after.deltas(since: before)
        #expect(deltas["vmstat.nr_foll_pin_acquired.delta"] == .integer(512))
        #expect(deltas["vmstat.thp_split_pud.delta"] == .integer(1))
    }
}

@Suite struct ObserveProcessFileParserTests {
    @Test func statusKeepsTextAndReportsKilobyteFields() throws {
        let status = try ProcStatus.parse("Name:\tdaxref\nState:\tS (sleeping)\nPid:\t42\nVmRSS:\t    1234 kB\nRssFile:\t      8 kB\nCpus_allowed:\t3\n")
        #expect(status.state == "S")
        #expect(status.kilobytes == ["VmRSS": 1234, "RssFile": 8])
        #expect(status.observations["status.RssFile"] == .integer(8))
        #expect(status.observations["status.Cpus_allowed"] == nil, "a hex mask is not a kB value")
    }

    @Test(arguments: [("", 0), ("Name:\tx\n", 0), ("Name:\tx\nPid:\t1\nVmRSS:\tmany kB\n", 3), ("Name x\n", 1)])
    func malformedStatus(_ text: String, _ line: Int) {
        #expect(malformedLine { () throws(ObserverError) in _ = try ProcStatus.parse(text) } == line)
    }

    @Test func numaMapsSeparatesNodesCountersAndMarkers() throws {
        let entries = try NumaMaps.parse("""
            7f2c40000000 default file=/dev/dax0.0 huge dirty=3 mapped=512 N0=512 kernelpagesize_kB=2048
            7f2c50000000 bind:1 file=/mnt/a\\040b anon=2 N0=1 N1=1 kernelpagesize_kB=4
            """)
        #expect(entries[0].markers == ["huge"])
        #expect(entries[0].pagesPerNode == [0: 512])
        #expect(entries[0].counters["kernelpagesize_kB"] == 2048)
        #expect(entries[1].file == "/mnt/a b", "seq_file_path octal escapes are undone")
        #expect(entries[1].pages == 2)
        let vmas = [
            VMAHeader(start: 0x7f2c40000000, end: 0x7f2c40400000, permissions: "rw-s", offset: 0, deviceMajor: 0, deviceMinor: 6, inode: 1, path: nil),
            VMAHeader(start: 0x7f2c50000000, end: 0x7f2c50001000, permissions: "rw-p", offset: 0, deviceMajor: 0, deviceMinor: 0, inode: 0, path: nil),
        ]
        let inRange = NumaMaps.overlapping(entries, 0x7f2c40100000..<0x7f2c40200000, vmas: vmas)
        #expect(inRange.count == 1)
        let observed = NumaMaps.observations(of: entries)
        #expect(observed["numa_maps.pages"] == .integer(514))
        #expect(observed["numa_maps.N1"] == .integer(1))
        guard case .unavailable? = observed["numa_maps.policy"] else {
            Issue.record("two different policies must not be reported as one")
            return
        }
    }

    /// Sums of counters no kernel prints overflowed Int64 and trapped; they are unavailable instead.
    @Test func numaMapsSumsThatOverflowAreUnavailable() throws {
        let entries = try NumaMaps.parse("7f00 default anon=9223372036854775807 N0=9223372036854775807 N1=1\n7f01 default anon=1 N0=1\n")
        #expect(entries[0].pages == nil && entries[1].pages == 1)
        let observed = NumaMaps.observations(of: entries)
        for key: ObservableKey in ["numa_maps.pages", "numa_maps.N0", "numa_maps.anon"] {
            guard case .unavailable? = observed[key] else {
                Issue.record("\(key): \(String(describing: observed[key]))")
                continue
            }
        }
        #expect(observed["numa_maps.N1"] == .integer(1))
    }

    @Test(arguments: [("zz default\n", 1), ("7f00\n", 1), ("7f00 default N0=x\n", 1)])
    func malformedNumaMaps(_ text: String, _ line: Int) {
        #expect(malformedLine { () throws(ObserverError) in _ = try NumaMaps.parse(text) } == line)
    }

    @Test func statStateSurvivesHostileCommNames() throws {
        #expect(try TaskWait.parseStatState("1234 (a) b) S 1 2 3\n") == "S")
        #expect(try TaskWait.parseStatState("77 (kworker/0:1) D 2 0 0\n") == "D")
        #expect(malformedLine { () throws(ObserverError) in _ = try TaskWait.parseStatState("1234 no comm S") } == 1)
        #expect(malformedLine { () throws(ObserverError) in _ = try TaskWait.parseStatState("1234 (x)") } == 1)
    }

    @Test func stackFramesLoseTheirAddressPrefix() {
        #expect(TaskWait.parseStack("[<0>] ext4_break_layouts+0x12f/0x1b0 [ext4]\n[<0>] do_syscall_64+0x58/0xc0\n")
            == ["ext4_break_layouts+0x12f/0x1b0 [ext4]", "do_syscall_64+0x58/0xc0"])
    }
}

@Suite struct ObserveKernelLogParserTests {
    @Test func parsesPrefixMessageAndDictionary() throws {
        let record = try KernelLogRecord.parse("4,1502,53000123,-;WARNING: CPU: 0 PID: 1 at fs/dax.c:398 x+0x1/0x2\n SUBSYSTEM=mem\n")
        #expect(record.level == 4)
        #expect(record.sequence == 1502)
        #expect(record.timestamp == 53_000_123)
        #expect(record.dictionary == ["SUBSYSTEM": "mem"])
        #expect(record.message.hasPrefix("WARNING:"))
    }

    @Test(arguments: ["", "no semicolon", "a,b,c,-;msg", "4,1;msg", "4,-1,0,-;msg"])
    func malformedRecords(_ text: String) {
        #expect(malformedLine { () throws(ObserverError) in _ = try KernelLogRecord.parse(text) } == 1)
    }

    @Test func findsWarningsBugsAndOopsesWithLocations() throws {
        let messages = [
            "------------[ cut here ]------------",
            "WARNING: CPU: 0 PID: 1 at fs/dax.c:398 dax_disassociate_entry+0x5c/0x70",
            "WARNING: CPU: 1 PID: 77 at mm/memremap.c:473 free_zone_device_page+0x9a/0xb0 [dax]",
            "kernel BUG at mm/huge_memory.c:2013!",
            "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
            "CPU: 0 PID: 1 Comm: daxref Not tainted 6.1.0-40-amd64 #1  Debian 6.1.153-1",
            "RIP: 0010:__split_huge_pud+0x1f2/0x200",
            "BUG: unable to handle page fault for address: ffffc90000a00000",
            "Oops: Oops: 0000 [#2] SMP NOPTI",
            "RIP: 0010:walk_pgd_range+0x3a5/0x8e0",
        ]
        let records = messages.enumerated().map { index, message in
            KernelLogRecord(priority: 4, sequence: UInt64(index), timestamp: 0, flags: "-", message: message, dictionary: [:])
        }
        let findings = KernelLogFindings.scan(records)
        #expect(findings.warnings == ["fs/dax.c:398 dax_disassociate_entry", "mm/memremap.c:473 free_zone_device_page"])
        #expect(findings.bugs == ["mm/huge_memory.c:2013", "unable to handle page fault for address: ffffc90000a00000"])
        #expect(findings.oopses == ["invalid opcode: 0000 [#1] PREEMPT SMP NOPTI at __split_huge_pud", "Oops: Oops: 0000 [#2] SMP NOPTI at walk_pgd_range"])
        #expect(findings.lost == 0)
        #expect(findings.lines.count == messages.count)
    }

    @Test func sequenceGapsCountAsLost() {
        let records = [3, 4, 9].map { KernelLogRecord(priority: 6, sequence: $0, timestamp: 0, flags: "-", message: "m", dictionary: [:]) }
        #expect(KernelLogFindings.scan(records).lost == 4)
    }

    /// `previous + 1` trapped at UInt64.max, and a gap above Int.max did not fit `lost`.
    @Test(arguments: [([UInt64.max, 5], 0), ([0, UInt64.max], Int.max), ([UInt64.max - 1, UInt64.max], 0)])
    func sequenceNumbersNearTheLimitDoNotTrap(_ sequences: [UInt64], _ lost: Int) throws {
        let records = try sequences.map { try KernelLogRecord.parse("6,\($0),0,-;m") }
        #expect(KernelLogFindings.scan(records).lost == lost)
    }

    @Test func warningWithoutFileFallsBackToFunction() {
        #expect(KernelLogFindings.warningLocation("WARNING: CPU: 2 PID: 9 at some_function+0x10/0x20") == "some_function")
        #expect(KernelLogFindings.warningLocation("WARNING: odd") == "WARNING: odd")
    }
}

@Suite struct ObserveSysfsTests {
    @Test func attributesBecomeTypedValuesOrUnavailable() {
        let object = SysfsObject(path: "/sys/bus/dax/devices/dax0.0", attributes: [
            "size": "268435456", "align": "2097152", "target_node": "0", "numa_node": "-1",
            "resource": "0x240000000", "modalias": "dax:t0*",
        ])
        let observed = DaxDeviceSysfs.observations(object)
        #expect(observed["sysfs.dax.align"] == .integer(2 << 20))
        #expect(observed["sysfs.dax.numa_node"] == .integer(-1))
        #expect(observed["sysfs.dax.resource"] == .integer(0x2_4000_0000))
        #expect(observed["sysfs.dax.modalias"] == .text("dax:t0*"))

        let broken = SysfsObject(path: "/x", attributes: ["size": "big", "resource": "240000000"])
        let brokenObserved = DaxDeviceSysfs.observations(broken)
        for key: ObservableKey in ["sysfs.dax.size", "sysfs.dax.resource", "sysfs.dax.align"] {
            guard case .unavailable? = brokenObserved[key] else {
                Issue.record("\(key) should be unavailable, is \(String(describing: brokenObserved[key]))")
                continue
            }
        }
    }

    @Test func unreadableAttributeSaysWhy() {
        // An unconfigured seed device answers ENXIO for size and resource (seen on 6.1 and 7.2).
        let seed = SysfsObject(path: "/sys/bus/nd/devices/pfn0.2", attributes: ["align": "2097152"], unreadable: ["size": "No such device or address"])
        let observed = seed.observations(prefix: "sysfs.namespace", schema: NamespaceSysfs.holderSchema)
        #expect(observed["sysfs.namespace.align"] == .integer(2 << 20))
        #expect(observed["sysfs.namespace.holder_size"] == .unavailable("cannot read /sys/bus/nd/devices/pfn0.2/size: No such device or address"))
        #expect(observed["sysfs.namespace.holder_mode"] == .unavailable("no attribute mode in /sys/bus/nd/devices/pfn0.2"))
    }

    @Test func rawNamespaceHasNoHolderKeys() {
        let observed = NamespaceSysfs.observations(namespace: SysfsObject(path: "/n", attributes: ["mode": "raw", "holder": ""]), holder: nil)
        #expect(observed["sysfs.namespace.mode"] == .text("raw"))
        guard case .unavailable? = observed["sysfs.namespace.align"] else {
            Issue.record("a raw namespace has no holder align")
            return
        }
    }
}

@Suite struct ObserveCatalogueTests {
    @Test func everyKeyHasOneEntry() {
        let keys = ObservableCatalogue.entries.map(\.key)
        #expect(Set(keys).count == keys.count, "duplicate catalogue keys")
        for entry in ObservableCatalogue.entries {
            #expect(!entry.meaning.isEmpty && !entry.source.isEmpty, "\(entry.key)")
        }
    }

    @Test func familiesAndDeltasAreDescribed() {
        #expect(ObservableCatalogue.describe("vmstat.nr_foll_pin_acquired")?.unit == .pages)
        #expect(ObservableCatalogue.describe("vmstat.pgfault")?.key == "vmstat.<name>")
        #expect(ObservableCatalogue.describe("vmstat.thp_split_pud.delta")?.key == "vmstat.thp_split_pud")
        #expect(ObservableCatalogue.describe("numa_maps.N3")?.key == "numa_maps.N<node>")
        #expect(ObservableCatalogue.describe("numa_maps.dirty")?.key == "numa_maps.<counter>")
        #expect(ObservableCatalogue.describe("smaps_rollup.Pss_Anon")?.key == "smaps_rollup.<Field>")
        #expect(ObservableCatalogue.describe("sysfs.node.meminfo.MemFree")?.key == "sysfs.node.meminfo.<Name>")
        #expect(ObservableCatalogue.describe("nonsense.key") == nil)
        #expect(ObservableCatalogue.describe("vmstat.a.b") == nil, "a family placeholder is one component")
    }
}

@Suite struct ObserveEncodingTests {
    private func json(_ observations: Observations) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(observations), as: UTF8.self)
    }

    private func decode(_ json: String) throws -> Observations {
        try JSONDecoder().decode(Observations.self, from: Data(json.utf8))
    }

    @Test func observationsAreAPlainObjectOfPlainValues() throws {
        let observations = Observations([
            "smaps.Rss": .integer(4096),
            "kpageflags.values": .integer(Int64(bitPattern: 0x8000_0000_0010_0000)),
            "snapshot.vmstat_refreshed": .flag(true),
            "task.wchan": .text("ext4_wait_dax_page"),
            "snapshot.page_walks": .list([.text("pagemap"), .integer(0), .flag(false), .list([]), .unavailable("EOF")]),
            "vmstat.nr_memmap_pages": .unavailable("not in what the kernel printed"),
        ])
        let expected = #"{"kpageflags.values":-9223372036853727232,"smaps.Rss":4096,"#
            + #""snapshot.page_walks":["pagemap",0,false,[],{"unavailable":"EOF"}],"snapshot.vmstat_refreshed":true,"#
            + #""task.wchan":"ext4_wait_dax_page","vmstat.nr_memmap_pages":{"unavailable":"not in what the kernel printed"}}"#
        #expect(try json(observations) == expected)
        #expect(try decode(expected) == observations)
    }

    @Test func numbersBoolsAndStringsStayApartOnTheWayBack() throws {
        // 0/1 must not come back as false/true (or the reverse), nor "1" as a number.
        let observations = Observations([
            "a.zero": .integer(0), "a.one": .integer(1), "a.false": .flag(false), "a.true": .flag(true),
            "a.text": .text("1"), "a.min": .integer(.min), "a.max": .integer(.max), "a.empty": .text(""),
        ])
        #expect(try decode(try json(observations)) == observations)
        #expect(try json(Observations()) == "{}")
    }

    @Test(arguments: [
        #"{"smaps.Rss":{"integer":{"_0":4096}}}"#,  // the schema-1 form
        #"{"values":{"smaps.Rss":4096}}"#,  // a wrapper object is not a value
        #"{"smaps.Rss":1.5}"#, #"{"smaps.Rss":null}"#, #"{"smaps.Rss":{"unavailable":3}}"#, #"{"smaps.Rss":18446744073709551616}"#,
        #"["smaps.Rss",4096]"#,
    ])
    func otherShapesAreDecodingErrors(_ json: String) {
        #expect(throws: DecodingError.self) { try decode(json) }
    }
}

@Suite struct ObserveProcBytesTests {
    @Test func numbersAreStrict() {
        ProcBytes.with("18446744073709551615") { #expect($0.decimal == .max) }
        ProcBytes.with("18446744073709551616") { #expect($0.decimal == nil, "overflow is not a number") }
        for text in ["", "-1", "+1", "1 ", " 1", "1a", "１"] {
            ProcBytes.with(text) { #expect($0.decimal == nil, "\(text.debugDescription)") }
        }
        ProcBytes.with("-9223372036854775807") { #expect($0.counter == -.max) }
        ProcBytes.with("-18446744073709551615") { #expect($0.counter == nil, "below what a long holds") }
        ProcBytes.with("-") { #expect($0.counter == nil) }
        ProcBytes.with("18446744073709551615") { #expect($0.counter == -1, "a drifted %lu counter") }
        ProcBytes.with("0x240000000") { #expect($0.hex == 0x2_4000_0000) }
        ProcBytes.with("7fFF") { #expect($0.hex == 0x7fff) }
        ProcBytes.with("ffffffffffffffff") { #expect($0.hex == .max) }
        for text in ["", "0x", "1ffffffffffffffff", "-0", "+f", "0x-1", "g"] {
            ProcBytes.with(text) { #expect($0.hex == nil, "\(text.debugDescription)") }
        }
    }

    @Test func fieldsQuantitiesAndColonFields() {
        ProcBytes.with(" a\tb  c ") { #expect($0.fields.map(\.string) == ["a", "b", "c"]) }
        ProcBytes.with("") { #expect($0.fields.isEmpty) }
        ProcBytes.with("12 kB") { #expect($0.quantity == ProcQuantity(12, .kilobytes)) }
        ProcBytes.with("12") { #expect($0.quantity == ProcQuantity(12, .none)) }
        for text in ["", "kB", "12 MB", "12 kB x", "x kB"] {
            ProcBytes.with(text) { #expect($0.quantity == nil, "\(text.debugDescription)") }
        }
        ProcBytes.with("VmRSS:\t  1234 kB \n") { bytes in
            #expect(bytes.colonField?.name.string == "VmRSS")
            #expect(bytes.colonField?.value.string == "1234 kB")
        }
        for text in [":1", "a b: 1", "no colon"] {
            ProcBytes.with(text) { #expect($0.colonField == nil, "\(text.debugDescription)") }
        }
        ProcBytes.with("7f00-8f00") { #expect($0.pair(separator: UInt8(ascii: "-")).map { [$0.0, $0.1] } == [0x7f00, 0x8f00]) }
        for text in ["7f00", "7f00-8f00-9f00", "-8f00", "7f00-"] {
            ProcBytes.with(text) { #expect($0.pair(separator: UInt8(ascii: "-")) == nil, "\(text.debugDescription)") }
        }
    }

    @Test func linesAreNumberedAndBlankOnesSkipped() {
        var seen: [(Int, String)] = []
        ProcBytes.with("a\n\n  \t\nb\nc") { $0.forEachLine { number, line in seen.append((number, line.string)) } }
        #expect(seen.map(\.0) == [1, 4, 5])
        #expect(seen.map(\.1) == ["a", "b", "c"])
        var none = 0
        ProcBytes.with("") { $0.forEachLine { _, _ in none += 1 } }
        ProcBytes.with([UInt8]()) { $0.forEachLine { _, _ in none += 1 } }
        #expect(none == 0)
    }

    /// Seeded damage to the real fixtures: every parser must either parse or throw `.malformed`.
    @Test func damagedFixturesGiveErrorsNotCrashes() throws {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let alphabet = Array(" \t\n:-=0123456789abcdefxkBN()".utf8)
        let release = try #require(ProcFixtures.releases.first)
        let parsers: [(String, (String) throws(ObserverError) -> Void)] = [
            ("smaps", { (text) throws(ObserverError) in _ = try Smaps.parse(text) }),
            ("maps", { (text) throws(ObserverError) in _ = try ProcMaps.parse(text) }),
            ("numa_maps", { (text) throws(ObserverError) in _ = try NumaMaps.parse(text) }),
            ("vmstat-before", { (text) throws(ObserverError) in _ = try VMStat.parse(text) }),
            ("meminfo-before", { (text) throws(ObserverError) in _ = try MemInfo.parse(text) }),
            ("status", { (text) throws(ObserverError) in _ = try ProcStatus.parse(text) }),
            ("kmsg.txt", { (text) throws(ObserverError) in _ = try KernelLogRecord.parseDump(text) }),
        ]
        var failures = 0
        for (name, parse) in parsers {
            let original = Array(try ProcFixtures.text(release, name).utf8.prefix(4000))
            for _ in 0..<150 {
                var bytes = original
                for _ in 0...next(4) {
                    let at = next(bytes.count)
                    switch next(3) {
                    case 0: bytes[at] = alphabet[next(alphabet.count)]
                    case 1: bytes.remove(at: at)
                    default: bytes.removeSubrange(at..<min(bytes.count, at + next(30)))
                    }
                    if bytes.isEmpty { break }
                }
                do { try parse(String(decoding: bytes, as: UTF8.self)) } catch {
                    guard case .malformed(let source, let line, _) = error, !source.isEmpty, line >= 0 else {
                        Issue.record("\(name): \(error)")
                        continue
                    }
                    failures += 1
                }
            }
        }
        #expect(failures > 100, "the damage is mostly noticed (\(failures) of \(parsers.count * 150))")
    }
}

@Suite struct ObserveFileReadTests {
    private func temporaryDirectory() throws -> String {
        var template = Array("/tmp/daxref-observe-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: try #require(made))
    }

    @Test func readsWholeFilesLargerThanOneBuffer() throws {
        let directory = try temporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        for size in [0, 1, 65_535, 65_536, 65_537, 300_001] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let path = directory + "/f\(size)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try ObserverError.readBytes(path) == bytes, "\(size) bytes")
            #expect(try SystemFile.readBytes(FilePath(path)) == bytes)
        }
        #expect(throws: ObserverError.unreadable(path: directory + "/none", .noSuchFileOrDirectory)) {
            try ObserverError.readBytes(directory + "/none")
        }
    }

    @Test func sysfsAttributesPresentAbsentAndUnreadable() throws {
        let directory = try temporaryDirectory()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        try Data("2097152\n".utf8).write(to: URL(fileURLWithPath: directory + "/align"))
        try FileManager.default.createDirectory(atPath: directory + "/size", withIntermediateDirectories: false)
        let object = try SysfsObject.read(FilePath(directory), names: ["align", "size", "resource"])
        #expect(object.attributes == ["align": "2097152"])
        #expect(object.unreadable == ["size": Errno.isDirectory.description], "a read that fails says why")
        #expect(throws: ObserverError.self) { try SysfsObject.read(FilePath(directory + "/none"), names: ["align"]) }
    }
}
