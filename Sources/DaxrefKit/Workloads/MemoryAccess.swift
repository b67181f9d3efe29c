import CDaxrefShim

/// The guarded memory loops of the C shim: a SIGBUS or SIGSEGV in them becomes an `Outcome`
/// instead of killing the process. The pattern is one 64-bit word per 64 bytes, derived from a seed
/// and the offset, so misplaced data (a page from the wrong offset) is caught as well as stale data.
enum MemoryAccess {
    struct Fault: Equatable {
        var signal: Int32
        var offset: UInt64
    }

    struct Outcome: Equatable {
        var fault: Fault?
        /// The first pattern word that differed (verify only).
        var mismatchOffset: UInt64?

        init(_ result: CDaxrefShim_access_result) {
            fault = result.signal == 0 ? nil : Fault(signal: result.signal, offset: result.fault_offset)
            mismatchOffset = result.mismatch_offset == UInt64.max ? nil : result.mismatch_offset
        }

        var isIntact: Bool { fault == nil && mismatchOffset == nil }
    }

    /// Seeds: the parent's data, a child's data, data that went through a device.
    static let parentSeed: UInt64 = 0xDA7A_0000_0000_0001
    static let childSeed: UInt64 = 0xDA7A_0000_0000_0002
    static let deviceSeed: UInt64 = 0xDA7A_0000_0000_0003

    static func touch(_ region: UnsafeMutableRawBufferPointer, stride: Int, write: Bool) -> Outcome {
        Outcome(CDaxrefShim_guarded_touch(region.baseAddress, region.count, stride, write ? 1 : 0))
    }

    static func fill(_ region: UnsafeMutableRawBufferPointer, seed: UInt64) -> Outcome {
        Outcome(CDaxrefShim_guarded_fill(region.baseAddress, region.count, seed))
    }

    static func verify(_ region: UnsafeRawBufferPointer, seed: UInt64) -> Outcome {
        Outcome(CDaxrefShim_guarded_verify(region.baseAddress, region.count, seed))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The first `count` bytes (all of them when shorter).
    func prefix(bytes count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self[0..<Swift.min(count, self.count)])
    }
}
