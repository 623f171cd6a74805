/* tests/progs/exit.c — a freestanding program that ends itself: proc 0 calls tre_exit(3);
 * any other proc returns -ENOSYS. */
#include "trevisor/tre.h"

TRE_MANIFEST("name=exit\0version=1\0svn=1\0mem=4M\0window=64K");

static int exit_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode, (void)buf, (void)bufcnt;
    if (proc_number == 0)
        tre_exit(3);
    return -TRE_ENOSYS;
}

int main(void)
{
    return tre_serve(exit_handler);
}
