import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The one way daxref's syscall wrappers turn a raw result into Swift: `call` returns the syscall's
/// result or -errno (the CDaxrefShim convention; a Glibc call is adapted with `rc < 0 ? -errno : rc`
/// inside the closure, right after the call). EINTR is retried; any other error is thrown as `Errno`.
@inline(__always)
func retryingOnInterrupt<Result: FixedWidthInteger>(_ call: () -> Result) throws(Errno) -> Result {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Errno(rawValue: CInt(truncatingIfNeeded: 0 - result))
        if error != .interrupted { throw error }
    }
}

/// The base page size; DAX geometry (4 KiB, 2 MiB, 1 GiB) is checked against it.
public let systemPageSize: Int = {
    #if canImport(Glibc)
    Int(sysconf(Int32(_SC_PAGESIZE)))
    #else
    4096
    #endif
}()
