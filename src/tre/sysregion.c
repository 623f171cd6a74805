/* tre/sysregion.c — builds the GDT, TSS, IDT and the per-vector ring-0 stubs of an
 * instance, and reads/writes the trap frame the stubs run on. The stubs are a few bytes
 * each because ring-0 code is emulated under PVM; no stub may ever touch user memory. */
#include "tre/sysregion.h"

#include <errno.h>
#include <string.h>

#define PAGE 4096ull
#define SYS_PAGES 4
#define OFF_GDT 0x000
#define OFF_TSS 0x080
#define OFF_IDT 0x800
#define IST_PAGES 2
#define TSS_IOMAP 104                 /* the I/O bitmap follows the 104-byte TSS */
#define TSS_LIMIT (TSS_IOMAP + 32)    /* 256 ports + the required 0xff terminator byte */

int sysregion_vector_has_error(unsigned v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

int sysregion_build(struct tre_vmem *vm, struct tre_sysregion *sys)
{
    uint64_t gpa;
    int r = vmem_alloc(vm, SYS_PAGES * PAGE, &gpa);
    if (r)
        return r;
    uint8_t *p = vmem_gpa_ptr(vm, gpa, SYS_PAGES * PAGE);
    if (!p)
        return -EFAULT;
    const uint64_t va = TRE_SYS_VA;
    const uint64_t tss_va = va + OFF_TSS, stubs_va = va + PAGE;
    sys->base_gpa = gpa;
    sys->ist_top_va = va + (2 + IST_PAGES) * PAGE - 16;

    /* GDT: null, kernel code, kernel data, user data, user code, TSS (two slots). */
    uint8_t *gdt = p + OFF_GDT;
    put64(gdt + 0x08, 0x00af9a000000ffffull);
    put64(gdt + 0x10, 0x00cf92000000ffffull);
    put64(gdt + 0x18, 0x00cff2000000ffffull);
    put64(gdt + 0x20, 0x00affa000000ffffull);
    uint64_t lim = TSS_LIMIT;
    uint64_t lo = (lim & 0xffff) | ((tss_va & 0xffffff) << 16) | (0x89ull << 40) |
                  (((lim >> 16) & 0xf) << 48) | (((tss_va >> 24) & 0xff) << 56);
    put64(gdt + 0x28, lo);
    put64(gdt + 0x30, tss_va >> 32);

    /* TSS: rsp0 and IST1 both point at the IST stack. The I/O bitmap denies every port
     * below 256 but TRE_SYSCALL_PORT; ports above the limit are denied by the CPU. */
    uint8_t *tss = p + OFF_TSS;
    put64(tss + 4, sys->ist_top_va);
    put64(tss + 36, sys->ist_top_va);
    put16(tss + 102, TSS_IOMAP);
    memset(tss + TSS_IOMAP, 0xff, 33);
    tss[TSS_IOMAP + TRE_SYSCALL_PORT / 8] &= (uint8_t)~(1u << (TRE_SYSCALL_PORT % 8));

    /* Stubs: out %al,$(0x80+v); [add $8,%rsp]; iretq. Interrupt gates, DPL 0, IST 1. */
    uint8_t *idt = p + OFF_IDT, *stubs = p + PAGE;
    for (unsigned v = 0; v < TRE_NVECTORS; v++) {
        uint8_t *s = stubs + v * 16;
        unsigned n = 0;
        s[n++] = 0xe6;
        s[n++] = (uint8_t)(TRE_STUB_PORT_BASE + v);
        if (sysregion_vector_has_error(v)) {
            s[n++] = 0x48; s[n++] = 0x83; s[n++] = 0xc4; s[n++] = 0x08;
        }
        s[n++] = 0x48; s[n++] = 0xcf;
        uint64_t h = stubs_va + v * 16;
        uint8_t *g = idt + v * 16;
        put16(g + 0, h & 0xffff);
        put16(g + 2, TRE_SEL_KCODE);
        g[4] = 1;       /* IST1 */
        g[5] = 0x8e;    /* present, DPL 0, 64-bit interrupt gate */
        put16(g + 6, (h >> 16) & 0xffff);
        put32(g + 8, (uint32_t)(h >> 32));
    }

    r = vmem_map(vm, va, gpa, PAGE, VMEM_R | VMEM_W, 1);
    if (!r)
        r = vmem_map(vm, stubs_va, gpa + PAGE, PAGE, VMEM_R | VMEM_X, 1);
    if (!r)
        r = vmem_map(vm, va + 2 * PAGE, gpa + 2 * PAGE, IST_PAGES * PAGE, VMEM_R | VMEM_W, 1);
    return r;
}

void sysregion_sregs(const struct tre_vmem *vm, const struct tre_sysregion *sys,
                     struct kvm_sregs *s)
{
    (void)sys;
    struct kvm_segment code = {
        .base = 0, .limit = 0xffffffff, .selector = TRE_SEL_UCODE, .type = 11,
        .present = 1, .dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1,
    };
    struct kvm_segment data = {
        .base = 0, .limit = 0xffffffff, .selector = TRE_SEL_UDATA, .type = 3,
        .present = 1, .dpl = 3, .db = 1, .s = 1, .l = 0, .g = 1,
    };
    s->cs = code;
    s->ss = s->ds = s->es = s->fs = s->gs = data;
    s->tr = (struct kvm_segment){
        .base = TRE_SYS_VA + OFF_TSS, .limit = TSS_LIMIT, .selector = TRE_SEL_TSS, .type = 11,
        .present = 1, .s = 0,
    };
    s->ldt = (struct kvm_segment){ .type = 2, .unusable = 1 };
    s->gdt.base = TRE_SYS_VA + OFF_GDT;
    s->gdt.limit = 0x37;
    s->idt.base = TRE_SYS_VA + OFF_IDT;
    s->idt.limit = TRE_NVECTORS * 16 - 1;
    s->cr0 = 0x80010033ull;                 /* PG WP NE ET MP PE */
    s->cr3 = vm->pml4_gpa;
    s->cr4 = (1u << 5) | (1u << 9) | (1u << 10) | (1u << 18); /* PAE OSFXSR OSXMMEXCPT OSXSAVE */
    s->efer = (1u << 8) | (1u << 10) | (1u << 11);            /* LME LMA NXE; no SCE */
}

static uint64_t sys_ist_gpa(const struct tre_sysregion *sys, uint64_t va, int *ok)
{
    uint64_t lo = TRE_SYS_VA + 2 * PAGE, hi = lo + IST_PAGES * PAGE;
    *ok = va >= lo && va <= hi - 48;
    return sys->base_gpa + (va - TRE_SYS_VA);
}

int sysregion_read_frame(struct tre_vmem *vm, const struct tre_sysregion *sys,
                         unsigned vector, uint64_t rsp, struct tre_trap_frame *f)
{
    int ok;
    uint64_t va = rsp;
    memset(f, 0, sizeof *f);
    uint64_t gpa = sys_ist_gpa(sys, va, &ok);
    if (!ok)
        return -EFAULT;
    uint64_t *w = vmem_gpa_ptr(vm, gpa, 48);
    if (!w)
        return -EFAULT;
    unsigned i = 0;
    if (sysregion_vector_has_error(vector))
        f->error = w[i++];
    f->frame_va = va + 8 * i;
    f->rip = w[i++];
    f->cs = w[i++];
    f->rflags = w[i++];
    f->rsp = w[i++];
    f->ss = w[i++];
    return 0;
}
