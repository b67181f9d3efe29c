import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Labels what a session sees with named moments: after each action, a short settle (completions
/// on other CPUs, such as a bio's end_io, reach the buffer), a sample, and a collect of everything
/// the probes recorded since the previous moment. `kprobe-check` and the `refcount-timeline`
/// workload both drive their session through one of these.
public struct KprobeRecorder: Sendable {
    public var keepRawText: Bool
    public private(set) var captures: [KprobeCapture] = []

    public init(keepRawText: Bool = false) { self.keepRawText = keepRawText }

    /// Settles, samples (unless `sampling` is false: a moment that did not happen, such as a refused
    /// pin, gets its hits but no reading) and collects under `moment`. A failed collect is returned,
    /// not recorded.
    @discardableResult
    public mutating func record(_ moment: String, sampling: Bool = true, session: inout KprobeSession) -> Result<KprobeCapture, KprobeSessionError> {
        usleep(20_000)
        if sampling { session.sample() }
        do {
            let capture = try session.collect(step: moment, keepingRawText: keepRawText)
            captures.append(capture)
            return .success(capture)
        } catch {
            return .failure(error)
        }
    }

    /// The sample of `pfn` taken at `moment`, if any.
    public func sample(_ moment: String, pfn: UInt64) -> KprobeSample? {
        captures.last { $0.step == moment }?.samples.first { $0.pfn == pfn }
    }
}

/// The raw trace of a session as a parser fixture: the text the kernel printed, with the facts
/// needed to interpret it as `#` comments (which the parser ignores): the page under test, the
/// vmemmap base, the struct layout, every installed probe, and `# step: <moment>` before what each
/// moment recorded. Tests replay these (Tests/DaxrefKitTests/Fixtures/kprobe).
public enum KprobeTraceFixture {
    public static func text(title: String, page: KprobePage, session: KprobeSessionInfo?, captures: [KprobeCapture]) -> String {
        var text = "# kernel: \(KernelFingerprint.uname().release)\n# \(title)\n"
        text += "# pfn: 0x\(String(page.pfn, radix: 16)) order \(page.compoundOrder)\n"
        if let session {
            text += "# vmemmap_base: 0x\(String(session.vmemmap.address, radix: 16)) (\(session.vmemmap.source))\n"
            text += "# page_layout: \(session.layoutNote)\n"
            if let pincount = session.layout.pincountOffset { text += "# pincount_offset: \(pincount)\n" }
            text += session.installed.map { "# probe: \($0)\n" }.joined()
        }
        for capture in captures {
            text += "# step: \(capture.step)\n" + (capture.rawText ?? "")
        }
        return text
    }

    /// Writes `text` to DIRECTORY/<release>-<name>.trace; returns the path, or why it failed.
    @discardableResult
    public static func write(_ text: String, directory: String, name: String) -> Result<String, Errno> {
        let path = FilePath(directory).appending(KernelFingerprint.uname().release + "-" + name + ".trace")
        do {
            let descriptor = try withTypedErrno {
                try FileDescriptor.open(path, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            }
            defer { try? descriptor.close() }
            _ = try withTypedErrno { try descriptor.writeAll(Array(text.utf8)) }
            return .success(path.string)
        } catch {
            return .failure(error)
        }
    }
}

extension KprobePage {
    /// The PFN backing `address` in this process, from /proc/self/pagemap (needs CAP_SYS_ADMIN).
    /// Reading pagemap walks the page tables: over a 1 GiB DAX PUD mapping that splits (zaps) it,
    /// so callers must not use it there.
    public static func pfnMapped(at address: UnsafeRawPointer) -> Result<UInt64, KprobeLocateError> {
        let start = UInt64(UInt(bitPattern: address))
        let entry: PagemapEntry?
        do { entry = try Pagemap.read(pid: getpid(), range: start..<(start + 1)).entries.first } catch {
            return .failure(KprobeLocateError("pagemap: \(error)"))
        }
        guard let entry, entry.isPresent else { return .failure(KprobeLocateError("pagemap: the page is not present")) }
        guard let pfn = entry.pfn, pfn != 0 else { return .failure(KprobeLocateError("pagemap shows PFN 0 (not CAP_SYS_ADMIN?)")) }
        return .success(pfn)
    }
}

public struct KprobeLocateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
