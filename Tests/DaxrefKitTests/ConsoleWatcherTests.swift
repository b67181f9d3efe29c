import Testing

@testable import DaxrefKit

@Suite struct ConsoleWatcherTests {
    @Test func tracksMarkersAndExitCode() {
        var watcher = ConsoleWatcher()
        watcher.consume("[    0.000000] Linux version 6.1.0-41-amd64")
        #expect(!watcher.booted)
        watcher.consume("DAXREF-GUEST: booted 3.21")
        watcher.consume("DAXREF-PROVISIONED: {\"devdax\":[\"dax0.0\"]}\r")
        #expect(watcher.booted && !watcher.finished)
        watcher.consume("DAXREF-GUEST-EXIT: 4")
        #expect(watcher.exitCode == 4)
        #expect(watcher.provisioned == "{\"devdax\":[\"dax0.0\"]}")
        #expect(watcher.finished)
        #expect(watcher.incidents.isEmpty)
    }

    @Test func earlyBootInt3IsAnOopsBeforeInit() {
        var watcher = ConsoleWatcher()
        let incident = watcher.consume("[    0.412345] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI")
        #expect(incident?.fault == .oops)
        #expect(incident?.beforeInit == true)
        watcher.consume("[    0.412400] RIP: 0010:sched_clock_cpu+0x1/0x100")
        watcher.consume("[    0.412500] Kernel panic - not syncing: Attempted to kill the idle task!")
        #expect(watcher.finished, "a panic ends the run")
        #expect(watcher.incidents.map(\.fault) == [.oops, .panic])
        #expect(watcher.incidents[0].excerpt.contains { $0.contains("sched_clock_cpu") })
    }

    @Test func warningDuringRunKeepsTraceExcerpt() {
        var watcher = ConsoleWatcher()
        watcher.consume("DAXREF-GUEST: booted 2.0")
        watcher.consume("[   12.000000] ------------[ cut here ]------------")
        watcher.consume("[   12.000001] WARNING: CPU: 1 PID: 212 at fs/dax.c:398 dax_disassociate_entry+0x5c/0x70")
        watcher.consume("[   12.000002] Call Trace:")
        watcher.consume("[   12.000003] ---[ end trace 0000000000000000 ]---")
        watcher.consume("[   12.000004] unrelated later line")
        let warning = try! #require(watcher.incidents.first)
        #expect(warning.fault == .warning && !warning.beforeInit)
        #expect(warning.excerpt.contains { $0.contains("cut here") }, "context before the headline is kept")
        #expect(warning.excerpt.last!.contains("end trace"), "the excerpt stops at the end of the trace")
        #expect(!watcher.finished, "a WARN is surfaced, it does not end the run")
    }

    @Test(arguments: [
        ("[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008", ConsoleWatcher.Fault.bug),
        ("[ 1.0] kernel BUG at mm/memory.c:123!", .bug),
        ("[ 1.0] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI", .oops),
        ("[    0.000000] Kernel panic - not syncing: VFS: Unable to mount root fs", .panic),
        ("[   12.000001] WARNING: CPU: 1 PID: 212 at fs/dax.c:398 dax_disassociate_entry+0x5c/0x70", .warning),
        ("[ 1.0] int3: 0000 [#1] SMP NOPTI", .oops),
        ("[ 2373.346093] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [daxref:353]", .stall),
        ("[ 80.1] watchdog: Watchdog detected hard LOCKUP on cpu 1", .stall),
        ("[ 80.1] rcu: INFO: rcu_preempt self-detected stall on CPU", .stall),
        ("[ 80.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", .stall),
        ("[ 250.0] INFO: task daxref:353 blocked for more than 120 seconds.", .stall),
    ])
    func classifiesFaults(_ line: String, _ fault: ConsoleWatcher.Fault) {
        #expect(ConsoleWatcher.fault(in: line) == fault)
    }

    @Test func ordinaryLinesAreNotFaults() {
        #expect(ConsoleWatcher.fault(in: "[ 1.0] nd_pmem namespace0.0: unable to guarantee persistence of writes") == nil)
        #expect(ConsoleWatcher.fault(in: "Oopsie in user output") == nil)
        #expect(ConsoleWatcher.fault(in: "[ 1.0] INFO: task list printed") == nil)
        #expect(ConsoleWatcher.fault(in: "[ 1.0] watchdog: initialized") == nil)
    }

    @Test func aStallIsKeptWithItsTraceAndDoesNotEndTheRun() {
        var watcher = ConsoleWatcher()
        watcher.consume("DAXREF-GUEST: booted")
        watcher.consume("[ 2351.0] rcu: INFO: rcu_preempt self-detected stall on CPU")
        watcher.consume("[ 2351.0] Call Trace:")
        watcher.consume("[ 2351.0]  csd_lock_wait+0x10/0x20")
        let stall = try! #require(watcher.incidents.first)
        #expect(stall.fault == .stall)
        #expect(stall.excerpt.contains { $0.contains("csd_lock_wait") })
        #expect(!watcher.finished)
    }
}
