/* tests/progs/syscalls.c — exercises the libc calls a TRE program may make (built with
 * glibc and with musl from this one source). proc 0 runs the checks and returns 0, or the
 * number of the first failing check, with a short text report in result 0 (optional).
 * proc 1 makes one raw syscall outside the subset (chroot(NULL), or the number in the
 * optional 4-byte LE arg 0, all arguments 0) and returns its result: -errno on failure
 * (-ENOSYS expected in an instance; natively Linux refuses chroot(NULL) with -EFAULT). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "trevisor/tre.h"

TRE_MANIFEST("name=syscalls\0version=1\0svn=1\0mem=32M\0window=64K");

enum {
    CHK_MALLOC = 1, CHK_STDOUT, CHK_STDERR, CHK_CLOCK, CHK_RANDOM, CHK_TIME, CHK_UNAME,
    CHK_MMAP, CHK_OPEN, CHK_COUNT = CHK_OPEN
};
static const char *const chk_names[] = {
    "", "malloc", "stdout", "stderr", "clock_gettime", "getrandom", "time", "uname",
    "mmap", "open",
};

static char sc_extra[160]; /* facts for the report */

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int chk_malloc(void)
{
    static const size_t sizes[] = { 1, 7, 16, 100, 4096, 65536, 100000, 1 << 20, 3 << 20,
                                    8 << 20 };
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    unsigned char *p[N];
    int ok = 1;

    for (int i = 0; i < N; i++) {
        p[i] = malloc(sizes[i]);
        if (!p[i])
            ok = 0;
        else
            memset(p[i], 0x11 * (i + 1), sizes[i]);
    }
    for (int i = 0; i < N && ok; i++)
        for (size_t j = 0; j < sizes[i]; j += 509)
            if (p[i][j] != (unsigned char)(0x11 * (i + 1)) ||
                p[i][sizes[i] - 1] != (unsigned char)(0x11 * (i + 1)))
                ok = 0;
    for (int i = N - 1; i >= 0; i--)
        free(p[i]);
    return ok;
}

static int chk_clock(void)
{
    struct timespec prev = { 0, 0 }, t;

    for (int i = 0; i < 1000; i++) {
        if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
            return 0;
        if (t.tv_sec < prev.tv_sec || (t.tv_sec == prev.tv_sec && t.tv_nsec < prev.tv_nsec))
            return 0;
        prev = t;
    }
    return clock_gettime(CLOCK_REALTIME, &t) == 0 && t.tv_sec > 1600000000;
}

static int chk_random(void)
{
    unsigned char a[32], b[32];

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    if (getrandom(a, sizeof(a), 0) != (ssize_t)sizeof(a) || getentropy(b, sizeof(b)) != 0)
        return 0;
    return !all_zero(a, sizeof(a)) && !all_zero(b, sizeof(b)) && memcmp(a, b, sizeof(a));
}

static int chk_uname(void)
{
    struct utsname u;

    if (uname(&u) != 0 || !u.sysname[0] || !u.machine[0])
        return 0;
    snprintf(sc_extra, sizeof(sc_extra), "; uname %.40s %.40s %.40s", u.sysname, u.release,
             u.machine);
    return 1;
}

static int chk_mmap(void)
{
    size_t len = 1u << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);

    if (p == MAP_FAILED || !all_zero(p, len))
        return 0;
    p[0] = 1;
    p[len - 1] = 2;
    if (p[0] != 1 || p[len - 1] != 2 || mprotect(p, len, PROT_READ) != 0)
        return 0;
    return munmap(p, len) == 0;
}

/* Returns 0, or the number of the first failing check. */
static int sc_run(void)
{
    if (!chk_malloc())
        return CHK_MALLOC;
    if (printf("syscalls: hello on stdout\n") <= 0 || fflush(stdout) != 0)
        return CHK_STDOUT;
    if (fprintf(stderr, "syscalls: hello on stderr\n") <= 0)
        return CHK_STDERR;
    if (!chk_clock())
        return CHK_CLOCK;
    if (!chk_random())
        return CHK_RANDOM;
    if (time(NULL) < 1600000000)
        return CHK_TIME;
    if (!chk_uname())
        return CHK_UNAME;
    if (!chk_mmap())
        return CHK_MMAP;
    if (open("/etc/passwd", O_RDONLY) != -1)
        return CHK_OPEN;
    return 0;
}

static int sc_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    if (proc_number == 0) {
        int rc;

        if (bufcnt > 1 || (bufcnt == 1 && buf[0].rw != 1))
            return -EINVAL;
        sc_extra[0] = '\0';
        rc = sc_run();
        if (bufcnt == 1) {
            int n = rc ? snprintf(buf[0].base, buf[0].len, "FAIL check %d (%s)%s", rc,
                                  chk_names[rc], sc_extra)
                       : snprintf(buf[0].base, buf[0].len, "OK %d checks%s", CHK_COUNT,
                                  sc_extra);

            buf[0].len = n < 0 ? 0 : ((unsigned)n < buf[0].len ? (unsigned)n : buf[0].len);
        }
        return rc;
    }
    if (proc_number == 1) {
        int32_t nr = SYS_chroot;
        long r;

        if (bufcnt > 1 || (bufcnt == 1 && (buf[0].rw != 0 || buf[0].len != 4)))
            return -EINVAL;
        if (bufcnt == 1)
            memcpy(&nr, buf[0].base, 4); /* x86-64: little-endian */
        errno = 0;
        r = syscall(nr, 0, 0, 0, 0, 0, 0);
        return r == -1 ? -errno : (int)r;
    }
    return -ENOSYS;
}

int main(void)
{
    return tre_serve(sc_handler);
}
