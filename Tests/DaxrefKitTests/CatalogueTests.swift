import Foundation
import Testing

@testable import DaxrefKit

/// The observables as declared: each fixed key documented once, families that cover what the
/// kernel prints, and the keys snapshots always record staying exactly what reports published.
@Suite struct ObservableDeclarationTests {
    @Test func everyFixedKeyIsDottedAndDocumentedAsItself() {
        for observable in Observable.allCases {
            let documentation = observable.documentation
            #expect(documentation.key == observable.rawValue)
            #expect(!documentation.isFamily && observable.rawValue.contains("."), "\(observable.rawValue)")
            #expect(!documentation.source.isEmpty && !documentation.meaning.isEmpty, "\(observable.rawValue)")
            #expect(ObservableCatalogue.describe(observable.key) == documentation, "\(observable.rawValue) is described by its own entry")
            #expect(ObservableCatalogue.describe(observable.key.delta) == documentation, "a delta is described by its base key")
        }
    }

    @Test func everyFamilyDescribesItsMembers() {
        for family in ObservableFamily.allCases {
            #expect(family.documentation.isFamily, "\(family.rawValue)")
            let member = family.key(family == .numaMapsNode ? "3" : "member_x")
            #expect(!member.rawValue.contains("<"))
            #expect(ObservableCatalogue.describe(member)?.key == family.rawValue, "\(member)")
        }
        #expect(ObservableCatalogue.describe("kprobe.nonsense") == nil)
        #expect(ObservableCatalogue.describe("syscall.munmap.nonsense") == nil)
        #expect(ObservableCatalogue.describe("pipe.bogus") == nil)
        #expect(ObservableCatalogue.describe("vmstat.a.b") == nil, "a placeholder is one component")
    }

    /// A snapshot records every fixed key of a source it read (as unavailable when the kernel did
    /// not print it), so adding one changes every report: these are the published ones.
    @Test func theKeysSnapshotsAlwaysRecordAreThePublishedOnes() {
        let prefixes = ["vmstat.", "meminfo.", "status.", "task.", "pagemap.", "kpage", "dmesg.", "numa_maps.", "smaps_rollup."]
        let recorded = prefixes.map { prefix in ObservableCatalogue.concreteKeys(under: prefix).map(\.rawValue).joined(separator: " ") }
        #expect(recorded == [
            "vmstat.nr_foll_pin_acquired vmstat.nr_foll_pin_released vmstat.nr_memmap_pages vmstat.nr_mapped vmstat.nr_file_pmdmapped vmstat.thp_split_pud vmstat.thp_split_pmd",
            "meminfo.Mapped meminfo.FilePmdMapped meminfo.Mlocked meminfo.MemFree",
            "status.VmRSS status.RssAnon status.RssFile status.RssShmem",
            "task.wchan task.state task.stack",
            "pagemap.pages pagemap.present pagemap.swapped pagemap.file pagemap.exclusive pagemap.soft_dirty pagemap.uffd_wp pagemap.guard pagemap.pfns",
            "kpagecount.values kpagecount.eof kpagecount.errors kpagecount.nonzero kpageflags.values kpageflags.nopage kpageflags.zero kpageflags.eof kpageflags.errors kpageflags.union",
            "dmesg.warnings dmesg.bugs dmesg.oopses dmesg.lines dmesg.lost",
            "numa_maps.vmas numa_maps.pages numa_maps.policy numa_maps.kernelpagesize_kB",
            "smaps_rollup.Rss smaps_rollup.Pss smaps_rollup.FilePmdMapped",
        ])
        #expect(ObservableCatalogue.concreteKeys(under: "smaps.").count == 19)
        #expect(ObservableCatalogue.concreteKeys(under: "sysfs.").count == 15)
    }

    @Test func everySyscallAStepNamesHasItsSecondaryKeysDescribed() {
        for call in Syscall.allCases {
            #expect(ObservableCatalogue.describe(call.errnoKey)?.key == "syscall.<name>.errno", "\(call)")
            #expect(ObservableCatalogue.describe(call.resultKey)?.key == "syscall.<name>.result", "\(call)")
            #expect(ObservableCatalogue.describe(call.durationKey)?.key == "syscall.<name>.duration.us", "\(call)")
        }
        #expect(Syscall.ioUringUnregister.errnoKey == "syscall.io_uring_unregister.errno")
    }

    @Test func timelineMomentsAreTheKeysTheSessionRecords() {
        for moment in TimelineWorkload.Moment.allCases {
            // The session names its captures by moment; the rules read the typed key: the same string.
            #expect(moment.refcount.key == KprobeObservations.refcountKey(moment.rawValue))
            #expect(moment.pincount == KprobeObservations.pincountKey(moment.rawValue))
            #expect(ObservableCatalogue.describe(moment.refcount.key)?.isFamily == false, "\(moment) is documented one by one")
        }
        for key in KprobeObservations.sessionKeys + ["kprobe.available"] {
            #expect(Observable(rawValue: key.rawValue) != nil, "\(key) is a declared key")
        }
    }
}

/// The fixtures and what is derived from them.
@Suite struct FixtureTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func idsNamesAndGroups() {
        // Published IDs keep their place; fixtures are added after them.
        #expect(MemoryFixture.allCases.map(\.rawValue).prefix(8) == [
            "devdax.4k", "devdax.2m", "devdax.1g", "fsdax.ext4", "fsdax.xfs", "anon.private", "pagecache.tmpfs", "fsdax.2m",
        ])
        #expect(MemoryFixture.allCases.compactMap(\.name) == ["devdax4k", "devdax2m", "devdax1g", "ext4", "xfs", "anon", "pagecache"])
        #expect(Drive.backingNames == ["devdax4k", "devdax2m", "devdax1g", "ext4", "xfs", "anon", "pagecache"])
        #expect(MemoryFixture.allCases.compactMap(\.provisionWord) == ["devdax4k", "devdax2m", "devdax1g", "ext4", "xfs"])
        #expect(MemoryFixture.allCases.compactMap(\.provisionedVariable) == [
            "DAXREF_DEVDAX_4K", "DAXREF_DEVDAX_2M", "DAXREF_DEVDAX_1G", "DAXREF_FSDAX_EXT4", "DAXREF_FSDAX_XFS",
        ])
        #expect(MemoryFixture.walkableDAX == [.devdax(.align4k), .devdax(.align2m), .fsdax(.ext4), .fsdax(.xfs)])
        #expect(MemoryFixture.controls == [.anonymous, .pageCache])
        #expect(MemoryFixture.allCases.filter(\.hasFile) == [.fsdax(.ext4), .fsdax(.xfs), .pageCache])
        #expect(!MemoryFixture.fsdaxNamespace(.align2m).isMapped && MemoryFixture.fsdaxNamespace(.align2m).namespaceTarget(map: .dev)?.mode == .fsdax)
        for fixture in MemoryFixture.allCases { #expect(MemoryFixture(rawValue: fixture.rawValue) == fixture) }
        #expect(MemoryFixture(rawValue: "devdax.12k") == nil)
    }

    /// The VM's provisioning is a shell script: every word a fixture derives must be one it takes,
    /// and it must write the variable the fixture derives.
    @Test func guestProvisioningKnowsEveryProvisionWord() throws {
        let script = try String(contentsOf: Self.repository.appendingPathComponent("scripts/vm/guest-provision.sh"), encoding: .utf8)
        for fixture in MemoryFixture.allCases {
            guard let word = fixture.provisionWord, let variable = fixture.provisionedVariable else { continue }
            #expect(script.contains("wants \(word) &&"), "guest-provision.sh does not provision \(word)")
            switch fixture {
            case .devdax: #expect(script.contains("devdax \(word) ") && script.contains(variable), "\(variable)")
            default: #expect(script.contains("DAXREF_FSDAX_$up") && word.uppercased() == variable.split(separator: "_").last!, "\(variable)")
            }
        }
        for word in VMRunner.Options(command: [], progress: Progress(quiet: true)).provision {
            #expect(script.contains("wants \(word)"), "the VM's default provisioning names \(word)")
        }
    }

    /// Reports and step requests keep the backing's JSON as it was.
    @Test func backingJSONIsUnchanged() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let devdax = Backing.deviceDax(path: "/dev/dax0.1", align: .align2m)
        #expect(String(decoding: try encoder.encode(devdax), as: UTF8.self)
            == #"{"alignment":2097152,"id":"devdax.2m","kind":"devdax","path":"/dev/dax0.1"}"#)
        #expect(String(decoding: try encoder.encode(Backing.anonymous), as: UTF8.self) == #"{"alignment":2097152,"id":"anon.private","kind":"anonymous"}"#)
        for backing in [devdax, .anonymous, .pageCache(), .fsdax(mountpoint: "/mnt/daxref/xfs", filesystem: .xfs)] {
            #expect(try JSONDecoder().decode(Backing.self, from: encoder.encode(backing)) == backing)
        }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Backing.self, from: Data(#"{"id":"devdax.16k","kind":"devdax"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Backing.self, from: Data(#"{"id":"fsdax.2m","kind":"fsdax"}"#.utf8)) }
    }
}

/// The variants: each declares its checkpoints and keys, and the rules hold to them.
@Suite struct VariantCatalogueTests {
    static func rules(for workload: Workload) -> [Rule] { Rule.catalogue.filter { $0.workloads.contains(workload) } }

    /// Which keys a variant's checkpoints snapshot: every fixed key of the sources they read, and the kernel log.
    static func snapshots(_ key: ObservableKey, for variant: Variant) -> Bool {
        func prefix(_ source: SnapshotSource) -> String {
            switch source {
            case .pagemap: "pagemap."
            case .smaps: "smaps."
            case .smapsRollup: "smaps_rollup."
            case .numaMaps: "numa_maps."
            case .kernelPages: "kpage"
            case .vmstat: "vmstat."
            case .meminfo: "meminfo."
            case .status: "status."
            case .task: "task."
            case .sysfs: "sysfs."
            }
        }
        return key.rawValue.hasPrefix("dmesg.") || variant.snapshotSources.contains { key.rawValue.hasPrefix(prefix($0)) }
    }

    @Test(arguments: Workload.allCases)
    func everyCheckpointIsReadByARuleOrMarkedEvidence(_ workload: Workload) {
        let variant = workload.variant
        let rules = Self.rules(for: workload)
        let read = Set(rules.flatMap(\.site.checkpoints))
        let everywhere = rules.contains { if case .everyCheckpoint = $0.site { true } else { false } }
        for checkpoint in variant.checkpoints {
            if variant.evidenceOnly.contains(checkpoint) {
                #expect(!read.contains(checkpoint) && !everywhere, "\(workload): \(checkpoint) is read by a rule: it is not evidence only")
            } else {
                #expect(read.contains(checkpoint) || everywhere, "\(workload): no rule reads checkpoint \(checkpoint); mark it evidenceOnly or add the rule")
            }
        }
        #expect(variant.evidenceOnly.isSubset(of: variant.checkpoints), "\(workload)")
    }

    @Test(arguments: Workload.allCases)
    func everyKeyARuleReadsIsOneTheVariantRecords(_ workload: Workload) {
        let variant = workload.variant
        for rule in Self.rules(for: workload) {
            let key = rule.site.key
            switch rule.site {
            case .step:
                #expect(variant.records.contains(key), "\(rule.id) reads \(key), which \(workload) does not record")
            case .checkpoint, .change:
                #expect(Set(rule.site.checkpoints).isSubset(of: variant.checkpoints), "\(rule.id): \(workload) takes no \(rule.site.checkpoints)")
                #expect(Self.snapshots(key, for: variant), "\(rule.id) reads \(key), which \(workload)'s checkpoints do not snapshot")
            case .everyCheckpoint:
                #expect(!variant.checkpoints.isEmpty && Self.snapshots(key, for: variant), "\(rule.id): \(key) at \(workload)'s checkpoints")
            }
            #expect(!rule.memory.isDisjoint(with: variant.fixtures), "\(rule.id) names \(workload) on no fixture it runs on")
        }
    }

    @Test func variantsApplyToTheFixturesTheyNeed() {
        for workload in Workload.allCases {
            let variant = workload.variant
            switch variant.requirement {
            case .file: #expect(variant.fixtures.allSatisfy { $0.hasFile }, "\(workload)")
            case .spareNamespace: #expect(variant.fixtures.allSatisfy { $0.namespaceTarget(map: .mem) != nil } && variant.reconfiguresNamespace)
            default: #expect(variant.fixtures == MemoryFixture.allCases.filter(\.isMapped), "\(workload)")
            }
        }
    }

    /// Scenario IDs and their order are published (`run --list`, reports): never renamed or reordered.
    @Test func scenarioIDsAreThePublishedOnes() throws {
        let url = try #require(Bundle.module.url(forResource: "scenario-ids", withExtension: "txt", subdirectory: "Fixtures/catalogue"))
        let published = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ScenarioCatalogue.all.map(\.id) == published)
        #expect(Set(ScenarioCatalogue.retired).isDisjoint(with: published))
    }
}

/// Where `daxref run` gets its memory, and whether each scenario can run there.
@Suite struct StepPlanTests {
    static func guestInventory() throws -> Inventory { try SelectionTests.inventory() }

    @Test func withNothingNamedOnlyTheControlsRun() throws {
        let bare = try StepPlan.forRun(MemoryRequest(), environment: [:], inventory: nil, checkSpare: false, probe: SelectionTests.probe)
        #expect(bare.backings == [.anonymous, .pageCache()])
        #expect(bare.blockTarget == nil && bare.spareNamespace == nil)
        #expect(Set(bare.unavailable.keys) == Set(MemoryFixture.dax))
        #expect(bare.unavailable[.devdax(.align2m)] == "no device memory here; try `daxref vm -- run`")
        let withPmem = try StepPlan.forRun(MemoryRequest(), environment: [:], inventory: try Self.guestInventory(), checkSpare: false, probe: SelectionTests.probe)
        #expect(withPmem.unavailable[.fsdax(.xfs)]?.hasPrefix("hardware mode uses only the memory you name") == true)
        #expect(withPmem.step(for: Scenario(memory: .fsdax(.xfs), workload: .touchRead)) == .skip(withPmem.unavailable[.fsdax(.xfs)]!))
        #expect(withPmem.step(for: Scenario(memory: .devdax(.align2m), workload: .createNamespaceMapMem)) == .skip(StepPlan.spareNotNamed))
    }

    @Test func inAGuestEverythingProvisionedRunsWithItsSpare() throws {
        let environment = ["DAXREF_GUEST": "1", SpareNamespace.environmentKey: "namespace0.4"]
        let plan = try StepPlan.forRun(MemoryRequest(), environment: environment, inventory: try Self.guestInventory(), checkSpare: true,
                                       probe: SelectionTests.probe)
        #expect(plan.backings.map(\.id) == ["devdax.4k", "devdax.2m", "fsdax.ext4", "fsdax.xfs", "anon.private", "pagecache.tmpfs"])
        #expect(plan.unavailable == [.devdax(.align1g): "not provisioned in this VM (daxref vm --provision ...,devdax1g)"])
        #expect(plan.spareNamespace == "namespace0.4", "the VM's spare is disposable: no opt-in, and not checked")
        #expect(plan.step(for: Scenario(memory: .fsdax(.xfs), workload: .createNamespaceMapDev)) == .namespace)

        let noSpare = try StepPlan.forRun(MemoryRequest(), environment: ["DAXREF_GUEST": "1"], inventory: try Self.guestInventory(),
                                          checkSpare: true, probe: SelectionTests.probe)
        #expect(noSpare.spareNamespace == nil)
        #expect(noSpare.spareMissing.contains("no spare namespace provisioned in this VM"))
    }

    @Test func namedDevicesAreTheOnlyDeviceMemory() throws {
        let request = MemoryRequest(devdax: ["/dev/dax0.0"], fsdax: ["/mnt/daxref/xfs"])
        let plan = try StepPlan.forRun(request, environment: ["DAXREF_GUEST": "1"], inventory: try Self.guestInventory(), checkSpare: false,
                                       probe: SelectionTests.probe)
        #expect(plan.backings.map(\.id) == ["devdax.2m", "fsdax.xfs", "anon.private", "pagecache.tmpfs"])
        #expect(plan.unavailable[.devdax(.align4k)] == "not named (--devdax/--fsdax)" && plan.unavailable[.devdax(.align2m)] == nil)

        #expect(throws: PlanError.self) {
            try StepPlan.forRun(request, environment: [:], inventory: nil, checkSpare: false, probe: SelectionTests.probe)
        }
        let inventory = try Self.guestInventory()
        do throws(PlanError) {
            _ = try StepPlan.forRun(MemoryRequest(devdax: ["/dev/dax9.9"]), environment: [:], inventory: inventory, checkSpare: false,
                                    probe: SelectionTests.probe)
            Issue.record("an unknown device was accepted")
        } catch {
            guard case .refused(.notDeviceDax) = error else { Issue.record("\(error)"); return }
        }
    }

    @Test func aNamedSpareIsCheckedOnlyWhenNamespaceScenariosRun() throws {
        let missing = MockNamespaceHost([:])
        let request = MemoryRequest(allowReconfigure: "namespace0.0")
        let unchecked = try StepPlan.forRun(request, environment: [:], inventory: nil, checkSpare: false, probe: SelectionTests.probe,
                                            namespaceHost: missing)
        #expect(unchecked.spareNamespace == "namespace0.0" && missing.commands.isEmpty)
        do throws(PlanError) {
            _ = try StepPlan.forRun(request, environment: [:], inventory: nil, checkSpare: true, probe: SelectionTests.probe, namespaceHost: missing)
            Issue.record("a spare that does not exist was accepted")
        } catch {
            guard case .spare("namespace0.0", _) = error else { Issue.record("\(error)"); return }
            #expect(error.description.hasPrefix("--allow-reconfigure namespace0.0: "))
        }
        let fine = MockNamespaceHost.spare()
        _ = try StepPlan.forRun(request, environment: [:], inventory: nil, checkSpare: true, probe: SelectionTests.probe, namespaceHost: fine)
        #expect(fine.mutations.isEmpty, "checked, not touched")
    }

    @Test func eachScenarioIsPlannedInOnePlace() {
        var plan = StepPlan(backings: [.anonymous, .pageCache()], blockTarget: nil, stepTimeout: 7, blockWait: 0.5)
        guard case .helper(let request) = plan.step(for: Scenario(memory: .pageCache, workload: .truncateSpliced)) else {
            Issue.record("a page-cache truncate is not planned")
            return
        }
        #expect(request.id == "pagecache.tmpfs.truncate.vmsplice" && request.blockWait == 0.5 && request.length == StepRequest.defaultLength)
        guard case .skip(let noDisk) = plan.step(for: Scenario(memory: .anonymous, workload: .directRead)) else { Issue.record("odirect"); return }
        #expect(noDisk.contains("no non-DAX block device"))
        plan.blockTarget = BlockTarget(path: "/tmp", kind: .directory)
        guard case .helper = plan.step(for: Scenario(memory: .anonymous, workload: .directRead)) else { Issue.record("odirect"); return }
        #expect(plan.step(for: Scenario(memory: .devdax(.align4k), workload: .touchRead)) == .skip("no devdax.4k memory here"))
    }
}

/// Era knowledge lives in `Era`: its bounds come from the changes that open each era.
@Suite struct EraCatalogueTests {
    @Test func boundsComeFromTheOpeningChanges() {
        #expect(Era.plainReferences.versions.first == Era.oldestModelled)
        #expect(Era.plainReferences.versions.next == KernelVersion(6, 3))
        #expect(Era.devmapPins.versions.first == KernelVersion(6, 3) && Era.devmapPins.versions.next == KernelVersion(6, 15))
        #expect(Era.normalRefcount.versions.first == KernelVersion(6, 15) && Era.normalRefcount.versions.next == nil)
        #expect(Era.names == "pre-6.3, 6.3-6.14, 6.15+")
    }

    /// The published names say the same as the bounds.
    @Test func namesAgreeWithTheBounds() {
        for era in Era.allCases {
            let (first, next) = era.versions
            if era == Era.allCases.first, let next {
                #expect(era.rawValue == "pre-\(next.major).\(next.minor)")
            } else if let next {
                let last = next.minor > 0 ? "\(next.major).\(next.minor - 1)" : "\(next.major - 1)"
                #expect(era.rawValue == "\(first.major).\(first.minor)-\(last)")
            } else {
                #expect(era.rawValue == "\(first.major).\(first.minor)+")
            }
        }
    }

    @Test func probesPickTheLastEraWhoseChangeIsPresent() {
        #expect(Era.probed([KernelChange.directIOPins.id: false, KernelChange.normalRefcount.id: false]) == .plainReferences)
        #expect(Era.probed([KernelChange.directIOPins.id: true, KernelChange.normalRefcount.id: false]) == .devmapPins)
        #expect(Era.probed([KernelChange.directIOPins.id: true, KernelChange.normalRefcount.id: true]) == .normalRefcount)
        #expect(Era.probed([KernelChange.directIOPins.id: true]) == nil, "an opening change that could not be probed decides nothing")
        #expect(KernelChange.kpageflagsZeroForNoPage.presence(inEra: .normalRefcount) == nil)
        #expect(KernelChange.directIOPins.presence(inEra: .devmapPins) == true && KernelChange.directIOPins.presence(inEra: .plainReferences) == false)
        #expect(KernelChange.ioUringCoalesce.presence(inEra: .devmapPins) == nil && KernelChange.ioUringCoalesce.presence(inEra: .normalRefcount) == true)
    }
}
