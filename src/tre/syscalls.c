/* tre/syscalls.c — the allowlisted subset of the Linux x86-64 syscall ABI that static
 * glibc, musl and OpenSSL need to start and run. Every pointer argument is translated
 * through vmem_user_ptr with the access the call needs, and data is copied before it is
 * checked. Anything not listed returns -ENOSYS and is logged once per number. A pointer
 * outside the program's memory ends the instance (a forbidden argument). */
#include "tre/instance.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

#include "util/log.h"

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define TRE_PROT_EXEC 4
#define TRE_MAP_PRIVATE 0x02
#define TRE_MAP_FIXED 0x10
#define TRE_MAP_ANONYMOUS 0x20
#define TRE_MAP_FIXED_NOREPLACE 0x100000
#define TRE_MADV_DONTNEED 4
#define TRE_MADV_FREE 8
#define TRE_AT_EMPTY_PATH 0x1000

/* -EFAULT ends the instance: a pointer outside its memory is a forbidden argument. */
#define USER_PTR(ti, va, len, need, what) ({ \
    void *p_ = vmem_user_ptr(&(ti)->mem, (va), (len), (need)); \
    if (!p_) \
        return instance_kill((ti), -EFAULT, "%s: bad pointer 0x%llx (+%llu)", (what), \
                             (unsigned long long)(va), (unsigned long long)(len)); \
    p_; })

static int64_t sys_write_log(struct tre_instance *ti, uint64_t fd, uint64_t buf, uint64_t len,
                             int *fatal)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    uint64_t n = len > 65536 ? 65536 : len;
    const char *p = vmem_user_ptr(&ti->mem, buf, n, VMEM_R);
    if (!p) {
        *fatal = instance_kill(ti, -EFAULT, "write: bad pointer 0x%llx (+%llu)",
                               (unsigned long long)buf, (unsigned long long)n);
        return 0;
    }
    instance_log_program(ti, p, n);
    return (int64_t)n;
}

static int64_t sys_writev(struct tre_instance *ti, uint64_t fd, uint64_t iov_va, uint64_t cnt,
                          int *fatal)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    if (cnt > 1024)
        return -EINVAL;
    int64_t total = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        struct iovec v;
        const void *src = vmem_user_ptr(&ti->mem, iov_va + i * sizeof v, sizeof v, VMEM_R);
        if (!src) {
            *fatal = instance_kill(ti, -EFAULT, "writev: bad iovec 0x%llx",
                                   (unsigned long long)iov_va);
            return 0;
        }
        memcpy(&v, src, sizeof v); /* copy, then check */
        int64_t w = sys_write_log(ti, fd, (uint64_t)(uintptr_t)v.iov_base, v.iov_len, fatal);
        if (*fatal)
            return 0;
        total += w;
    }
    return total;
}

static int64_t sys_mmap(struct tre_instance *ti, uint64_t addr, uint64_t len, uint64_t prot,
                        uint64_t flags, int64_t fd)
{
    (void)addr;
    if (prot & TRE_PROT_EXEC)
        return -EACCES; /* W^X: no code is made at run time */
    if (!(flags & TRE_MAP_ANONYMOUS) || fd != -1)
        return -ENODEV;
    if (!(flags & TRE_MAP_PRIVATE) || (flags & (TRE_MAP_FIXED | TRE_MAP_FIXED_NOREPLACE)))
        return -EINVAL;
    if (len == 0)
        return -EINVAL;
    uint64_t va;
    int r = arena_mmap(&ti->arena, &ti->mem, len, &va);
    return r ? r : (int64_t)va;
}

static int64_t sys_mprotect(struct tre_instance *ti, uint64_t addr, uint64_t len, uint64_t prot)
{
    if (addr % 4096)
        return -EINVAL;
    if (len == 0)
        return 0;
    /* Permissions are fixed at load. Asking for what the pages already allow (or less) is
     * accepted; asking to execute memory that is not code is refused. */
    unsigned need = VMEM_R;
    if (prot & TRE_PROT_EXEC)
        need |= VMEM_X;
    if (!vmem_user_ptr(&ti->mem, addr, len, VMEM_R))
        return -ENOMEM;
    if ((need & VMEM_X) && !vmem_user_ptr(&ti->mem, addr, len, need))
        return -EACCES;
    return 0;
}

static int64_t sys_clock_gettime(struct tre_instance *ti, uint64_t clk, uint64_t tsp)
{
    clockid_t id;
    switch (clk) {
    case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE: case CLOCK_MONOTONIC_COARSE: case CLOCK_BOOTTIME:
        id = (clockid_t)clk;
        break;
    case CLOCK_PROCESS_CPUTIME_ID: case CLOCK_THREAD_CPUTIME_ID:
        id = CLOCK_THREAD_CPUTIME_ID; /* the host thread that runs the vCPU */
        break;
    default:
        return -EINVAL;
    }
    struct timespec ts;
    clock_gettime(id, &ts);
    if (tsp) {
        void *p = USER_PTR(ti, tsp, sizeof ts, VMEM_W, "clock_gettime");
        memcpy(p, &ts, sizeof ts);
    }
    return 0;
}

static int64_t sys_uname(struct tre_instance *ti, uint64_t buf)
{
    struct utsname u;
    memset(&u, 0, sizeof u);
    snprintf(u.sysname, sizeof u.sysname, "Linux");
    snprintf(u.nodename, sizeof u.nodename, "tre");
    snprintf(u.release, sizeof u.release, "6.1.0-trevisor");
    snprintf(u.version, sizeof u.version, "#1 trevisor TRE instance");
    snprintf(u.machine, sizeof u.machine, "x86_64");
    void *p = USER_PTR(ti, buf, sizeof u, VMEM_W, "uname");
    memcpy(p, &u, sizeof u);
    return 0;
}

static int64_t sys_fstat_std(struct tre_instance *ti, uint64_t fd, uint64_t buf)
{
    if (fd > 2)
        return -EBADF;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFCHR | 0600;
    st.st_blksize = 4096;
    st.st_rdev = makedev(1, 3);
    void *p = USER_PTR(ti, buf, sizeof st, VMEM_W, "fstat");
    memcpy(p, &st, sizeof st);
    return 0;
}

/* One thread per instance: a wake finds nobody, and a wait that would block never ends. */
static int64_t sys_futex(struct tre_instance *ti, uint64_t uaddr, uint64_t op, uint64_t val)
{
    unsigned cmd = op & 0x7f; /* without FUTEX_PRIVATE_FLAG / FUTEX_CLOCK_REALTIME */
    if (cmd == 1 /* FUTEX_WAKE */ || cmd == 10 /* FUTEX_WAKE_BITSET */)
        return 0;
    if (cmd == 0 /* FUTEX_WAIT */ || cmd == 9 /* FUTEX_WAIT_BITSET */) {
        const uint32_t *p = USER_PTR(ti, uaddr, 4, VMEM_R, "futex");
        uint32_t cur;
        memcpy(&cur, p, 4);
        if (cur != (uint32_t)val)
            return -EAGAIN;
        return instance_kill(ti, -EFAULT, "futex wait at 0x%llx would block forever "
                             "(an instance has one thread)", (unsigned long long)uaddr);
    }
    return -ENOSYS;
}

static void syscall_log_enosys(struct tre_instance *ti, uint64_t nr)
{
    if (nr < sizeof ti->enosys_logged * 8) {
        if (ti->enosys_logged[nr / 8] & (1u << (nr % 8)))
            return;
        ti->enosys_logged[nr / 8] |= 1u << (nr % 8);
    }
    tlog("engine", "%s: syscall %llu is not supported (-ENOSYS); logged once per number",
         ti->label, (unsigned long long)nr);
}

int syscall_dispatch(struct tre_instance *ti, struct kvm_regs *r)
{
    uint64_t nr = r->rax, a0 = r->rdi, a1 = r->rsi, a2 = r->rdx, a3 = r->r10, a4 = r->r8;
    int64_t ret = -ENOSYS;
    int fatal = 0;
    if (ti->trace)
        tlog("trace", "%s: syscall %llu (0x%llx, 0x%llx, 0x%llx)", ti->label,
             (unsigned long long)nr, (unsigned long long)a0, (unsigned long long)a1,
             (unsigned long long)a2);
    switch (nr) {
    case SYS_read:
        ret = -EBADF;
        break;
    case SYS_write:
        ret = sys_write_log(ti, a0, a1, a2, &fatal);
        break;
    case SYS_writev:
        ret = sys_writev(ti, a0, a1, a2, &fatal);
        break;
    case SYS_close:
        ret = a0 <= 2 ? 0 : -EBADF;
        break;
    case SYS_fstat:
        ret = sys_fstat_std(ti, a0, a1);
        break;
    case SYS_newfstatat:
        if ((a3 & TRE_AT_EMPTY_PATH) && a0 <= 2) {
            ret = sys_fstat_std(ti, a0, a2);
        } else {
            ret = -ENOENT;
        }
        break;
    case SYS_ioctl:
        ret = -ENOTTY;
        break;
    case SYS_open: case SYS_openat: case SYS_readlink: case SYS_access: case SYS_stat:
    case SYS_lstat: case SYS_faccessat: case SYS_faccessat2:
        ret = -ENOENT; /* a TRE instance has no file system */
        break;
    case SYS_mmap:
        ret = sys_mmap(ti, a0, a1, a2, a3, (int32_t)a4); /* fd is an int */
        break;
    case SYS_munmap:
        ret = arena_munmap(&ti->arena, &ti->mem, a0, a1, 1);
        break;
    case SYS_mprotect:
        ret = sys_mprotect(ti, a0, a1, a2);
        break;
    case SYS_madvise:
        if (a2 == TRE_MADV_DONTNEED || a2 == TRE_MADV_FREE)
            ret = arena_discard(&ti->arena, &ti->mem, a0, a1);
        else
            ret = 0;
        break;
    case SYS_brk:
        ret = (int64_t)arena_brk(&ti->arena, &ti->mem, a0);
        break;
    case SYS_arch_prctl: {
        struct kvm_sregs s;
        int k = kvm_vcpu_get_sregs(&ti->kvm, &s);
        if (k)
            return instance_kill(ti, k, "KVM_GET_SREGS failed");
        if (a0 == ARCH_SET_FS || a0 == ARCH_SET_GS) {
            if (a1 >= 0x0000800000000000ull) {
                ret = -EPERM;
                break;
            }
            if (a0 == ARCH_SET_FS)
                s.fs.base = a1;
            else
                s.gs.base = a1;
            k = kvm_vcpu_set_sregs(&ti->kvm, &s);
            if (k)
                return instance_kill(ti, k, "KVM_SET_SREGS failed");
            ret = 0;
        } else if (a0 == ARCH_GET_FS || a0 == ARCH_GET_GS) {
            uint64_t *p = USER_PTR(ti, a1, 8, VMEM_W, "arch_prctl");
            uint64_t v = a0 == ARCH_GET_FS ? s.fs.base : s.gs.base;
            memcpy(p, &v, 8);
            ret = 0;
        } else {
            ret = -EINVAL;
        }
        break;
    }
    case SYS_set_tid_address: case SYS_gettid: case SYS_getpid:
        ret = 1;
        break;
    case SYS_getppid:
        ret = 0;
        break;
    case SYS_getuid: case SYS_geteuid: case SYS_getgid: case SYS_getegid:
        ret = 0;
        break;
    case SYS_set_robust_list: case SYS_rt_sigaction: case SYS_sigaltstack:
    case SYS_sched_yield:
        ret = 0; /* no threads and no signals in an instance: nothing to do */
        break;
    case SYS_rt_sigprocmask:
        if (a2) {
            uint64_t *p = USER_PTR(ti, a2, 8, VMEM_W, "rt_sigprocmask");
            *p = 0;
        }
        ret = 0;
        break;
    case SYS_prlimit64:
        if (a2) {
            uint64_t lim[2] = { ti->stack_size, ti->stack_size };
            if (a1 != 3 /* RLIMIT_STACK */)
                lim[0] = lim[1] = ~0ull;
            void *p = USER_PTR(ti, a2, sizeof lim, VMEM_W, "prlimit64");
            memcpy(p, lim, sizeof lim);
        }
        ret = 0;
        break;
    case SYS_clock_gettime:
        ret = sys_clock_gettime(ti, a0, a1);
        break;
    case SYS_clock_getres:
        if (a1) {
            struct timespec ts = { 0, 1 };
            void *p = USER_PTR(ti, a1, sizeof ts, VMEM_W, "clock_getres");
            memcpy(p, &ts, sizeof ts);
        }
        ret = 0;
        break;
    case SYS_gettimeofday:
        if (a0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t tv[2] = { (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec / 1000 };
            void *p = USER_PTR(ti, a0, sizeof tv, VMEM_W, "gettimeofday");
            memcpy(p, tv, sizeof tv);
        }
        ret = 0;
        break;
    case SYS_time: {
        int64_t t = (int64_t)time(NULL);
        if (a0) {
            void *p = USER_PTR(ti, a0, 8, VMEM_W, "time");
            memcpy(p, &t, 8);
        }
        ret = t;
        break;
    }
    case SYS_getrandom: {
        uint64_t n = a1 > 33554431 ? 33554431 : a1;
        if (a2 & ~7ull) {
            ret = -EINVAL;
            break;
        }
        void *p = USER_PTR(ti, a0, n, VMEM_W, "getrandom");
        ret = getrandom(p, n, 0);
        if (ret < 0)
            ret = -errno;
        break;
    }
    case SYS_uname:
        ret = sys_uname(ti, a0);
        break;
    case SYS_futex:
        ret = sys_futex(ti, a0, a1, a2);
        break;
    case SYS_tgkill: case SYS_tkill: case SYS_kill: {
        uint64_t sig = nr == SYS_tgkill ? a2 : a1;
        return instance_kill(ti, -EFAULT, "raised signal %llu on itself%s", (unsigned long long)sig,
                             sig == 6 ? " (abort)" : "");
    }
    case SYS_rseq:
        ret = -ENOSYS; /* expected by glibc; not worth a log line */
        break;
    case SYS_exit: case SYS_exit_group:
        tlog("engine", "%s: exited with status %lld", ti->label, (long long)(int)a0);
        ti->state = TRE_STATE_DEAD;
        ti->death = -ESRCH;
        return -ESRCH;
    default:
        syscall_log_enosys(ti, nr);
        ret = -ENOSYS;
        break;
    }
    if (fatal)
        return fatal;
    if (ti->state == TRE_STATE_DEAD)
        return ti->death;
    r->rax = (uint64_t)ret;
    return 0;
}
