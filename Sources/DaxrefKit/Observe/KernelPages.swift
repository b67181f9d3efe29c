import SystemPackage

/// A /proc/kpageflags word, decoded by name. Bits 0-26 are the documented ABI
/// (Documentation/admin-guide/mm/pagemap.rst, include/uapi/linux/kernel-page-flags.h); 32-42 are
/// the "kernel hacking assistances" of include/linux/kernel-page-flags.h ("subject to change").
public struct KernelPageFlags: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `KPF_NOPAGE` (bit 20): "no page frame exists at the requested address". 6.1 and 6.12 report it
    /// for ZONE_DEVICE PFNs; the fs/proc/page.c refactor (≈6.16) reports 0 instead ([7.2 fs/proc/page.c kpage_read()]).
    public static let noPageBit = 20

    public static let names: [Int: String] = [
        0: "LOCKED", 1: "ERROR", 2: "REFERENCED", 3: "UPTODATE", 4: "DIRTY", 5: "LRU", 6: "ACTIVE",
        7: "SLAB", 8: "WRITEBACK", 9: "RECLAIM", 10: "BUDDY", 11: "MMAP", 12: "ANON", 13: "SWAPCACHE",
        14: "SWAPBACKED", 15: "COMPOUND_HEAD", 16: "COMPOUND_TAIL", 17: "HUGE", 18: "UNEVICTABLE",
        19: "HWPOISON", 20: "NOPAGE", 21: "KSM", 22: "THP",
        // 23 was BALLOON until the flag was renamed to OFFLINE (5.x); same bit.
        23: "OFFLINE", 24: "ZERO_PAGE", 25: "IDLE", 26: "PGTABLE",
        32: "RESERVED", 33: "MLOCKED",
        // 34 was MAPPEDTODISK (6.1), now OWNER_2; same bit.
        34: "OWNER_2", 35: "PRIVATE", 36: "PRIVATE_2", 37: "OWNER_PRIVATE", 38: "ARCH", 39: "UNCACHED",
        40: "SOFTDIRTY", 41: "ARCH_2", 42: "ARCH_3",
    ]

    public func contains(bit: Int) -> Bool { rawValue & (1 << UInt64(bit)) != 0 }
    public var isNoPage: Bool { contains(bit: Self.noPageBit) }

    /// Set flags by name in bit order; a bit without a name shows as `BIT<n>`.
    public var flagNames: [String] {
        (0..<64).filter { contains(bit: $0) }.map { Self.names[$0] ?? "BIT\($0)" }
    }

    public var description: String { rawValue == 0 ? "0" : flagNames.joined(separator: "|") }
}

/// What one 8-byte read at `pfn * 8` of /proc/kpagecount or /proc/kpageflags gave.
/// The three outcomes the era rules tell apart: a value (which may be 0 or have `KPF_NOPAGE`),
/// end of file (the PFN is at or beyond `round_up(max_pfn, PAGES_PER_SECTION)`, typical for pmem
/// above the top of RAM), or an error for that read.
public enum KernelPageWord: Codable, Sendable, Equatable, CustomStringConvertible {
    case value(UInt64)
    case endOfFile
    case readError(errno: Int32)

    public var value: UInt64? { if case .value(let value) = self { value } else { nil } }
    public var isReadError: Bool { if case .readError = self { true } else { false } }

    public var description: String {
        switch self {
        case .value(let value): "0x" + String(value, radix: 16)
        case .endOfFile: "EOF"
        case .readError(let errno): "error: \(Errno(rawValue: errno))"
        }
    }
}

/// /proc/kpagecount (per PFN: mapcount, 0 for ZONE_DEVICE in every era) and /proc/kpageflags.
public enum KernelPageFile: String, Codable, Sendable {
    case count = "/proc/kpagecount"
    case flags = "/proc/kpageflags"

    /// Decodes the bytes read for consecutive PFNs starting at `firstPFN`, `requested` of them.
    /// Fewer bytes than asked means the rest lies beyond the end of the file.
    public static func decode(_ bytes: [UInt8], firstPFN: UInt64, requested: Int) throws(ObserverError) -> [(pfn: UInt64, word: KernelPageWord)] {
        try words(bytes, requested: requested).enumerated().map { index, word in (firstPFN + UInt64(index), word) }
    }

    /// `decode` without the PFN numbers.
    private static func words(_ bytes: [UInt8], requested: Int) throws(ObserverError) -> [KernelPageWord] {
        guard bytes.count % 8 == 0, bytes.count <= requested * 8 else {
            throw .malformed(source: "kpage", line: 0, reason: "\(bytes.count) bytes for \(requested) PFNs")
        }
        var result = Pagemap.words(bytes).map(KernelPageWord.value)
        if result.count < requested { result += repeatElement(.endOfFile, count: requested - result.count) }
        return result
    }

    /// Reads the word of each PFN (in the order given; duplicates allowed). Consecutive PFNs are read
    /// in one pread. A failing pread marks only its PFNs; failing to open the file throws.
    public func read(pfns: [UInt64]) throws(ObserverError) -> [KernelPageWord] {
        let fd = try ObserverError.open(rawValue)
        defer { try? fd.close() }
        // PFNs of a DAX mapping usually come in ascending order already; then no reordering is needed.
        var ascending = true
        var index = 1
        while ascending, index < pfns.count {
            ascending = pfns[index - 1] < pfns[index]
            index += 1
        }
        let distinct = ascending ? pfns : Set(pfns).sorted()
        var words: [KernelPageWord] = []
        words.reserveCapacity(distinct.count)
        for run in Self.consecutiveRuns(distinct) {
            do throws(ObserverError) {
                let bytes = try Pagemap.readEntries(fd, path: rawValue, firstIndex: run.lowerBound, count: run.count)
                words += try Self.words(bytes, requested: run.count)
            } catch {
                guard case .unreadable(_, let errno) = error else { throw error }
                words += repeatElement(.readError(errno: errno.rawValue), count: run.count)
            }
        }
        if ascending { return words }
        let byPFN = Dictionary(uniqueKeysWithValues: zip(distinct, words))
        return pfns.map { byPFN[$0]! }
    }

    /// Sorted distinct PFNs grouped into runs of consecutive numbers (at most 64 Ki PFNs, 512 KiB, per run).
    static func consecutiveRuns(_ sorted: [UInt64]) -> [ClosedRange<UInt64>] {
        var runs: [ClosedRange<UInt64>] = []
        var index = 0
        while index < sorted.count {
            let first = sorted[index]
            var last = first
            index += 1
            while index < sorted.count, sorted[index] == last &+ 1, last - first < 65535 {
                last = sorted[index]
                index += 1
            }
            runs.append(first...last)
        }
        return runs
    }
}

/// kpagecount and kpageflags for a list of PFNs, with the counts observers report.
public struct KernelPageReadings: Codable, Sendable, Equatable {
    public var pfns: [UInt64]
    public var counts: [KernelPageWord]
    public var flags: [KernelPageWord]

    public var observations: Observations {
        var result = Observations()
        func list(_ words: [KernelPageWord]) -> ObservedValue {
            .list(words.map { word in
                switch word {
                case .value(let value): .integer(Int64(bitPattern: value))
                case .endOfFile: .unavailable("EOF: PFN beyond the end of the file")
                case .readError(let errno): .unavailable("read error: \(Errno(rawValue: errno))")
                }
            })
        }
        var countEOF = 0, countErrors = 0, countNonzero = 0
        for word in counts {
            switch word {
            case .value(let value): if value != 0 { countNonzero += 1 }
            case .endOfFile: countEOF += 1
            case .readError: countErrors += 1
            }
        }
        result[.kpagecountValues] = list(counts)
        result[.kpagecountEof] = .integer(Int64(countEOF))
        result[.kpagecountErrors] = .integer(Int64(countErrors))
        result[.kpagecountNonzero] = .integer(Int64(countNonzero))
        var flagsEOF = 0, flagsErrors = 0, noPage = 0, zero = 0
        var union: UInt64 = 0
        for word in flags {
            switch word {
            case .value(let value):
                if KernelPageFlags(rawValue: value).isNoPage { noPage += 1 }
                if value == 0 { zero += 1 }
                union |= value
            case .endOfFile: flagsEOF += 1
            case .readError: flagsErrors += 1
            }
        }
        result[.kpageflagsValues] = list(flags)
        result[.kpageflagsNopage] = .integer(Int64(noPage))
        result[.kpageflagsZero] = .integer(Int64(zero))
        result[.kpageflagsEof] = .integer(Int64(flagsEOF))
        result[.kpageflagsErrors] = .integer(Int64(flagsErrors))
        result[.kpageflagsUnion] = .text(KernelPageFlags(rawValue: union).description)
        return result
    }

    public static func read(pfns: [UInt64]) throws(ObserverError) -> KernelPageReadings {
        KernelPageReadings(pfns: pfns, counts: try KernelPageFile.count.read(pfns: pfns), flags: try KernelPageFile.flags.read(pfns: pfns))
    }
}
