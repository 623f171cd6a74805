/* tre/sysregion.h — the instance's ring-0 scaffolding: GDT, TSS with an IST stack and an
 * I/O bitmap that opens one port to CPL3, IDT, and one tiny stub per exception vector (`out` to a port that names the vector, then
 * `iretq`). Supervisor-only pages at TRE_SYS_VA; the program cannot see them. */
#ifndef TREVISOR_TRE_SYSREGION_H
#define TREVISOR_TRE_SYSREGION_H

#include <stdint.h>
#include <linux/kvm.h>
#include "tre/vmem.h"

#define TRE_SYS_VA          0xffffffff80000000ull
#define TRE_STUB_PORT_BASE  0x80   /* a stub for vector v does `out %al, $(0x80 + v)` */
#define TRE_NVECTORS        32
/* A rewritten `syscall` is `out %al, $TRE_SYSCALL_PORT` (e6 f5): the TSS I/O bitmap lets
 * CPL3 use exactly this port, so the syscall exits straight to trevisor with no trip
 * through the IDT and ring 0 (see docs/engine.md). */
#define TRE_SYSCALL_PORT    0xf5
#define TRE_SEL_KCODE       0x08
#define TRE_SEL_UDATA       0x1b
#define TRE_SEL_UCODE       0x23
#define TRE_SEL_TSS         0x28

struct tre_sysregion {
    uint64_t base_gpa;      /* page 0: GDT, TSS, IDT; page 1: stubs; pages 2-3: IST stack */
    uint64_t ist_top_va;
};

/* The hardware frame an exception leaves on the IST stack (error code first if any). */
struct tre_trap_frame {
    uint64_t error;         /* 0 for vectors without an error code */
    uint64_t rip, cs, rflags, rsp, ss;
    uint64_t frame_va;      /* where rip sits on the IST stack */
};

int sysregion_build(struct tre_vmem *vm, struct tre_sysregion *sys);
/* The CPL3 long-mode register state the program starts in. */
void sysregion_sregs(const struct tre_vmem *vm, const struct tre_sysregion *sys,
                     struct kvm_sregs *sregs);
int sysregion_vector_has_error(unsigned vector);
/* Reads the trap frame at the stub's rsp; -EFAULT if rsp is not on the IST stack. */
int sysregion_read_frame(struct tre_vmem *vm, const struct tre_sysregion *sys,
                         unsigned vector, uint64_t rsp, struct tre_trap_frame *f);

#endif
