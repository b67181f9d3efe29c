import Foundation
import Testing

@testable import DaxrefKit

/// The create-namespace steps against `MockNamespaceHost` (checkpoints read this machine's /proc,
/// which is fine: their values are not what is checked here).
@Suite struct NamespaceStepsTests {
    @Test func scenariosAreTheNamespaceGeometriesOfTheFixtures() {
        // The published IDs are pinned in Fixtures/catalogue/scenario-ids.txt; here, what each one makes.
        #expect(NamespaceSteps.scenarios.map(\.id).prefix(6) == [
            "devdax.4k.create-namespace.map-mem", "devdax.2m.create-namespace.map-mem", "devdax.2m.create-namespace.map-dev",
            "devdax.1g.create-namespace.map-mem", "fsdax.2m.create-namespace.map-mem", "fsdax.2m.create-namespace.map-dev",
        ])
        #expect(NamespaceSteps.scenarios.map(\.namespaceTarget?.description).prefix(6) == [
            "devdax align 4k map=mem", "devdax align 2m map=mem", "devdax align 2m map=dev", "devdax align 1g map=mem",
            "fsdax align 2m map=mem", "fsdax align 2m map=dev",
        ])
        for scenario in NamespaceSteps.scenarios {
            let target = scenario.namespaceTarget
            #expect(target.map { "\($0.mode.rawValue).\(sizeLabel(Int($0.align)))" } == scenario.memory.rawValue, "\(scenario.id)")
            #expect(target?.map == (scenario.workload == .createNamespaceMapMem ? .mem : .dev))
        }
        #expect(Workload.createNamespaceMapDev.rawValue == "create-namespace.map-dev")
        #expect(Workload.createNamespaceMapMem.variant.requirement == .spareNamespace)
        #expect(!Drive.scenarios(on: [.anonymous], matching: "*").contains { $0.workload.variant.reconfiguresNamespace },
                "drive never maps a backing for them")
        #expect(StepPlan(backings: [.anonymous], blockTarget: nil).step(for: NamespaceSteps.scenarios[0]) == .skip(StepPlan.spareNotNamed))
    }

    @Test func everyVariantIsCreatedRecordedAndRestored() throws {
        let host = MockNamespaceHost.spare()
        let before = host.namespaces
        var seen: [String] = []
        let steps = try NamespaceSteps.run(spare: "namespace0.0", host: host) { seen.append($0.id) }
        #expect(seen == NamespaceSteps.scenarios.map(\.id))
        #expect(steps.allSatisfy { $0.status == .completed }, "\(steps.map { "\($0.id): \($0.reason ?? "")" })")
        #expect(host.namespaces == before, "the spare ends as it started")
        #expect(host.mutations.count == 2 * NamespaceSteps.scenarios.count, "one create and one restore per scenario")
        for step in steps {
            let variant = step.workload.variant
            #expect(step.observations.values.keys.allSatisfy(variant.records.contains), "\(step.id): \(step.observations.values.keys.sorted())")
            #expect(step.checkpoints.map(\.name) == variant.checkpoints)
        }

        let huge = try #require(steps.first { $0.id == "devdax.1g.create-namespace.map-mem" })
        #expect(huge.workload == .createNamespaceMapMem && huge.backing == "devdax.1g")
        #expect(huge.observations[.namespaceMode] == .text("devdax"))
        #expect(huge.observations[.namespaceAlign] == .integer(1 << 30))
        #expect(huge.observations[.namespaceMap] == .text("mem"))
        #expect(huge.observations[.namespaceRawSize] == .integer(2 << 30))
        #expect(huge.observations[.namespaceSize] == .integer(1 << 30))
        #expect(huge.observations[.namespaceDevice] == .text("dax0.7"))
        #expect(huge.observations[.ndctlExit] == .integer(0))
        #expect(huge.observations[.ndctlStderr] == nil)
        #expect(huge.checkpoints.map(\.name.rawValue) == ["before", "created", "restored"])
        for key in ["vmstat.nr_memmap_pages", "meminfo.MemFree"] {
            #expect(huge.checkpoints[1].observations[ObservableKey(rawValue: key)] != nil, "\(key) recorded (a value, or why not)")
        }
        let fsdax = try #require(steps.first { $0.id == "fsdax.2m.create-namespace.map-dev" })
        #expect(fsdax.observations[.namespaceDevice] == .text("pmem0") && fsdax.observations[.namespaceMap] == .text("dev"))
    }

    @Test func refusedCreateIsAnObservationAndTheRunGoesOn() throws {
        let host = MockNamespaceHost.spare()
        host.failCreate = { arguments in
            arguments.contains("--align=1073741824")
                ? NdctlOutcome(arguments: arguments, exit: .exited(1), stderr: "failed to reconfigure namespace: No such device or address\n") : nil
        }
        let steps = try NamespaceSteps.run(spare: "namespace0.0", scenarios: [Scenario(memory: .devdax(.align1g), workload: .createNamespaceMapMem), Scenario(memory: .fsdaxNamespace(.align2m), workload: .createNamespaceMapMem)], host: host)
        #expect(steps.map(\.status) == [.completed, .completed])
        #expect(steps[0].observations[.ndctlExit] == .integer(1))
        #expect(steps[0].observations[.ndctlStderr] == .text("failed to reconfigure namespace: No such device or address"))
        #expect(steps[0].observations[.namespaceMode] == nil)
        #expect(steps[1].observations[.namespaceMode] == .text("fsdax"))
        #expect(host.namespaces["namespace0.0"]?.mode == "raw")
    }

    @Test func hungNdctlIsATimeoutWithWhereItWas() throws {
        let host = MockNamespaceHost.spare()
        host.failCreate = { arguments in
            arguments.contains("--mode=devdax")
                ? NdctlOutcome(arguments: arguments, exit: .signaled(9), timedOut: true, wait: TaskWait(wchan: "wait_for_completion", stack: nil, state: "D"))
                : nil
        }
        let step = try #require(try NamespaceSteps.run(spare: "namespace0.0", scenarios: [Scenario(memory: .devdax(.align2m), workload: .createNamespaceMapMem)], host: host).first)
        #expect(step.status == .timedOut)
        #expect(step.observations[.stepTimedOut] == .flag(true))
        #expect(step.observations[.taskWchan] == .text("wait_for_completion"))
        #expect(step.observations[.ndctlExit] == .integer(137))
    }

    @Test func smallSpareSkipsTheGigabyteVariant() throws {
        let host = MockNamespaceHost.spare(size: 1 << 30)
        let steps = try NamespaceSteps.run(spare: "namespace0.0", scenarios: [Scenario(memory: .devdax(.align1g), workload: .createNamespaceMapMem), Scenario(memory: .devdax(.align2m), workload: .createNamespaceMapMem)], host: host)
        #expect(steps[0].status == .skipped)
        #expect(steps[0].reason?.contains("holds no whole 1g page") == true, "\(steps[0].reason ?? "")")
        #expect(steps[1].status == .completed)
    }

    @Test func spareInUseIsRefusedBeforeAnyStep() {
        let host = MockNamespaceHost.spare()
        host.holders = [.mounted(device: "pmem0", mountpoint: "/mnt/x")]
        #expect(throws: ReconfigureError.self) { try NamespaceSteps.run(spare: "namespace0.0", host: host) }
        #expect(host.mutations.isEmpty)
    }

    @Test func failedRestoreStopsTheRun() throws {
        let host = MockNamespaceHost.spare()
        host.failCreate = { arguments in
            arguments.contains("--mode=raw") ? NdctlOutcome(arguments: arguments, exit: .exited(1), stderr: "namespace0.0 is active\n") : nil
        }
        let steps = try NamespaceSteps.run(spare: "namespace0.0", scenarios: [Scenario(memory: .devdax(.align4k), workload: .createNamespaceMapMem), Scenario(memory: .devdax(.align2m), workload: .createNamespaceMapMem)], host: host)
        #expect(steps[0].status == .error && steps[0].reason?.contains("restoring namespace0.0 failed") == true)
        #expect(steps[0].observations[.namespaceMode] == .text("devdax"), "what was created is still recorded")
        #expect(steps[1].status == .skipped && steps[1].reason?.contains("could not be restored after devdax.4k") == true)
        #expect(host.mutations.filter { $0.contains("--mode=devdax") }.count == 1, "nothing more is created on an unrestored spare")
    }

    @Test func tableShowsMemmapPerGiB() {
        func checkpoint(_ name: CheckpointName, _ memmap: ObservedValue) -> Checkpoint {
            Checkpoint(name: name, atMilliseconds: 0, observations: Observations(["vmstat.nr_memmap_pages": memmap, "meminfo.MemFree": .integer(100)]))
        }
        var step = StepResult(id: "devdax.2m.create-namespace.map-mem", backing: "devdax.2m", workload: .createNamespaceMapMem, status: .completed)
        step.observations[.ndctlExit] = .integer(0)
        step.observations[.ndctlDuration] = .integer(1594)
        step.observations[.namespaceSize] = .integer(2145386496)
        step.observations[.namespaceRawSize] = .integer(2 << 30)
        step.checkpoints = [checkpoint(.before, .integer(6144)), checkpoint(.created, .integer(8192)), checkpoint(.restored, .integer(6144))]
        var old = step
        old.checkpoints = [checkpoint(.before, .unavailable("absent")), checkpoint(.created, .unavailable("absent"))]
        let table = NamespaceSteps.renderTable([step, old])
        #expect(table.contains("ok 1594ms") && table.contains("+2048") && table.contains("1024.0") && table.contains("2.00 GiB of 2.00 GiB"))
        #expect(table.split(separator: "\n").last?.contains("n/a") == true)
    }
}
