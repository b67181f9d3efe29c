import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One 64-bit /proc/PID/pagemap entry. Bit layout from Documentation/admin-guide/mm/pagemap.rst
/// (and `PM_*` in fs/proc/task_mmu.c):
///  - bits 0-54: PFN if present (zero without CAP_SYS_ADMIN, since 4.2); if swapped, bits 0-4 are
///    the swap type and 5-54 the swap offset;
///  - 55 soft-dirty; 56 exclusively mapped (4.2+); 57 uffd-wp (5.13+); 58 guard region (6.15+);
///  - 59-60 zero; 61 file page or shared anon (3.5+); 62 swapped; 63 present.
public struct PagemapEntry: RawRepresentable, Codable, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    static let pfnMask: UInt64 = (1 << 55) - 1

    private func bit(_ n: Int) -> Bool { rawValue & (1 << UInt64(n)) != 0 }
    public var isPresent: Bool { bit(63) }
    public var isSwapped: Bool { bit(62) }
    /// `PM_FILE`: the page is a file page or shared anonymous memory. For DAX this is how the
    /// kernel says "I found a struct page with a mapping" (see the reference §5.2 per era).
    public var isFileOrSharedAnon: Bool { bit(61) }
    public var isGuardRegion: Bool { bit(58) }
    public var isUffdWriteProtected: Bool { bit(57) }
    /// `PM_MMAP_EXCLUSIVE`: certainly mapped only by this process.
    public var isExclusive: Bool { bit(56) }
    public var isSoftDirty: Bool { bit(55) }
    /// The PFN of a present page; 0 when the reader lacks CAP_SYS_ADMIN. nil when not present.
    public var pfn: UInt64? { isPresent ? rawValue & Self.pfnMask : nil }
    public var swapType: UInt64? { isSwapped ? rawValue & 0x1f : nil }
    public var swapOffset: UInt64? { isSwapped ? (rawValue & Self.pfnMask) >> 5 : nil }
}

/// The pagemap entries of a virtual range, one per base page, with the counts observers report.
public struct PagemapRange: Codable, Sendable, Equatable {
    public var startAddress: UInt64
    public var pageSize: UInt64
    public var entries: [PagemapEntry]

    public var present: Int { entries.count(where: \.isPresent) }
    public var swapped: Int { entries.count(where: \.isSwapped) }
    public var fileOrSharedAnon: Int { entries.count(where: \.isFileOrSharedAnon) }
    public var exclusive: Int { entries.count(where: \.isExclusive) }
    public var softDirty: Int { entries.count(where: \.isSoftDirty) }
    public var uffdWriteProtected: Int { entries.count(where: \.isUffdWriteProtected) }
    public var guardRegion: Int { entries.count(where: \.isGuardRegion) }
    /// PFNs of the present pages, in address order (zeros when hidden).
    public var pfns: [UInt64] { entries.compactMap(\.pfn) }
    /// The kernel zeroes PFNs for readers without CAP_SYS_ADMIN; no present user page has PFN 0.
    public var pfnsHidden: Bool { present > 0 && pfns.allSatisfy { $0 == 0 } }

    public func address(ofPage index: Int) -> UInt64 { startAddress + UInt64(index) * pageSize }

    public var observations: Observations {
        var result = Observations()
        result["pagemap.pages"] = .integer(Int64(entries.count))
        result["pagemap.present"] = .integer(Int64(present))
        result["pagemap.swapped"] = .integer(Int64(swapped))
        result["pagemap.file"] = .integer(Int64(fileOrSharedAnon))
        result["pagemap.exclusive"] = .integer(Int64(exclusive))
        result["pagemap.soft_dirty"] = .integer(Int64(softDirty))
        result["pagemap.uffd_wp"] = .integer(Int64(uffdWriteProtected))
        result["pagemap.guard"] = .integer(Int64(guardRegion))
        result["pagemap.pfns"] = pfnsHidden
            ? .unavailable("PFNs hidden: the reader lacks CAP_SYS_ADMIN")
            : .list(pfns.map { .integer(Int64($0)) })
        return result
    }
}

/// /proc/PID/pagemap: pread at (vaddr / pagesize) * 8, one little-endian u64 per page.
/// Reading it walks the page tables (and splits 1 GiB DAX PUD mappings; reference §5.1).
public enum Pagemap {
    /// Decodes raw pagemap bytes that start at `startAddress`. The length must be a multiple of 8.
    public static func decode(_ bytes: [UInt8], startAddress: UInt64, pageSize: UInt64) throws(ObserverError) -> PagemapRange {
        guard bytes.count % 8 == 0 else {
            throw .malformed(source: "pagemap", line: 0, reason: "\(bytes.count) bytes is not a whole number of 8-byte entries")
        }
        var entries: [PagemapEntry] = []
        entries.reserveCapacity(bytes.count / 8)
        for offset in stride(from: 0, to: bytes.count, by: 8) {
            var word: UInt64 = 0
            for byte in (0..<8).reversed() { word = word << 8 | UInt64(bytes[offset + byte]) }
            entries.append(PagemapEntry(rawValue: word))
        }
        return PagemapRange(startAddress: startAddress, pageSize: pageSize, entries: entries)
    }

    /// Reads the entries for `range` (page-aligned outward) of process `pid`.
    public static func read(pid: Int32, range: Range<UInt64>) throws(ObserverError) -> PagemapRange {
        let pageSize = UInt64(systemPageSize)
        let first = range.lowerBound / pageSize
        let last = (range.upperBound + pageSize - 1) / pageSize
        let path = FilePath("/proc/\(pid)/pagemap")
        let bytes = try readEntries(path, firstIndex: first, count: Int(last - first))
        let result = try decode(bytes, startAddress: first * pageSize, pageSize: pageSize)
        guard result.entries.count == Int(last - first) else {
            throw .malformed(source: "pagemap", line: 0, reason: "short read: \(result.entries.count) of \(last - first) pages")
        }
        return result
    }

    /// pread of `count` 8-byte entries starting at entry `firstIndex`, looping over short reads.
    /// Returns fewer bytes only at end of file. Shared with /proc/kpagecount and /proc/kpageflags.
    static func readEntries(_ path: FilePath, firstIndex: UInt64, count: Int) throws(ObserverError) -> [UInt8] {
        let fd: FileDescriptor
        do { fd = try withTypedErrno { try FileDescriptor.open(path, .readOnly, options: [.closeOnExec]) } } catch {
            throw .unreadable(path: path.string, error)
        }
        defer { try? fd.close() }
        return try readEntries(fd, path: path, firstIndex: firstIndex, count: count)
    }

    static func readEntries(_ fd: FileDescriptor, path: FilePath, firstIndex: UInt64, count: Int) throws(ObserverError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count * 8)
        var done = 0
        while done < buffer.count {
            let offset = Int64(firstIndex * 8) + Int64(done)
            let got: Int
            do {
                got = try withTypedErrno {
                    try buffer.withUnsafeMutableBytes { raw in
                        try fd.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
                    }
                }
            } catch { throw .unreadable(path: path.string, error) }
            if got == 0 { break }
            done += got
        }
        return Array(buffer[0..<done])
    }
}
