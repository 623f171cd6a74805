/* tre/instance.h — one TRE instance: a KVM VM with one vCPU, its memory, the loaded
 * program and its run state. The loader builds it, the run loop drives it, the syscall
 * layer serves it; the engine (engine.c) owns descriptors and locking around it. */
#ifndef TREVISOR_TRE_INSTANCE_H
#define TREVISOR_TRE_INSTANCE_H

#include <stdint.h>
#include <stddef.h>
#include "kvm/kvm.h"
#include "services/services.h"
#include "tre/arena.h"
#include "tre/manifest.h"
#include "tre/sysregion.h"
#include "tre/vmem.h"

#define TRE_DOORBELL_GPA 0x100000000ull   /* above every slot; no memory behind it */

enum tre_state {
    TRE_STATE_NEW,        /* loaded, never run */
    TRE_STATE_WAITING,    /* parked in TRE_DB_WAIT: ready for a message */
    TRE_STATE_DEAD,       /* ended: fault, budget, exit or bad request */
};

struct tre_instance {
    struct kvm_vm kvm;
    struct tre_vmem mem;
    struct tre_sysregion sys;
    struct tre_arena arena;
    struct tre_manifest manifest;
    char label[48];               /* "name#desc" for log lines */
    uint8_t sha256[32];
    uint8_t keyid[8];

    uint64_t *sites;              /* rewritten syscall addresses, ascending */
    size_t nsites;
    uint64_t load_bias;           /* TRE_PIE_BASE for static-pie, else 0 */
    uint64_t stack_lo, stack_size;
    uint64_t window_size;
    uint8_t *window;              /* host view of the message window (checked once) */

    enum tre_state state;
    int death;                    /* -errno the call that ended it returned */
    uint64_t budget_ns;           /* CPU time per call */
    struct kvm_regs regs;         /* registers as of the last exit (valid while parked) */
    uint8_t enosys_logged[64];    /* bitmap: unsupported syscall numbers already logged */
    unsigned log_lines;
    int trace;                    /* log every syscall (TREVISOR_TRACE=1) */
    struct tre_services *services;/* the TRE services (NULL: every service is -ENODEV) */
    struct svc_caller caller;     /* who this program is, for the services */
};

/* loader.c: verify-free part of exec — builds the VM from a parsed, verified image. */
struct tre_elf;
int instance_load(struct tre_instance *ti, const uint8_t *img, size_t len,
                  const struct tre_elf *elf, const struct tre_manifest *m,
                  char *err, size_t errlen);
void instance_destroy(struct tre_instance *ti);

/* instance.c: runs until the program parks in TRE_DB_WAIT (0, *value = its rdi), or it
 * ends (-errno; the instance is then DEAD and the reason logged). */
int instance_run(struct tre_instance *ti, uint64_t *value);
/* Ends the instance with a one-line diagnostic; returns code (a -errno). */
int instance_kill(struct tre_instance *ti, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The program's text, to the log a line at a time (rate-limited per call). */
void instance_log_program(struct tre_instance *ti, const char *buf, size_t len);

/* svcdoor.c: a doorbell call numbered >= TRE_DB_SERVICE_BASE. regs in/out (rax = the
 * result). 0 to resume, or -errno if the instance must end (already killed). */
int instance_service(struct tre_instance *ti, uint64_t nr, struct kvm_regs *regs);

/* syscalls.c: emulates the Linux syscall at a rewritten site. regs in/out. 0 to resume,
 * or -errno if the instance must end (already killed). */
int syscall_dispatch(struct tre_instance *ti, struct kvm_regs *regs);

#endif
