/* tests/badprogs/bad_manifest.c — a well-formed, signed program whose manifest does not
 * parse (a space in its name): exec must refuse it with a manifest error. */
#include "trevisor/tre.h"

TRE_MANIFEST("name=bad name\0mem=2M");

static int bad_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode, (void)proc_number, (void)buf, (void)bufcnt;
    return 0;
}

int main(void)
{
    return tre_serve(bad_handler);
}
