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
        return try readAll(fd, limit: limit)
    }

    /// Everything left in `fd` (up to about `limit` bytes).
    static func readAll(_ fd: FileDescriptor, limit: Int = 64 << 20) throws(Errno) -> [UInt8] {
        // Read into uninitialized storage that doubles when full, then copy once: zero-filling a
        // 64 KiB chunk per file was a visible part of a snapshot's ~20 reads.
        var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { storage.deallocate() }
        var used = 0
        while used < limit {
            if used == storage.count {
                let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: storage.count * 2, alignment: 16)
                larger.copyMemory(from: UnsafeRawBufferPointer(storage))
                storage.deallocate()
                storage = larger
            }
            let free = UnsafeMutableRawBufferPointer(rebasing: storage[used...])
            let count = try withTypedErrno { try fd.read(into: free) }
            if count == 0 { break }
            used += count
        }
        return [UInt8](unsafeUninitializedCapacity: used) { bytes, initialized in
            UnsafeMutableRawBufferPointer(bytes).copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[..<used]))
            initialized = used
        }
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
