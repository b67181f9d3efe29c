import CDaxrefShim
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// process_vm_readv(2): copy another process's memory; the kernel pins the remote pages (FOLL_PIN,
/// short-term) for the copy. Returns the bytes read (short when a remote page faults).
public enum ProcessMemory {
    public static func read(
        from pid: pid_t, remote: UnsafeRawBufferPointer, into local: UnsafeMutableRawBufferPointer
    ) throws(Errno) -> Int {
        var localVector = iovec(iov_base: local.baseAddress, iov_len: local.count)
        var remoteVector = iovec(iov_base: UnsafeMutableRawPointer(mutating: remote.baseAddress), iov_len: remote.count)
        return try retryingOnInterrupt { CDaxrefShim_process_vm_readv(pid, &localVector, 1, &remoteVector, 1) }
    }
}
