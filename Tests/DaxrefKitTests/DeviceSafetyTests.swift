import Foundation
import SystemPackage
import Testing

@testable import DaxrefKit

/// A loop device over a small file in a temporary directory, detached and removed afterwards.
final class LoopDevice {
    let directory: String
    let image: String
    let device: String

    init(bytes: Int, ext4: Bool) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-loop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        image = directory + "/image"
        #expect(FileManager.default.createFile(atPath: image, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.truncate(atOffset: UInt64(bytes))
        try handle.close()
        if ext4 { try Self.run(["mkfs.ext4", "-q", "-F", "-L", "daxref-test", image]) }
        device = try Self.run(["losetup", "--find", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        _ = try? Subprocess.capture(["umount", directory + "/mnt"])
        _ = try? Subprocess.capture(["losetup", "--detach", device])
        try? FileManager.default.removeItem(atPath: directory)
    }

    func mount() throws -> String {
        let mountpoint = directory + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        try Self.run(["mount", device, mountpoint])
        return mountpoint
    }

    /// The file system's UUID (`blkid`), nil when there is none: what the data-loss defect destroyed.
    var filesystemUUID: String? {
        let output = try? Subprocess.capture(["blkid", "--probe", "--output", "value", "--match-tag", "UUID", device])
        let value = output?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return value.isEmpty ? nil : value
    }

    @discardableResult
    static func run(_ argv: [String]) throws -> String {
        let output = try Subprocess.capture(argv)
        guard output.status == 0 else { throw LoopDeviceError(description: "\(argv.joined(separator: " ")): \(output.stderr)") }
        return output.stdout
    }

    static var available: Bool { geteuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control") }
}

struct LoopDeviceError: Error, CustomStringConvertible {
    var description: String
}

/// The device-safety policy on real block devices (loop devices over files) and through the CLI:
/// the defects a user found (a superblock destroyed by `--blk`, a mounted file system corrupted
/// through DAXREF_BLK) each reproduced, and refused now.
@Suite(.serialized, .enabled(if: LoopDevice.available, "needs root and loop devices"))
struct DeviceSafetyTests {
    static var daxref: String { VMIntegrationTests.daxref }

    @Test func libblkidFindsTheFileSystemAndWipefsLeavesNone() throws {
        let loop = try LoopDevice(bytes: 64 << 20, ext4: true)
        let signatures = try BlockSignatures.probe(loop.device)
        #expect(signatures.map(\.type) == ["ext4"])
        #expect(signatures.first?.usage == "filesystem")
        #expect(signatures.first?.label == "daxref-test")
        try LoopDevice.run(["wipefs", "--all", "--quiet", loop.device])
        #expect(try BlockSignatures.probe(loop.device).isEmpty)
        #expect(throws: Errno.noSuchFileOrDirectory) { try BlockSignatures.probe(loop.directory + "/missing") }
    }

    @Test func partitionTablesCount() throws {
        let loop = try LoopDevice(bytes: 64 << 20, ext4: false)
        let table = try Subprocess.capture(["sh", "-c", "printf 'label: gpt\\n,\\n' | sfdisk --quiet \(loop.device)"])
        try #require(table.status == 0, "sfdisk: \(table.stderr)")
        #expect(try BlockSignatures.probe(loop.device).contains { $0.usage == "partition table" && $0.type == "gpt" })
    }

    @Test func runRefusesAnUnmountedFileSystemAndKeepsIt() throws {
        let loop = try LoopDevice(bytes: 64 << 20, ext4: true)
        let uuid = try #require(loop.filesystemUUID)
        for allow in [[], ["--allow-overwrite", loop.device]] {
            let result = try Subprocess.capture([Self.daxref, "run", "--blk", loop.device, "--scenario", "anon.private.odirect-*"] + allow)
            #expect(result.status == 64, "\(result.stderr)")
            #expect(result.stderr.contains("carries data") && result.stderr.contains("ext4"), "\(result.stderr)")
            #expect(!result.stderr.contains("run: ["), "no scenario may start: \(result.stderr)")
            #expect(loop.filesystemUUID == uuid, "the file system must survive")
        }
    }

    @Test func daxrefBlkGoesThroughTheSameChecks() throws {
        let loop = try LoopDevice(bytes: 64 << 20, ext4: true)
        let uuid = try #require(loop.filesystemUUID)
        let mountpoint = try loop.mount()
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: mountpoint + "/file"))
        let result = try Subprocess.capture(
            ["env", "DAXREF_BLK=\(loop.device)", Self.daxref, "run", "--allow-overwrite", loop.device, "--scenario", "anon.private.odirect-*"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("DAXREF_BLK") && result.stderr.contains("mounted on \(mountpoint)"), "\(result.stderr)")
        #expect(try String(contentsOfFile: mountpoint + "/file", encoding: .utf8) == "precious\n")
        _ = try Subprocess.capture(["umount", mountpoint])
        #expect(loop.filesystemUUID == uuid)
        let check = try Subprocess.capture(["e2fsck", "-n", "-f", loop.device])
        #expect(check.status == 0, "the file system must be clean: \(check.stdout)")
    }

    @Test func anEmptyDeviceNeedsTheOptInNamingIt() throws {
        let loop = try LoopDevice(bytes: 16 << 20, ext4: false)
        let link = loop.directory + "/by-id"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: loop.device)
        let refused = try Subprocess.capture([Self.daxref, "run", "--blk", link, "--scenario", "anon.private.odirect-*"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("--allow-overwrite"), "\(refused.stderr)")
        // The opt-in may name the device by its link or its node; the run then really writes it.
        let allowed = try Subprocess.capture([Self.daxref, "run", "--blk", link, "--allow-overwrite", loop.device, "--scenario", "anon.private.odirect-*"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stdout.contains("Totals: pass:2 fail:0 skip:0 error:0"), "\(allowed.stdout)")

        let loopLink = loop.directory + "/loop-a"
        try FileManager.default.createSymbolicLink(atPath: loopLink, withDestinationPath: loop.directory + "/loop-b")
        try FileManager.default.createSymbolicLink(atPath: loop.directory + "/loop-b", withDestinationPath: loopLink)
        let looping = try Subprocess.capture([Self.daxref, "run", "--blk", loopLink, "--scenario", "anon.*"])
        #expect(looping.status == 64)
        #expect(looping.stderr.contains("Too many levels of symbolic links"), "\(looping.stderr)")
    }

    @Test func tooSmallAndBlocklessTargetsAreRefused() throws {
        let loop = try LoopDevice(bytes: 1 << 20, ext4: false)
        let small = try Subprocess.capture([Self.daxref, "run", "--blk", loop.device, "--allow-overwrite", loop.device, "--scenario", "anon.*"])
        #expect(small.status == 64)
        #expect(small.stderr.contains("need at least"), "\(small.stderr)")
        let tmpfs = try Subprocess.capture([Self.daxref, "run", "--blk", "/dev/shm", "--scenario", "anon.*"])
        #expect(tmpfs.status == 64)
        #expect(tmpfs.stderr.contains("tmpfs"), "\(tmpfs.stderr)")
    }
}
