import Foundation
import SystemPackage

/// daxref-bench-ref (Sources/daxref-bench-ref/main.c): the same pin and snapshot system calls and
/// parsing in plain C, the peer of the Swift code in the pin and snapshot cases.
public enum ReferenceProgram {
    public static let name = "daxref-bench-ref"

    /// Beside the running daxref (both are products of the same `swift build`).
    public static func defaultPath() -> String {
        URL(fileURLWithPath: executablePath()).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// `pin (DEVICE|anonymous) LENGTH ALIGN`: the C program maps and prefaults its own mapping of
    /// the same memory, then times setup + register + unregister + close.
    public static func pinArguments(program: String, device: String?, length: Int, align: Int) -> [String] {
        [program, "pin", device ?? "anonymous", String(length), String(align)]
    }

    /// `snapshot PID START LENGTH`: reads the pagemap and smaps of process PID (the Swift side's),
    /// so both sides parse the very same files.
    public static func snapshotArguments(program: String, pid: Int32, start: UInt64, length: Int) -> [String] {
        [program, "snapshot", String(pid), String(start), String(length)]
    }

    public struct PinLine: Sendable, Equatable {
        public var seconds: Double
        /// `ok` or the errno name of the refused registration.
        public var outcome: String
    }

    public struct SnapshotLine: Sendable, Equatable {
        public var seconds: Double
        public var presentPages: Int
        public var rssKilobytes: Int
        public var vmas: Int
        /// The pagemap part of `seconds` (the rest is smaps).
        public var pagemapSeconds: Double
    }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case missing(String)
        case malformed(String)

        public var description: String {
            switch self {
            case .missing(let what): "\(name) printed no `\(what)` line"
            case .malformed(let line): "\(name): unexpected output line: \(line)"
            }
        }
    }

    /// `pin SECONDS ok|ERRNO`
    public static func parsePin(_ output: String) throws(ParseError) -> PinLine {
        let words = try line("pin", in: output)
        guard words.count == 3, let seconds = Double(words[1]), seconds >= 0 else {
            throw .malformed(words.joined(separator: " "))
        }
        return PinLine(seconds: seconds, outcome: words[2])
    }

    /// `snapshot SECONDS PRESENT RSS_KB VMAS PAGEMAP_SECONDS`
    public static func parseSnapshot(_ output: String) throws(ParseError) -> SnapshotLine {
        let words = try line("snapshot", in: output)
        guard words.count == 6, let seconds = Double(words[1]), seconds >= 0, let present = Int(words[2]),
            let rss = Int(words[3]), let vmas = Int(words[4]), let pagemap = Double(words[5]), pagemap >= 0, pagemap <= seconds
        else { throw .malformed(words.joined(separator: " ")) }
        return SnapshotLine(seconds: seconds, presentPages: present, rssKilobytes: rss, vmas: vmas, pagemapSeconds: pagemap)
    }

    private static func line(_ keyword: String, in output: String) throws(ParseError) -> [String] {
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.first == keyword { return words }
        }
        throw .missing(keyword)
    }
}
