import SystemPackage

/// One mmap'd range, unmapped when its owner goes away. Move-only, so exactly one owner unmaps it.
public struct MemoryMapping: ~Copyable {
    public let base: UnsafeMutableRawPointer
    public let length: Int

    /// Maps `length` bytes at an address aligned to `alignment`. The kernel picks page-aligned
    /// addresses only (device-dax and DAX files do align to their own size, anonymous memory and
    /// tmpfs do not on every kernel), so for a larger alignment an inaccessible reservation of
    /// length + alignment is made first, the mapping is placed at its first aligned address with
    /// MAP_FIXED, and the slack on both sides is returned.
    public init(
        length: Int, alignment: Int, protection: VirtualMemory.Protection, flags: VirtualMemory.Flags,
        file: FileDescriptor? = nil, offset: Int64 = 0
    ) throws(Errno) {
        precondition(length > 0 && alignment > 0 && alignment & (alignment - 1) == 0, "length > 0, alignment a power of two")
        guard alignment > systemPageSize else {
            base = try VirtualMemory.map(length: length, protection: protection, flags: flags, file: file, offset: offset)
            self.length = length
            return
        }
        let span = length + alignment
        let reservation = try VirtualMemory.map(length: span, protection: .none, flags: [.private, .anonymous, .noReserve])
        let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: reservation) + alignment - 1) & ~(alignment - 1))!
        do {
            _ = try VirtualMemory.map(
                at: aligned, length: length, protection: protection, flags: flags.union(.fixed), file: file, offset: offset)
        } catch {
            try? VirtualMemory.unmap(reservation, length: span)
            throw error
        }
        let head = aligned - reservation
        let tail = span - head - length
        if head > 0 { try? VirtualMemory.unmap(reservation, length: head) }
        if tail > 0 { try? VirtualMemory.unmap(aligned + length, length: tail) }
        base = aligned
        self.length = length
    }

    deinit { try? VirtualMemory.unmap(base, length: length) }

    /// munmap now, with its errno; the owner is gone either way.
    public consuming func unmap() throws(Errno) {
        let (base, length) = (self.base, self.length)
        discard self
        try VirtualMemory.unmap(base, length: length)
    }

    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: length) }
}
