/*
 * faultshim.c: an LD_PRELOAD library that makes a process's write, fsync and
 * rename calls fail on demand, for the reliability suite (scripts/chaos).
 *
 *   gcc -shared -fPIC -O2 -o faultshim.so faultshim.c -ldl
 *   CHAOS_FAULT_CTL=ctl CHAOS_FAULT_DIR=/abs/data/dir LD_PRELOAD=./faultshim.so bulwark serve ...
 *
 * Only calls on files under CHAOS_FAULT_DIR fail (the data directory), so the
 * server's sockets and its log keep working: the fault is the disk's, not the
 * network's. CHAOS_FAULT_CTL names a file of struct control (below) that the
 * driver (tests/chaos/faults.py) rewrites while the server runs; the shim maps
 * it shared and reads it on every call, so arming a fault needs no restart.
 *
 * Per operation class (write, fsync, rename):
 *   armed   0: pass every call; 1: the fault is on
 *   skip    calls that match and still pass before the first failure
 *           (counted down atomically: the fault starts at a chosen point)
 *   err     the errno of a failed call (EIO, ENOSPC)
 *   failed  how many calls the shim has failed (read by the driver)
 *
 * Intercepted: write, pwrite, pwrite64, writev, pwritev (write); fsync,
 * fdatasync, syncfs (fsync); rename, renameat, renameat2 (rename). The Rust
 * standard library and the bundled SQLite call these through libc's
 * dynamic symbols, so the shim sees all of them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_WRITE, OP_FSYNC, OP_RENAME, OP_COUNT };

struct op_control {
    int32_t armed;
    int32_t skip;
    int32_t err;
    int32_t failed;
};

struct control {
    struct op_control op[OP_COUNT];
};

static struct control *ctl;
static char dir[PATH_MAX];
static size_t dir_len;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);

static void init(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_syncfs = dlsym(RTLD_NEXT, "syncfs");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_renameat2 = dlsym(RTLD_NEXT, "renameat2");

    const char *path = getenv("CHAOS_FAULT_CTL");
    const char *d = getenv("CHAOS_FAULT_DIR");
    if (path == NULL || d == NULL || strlen(d) + 2 > sizeof dir) {
        return;
    }
    /* "<dir>/": a sibling "<dir>2" must not match. */
    snprintf(dir, sizeof dir, "%s/", d);
    dir_len = strlen(dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    void *map = mmap(NULL, sizeof(struct control), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map != MAP_FAILED) {
        ctl = map;
    }
}

static int under_dir(const char *path) {
    return path != NULL && strncmp(path, dir, dir_len) == 0;
}

/* The path an fd refers to, through /proc (only asked while a fault is armed). */
static int fd_under_dir(int fd) {
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 2);
    if (n <= 0) {
        return 0;
    }
    target[n] = '/'; /* the directory itself counts (fsync of the data dir) */
    target[n + 1] = '\0';
    return under_dir(target);
}

static int at_under_dir(int dirfd, const char *path) {
    if (path == NULL) {
        return 0;
    }
    if (path[0] == '/' || dirfd == AT_FDCWD) {
        return under_dir(path);
    }
    return fd_under_dir(dirfd);
}

/* True when this call must fail; sets errno. `matches` is evaluated only
 * while the fault is armed, so an idle shim costs one load per call. */
#define SHOULD_FAIL(kind, matches) should_fail(kind, ctl != NULL && ctl->op[kind].armed && (matches))

static int should_fail(int kind, int matched) {
    if (!matched) {
        return 0;
    }
    struct op_control *c = &ctl->op[kind];
    if (__atomic_load_n(&c->skip, __ATOMIC_SEQ_CST) > 0 &&
        __atomic_fetch_sub(&c->skip, 1, __ATOMIC_SEQ_CST) > 0) {
        return 0;
    }
    __atomic_fetch_add(&c->failed, 1, __ATOMIC_SEQ_CST);
    errno = c->err ? c->err : EIO;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t n) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_WRITE, fd_under_dir(fd))) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_WRITE, fd_under_dir(fd))) return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_WRITE, fd_under_dir(fd))) return -1;
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_WRITE, fd_under_dir(fd))) return -1;
    return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t off) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_WRITE, fd_under_dir(fd))) return -1;
    return real_pwritev(fd, iov, count, off);
}

int fsync(int fd) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_FSYNC, fd_under_dir(fd))) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_FSYNC, fd_under_dir(fd))) return -1;
    return real_fdatasync(fd);
}

int syncfs(int fd) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_FSYNC, fd_under_dir(fd))) return -1;
    return real_syncfs(fd);
}

int rename(const char *from, const char *to) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_RENAME, under_dir(from) || under_dir(to))) return -1;
    return real_rename(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_RENAME, at_under_dir(fromfd, from) || at_under_dir(tofd, to))) return -1;
    return real_renameat(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags) {
    pthread_once(&once, init);
    if (SHOULD_FAIL(OP_RENAME, at_under_dir(fromfd, from) || at_under_dir(tofd, to))) return -1;
    return real_renameat2(fromfd, from, tofd, to, flags);
}
