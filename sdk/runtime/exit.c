/* sdk/runtime/exit.c — tre_log and tre_exit: the program's two engine calls besides the
 * serve loop's wait. Doorbells only; never a syscall. */
#include "trevisor/tre.h"

void tre_log(const char *msg, size_t len)
{
    tre_doorbell(TRE_DB_LOG, (long)(uintptr_t)msg, (long)len, 0, 0, 0);
}

void tre_exit(int status)
{
    for (;;) /* TRE_DB_EXIT does not return; if it ever did, ask again */
        tre_doorbell(TRE_DB_EXIT, status, 0, 0, 0, 0);
}
