/* tests/badprogs/evil.c — a hostile freestanding TRE program with its own serve loop (it
 * bypasses the SDK's checks on purpose): each proc breaks the ABI one way, for the tests
 * that trevisor ends it with a clear diagnostic and nothing else is harmed. */
#include "trevisor/tre.h"

TRE_MANIFEST("name=evil\0version=1\0svn=1\0mem=2M\0window=16K");

static long evil_raw_syscall(long nr, long a0, long a1, long a2)
{
    long ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
                         : "rcx", "r11", "memory");
    return ret;
}

static long evil_call(int proc, volatile struct tre_window_hdr *h)
{
    volatile uint32_t *db32 = (volatile uint32_t *)TRE_DOORBELL_VA;
    switch (proc) {
    case 0:
        return 7;
    case 1: /* a result longer than its buffer */
        if (h->bufcnt >= 1)
            h->bufs[h->bufcnt - 1].len = h->bufs[h->bufcnt - 1].cap + 1;
        return 0;
    case 2: /* a 4-byte doorbell write */
        *db32 = TRE_DB_WAIT;
        return -1;
    case 3: /* a doorbell write at another offset */
        *(volatile uint64_t *)(TRE_DOORBELL_VA + 8) = TRE_DB_WAIT;
        return -1;
    case 4: /* a log buffer outside its memory */
        return tre_doorbell(TRE_DB_LOG, 0x1000, 16, 0, 0, 0);
    case 5: /* a spoofed syscall: the syscall port from a place the loader never rewrote */
        __asm__ __volatile__("outb %%al, $0xf5" : : "a"(0));
        return -1;
    case 6: /* an unknown doorbell call */
        return tre_doorbell(0x999, 0, 0, 0, 0, 0);
    case 7: /* a log flood */
        for (int i = 0; i < 5000; i++)
            tre_doorbell(TRE_DB_LOG, (long)"flood\n", 6, 0, 0, 0);
        return 0;
    case 8: /* write(2) from a bad pointer */
        return evil_raw_syscall(1, 1, 0x10, 5);
    case 9: /* getrandom(2) into its own code (read-only) */
        return evil_raw_syscall(318, (long)&evil_call, 16, 0);
    case 10: /* mmap asking for executable memory: refused, not fatal */
        return evil_raw_syscall(9, 0, 4096, 7 /* PROT_READ|WRITE|EXEC */);
    case 11: { /* a raw `syscall` hidden in an immediate (b8 0f 05 00 00), jumped into:
                * never rewritten; #UD on hardware KVM (EFER.SCE is off), a stuck vCPU under
                * PVM that the CPU budget ends */
        extern char evil_hidden_syscall[];
        __asm__ __volatile__("jmp 1f\n"
                             "evil_hidden_syscall_mov: movl $0x0000050f, %%eax\n"
                             "1:\n" ::: "rax");
        __asm__ __volatile__(".set evil_hidden_syscall, evil_hidden_syscall_mov + 1\n"
                             ".globl evil_hidden_syscall");
        ((void (*)(void))evil_hidden_syscall)();
        return -1;
    }
    default:
        return -38;
    }
}

void evil_main(void)
{
    volatile struct tre_window_hdr *h = (volatile struct tre_window_hdr *)TRE_WINDOW_VA;
    long r = 0;
    for (;;) {
        tre_doorbell(TRE_DB_WAIT, r, 0, 0, 0, 0);
        r = evil_call(h->proc_number, h);
    }
}

int main(void)
{
    evil_main();
    return 0;
}
