import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

/// CleanupOwner end to end, in a child process (`daxref test-hook cleanup`, so the binary must be
/// built): it owns a file and a `sleep` started without PR_SET_PDEATHSIG, so only its registered
/// actions can remove them; the signal must still be its exit status.
@Suite(.serialized) struct CleanupOwnerTests {
    struct Ended {
        var ending: RunningProcess.Ending?
        var fileRemains: Bool
        var childRuns: Bool
        var kprobeEvents: String
        var enable: String
        var stderr: String
    }

    /// Starts the child, checks it owns what it says, sends `signal`, and reports what is left.
    func signalCleanupChild(_ signal: Int32, order: TestHooks.KprobeOrder) throws -> Ended {
        let directory = NSTemporaryDirectory() + "daxref-cleanup-test-\(getpid())-\(order.rawValue)-\(signal)"
        let tracefs = directory + "/tracefs"
        try FileManager.default.createDirectory(atPath: tracefs + "/instances/daxref_t/events", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: tracefs + "/kprobe_events", contents: Data())
        _ = FileManager.default.createFile(atPath: tracefs + "/instances/daxref_t/events/enable", contents: Data("1".utf8))
        let file = directory + "/owned"

        let child = try RunningProcess([
            RunningProcess.daxref, "test-hook", "cleanup", file, "--tracefs", tracefs, "--kprobe-order", order.rawValue,
        ])
        try #require(child.waitFor(timeout: 20) { $0.stdout.contains("ready ") }, "no ready line: \(child.stderr)")
        let sleeper = try #require(child.stdout.split(separator: " ").last.flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(ProcessLiveness.isRunning(sleeper))

        child.signal(signal)
        let ending = child.wait(timeout: 20)
        let childRuns = !ProcessLiveness.waitUntilEnded(sleeper, timeout: 3)
        if childRuns { kill(sleeper, SIGKILL) }
        return Ended(
            ending: ending, fileRemains: FileManager.default.fileExists(atPath: file), childRuns: childRuns,
            kprobeEvents: (try? String(contentsOfFile: tracefs + "/kprobe_events", encoding: .utf8)) ?? "?",
            enable: (try? String(contentsOfFile: tracefs + "/instances/daxref_t/events/enable", encoding: .utf8)) ?? "?",
            stderr: child.stderr)
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalRemovesWhatWasRegisteredAndEndsWithTheSignal(_ signal: Int32) throws {
        let ended = try signalCleanupChild(signal, order: .none)
        #expect(ended.ending == .signaled(signal), "ended: \(ended.ending?.description ?? "still running after 20 s"); \(ended.stderr)")
        #expect(!ended.fileRemains, "the registered file is still there")
        #expect(!ended.childRuns, "the registered subprocess still runs")
        #expect(ended.stderr.contains("daxref: \(CleanupOwner.name(of: signal)): cleaning up: sleep "), "\(ended.stderr)")
    }

    /// KprobeSignalCleanup installs its own handlers and re-raises into what it replaced: whichever
    /// is installed first, both clean up and the exit status stays the signal's. `buried-disarmed`
    /// is a kprobe session closed while the owner's handler sat on top of it: its handler must pass
    /// the signal on (it used to re-raise into itself forever).
    @Test(arguments: [TestHooks.KprobeOrder.below, .above, .buriedDisarmed])
    func chainsWithKprobeSignalCleanup(_ order: TestHooks.KprobeOrder) throws {
        let ended = try signalCleanupChild(SIGTERM, order: order)
        #expect(ended.ending == .signaled(SIGTERM), "ended: \(ended.ending?.description ?? "hung: still running after 20 s"); \(ended.stderr)")
        #expect(!ended.fileRemains)
        #expect(!ended.childRuns)
        if order == .buriedDisarmed {
            #expect(ended.kprobeEvents == "", "a closed session has nothing to remove")
        } else {
            #expect(ended.kprobeEvents == "-:daxref_t/a\n-:daxref_t/b_ret\n", "the probes were not removed")
            #expect(ended.enable == "0")
        }
    }

    @Test func registrationLastsUntilDropped() {
        let name = "test registration \(UUID())"
        do {
            let registration = CleanupOwner.shared.register(name) {}
            #expect(CleanupOwner.shared.registered.contains(name))
            registration.end()
        }
        #expect(!CleanupOwner.shared.registered.contains(name))
        do {
            let scoped = CleanupOwner.shared.register(name) {}
            #expect(CleanupOwner.shared.registered.contains(name))
            _ = scoped
        }
        #expect(!CleanupOwner.shared.registered.contains(name), "dropped at the end of its scope")
    }

    @Test func livenessTellsRunningFromEnded() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        try process.run()
        #expect(ProcessLiveness.isRunning(process.processIdentifier))
        #expect(ProcessLiveness.parent(of: process.processIdentifier) == getpid())
        kill(process.processIdentifier, SIGKILL)
        #expect(ProcessLiveness.waitUntilEnded(process.processIdentifier, timeout: 5), "a killed (zombie or reaped) child is not running")
        process.waitUntilExit()
        #expect(!ProcessLiveness.isRunning(process.processIdentifier))
        #expect(!ProcessLiveness.isRunning(0))
    }
}

/// Scratch file names carry the run's owner and their creator, so the owner can sweep them.
@Suite struct ScratchSweepTests {
    /// A pid that is certainly not running: a child that has ended and been reaped.
    static func endedPID() throws -> pid_t {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func makeDirectory(_ name: String) throws -> FilePath {
        let path = NSTemporaryDirectory() + "daxref-sweep-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return FilePath(path)
    }

    static func names(in directory: FilePath) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? [])
    }

    @Test func namesParseBothLayouts() {
        #expect(ScratchName(fileName: "daxref-10-20-3-0.data") == ScratchName(owner: 10, creator: 20, serial: 3, attempt: 0))
        #expect(ScratchName(fileName: "daxref-20-3-1.data") == ScratchName(owner: 20, creator: 20, serial: 3, attempt: 1), "the older layout")
        #expect(ScratchName(fileName: "daxref-10-20-3-0.data")?.fileName == "daxref-10-20-3-0.data")
        for other in ["daxref-pmem.daxref-vm.abc", "daxref-1-x-3-0.data", "daxref--1-2-3.data", "daxref-1-2.data", "daxref-1-2-3-4-5.data", "notes.data"] {
            #expect(ScratchName(fileName: other) == nil, "\(other)")
        }
    }

    @Test func scratchFileIsNamedForItsOwner() throws {
        let directory = try Self.makeDirectory("name")
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        let file = try ScratchFile(in: directory)
        let name = try #require(ScratchName(fileName: file.path.lastComponent?.string ?? ""))
        #expect(name.owner == ScratchFile.owner)
        #expect(name.creator == getpid())
    }

    @Test func sweepsOnlyTheOwnersFilesOfEndedCreators() throws {
        let directory = try Self.makeDirectory("owner")
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        let ended = try Self.endedPID()
        let running = Process()
        running.executableURL = URL(fileURLWithPath: "/bin/sleep")
        running.arguments = ["30"]
        try running.run()
        defer { kill(running.processIdentifier, SIGKILL); running.waitUntilExit() }
        let owner: pid_t = 4_000_000  // above pid_max: never a process
        let files = [
            "killed": ScratchName(owner: owner, creator: ended, serial: 1, attempt: 0).fileName,
            "stuck": ScratchName(owner: owner, creator: running.processIdentifier, serial: 2, attempt: 0).fileName,
            "mine": ScratchName(owner: owner, creator: getpid(), serial: 3, attempt: 0).fileName,
            "otherRun": ScratchName(owner: getpid(), creator: ended, serial: 4, attempt: 0).fileName,
            "unrelated": "daxref-notes.data",
        ]
        for name in files.values { _ = FileManager.default.createFile(atPath: directory.string + "/" + name, contents: nil) }

        let removed = Set(ScratchFile.sweep(in: directory, owner: owner))
        #expect(removed == [files["killed"]!, files["mine"]!])
        #expect(Self.names(in: directory) == [files["stuck"]!, files["otherRun"]!, files["unrelated"]!],
                "a running creator may be stuck on its file; another run's files are not this owner's")

        // The next run's sweep: owner and creator both gone. The live run (this process) is kept.
        #expect(ScratchFile.sweepStale(in: directory).isEmpty)
        kill(running.processIdentifier, SIGKILL)  // not SIGTERM: this test thread's blocked signals are the child's too
        running.waitUntilExit()
        #expect(ScratchFile.sweepStale(in: directory) == [files["stuck"]!])
        #expect(Self.names(in: directory) == [files["otherRun"]!, files["unrelated"]!])
    }

    /// Defect: a helper killed on its deadline left its scratch file behind. The step's helper here
    /// is a script (Drive.runStep runs `executable drive --run-step JSON`) that creates a file named
    /// as a helper would, from DAXREF_SCRATCH_OWNER and its own pid, then hangs.
    @Test func fileOfAHelperKilledOnItsDeadlineIsSwept() throws {
        let directory = try Self.makeDirectory("deadline")
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        let script = directory.string + "/helper.sh"
        let body = "#!/bin/sh\nexec 2>/dev/null\n: >\"\(directory.string)/daxref-${DAXREF_SCRATCH_OWNER}-$$-0-0.data\"\necho created >&1\nexec sleep 60\n"
        _ = FileManager.default.createFile(atPath: script, contents: Data(body.utf8), attributes: [.posixPermissions: 0o755])

        let request = StepRequest(backing: .pageCache(directory: directory.string), workload: .touchWrite)
        let result = Drive.runStep(request, executable: script, timeout: 1.5)
        #expect(result.status == .timedOut, "\(result.status): \(result.reason ?? "")")
        let left = Self.names(in: directory).filter { $0.hasSuffix(".data") }
        #expect(left.isEmpty, "left by the killed helper: \(left)")
    }
}
