import Foundation
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import DaxrefKit

/// The memory owners on this host's kernel: controls for real, DAX refusals through their checks
/// (this host has no pmem; the VM runs cover devdax and fsdax themselves).
@Suite struct MemoryMappingTests {
    static func vmas(overlapping range: Range<UInt64>) throws -> [VMAHeader] {
        try ProcMaps.read(pid: getpid()).filter { $0.range.overlaps(range) }
    }

    static func range(_ base: UnsafeMutableRawPointer, _ length: Int) -> Range<UInt64> {
        let start = UInt64(UInt(bitPattern: base))
        return start..<start + UInt64(length)
    }

    @Test func alignedMappingStartsOnTheAlignmentAndLeavesNoReservationBehind() throws {
        let alignment = 2 << 20
        let mapping = try MemoryMapping(length: 4 << 20, alignment: alignment, protection: .readWrite, flags: [.private, .anonymous])
        #expect(Int(bitPattern: mapping.base) % alignment == 0)
        mapping.bytes.storeBytes(of: 0xAB, toByteOffset: mapping.length - 1, as: UInt8.self)
        // The PROT_NONE reservation's slack on either side must have been returned.
        let around = Self.range(mapping.base - alignment, mapping.length + 2 * alignment)
        let reservations = try Self.vmas(overlapping: around).filter { $0.permissions.hasPrefix("---") }
        #expect(reservations.isEmpty, "leftover reservation: \(reservations)")
    }

    @Test func unmapAndDeinitBothReleaseTheRange() throws {
        let explicit = try MemoryMapping(length: 1 << 20, alignment: 4096, protection: .readWrite, flags: [.private, .anonymous])
        let explicitRange = Self.range(explicit.base, explicit.length)
        try explicit.unmap()
        #expect(try Self.vmas(overlapping: explicitRange).isEmpty)

        var implicitRange: Range<UInt64> = 0..<0
        do {
            let scoped = try MemoryMapping(length: 1 << 20, alignment: 2 << 20, protection: .readWrite, flags: [.private, .anonymous])
            implicitRange = Self.range(scoped.base, scoped.length)
            #expect(try !Self.vmas(overlapping: implicitRange).isEmpty)
        }
        #expect(try Self.vmas(overlapping: implicitRange).isEmpty, "deinit must munmap")
    }

    @Test func mapErrorsAreErrnoValues() {
        // MAP_SHARED|MAP_PRIVATE together is invalid: the kernel says EINVAL.
        #expect(throws: Errno.invalidArgument) {
            try VirtualMemory.map(length: 4096, protection: .readWrite, flags: [.shared, .private, .anonymous])
        }
    }
}

@Suite struct MemoryUnderTestTests {
    @Test func pageCacheControlIsASharedTmpfsFileRemovedWithItsOwner() throws {
        var path = FilePath()
        do {
            var memory = try MappedMemory.open(.pageCache(), length: 3 << 20)
            #expect(memory.region.count == 4 << 20, "rounded up to the 2 MiB alignment")
            #expect(Int(bitPattern: memory.region.baseAddress) % (2 << 20) == 0)
            let filePath = memory.file?.path
            path = try #require(filePath)
            #expect(SystemFile.exists(path))
            let vma = try #require(try ProcMaps.read(pid: getpid()).first { $0.start == UInt64(UInt(bitPattern: memory.region.baseAddress)) })
            #expect(vma.isShared)
            memory.region.storeBytes(of: 7, toByteOffset: 0, as: UInt8.self)
            let mapped = memory.mapping != nil
            #expect(mapped)
            _ = memory.mapping.take()
            let unmapped = memory.mapping == nil
            #expect(unmapped, "a workload can take the mapping; the file stays until the owner goes")
            #expect(SystemFile.exists(path))
        }
        #expect(!SystemFile.exists(path), "the scratch file goes with its owner")
    }

    @Test func anonymousControlIsPrivate() throws {
        let memory = try MappedMemory.open(.anonymous, length: 1)
        #expect(memory.region.count == 2 << 20)
        let hasFile = memory.file != nil
        #expect(!hasFile)
        let vma = try #require(try ProcMaps.read(pid: getpid()).first { $0.start == UInt64(UInt(bitPattern: memory.region.baseAddress)) })
        #expect(!vma.isShared)
    }

    @Test func fsdaxRefusesAFileWithoutStatxDax() {
        // tmpfs never reports STATX_ATTR_DAX: the refusal must come before any mmap.
        let backing = Backing.fsdax(mountpoint: "/dev/shm", filesystem: .ext4)
        do {
            _ = try MappedMemory.open(backing, length: 2 << 20)
            Issue.record("a tmpfs file was accepted as fsdax")
        } catch {
            guard case .notDAX(let path, _) = error else { Issue.record("wrong error: \(error)"); return }
            #expect(path.hasPrefix("/dev/shm/daxref-"))
            #expect(error.description.contains("mount the filesystem with -o dax"))
        }
    }

    @Test func privateMappingOfTheControlsIsAccepted() throws {
        #expect(try MappedMemory.privateMappingRefusal(.anonymous, length: 1) == nil)
        #expect(try MappedMemory.privateMappingRefusal(.pageCache(), length: 1) == nil)
    }

    @Test func scratchFileCanBeClosedAndUnlinkedByAWorkload() throws {
        var file = try ScratchFile(in: "/dev/shm")
        let path = file.path
        try file.close()
        try file.close()  // a second close is a no-op, not EBADF
        let open = file.isOpen
        #expect(!open)
        let taken = file.takeUnlink()
        #expect(taken == path)
        try unlinkFile(taken)
        #expect(throws: Errno.noSuchFileOrDirectory) { try unlinkFile(taken) }
    }
}

@Suite struct DeviceDaxGeometryTests {
    /// A fake /sys/bus/dax/devices with one device.
    static func sysfs(align: String?, size: String?) throws -> FilePath {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("daxref-sysfs-\(UUID().uuidString)")
        let device = root.appendingPathComponent("dax3.0")
        try FileManager.default.createDirectory(at: device, withIntermediateDirectories: true)
        if let align { try (align + "\n").write(to: device.appendingPathComponent("align"), atomically: true, encoding: .utf8) }
        if let size { try (size + "\n").write(to: device.appendingPathComponent("size"), atomically: true, encoding: .utf8) }
        return FilePath(root.path)
    }

    @Test func readsAlignAndSizeAndChecksTheKernelsRule() throws {
        let root = try Self.sysfs(align: "2097152", size: "268435456")
        defer { try? FileManager.default.removeItem(atPath: root.string) }
        let geometry = try DeviceDaxGeometry.read(device: "/dev/dax3.0", sysfsRoot: root)
        #expect(geometry == DeviceDaxGeometry(device: "/dev/dax3.0", align: 2 << 20, size: 256 << 20))
        try geometry.check(length: 4 << 20, offset: 2 << 20)

        func refusal(_ length: Int, _ offset: Int) -> MemoryError? {
            do { try geometry.check(length: length, offset: offset); return nil } catch { return error }
        }
        guard case .misaligned(_, "length", 4096, 2097152)? = refusal(4096, 0) else { Issue.record("4K length on a 2M device"); return }
        guard case .misaligned(_, "offset", 4096, 2097152)? = refusal(2 << 20, 4096) else { Issue.record("4K offset"); return }
        guard case .beyondDevice? = refusal(2 << 20, 256 << 20) else { Issue.record("past the end"); return }
        #expect(refusal(4096, 0)?.description.contains("align 2097152") == true)
    }

    @Test func missingOrMalformedAttributesAreClearErrors() throws {
        let noAlign = try Self.sysfs(align: nil, size: "4096")
        defer { try? FileManager.default.removeItem(atPath: noAlign.string) }
        #expect(throws: MemoryError.self) { try DeviceDaxGeometry.read(device: "/dev/dax3.0", sysfsRoot: noAlign) }
        let garbage = try Self.sysfs(align: "2M", size: "4096")
        defer { try? FileManager.default.removeItem(atPath: garbage.string) }
        do {
            _ = try DeviceDaxGeometry.read(device: "/dev/dax3.0", sysfsRoot: garbage)
            Issue.record("accepted align 2M")
        } catch {
            guard case .sysfs(let path, let reason) = error else { Issue.record("\(error)"); return }
            #expect(path.hasSuffix("dax3.0/align") && reason.contains("2M"))
        }
        #expect(throws: MemoryError.self) { try DeviceDaxGeometry.read(device: "/dev/pmem0", sysfsRoot: garbage) }
    }
}

@Suite struct IoUringBufferPinTests {
    @Test func registersAndUnregistersAnonymousMemory() throws {
        let mapping = try MemoryMapping(length: 16 * 4096, alignment: 4096, protection: .readWrite, flags: [.private, .anonymous])
        var pin: IoUringBufferPin
        do { pin = try IoUringBufferPin(registering: mapping.bytes) } catch {
            // A kernel with io_uring disabled (kernel.io_uring_disabled) says so at setup.
            guard case .setup(let errno) = error, errno == .notPermitted || errno == .noFunction else {
                Issue.record("\(error)")
                return
            }
            return
        }
        let registered = pin.isRegistered
        #expect(registered)
        try pin.unregister()
        let stillRegistered = pin.isRegistered
        #expect(!stillRegistered)
        // A second IORING_UNREGISTER_BUFFERS is not sent (the kernel would answer ENXIO).
        try pin.unregister()
    }

    @Test func registrationOfInaccessibleMemoryFailsWithEFAULT() throws {
        let mapping = try MemoryMapping(length: 4 * 4096, alignment: 4096, protection: .none, flags: [.private, .anonymous])
        do {
            _ = try IoUringBufferPin(registering: mapping.bytes)
            Issue.record("registered PROT_NONE memory")
        } catch {
            switch error {
            case .register(let errno): #expect(errno == .badAddress)
            case .setup(let errno): #expect(errno == .notPermitted || errno == .noFunction, "io_uring unavailable: \(errno)")
            }
        }
    }
}

@Suite struct BackingTests {
    @Test func idsAndLengths() {
        #expect(Backing.deviceDax(path: "/dev/dax0.0", align: .align4k).id == "devdax.4k")
        #expect(Backing.deviceDax(path: "/dev/dax0.1", align: .align2m).id == "devdax.2m")
        #expect(Backing.deviceDax(path: "/dev/dax0.2", align: .align1g).id == "devdax.1g")
        #expect(DeviceAlign(rawValue: 12288) == nil, "no fixture maps 12 KiB")
        #expect(Backing.fsdax(mountpoint: "/mnt/daxref/xfs", filesystem: .xfs).id == "fsdax.xfs")
        let twoMeg = Backing.deviceDax(path: "/dev/dax0.1", align: .align2m)
        #expect(twoMeg.mappingLength(for: 1) == 2 << 20)
        #expect(twoMeg.mappingLength(for: (2 << 20) + 1) == 4 << 20)
        #expect(twoMeg.mappingLength(for: 4 << 20) == 4 << 20)
        #expect(!twoMeg.hasFile && Backing.pageCache().hasFile && !Backing.pageCache().isDAX)
    }

    @Test func errnoNames() {
        #expect(Errno(rawValue: 95).symbolicName == "EOPNOTSUPP")
        #expect(Errno.invalidArgument.symbolicName == "EINVAL")
        #expect(Errno(rawValue: 4095).symbolicName == "errno 4095")
    }
}
