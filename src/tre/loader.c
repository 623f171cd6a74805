/* tre/loader.c — builds an instance from a verified, parsed image: lays out its memory
 * (program, stack, message window, heap, doorbell, ring-0 pages), maps the prepared image
 * (segments laid out, every `syscall` rewritten to a two-byte `out`; image.c), writes the
 * Linux initial stack and creates the VM. It never runs the program and never trusts a size the ELF parser has not checked. */
#include "util/err.h"
#include "tre/instance.h"

#include <cpuid.h>
#include <errno.h>
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "trevisor/abi.h"
#include "tre/elf.h"
#include "tre/image.h"

#define PAGE 4096ull
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

static unsigned load_prot(uint32_t pflags)
{
    unsigned p = VMEM_USER;
    if (pflags & PF_R)
        p |= VMEM_R;
    if (pflags & PF_W)
        p |= VMEM_W | VMEM_R;
    if (pflags & PF_X)
        p |= VMEM_X | VMEM_R;
    return p;
}

/* Maps the prepared image (shared, copy-on-write) into one physically contiguous block and
 * maps each run of its pages with the permissions of the segments that cover it. */
static int load_segments(struct tre_instance *ti, const uint8_t *img,
                         const struct tre_elf *elf, char *err, size_t errlen)
{
    struct imagecache_image im;
    uint64_t lo, gpa;
    int r = image_prepare(ti->sha256, img, elf, ti->load_bias, &im, &lo, err, errlen);
    if (r)
        return r;
    uint64_t span = im.span;
    ti->sites = im.sites;       /* the instance keeps the site set */
    ti->nsites = im.nsites;
    im.sites = NULL;
    if (vmem_alloc(&ti->mem, span, &gpa)) {
        imagecache_image_free(&im);
        return errf(err, errlen, -ENOMEM, "load: image needs %llu KiB, more than the "
                         "manifest's mem", (unsigned long long)(span >> 10));
    }
    r = vmem_map_file(&ti->mem, gpa, span, im.fd);
    imagecache_image_free(&im);
    if (r)
        return errf(err, errlen, r, "load: cannot map the image: %s", strerror(-r));
    uint64_t npages = span / PAGE;
    unsigned *prot = calloc(npages, sizeof *prot);
    if (!prot)
        return -ENOMEM;
    for (unsigned i = 0; i < elf->nloads; i++) {
        const struct tre_elf_load *l = &elf->loads[i];
        uint64_t va = l->vaddr + ti->load_bias;
        for (uint64_t p = PAGE_DOWN(va); p < PAGE_UP(va + l->memsz); p += PAGE)
            prot[(p - lo) / PAGE] |= load_prot(l->flags);
    }
    for (uint64_t i = 0; i < npages && !r;) {
        uint64_t j = i;
        while (j < npages && prot[j] == prot[i])
            j++;
        if (prot[i]) {
            r = vmem_map(&ti->mem, lo + i * PAGE, gpa + i * PAGE, (j - i) * PAGE, prot[i], 1);
            if (r)
                errf(err, errlen, r, "load: cannot map the program at 0x%llx (%s)",
                          (unsigned long long)(lo + i * PAGE), strerror(-r));
            else if (!(prot[i] & VMEM_W) && vmem_mark_public(&ti->mem, gpa + i * PAGE,
                                                              (j - i) * PAGE))
                r = errf(err, errlen, -ENOEXEC, "load: too many segments");
        }
        i = j;
    }
    free(prot);
    return r;
}

static int load_push(uint8_t *base, uint64_t base_va, uint64_t *sp, uint64_t lo,
                     const void *data, size_t len, uint64_t *va_out)
{
    if (*sp - lo < len)
        return -ENOMEM;
    *sp -= len;
    memcpy(base + (*sp - base_va), data, len);
    if (va_out)
        *va_out = *sp;
    return 0;
}

/* The Linux x86-64 initial stack: argc, argv, envp, auxv, then the strings they point at. */
static int load_stack(struct tre_instance *ti, const struct tre_elf *elf, uint64_t *rsp)
{
    uint64_t gpa, top = TRE_STACK_TOP, lo = top - ti->stack_size;
    int r = vmem_alloc(&ti->mem, ti->stack_size, &gpa);
    if (!r)
        r = vmem_map(&ti->mem, lo, gpa, ti->stack_size, VMEM_R | VMEM_W | VMEM_USER, 1);
    if (r)
        return r;
    ti->stack_lo = lo;
    uint8_t *base = vmem_gpa_ptr(&ti->mem, gpa, ti->stack_size);
    uint64_t sp = top, argv0, platform, random_va;
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
        return -EIO;
    r = load_push(base, lo, &sp, lo, ti->manifest.name, strlen(ti->manifest.name) + 1, &argv0);
    if (!r)
        r = load_push(base, lo, &sp, lo, "x86_64", 7, &platform);
    if (!r)
        r = load_push(base, lo, &sp, lo, rnd, sizeof rnd, &random_va);
    explicit_bzero(rnd, sizeof rnd);
    if (r)
        return r;
    unsigned eax, ebx, ecx, edx = 0;
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    uint64_t phdr = elf->phdr_vaddr ? elf->phdr_vaddr + ti->load_bias : 0;
    uint64_t auxv[][2] = {
        { AT_PHDR, phdr }, { AT_PHENT, elf->phentsize }, { AT_PHNUM, elf->phnum },
        { AT_PAGESZ, PAGE }, { AT_BASE, 0 }, { AT_FLAGS, 0 },
        { AT_ENTRY, elf->entry + ti->load_bias }, { AT_UID, 0 }, { AT_EUID, 0 },
        { AT_GID, 0 }, { AT_EGID, 0 }, { AT_SECURE, 0 }, { AT_HWCAP, edx },
        { AT_HWCAP2, 0 }, { AT_CLKTCK, 100 }, { AT_PLATFORM, platform },
        { AT_RANDOM, random_va }, { AT_NULL, 0 },
    };
    uint64_t nwords = 1 + 2 + 1 + 2 * (sizeof auxv / sizeof auxv[0]); /* argc argv0 NULL NULL aux */
    sp = (sp - nwords * 8) & ~15ull;
    if (sp < lo)
        return -ENOMEM;
    uint64_t *w = (uint64_t *)(base + (sp - lo));
    unsigned i = 0;
    w[i++] = 1;         /* argc */
    w[i++] = argv0;
    w[i++] = 0;         /* end of argv */
    w[i++] = 0;         /* empty envp */
    for (size_t k = 0; k < sizeof auxv / sizeof auxv[0]; k++) {
        w[i++] = auxv[k][0];
        w[i++] = auxv[k][1];
    }
    *rsp = sp;
    return 0;
}

int instance_load(struct tre_instance *ti, const uint8_t *img, size_t len,
                  const struct tre_elf *elf, const struct tre_manifest *m,
                  char *err, size_t errlen)
{
    (void)len;
    int r;
    ti->kvm.vmfd = ti->kvm.vcpufd = -1;
    ti->manifest = *m;
    ti->load_bias = elf->pie ? TRE_PIE_BASE : 0;
    ti->window_size = m->window_size;
    uint64_t stack = m->mem_size / 16;
    if (stack < (128u << 10))
        stack = 128u << 10;
    if (stack > (8u << 20))
        stack = 8u << 20;
    ti->stack_size = PAGE_UP(stack);

    /* Slot = the manifest's memory + room for page tables and the ring-0 pages. */
    uint64_t slot = PAGE_UP(m->mem_size + m->mem_size / 256 + (512u << 10));
    r = vmem_init(&ti->mem, slot);
    if (r)
        return errf(err, errlen, r, "load: cannot reserve %llu KiB: %s",
                         (unsigned long long)(slot >> 10), strerror(-r));
    r = sysregion_build(&ti->mem, &ti->sys);
    if (r)
        return errf(err, errlen, r, "load: ring-0 pages: %s", strerror(-r));
    uint64_t budget_start = ti->mem.next_gpa;

    r = load_segments(ti, img, elf, err, errlen);
    if (r)
        return r;
    uint64_t rsp;
    r = load_stack(ti, elf, &rsp);
    if (r)
        return errf(err, errlen, r, "load: stack: %s", strerror(-r));

    uint64_t wgpa;
    r = vmem_alloc(&ti->mem, ti->window_size, &wgpa);
    if (!r)
        r = vmem_map(&ti->mem, TRE_WINDOW_VA, wgpa, ti->window_size,
                     VMEM_R | VMEM_W | VMEM_USER, 1);
    if (r)
        return errf(err, errlen, r, "load: message window: %s", strerror(-r));
    ti->window = vmem_user_ptr(&ti->mem, TRE_WINDOW_VA, ti->window_size, VMEM_W);
    if (!ti->window)
        return -EFAULT;

    /* The heap gets what is left of the manifest's memory, less the page tables it needs. */
    uint64_t used = ti->mem.next_gpa - budget_start;
    if (used + (64u << 10) > m->mem_size)
        return errf(err, errlen, -ENOMEM,
                         "load: manifest mem %llu KiB is too small: image, stack and window "
                         "take %llu KiB", (unsigned long long)(m->mem_size >> 10),
                         (unsigned long long)(used >> 10));
    uint64_t heap = PAGE_DOWN(m->mem_size - used);
    uint64_t hgpa;
    r = vmem_alloc(&ti->mem, heap, &hgpa);
    if (!r)
        r = vmem_map(&ti->mem, TRE_ARENA_VA, hgpa, heap, VMEM_R | VMEM_W | VMEM_USER, 1);
    if (!r)
        r = arena_init(&ti->arena, TRE_ARENA_VA, heap);
    if (!r)
        r = vmem_map(&ti->mem, TRE_DOORBELL_VA, TRE_DOORBELL_GPA, PAGE,
                     VMEM_R | VMEM_W | VMEM_USER, 0);
    if (r)
        return errf(err, errlen, r, "load: heap: %s", strerror(-r));

    r = kvm_vm_create(&ti->kvm);
    if (!r)
        r = kvm_vm_set_slot(&ti->kvm, 0, 0, ti->mem.size, ti->mem.host, 0);
    if (!r)
        r = kvm_vcpu_create(&ti->kvm);
    if (r)
        return errf(err, errlen, r, "load: KVM: %s", strerror(-r));
    struct kvm_sregs sregs;
    r = kvm_vcpu_get_sregs(&ti->kvm, &sregs);
    if (r)
        return errf(err, errlen, r, "load: KVM_GET_SREGS: %s", strerror(-r));
    sysregion_sregs(&ti->mem, &ti->sys, &sregs);
    r = kvm_vcpu_set_sregs(&ti->kvm, &sregs);
    if (r)
        return errf(err, errlen, r, "load: KVM_SET_SREGS: %s", strerror(-r));
    memset(&ti->regs, 0, sizeof ti->regs);
    ti->regs.rip = elf->entry + ti->load_bias;
    ti->regs.rsp = rsp;
    ti->regs.rflags = 2;
    r = kvm_vcpu_set_regs(&ti->kvm, &ti->regs);
    if (r)
        return errf(err, errlen, r, "load: KVM_SET_REGS: %s", strerror(-r));
    ti->state = TRE_STATE_NEW;
    return 0;
}

void instance_destroy(struct tre_instance *ti)
{
    kvm_vm_destroy(&ti->kvm);
    vmem_destroy(&ti->mem);
    arena_destroy(&ti->arena);
    free(ti->sites);
    ti->sites = NULL;
    explicit_bzero(&ti->regs, sizeof ti->regs);
}
