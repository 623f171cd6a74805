/* tre/svcdoor.c — the engine's side of a TRE service call (abi.h: rdi/rsi request,
 * rdx/r10 reply): translates both buffers through the instance's page tables once, copies
 * the request into trevisor's memory before any service reads it, hands it to the service
 * registry (services/services.c) and copies the reply back. A buffer outside the program's
 * memory ends the instance; every other failure is an -errno the program gets in rax. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "trevisor/abi.h"
#include "tre/budget.h"
#include "tre/instance.h"
#include "measure/quote.h"
#include "util/log.h"

#define SVC_MAX_REPLY QUOTE_BUNDLE_MAX /* the largest reply a service makes */

int instance_service(struct tre_instance *ti, uint64_t nr, struct kvm_regs *regs)
{
    uint64_t req_va = regs->rdi, req_len = regs->rsi, out_va = regs->rdx, cap = regs->r10;
    if (req_len > TRE_SVC_MAX_REQ) {
        regs->rax = (uint64_t)-E2BIG;
        return 0;
    }
    if (cap > SVC_MAX_REPLY)
        cap = SVC_MAX_REPLY;
    const void *req_user = vmem_user_ptr(&ti->mem, req_va, req_len, VMEM_R);
    if (!req_user)
        return instance_kill(ti, -EFAULT, "service 0x%llx: bad request buffer 0x%llx (+%llu)",
                             (unsigned long long)nr, (unsigned long long)req_va,
                             (unsigned long long)req_len);
    void *out_user = vmem_user_ptr(&ti->mem, out_va, cap, VMEM_W);
    if (!out_user)
        return instance_kill(ti, -EFAULT, "service 0x%llx: bad reply buffer 0x%llx (+%llu)",
                             (unsigned long long)nr, (unsigned long long)out_va,
                             (unsigned long long)cap);
    uint8_t *req = malloc(req_len ? req_len : 1), *out = malloc(cap ? cap : 1);
    long r = -ENOMEM;
    if (req && out) {
        memcpy(req, req_user, req_len); /* copy, then check */
        /* the budget's signal must not interrupt the TPM's or the token's I/O (it has no
         * SA_RESTART); held back here, it ends the program at its next KVM_RUN instead */
        sigset_t budget, old;
        sigemptyset(&budget);
        sigaddset(&budget, TRE_BUDGET_SIGNAL);
        pthread_sigmask(SIG_BLOCK, &budget, &old);
        r = services_call(ti->services, &ti->caller, nr, req, req_len, out, cap);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r > (long)cap)
            r = -EPROTO; /* a service never writes past cap; refuse rather than trust */
        if (r > 0)
            memcpy(out_user, out, (size_t)r);
    }
    if (req)
        explicit_bzero(req, req_len);
    if (out)
        explicit_bzero(out, cap);
    free(req);
    free(out);
    if (ti->trace)
        tlog("trace", "%s: service 0x%llx -> %ld", ti->label, (unsigned long long)nr, r);
    regs->rax = (uint64_t)r;
    return 0;
}
