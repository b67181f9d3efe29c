import Foundation
import Testing

@testable import DaxrefKit

/// The observer parsers on raw files recorded in real guests by `daxref capture-proc-fixtures`
/// (Fixtures/proc/<kernel release>/, see the README there). Beyond "it parses", each test checks the
/// values the kernel actually showed for DAX memory, which differ by era (reference §5).
enum ProcFixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/proc")

    /// Kernel releases with a captured fixture set, oldest first.
    static let releases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
        .filter { FileManager.default.fileExists(atPath: root.appendingPathComponent($0 + "/mappings.txt").path) }
        .sorted { $0.compare($1, options: .numeric) == .orderedAscending }

    static func text(_ release: String, _ name: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(release + "/" + name), encoding: .utf8)
    }

    static func bytes(_ release: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(release + "/" + name)))
    }

    static func exists(_ release: String, _ name: String) -> Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent(release + "/" + name).path)
    }

    /// The era boundary the reference draws (6.15: fsdax refcount rework, DAX pages get rmap).
    static func isNewEra(_ release: String) -> Bool {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 && (parts[0], parts[1]) >= (6, 15)
    }

    /// One row of mappings.txt: what the capture mapped, where, and which PFN run it saved.
    struct Mapping {
        var name: String
        var address: UInt64
        var length: Int
        var firstPFN: UInt64
        var pfnWords: Int
        /// Entries saved in pagemap-<name>.bin (the first ones of the mapping).
        var pagemapPages: Int
        var path: String

        var range: Range<UInt64> { address..<address + UInt64(length) }
        var isDeviceDax: Bool { name.hasPrefix("devdax-") }
        var isFileDax: Bool { name.hasPrefix("fsdax-") }
    }

    /// A sysfs object as the capture copied it (sysfs/<path>/<attribute>).
    static func sysfsObject(_ release: String, _ path: String) throws -> SysfsObject {
        let directory = root.appendingPathComponent(release + "/sysfs/" + path)
        var attributes: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            attributes[name] = try text(release, "sysfs/\(path)/\(name)").trimmingCharacters(in: .newlines)
        }
        return SysfsObject(path: "/sys/" + path, attributes: attributes)
    }

    static func mappings(_ release: String) throws -> [Mapping] {
        try text(release, "mappings.txt").split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let fields = line.split(separator: " ", maxSplits: 6)
            return Mapping(
                name: String(fields[0]), address: UInt64(fields[1].dropFirst(2), radix: 16)!, length: Int(fields[2])!,
                firstPFN: UInt64(fields[3].dropFirst(2), radix: 16)!, pfnWords: Int(fields[4])!,
                pagemapPages: Int(fields[5])!, path: String(fields[6]))
        }
    }
}

@Suite struct ObserveFixtureTests {
    @Test func fixturesFromBothErasArePresent() {
        #expect(ProcFixtures.releases.contains { !ProcFixtures.isNewEra($0) }, "no fixture from an old-era (6.1) kernel")
        #expect(ProcFixtures.releases.contains { ProcFixtures.isNewEra($0) }, "no fixture from a new-era (7.x) kernel")
    }

    @Test(arguments: ProcFixtures.releases)
    func smapsHasEveryMappingWithItsFields(_ release: String) throws {
        let vmas = try Smaps.parse(try ProcFixtures.text(release, "smaps"))
        let maps = try ProcMaps.parse(try ProcFixtures.text(release, "maps"))
        for mapping in try ProcFixtures.mappings(release) {
            let inRange = Smaps.overlapping(vmas, mapping.range)
            #expect(inRange.count == 1, "\(release) \(mapping.name): \(inRange.count) VMAs")
            guard let vma = inRange.first else { continue }
            // Anonymous memory may merge with a neighbouring VMA; a DAX mapping is its own VMA.
            let covers = { (range: Range<UInt64>) in range.lowerBound <= mapping.address && range.upperBound >= mapping.range.upperBound }
            #expect(covers(vma.header.range), "\(release) \(mapping.name)")
            #expect(maps.contains { covers($0.range) }, "\(release) \(mapping.name) not in maps")
            if mapping.isDeviceDax || mapping.isFileDax {
                #expect(vma.header.range == mapping.range, "\(release) \(mapping.name)")
                #expect(vma["Size"] == Int64(mapping.length / 1024))
            }
            for field in ["Rss", "Pss", "KernelPageSize", "MMUPageSize", "FilePmdMapped", "THPeligible"] {
                #expect(vma.fields[field] != nil, "\(release) \(mapping.name) lacks \(field)")
            }
            if mapping.isDeviceDax || mapping.isFileDax {
                #expect(vma["THPeligible"] == 0, "\(release) \(mapping.name): DAX VMAs are never THP-eligible")
                #expect(vma["FilePmdMapped"] == 0, "\(release) \(mapping.name): ZONE_DEVICE is never FilePmdMapped")
                #expect(vma.header.isShared)
            }
        }
        let rollup = try Smaps.parseRollup(try ProcFixtures.text(release, "smaps_rollup"))
        #expect(rollup.header.path == "[rollup]")
        #expect((rollup["Rss"] ?? 0) > 0)
    }

    @Test(arguments: ProcFixtures.releases)
    func pagemapAndKernelPageFilesDecode(_ release: String) throws {
        for mapping in try ProcFixtures.mappings(release) {
            let pagemap = try Pagemap.decode(
                try ProcFixtures.bytes(release, "pagemap-\(mapping.name).bin"), startAddress: mapping.address, pageSize: 4096)
            #expect(pagemap.entries.count == mapping.pagemapPages)
            guard mapping.pfnWords > 0 else { continue }
            #expect(pagemap.present == pagemap.entries.count, "\(release) \(mapping.name): every page was written")
            #expect(!pagemap.pfnsHidden, "captured as root")
            for file in ["kpageflags", "kpagecount"] {
                let words = try KernelPageFile.decode(
                    try ProcFixtures.bytes(release, "\(file)-\(mapping.name).bin"), firstPFN: mapping.firstPFN, requested: mapping.pfnWords)
                #expect(words.count == mapping.pfnWords)
                #expect(words.first?.pfn == mapping.firstPFN)
            }
        }
    }

    @Test(arguments: ProcFixtures.releases)
    func countersStatusAndNumaMapsParse(_ release: String) throws {
        let before = try VMStat.parse(try ProcFixtures.text(release, "vmstat-before"))
        let after = try VMStat.parse(try ProcFixtures.text(release, "vmstat-after-touch"))
        #expect(before["nr_foll_pin_acquired"] != nil)
        #expect(before["thp_split_pud"] != nil)
        #expect(Set(before.keys) == Set(after.keys))
        let meminfo = try MemInfo.parse(try ProcFixtures.text(release, "meminfo-after-touch"))
        #expect(meminfo["Mapped"]?.unit == .kilobytes)
        #expect(meminfo["HugePages_Total"]?.unit == ProcQuantity.Unit.none)
        let status = try ProcStatus.parse(try ProcFixtures.text(release, "status"))
        #expect(status.kilobytes["RssFile"] != nil)
        #expect(status.kilobytes["VmRSS"] != nil)
        let numaMaps = try NumaMaps.parse(try ProcFixtures.text(release, "numa_maps"))
        let maps = try ProcMaps.parse(try ProcFixtures.text(release, "maps"))
        for mapping in try ProcFixtures.mappings(release) {
            #expect(NumaMaps.overlapping(numaMaps, mapping.range, vmas: maps).count == 1, "\(release) \(mapping.name)")
        }
    }

    @Test(arguments: ProcFixtures.releases)
    func kernelLogAndTaskFilesParse(_ release: String) throws {
        let records = try KernelLogRecord.parseDump(try ProcFixtures.text(release, "kmsg.txt"))
        #expect(!records.isEmpty)
        #expect(zip(records, records.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        for directory in ["truncate-ext4-mapped", "truncate-xfs-mapped", "truncate-ext4-unmapped", "truncate-xfs-unmapped"]
        where ProcFixtures.exists(release, directory + "/stat") {
            let state = try TaskWait.parseStatState(try ProcFixtures.text(release, directory + "/stat"))
            #expect(["S", "D"].contains(state), "\(release) \(directory): a blocked truncate sleeps, state \(state)")
            #expect(!TaskWait.parseStack(try ProcFixtures.text(release, directory + "/stack")).isEmpty)
        }
    }

    @Test(arguments: ProcFixtures.releases)
    func everyKeyARealKernelProducesIsCatalogued(_ release: String) throws {
        var observed = Smaps.observations(of: try Smaps.parse(try ProcFixtures.text(release, "smaps")))
        observed.merge(Smaps.rollupObservations(of: try Smaps.parseRollup(try ProcFixtures.text(release, "smaps_rollup"))))
        observed.merge(VMStat.observations(try VMStat.parse(try ProcFixtures.text(release, "vmstat-after-touch"))))
        observed.merge(MemInfo.observations(try MemInfo.parse(try ProcFixtures.text(release, "meminfo-after-touch"))))
        observed.merge(try ProcStatus.parse(try ProcFixtures.text(release, "status")).observations)
        observed.merge(NumaMaps.observations(of: try NumaMaps.parse(try ProcFixtures.text(release, "numa_maps"))))
        observed.merge(KernelLogFindings.scan(try KernelLogRecord.parseDump(try ProcFixtures.text(release, "kmsg.txt"))).observations)
        let node = "sysfs/devices/system/node/node0/"
        observed.merge(NodeSysfs.observations(
            node: 0, meminfo: try MemInfo.parse(try ProcFixtures.text(release, node + "meminfo")),
            vmstat: try VMStat.parse(try ProcFixtures.text(release, node + "vmstat"))))
        #expect(observed.values.count > 300)
        for key in observed.values.keys {
            #expect(ObservableCatalogue.describe(key) != nil, "\(release): \(key) is not in the catalogue")
        }
    }

    @Test(arguments: ProcFixtures.releases)
    func sysfsAttributesAreTyped(_ release: String) throws {
        let daxRoot = ProcFixtures.root.appendingPathComponent(release + "/sysfs/bus/dax/devices")
        let devices = try FileManager.default.contentsOfDirectory(atPath: daxRoot.path)
        #expect(!devices.isEmpty)
        let mappings = try ProcFixtures.mappings(release)
        for device in devices {
            let observed = DaxDeviceSysfs.observations(try ProcFixtures.sysfsObject(release, "bus/dax/devices/" + device))
            for key in ObservableCatalogue.concreteKeys(under: "sysfs.dax.") {
                if case .unavailable(let why)? = observed[key] { Issue.record("\(release) \(device) \(key): \(why)") }
            }
            guard case .integer(let align)? = observed["sysfs.dax.align"], case .integer(let resource)? = observed["sysfs.dax.resource"]
            else { continue }
            #expect([4096, 2 << 20, 1 << 30].contains(align))
            // The device's first page is the first PFN its mapping showed in pagemap.
            if let mapping = mappings.first(where: { $0.path == "/dev/" + device }), mapping.pfnWords > 0 {
                #expect(UInt64(resource) / 4096 == mapping.firstPFN, "\(release) \(device)")
            }
        }
        // Provisioned namespaces: kernel mode "memory" (fsdax, held by pfnX.Y) or "dax" (held by daxX.Y),
        // memmap on the pmem itself (holder mode "pmem", ndctl's default --map=dev).
        let ndRoot = ProcFixtures.root.appendingPathComponent(release + "/sysfs/bus/nd/devices")
        var checked = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: ndRoot.path) where name.hasPrefix("namespace") {
            let namespace = try ProcFixtures.sysfsObject(release, "bus/nd/devices/" + name)
            guard let holderName = namespace.attributes["holder"], !holderName.isEmpty else { continue }
            let observed = NamespaceSysfs.observations(namespace: namespace, holder: try ProcFixtures.sysfsObject(release, "bus/nd/devices/" + holderName))
            let mode = observed["sysfs.namespace.mode"]
            #expect(mode == .text(holderName.hasPrefix("pfn") ? "memory" : "dax"), "\(release) \(name)")
            #expect(observed["sysfs.namespace.holder_mode"] == .text("pmem"), "\(release) \(name)")
            if case .integer(let align)? = observed["sysfs.namespace.align"] { #expect([4096, 2 << 20, 1 << 30].contains(align)) } else {
                Issue.record("\(release) \(name): no holder align")
            }
            checked += 1
        }
        #expect(checked > 0)
        let node = try MemInfo.parse(try ProcFixtures.text(release, "sysfs/devices/system/node/node0/meminfo"), source: "node0/meminfo")
        #expect(node["MemTotal"] != nil)
        _ = try VMStat.parse(try ProcFixtures.text(release, "sysfs/devices/system/node/node0/vmstat"))
    }
}

/// What the two eras showed for the same workload (devdax 4K and 2M, fsdax ext4 and xfs, 4 MiB
/// each, every page written; a 1 GiB devdax in the -pud sets). These pin the reference's §5 and §9
/// to observed values on Debian 6.1.0-50 (6.1.176) and 7.2.13 guests (QEMU TCG, NFIT nvdimm).
@Suite struct ObserveEraFixtureTests {
    static let dax = ProcFixtures.releases.filter { !$0.hasSuffix("-pud") }
    static let pud = ProcFixtures.releases.filter { $0.hasSuffix("-pud") }

    private func vma(_ release: String, _ name: String) throws -> SmapsVMA? {
        let mapping = try ProcFixtures.mappings(release).first { $0.name == name }
        guard let mapping else { return nil }
        return Smaps.overlapping(try Smaps.parse(try ProcFixtures.text(release, "smaps")), mapping.range).first
    }

    private func pagemap(_ release: String, _ name: String) throws -> PagemapRange {
        let mapping = try #require(try ProcFixtures.mappings(release).first { $0.name == name })
        return try Pagemap.decode(try ProcFixtures.bytes(release, "pagemap-\(name).bin"), startAddress: mapping.address, pageSize: 4096)
    }

    @Test(arguments: dax)
    func smapsRssOfDAXMappings(_ release: String) throws {
        let newEra = ProcFixtures.isNewEra(release)
        // 4 MiB each. Old era: PTE-mapped DAX is invisible; a PMD counts the compound page for
        // devdax (2048 kB) but one 4 kB page for fsdax's order-0 pages. New era: all resident.
        let expected: [String: Int64] = newEra
            ? ["devdax-4k": 4096, "devdax-2m": 4096, "fsdax-ext4": 4096, "fsdax-xfs": 4096]
            : ["devdax-4k": 0, "devdax-2m": 4096, "fsdax-ext4": 8, "fsdax-xfs": 8]
        for (name, rss) in expected {
            let vma = try #require(try vma(release, name), "\(release) \(name)")
            #expect(vma["Rss"] == rss, "\(release) \(name)")
            #expect(vma.vmFlags.contains("hg"), "DAX mmap sets VM_HUGEPAGE")
        }
        #expect(try vma(release, "devdax-2m")?["KernelPageSize"] == 2048, "device-dax page size is the device align")
    }

    @Test(arguments: dax)
    func pagemapFileAndExclusiveBits(_ release: String) throws {
        let newEra = ProcFixtures.isNewEra(release)
        for name in ["devdax-4k", "devdax-2m", "fsdax-ext4", "fsdax-xfs"] {
            let range = try pagemap(release, name)
            #expect(range.present == 1024, "\(release) \(name)")
            // Old era: PTE-mapped DAX has no struct-page flags (vm_normal_page is NULL); PMDs report
            // PM_FILE via pmd_page. Nothing is ever exclusive without rmap. New era: FILE and EXCLUSIVE.
            let file = newEra || name != "devdax-4k"
            #expect(range.fileOrSharedAnon == (file ? 1024 : 0), "\(release) \(name)")
            #expect(range.exclusive == (newEra ? 1024 : 0), "\(release) \(name)")
        }
        #expect(try pagemap(release, "anon").exclusive == 256, "the control is exclusive in both eras")
    }

    @Test(arguments: ProcFixtures.releases)
    func kernelPageFilesEndBeforePmem(_ release: String) throws {
        // The emulated NVDIMM sits above the top of RAM, so every pmem PFN reads EOF in both eras
        // (neither NOPAGE nor 0); the anonymous control's RAM PFNs read real words.
        for mapping in try ProcFixtures.mappings(release) where mapping.pfnWords > 0 {
            let words = try KernelPageFile.decode(
                try ProcFixtures.bytes(release, "kpageflags-\(mapping.name).bin"), firstPFN: mapping.firstPFN, requested: mapping.pfnWords)
            let readings = KernelPageReadings(pfns: words.map { $0.pfn }, counts: words.map { $0.word }, flags: words.map { $0.word })
            if mapping.name == "anon" {
                #expect(readings.observations["kpageflags.eof"] == .integer(0))
                // The saved run spans first...last PFN; the pages pagemap named in it are ours.
                let flagsByPFN = Dictionary(uniqueKeysWithValues: words.map { ($0.pfn, KernelPageFlags(rawValue: $0.word.value ?? 0)) })
                let ours = try Pagemap.decode(try ProcFixtures.bytes(release, "pagemap-anon.bin"), startAddress: 0, pageSize: 4096).pfns
                    .compactMap { flagsByPFN[$0] }
                #expect(!ours.isEmpty)
                #expect(ours.allSatisfy { $0.flagNames.contains("ANON") && $0.flagNames.contains("MMAP") }, "\(release): \(Set(ours.map(\.description)))")
            } else {
                #expect(readings.observations["kpageflags.eof"] == .integer(Int64(mapping.pfnWords)), "\(release) \(mapping.name)")
            }
        }
    }

    @Test(arguments: ProcFixtures.releases)
    func pfnWithoutMemmapIsNoPageThenZero(_ release: String) throws {
        // kpage-probes.txt: "<pfn> <file> <bytes read> <hex value>". PFN 0x80000 starts the first
        // memory section of the 2-4 GiB PCI hole: no memmap, below max_pfn.
        let probes = try ProcFixtures.text(release, "kpage-probes.txt").split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: " ") }
        let hole = try #require(probes.first { $0[0] == "524288" && $0[1] == "kpageflags" })
        let flags = KernelPageFlags(rawValue: try #require(UInt64(hole[3].dropFirst(2), radix: 16)))
        #expect(flags.isNoPage == !ProcFixtures.isNewEra(release), "\(release): \(flags)")
        #expect(flags.rawValue == 0 || flags.isNoPage)
        let beyond = try #require(probes.first { $0[0] == "68719476736" && $0[1] == "kpageflags" })
        #expect(beyond[2] == "0", "reads past round_up(max_pfn, section) return EOF")
    }

    @Test(arguments: dax)
    func globalCountersCountDAXOnlyInTheNewEra(_ release: String) throws {
        let newEra = ProcFixtures.isNewEra(release)
        let before = MemInfo.observations(try MemInfo.parse(try ProcFixtures.text(release, "meminfo-before")))
        let after = MemInfo.observations(try MemInfo.parse(try ProcFixtures.text(release, "meminfo-after-touch")))
        let deltas = after.deltas(since: before)
        // Six PMD maps (devdax-2m ×2, ext4 ×2, xfs ×2) of 2 MiB in the new era; nothing before.
        #expect(deltas["meminfo.FilePmdMapped.delta"] == .integer(newEra ? 12288 : 0))
        guard case .integer(let mapped)? = deltas["meminfo.Mapped.delta"] else { throw ObserverError.malformed(source: "meminfo", line: 0, reason: "no Mapped") }
        #expect(newEra ? mapped >= 16384 : mapped < 4096, "\(release): Mapped grew by \(mapped) kB for 16 MiB of DAX")
        let vmstat = try VMStat.parse(try ProcFixtures.text(release, "vmstat-after-touch"))
        #expect(vmstat["nr_file_pmdmapped"] == (newEra ? 6 : 0), "printed in PMD-sized units, not pages")
        #expect((vmstat["nr_memmap_pages"] != nil) == newEra, "nr_memmap_pages exists from 6.11")
        let numaMaps = try NumaMaps.parse(try ProcFixtures.text(release, "numa_maps"))
        let maps = try ProcMaps.parse(try ProcFixtures.text(release, "maps"))
        for mapping in try ProcFixtures.mappings(release) where mapping.isDeviceDax || mapping.isFileDax {
            let entries = NumaMaps.overlapping(numaMaps, mapping.range, vmas: maps)
            #expect(entries.map(\.pages) == [0], "\(release) \(mapping.name): DAX pages are never in numa_maps")
        }
    }

    @Test(arguments: dax)
    func blockedTruncateSleepsWhereTheEraSays(_ release: String) throws {
        let newEra = ProcFixtures.isNewEra(release)
        let expected = newEra
            ? ["ext4": "ext4_wait_dax_page", "xfs": "xfs_wait_dax_page"]
            : ["ext4": "ext4_break_layouts", "xfs": "xfs_break_dax_layouts"]
        for (fs, wchan) in expected {
            #expect(try ProcFixtures.text(release, "truncate-\(fs)-mapped/wchan") == wchan)
            let stack = TaskWait.parseStack(try ProcFixtures.text(release, "truncate-\(fs)-mapped/stack"))
            #expect(stack.first?.hasPrefix(wchan + "+") == true, "\(release) \(fs): \(stack)")
            // B1: with the file unmapped, the old era does not wait for the page the pipe holds.
            #expect(ProcFixtures.exists(release, "truncate-\(fs)-unmapped/wchan") == newEra, "\(release) \(fs)")
        }
        let findings = KernelLogFindings.scan(try KernelLogRecord.parseDump(try ProcFixtures.text(release, "kmsg.txt")))
        // WARN_ON_ONCE: one warning for the first unmapped truncate (ext4), none for xfs.
        #expect(findings.warnings == (newEra ? [] : ["fs/dax.c:398 dax_disassociate_entry"]), "\(release)")
        #expect(findings.bugs.isEmpty && findings.oopses.isEmpty)
        #expect(findings.lines.contains { $0.contains("attempted private mapping") }, "MAP_PRIVATE on devdax is refused and logged")
    }

    @Test(arguments: pud)
    func anyPageWalkZapsA1GiBMapping(_ release: String) throws {
        let mapping = try #require(try ProcFixtures.mappings(release).first { $0.name == "devdax-1g" })
        #expect(try pagemap(release, "devdax-1g").present == 0, "pagemap's own walk split the PUD before reading it")
        let touched = try VMStat.parse(try ProcFixtures.text(release, "vmstat-after-touch"))
        let walked = try VMStat.parse(try ProcFixtures.text(release, "vmstat-after-walks"))
        #expect(walked["thp_split_pud"]! - touched["thp_split_pud"]! == 1, "one split; later walks find nothing to split")
        let vma = try #require(Smaps.overlapping(try Smaps.parse(try ProcFixtures.text(release, "smaps")), mapping.range).first)
        #expect(vma["Rss"] == 0)
        #expect(vma["KernelPageSize"] == 1_048_576)
        // status was read after the touch and before the walks: only the new era counts the PUD in RssFile,
        // (other file pages come and go meanwhile, hence the 1024-page tolerance)
        // and only the new era takes it out of nr_mapped again when the walk zaps it.
        let rssFile = try #require(try ProcStatus.parse(try ProcFixtures.text(release, "status")).kilobytes["RssFile"])
        let mappedDrop = touched["nr_mapped"]! - walked["nr_mapped"]!
        if ProcFixtures.isNewEra(release) {
            #expect(rssFile >= 1_048_576)
            #expect(mappedDrop > 262_144 - 1024, "\(release): nr_mapped fell by \(mappedDrop) pages")
        } else {
            #expect(rssFile < 1_048_576)
            #expect(mappedDrop < 1024, "\(release): nr_mapped fell by \(mappedDrop) pages")
        }
    }
}

/// `Snapshot.take` run in the guests on the same mappings (snapshot-<mapping>.json, written after
/// the capture's own walks): the key contract end to end on real DAX memory.
@Suite struct ObserveSnapshotFixtureTests {
    private func observations(_ release: String, _ name: String) throws -> Observations {
        try JSONDecoder().decode(Observations.self, from: Data(try ProcFixtures.bytes(release, "snapshot-\(name).json")))
    }

    @Test(arguments: ObserveEraFixtureTests.dax)
    func snapshotsAgreeWithTheRawFiles(_ release: String) throws {
        let newEra = ProcFixtures.isNewEra(release)
        let devdax4k = try observations(release, "devdax-4k")
        #expect(devdax4k["smaps.Rss"] == .integer(newEra ? 4096 : 0))
        #expect(devdax4k["pagemap.present"] == .integer(1024))
        #expect(devdax4k["pagemap.file"] == .integer(newEra ? 1024 : 0))
        #expect(devdax4k["pagemap.exclusive"] == .integer(newEra ? 1024 : 0))
        #expect(devdax4k["kpageflags.eof"] == .integer(1024), "NVDIMM PFNs are beyond the end of /proc/kpageflags")
        #expect(devdax4k["sysfs.dax.align"] == .integer(4096))
        #expect(devdax4k["sysfs.namespace.mode"] == .text("dax"))
        #expect(devdax4k["sysfs.namespace.holder_mode"] == .text("pmem"))
        #expect(devdax4k["numa_maps.pages"] == .integer(0))
        #expect(devdax4k["snapshot.walk_split_pud"] == .integer(0))
        #expect(devdax4k["snapshot.page_walks"] == .list(["pagemap", "smaps", "smaps_rollup", "numa_maps"].map(ObservedValue.text)))
        if newEra {
            if case .integer? = devdax4k["vmstat.nr_memmap_pages"] {} else { Issue.record("\(release): nr_memmap_pages missing") }
        } else {
            #expect(devdax4k["vmstat.nr_memmap_pages"] == .unavailable("not in what the kernel printed"), "absent on 6.1, said so")
        }
        let ext4 = try observations(release, "fsdax-ext4")
        #expect(ext4["smaps.Rss"] == .integer(newEra ? 4096 : 8))
        #expect(ext4["sysfs.namespace.mode"] == .text("memory"))
        if case .integer(let pages)? = ext4["sysfs.node.vmstat.nr_mapped"] { #expect(pages > 0) } else { Issue.record("\(release): node vmstat missing") }
        for name in ["devdax-4k", "devdax-2m", "fsdax-ext4", "fsdax-xfs", "anon"] {
            for key in try observations(release, name).values.keys {
                #expect(ObservableCatalogue.describe(key) != nil, "\(release) \(name): \(key)")
            }
        }
    }

    @Test(arguments: ObserveEraFixtureTests.pud)
    func aSnapshotOfA1GiBMappingFindsItAlreadyZapped(_ release: String) throws {
        let observed = try observations(release, "devdax-1g")
        #expect(observed["pagemap.pages"] == .integer(262_144))
        #expect(observed["pagemap.present"] == .integer(0))
        #expect(observed["smaps.KernelPageSize"] == .integer(1_048_576))
        #expect(observed["snapshot.walk_split_pud"] == .integer(0), "the capture's earlier walk already split it")
        #expect(observed["kpagecount.values"] == .list([]), "no present page, no PFN to look up")
        #expect(observed["kpageflags.nopage"] == .integer(0))
    }
}
