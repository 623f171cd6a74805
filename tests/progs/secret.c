/* tests/progs/secret.c — holds a caller's 32-byte canary in three kinds of memory (static
 * data, the malloc heap, a 1 MiB anonymous mmap filled with copies) so isolation tests can
 * look for it from outside; proc 1 says whether every copy is still intact. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "trevisor/tre.h"

TRE_MANIFEST("name=secret\0version=1\0svn=1\0mem=8M\0window=64K");

#define CANARY_LEN 32
#define MAP_LEN    (1u << 20)

static unsigned char secret_static[CANARY_LEN];
static unsigned char *secret_heap;
static unsigned char *secret_map;
static int secret_set;

/* proc 0: (32-byte canary) -> (), returns 0 */
static int secret_keep(const struct msgbuf *in)
{
    if (in->rw != 0 || in->len != CANARY_LEN)
        return -EINVAL;
    if (!secret_heap && !(secret_heap = malloc(CANARY_LEN)))
        return -ENOMEM;
    if (!secret_map) {
        void *p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);

        if (p == MAP_FAILED)
            return -ENOMEM;
        secret_map = p;
    }
    memcpy(secret_static, in->base, CANARY_LEN);
    memcpy(secret_heap, in->base, CANARY_LEN);
    for (size_t off = 0; off < MAP_LEN; off += CANARY_LEN)
        memcpy(secret_map + off, in->base, CANARY_LEN);
    secret_set = 1;
    return 0;
}

/* proc 1: () -> (), returns 1 if all copies equal the static one, else 0 */
static int secret_intact(void)
{
    if (!secret_set || memcmp(secret_heap, secret_static, CANARY_LEN) != 0)
        return 0;
    for (size_t off = 0; off < MAP_LEN; off += CANARY_LEN)
        if (memcmp(secret_map + off, secret_static, CANARY_LEN) != 0)
            return 0;
    return 1;
}

static int secret_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    switch (proc_number) {
    case 0:
        return bufcnt == 1 ? secret_keep(&buf[0]) : -EINVAL;
    case 1:
        return secret_intact();
    default:
        return -ENOSYS;
    }
}

int main(void)
{
    return tre_serve(secret_handler);
}
