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
    /// kernel says "I found a struct page with a mapping" (fs/proc/task_mmu.c pte_to_pagemap_entry; which DAX pages have one changed in 6.15).
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

    public var present: Int { counts.present }
    public var swapped: Int { counts.swapped }
    public var fileOrSharedAnon: Int { counts.fileOrSharedAnon }
    public var exclusive: Int { counts.exclusive }
    public var softDirty: Int { counts.softDirty }
    public var uffdWriteProtected: Int { counts.uffdWriteProtected }
    public var guardRegion: Int { counts.guardRegion }
    /// PFNs of the present pages, in address order (zeros when hidden).
    public var pfns: [UInt64] {
        var pfns: [UInt64] = []
        pfns.reserveCapacity(entries.count)
        for entry in entries where entry.isPresent { pfns.append(entry.rawValue & PagemapEntry.pfnMask) }
        return pfns
    }

    /// The kernel zeroes PFNs for readers without CAP_SYS_ADMIN; no present user page has PFN 0.
    public var pfnsHidden: Bool {
        var present = false
        for entry in entries where entry.isPresent {
            if entry.rawValue & PagemapEntry.pfnMask != 0 { return false }
            present = true
        }
        return present
    }

    /// The per-bit counts, in one pass over the entries (a key-path `count(where:)` per bit was slow
    /// in a debug build).
    private struct Counts {
        var present = 0, swapped = 0, fileOrSharedAnon = 0, exclusive = 0, softDirty = 0, uffdWriteProtected = 0, guardRegion = 0
    }

    private var counts: Counts {
        var counts = Counts()
        for entry in entries {
            if entry.isPresent { counts.present += 1 }
            if entry.isSwapped { counts.swapped += 1 }
            if entry.isFileOrSharedAnon { counts.fileOrSharedAnon += 1 }
            if entry.isExclusive { counts.exclusive += 1 }
            if entry.isSoftDirty { counts.softDirty += 1 }
            if entry.isUffdWriteProtected { counts.uffdWriteProtected += 1 }
            if entry.isGuardRegion { counts.guardRegion += 1 }
        }
        return counts
    }

    public func address(ofPage index: Int) -> UInt64 { startAddress + UInt64(index) * pageSize }

    public var observations: Observations {
        let counts = counts
        var result = Observations()
        result[.pagemapPages] = .integer(Int64(entries.count))
        result[.pagemapPresent] = .integer(Int64(counts.present))
        result[.pagemapSwapped] = .integer(Int64(counts.swapped))
        result[.pagemapFile] = .integer(Int64(counts.fileOrSharedAnon))
        result[.pagemapExclusive] = .integer(Int64(counts.exclusive))
        result[.pagemapSoftDirty] = .integer(Int64(counts.softDirty))
        result[.pagemapUffdWP] = .integer(Int64(counts.uffdWriteProtected))
        result[.pagemapGuard] = .integer(Int64(counts.guardRegion))
        result[.pagemapPFNs] = pfnsHidden
            ? .unavailable("PFNs hidden: the reader lacks CAP_SYS_ADMIN")
            : .list(pfns.map { .integer(Int64($0)) })
        return result
    }
}

/// /proc/PID/pagemap: pread at (vaddr / pagesize) * 8, one little-endian u64 per page.
/// Reading it walks the page tables (and splits 1 GiB DAX PUD mappings: mm/pagewalk.c walk_pud_range).
public enum Pagemap {
    /// Decodes raw pagemap bytes that start at `startAddress`. The length must be a multiple of 8.
    public static func decode(_ bytes: [UInt8], startAddress: UInt64, pageSize: UInt64) throws(ObserverError) -> PagemapRange {
        guard bytes.count % 8 == 0 else {
            throw .malformed(source: "pagemap", line: 0, reason: "\(bytes.count) bytes is not a whole number of 8-byte entries")
        }
        return PagemapRange(startAddress: startAddress, pageSize: pageSize, entries: words(bytes).map(PagemapEntry.init(rawValue:)))
    }

    /// `bytes` (a multiple of 8 long) as little-endian 64-bit words: one memory copy on little-endian
    /// machines, instead of assembling each word byte by byte.
    static func words(_ bytes: [UInt8]) -> [UInt64] {
        let count = bytes.count / 8
        return [UInt64](unsafeUninitializedCapacity: count) { words, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(words).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<count * 8]))
            }
            #if _endian(big)
            for index in 0..<count { words[index] = UInt64(littleEndian: words[index]) }
            #endif
            initialized = count
        }
    }

    /// Reads the entries for `range` (page-aligned outward) of process `pid`.
    public static func read(pid: Int32, range: Range<UInt64>) throws(ObserverError) -> PagemapRange {
        let pageSize = UInt64(systemPageSize)
        let first = range.lowerBound / pageSize
        let last = (range.upperBound + pageSize - 1) / pageSize
        let bytes = try readEntries("/proc/\(pid)/pagemap", firstIndex: first, count: Int(last - first))
        let result = try decode(bytes, startAddress: first * pageSize, pageSize: pageSize)
        guard result.entries.count == Int(last - first) else {
            throw .malformed(source: "pagemap", line: 0, reason: "short read: \(result.entries.count) of \(last - first) pages")
        }
        return result
    }

    /// pread of `count` 8-byte entries starting at entry `firstIndex`, looping over short reads.
    /// Returns fewer bytes only at end of file. Shared with /proc/kpagecount and /proc/kpageflags.
    static func readEntries(_ path: String, firstIndex: UInt64, count: Int) throws(ObserverError) -> [UInt8] {
        let fd = try ObserverError.open(path)
        defer { try? fd.close() }
        return try readEntries(fd, path: path, firstIndex: firstIndex, count: count)
    }

    static func readEntries(_ fd: FileDescriptor, path: String, firstIndex: UInt64, count: Int) throws(ObserverError) -> [UInt8] {
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
            } catch { throw .unreadable(path: path, error) }
            if got == 0 { break }
            done += got
        }
        buffer.removeLast(buffer.count - done)
        return buffer
    }
}
