// CDaxrefShim: what Swift cannot reach directly (GNU/Linux constants hidden behind _GNU_SOURCE,
// function-like macros, va_list callbacks). Every exported symbol is prefixed CDaxrefShim_.
#ifndef CDAXREFSHIM_H
#define CDAXREFSHIM_H

#include <stdint.h>
#include <sys/types.h>
#include "CDaxrefShim_workloads.h"

struct ndctl_ctx;
struct daxctl_ctx;

/// A formatted library log line: priority is syslog's (3 = err ... 7 = debug).
typedef void (*CDaxrefShim_log_sink)(int priority, const char *message);

/// Route libndctl / libdaxctl log output (a va_list callback Swift cannot implement) to `sink`.
void CDaxrefShim_ndctl_set_log_sink(struct ndctl_ctx *ctx, CDaxrefShim_log_sink sink, int priority);
void CDaxrefShim_daxctl_set_log_sink(struct daxctl_ctx *ctx, CDaxrefShim_log_sink sink, int priority);

/// statx(2) attributes of `path`. Returns 0, or -errno.
int CDaxrefShim_statx_attributes(const char *path, uint64_t *attributes, uint64_t *attributes_mask,
                                 uint32_t *mode);

/// STATX_ATTR_DAX (linux/stat.h, since 5.8): the inode is accessed with DAX.
uint64_t CDaxrefShim_STATX_ATTR_DAX(void);


/// fork+exec `argv` (PATH searched) with the given stdio fds; with die_with_parent the child gets
/// SIGKILL when the calling thread exits (PR_SET_PDEATHSIG), so a killed daxref never leaves a QEMU
/// behind. The child starts with no signal blocked. It runs only async-signal-safe code. Returns the
/// pid, or -errno.
pid_t CDaxrefShim_spawn(char *const argv[], int stdin_fd, int stdout_fd, int stderr_fd, int die_with_parent);

/// CDaxrefShim_spawn with the child's environment given (`envp`, NULL-terminated; NULL = ours).
pid_t CDaxrefShim_spawn_env(char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd,
                            int die_with_parent);

/// The signal pipe of the cleanup owner: `CDaxrefShim_signal_to_pipe` is a signal handler that only
/// write(2)s the signal number as one byte to `write_fd` (async-signal-safe; errno preserved).
void CDaxrefShim_signal_pipe_set(int write_fd);
void CDaxrefShim_signal_to_pipe(int signo);

/// pipe2(fds, O_CLOEXEC) (a GNU extension Glibc's Swift overlay does not import). 0 or -errno.
int CDaxrefShim_pipe_cloexec(int fds[2]);

#endif
