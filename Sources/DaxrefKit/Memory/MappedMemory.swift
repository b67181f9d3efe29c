import SystemPackage

/// Memory under test: one mapping of a backing, with what keeps it alive (the device fd, the
/// scratch file). Everything is released when the owner goes away; workloads that unmap, close or
/// unlink early take the part they release (`mapping.take()`, `file?.close()`), so the rest is
/// still cleaned up exactly once.
public struct MappedMemory: ~Copyable {
    public let backing: Backing
    /// The mapped range. Stays valid as a description after the mapping is gone; touching it then
    /// is a workload bug (or, after truncate, exactly the SIGBUS the guarded loops catch).
    public let region: UnsafeMutableRawBufferPointer
    /// nil once a workload unmapped it.
    public var mapping: MemoryMapping?
    /// The backing file of fsdax and page-cache memory; nil for device-dax and anonymous memory.
    public var file: ScratchFile?
    /// The open /dev/daxX.Y of device-dax memory.
    private let device: FileDescriptor?

    private init(backing: Backing, mapping: consuming MemoryMapping, file: consuming ScratchFile?, device: FileDescriptor?) {
        self.backing = backing
        self.region = mapping.bytes
        self.mapping = .some(mapping)
        self.file = file
        self.device = device
    }

    deinit { if let device { try? device.close() } }

    /// Maps `length` bytes (rounded up to `backing.alignment`) of any backing.
    public static func open(_ backing: Backing, length requested: Int) throws(MemoryError) -> MappedMemory {
        let length = backing.mappingLength(for: requested)
        switch backing.kind {
        case .devdax: return try deviceDax(backing, length: length)
        case .fsdax: return try daxFile(backing, length: length)
        case .anonymous: return try anonymous(backing, length: length)
        case .pagecache: return try pageCacheFile(backing, length: length)
        }
    }

    /// /dev/daxX.Y mapped MAP_SHARED (the only way device-dax can be mapped: the driver refuses
    /// private mappings). `length` and `offset` must be multiples of the device's `align`.
    public static func deviceDax(_ backing: Backing, length: Int, offset: Int = 0) throws(MemoryError) -> MappedMemory {
        let path = FilePath(backing.path ?? "")
        let geometry = try DeviceDaxGeometry.read(device: path)
        try geometry.check(length: length, offset: offset)
        let device = try setup("open \(path)") { () throws(Errno) in
            try withTypedErrno { try FileDescriptor.open(path, .readWrite, options: [.closeOnExec]) }
        }
        do {
            let mapping = try MemoryMapping(
                length: length, alignment: geometry.align, protection: .readWrite, flags: .shared, file: device,
                offset: Int64(offset))
            return MappedMemory(backing: backing, mapping: mapping, file: nil, device: device)
        } catch {
            try? device.close()
            throw .system(operation: "mmap \(path) length \(length) offset \(offset)", error)
        }
    }

    /// A preallocated file on a filesystem mounted -o dax, mapped MAP_SHARED_VALIDATE|MAP_SYNC (which
    /// the kernel only accepts for DAX). Refused before mapping unless statx reports STATX_ATTR_DAX.
    public static func daxFile(_ backing: Backing, length: Int) throws(MemoryError) -> MappedMemory {
        var file = try createFile(backing, length: length)
        let dax: Bool?
        do { dax = try StatxAttributes.of(file.path).isDAX } catch {
            throw .system(operation: "statx \(file.path)", error)
        }
        guard dax == true else {
            throw .notDAX(
                path: file.path.string,
                reason: dax == nil ? "statx does not report STATX_ATTR_DAX (kernel < 5.8?)" : "statx STATX_ATTR_DAX is clear")
        }
        let mapping = try mapFile(&file, backing: backing, length: length, flags: [.sharedValidate, .sync])
        return MappedMemory(backing: backing, mapping: mapping, file: file, device: nil)
    }

    /// Control: private anonymous memory.
    public static func anonymous(_ backing: Backing, length: Int) throws(MemoryError) -> MappedMemory {
        let mapping = try setup("mmap anonymous \(length)") { () throws(Errno) in
            try MemoryMapping(length: length, alignment: backing.alignment, protection: .readWrite, flags: [.private, .anonymous])
        }
        return MappedMemory(backing: backing, mapping: mapping, file: nil, device: nil)
    }

    /// Control: a preallocated tmpfs file mapped MAP_SHARED (page cache pages).
    public static func pageCacheFile(_ backing: Backing, length: Int) throws(MemoryError) -> MappedMemory {
        var file = try createFile(backing, length: length)
        let mapping = try mapFile(&file, backing: backing, length: length, flags: .shared)
        return MappedMemory(backing: backing, mapping: mapping, file: file, device: nil)
    }

    fileprivate static func createFile(_ backing: Backing, length: Int) throws(MemoryError) -> ScratchFile {
        let directory = FilePath(backing.path ?? "")
        let file = try setup("create a file in \(directory)") { () throws(Errno) in try ScratchFile(in: directory) }
        // Preallocated, so a write fault never has to allocate blocks (on fsdax that would mix
        // allocation into what the fault shows) and the file has its final size before mapping.
        try setup("fallocate \(file.path) 0..\(length)") { () throws(Errno) in
            try file.descriptor!.allocate(.allocate, offset: 0, length: Int64(length))
        }
        return file
    }

    private static func mapFile(
        _ file: inout ScratchFile, backing: Backing, length: Int, flags: VirtualMemory.Flags
    ) throws(MemoryError) -> MemoryMapping {
        let descriptor = file.descriptor
        return try setup("mmap \(file.path)") { () throws(Errno) in
            try MemoryMapping(
                length: length, alignment: backing.alignment, protection: .readWrite, flags: flags, file: descriptor)
        }
    }

    fileprivate static func setup<T: ~Copyable>(_ operation: @autoclosure () -> String, _ body: () throws(Errno) -> T) throws(MemoryError) -> T {
        do { return try body() } catch { throw .system(operation: operation(), error) }
    }
}

/// A device-dax device's geometry from sysfs (/sys/bus/dax/devices/daxX.Y/{align,size}).
public struct DeviceDaxGeometry: Sendable, Equatable {
    public var device: String
    public var align: Int
    public var size: Int

    public static func read(device: FilePath, sysfsRoot: FilePath = "/sys/bus/dax/devices") throws(MemoryError) -> DeviceDaxGeometry {
        guard let name = device.lastComponent?.string, name.hasPrefix("dax") else {
            throw .sysfs(path: device.string, reason: "not a /dev/daxX.Y path")
        }
        func number(_ attribute: String) throws(MemoryError) -> Int {
            let path = sysfsRoot.appending(name).appending(attribute)
            let text: String?
            do { text = try SystemFile.readAttribute(path) } catch {
                throw .sysfs(path: path.string, reason: "unreadable: \(error)")
            }
            guard let text else { throw .sysfs(path: path.string, reason: "missing (is \(name) a device-dax device?)") }
            guard let value = Int(text), value > 0 else { throw .sysfs(path: path.string, reason: "not a positive number: \(text)") }
            return value
        }
        return DeviceDaxGeometry(device: device.string, align: try number("align"), size: try number("size"))
    }

    /// The kernel's own rule (dax_mmap → check_vma, dax_get_unmapped_area): both ends of the VMA and
    /// the file offset aligned to `align`; said here with the numbers, instead of a bare EINVAL.
    public func check(length: Int, offset: Int) throws(MemoryError) {
        if length <= 0 || length % align != 0 {
            throw .misaligned(device: device, what: "length", value: length, align: align)
        }
        if offset < 0 || offset % align != 0 {
            throw .misaligned(device: device, what: "offset", value: offset, align: align)
        }
        if offset + length > size {
            throw .beyondDevice(device: device, offset: offset, length: length, size: size)
        }
    }
}

extension MappedMemory {
    /// Tries mmap(MAP_PRIVATE) of the backing and unmaps it again: nil when the kernel accepted it,
    /// else its errno (device-dax refuses private mappings: EINVAL from the driver's check_vma).
    public static func privateMappingRefusal(_ backing: Backing, length requested: Int) throws(MemoryError) -> Errno? {
        let length = backing.mappingLength(for: requested)
        var file: ScratchFile?
        let descriptor: FileDescriptor?
        switch backing.kind {
        case .devdax:
            let path = FilePath(backing.path ?? "")
            try DeviceDaxGeometry.read(device: path).check(length: length, offset: 0)
            descriptor = try setup("open \(path)") { () throws(Errno) in
                try withTypedErrno { try FileDescriptor.open(path, .readWrite, options: [.closeOnExec]) }
            }
        case .fsdax, .pagecache:
            file = try createFile(backing, length: length)
            descriptor = file?.descriptor
        case .anonymous:
            descriptor = nil
        }
        defer { if backing.kind == .devdax, let descriptor { try? descriptor.close() } }
        do {
            _ = try MemoryMapping(
                length: length, alignment: backing.alignment, protection: .readWrite,
                flags: descriptor == nil ? [.private, .anonymous] : .private, file: descriptor)
            return nil
        } catch {
            return error
        }
    }
}
