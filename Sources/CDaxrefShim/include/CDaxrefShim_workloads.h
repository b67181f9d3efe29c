// CDaxrefShim workloads: the raw syscalls, GNU/Linux constants and async-signal-safe memory loops the
// DAX workloads need. Conventions:
//   - every syscall wrapper returns its result, or -errno (never sets errno for Swift to read later,
//     so ARC traffic between the call and the read cannot clobber it); no EINTR loop here, Swift
//     retries (System/Syscall.swift);
//   - constants Swift's Glibc module cannot see (_GNU_SOURCE, linux/*.h) come back from functions;
//   - memory loops run with a SIGBUS/SIGSEGV guard, so a DAX fault becomes a result, not a crash.
#ifndef CDAXREFSHIM_WORKLOADS_H
#define CDAXREFSHIM_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

// ---------------------------------------------------------------- constants

int CDaxrefShim_O_DIRECT(void);
int CDaxrefShim_MAP_SHARED_VALIDATE(void);
int CDaxrefShim_MAP_SYNC(void);
int CDaxrefShim_MAP_FIXED_NOREPLACE(void);
int CDaxrefShim_FALLOC_FL_KEEP_SIZE(void);
int CDaxrefShim_FALLOC_FL_PUNCH_HOLE(void);
unsigned int CDaxrefShim_SPLICE_F_NONBLOCK(void);
unsigned int CDaxrefShim_SPLICE_F_GIFT(void);
unsigned int CDaxrefShim_IORING_REGISTER_BUFFERS(void);
unsigned int CDaxrefShim_IORING_UNREGISTER_BUFFERS(void);

// ---------------------------------------------------------------- syscalls (result or -errno)

/// mmap(2); the mapping's address goes to *address.
int CDaxrefShim_mmap(void *hint, size_t length, int protection, int flags, int fd, off_t offset,
                     void **address);
int CDaxrefShim_munmap(void *address, size_t length);
int CDaxrefShim_madvise(void *address, size_t length, int advice);
int CDaxrefShim_fallocate(int fd, int mode, off_t offset, off_t length);
ssize_t CDaxrefShim_vmsplice(int fd, const struct iovec *iov, size_t count, unsigned int flags);
/// fcntl(F_SETPIPE_SZ): the pipe's capacity becomes at least `bytes`; returns the new capacity.
int CDaxrefShim_pipe_set_capacity(int fd, int bytes);
ssize_t CDaxrefShim_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
                                     const struct iovec *remote, unsigned long remote_count);
/// io_uring_setup(2) with zeroed parameters: the ring fd. The rings are never mmapped: daxref only
/// registers resources on it.
int CDaxrefShim_io_uring_setup(unsigned int entries);
int CDaxrefShim_io_uring_register(int fd, unsigned int opcode, const void *argument, unsigned int count);
pid_t CDaxrefShim_gettid(void);
/// strerrorname_np(3): "EOPNOTSUPP" for 95; NULL for a value glibc does not name.
const char *CDaxrefShim_errno_name(int value);

// ---------------------------------------------------------------- guarded memory access

/// What a guarded loop found. `signal` is 0, SIGBUS or SIGSEGV; `fault_offset` is where the signal
/// hit (from si_addr, relative to the base), valid only with a signal; `mismatch_offset` is the first
/// pattern word that differed, UINT64_MAX when all matched (verify only).
typedef struct CDaxrefShim_access_result {
    int32_t signal;
    uint64_t fault_offset;
    uint64_t mismatch_offset;
} CDaxrefShim_access_result;

/// Bytes between two pattern words: one 64-bit word per cache line, so 1 GiB is patterned in
/// 16 Mi stores (seconds under TCG, not minutes) and every page is still covered.
size_t CDaxrefShim_pattern_stride(void);

/// Reads (write = 0) or writes (write = 1, a byte rewritten with its own value) one byte every
/// `stride` bytes of [base, base+length).
CDaxrefShim_access_result CDaxrefShim_guarded_touch(void *base, size_t length, size_t stride, int write);
/// Writes the pattern of `seed` (word at offset o = seed ^ (o * golden ratio)) over [base, base+length).
CDaxrefShim_access_result CDaxrefShim_guarded_fill(void *base, size_t length, uint64_t seed);
/// Compares [base, base+length) with the pattern of `seed`.
CDaxrefShim_access_result CDaxrefShim_guarded_verify(const void *base, size_t length, uint64_t seed);

// ---------------------------------------------------------------- forked children

/// What a forked child did, written once to its report fd.
typedef struct CDaxrefShim_child_report {
    /// The child's pid, so the parent can read its /proc entries and use it as a target.
    int32_t pid;
    /// Result of the verify step (mismatch_offset UINT64_MAX = the parent's data was seen intact).
    CDaxrefShim_access_result verified;
    /// Result of the fill step (signal 0 = written).
    CDaxrefShim_access_result filled;
} CDaxrefShim_child_report;

/// fork(2)s a child that runs only async-signal-safe code: it verifies the pattern `expect_seed` in
/// [base, base+length) (when verify is set), then fills it with `fill_seed` (when fill is set), writes
/// one CDaxrefShim_child_report to `report_fd`, and then, if `release_read_fd` >= 0, blocks reading it
/// until EOF so the parent can act on the child's live mapping first; then _exit(0). The child closes
/// `release_write_fd` (its copy of the parent's end, or EOF could never come) when it is >= 0, and
/// dies with the parent (PR_SET_PDEATHSIG). Returns the pid, or -errno.
pid_t CDaxrefShim_fork_memory_child(void *base, size_t length, int verify, uint64_t expect_seed, int fill,
                                    uint64_t fill_seed, int report_fd, int release_read_fd,
                                    int release_write_fd);

#endif
