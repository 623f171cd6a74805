/* bench/bench.c — `make bench`: each figure beside a baseline measured in the same run (a
 * bare doorbell exit, bare VM creation, native code, memcpy, 1 MiB), for the engine API and
 * for hosted mode (libtre over the Unix socket to an in-process server), printed as a
 * table and written to bench/results.json. Never asserts on speed. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trevisor/abi.h"
#include "trevisor/client.h"
#include "trevisor/engine.h"
#include "door/unix_door.h"
#include "kvm/kvm.h"
#include "tre/imagecache.h"
#include "tre/sysregion.h"
#include "tre/vmem.h"
#include "util/file.h"
#include "util/log.h"
#include "bench.h"

const char *build = "build";

double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double pct(double *v, int n, double p)
{
    qsort(v, n, sizeof *v, cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* ---- results ---- */
struct fig {
    char name[96], unit[16], base_name[96], goal[16];
    double value, base;
};
static struct fig figs[64];
static int nfigs;

void add(const char *name, double v, const char *unit, const char *bname, double b,
                const char *goal)
{
    struct fig *f = &figs[nfigs++];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->unit, sizeof f->unit, "%s", unit);
    snprintf(f->base_name, sizeof f->base_name, "%s", bname);
    snprintf(f->goal, sizeof f->goal, "%s", goal);
    f->value = v;
    f->base = b;
}

/* ---- baseline: a bare VM whose CPL3 code writes the doorbell in a loop ---- */
struct bare {
    struct kvm_vm k;
    struct tre_vmem vm;
    struct tre_sysregion sys;
};

static int bare_create(struct bare *b)
{
    static const uint8_t code[] = {
        0x48, 0xbb, 0, 0, 0, 0, 0xff, 0x7f, 0, 0,   /* movabs $TRE_DOORBELL_VA, %rbx */
        0x48, 0x89, 0x03,                           /* 1: mov %rax, (%rbx) */
        0xeb, 0xfb,                                 /* jmp 1b */
    };
    uint64_t gpa, stk;
    memset(b, 0, sizeof *b);
    int r = kvm_vm_create(&b->k);
    r = r ? r : vmem_init(&b->vm, 1 << 20);
    r = r ? r : sysregion_build(&b->vm, &b->sys);
    r = r ? r : vmem_alloc(&b->vm, 4096, &gpa);
    if (r)
        return r;
    memcpy(vmem_gpa_ptr(&b->vm, gpa, 4096), code, sizeof code);
    r = vmem_map(&b->vm, 0x400000, gpa, 4096, VMEM_R | VMEM_X | VMEM_USER, 1);
    r = r ? r : vmem_alloc(&b->vm, 4096, &stk);
    r = r ? r : vmem_map(&b->vm, 0x7ff000000000 - 4096, stk, 4096, VMEM_R | VMEM_W | VMEM_USER, 1);
    r = r ? r : vmem_map(&b->vm, TRE_DOORBELL_VA, 0x100000000ull, 4096, VMEM_R | VMEM_W | VMEM_USER, 0);
    r = r ? r : kvm_vm_set_slot(&b->k, 0, 0, b->vm.size, b->vm.host, 0);
    r = r ? r : kvm_vcpu_create(&b->k);
    if (r)
        return r;
    struct kvm_sregs s;
    kvm_vcpu_get_sregs(&b->k, &s);
    sysregion_sregs(&b->vm, &b->sys, &s);
    struct kvm_regs regs = { .rip = 0x400000, .rsp = 0x7ff000000000 - 16, .rflags = 2 };
    r = kvm_vcpu_set_sregs(&b->k, &s);
    return r ? r : kvm_vcpu_set_regs(&b->k, &regs);
}

static void bare_destroy(struct bare *b)
{
    kvm_vm_destroy(&b->k);
    vmem_destroy(&b->vm);
}

static int bare_exit(struct bare *b)
{
    int r = kvm_vcpu_run(&b->k);
    return r ? r : b->k.run->exit_reason == KVM_EXIT_MMIO ? 0 : -EIO;
}

/* ---- helpers ---- */
struct tre_engine *engine(void)
{
    struct tre_engine *e;
    char err[256], p[512], *pub;
    size_t len;
    if (tre_engine_new(NULL, &e, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    snprintf(p, sizeof p, "%s/vendor/demo.pub", build);
    if (file_read_all(p, 1 << 16, &pub, &len) || tre_engine_trust(e, pub, len, err, sizeof err)) {
        fprintf(stderr, "bench: cannot trust %s\n", p);
        exit(1);
    }
    free(pub);
    return e;
}

void img_load(const char *prog, struct img *m)
{
    char p[512];
    snprintf(p, sizeof p, "%s/progs/%s", build, prog);
    int r = file_read_all(p, 256u << 20, &m->img, &m->ilen);
    snprintf(p, sizeof p, "%s/progs/%s.minisig", build, prog);
    r = r ? r : file_read_all(p, 1 << 16, &m->sig, &m->slen);
    if (r) {
        fprintf(stderr, "bench: cannot read %s (run make first)\n", p);
        exit(1);
    }
}

int exec_img(struct tre_engine *e, struct img *m)
{
    char err[256];
    int d = tre_engine_exec(e, m->img, m->ilen, m->sig, m->slen, NULL, err, sizeof err);
    if (d < 0) {
        fprintf(stderr, "bench: exec: %s\n", err);
        exit(1);
    }
    return d;
}

/* Proportional set size: shared pages (the prepared image) count once, split. */
static long pss_kib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static long meminfo_kib(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256], k[64];
    long v = -1, x;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%63[^:]: %ld kB", k, &x) == 2 && !strcmp(k, key)) {
            v = x;
            break;
        }
    if (f)
        fclose(f);
    return v;
}

/* ---- the figures ---- */
enum { N_RPC = 3000 };
static double bare_p50, bare_p99, engine_p50, engine_p99; /* for the hosted figures */
static double host_64k_MBps;                               /* for the guest's */

static void bench_null_rpc(void)
{
    static double t[N_RPC], b[N_RPC];
    struct bare bare;
    if (bare_create(&bare)) {
        fprintf(stderr, "bench: bare VM failed\n");
        exit(1);
    }
    for (int i = 0; i < 100; i++)
        bare_exit(&bare);
    struct tre_engine *e = engine();
    struct img m;
    img_load("nullrpc", &m);
    int d = exec_img(e, &m);
    for (int i = 0; i < 100; i++)
        tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0);
    /* interleave the two so both see the same machine */
    for (int i = 0; i < N_RPC; i++) {
        double a = now_us();
        bare_exit(&bare);
        double c = now_us();
        tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0);
        double z = now_us();
        b[i] = c - a;
        t[i] = z - c;
    }
    double b50 = pct(b, N_RPC, .5), b99 = pct(b, N_RPC, .99);
    bare_p50 = b50;
    bare_p99 = b99;
    engine_p50 = pct(t, N_RPC, .5);
    engine_p99 = pct(t, N_RPC, .99);
    add("null RPC round trip p50 (engine API)", pct(t, N_RPC, .5), "us",
        "bare doorbell exit p50", b50, "<=1.5");
    add("null RPC round trip p99 (engine API)", pct(t, N_RPC, .99), "us",
        "bare doorbell exit p99", b99, "<=1.5");

    /* 1 MiB of arguments and 1 MiB of results, against memcpy of the same bytes */
    enum { MB = 1 << 20, N = 200 };
    char *in = malloc(MB), *out = malloc(MB), *tmp = malloc(MB);
    memset(in, 0x5a, MB);
    struct iovec a[1] = { { in, MB } }, r[1] = { { out, MB } };
    double t0 = now_us();
    for (int i = 0; i < N; i++) {
        r[0].iov_len = MB;
        tre_engine_rpc(e, d, 1, a, 1, r, 1);
    }
    double rpc = (now_us() - t0) / N;
    t0 = now_us();
    for (int i = 0; i < N; i++) {
        memcpy(tmp, in, MB);
        __asm__ __volatile__("" : : "r"(tmp) : "memory");
        memcpy(out, tmp, MB);
        __asm__ __volatile__("" : : "r"(out) : "memory");
    }
    double mc = (now_us() - t0) / N;
    add("RPC, 1 MiB args + 1 MiB results", rpc, "us", "memcpy 1 MiB in + 1 MiB out", mc, "<=3");
    free(in), free(out), free(tmp);
    tre_engine_free(e);
    bare_destroy(&bare);
}

static void bench_exec(void)
{
    enum { N = 30 };
    static double t[N], b[N], cold[N];
    struct tre_engine *e = engine();
    struct img m;
    img_load("bigexec", &m);
    for (int i = 0; i < N; i++) {
        double a = now_us();
        struct bare bare;
        if (bare_create(&bare) || bare_exit(&bare)) {
            fprintf(stderr, "bench: bare VM failed\n");
            exit(1);
        }
        double c = now_us();
        bare_destroy(&bare);
        double c2 = now_us();
        int d = exec_img(e, &m);
        double z = now_us();
        tre_engine_close(e, d);
        imagecache_clear();
        double z2 = now_us();
        d = exec_img(e, &m);
        double z3 = now_us();
        tre_engine_close(e, d);
        b[i] = c - a;
        t[i] = z - c2;
        cold[i] = z3 - z2;
    }
    char name[128];
    snprintf(name, sizeof name, "exec of a %zu KB static glibc program (p50)", m.ilen / 1000);
    add(name, pct(t, N, .5), "us", "bare VM creation to first exit (p50)", pct(b, N, .5), "<=5");
    snprintf(name, sizeof name, "exec of the same, first time (syscall decoder runs) (p50)");
    add(name, pct(cold, N, .5), "us", "bare VM creation to first exit (p50)", pct(b, N, .5),
        "report");
    free(m.img), free(m.sig);
    tre_engine_free(e);
}

static double native_rate(int batch)
{
    char cmd[512], line[256];
    snprintf(cmd, sizeof cmd, "%s/progs/ecdsa-sign-native %d 2", build, batch);
    FILE *p = popen(cmd, "r");
    double rate = 0;
    while (p && fgets(line, sizeof line, p))
        sscanf(line, "%lf signatures/s", &rate);
    if (p)
        pclose(p);
    return rate;
}

static void bench_ecdsa(void)
{
    struct tre_engine *e = engine();
    struct img m;
    img_load("ecdsa-sign", &m);
    int d = exec_img(e, &m);
    static uint8_t dg[16 * 32], out[16 * 80];
    memset(dg, 0x11, sizeof dg);
    for (int batch = 1; batch <= 16; batch += 15) {
        struct iovec a[1] = { { dg, 32u * batch } }, r[1];
        int n = 0;
        double t0 = now_us();
        while (now_us() - t0 < 2e6) {
            r[0] = (struct iovec){ out, sizeof out };
            if (tre_engine_rpc(e, d, 1, a, 1, r, 1) != batch) {
                fprintf(stderr, "bench: ecdsa-sign failed\n");
                exit(1);
            }
            n += batch;
        }
        double rate = n / ((now_us() - t0) / 1e6);
        char name[96], bname[96];
        snprintf(name, sizeof name, "ecdsa-sign in the TRE, %d per call", batch);
        snprintf(bname, sizeof bname, "same code native on the host, %d per call", batch);
        add(name, rate, "sig/s", bname, native_rate(batch), batch == 1 ? "report" : ">=0.9");
    }
    free(m.img), free(m.sig);
    tre_engine_free(e);
}

static void bench_memory(void)
{
    enum { N = 100 };
    struct tre_engine *e = engine();
    struct img m;
    img_load("add-glibc", &m);
    int d0 = exec_img(e, &m); /* warm up the process (KVM handle, caches) */
    tre_engine_close(e, d0);
    sleep(1);
    long rss0 = pss_kib(), avail0 = meminfo_kib("MemAvailable");
    int d[N];
    for (int i = 0; i < N; i++) {
        d[i] = exec_img(e, &m);
        int a = i, b = 1, s = 0;
        struct iovec args[2] = { { &a, 4 }, { &b, 4 } }, res[1] = { { &s, 4 } };
        tre_engine_rpc(e, d[i], 0, args, 2, res, 1);
    }
    long rss1 = pss_kib(), avail1 = meminfo_kib("MemAvailable");
    double per_rss = (rss1 - rss0) / (double)N;
    double per_sys = (avail0 - avail1) / (double)N;
    add("host memory per idle add-glibc instance (process PSS), 100 alive", per_rss / 1024.0,
        "MiB", "1 MiB", 1.0, "<=1");
    add("host memory per idle add-glibc instance (MemAvailable drop, incl. kernel)",
        per_sys / 1024.0, "MiB", "1 MiB", 1.0, "report");
    free(m.img), free(m.sig);
    tre_engine_free(e);
}

void *bench_door_main(void *d)
{
    int *stop = ((int **)d)[1];
    unix_door_run(((struct unix_door **)d)[0], *stop);
    return NULL;
}

/* Hosted mode: libtre -> Unix socket -> session -> engine, against the same run's bare
 * doorbell exit and engine-API null RPC. */
static void bench_hosted(void)
{
    static double t[N_RPC];
    char path[128], err[256];
    snprintf(path, sizeof path, "/tmp/trevisor-bench-%d.sock", (int)getpid());
    struct tre_engine *e = engine();
    struct unix_door_config cfg = { .path = path, .group = (gid_t)-1 };
    struct unix_door *door;
    int stop[2];
    if (unix_door_open(&cfg, e, &door, err, sizeof err) || pipe(stop)) {
        fprintf(stderr, "bench: %s\n", err);
        exit(1);
    }
    void *args_[2] = { door, &stop[0] };
    pthread_t th;
    pthread_create(&th, NULL, bench_door_main, args_);
    setenv("TREVISOR_SOCKET", path, 1);
    struct img m;
    img_load("nullrpc", &m);
    int d = vmmcall_tre_exec(m.img, m.ilen, m.sig, m.slen);
    if (d < 0) {
        fprintf(stderr, "bench: hosted exec: %s\n", tre_strerror(d));
        exit(1);
    }
    for (int i = 0; i < 100; i++)
        vmmcall_tre_rpc(d, 0, NULL, 0, NULL, 0);
    for (int i = 0; i < N_RPC; i++) {
        double a = now_us();
        vmmcall_tre_rpc(d, 0, NULL, 0, NULL, 0);
        t[i] = now_us() - a;
    }
    double p50 = pct(t, N_RPC, .5), p99 = pct(t, N_RPC, .99);
    add("null RPC round trip p50 (libtre, Unix socket)", p50, "us", "bare doorbell exit p50",
        bare_p50, "<=4");
    add("null RPC round trip p99 (libtre, Unix socket)", p99, "us", "bare doorbell exit p99",
        bare_p99, "<=4");
    add("null RPC round trip p50 (libtre, Unix socket) vs engine API", p50, "us",
        "engine-API null RPC p50", engine_p50, "report");

    /* 64 KiB of arguments copied back as 64 KiB of results, per round trip */
    enum { K64 = 64 << 10, N = 1000 };
    static char in[K64], out[K64];
    memset(in, 0x3c, sizeof in);
    double t0 = now_us();
    for (int i = 0; i < N; i++) {
        struct iovec a[1] = { { in, K64 } }, r[1] = { { out, K64 } };
        vmmcall_tre_rpc(d, 1, a, 1, r, 1);
    }
    double per = (now_us() - t0) / N;
    /* baseline: the same through the engine API, no socket */
    int de = exec_img(e, &m);
    t0 = now_us();
    for (int i = 0; i < N; i++) {
        struct iovec a[1] = { { in, K64 } }, r[1] = { { out, K64 } };
        tre_engine_rpc(e, de, 1, a, 1, r, 1);
    }
    double per_e = (now_us() - t0) / N;
    host_64k_MBps = K64 / per_e;
    add("64 KiB argument round trip (libtre, Unix socket), MB/s", K64 / per, "MB/s",
        "the same through the engine API", K64 / per_e, "report");
    vmmcall_tre_close(d);
    tre_disconnect();
    if (write(stop[1], "x", 1) != 1)
        perror("write");
    pthread_join(th, NULL);
    unix_door_free(door);
    close(stop[0]);
    close(stop[1]);
    free(m.img), free(m.sig);
    tre_engine_free(e);
}

/* ---- the user environment (QEMU TCG here): boot time, guest->TRE calls ---- */

/* Starts argv with stdout on a pipe; returns a FILE to read it, and *pid. */
static FILE *spawn_reading(char *const argv[], pid_t *pid)
{
    int p[2];
    if (pipe(p) < 0)
        return NULL;
    *pid = fork();
    if (*pid == 0) {
        dup2(p[1], 1);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 2);
        close(p[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    return fdopen(p[0], "r");
}

/* Seconds from now until a console line contains marker; -1 if it never does. Reads on to
 * EOF, handing BENCH lines to the table. */
static double console_until(FILE *f, const char *marker, double t0, double *bench_vals,
                            char bench_keys[][64], int *nbench)
{
    char line[1024];
    double at = -1;
    while (fgets(line, sizeof line, f)) {
        if (at < 0 && strstr(line, marker))
            at = (now_us() - t0) / 1e6;
        char key[64];
        double v;
        if (bench_vals && *nbench < 32 && sscanf(line, "BENCH %63s %lf", key, &v) == 2) {
            snprintf(bench_keys[*nbench], 64, "%s", key);
            bench_vals[(*nbench)++] = v;
        }
    }
    return at;
}

static double guest_val(char keys[][64], const double *vals, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], key))
            return vals[i];
    return 0;
}

static void bench_guest(void)
{
    char kernel[256], initrd[256], conf[] = "/tmp/trevisor-bench-XXXXXX", cmd[1024];
    snprintf(kernel, sizeof kernel, "%s/guest/vmlinux", build);
    snprintf(initrd, sizeof initrd, "%s/guest/initrd.cpio.gz", build);
    if (access(kernel, R_OK) || access(initrd, R_OK) || !mkdtemp(conf)) {
        fprintf(stderr, "bench: no guest image (make guest-image): user environment skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "%s/trevisor trust add %s/vendor/demo.pub --config %s >/dev/null",
             build, build, conf);
    if (system(cmd))
        return;
    /* plain QEMU, the same kernel and initrd, no trevisor */
    char *plain[] = { "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine",
                      "q35,accel=tcg", "-cpu", "max", "-m", "256", "-display", "none",
                      "-serial", "stdio", "-monitor", "none", "-no-reboot", "-kernel", kernel,
                      "-initrd", initrd, "-append",
                      "console=ttyS0 quiet panic=-1 trevisor.run=hello", NULL };
    pid_t pid;
    double t0 = now_us();
    FILE *f = spawn_reading(plain, &pid);
    double plain_s = f ? console_until(f, "trevisor-guest: kernel", t0, NULL, NULL, NULL) : -1;
    if (f)
        fclose(f);
    waitpid(pid, NULL, 0);
    /* trevisor run, with the guest-side benchmark */
    char bin[512];
    snprintf(bin, sizeof bin, "%s/trevisor", build);
    char *run[] = { bin, "run", "--kernel", kernel, "--initrd", initrd, "--mem", "256M",
                    "--config", conf, "--cmdline",
                    "console=ttyS0 quiet panic=-1 trevisor.run=bench trevisor.timeout=300",
                    NULL };
    static double vals[32];
    static char keys[32][64];
    int n = 0;
    t0 = now_us();
    f = spawn_reading(run, &pid);
    double run_s = f ? console_until(f, "trevisor-guest: kernel", t0, vals, keys, &n) : -1;
    if (f)
        fclose(f);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", conf);
    if (system(cmd))
        perror("rm");
    if (plain_s > 0 && run_s > 0)
        add("trevisor run to the guest's /init (TCG)", run_s, "s",
            "plain QEMU, same kernel and initrd", plain_s, "report");
    if (!guest_val(keys, vals, n, "done")) {
        fprintf(stderr, "bench: the guest benchmark did not finish\n");
        return;
    }
    add("guest->TRE null RPC p50 (TCG guest, vsock)", guest_val(keys, vals, n, "guest_null_rpc_p50_us"),
        "us", "guest->host vsock echo p50, same back end",
        guest_val(keys, vals, n, "guest_vsock_echo_p50_us"), "<=1.5");
    add("guest->TRE null RPC p99 (TCG guest, vsock)", guest_val(keys, vals, n, "guest_null_rpc_p99_us"),
        "us", "guest->host vsock echo p99, same back end",
        guest_val(keys, vals, n, "guest_vsock_echo_p99_us"), "<=1.5");
    add("guest->TRE 64 KiB argument round trip", guest_val(keys, vals, n, "guest_64k_MBps"),
        "MB/s", "the same from the host through the engine API", host_64k_MBps, "report");
    double native = native_rate(16);
    add("ecdsa-sign from the guest through the TRE, 4 connections x 64/call",
        guest_val(keys, vals, n, "guest_sign_c4_b64_per_s"), "sig/s",
        "same code native on the host", native, ">=0.8");
    add("ecdsa-sign from the guest through the TRE, 1 connection x 64/call",
        guest_val(keys, vals, n, "guest_sign_c1_b64_per_s"), "sig/s",
        "same code native on the host", native, "report");
    add("ecdsa-sign native inside the TCG guest", guest_val(keys, vals, n,
        "guest_native_sign_per_s"), "sig/s", "same code native on the host", native, "report");
}

static void write_results(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    fprintf(f, "[\n");
    for (int i = 0; i < nfigs; i++) {
        struct fig *x = &figs[i];
        fprintf(f, "  {\"name\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", \"baseline_name\": "
                "\"%s\", \"baseline_value\": %.3f, \"ratio\": %.3f, \"goal\": \"%s\"}%s\n",
                x->name, x->value, x->unit, x->base_name, x->base, x->value / x->base, x->goal,
                i + 1 < nfigs ? "," : "");
    }
    fprintf(f, "]\n");
    fclose(f);
}

/* $TREVISOR_BENCH_ONLY: a comma-separated list of sections to run (null_rpc, hosted, exec,
 * ecdsa, memory, trust, sigaccel, guest), for a quick look at one; unset: all of them. */
static int want(const char *section)
{
    const char *only = getenv("TREVISOR_BENCH_ONLY");
    size_t n = strlen(section);
    if (!only || !*only)
        return 1;
    for (const char *p = only; (p = strstr(p, section)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "bench/results.json";
    if (getenv("TREVISOR_BUILD"))
        build = getenv("TREVISOR_BUILD");
    char err[256];
    if (kvm_sys_open(err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    tlog_set_quiet(1);
    /* the hosted figures use null_rpc's baselines, the guest's use hosted's */
    if (want("null_rpc") || want("hosted") || want("guest"))
        bench_null_rpc();
    if (want("hosted") || want("guest"))
        bench_hosted();
    if (want("exec"))
        bench_exec();
    if (want("ecdsa"))
        bench_ecdsa();
    if (want("memory"))
        bench_memory();
    if (want("trust"))
        bench_trust();
    if (want("sigaccel"))
        bench_sigaccel();
    if (want("guest"))
        bench_guest();
    printf("| figure | value | baseline | ratio | goal |\n|---|---|---|---|---|\n");
    for (int i = 0; i < nfigs; i++) {
        struct fig *x = &figs[i];
        printf("| %s | %.1f %s | %s: %.1f %s | %.2f | %s |\n", x->name, x->value, x->unit,
               x->base_name, x->base, x->unit, x->value / x->base, x->goal);
    }
    write_results(out);
    printf("\nwritten to %s (%s KVM)\n", out, kvm_sys_is_pvm() ? "PVM" : "hardware");
    return 0;
}
