/* tests/test_isolation.c — memory isolation on KVM: a program that probes outside its own
 * memory dies; a secret held by one instance is never in another instance's memory nor in
 * memory given back to the host; and a hostile program that breaks the ABI gets a clear
 * diagnostic while every other instance goes on. */
#include <openssl/rand.h>

#include "fixture.h"
#include "trevisor/abi.h"
#include "tre/vmem.h"

static int host_global = 42;

static int probe(struct tre_engine *e, uint64_t addr, uint64_t *val)
{
    int d = fx_exec(e, "faults");
    if (d < 0)
        return d;
    uint8_t a[8], out[8] = { 0 };
    memcpy(a, &addr, 8);
    struct iovec args[1] = { { a, 8 } }, res[1] = { { out, 8 } };
    int r = tre_engine_rpc(e, d, 16, args, 1, res, 1);
    if (val)
        memcpy(val, out, 8);
    tre_engine_close(e, d);
    return r;
}

static void test_probes_outside_memory_die(void)
{
    NEED_KVM();
    fx_log_start();
    struct tre_engine *e = fx_engine(2000);
    if (!e)
        return;
    int local = 7;
    uint64_t outside[] = {
        0, 0x1000, 0xfff0,                      /* null page and below TRE_USER_MIN */
        0xffffffff80000000ull,                  /* ring-0 pages: GDT/IDT/TSS */
        0xffffffff80001000ull,                  /* ring-0 stubs */
        0xffffffff80002000ull,                  /* IST stack */
        0xffff800000000000ull,                  /* anywhere in the upper half */
        TRE_DOORBELL_VA + 0x1000,               /* past the doorbell */
        TRE_WINDOW_VA + (64u << 10),            /* past the 64 KiB window */
        TRE_ARENA_VA + (4u << 20),              /* past all of a 4 MiB program's heap */
        TRE_STACK_TOP,                          /* above the stack */
        (uint64_t)(uintptr_t)&host_global,      /* addresses of this host process */
        (uint64_t)(uintptr_t)&local,
        (uint64_t)(uintptr_t)e,
        0x100000000ull,                         /* = the doorbell's guest-physical address */
    };
    for (unsigned i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        int r = probe(e, outside[i], NULL);
        if (r != -EFAULT)
            fprintf(stderr, "  probe of 0x%llx returned %d\n", (unsigned long long)outside[i], r);
        CHECK_EQ(r, -EFAULT);
    }
    CHECK(fx_log_has("ended: page fault"));
    /* the probe itself works inside: the window starts with the header magic */
    uint64_t v = 0;
    CHECK_EQ(probe(e, TRE_WINDOW_VA, &v), 0);
    CHECK_EQ((uint32_t)v, TRE_WINDOW_MAGIC);
    tre_engine_free(e);
    tlog_set_sink(NULL, NULL);
}

static uint8_t wiped_canary[32];
static long wiped_hits = -1;

static void count_after_wipe(const void *host, size_t size)
{
    long n = 0;
    const uint8_t *p = host, *end = p + size;
    while ((size_t)(end - p) >= sizeof wiped_canary) {
        const uint8_t *hit = memmem(p, end - p, wiped_canary, sizeof wiped_canary);
        if (!hit)
            break;
        n++;
        p = hit + 1;
    }
    wiped_hits = n;
}

static void test_secret_stays_in_its_instance(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(0);
    if (!e)
        return;
    int a = fx_exec(e, "secret"), b = fx_exec(e, "secret"), c = fx_exec(e, "ecdsa-sign");
    CHECK(a >= 0 && b >= 0 && c >= 0);
    uint8_t canary[32], other[32];
    RAND_bytes(canary, sizeof canary);
    RAND_bytes(other, sizeof other);
    struct iovec ka[1] = { { canary, 32 } }, kb[1] = { { other, 32 } };
    CHECK_EQ(tre_engine_rpc(e, a, 0, ka, 1, NULL, 0), 0);
    CHECK_EQ(tre_engine_rpc(e, b, 0, kb, 1, NULL, 0), 0);
    CHECK_EQ(tre_engine_rpc(e, a, 1, NULL, 0, NULL, 0), 1);
    /* the scanner finds it where it is: static + heap + 32768 copies in the mmap + window */
    long in_a = tre_engine_debug_scan(e, a, canary, sizeof canary);
    CHECK(in_a >= 3 + 32768);
    CHECK_EQ(tre_engine_debug_scan(e, b, canary, sizeof canary), 0);
    CHECK_EQ(tre_engine_debug_scan(e, c, canary, sizeof canary), 0);
    CHECK_EQ(tre_engine_debug_scan(e, a, other, sizeof other), 0);
    CHECK(tre_engine_debug_scan(e, b, other, sizeof other) >= 3);

    /* closing A wipes every page it touched before the memory goes back to the host */
    memcpy(wiped_canary, canary, sizeof canary);
    vmem_wiped_hook = count_after_wipe;
    wiped_hits = -1;
    CHECK_EQ(tre_engine_close(e, a), 0);
    CHECK_EQ(wiped_hits, 0);
    vmem_wiped_hook = NULL;
    CHECK_EQ(tre_engine_rpc(e, b, 1, NULL, 0, NULL, 0), 1);
    tre_engine_free(e);
}

static void test_hostile_program(void)
{
    NEED_KVM();
    fx_log_start();
    struct tre_engine *e = fx_engine(2000);
    if (!e)
        return;
    int bystander = fx_exec(e, "add-glibc");
    CHECK(bystander >= 0);
    static const struct { int proc; int want; const char *log; } cases[] = {
        { 1, -EPROTO, "wrote 9 bytes into a 8-byte buffer" },
        { 2, -EPROTO, "doorbell write of 4 bytes" },
        { 3, -EPROTO, "at offset 0x8" },
        { 4, -EFAULT, "log buffer 0x1000" },
        { 5, -EFAULT, "not a rewritten syscall" },
        { 6, -ENOSYS, NULL },
        { 7, 0, "log limit of 256 lines per call reached" },
        { 8, -EFAULT, "write: bad pointer 0x10" },
        { 9, -EFAULT, "getrandom: bad pointer" },
        { 10, -EACCES, NULL },
        /* an unrewritten syscall hidden in an immediate: #UD on hardware KVM (SCE off);
         * under PVM the CPU jumps to LSTAR = 0, unmapped: a page fault */
        { 11, -EFAULT, "ended: " },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int d = fx_exec(e, "evil");
        CHECK(d >= 0);
        CHECK_EQ(tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0), 7);
        uint8_t out[8];
        struct iovec res[1] = { { out, sizeof out } };
        int r = tre_engine_rpc(e, d, cases[i].proc, NULL, 0, res, 1);
        if (r != cases[i].want)
            fprintf(stderr, "  evil proc %d: %d, want %d\n", cases[i].proc, r, cases[i].want);
        CHECK_EQ(r, cases[i].want);
        if (cases[i].log && !fx_log_has(cases[i].log))
            fprintf(stderr, "  evil proc %d: no '%s' in:\n%s", cases[i].proc, cases[i].log,
                    fx_log_buf);
        CHECK(!cases[i].log || fx_log_has(cases[i].log));
        /* ended ones refuse further calls; survivors answer */
        int alive = tre_engine_rpc(e, d, 0, NULL, 0, NULL, 0);
        CHECK_EQ(alive, cases[i].want == -EPROTO || cases[i].want == -EFAULT ? -ESRCH : 7);
        tre_engine_close(e, d);
        int sum = 0;
        CHECK_EQ(fx_add(e, bystander, 20, 22, &sum), 0);
        CHECK_EQ(sum, 42);
        fx_log_buf[0] = 0;
    }
    tre_engine_free(e);
    tlog_set_sink(NULL, NULL);
}

int main(void)
{
    TEST(test_probes_outside_memory_die);
    TEST(test_secret_stays_in_its_instance);
    TEST(test_hostile_program);
    TEST_EXIT();
}
