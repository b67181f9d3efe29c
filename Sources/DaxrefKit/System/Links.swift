import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension SystemFile {
    /// readlink(2): what a symbolic link points to, as stored (/proc/PID/fd/N → `/dev/dax0.0`).
    public static func readLink(_ path: FilePath) throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try retryingOnInterrupt {
            path.withPlatformString { readlink($0, &buffer, buffer.count - 1) }.settingErrno()
        }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// realpath(3): the absolute path with every symbolic link, `.` and `..` resolved
    /// (/dev/disk/by-uuid/… → /dev/pmem0.2).
    public static func resolve(_ path: FilePath) throws(Errno) -> FilePath {
        var error: Int32 = 0
        let resolved: String? = path.withPlatformString { raw in
            guard let result = realpath(raw, nil) else { error = errno; return nil }
            defer { free(result) }
            return String(cString: result)
        }
        guard let resolved else { throw Errno(rawValue: error) }
        return FilePath(resolved)
    }
}

extension Int {
    /// The CDaxrefShim convention for a Glibc call's result: itself, or -errno when it failed.
    fileprivate func settingErrno() -> Int { self < 0 ? -Int(errno) : self }
}
