import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where a report goes (`--json F`, `--ktap -`…), checked before any work starts so that a run of
/// many minutes never ends in "cannot write the report". Files are replaced atomically (a
/// temporary file beside them, then rename), so an earlier report survives a run cut short.
public struct ReportDestination: Sendable, Equatable, CustomStringConvertible {
    public enum Target: Sendable, Equatable {
        case standardOutput
        /// The path as given, and where it really is (the directory resolved), for comparisons.
        case file(path: String, canonical: String)
        /// A FIFO (or /dev/stdout as one): written in place.
        case fifo(path: String)
    }

    public let flag: String
    public let target: Target

    public var description: String {
        switch target {
        case .standardOutput: "standard output"
        case .file(let path, _), .fifo(let path): path
        }
    }

    public var isStandardOutput: Bool { target == .standardOutput }

    /// What two destinations share when they are the same place, however each was spelt.
    private var identity: String {
        switch target {
        case .standardOutput: "-"
        case .file(_, let canonical): canonical
        case .fifo(let path): (try? SystemFile.resolve(FilePath(path)).string) ?? path
        }
    }

    /// The path of a file destination (nil for standard output and FIFOs).
    public var filePath: String? {
        if case .file(let path, _) = target { path } else { nil }
    }

    /// Checks every (flag, path): "-" is standard output (once); a file's directory must exist, and a
    /// file must be creatable there (tried, then removed) or, if it exists, be a regular file that
    /// opens for writing (its content untouched). No two flags may name the same file.
    public static func check(_ requests: [(flag: String, path: String)]) throws(ReportDestinationError) -> [ReportDestination] {
        var destinations: [ReportDestination] = []
        for (flag, path) in requests {
            let destination = try check(flag: flag, path: path)
            if let earlier = destinations.first(where: { $0.identity == destination.identity }) {
                throw ReportDestinationError(flag: flag, path: path, problem: "the same file as \(earlier.flag); give each report its own path")
            }
            destinations.append(destination)
        }
        return destinations
    }

    static func check(flag: String, path: String) throws(ReportDestinationError) -> ReportDestination {
        func fail(_ problem: String) -> ReportDestinationError { ReportDestinationError(flag: flag, path: path, problem: problem) }
        if path == "-" { return ReportDestination(flag: flag, target: .standardOutput) }
        guard !path.isEmpty else { throw fail("an empty path") }
        // A link is written through: the report goes where it points (even if that does not exist yet).
        let file: FilePath
        switch finalTarget(FilePath(path)) {
        case .success(let target): file = target
        case .failure(let errno): throw fail("cannot follow the link: \(errno)")
        }
        guard let name = file.lastComponent?.string, name != "..", name != "." else { throw fail("names a directory, not a file") }
        let directory = file.removingLastComponent().isEmpty ? FilePath(".") : file.removingLastComponent()
        let realDirectory: FilePath
        do { realDirectory = try SystemFile.resolve(directory) } catch {
            throw fail("its directory \(directory) cannot be used: \(error)")
        }
        guard (try? StatxAttributes.of(realDirectory))?.mode.isDirectory == true else {
            throw fail("\(directory) is not a directory")
        }
        let canonical = realDirectory.appending(name).string
        switch Result(catching: { () throws(Errno) in try StatxAttributes.of(FilePath(canonical)) }) {
        case .success(let attributes):
            switch attributes.mode & 0o170000 {
            case 0o100000:
                // Opens for writing without truncating: the old content is replaced only at the end.
                let fd = open(canonical, O_WRONLY | O_CLOEXEC | O_NONBLOCK)
                guard fd >= 0 else { throw fail("cannot be written: \(Errno(rawValue: errno))") }
                close(fd)
                return ReportDestination(flag: flag, target: .file(path: path, canonical: canonical))
            case 0o010000:
                return ReportDestination(flag: flag, target: .fifo(path: path))
            case 0o040000:
                throw fail("is a directory; name a file in it")
            default:
                throw fail("is \(FileKind(mode: attributes.mode).rawValue), not a file; name a file, or - for standard output")
            }
        case .failure(.noSuchFileOrDirectory):
            // Create it to be sure (a directory may look writable and refuse: procfs, a read-only mount).
            let fd = open(canonical, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw fail("cannot be created: \(Errno(rawValue: errno))") }
            close(fd)
            unlink(canonical)
            return ReportDestination(flag: flag, target: .file(path: path, canonical: canonical))
        case .failure(let errno):
            throw fail("cannot be used: \(errno)")
        }
    }

    /// `path` with every symbolic link along it followed, the last one even when it dangles.
    static func finalTarget(_ path: FilePath) -> Result<FilePath, Errno> {
        var current = path
        for _ in 0..<40 {
            guard let link = try? SystemFile.readLink(current) else { return .success(current) }
            let next = FilePath(link)
            current = next.isAbsolute ? next : current.removingLastComponent().pushing(next)
        }
        return .failure(.tooManySymbolicLinkLevels)
    }

    /// A directory for output files (`--evidence DIR`): created with its parents if missing, and
    /// checked writable by creating a file there (removed). Returns the path.
    public static func directory(flag: String, path: String) throws(ReportDestinationError) -> String {
        func fail(_ problem: String) -> ReportDestinationError { ReportDestinationError(flag: flag, path: path, problem: problem) }
        guard !path.isEmpty else { throw fail("an empty path") }
        switch Result(catching: { () throws(Errno) in try StatxAttributes.of(FilePath(path)) }) {
        case .success(let attributes) where !attributes.mode.isDirectory:
            throw fail("is \(FileKind(mode: attributes.mode).rawValue), not a directory")
        case .success: break
        case .failure(.noSuchFileOrDirectory):
            var missing: [String] = []
            var cursor = FilePath(path)
            while !cursor.isEmpty, (try? StatxAttributes.of(cursor)) == nil {
                missing.append(cursor.string)
                cursor = cursor.removingLastComponent()
            }
            for directory in missing.reversed() where mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw fail("cannot be created: \(Errno(rawValue: errno))")
            }
        case .failure(let errno): throw fail("cannot be used: \(errno)")
        }
        let probe = path + "/.daxref-\(getpid()).probe"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("cannot be written: \(Errno(rawValue: errno))") }
        close(fd)
        unlink(probe)
        return path
    }

    /// Writes the whole report: to standard output, in place to a FIFO, or to a temporary file beside
    /// the destination that is then renamed over it.
    public func write(_ text: String) throws(ReportDestinationError) {
        func fail(_ errno: Errno) -> ReportDestinationError { ReportDestinationError(flag: flag, path: description, problem: "writing failed: \(errno)") }
        let bytes = Array(text.utf8)
        switch target {
        case .standardOutput:
            do { try FileDescriptor.standardOutput.writeAll(bytes) } catch { throw fail(error as? Errno ?? .ioError) }
        case .fifo(let path):
            do {
                let descriptor = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec])
                defer { try? descriptor.close() }
                try descriptor.writeAll(bytes)
            } catch { throw fail(error as? Errno ?? .ioError) }
        case .file(_, let canonical):
            let temporary = canonical + ".daxref-\(getpid()).tmp"
            do {
                let descriptor = try FileDescriptor.open(
                    FilePath(temporary), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
                do {
                    try descriptor.writeAll(bytes)
                    // fsync: the rename must not publish a file whose data is still only in the cache.
                    guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
                    try descriptor.close()
                } catch {
                    try? descriptor.close()
                    throw error
                }
                guard rename(temporary, canonical) == 0 else { throw Errno(rawValue: errno) }
            } catch {
                unlink(temporary)
                throw fail(error as? Errno ?? .ioError)
            }
        }
    }
}

public struct ReportDestinationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var flag: String
    public var path: String
    public var problem: String
    public var description: String { "\(flag) \(path): \(problem)" }
}

extension UInt32 {
    fileprivate var isDirectory: Bool { self & 0o170000 == 0o040000 }
}
