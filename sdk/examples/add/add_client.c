/* sdk/examples/add/add_client.c — the owner's side of the `add` example: starts the signed
 * add program through libtre (the research system's client API), calls add(a, b), prints
 * the sum and ends the instance. Usage: add_client IMAGE [A B] (signature: IMAGE.minisig). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "trevisor/client.h"

static char *add_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "add_client: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: add_client IMAGE [A B]\n");
        return 2;
    }
    char sigpath[4096];
    snprintf(sigpath, sizeof sigpath, "%s.minisig", argv[1]);
    size_t ilen, slen;
    char *img = add_read(argv[1], &ilen), *sig = add_read(sigpath, &slen);
    int a = argc == 4 ? atoi(argv[2]) : 40, b = argc == 4 ? atoi(argv[3]) : 2, sum = 0;

    int desc = vmmcall_tre_exec(img, ilen, sig, slen);
    if (desc < 0) {
        fprintf(stderr, "add_client: exec: %s\n", tre_strerror(desc));
        return 1;
    }
    struct iovec args[2] = { { &a, sizeof a }, { &b, sizeof b } };
    struct iovec res[1] = { { &sum, sizeof sum } };
    int r = vmmcall_tre_rpc(desc, 0, args, 2, res, 1);
    if (r < 0) {
        fprintf(stderr, "add_client: rpc: %s\n", tre_strerror(r));
        vmmcall_tre_close(desc);
        return 1;
    }
    printf("add(%d, %d) = %d   (computed in TRE instance %d)\n", a, b, sum, desc);
    vmmcall_tre_close(desc);
    free(img);
    free(sig);
    return 0;
}
