/* tests/test_engine.c — the engine on KVM: exec, rpc and close for every kind of program
 * (glibc, musl, static-pie, freestanding, OpenSSL), refused images, each kind of fault,
 * the CPU budget, bad calls, concurrent instances, and the same with the registers moved
 * by ioctl instead of the kvm_run page. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "trevisor/abi.h"

static void test_add_every_libc(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    CHECK(e);
    if (!e)
        return;
    const char *progs[] = { "add-glibc", "add-musl", "add-free", "add-pie" };
    for (unsigned i = 0; i < 4; i++) {
        int d = fx_exec(e, progs[i]);
        CHECK(d >= 0);
        if (d < 0)
            continue;
        int sum = 0;
        CHECK_EQ(fx_add(e, d, 40, 2, &sum), 0);
        CHECK_EQ(sum, 42);
        /* state persists across calls and wrapping arithmetic */
        CHECK_EQ(fx_add(e, d, 0x7fffffff, 1, &sum), 0);
        CHECK_EQ(sum, (int)0x80000000u);
        /* wrong shape: the program's own -EINVAL comes back */
        struct iovec one[1] = { { &sum, 4 } };
        CHECK_EQ(tre_engine_rpc(e, d, 0, one, 1, NULL, 0), -EINVAL);
        CHECK_EQ(tre_engine_close(e, d), 0);
        CHECK_EQ(fx_add(e, d, 1, 2, &sum), -EBADF);   /* stale */
        CHECK_EQ(tre_engine_close(e, d), -EBADF);
    }
    tre_engine_free(e);
}

static void test_stale_descriptor_not_aliased(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    int d1 = fx_exec(e, "add-free");
    CHECK(d1 >= 0);
    CHECK_EQ(tre_engine_close(e, d1), 0);
    int d2 = fx_exec(e, "add-free");   /* reuses the slot with a new generation */
    CHECK(d2 >= 0);
    CHECK(d2 != d1);
    int sum;
    CHECK_EQ(fx_add(e, d1, 1, 1, &sum), -EBADF);
    CHECK_EQ(fx_add(e, d2, 1, 1, &sum), 0);
    CHECK_EQ(fx_add(e, -1, 1, 1, &sum), -EBADF);
    CHECK_EQ(fx_add(e, 0x7fffffff, 1, 1, &sum), -EBADF);
    CHECK_EQ(fx_add(e, d2 + 1, 1, 1, &sum), -EBADF);
    tre_engine_free(e);
}

static void test_refused_images(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    struct fx_image im;
    CHECK(fx_load("add-free", &im) == 0);
    char err[256];
    /* altered image */
    im.img[im.img_len / 2] ^= 1;
    CHECK_EQ(tre_engine_exec(e, im.img, im.img_len, im.sig, im.sig_len, NULL, err, sizeof err),
             -EBADMSG);
    im.img[im.img_len / 2] ^= 1;
    /* truncated image */
    CHECK_EQ(tre_engine_exec(e, im.img, im.img_len - 1, im.sig, im.sig_len, NULL, err,
                             sizeof err), -EBADMSG);
    /* truncated signature */
    CHECK(tre_engine_exec(e, im.img, im.img_len, im.sig, im.sig_len / 2, NULL, err,
                          sizeof err) < 0);
    CHECK(strlen(err) > 0);
    /* no key: a fresh engine trusts nobody */
    struct tre_engine *e2 = NULL;
    CHECK_EQ(tre_engine_new(NULL, &e2, err, sizeof err), 0);
    CHECK_EQ(tre_engine_exec(e2, im.img, im.img_len, im.sig, im.sig_len, NULL, err, sizeof err),
             -ENOKEY);
    CHECK(strstr(err, "unknown vendor key") != NULL);
    tre_engine_free(e2);
    /* the good one still runs */
    int d = tre_engine_exec(e, im.img, im.img_len, im.sig, im.sig_len, NULL, err, sizeof err);
    CHECK(d >= 0);
    fx_free(&im);
    tre_engine_free(e);
}

/* Signed but broken images: their signature is good, so the ELF/manifest checks refuse. */
static void test_refused_signed_bad_images(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    const char *bad[] = { "bad-manifest", "bad-nomanifest", "bad-dynamic" };
    const char *why[] = { "manifest", "manifest", "PT_INTERP" };
    for (unsigned i = 0; i < 3; i++) {
        struct fx_image im;
        if (fx_load(bad[i], &im)) {
            CHECK(!"signed bad image missing");
            continue;
        }
        char err[256] = "";
        CHECK_EQ(tre_engine_exec(e, im.img, im.img_len, im.sig, im.sig_len, NULL, err,
                                 sizeof err), -ENOEXEC);
        if (!strstr(err, why[i]))
            fprintf(stderr, "  %s: unexpected reason: %s\n", bad[i], err);
        CHECK(strstr(err, why[i]) != NULL);
        fx_free(&im);
    }
    tre_engine_free(e);
}

static void test_faults_end_only_their_instance(void)
{
    NEED_KVM();
    fx_log_start();
    struct tre_engine *e = fx_engine(2000);
    if (!e)
        return;
    int other = fx_exec(e, "add-glibc");
    CHECK(other >= 0);
    static const struct { int proc; const char *log; } cases[] = {
        { 1, "page fault (read, not present) at rip=" },
        { 2, "page fault (write, protection)" },
        { 3, "page fault (execute" },
        { 4, "general protection fault" },
        { 5, "invalid opcode" },
        { 6, "divide error" },
        { 7, "ended: " },   /* int3 through a DPL-0 gate: #GP, or #BP under PVM */
        { 8, "general protection fault" },   /* cli */
        { 9, "(stack overflow into the guard page)" },
        { 10, "read from the doorbell page" },
        { 11, "ended: " },  /* int $0x80 past the IDT limit: #GP, or #UD under PVM */
        { 12, "general protection fault" },  /* out to a stub's port from CPL3 */
        { 13, "page fault (write, protection)" },
        { 14, "page fault (execute" },
        { 17, "general protection fault" },  /* hlt */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int d = fx_exec(e, "faults");
        CHECK(d >= 0);
        if (d < 0)
            continue;
        CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), 7);
        int r = tre_engine_rpc(e, d, cases[i].proc, NULL, 0, NULL, 0);
        if (r != -EFAULT)
            fprintf(stderr, "  faults proc %d returned %d\n", cases[i].proc, r);
        CHECK_EQ(r, -EFAULT);
        if (!fx_log_has(cases[i].log))
            fprintf(stderr, "  proc %d: log lacks '%s':\n%s", cases[i].proc, cases[i].log,
                    fx_log_buf);
        CHECK(fx_log_has(cases[i].log));
        CHECK(fx_log_has("faults#"));
        CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), -ESRCH);
        CHECK_EQ(tre_engine_close(e, d), 0);
        int sum = 0;
        CHECK_EQ(fx_add(e, other, i, 1, &sum), 0);
        CHECK_EQ(sum, (int)i + 1);
        fx_log_buf[0] = 0;
    }
    tre_engine_free(e);
    tlog_set_sink(NULL, NULL);
}

static void test_cpu_budget(void)
{
    NEED_KVM();
    fx_log_start();
    struct tre_engine *e = fx_engine(300);
    if (!e)
        return;
    int d = fx_exec(e, "spin"), other = fx_exec(e, "spin");
    CHECK(d >= 0 && other >= 0);
    CHECK_EQ(tre_engine_rpc(e, d, 1, NULL, 0, NULL, 0), 42);
    CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), -ETIMEDOUT);
    CHECK(fx_log_has("CPU budget of 300 ms exhausted"));
    CHECK_EQ(tre_engine_rpc(e, d, 1, NULL, 0, NULL, 0), -ESRCH);
    CHECK_EQ(tre_engine_rpc(e, other, 1, NULL, 0, NULL, 0), 42);
    tre_engine_free(e);
    tlog_set_sink(NULL, NULL);
}

static void test_exit_and_bad_calls(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    int d = fx_exec(e, "exit");
    CHECK(d >= 0);
    CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), -ESRCH);
    CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), -ESRCH);
    CHECK_EQ(tre_engine_close(e, d), 0);

    d = fx_exec(e, "nullrpc");
    CHECK(d >= 0);
    static char big[8u << 20];
    struct iovec many[TRE_MAX_BUFS + 1];
    for (int i = 0; i < TRE_MAX_BUFS + 1; i++)
        many[i] = (struct iovec){ big, 1 };
    CHECK_EQ(tre_engine_rpc(e, d, 0, many, TRE_MAX_BUFS + 1, NULL, 0), -E2BIG);
    CHECK_EQ(tre_engine_rpc(e, d, 0, many, 8, many, 9), -E2BIG);
    struct iovec huge[1] = { { big, sizeof big } };
    CHECK_EQ(tre_engine_rpc(e, d, 1, huge, 1, NULL, 0), -E2BIG);
    struct iovec nul[1] = { { NULL, 10 } };
    CHECK_EQ(tre_engine_rpc(e, d, 1, nul, 1, NULL, 0), -EINVAL);
    CHECK_EQ(tre_engine_rpc(e, d, 1, NULL, 1, NULL, 0), -EINVAL);
    CHECK_EQ(tre_engine_rpc(e, d, 1, NULL, -1, NULL, 0), -EINVAL);
    /* still alive, and copies 1 MiB both ways */
    CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), 0);
    static char in[1 << 20], out[1 << 20];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)(i * 7 + 3);
    struct iovec a[1] = { { in, sizeof in } }, r[1] = { { out, sizeof out } };
    CHECK_EQ(tre_engine_rpc(e, d, 1, a, 1, r, 1), 0);
    CHECK_EQ(r[0].iov_len, sizeof in);
    CHECK(memcmp(in, out, sizeof in) == 0);
    tre_engine_free(e);
}

static void test_libc_syscalls(void)
{
    NEED_KVM();
    fx_log_start();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    const char *progs[] = { "syscalls-glibc", "syscalls-musl" };
    for (int i = 0; i < 2; i++) {
        int d = fx_exec(e, progs[i]);
        CHECK(d >= 0);
        char report[512] = "";
        struct iovec r[1] = { { report, sizeof report - 1 } };
        int rc = tre_engine_rpc(e, d, 0, NULL, 0, r, 1);
        if (rc != 0)
            fprintf(stderr, "  %s: check %d failed: %.*s\n", progs[i], rc, (int)r[0].iov_len,
                    report);
        CHECK_EQ(rc, 0);
        int nr = 41; /* socket(2): not in the subset */
        struct iovec a[1] = { { &nr, 4 } };
        CHECK_EQ(tre_engine_rpc(e, d, 1, a, 1, NULL, 0), -ENOSYS);
        CHECK(fx_log_has("is not supported (-ENOSYS)"));
    }
    tre_engine_free(e);
    tlog_set_sink(NULL, NULL);
}

static void test_ecdsa_sign_verifies(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    int d = fx_exec(e, "ecdsa-sign");
    CHECK(d >= 0);
    if (d < 0) {
        tre_engine_free(e);
        return;
    }
    uint8_t der[256];
    struct iovec pk[1] = { { der, sizeof der } };
    int n = tre_engine_rpc(e, d, 0, NULL, 0, pk, 1);
    CHECK(n > 0);
    const uint8_t *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)pk[0].iov_len);
    CHECK(key != NULL);
    uint8_t dig[4 * 32], out[4 * 80];
    for (int i = 0; i < 4; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "message %d", i);
        SHA256((uint8_t *)msg, strlen(msg), dig + 32 * i);
    }
    struct iovec a[1] = { { dig, sizeof dig } }, r[1] = { { out, sizeof out } };
    CHECK_EQ(tre_engine_rpc(e, d, 1, a, 1, r, 1), 4);
    size_t off = 0;
    for (int i = 0; i < 4 && key; i++) {
        CHECK(off + 2 <= r[0].iov_len);
        unsigned len = out[off] | out[off + 1] << 8;
        CHECK(off + 2 + len <= r[0].iov_len);
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        CHECK(c && EVP_PKEY_verify_init(c) == 1);
        CHECK_EQ(EVP_PKEY_verify(c, out + off + 2, len, dig + 32 * i, 32), 1);
        /* and not for another digest */
        CHECK(EVP_PKEY_verify(c, out + off + 2, len, dig + 32 * ((i + 1) % 4), 32) != 1);
        EVP_PKEY_CTX_free(c);
        off += 2 + len;
    }
    EVP_PKEY_free(key);
    tre_engine_free(e);
}

struct conc_arg {
    struct tre_engine *e;
    int desc, base, fails;
};

static void *conc_worker(void *p)
{
    struct conc_arg *a = p;
    for (int i = 0; i < 150; i++) {
        int sum = 0;
        if (fx_add(a->e, a->desc, a->base, i, &sum) != 0 || sum != a->base + i)
            a->fails++;
    }
    return NULL;
}

static void test_concurrent_instances(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    enum { N = 6 };
    pthread_t th[N];
    struct conc_arg args[N];
    int shared = fx_exec(e, "add-musl");
    CHECK(shared >= 0);
    for (int i = 0; i < N; i++) {
        /* four threads with their own instance, two sharing one */
        args[i] = (struct conc_arg){ e, i < 4 ? fx_exec(e, "add-glibc") : shared, i * 1000, 0 };
        CHECK(args[i].desc >= 0);
    }
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, conc_worker, &args[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].fails, 0);
    }
    tre_engine_free(e);
}

/* Registers travel in the kvm_run page when KVM has KVM_CAP_SYNC_REGS (as here and on
 * hardware KVM), else by KVM_GET/SET_REGS: the ioctl path runs the cases that move
 * registers most — syscalls, faults, the budget's -EINTR, plain calls — once more. */
static void test_registers_by_ioctl(void)
{
    NEED_KVM();
    struct kvm_vm vm;
    setenv("TREVISOR_NO_SYNC_REGS", "1", 1);
    CHECK_EQ(kvm_vm_create(&vm), 0);
    CHECK_EQ(kvm_vcpu_create(&vm), 0);
    CHECK_EQ(vm.sync_regs, 0);
    CHECK_EQ(vm.run->kvm_valid_regs, 0);
    kvm_vm_destroy(&vm);
    test_add_every_libc();
    test_libc_syscalls();
    test_faults_end_only_their_instance();
    test_cpu_budget();
    unsetenv("TREVISOR_NO_SYNC_REGS");
    CHECK_EQ(kvm_vm_create(&vm), 0);
    CHECK_EQ(kvm_vcpu_create(&vm), 0);
    if (vm.sync_regs)
        CHECK_EQ(vm.run->kvm_valid_regs, KVM_SYNC_X86_REGS);
    else
        printf("  (this KVM has no KVM_CAP_SYNC_REGS: every case used the ioctls)\n");
    kvm_vm_destroy(&vm);
}

int main(void)
{
    TEST(test_add_every_libc);
    TEST(test_stale_descriptor_not_aliased);
    TEST(test_refused_images);
    TEST(test_refused_signed_bad_images);
    TEST(test_faults_end_only_their_instance);
    TEST(test_cpu_budget);
    TEST(test_exit_and_bad_calls);
    TEST(test_libc_syscalls);
    TEST(test_ecdsa_sign_verifies);
    TEST(test_concurrent_instances);
    TEST(test_registers_by_ioctl);
    TEST_EXIT();
}
