import Foundation
import SystemPackage

/// fio as the peer of the O_DIRECT cases: one sequential pass, psync (pread/pwrite, as daxref does),
/// O_DIRECT, one I/O in flight, with its buffer in the memory under test.
public enum Fio {
    public enum Direction: String, Codable, Sendable, CaseIterable {
        case read, write
    }

    /// Where fio's I/O buffer lives.
    public enum BufferMemory: Sendable, Equatable {
        /// A device-dax device. fio's `mmaphuge:FILE` maps FILE MAP_SHARED with the length rounded up
        /// to `--hugepage-size` (set to the device's align, which device-dax requires); without a
        /// hugetlbfs path it is a plain shared mapping, nothing hugetlb about it.
        case deviceDax(path: String, align: Int)
        /// A file on a filesystem mounted -o dax, already as large as `mappingLength` (fio's
        /// `mmapshared:FILE` maps without resizing it).
        case daxFile(path: String)
        /// fio's default: malloc'd anonymous memory (the limit: the device with ordinary memory).
        case anonymous
    }

    public struct Job: Sendable, Equatable {
        public var target: String
        public var direction: Direction
        public var blockSize: Int
        public var totalBytes: Int
        public var memory: BufferMemory

        public init(target: String, direction: Direction, blockSize: Int, totalBytes: Int, memory: BufferMemory) {
            self.target = target
            self.direction = direction
            self.blockSize = blockSize
            self.totalBytes = totalBytes
            self.memory = memory
        }

        /// fio's command line, as lean as fio gets, so the comparison is of the I/O path:
        /// - `invalidate=0`: fio drops the page cache when it opens the target, inside its timed
        ///   window (O_DIRECT does not use the page cache; daxref's side does not drop it);
        /// - `gtod_reduce=1`: no per-I/O latency clock reads (with the guest's clocksource a clock
        ///   read can be a system call);
        /// - `scramble_buffers=0`: fio would otherwise rewrite part of the buffer before each write.
        public var arguments: [String] {
            var argv = [
                "fio", "--name=daxref-bench", "--filename=\(target)", "--rw=\(direction.rawValue)", "--bs=\(blockSize)",
                "--size=\(totalBytes)", "--ioengine=psync", "--direct=1", "--iodepth=1", "--numjobs=1",
                "--invalidate=0", "--gtod_reduce=1", "--scramble_buffers=0", "--output-format=json",
            ]
            switch memory {
            case .deviceDax(let path, let align): argv += ["--mem=mmaphuge:\(path)", "--hugepage-size=\(align)"]
            case .daxFile(let path): argv += ["--mem=mmapshared:\(path)"]
            case .anonymous: argv += ["--mem=malloc"]
            }
            return argv
        }

        /// How many bytes of the buffer memory fio maps (fio 3.x init_io_u_buffers and
        /// alloc_mem_mmap): block size plus a page of alignment slack, rounded up to the huge page
        /// size, plus one more huge page. A device must be at least this large.
        public static func mappingLength(blockSize: Int, align: Int, pageSize: Int = systemPageSize) -> Int {
            let slack = blockSize + pageSize - 1
            return (slack + align - 1) / align * align + align
        }
    }

    /// What daxref takes from fio's JSON output.
    public struct Result: Sendable, Equatable {
        public var version: String
        /// fio's own error number for the job (0 = none).
        public var error: Int
        public var ioBytes: Int
        /// Bytes per second as fio reports it (io_bytes over fio's runtime in milliseconds).
        public var bandwidth: Double
        public var runtimeMilliseconds: Int
    }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case noJSON
        case malformed(String)
        case jobFailed(error: Int)

        public var description: String {
            switch self {
            case .noJSON: "fio printed no JSON document"
            case .malformed(let why): "fio's JSON is not as expected: \(why)"
            case .jobFailed(let error): "fio's job failed with error \(error) (\(Errno(rawValue: Int32(error)).symbolicName))"
            }
        }
    }

    /// Parses `--output-format=json` output. fio may print warnings before the document (`fio: …`
    /// lines), so the document starts at the first line that is exactly `{`.
    public static func parse(_ output: String, direction: Direction) throws(ParseError) -> Result {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0 == "{" }) else { throw .noJSON }
        let document = lines[start...].joined(separator: "\n")
        let decoded: Document
        do { decoded = try JSONDecoder().decode(Document.self, from: Data(document.utf8)) } catch {
            throw .malformed("\(error)")
        }
        guard let job = decoded.jobs.first else { throw .malformed("no jobs") }
        guard job.error == 0 else { throw .jobFailed(error: job.error) }
        let statistics = direction == .read ? job.read : job.write
        guard statistics.ioBytes > 0, statistics.runtime > 0 else {
            throw .malformed("\(direction.rawValue): io_bytes \(statistics.ioBytes), runtime \(statistics.runtime) ms")
        }
        return Result(
            version: decoded.version, error: job.error, ioBytes: statistics.ioBytes, bandwidth: Double(statistics.bandwidth),
            runtimeMilliseconds: statistics.runtime)
    }

    private struct Document: Decodable {
        var version: String
        var jobs: [Job]

        enum CodingKeys: String, CodingKey {
            case version = "fio version"
            case jobs
        }

        struct Job: Decodable {
            var error: Int
            var read: Statistics
            var write: Statistics
        }

        struct Statistics: Decodable {
            var ioBytes: Int
            var bandwidth: Int
            var runtime: Int

            enum CodingKeys: String, CodingKey {
                case ioBytes = "io_bytes"
                case bandwidth = "bw_bytes"
                case runtime
            }
        }
    }
}
