/* tests/progs/nullrpc.c — the RPC benchmark's program (freestanding): proc 0 returns 0 at
 * once and touches no buffer; proc 1 copies argument 0 into result 0 (up to 1 MiB+). */
#include "trevisor/tre.h"

TRE_MANIFEST("name=nullrpc\0version=1\0svn=1\0mem=16M\0window=4M");

static int nullrpc_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    switch (proc_number) {
    case 0:
        return 0;
    case 1:
        if (bufcnt != 2 || buf[0].rw != 0 || buf[1].rw != 1)
            return -TRE_EINVAL;
        if (buf[1].len < buf[0].len)
            return -TRE_ENOSPC;
        __builtin_memcpy(buf[1].base, buf[0].base, buf[0].len);
        buf[1].len = buf[0].len;
        return 0;
    default:
        return -TRE_ENOSYS;
    }
}

int main(void)
{
    return tre_serve(nullrpc_handler);
}
