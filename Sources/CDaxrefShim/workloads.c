// _GNU_SOURCE here, not in the header, so it cannot depend on include order in Swift modules.
#define _GNU_SOURCE
#include "CDaxrefShim_workloads.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// ---------------------------------------------------------------- constants

int CDaxrefShim_O_DIRECT(void) { return O_DIRECT; }
int CDaxrefShim_MAP_SHARED_VALIDATE(void) { return MAP_SHARED_VALIDATE; }
int CDaxrefShim_MAP_SYNC(void) { return MAP_SYNC; }
int CDaxrefShim_MAP_FIXED_NOREPLACE(void) { return MAP_FIXED_NOREPLACE; }
int CDaxrefShim_FALLOC_FL_KEEP_SIZE(void) { return FALLOC_FL_KEEP_SIZE; }
int CDaxrefShim_FALLOC_FL_PUNCH_HOLE(void) { return FALLOC_FL_PUNCH_HOLE; }
unsigned int CDaxrefShim_SPLICE_F_NONBLOCK(void) { return SPLICE_F_NONBLOCK; }
unsigned int CDaxrefShim_SPLICE_F_GIFT(void) { return SPLICE_F_GIFT; }
unsigned int CDaxrefShim_IORING_REGISTER_BUFFERS(void) { return IORING_REGISTER_BUFFERS; }
unsigned int CDaxrefShim_IORING_UNREGISTER_BUFFERS(void) { return IORING_UNREGISTER_BUFFERS; }

// ---------------------------------------------------------------- syscalls

int CDaxrefShim_mmap(void *hint, size_t length, int protection, int flags, int fd, off_t offset,
                     void **address) {
    void *result = mmap(hint, length, protection, flags, fd, offset);
    if (result == MAP_FAILED)
        return -errno;
    *address = result;
    return 0;
}

int CDaxrefShim_munmap(void *address, size_t length) {
    return munmap(address, length) == 0 ? 0 : -errno;
}

int CDaxrefShim_madvise(void *address, size_t length, int advice) {
    return madvise(address, length, advice) == 0 ? 0 : -errno;
}

int CDaxrefShim_fallocate(int fd, int mode, off_t offset, off_t length) {
    return fallocate(fd, mode, offset, length) == 0 ? 0 : -errno;
}

ssize_t CDaxrefShim_vmsplice(int fd, const struct iovec *iov, size_t count, unsigned int flags) {
    ssize_t result = vmsplice(fd, iov, count, flags);
    return result < 0 ? -errno : result;
}

int CDaxrefShim_pipe_set_capacity(int fd, int bytes) {
    int result = fcntl(fd, F_SETPIPE_SZ, bytes);
    return result < 0 ? -errno : result;
}

ssize_t CDaxrefShim_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
                                     const struct iovec *remote, unsigned long remote_count) {
    ssize_t result = process_vm_readv(pid, local, local_count, remote, remote_count, 0);
    return result < 0 ? -errno : result;
}

int CDaxrefShim_io_uring_setup(unsigned int entries) {
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    long fd = syscall(__NR_io_uring_setup, entries, &params);
    return fd < 0 ? -errno : (int)fd;
}

int CDaxrefShim_io_uring_register(int fd, unsigned int opcode, const void *argument, unsigned int count) {
    long result = syscall(__NR_io_uring_register, fd, opcode, argument, count);
    return result < 0 ? -errno : (int)result;
}

pid_t CDaxrefShim_gettid(void) { return (pid_t)syscall(SYS_gettid); }

const char *CDaxrefShim_errno_name(int value) { return strerrorname_np(value); }

// ---------------------------------------------------------------- guarded memory access
//
// A fault on DAX memory (a truncated fsdax page, a hugepage-disabled devdax VMA) raises SIGBUS in the
// accessing thread. The handler jumps back into the C loop that armed it, so the fault becomes a
// result; no Swift frame lies between sigsetjmp and the faulting access. A fault in a thread that is
// not inside a guarded loop gets the previous disposition back (the Swift runtime's crash report).

static __thread sigjmp_buf *guard_jump __attribute__((tls_model("initial-exec")));
static __thread void *guard_fault_address __attribute__((tls_model("initial-exec")));
static struct sigaction previous_sigbus, previous_sigsegv;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_handler(int signal, siginfo_t *info, void *context) {
    (void)context;
    sigjmp_buf *jump = guard_jump;
    if (jump != NULL) {
        guard_jump = NULL;
        guard_fault_address = info->si_addr;
        siglongjmp(*jump, signal);
    }
    // Not ours: restore and return; the faulting instruction runs again under the old disposition.
    sigaction(signal, signal == SIGBUS ? &previous_sigbus : &previous_sigsegv, NULL);
}

static void guard_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = guard_handler;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_sigbus);
    sigaction(SIGSEGV, &action, &previous_sigsegv);
}

static const CDaxrefShim_access_result access_ok = {0, 0, UINT64_MAX};

size_t CDaxrefShim_pattern_stride(void) { return 64; }

static inline uint64_t pattern_word(uint64_t seed, uint64_t offset) {
    return seed ^ (offset * 0x9E3779B97F4A7C15ull);
}

// Each guarded loop: arm, run, disarm. On a fault sigsetjmp returns the signal number; the result
// variables are only written after that point or before arming, so none needs to be volatile.
#define GUARDED(base, result, body)                                                               \
    do {                                                                                          \
        pthread_once(&guard_once, guard_install);                                                 \
        sigjmp_buf jump;                                                                          \
        int caught = sigsetjmp(jump, 1);                                                          \
        if (caught != 0) {                                                                        \
            (result).signal = caught;                                                             \
            (result).fault_offset = (uint64_t)((uintptr_t)guard_fault_address - (uintptr_t)(base)); \
            return (result);                                                                      \
        }                                                                                         \
        guard_jump = &jump;                                                                       \
        body;                                                                                     \
        guard_jump = NULL;                                                                        \
    } while (0)

CDaxrefShim_access_result CDaxrefShim_guarded_touch(void *base, size_t length, size_t stride, int write) {
    CDaxrefShim_access_result result = access_ok;
    volatile uint8_t *bytes = base;
    if (stride == 0)
        stride = 1;
    GUARDED(base, result, {
        // A store without a load first: a write fault on its own, as a first write does.
        for (size_t offset = 0; offset < length; offset += stride) {
            if (write)
                bytes[offset] = 0x5a;
            else
                (void)bytes[offset];
        }
    });
    return result;
}

CDaxrefShim_access_result CDaxrefShim_guarded_fill(void *base, size_t length, uint64_t seed) {
    CDaxrefShim_access_result result = access_ok;
    const size_t stride = CDaxrefShim_pattern_stride();
    GUARDED(base, result, {
        for (size_t offset = 0; offset + sizeof(uint64_t) <= length; offset += stride)
            *(volatile uint64_t *)((uint8_t *)base + offset) = pattern_word(seed, offset);
    });
    return result;
}

CDaxrefShim_access_result CDaxrefShim_guarded_verify(const void *base, size_t length, uint64_t seed) {
    CDaxrefShim_access_result result = access_ok;
    const size_t stride = CDaxrefShim_pattern_stride();
    uint64_t mismatch = UINT64_MAX;
    GUARDED(base, result, {
        for (size_t offset = 0; offset + sizeof(uint64_t) <= length; offset += stride) {
            if (*(const volatile uint64_t *)((const uint8_t *)base + offset) != pattern_word(seed, offset)) {
                mismatch = offset;
                break;
            }
        }
    });
    result.mismatch_offset = mismatch;
    return result;
}

// ---------------------------------------------------------------- forked children

static void write_all(int fd, const void *data, size_t length) {
    const uint8_t *bytes = data;
    while (length > 0) {
        ssize_t written = write(fd, bytes, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;
        bytes += written;
        length -= (size_t)written;
    }
}

pid_t CDaxrefShim_fork_memory_child(void *base, size_t length, int verify, uint64_t expect_seed, int fill,
                                    uint64_t fill_seed, int report_fd, int release_read_fd,
                                    int release_write_fd) {
    // Install the guard before forking: pthread_once is not async-signal-safe in the child.
    pthread_once(&guard_once, guard_install);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;

    // Child: async-signal-safe calls and plain memory loops only.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (release_write_fd >= 0)
        close(release_write_fd);
    CDaxrefShim_child_report report;
    memset(&report, 0, sizeof(report));
    report.pid = (int32_t)getpid();
    report.verified = access_ok;
    report.filled = access_ok;
    if (verify)
        report.verified = CDaxrefShim_guarded_verify(base, length, expect_seed);
    if (fill && report.verified.signal == 0)
        report.filled = CDaxrefShim_guarded_fill(base, length, fill_seed);
    write_all(report_fd, &report, sizeof(report));
    if (release_read_fd >= 0) {
        char byte;
        for (;;) {
            ssize_t got = read(release_read_fd, &byte, 1);
            if (got == 0 || (got < 0 && errno != EINTR))
                break;
        }
    }
    _exit(0);
}
