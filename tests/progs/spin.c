/* tests/progs/spin.c — the CPU-budget test program (glibc): proc 0 never returns,
 * proc 1 returns 42 (to show the instance is alive, or that a new one is). */
#include "trevisor/tre.h"

TRE_MANIFEST("name=spin\0version=1\0svn=1\0mem=4M\0window=64K");

static int spin_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode, (void)buf, (void)bufcnt;
    switch (proc_number) {
    case 0:
        for (;;)
            __asm__ __volatile__("" ::: "memory");
    case 1:
        return 42;
    default:
        return -TRE_ENOSYS;
    }
}

int main(void)
{
    return tre_serve(spin_handler);
}
