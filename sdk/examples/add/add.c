/* sdk/examples/add/add.c — the research system's example TRE program: proc 0 adds two
 * little-endian int32 arguments (wrapping) into a 4-byte result. One source, built with
 * glibc, musl and no libc at all (tre-crt0); it uses nothing but the SDK. */
#include "trevisor/tre.h"

TRE_MANIFEST("name=add\0version=1\0svn=1\0mem=4M\0window=64K");

static uint32_t get_le32(const void *p)
{
    const uint8_t *b = p;

    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_le32(void *p, uint32_t v)
{
    uint8_t *b = p;

    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static int add_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    if (proc_number != 0)
        return -TRE_ENOSYS;
    if (bufcnt != 3 || buf[0].rw != 0 || buf[0].len != 4 || buf[1].rw != 0 ||
        buf[1].len != 4 || buf[2].rw != 1 || buf[2].len < 4)
        return -TRE_EINVAL;
    put_le32(buf[2].base, get_le32(buf[0].base) + get_le32(buf[1].base)); /* wraps */
    buf[2].len = 4;
    return 0;
}

int main(void)
{
    static const char hello[] = "add: ready";

    tre_log(hello, sizeof(hello) - 1);
    return tre_serve(add_handler);
}
