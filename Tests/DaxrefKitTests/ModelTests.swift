import Testing

@testable import DaxrefKit

@Suite struct EraDetectionTests {
    // uname strings as the 6.1 and 7.2 Debian guests print them.
    let release61 = "6.1.0-50-amd64"
    let version61 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-10-02)"
    let release72 = "7.2.13+deb14-amd64"
    let version72 = "#1 SMP PREEMPT_DYNAMIC Debian 7.2.13-1 (2026-11-01)"

    @Test func versionComesFromDebianVersionWhenItAgrees() {
        #expect(KernelVersion.of(release: release61, version: version61) == KernelVersion(6, 1, 176))
        #expect(KernelVersion.of(release: release72, version: version72) == KernelVersion(7, 2, 13))
        #expect(KernelVersion.of(release: "6.18.44-custom", version: "#3 SMP") == KernelVersion(6, 18, 44))
        // A Debian version for another series is not this kernel's.
        #expect(KernelVersion.of(release: "6.12.1", version: "Debian 6.1.176-1") == KernelVersion(6, 12, 1))
        #expect(KernelVersion.of(release: "garbage", version: "") == nil)
    }

    @Test func erasByVersion() {
        #expect(Era.of(KernelVersion(6, 1, 176)) == .plainReferences)
        #expect(Era.of(KernelVersion(6, 3)) == .devmapPins)
        #expect(Era.of(KernelVersion(6, 14, 9)) == .devmapPins)
        #expect(Era.of(KernelVersion(6, 15)) == .normalRefcount)
        #expect(Era.of(KernelVersion(7, 2, 13)) == .normalRefcount)
    }

    @Test func probesDecideTheEra() {
        let old = KernelProfile.profile(release: release61, version: version61, symbols: ["ext4_break_layouts"], vmstatFields: ["nr_mapped"])
        #expect(old.era == .plainReferences)
        #expect(old.eraSource == "probe")
        #expect(old.changes["nr_memmap_pages"] == false)
        #expect(old.changes["kpageflags-zero"] == false)
        #expect(old.changes["io_uring-gup-file-check"] == false)

        let new = KernelProfile.profile(
            release: release72, version: version72,
            symbols: ["dax_break_layout_final", "iov_iter_extract_pages", "kpage_read"], vmstatFields: ["nr_memmap_pages"])
        #expect(new.era == .normalRefcount)
        #expect(new.changes["vmemmap-dedup-accounting"] == true)  // known in 7.2.13
        #expect(new.notes.isEmpty)
    }

    @Test func aBackportShowsAsANoteAndTheProbeWins() {
        // A 6.12 build carrying the 6.15 refcount series.
        let profile = KernelProfile.profile(release: "6.12.50", version: "#1", symbols: ["dax_break_layout_final", "iov_iter_extract_pages"],
                                            vmstatFields: [])
        #expect(profile.era == .normalRefcount)
        #expect(profile.notes.contains { $0.contains("fsdax-normal-refcount") })
        #expect(profile.notes.contains { $0.contains("era by version would be 6.3-6.14") })
    }

    @Test func withoutProbesTheVersionDecides() {
        let profile = KernelProfile.profile(release: "6.8.0", version: "", symbols: nil, vmstatFields: nil)
        #expect(profile.era == .devmapPins)
        #expect(profile.eraSource == "version")
    }

    @Test func overrideReplacesTheEraAndSaysSo() {
        let profile = KernelProfile.profile(release: release61, version: version61, symbols: [], vmstatFields: [], eraOverride: .normalRefcount)
        #expect(profile.era == .normalRefcount)
        #expect(profile.eraSource == "--era")
        #expect(profile.notes.contains { $0.contains("overridden") })
    }

    @Test func eraNamesParse() {
        #expect(Era.parse("pre-6.3") == .plainReferences)
        #expect(Era.parse("6.15+") == .normalRefcount)
        #expect(Era.parse("new") == .normalRefcount)
        #expect(Era.parse("6.16") == nil)
    }
}

@Suite struct RuleCatalogueTests {
    @Test func ruleIDsAreUniqueAndCited() {
        let ids = Rule.catalogue.map(\.id)
        #expect(Set(ids).count == ids.count)
        for rule in Rule.catalogue {
            #expect(!rule.citation.file.isEmpty && !rule.citation.function.isEmpty && !rule.citation.version.isEmpty, "\(rule.id)")
            #expect(!rule.memory.isEmpty && !rule.workloads.isEmpty && !rule.eras.isEmpty, "\(rule.id)")
            for change in rule.requires.keys { #expect(KernelChange.named(change) != nil, "\(rule.id) requires unknown change \(change)") }
        }
    }

    @Test func everyObservableARuleReadsIsCatalogued() {
        for rule in Rule.catalogue {
            #expect(ObservableCatalogue.describe(rule.site.key) != nil, "\(rule.id) reads \(rule.site.key), which ObservableCatalogue does not describe")
        }
    }

    @Test func findingsAndHypothesesNameRealRules() {
        let ids = Set(Rule.catalogue.map(\.id))
        for finding in KnownFinding.catalogue { for rule in finding.rules { #expect(ids.contains(rule), "\(finding.id): \(rule)") } }
        for hypothesis in Hypothesis.catalogue {
            #expect(ids.contains(hypothesis.rule), "\(hypothesis.id)")
            #expect(!ScenarioCatalogue.select(hypothesis.scenarios).isEmpty, "\(hypothesis.id)")
        }
    }

    @Test func everyRuleAppliesToSomeScenario() {
        for rule in Rule.catalogue {
            #expect(ScenarioCatalogue.all.contains { rule.memory.contains($0.memory) && rule.workloads.contains($0.workload) }, "\(rule.id)")
        }
    }

    @Test func scenarioIDsAreStableAndFileWorkloadsOnlyOnFiles() {
        let ids = ScenarioCatalogue.all.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids.contains("fsdax.ext4.truncate.vmsplice-unmapped"))
        #expect(ids.contains("devdax.2m.iouring-register"))
        #expect(!ids.contains("devdax.4k.truncate.mapped"))
        #expect(ScenarioCatalogue.select("fsdax.*.unlink.*").map(\.id) == ["fsdax.ext4.unlink.vmsplice-unmapped", "fsdax.xfs.unlink.vmsplice-unmapped"])
    }
}

@Suite struct ModelPredictionTests {
    let old = KernelProfile.profile(release: "6.1.0-50-amd64", version: "Debian 6.1.176-1", symbols: [], vmstatFields: [])
    let new = KernelProfile.profile(release: "7.2.13+deb14-amd64", version: "Debian 7.2.13-1",
                                    symbols: ["dax_break_layout_final", "iov_iter_extract_pages", "kpage_read"], vmstatFields: ["nr_memmap_pages"])

    func expected(_ rule: String, _ memory: MemoryFixture, _ workload: Workload, _ profile: KernelProfile) -> ExpectedValue? {
        RefcountModel.predictions(memory: memory, workload: workload, profile: profile).first { $0.rule.id == rule }?.rule.expected
    }

    func ruleIDs(_ memory: MemoryFixture, _ workload: Workload, _ profile: KernelProfile) -> Set<String> {
        Set(RefcountModel.predictions(memory: memory, workload: workload, profile: profile).map(\.rule.id))
    }

    @Test func smapsRssPerEra() {
        #expect(expected("smaps.rss.devmap-pte-not-counted", .devdax(.align4k), .touchWrite, old) == .equals(.constant(0)))
        #expect(expected("smaps.rss.devdax-pmd-compound", .devdax(.align2m), .touchWrite, old) == .equals(.lengthKB))
        #expect(expected("smaps.rss.dax-counted", .devdax(.align4k), .touchWrite, new) == .equals(.lengthKB))
        #expect(!ruleIDs(.devdax(.align4k), .touchWrite, new).contains("smaps.rss.devmap-pte-not-counted"))
        #expect(!ruleIDs(.devdax(.align4k), .touchWrite, old).contains("smaps.rss.dax-counted"))
    }

    @Test func ioUringPerEraAndMemory() {
        #expect(expected("iouring.devdax-file-check", .devdax(.align2m), .ioUringRegister, old) == .equals(.constant(95)))
        #expect(expected("iouring.devdax-registers", .devdax(.align2m), .ioUringRegister, new) == .equals(.constant(0)))
        #expect(expected("iouring.fsdax-longterm-refused", .fsdax(.xfs), .ioUringRegister, old) == .equals(.constant(95)))
        #expect(expected("iouring.fsdax-longterm-refused", .fsdax(.xfs), .ioUringRegister, new) == .equals(.constant(95)))
        #expect(!ruleIDs(.devdax(.align4k), .ioUringRegister, old).contains("iouring.devdax-pin-accounting"))
    }

    @Test func directIOGetOrPin() {
        #expect(expected("odirect.plain-references", .fsdax(.ext4), .directRead, old) == .equals(.constant(0)))
        #expect(expected("odirect.pins", .fsdax(.ext4), .directRead, new) == .equals(.lengthPages))
    }

    @Test func breakLayoutsPerEra() {
        // The contract holds in every era; only where the kernel sleeps differs.
        #expect(expected("layout.waits-for-unmapped-busy", .fsdax(.ext4), .truncateSplicedUnmapped, old) == .flag(true))
        #expect(expected("layout.waits-for-unmapped-busy", .fsdax(.ext4), .truncateSplicedUnmapped, new) == .flag(true))
        #expect(expected("layout.wchan.ext4.devmap", .fsdax(.ext4), .truncateSpliced, old) == .oneOf(["ext4_break_layouts", "ext4_wait_dax_page"]))
        #expect(expected("layout.wchan.xfs", .fsdax(.xfs), .punchHoleSpliced, new) == .text("xfs_wait_dax_page"))
        #expect(expected("evict.waits-uninterruptibly", .fsdax(.xfs), .unlinkSplicedUnmapped, new) == .text("D"))
        #expect(expected("evict.waits-uninterruptibly", .fsdax(.xfs), .unlinkSplicedUnmapped, old) == nil)
        #expect(expected("layout.page-cache-never-waits", .pageCache, .closeSplicedUnmapped, old) == .flag(false))
    }

    @Test func unknownChangesLeaveRulesUndetermined() {
        let typical = KernelProfile.typical(of: .devmapPins)
        let predictions = RefcountModel.predictions(memory: .devdax(.align2m), workload: .touchWrite, profile: typical)
        let pmd = predictions.filter { $0.rule.id.hasPrefix("smaps.rss.devdax-pmd") || $0.rule.id == "smaps.rss.devmap-pmd-not-counted" }
        #expect(!pmd.isEmpty)
        #expect(pmd.allSatisfy { $0.undetermined?.contains("smaps-pmd-vm-normal-page") == true })
        // The typical 6.15+ kernel has the O_DIRECT pin change for sure.
        #expect(KernelProfile.typical(of: .normalRefcount).changes["odirect-foll-pin"] == true)
        #expect(KernelProfile.typical(of: .plainReferences).changes["odirect-foll-pin"] == false)
    }

    @Test func amountsEvaluateFromTheStep() {
        let context = StepContext(length: 4 << 20, mappingSize: 2 << 20)
        #expect(Amount.lengthKB.evaluate(context) == 4096)
        #expect(Amount.lengthPages.evaluate(context) == 1024)
        #expect(Amount.times(.mappings, 4).evaluate(context) == 8)
        #expect(Amount.negative(.lengthKB).evaluate(context) == -4096)
        #expect(Amount.mappings.evaluate(StepContext(length: 4 << 20, mappingSize: nil)) == nil)
    }
}

@Suite struct VerdictEngineTests {
    let new = KernelProfile.profile(release: "7.2.13+deb14-amd64", version: "Debian 7.2.13-1",
                                    symbols: ["dax_break_layout_final", "iov_iter_extract_pages", "kpage_read"], vmstatFields: [])
    let old = KernelProfile.profile(release: "6.1.0-50-amd64", version: "Debian 6.1.176-1", symbols: [], vmstatFields: [])

    func step(_ scenario: Scenario, _ status: StepStatus = .completed, observations: [ObservableKey: ObservedValue] = [:],
              checkpoints: [(CheckpointName, [ObservableKey: ObservedValue])] = []) -> StepResult {
        var base: [ObservableKey: ObservedValue] = [Observable.memoryLength.key: .integer(4 << 20)]
        base.merge(observations) { _, new in new }
        return StepResult(id: scenario.id, backing: scenario.memory.rawValue, workload: scenario.workload, status: status,
                          reason: status == .skipped ? "not here" : nil, observations: Observations(base),
                          checkpoints: checkpoints.enumerated().map { Checkpoint(name: $1.0, atMilliseconds: Int64($0), observations: Observations($1.1)) })
    }

    func judge(_ scenario: Scenario, _ step: StepResult, _ profile: KernelProfile) -> ScenarioResult {
        VerdictEngine.judge(scenario, step: step, predictions: RefcountModel.predictions(memory: scenario.memory, workload: scenario.workload, profile: profile),
                            profile: profile)
    }

    @Test func matchAndMismatchWithFinding() {
        let scenario = Scenario(memory: .fsdax(.ext4), workload: .truncateSplicedUnmapped)
        // What 6.1 did: no wait, and the WARN.
        let observed = step(scenario, observations: [Observable.stepBlocked.key: .flag(false), Observable.syscallErrno.key: .integer(0)],
                            checkpoints: [(.before, [:]), (.after, ["dmesg.warnings": .list([.text("fs/dax.c:398 dax_disassociate_entry")])])])
        let result = judge(scenario, observed, old)
        #expect(result.outcome == .fail)
        let blocked = result.checks.first { $0.rule == "layout.waits-for-unmapped-busy" }
        #expect(blocked?.verdict == .mismatch)
        #expect(blocked?.finding == "B1")
        #expect(blocked?.observed == "false")
        #expect(result.checks.first { $0.rule == "layout.no-disassociate-warning" }?.verdict == .mismatch)

        // What 7.2 did: waited in ext4_wait_dax_page until the pipe drained.
        let fixed = step(scenario, observations: [Observable.stepBlocked.key: .flag(true), Observable.stepReleasedBy.key: .text("pipe-drain"),
                                                  Observable.taskWchan.key: .text("ext4_wait_dax_page"), Observable.taskState.key: .text("S")],
                         checkpoints: [(.before, [:]), (.after, ["dmesg.warnings": .list([])])])
        let good = judge(scenario, fixed, new)
        #expect(good.outcome == .pass)
        #expect(good.checks.allSatisfy { $0.verdict == .match })
    }

    @Test func deltasAndTolerances() {
        let scenario = Scenario(memory: .devdax(.align4k), workload: .touchWrite)
        let observed = step(scenario, observations: [Observable.faultSize.key: .integer(4096)], checkpoints: [
            (.before, ["status.RssFile": .integer(24000), "vmstat.nr_file_pmdmapped": .integer(0)]),
            (.touched, ["status.RssFile": .integer(28400), "smaps.Rss": .integer(4096), "pagemap.present": .integer(1024),
                         "pagemap.file": .integer(1024), "pagemap.exclusive": .integer(1000), "kpagecount.nonzero": .integer(0),
                         "kpageflags.nopage": .integer(0)]),
        ])
        let result = judge(scenario, observed, new)
        func verdict(_ rule: String) -> Verdict? { result.checks.first { $0.rule == rule }?.verdict }
        #expect(verdict("rss-file.dax-counted") == .match)  // 4400 is within 4096 ± 2048
        #expect(verdict("pagemap.exclusive.rmap") == .mismatch)
        #expect(verdict("devdax.fault-size-is-align") == .match)
        #expect(result.checks.first { $0.rule == "pagemap.exclusive.rmap" }?.expected == "= 1024")
        #expect(result.outcome == .fail)

        // The same counter growing by the whole mapping on a devmap-era kernel is a mismatch.
        let devmap = judge(scenario, observed, old)
        #expect(devmap.checks.first { $0.rule == "rss-file.devmap-not-counted" }?.verdict == .mismatch)
    }

    @Test func skipsCarryReasons() {
        let scenario = Scenario(memory: .devdax(.align2m), workload: .touchWrite)
        let skipped = judge(scenario, step(scenario, .skipped), new)
        #expect(skipped.outcome == .skip)
        #expect(skipped.checks.allSatisfy { $0.verdict == .skip && $0.reason == "not here" })

        // A key the observer could not read is a skip with its reason, not a pass.
        let unreadable = step(scenario, observations: [Observable.faultSize.key: .integer(2 << 20)],
                              checkpoints: [(.touched, ["smaps.Rss": .unavailable("permission denied")])])
        let result = judge(scenario, unreadable, new)
        let rss = result.checks.first { $0.rule == "smaps.rss.dax-counted" }
        #expect(rss?.verdict == .skip)
        #expect(rss?.reason?.contains("permission denied") == true)
        #expect(result.outcome == .pass)  // fault.size matched; nothing mismatched

        let notRun = VerdictEngine.notRun(scenario, reason: "no devdax.2m", predictions: RefcountModel.predictions(memory: .devdax(.align2m), workload: .touchWrite, profile: new))
        #expect(notRun.outcome == .skip && notRun.checks.allSatisfy { $0.verdict == .skip })
    }

    @Test func errorsWhenTheHarnessFailed() {
        let scenario = Scenario(memory: .fsdax(.xfs), workload: .ioUringRegister)
        let crashed = judge(scenario, step(scenario, .crashed), new)
        #expect(crashed.outcome == .error)
        #expect(crashed.checks.allSatisfy { $0.verdict == .error })

        // A value of the wrong kind cannot be compared: error, not a guess.
        let wrongType = judge(scenario, step(scenario, observations: [Observable.syscallErrno.key: .text("EOPNOTSUPP")]), new)
        #expect(wrongType.checks.first { $0.rule == "iouring.fsdax-longterm-refused" }?.verdict == .error)
        #expect(wrongType.outcome == .error)
    }

    @Test func hypothesesAreSettledFromChecks() {
        let scenario = Scenario(memory: .fsdax(.xfs), workload: .unlinkSplicedUnmapped)
        let observed = step(scenario, observations: [Observable.stepBlocked.key: .flag(true), Observable.taskState.key: .text("D"),
                                                     Observable.taskWchan.key: .text("dax_break_layout_final"), Observable.stepReleasedBy.key: .text("pipe-drain")])
        let report = RunReport(environment: RunEnvironment(kernel: KernelFingerprint(release: "7.2", version: "", machine: "x86_64", cmdline: "", configSource: nil, config: [:]),
                                                           profile: new, inventory: nil, backings: [], blockTarget: nil, cpus: 2, virtualMachine: true),
                               scenarios: [judge(scenario, observed, new)], durationMilliseconds: 1)
        #expect(report.hypotheses.first { $0.id == "B7" }?.status == .holds)
        #expect(report.hypotheses.first { $0.id == "B1" }?.status == .notSettled)
        #expect(report.exitCode == 0)
    }
}
