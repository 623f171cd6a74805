/* tests/progs/serve_test.c — a native test of the real SDK runtime (libtre-sdk.a): maps the
 * message window at TRE_WINDOW_VA, leaves the doorbell page PROT_NONE, and plays trevisor
 * in a SIGSEGV handler (checks the doorbell store is one 8-byte movq of rax, then answers
 * it from a script). Covers the ready wait, a call, length write-back and clamping, and
 * every header check of the serve loop. Host-only; never part of a TRE image. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include "trevisor/tre.h"

TRE_MANIFEST("name=serve-test\0mem=4M\0window=64K");

#define WSIZE (64u << 10)
static volatile struct tre_window_hdr *const win = (void *)(uintptr_t)TRE_WINDOW_VA;
static int failures;
#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
                                  failures++; } } while (0)

/* The script: what each WAIT answers (after writing the window); logs are recorded. */
enum step_kind { STEP_CALL, STEP_RAW, STEP_END };
struct step { enum step_kind kind; long msgcode; void (*fill)(void); };
static const struct step *script;
static int pc;
static long waits[16], nwaits;         /* rdi of each WAIT */
static char logged[64];
static int handler_calls;

static size_t store_len(const uint8_t *ip) /* "REX.W 89 /r" with rax as the source */
{
    size_t n = 0;
    uint8_t rex = 0, modrm, mod, rm;

    if ((ip[0] & 0xf0) == 0x40)
        rex = ip[n++];
    if (!(rex & 0x08) || (rex & 0x04) || ip[n] != 0x89)
        return 0;
    modrm = ip[++n];
    n++;
    mod = modrm >> 6, rm = modrm & 7;
    if ((modrm >> 3 & 7) != 0 || mod == 3)
        return 0;
    if (rm == 4)
        n++; /* SIB */
    if (mod == 1)
        n += 1;
    else if (mod == 2 || (mod == 0 && rm == 5))
        n += 4;
    return n;
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    greg_t *r = ((ucontext_t *)ctx)->uc_mcontext.gregs;
    size_t len = store_len((const uint8_t *)r[REG_RIP]);

    (void)sig;
    if ((uintptr_t)si->si_addr != TRE_DOORBELL_VA || len == 0) {
        static const char m[] = "serve_test: not a doorbell store\n";
        fwrite(m, 1, sizeof(m) - 1, stdout);
        _exit(2);
    }
    r[REG_RIP] += (greg_t)len;
    switch (r[REG_RAX]) {
    case TRE_DB_LOG:
        snprintf(logged, sizeof(logged), "%.*s", (int)r[REG_RSI], (const char *)r[REG_RDI]);
        r[REG_RAX] = 0;
        return;
    case TRE_DB_WAIT:
        if (nwaits < 16)
            waits[nwaits++] = r[REG_RDI];
        if (script[pc].fill)
            script[pc].fill();
        r[REG_RAX] = script[pc].msgcode;
        if (script[pc].kind != STEP_END)
            pc++;
        return;
    default:
        _exit(3);
    }
}

static void hdr(uint32_t magic, int32_t code, int32_t proc, uint32_t bufcnt)
{
    memset((void *)win, 0, sizeof(struct tre_window_hdr));
    win->magic = magic;
    win->msgcode = code;
    win->proc_number = proc;
    win->bufcnt = bufcnt;
}

static void buf(unsigned i, uint32_t off, uint32_t len, uint32_t cap, uint32_t rw)
{
    win->bufs[i].offset = off;
    win->bufs[i].len = len;
    win->bufs[i].cap = cap;
    win->bufs[i].rw = rw;
}

/* proc 5: reverse arg 0 into result 0; proc 6: claim more than the capacity;
 * proc 7: write 3 bytes, then fail */
static int test_handler(int msgcode, int proc, struct msgbuf *b, int n)
{
    handler_calls++;
    if (msgcode != TRE_MSG_CALL)
        return -1000;
    if (proc == 5 && n == 2 && b[0].rw == 0 && b[1].rw == 1 && b[1].len == 16) {
        for (unsigned i = 0; i < b[0].len; i++)
            ((char *)b[1].base)[i] = ((char *)b[0].base)[b[0].len - 1 - i];
        b[1].len = b[0].len;
        return 77;
    }
    if (proc == 7 && n == 1) {
        b[0].len = 3;
        return -9;
    }
    if (proc == 6 && n == 1) {
        b[0].len = 1u << 30;
        return 66;
    }
    return -1001;
}

static void fill_call5(void)
{
    hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 5, 2);
    buf(0, 512, 4, 4, 0);
    buf(1, 1024, 0, 16, 1);
    memcpy((char *)win + 512, "abcd", 4);
}
static void fill_call6(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 6, 1); buf(0, 2048, 0, 8, 1); }
static void fill_call7(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 7, 1); buf(0, 2048, 0, 8, 1); }
static void bad_magic(void) { hdr(0x1234, TRE_MSG_CALL, 0, 0); }
static void bad_count(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, TRE_MAX_BUFS + 1); }
static void bad_extent(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, 1); buf(0, 512, 0, WSIZE, 1); }
static void bad_arglen(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, 1); buf(0, WSIZE - 4, 8, 0, 0); }
static void bad_inhdr(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, 1); buf(0, 16, 4, 4, 0); }
static void bad_order(void)
{
    hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, 2);
    buf(0, 512, 0, 4, 1);
    buf(1, 1024, 4, 4, 0);
}
static void bad_rw(void) { hdr(TRE_WINDOW_MAGIC, TRE_MSG_CALL, 0, 1); buf(0, 512, 4, 4, 2); }
static void bad_code(void) { hdr(TRE_WINDOW_MAGIC, 9, 0, 0); }

static int run(const struct step *s)
{
    script = s;
    pc = 0;
    nwaits = 0;
    handler_calls = 0;
    return tre_serve(test_handler);
}

int main(void)
{
    struct sigaction sa;
    void *w = mmap((void *)(uintptr_t)TRE_WINDOW_VA, WSIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    void *d = mmap((void *)(uintptr_t)TRE_DOORBELL_VA, 4096, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (w != (void *)(uintptr_t)TRE_WINDOW_VA || d != (void *)(uintptr_t)TRE_DOORBELL_VA) {
        printf("SKIP serve_test: the window or doorbell address is taken here\n");
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    CHECK(tre_window_size() == WSIZE);
    tre_log("hello", 5);
    CHECK(strcmp(logged, "hello") == 0);
    {   /* ready, a call, write-back, the reply carries the return value */
        const struct step s[] = { { STEP_CALL, TRE_MSG_CALL, fill_call5 },
                                  { STEP_CALL, TRE_MSG_CALL, fill_call6 },
                                  { STEP_END, -5, NULL } };
        CHECK(run(s) == -5);
        CHECK(nwaits == 3 && waits[0] == 0 && waits[1] == 77 && waits[2] == 66);
        CHECK(handler_calls == 2);
        CHECK(memcmp((char *)win + 1024, "dcba", 4) == 0);
        CHECK(win->bufs[0].len == 8); /* call 6: clamped to cap */
    }
    {
        const struct step s[] = { { STEP_CALL, TRE_MSG_CALL, fill_call5 },
                                  { STEP_END, -5, NULL } };
        CHECK(run(s) == -5 && win->bufs[1].len == 4 && win->bufs[0].len == 4);
    }
    {   /* a failed call returns no result bytes */
        const struct step s[] = { { STEP_CALL, TRE_MSG_CALL, fill_call7 },
                                  { STEP_END, -5, NULL } };
        CHECK(run(s) == -5 && waits[1] == -9 && win->bufs[0].len == 0);
    }
    {   /* an unknown message: -ENOSYS without the handler */
        const struct step s[] = { { STEP_RAW, 9, bad_code }, { STEP_END, -5, NULL } };
        CHECK(run(s) == -5 && handler_calls == 0 && waits[1] == -TRE_ENOSYS);
    }
    void (*bad[])(void) = { bad_magic, bad_count, bad_extent, bad_arglen, bad_inhdr,
                            bad_order, bad_rw };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct step s[] = { { STEP_CALL, TRE_MSG_CALL, bad[i] }, { STEP_END, -5, NULL } };
        int rc = run(s);

        if (rc != -TRE_EPROTO || handler_calls != 0)
            printf("  bad header %u: rc %d, %d handler calls\n", i, rc, handler_calls);
        CHECK(rc == -TRE_EPROTO && handler_calls == 0);
    }
    printf("%s serve_test\n", failures ? "FAIL" : "PASS");
    return failures != 0;
}
