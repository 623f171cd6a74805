/* kvm/kvm.h — thin wrappers over /dev/kvm: the system handle, one VM with its memory
 * slots, one vCPU with its shared kvm_run page. No policy lives here: the TRE engine
 * decides what a VM looks like; this only talks to the kernel and reports -errno. */
#ifndef TREVISOR_KVM_H
#define TREVISOR_KVM_H

#include <stdint.h>
#include <stddef.h>
#include <linux/kvm.h>

struct kvm_vm {
    int vmfd;
    int vcpufd;
    struct kvm_run *run;
    size_t run_size;
    int sync_regs;      /* KVM_CAP_SYNC_REGS: registers travel in run->s.regs */
    int regs_cached;    /* run->s.regs.regs holds the vCPU's registers (sync_regs only) */
};

/* Opens /dev/kvm once per process (thread-safe). 0, or -errno with a reason in err. */
int kvm_sys_open(char *err, size_t errlen);
/* Whether this kernel's KVM is the PVM backend (kvm_pvm module), for log lines. */
int kvm_sys_is_pvm(void);

int kvm_vm_create(struct kvm_vm *vm);
void kvm_vm_destroy(struct kvm_vm *vm);
int kvm_vm_set_slot(struct kvm_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
                    void *host, int readonly);
/* Creates vCPU 0 with the host's supported CPUID and XCR0 = x87|SSE|AVX when offered. */
int kvm_vcpu_create(struct kvm_vm *vm);

/* The general registers. With KVM_CAP_SYNC_REGS they travel in the kvm_run page: KVM
 * stores them there at every return from KVM_RUN and loads them at the next entry when
 * set, so neither is an ioctl (each costs ~5 us under PVM). Without it, an ioctl each. */
int kvm_vcpu_get_regs(struct kvm_vm *vm, struct kvm_regs *regs);
int kvm_vcpu_set_regs(struct kvm_vm *vm, const struct kvm_regs *regs);
int kvm_vcpu_get_sregs(struct kvm_vm *vm, struct kvm_sregs *sregs);
int kvm_vcpu_set_sregs(struct kvm_vm *vm, const struct kvm_sregs *sregs);
/* One KVM_RUN. 0 on an exit (see vm->run->exit_reason), -EINTR when kicked, else -errno. */
int kvm_vcpu_run(struct kvm_vm *vm);

#endif
