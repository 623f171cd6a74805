/* tests/progs/faults.c — a freestanding program that commits one chosen fault per proc, for
 * the tests that a fault ends only its own instance, with a diagnostic. proc 0 is the
 * alive check; 15 and 16 are the memory-probe primitives (address in arg 0, 8 bytes LE).
 * A proc that survives its fault returns -1. */
#include "trevisor/tre.h"

TRE_MANIFEST("name=faults\0version=1\0svn=1\0mem=4M\0window=64K");

#define SURVIVED (-1)

static unsigned char faults_wbuf[64] __attribute__((aligned(16))); /* .bss: RW, NX */
static volatile unsigned char faults_key = 0x5a;
static volatile int faults_stop;

/* An address the compiler knows nothing about (no folding, no bounds warnings). */
static inline void *faults_addr(uintptr_t a)
{
    __asm__("" : "+r"(a));
    return (void *)a;
}

static uint64_t faults_le64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Never returns normally: each frame keeps 512 bytes live across the call. */
static __attribute__((noinline)) int faults_recurse(int depth)
{
    volatile char pad[512];
    int r;

    if (faults_stop)
        return 0;
    pad[0] = (char)depth;
    r = faults_recurse(depth + 1);
    __asm__ __volatile__("" : : "r"(pad) : "memory");
    return r + pad[0];
}

static int faults_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt);

static int faults_run(int proc, struct msgbuf *buf, int bufcnt)
{
    switch (proc) {
    case 1: /* read an unmapped address */
        return *(volatile uint8_t *)faults_addr(0x1000);
    case 2: /* write to its own code */
        *(volatile uint8_t *)faults_addr((uintptr_t)&faults_handler) = 0xc3;
        return SURVIVED;
    case 3: { /* execute from the stack (NX) */
        volatile uint8_t code[16] = { 0xc3 }; /* ret */

        ((void (*)(void))faults_addr((uintptr_t)code))();
        return SURVIVED;
    }
    case 4: /* non-canonical address: #GP */
        return (int)*(volatile uint64_t *)faults_addr(0x8000000000000000ull);
    case 5:
        __asm__ __volatile__("ud2");
        return SURVIVED;
    case 6: { /* divide by zero: #DE */
        uint32_t lo = 1, hi = 0, zero = 0;

        __asm__ __volatile__("divl %2" : "+a"(lo), "+d"(hi) : "r"(zero));
        return SURVIVED;
    }
    case 7:
        __asm__ __volatile__("int3");
        return SURVIVED;
    case 8: /* privileged at CPL3: #GP */
        __asm__ __volatile__("cli");
        return SURVIVED;
    case 9: /* run into the stack guard */
        return faults_recurse(0);
    case 10: /* a doorbell read is not a doorbell */
        return (int)*(volatile uint64_t *)faults_addr(TRE_DOORBELL_VA);
    case 11: { /* the 32-bit Linux syscall gate is not there (eax = -1: harmless natively) */
        long ax = -1;

        __asm__ __volatile__("int $0x80" : "+a"(ax) : : "memory");
        return SURVIVED;
    }
    case 12: /* port I/O from CPL3 (to the port of the #DE stub: a spoof attempt) */
        __asm__ __volatile__("outb %%al, $0x80" : : "a"(0));
        return SURVIVED;
    case 13: /* a store to trevisor's supervisor-only region */
        *(volatile uint64_t *)faults_addr(0xffffffff80000000ull) = 0;
        return SURVIVED;
    case 14: { /* W^X: `syscall; ret` written at run time, then jumped to */
        faults_wbuf[0] = 0x0f ^ 0x5a ^ faults_key;
        faults_wbuf[1] = 0x05 ^ 0x5a ^ faults_key;
        faults_wbuf[2] = 0xc3 ^ 0x5a ^ faults_key;
        ((void (*)(void))faults_addr((uintptr_t)faults_wbuf))();
        return SURVIVED;
    }
    case 15: /* probe: write the first byte at arg 0 */
        if (bufcnt != 1 || buf[0].rw != 0 || buf[0].len != 8)
            return -TRE_EINVAL;
        *(volatile uint8_t *)faults_addr((uintptr_t)faults_le64(buf[0].base)) = 0xa5;
        return 0;
    case 16: { /* probe: read 8 bytes at arg 0 into result 0 */
        const volatile uint8_t *src;
        uint8_t *dst;

        if (bufcnt != 2 || buf[0].rw != 0 || buf[0].len != 8 || buf[1].rw != 1 ||
            buf[1].len < 8)
            return -TRE_EINVAL;
        src = faults_addr((uintptr_t)faults_le64(buf[0].base));
        dst = buf[1].base;
        for (int i = 0; i < 8; i++)
            dst[i] = src[i];
        buf[1].len = 8;
        return 0;
    }
    case 17: /* privileged at CPL3: #GP */
        __asm__ __volatile__("hlt");
        return SURVIVED;
    default:
        return -TRE_ENOSYS;
    }
}

static int faults_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    if (proc_number == 0)
        return 7;
    return faults_run(proc_number, buf, bufcnt);
}

int main(void)
{
    return tre_serve(faults_handler);
}
