/* guest/tools/tre_bench.c — the user environment's benchmark, run inside the guest: it
 * times guest->TRE calls through libtre over vsock and, as their baseline, a plain
 * guest->host vsock echo served by the same back end. It prints "BENCH key value" lines
 * that the host's `make bench` reads from the console.
 *   tre_bench null N        null RPC round trips (nullrpc proc 0): p50, p99 in us
 *   tre_bench echo N        16-byte echo round trips on port 7301: p50, p99 in us
 *   tre_bench bulk N        64 KiB argument + result round trips: MB/s
 *   tre_bench sign S C B    ecdsa-sign for S seconds over C connections, B digests a call */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "trevisor/client.h"

static double bench_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_report(const char *key, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    printf("BENCH %s_p50_us %.1f\nBENCH %s_p99_us %.1f\n", key, v[n / 2], key,
           v[(int)(n * 0.99)]);
}

static char *bench_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(b = malloc((size_t)n + 1)) || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "tre_bench: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int bench_exec(const char *prog)
{
    char img[256], sig[256];
    snprintf(img, sizeof img, "/progs/%s", prog);
    snprintf(sig, sizeof sig, "/progs/%s.minisig", prog);
    size_t il, sl;
    char *i = bench_read(img, &il), *s = bench_read(sig, &sl);
    int d = vmmcall_tre_exec(i, il, s, sl);
    free(i);
    free(s);
    if (d < 0) {
        fprintf(stderr, "tre_bench: exec %s: %s\n", prog, tre_strerror(d));
        exit(1);
    }
    return d;
}

static void bench_null(int n)
{
    int d = bench_exec("nullrpc");
    double *v = calloc((size_t)n, sizeof *v);
    for (int i = 0; i < 20; i++)
        vmmcall_tre_rpc(d, 0, NULL, 0, NULL, 0);
    for (int i = 0; i < n; i++) {
        double a = bench_now_us();
        if (vmmcall_tre_rpc(d, 0, NULL, 0, NULL, 0) != 0)
            exit(1);
        v[i] = bench_now_us() - a;
    }
    bench_report("guest_null_rpc", v, n);
    vmmcall_tre_close(d);
}

static void bench_echo(int n)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 7301 };
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("tre_bench: echo");
        exit(1);
    }
    double *v = calloc((size_t)n, sizeof *v);
    char b[16] = "0123456789abcdef";
    for (int i = 0; i < n + 20; i++) {
        double a = bench_now_us();
        size_t got = 0;
        if (write(fd, b, sizeof b) != sizeof b)
            exit(1);
        while (got < sizeof b) {
            ssize_t k = read(fd, b + got, sizeof b - got);
            if (k <= 0)
                exit(1);
            got += (size_t)k;
        }
        if (i >= 20)
            v[i - 20] = bench_now_us() - a;
    }
    bench_report("guest_vsock_echo", v, n);
    close(fd);
}

static void bench_bulk(int n)
{
    enum { K64 = 64 << 10 };
    static char in[K64], out[K64];
    int d = bench_exec("nullrpc");
    memset(in, 7, sizeof in);
    double a = bench_now_us();
    for (int i = 0; i < n; i++) {
        struct iovec ar[1] = { { in, K64 } }, rr[1] = { { out, K64 } };
        if (vmmcall_tre_rpc(d, 1, ar, 1, rr, 1) != 0)
            exit(1);
    }
    double us = bench_now_us() - a;
    printf("BENCH guest_64k_MBps %.1f\n", (double)K64 * n / us);
    vmmcall_tre_close(d);
}

/* One connection's signing loop; prints nothing, returns signatures made. */
static long bench_sign_one(double seconds, int batch)
{
    int d = bench_exec("ecdsa-sign");
    static unsigned char dg[64 * 32], out[64 * 80];
    memset(dg, 0x42, sizeof dg);
    long n = 0;
    double end = bench_now_us() + seconds * 1e6;
    while (bench_now_us() < end) {
        struct iovec a[1] = { { dg, 32u * (unsigned)batch } }, r[1] = { { out, sizeof out } };
        if (vmmcall_tre_rpc(d, 1, a, 1, r, 1) != batch)
            exit(1);
        n += batch;
    }
    vmmcall_tre_close(d);
    return n;
}

static void bench_sign(double seconds, int conns, int batch)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        exit(1);
    double a = bench_now_us();
    for (int c = 0; c < conns; c++) {
        if (fork() == 0) {
            close(pipefd[0]);
            long n = bench_sign_one(seconds, batch);
            if (write(pipefd[1], &n, sizeof n) != sizeof n)
                _exit(1);
            _exit(0);
        }
    }
    close(pipefd[1]);
    long total = 0, n;
    while (read(pipefd[0], &n, sizeof n) == sizeof n)
        total += n;
    while (wait(NULL) > 0)
        ;
    double s = (bench_now_us() - a) / 1e6;
    printf("BENCH guest_sign_c%d_b%d_per_s %.1f\n", conns, batch, total / s);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "null"))
        bench_null(atoi(argv[2]));
    else if (argc >= 3 && !strcmp(argv[1], "echo"))
        bench_echo(atoi(argv[2]));
    else if (argc >= 3 && !strcmp(argv[1], "bulk"))
        bench_bulk(atoi(argv[2]));
    else if (argc >= 5 && !strcmp(argv[1], "sign"))
        bench_sign(atof(argv[2]), atoi(argv[3]), atoi(argv[4]));
    else {
        fprintf(stderr, "usage: tre_bench null|echo|bulk N | sign SECONDS CONNS BATCH\n");
        return 2;
    }
    fflush(stdout);
    return 0;
}
