// daxref-bench-ref: the C side of `daxref bench`'s pin and snapshot cases. It makes the same
// system calls as daxref's Swift code and parses the same files, so the ratio of the two times is
// the cost of the Swift layers, not of the kernel. Each run does one operation and prints one line.
//
//   daxref-bench-ref pin (DEVICE|anonymous) LENGTH ALIGN
//       maps LENGTH bytes of the device (MAP_SHARED, start aligned to ALIGN) or of private anonymous
//       memory, writes one byte per page (untimed), then times io_uring_setup +
//       IORING_REGISTER_BUFFERS (one iovec per GiB, FOLL_LONGTERM) + IORING_UNREGISTER_BUFFERS + close.
//       Prints: pin SECONDS ok|ERRNO_NAME
//   daxref-bench-ref snapshot PID START LENGTH
//       times reading /proc/PID/pagemap for [START, START+LENGTH) (decoding every entry) and reading
//       and parsing all of /proc/PID/smaps (every VMA header and field). The process PID holds the
//       mapping, so both sides read the very same files.
//       Prints: snapshot SECONDS PRESENT_PAGES RSS_KB VMAS PAGEMAP_SECONDS (the pagemap part of SECONDS)
//
// Exit status: 0 with a result line (a refused registration is a result), 2 on a usage or setup error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define GIB (1UL << 30)

static void fail(const char *what) {
    fprintf(stderr, "daxref-bench-ref: %s: %s\n", what, strerror(errno));
    exit(2);
}

static unsigned long long number(const char *text, const char *what) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || *text == '\0' || *end != '\0') {
        fprintf(stderr, "daxref-bench-ref: %s: not a number: %s\n", what, text);
        exit(2);
    }
    return value;
}

static double now(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

// Like daxref's MemoryMapping: reserve length + align, map at the first aligned address with
// MAP_FIXED, return the slack.
static void *map_aligned(int fd, size_t length, size_t align) {
    size_t span = length + align;
    char *reservation = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reservation == MAP_FAILED)
        fail("mmap reservation");
    char *aligned = (char *)(((uintptr_t)reservation + align - 1) & ~(uintptr_t)(align - 1));
    int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
    if (mmap(aligned, length, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) == MAP_FAILED)
        fail("mmap");
    if (aligned > reservation)
        munmap(reservation, (size_t)(aligned - reservation));
    if (reservation + span > aligned + length)
        munmap(aligned + length, (size_t)(reservation + span - (aligned + length)));
    return aligned;
}

static int pin(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: daxref-bench-ref pin (DEVICE|anonymous) LENGTH ALIGN\n");
        return 2;
    }
    size_t length = number(argv[3], "LENGTH"), align = number(argv[4], "ALIGN");
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (length == 0 || align < page || (align & (align - 1)) != 0) {
        fprintf(stderr, "daxref-bench-ref: LENGTH must be > 0 and ALIGN a power of two >= the page size\n");
        return 2;
    }
    int fd = -1;
    if (strcmp(argv[2], "anonymous") != 0 && (fd = open(argv[2], O_RDWR | O_CLOEXEC)) < 0)
        fail(argv[2]);
    volatile char *base = map_aligned(fd, length, align);
    for (size_t offset = 0; offset < length; offset += page)
        base[offset] = 0x5a;

    size_t count = (length + GIB - 1) / GIB;
    struct iovec *vectors = calloc(count, sizeof *vectors);
    if (!vectors)
        fail("calloc");
    for (size_t i = 0; i < count; i++) {
        vectors[i].iov_base = (char *)base + i * GIB;
        vectors[i].iov_len = length - i * GIB < GIB ? length - i * GIB : GIB;
    }

    double start = now();
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    int ring = (int)syscall(__NR_io_uring_setup, 1, &params);
    if (ring < 0)
        fail("io_uring_setup");
    long registered = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, vectors, (unsigned)count);
    int refusal = registered < 0 ? errno : 0;
    if (registered == 0 && syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0) < 0)
        fail("IORING_UNREGISTER_BUFFERS");
    close(ring);
    double seconds = now() - start;

    const char *name = refusal ? strerrorname_np(refusal) : "ok";
    printf("pin %.9f %s\n", seconds, name ? name : "EUNKNOWN");
    return 0;
}

// One `Name: value [kB]` field of a VMA, kept as daxref's parser keeps it (name and number).
struct field {
    const char *name;
    size_t name_length;
    long long value;
};

struct vma {
    unsigned long long start, end;
    struct field *fields;
    size_t field_count, field_capacity;
    size_t flag_count;
};

static int is_header(const char *line, const char *end) {
    const char *p = line;
    while (p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
        p++;
    return p > line && p < end && *p == '-';
}

static char *read_all(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(path);
    size_t capacity = 1 << 16, used = 0;
    char *text = malloc(capacity + 1);
    for (;;) {
        if (used == capacity && !(text = realloc(text, (capacity *= 2) + 1)))
            fail("realloc");
        ssize_t got = read(fd, text + used, capacity - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            fail(path);
        if (got == 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    text[used] = '\0';
    *size = used;
    return text;
}

static int snapshot(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: daxref-bench-ref snapshot PID START LENGTH\n");
        return 2;
    }
    unsigned long long pid = number(argv[2], "PID"), start_address = number(argv[3], "START");
    unsigned long long length = number(argv[4], "LENGTH");
    unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
    char path[64];

    double start = now();
    // pagemap: one little-endian u64 per page, pread at (address / page) * 8.
    unsigned long long first = start_address / page, last = (start_address + length + page - 1) / page;
    size_t count = (size_t)(last - first);
    uint64_t *entries = malloc(count * sizeof *entries);
    if (!entries)
        fail("malloc");
    snprintf(path, sizeof path, "/proc/%llu/pagemap", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(path);
    size_t done = 0, bytes = count * sizeof *entries;
    while (done < bytes) {
        ssize_t got = pread(fd, (char *)entries + done, bytes - done, (off_t)(first * 8 + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            fail(path);
        if (got == 0)
            break;
        done += (size_t)got;
    }
    close(fd);
    if (done != bytes) {
        fprintf(stderr, "daxref-bench-ref: %s: short read (%zu of %zu bytes)\n", path, done, bytes);
        return 2;
    }
    unsigned long long present = 0;
    for (size_t i = 0; i < count; i++)
        present += entries[i] >> 63;
    double pagemap_seconds = now() - start;

    // smaps: every VMA with every field, then the VMAs overlapping the range.
    snprintf(path, sizeof path, "/proc/%llu/smaps", pid);
    size_t size;
    char *text = read_all(path, &size);
    size_t vma_count = 0, vma_capacity = 64;
    struct vma *vmas = calloc(vma_capacity, sizeof *vmas);
    for (char *line = text; line < text + size;) {
        char *end = memchr(line, '\n', (size_t)(text + size - line));
        if (!end)
            end = text + size;
        if (is_header(line, end)) {
            if (vma_count == vma_capacity && !(vmas = realloc(vmas, (vma_capacity *= 2) * sizeof *vmas)))
                fail("realloc");
            struct vma *vma = &vmas[vma_count++];
            memset(vma, 0, sizeof *vma);
            char *dash;
            vma->start = strtoull(line, &dash, 16);
            vma->end = strtoull(dash + 1, NULL, 16);
        } else if (vma_count > 0) {
            struct vma *vma = &vmas[vma_count - 1];
            char *colon = memchr(line, ':', (size_t)(end - line));
            if (colon && strncmp(line, "VmFlags", 7) == 0) {
                for (char *p = colon + 1; p < end; p++)
                    if (*p != ' ' && (p[-1] == ' ' || p == colon + 1))
                        vma->flag_count++;
            } else if (colon) {
                if (vma->field_count == vma->field_capacity) {
                    vma->field_capacity = vma->field_capacity ? vma->field_capacity * 2 : 32;
                    if (!(vma->fields = realloc(vma->fields, vma->field_capacity * sizeof *vma->fields)))
                        fail("realloc");
                }
                struct field *field = &vma->fields[vma->field_count++];
                field->name = line;
                field->name_length = (size_t)(colon - line);
                field->value = strtoll(colon + 1, NULL, 10);
            }
        }
        line = end + 1;
    }
    long long rss = 0;
    for (size_t i = 0; i < vma_count; i++) {
        if (vmas[i].end <= start_address || vmas[i].start >= start_address + length)
            continue;
        for (size_t j = 0; j < vmas[i].field_count; j++)
            if (vmas[i].fields[j].name_length == 3 && memcmp(vmas[i].fields[j].name, "Rss", 3) == 0)
                rss += vmas[i].fields[j].value;
    }
    for (size_t i = 0; i < vma_count; i++)
        free(vmas[i].fields);
    free(vmas);
    free(text);
    free(entries);
    double seconds = now() - start;

    printf("snapshot %.9f %llu %lld %zu %.9f\n", seconds, present, rss, vma_count, pagemap_seconds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "pin") == 0)
        return pin(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "snapshot") == 0)
        return snapshot(argc, argv);
    fprintf(stderr,
            "usage: daxref-bench-ref pin (DEVICE|anonymous) LENGTH ALIGN\n"
            "       daxref-bench-ref snapshot PID START LENGTH\n");
    return 2;
}
