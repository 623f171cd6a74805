/* tre/instance.c — the run loop of one instance: KVM_RUN until the program parks in
 * TRE_DB_WAIT, and the handling of every exit on the way (doorbell calls, trapped
 * syscalls, faults, the CPU budget). Anything unexpected ends this instance only. */
#include "tre/instance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trevisor/abi.h"
#include "tre/budget.h"
#include "util/log.h"

#define TRE_LOG_MAX_LINES 256   /* per call; more is dropped with one notice */

static const char *const vector_names[TRE_NVECTORS] = {
    [0] = "divide error", [1] = "debug trap", [2] = "NMI", [3] = "breakpoint",
    [4] = "overflow", [5] = "bound range", [6] = "invalid opcode", [7] = "FPU unavailable",
    [8] = "double fault", [10] = "invalid TSS", [11] = "segment not present",
    [12] = "stack fault", [13] = "general protection fault", [14] = "page fault",
    [16] = "x87 FPU error", [17] = "alignment check", [18] = "machine check",
    [19] = "SIMD floating-point exception", [20] = "virtualization exception",
    [21] = "control protection",
};

int instance_kill(struct tre_instance *ti, int code, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (ti->state != TRE_STATE_DEAD)
        tlog("engine", "%s: ended: %s", ti->label, why);
    ti->state = TRE_STATE_DEAD;
    ti->death = code;
    return code;
}

static int sites_contain(const struct tre_instance *ti, uint64_t rip)
{
    size_t lo = 0, hi = ti->nsites;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ti->sites[mid] == rip)
            return 1;
        if (ti->sites[mid] < rip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void instance_log_program(struct tre_instance *ti, const char *buf, size_t len)
{
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl ? (size_t)(nl - buf) : len;
        if (n || nl) {
            if (ti->log_lines < TRE_LOG_MAX_LINES)
                tlog(ti->label, "%.*s", (int)(n > 900 ? 900 : n), buf);
            else if (ti->log_lines == TRE_LOG_MAX_LINES)
                tlog("engine", "%s: log limit of %d lines per call reached; dropping the rest",
                     ti->label, TRE_LOG_MAX_LINES);
            ti->log_lines++;
        }
        if (!nl)
            break;
        len -= n + 1;
        buf += n + 1;
    }
}

/* A write to the doorbell page. 1 = parked in WAIT, 0 = resume, <0 = ended. */
static int instance_doorbell(struct tre_instance *ti, uint64_t *value)
{
    struct kvm_run *run = ti->kvm.run;
    if (!run->mmio.is_write)
        return instance_kill(ti, -EFAULT, "read from the doorbell page at 0x%llx",
                             (unsigned long long)run->mmio.phys_addr);
    if (run->mmio.len != 8 || run->mmio.phys_addr != TRE_DOORBELL_GPA)
        return instance_kill(ti, -EPROTO, "doorbell write of %u bytes at offset 0x%llx "
                             "(must be 8 bytes at offset 0)", run->mmio.len,
                             (unsigned long long)(run->mmio.phys_addr - TRE_DOORBELL_GPA));
    uint64_t nr;
    memcpy(&nr, run->mmio.data, 8);
    int r = kvm_vcpu_get_regs(&ti->kvm, &ti->regs);
    if (r)
        return instance_kill(ti, r, "KVM_GET_REGS failed: %s", strerror(-r));
    switch (nr) {
    case TRE_DB_WAIT:
        *value = ti->regs.rdi;
        return 1;
    case TRE_DB_LOG: {
        uint64_t len = ti->regs.rsi > 4096 ? 4096 : ti->regs.rsi;
        const char *p = vmem_user_ptr(&ti->mem, ti->regs.rdi, len, VMEM_R);
        if (!p)
            return instance_kill(ti, -EFAULT, "log buffer 0x%llx+%llu is not its memory",
                                 (unsigned long long)ti->regs.rdi, (unsigned long long)len);
        instance_log_program(ti, p, len);
        ti->regs.rax = 0;
        break;
    }
    case TRE_DB_EXIT:
        tlog("engine", "%s: exited with status %lld", ti->label, (long long)ti->regs.rdi);
        ti->state = TRE_STATE_DEAD;
        ti->death = -ESRCH;
        return -ESRCH;
    default:
        if (nr >= TRE_DB_SERVICE_BASE) {
            r = instance_service(ti, nr, &ti->regs);
            if (r)
                return r;
        } else {
            ti->regs.rax = (uint64_t)-ENOSYS;
        }
        break;
    }
    r = kvm_vcpu_set_regs(&ti->kvm, &ti->regs);
    return r ? instance_kill(ti, r, "KVM_SET_REGS failed: %s", strerror(-r)) : 0;
}

static int instance_fault(struct tre_instance *ti, unsigned vector,
                          const struct tre_trap_frame *f)
{
    const char *name = vector < TRE_NVECTORS && vector_names[vector] ? vector_names[vector]
                                                                     : "exception";
    if (vector == 14) {
        struct kvm_sregs s;
        uint64_t cr2 = 0;
        if (kvm_vcpu_get_sregs(&ti->kvm, &s) == 0)
            cr2 = s.cr2;
        int guard = cr2 < ti->stack_lo && ti->stack_lo - cr2 <= TRE_PAGE_SIZE;
        return instance_kill(ti, -EFAULT, "page fault (%s, %s%s) at rip=0x%llx addr=0x%llx%s",
                             (f->error & 2) ? "write" : (f->error & 16) ? "execute" : "read",
                             (f->error & 1) ? "protection" : "not present",
                             (f->error & 4) ? "" : ", in ring 0",
                             (unsigned long long)f->rip, (unsigned long long)cr2,
                             guard ? " (stack overflow into the guard page)" : "");
    }
    return instance_kill(ti, -EFAULT, "%s (vector %u, error 0x%llx) at rip=0x%llx", name,
                         vector, (unsigned long long)f->error, (unsigned long long)f->rip);
}

/* A rewritten syscall: `out` to TRE_SYSCALL_PORT from CPL3; rip is already past it. */
static int instance_syscall(struct tre_instance *ti)
{
    int r = kvm_vcpu_get_regs(&ti->kvm, &ti->regs);
    if (r)
        return instance_kill(ti, r, "KVM_GET_REGS failed: %s", strerror(-r));
    uint64_t site = ti->regs.rip - 2;
    if (!sites_contain(ti, site))
        return instance_kill(ti, -EFAULT, "I/O to port 0x%x at rip=0x%llx (not a rewritten "
                             "syscall)", TRE_SYSCALL_PORT, (unsigned long long)site);
    r = syscall_dispatch(ti, &ti->regs);
    if (r)
        return r;
    /* syscall semantics: rcx = return address, r11 = rflags */
    ti->regs.rcx = ti->regs.rip;
    ti->regs.r11 = ti->regs.rflags;
    r = kvm_vcpu_set_regs(&ti->kvm, &ti->regs);
    return r ? instance_kill(ti, r, "KVM_SET_REGS failed: %s", strerror(-r)) : 0;
}

/* An exception stub's `out`. 0 = resume, <0 = ended. */
static int instance_trap(struct tre_instance *ti)
{
    struct kvm_run *run = ti->kvm.run;
    unsigned port = run->io.port;
    if (port == TRE_SYSCALL_PORT && run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1)
        return instance_syscall(ti);
    if (run->io.direction != KVM_EXIT_IO_OUT || port < TRE_STUB_PORT_BASE ||
        port >= TRE_STUB_PORT_BASE + TRE_NVECTORS)
        return instance_kill(ti, -EFAULT, "I/O port 0x%x access", port);
    unsigned vector = port - TRE_STUB_PORT_BASE;
    int r = kvm_vcpu_get_regs(&ti->kvm, &ti->regs);
    if (r)
        return instance_kill(ti, r, "KVM_GET_REGS failed: %s", strerror(-r));
    struct tre_trap_frame f;
    if (sysregion_read_frame(&ti->mem, &ti->sys, vector, ti->regs.rsp, &f))
        return instance_kill(ti, -EFAULT, "%s with a broken ring-0 stack (rsp=0x%llx)",
                             vector_names[vector] ? vector_names[vector] : "exception",
                             (unsigned long long)ti->regs.rsp);
    if (f.cs != TRE_SEL_UCODE)
        return instance_kill(ti, -EFAULT, "vector %u raised in ring 0 at rip=0x%llx", vector,
                             (unsigned long long)f.rip);
    /* Every exception is fatal: the stubs exist to report them, not to recover. */
    return instance_fault(ti, vector, &f);
}

int instance_run(struct tre_instance *ti, uint64_t *value)
{
    if (ti->state == TRE_STATE_DEAD)
        return ti->death ? ti->death : -ESRCH;
    struct kvm_run *run = ti->kvm.run;
    ti->log_lines = 0;
    int r = budget_arm(run, ti->budget_ns);
    if (r)
        return instance_kill(ti, r, "cannot arm the CPU budget: %s", strerror(-r));
    for (;;) {
        r = kvm_vcpu_run(&ti->kvm);
        if (r == -EINTR || r == -EAGAIN) {
            __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
            if (budget_expired()) {
                r = instance_kill(ti, -ETIMEDOUT, "CPU budget of %llu ms exhausted",
                                  (unsigned long long)(ti->budget_ns / 1000000));
                break;
            }
            continue;
        }
        if (r) {
            r = instance_kill(ti, r, "KVM_RUN failed: %s", strerror(-r));
            break;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_MMIO:
            if (run->mmio.phys_addr >= TRE_DOORBELL_GPA &&
                run->mmio.phys_addr - TRE_DOORBELL_GPA < TRE_PAGE_SIZE) {
                r = instance_doorbell(ti, value);
                if (r == 1) {
                    ti->state = TRE_STATE_WAITING;
                    r = 0;
                    goto out;
                }
            } else {
                r = instance_kill(ti, -EFAULT, "access to unbacked memory at gpa 0x%llx",
                                  (unsigned long long)run->mmio.phys_addr);
            }
            break;
        case KVM_EXIT_IO:
            r = instance_trap(ti);
            break;
        case KVM_EXIT_SHUTDOWN:
            r = instance_kill(ti, -EFAULT, "triple fault");
            break;
        case KVM_EXIT_HLT:
            r = instance_kill(ti, -EFAULT, "halted");
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            r = instance_kill(ti, -EFAULT, "KVM internal error %u (emulation failed)",
                              run->internal.suberror);
            break;
        case KVM_EXIT_FAIL_ENTRY:
            r = instance_kill(ti, -EFAULT, "VM entry failed (0x%llx)",
                              (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        default:
            r = instance_kill(ti, -EFAULT, "unexpected KVM exit %u", run->exit_reason);
            break;
        }
        if (r)
            break;
    }
out:
    budget_disarm();
    return r;
}
