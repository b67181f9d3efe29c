import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// swift-system throws untyped errors that are always `Errno`; this makes that typed.
@inline(__always)
func withTypedErrno<T>(_ body: () throws -> T) throws(Errno) -> T {
    do { return try body() } catch let error as Errno { throw error } catch { throw Errno.ioError }
}

/// Whole-file reads for /proc and /sys, where st_size is meaningless and files are read to EOF.
/// Errors stay typed (`Errno`) so a caller can tell "absent" (ENOENT) from "not allowed" (EACCES).
public enum SystemFile {
    public static func readBytes(_ path: FilePath, limit: Int = 64 << 20) throws(Errno) -> [UInt8] {
        let fd = try withTypedErrno { try FileDescriptor.open(path, .readOnly, options: [.closeOnExec]) }
        defer { try? fd.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while result.count < limit {
            let count = try withTypedErrno { try chunk.withUnsafeMutableBytes { try fd.read(into: $0) } }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result
    }

    public static func readString(_ path: FilePath) throws(Errno) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// A sysfs attribute without its trailing newline; nil when the attribute does not exist.
    public static func readAttribute(_ path: FilePath) throws(Errno) -> String? {
        do {
            var text = try readString(path)
            while text.last == "\n" { text.removeLast() }
            return text
        } catch Errno.noSuchFileOrDirectory {
            return nil
        }
    }

    public static func exists(_ path: FilePath) -> Bool {
        path.withPlatformString { access($0, F_OK) == 0 }
    }

    /// Names in a directory (no "." / ".."), sorted; ENOENT gives an empty list.
    public static func listDirectory(_ path: FilePath) throws(Errno) -> [String] {
        guard let dir = path.withPlatformString({ opendir($0) }) else {
            let err = Errno(rawValue: errno)
            if err == .noSuchFileOrDirectory { return [] }
            throw err
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
