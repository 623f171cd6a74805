/* tre/budget.h — the per-call CPU-time budget of an instance: a per-thread CPU-clock timer
 * whose signal sets kvm_run.immediate_exit, so KVM_RUN returns -EINTR and the run loop can
 * end a program that computes for too long. The signal is TRE_BUDGET_SIGNAL. */
#ifndef TREVISOR_TRE_BUDGET_H
#define TREVISOR_TRE_BUDGET_H

#include <stdint.h>
#include <signal.h>
#include <linux/kvm.h>

#define TRE_BUDGET_SIGNAL (SIGRTMIN + 3)

/* Arms the calling thread's timer to fire after ns of this thread's CPU time. */
int budget_arm(struct kvm_run *run, uint64_t ns);
void budget_disarm(void);
/* Whether the armed budget is used up. */
int budget_expired(void);

#endif
