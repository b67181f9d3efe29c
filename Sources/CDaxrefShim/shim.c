// _GNU_SOURCE here, not in the header, so it cannot depend on include order in Swift modules.
#define _GNU_SOURCE
#include "CDaxrefShim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <linux/stat.h>
#include <ndctl/libndctl.h>
#include <daxctl/libdaxctl.h>

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif

// The sink is stored as the context's userdata: daxref owns its contexts and uses no other userdata.
static void format_and_sink(CDaxrefShim_log_sink sink, int priority, const char *fn,
                            const char *format, va_list args) {
    char message[1024];
    int prefix = snprintf(message, sizeof(message), "%s: ", fn ? fn : "?");
    if (prefix < 0 || (size_t)prefix >= sizeof(message))
        prefix = 0;
    vsnprintf(message + prefix, sizeof(message) - (size_t)prefix, format, args);
    sink(priority, message);
}

static void ndctl_trampoline(struct ndctl_ctx *ctx, int priority, const char *file, int line,
                             const char *fn, const char *format, va_list args) {
    (void)file; (void)line;
    CDaxrefShim_log_sink sink = (CDaxrefShim_log_sink)ndctl_get_userdata(ctx);
    if (sink)
        format_and_sink(sink, priority, fn, format, args);
}

static void daxctl_trampoline(struct daxctl_ctx *ctx, int priority, const char *file, int line,
                              const char *fn, const char *format, va_list args) {
    (void)file; (void)line;
    CDaxrefShim_log_sink sink = (CDaxrefShim_log_sink)daxctl_get_userdata(ctx);
    if (sink)
        format_and_sink(sink, priority, fn, format, args);
}

void CDaxrefShim_ndctl_set_log_sink(struct ndctl_ctx *ctx, CDaxrefShim_log_sink sink, int priority) {
    ndctl_set_userdata(ctx, (void *)sink);
    ndctl_set_log_fn(ctx, ndctl_trampoline);
    ndctl_set_log_priority(ctx, priority);
}

void CDaxrefShim_daxctl_set_log_sink(struct daxctl_ctx *ctx, CDaxrefShim_log_sink sink, int priority) {
    daxctl_set_userdata(ctx, (void *)sink);
    daxctl_set_log_fn(ctx, daxctl_trampoline);
    daxctl_set_log_priority(ctx, priority);
}

int CDaxrefShim_statx_attributes(const char *path, uint64_t *attributes, uint64_t *attributes_mask,
                                 uint32_t *mode) {
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, &stx) != 0)
        return -errno;
    *attributes = stx.stx_attributes;
    *attributes_mask = stx.stx_attributes_mask;
    *mode = stx.stx_mode;
    return 0;
}

uint64_t CDaxrefShim_STATX_ATTR_DAX(void) { return STATX_ATTR_DAX; }

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

pid_t CDaxrefShim_spawn(char *const argv[], int stdin_fd, int stdout_fd, int stderr_fd, int die_with_parent) {
    return CDaxrefShim_spawn_env(argv, NULL, stdin_fd, stdout_fd, stderr_fd, die_with_parent);
}

pid_t CDaxrefShim_spawn_env(char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd,
                            int die_with_parent) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)  // the parent died before prctl took effect
                _exit(127);
        }
        // Restore default dispositions the parent may have changed (SIGINT ignored while watching),
        // and an empty mask: a thread of Swift's pool blocks most signals, and a child would inherit
        // that (and then ignore the SIGTERM that asks it to clean up).
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0)
            _exit(127);
        if (envp)
            execvpe(argv[0], argv, envp);
        else
            execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int CDaxrefShim_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

// Written once before any handler is installed, read only by the handler.
static volatile int signal_pipe_fd = -1;

void CDaxrefShim_signal_pipe_set(int write_fd) { signal_pipe_fd = write_fd; }

void CDaxrefShim_signal_to_pipe(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (signal_pipe_fd >= 0)
        (void)!write(signal_pipe_fd, &byte, 1);
    errno = saved;
}
