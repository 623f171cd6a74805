/* kvm/kvm.c — /dev/kvm, VM, memory slots and the single vCPU of a TRE instance.
 * Owns file descriptors and the kvm_run mapping; never interprets guest state. */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int kvm_fd = -1;
static int kvm_err;            /* -errno of the first open, kept for later callers */
static char kvm_errmsg[160];
static int kvm_run_size;
static int kvm_has_sync_regs;
static int kvm_has_xcrs;
static struct kvm_cpuid2 *kvm_cpuid;
static pthread_once_t kvm_once = PTHREAD_ONCE_INIT;

static void kvm_sys_open_once(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        kvm_err = -errno;
        snprintf(kvm_errmsg, sizeof kvm_errmsg, "kvm: cannot open /dev/kvm: %s", strerror(errno));
        return;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        kvm_err = -ENOTSUP;
        snprintf(kvm_errmsg, sizeof kvm_errmsg, "kvm: API version %d, need %d", api, KVM_API_VERSION);
        goto fail;
    }
    if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
        ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0 ||
        ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) {
        kvm_err = -ENOTSUP;
        snprintf(kvm_errmsg, sizeof kvm_errmsg,
                 "kvm: needs KVM_CAP_IMMEDIATE_EXIT, USER_MEMORY and READONLY_MEM");
        goto fail;
    }
    kvm_run_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm_run_size < (int)sizeof(struct kvm_run)) {
        kvm_err = -ENOTSUP;
        snprintf(kvm_errmsg, sizeof kvm_errmsg, "kvm: bad vCPU mmap size %d", kvm_run_size);
        goto fail;
    }
    int sync = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    kvm_has_sync_regs = sync > 0 && (sync & KVM_SYNC_X86_REGS);
    kvm_has_xcrs = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;

    int n = 256;
    kvm_cpuid = calloc(1, sizeof(*kvm_cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    if (!kvm_cpuid) {
        kvm_err = -ENOMEM;
        snprintf(kvm_errmsg, sizeof kvm_errmsg, "kvm: out of memory");
        goto fail;
    }
    kvm_cpuid->nent = n;
    if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, kvm_cpuid) < 0) {
        kvm_err = -errno;
        snprintf(kvm_errmsg, sizeof kvm_errmsg, "kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        free(kvm_cpuid);
        kvm_cpuid = NULL;
        goto fail;
    }
    kvm_fd = fd;
    return;
fail:
    close(fd);
}

int kvm_sys_open(char *err, size_t errlen)
{
    pthread_once(&kvm_once, kvm_sys_open_once);
    if (kvm_fd < 0 && err && errlen)
        snprintf(err, errlen, "%s", kvm_errmsg);
    return kvm_fd < 0 ? kvm_err : 0;
}

int kvm_sys_is_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int kvm_vm_create(struct kvm_vm *vm)
{
    memset(vm, 0, sizeof *vm);
    vm->vmfd = vm->vcpufd = -1;
    int r = kvm_sys_open(NULL, 0);
    if (r)
        return r;
    vm->vmfd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vmfd < 0)
        return -errno;
    return 0;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
    if (vm->run)
        munmap(vm->run, vm->run_size);
    if (vm->vcpufd >= 0)
        close(vm->vcpufd);
    if (vm->vmfd >= 0)
        close(vm->vmfd);
    vm->run = NULL;
    vm->vcpufd = vm->vmfd = -1;
}

int kvm_vm_set_slot(struct kvm_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
                    void *host, int readonly)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(vm->vmfd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return -errno;
    return 0;
}

int kvm_vcpu_create(struct kvm_vm *vm)
{
    vm->vcpufd = ioctl(vm->vmfd, KVM_CREATE_VCPU, 0);
    if (vm->vcpufd < 0)
        return -errno;
    vm->run_size = kvm_run_size;
    vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpufd, 0);
    if (vm->run == MAP_FAILED) {
        vm->run = NULL;
        return -errno;
    }
    if (ioctl(vm->vcpufd, KVM_SET_CPUID2, kvm_cpuid) < 0)
        return -errno;
    if (kvm_has_xcrs) {
        /* XCR0: x87 | SSE | AVX when the CPU offers AVX (CPUID.1:ECX.AVX, bit 28). */
        uint64_t xcr0 = 3;
        for (uint32_t i = 0; i < kvm_cpuid->nent; i++)
            if (kvm_cpuid->entries[i].function == 1 && (kvm_cpuid->entries[i].ecx & (1u << 28)))
                xcr0 |= 4;
        struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = xcr0;
        if (ioctl(vm->vcpufd, KVM_SET_XCRS, &xcrs) < 0)
            return -errno;
    }
    vm->sync_regs = kvm_has_sync_regs && getenv("TREVISOR_NO_SYNC_REGS") == NULL;
    vm->regs_cached = 0;
    /* KVM copies the registers out at every return from KVM_RUN from now on */
    vm->run->kvm_valid_regs = vm->sync_regs ? KVM_SYNC_X86_REGS : 0;
    vm->run->kvm_dirty_regs = 0;
    return 0;
}

int kvm_vcpu_get_regs(struct kvm_vm *vm, struct kvm_regs *regs)
{
    if (vm->sync_regs && vm->regs_cached) {
        memcpy(regs, &vm->run->s.regs.regs, sizeof *regs);
        return 0;
    }
    return ioctl(vm->vcpufd, KVM_GET_REGS, regs) < 0 ? -errno : 0;
}

int kvm_vcpu_set_regs(struct kvm_vm *vm, const struct kvm_regs *regs)
{
    if (vm->sync_regs) {
        /* loaded by the next KVM_RUN, which clears the dirty bit */
        memcpy(&vm->run->s.regs.regs, regs, sizeof *regs);
        vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
        vm->regs_cached = 1;
        return 0;
    }
    return ioctl(vm->vcpufd, KVM_SET_REGS, regs) < 0 ? -errno : 0;
}

int kvm_vcpu_get_sregs(struct kvm_vm *vm, struct kvm_sregs *sregs)
{
    return ioctl(vm->vcpufd, KVM_GET_SREGS, sregs) < 0 ? -errno : 0;
}

int kvm_vcpu_set_sregs(struct kvm_vm *vm, const struct kvm_sregs *sregs)
{
    return ioctl(vm->vcpufd, KVM_SET_SREGS, sregs) < 0 ? -errno : 0;
}

int kvm_vcpu_run(struct kvm_vm *vm)
{
    int r = ioctl(vm->vcpufd, KVM_RUN, 0) < 0 ? -errno : 0;
    /* KVM stores the registers on every way out of KVM_RUN, -EINTR included; an ioctl
     * refused before that (-EINVAL, -EFAULT, ...) may not have: then ask the kernel. A
     * register set still marked dirty was not loaded and stays the one to load. */
    if (vm->sync_regs && !(vm->run->kvm_dirty_regs & KVM_SYNC_X86_REGS))
        vm->regs_cached = r == 0 || r == -EINTR || r == -EAGAIN;
    return r;
}
