/* tests/test_syscall_sites.c — the syscall finder: hand-made code (syscall at the start and
 * the end, 0f 05 inside immediates and displacements, prefixed syscalls, undecodable bytes
 * before a pair, data that decodes), a 10 MB input, and real static binaries built here
 * (gcc -static, gcc -static-pie, musl-gcc -static, glibc + OpenSSL) whose sites must be
 * exactly the `syscall` instructions objdump -d reports. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tre/elf.h"
#include "tre/syscall_sites.h"

#define VA 0x401000ull

static int find(const uint8_t *code, size_t len, uint64_t **sites, size_t *n, char *err)
{
    return tre_syscall_sites_find(code, len, VA, sites, n, err, 256);
}

static void test_sites_simple(void)
{
    static const uint8_t one[] = { 0x0f, 0x05 };
    /* syscall at the start and at the end, nops between */
    static const uint8_t ends[] = { 0x0f, 0x05, 0x90, 0x48, 0x89, 0xc7, 0x0f, 0x05 };
    static const uint8_t none[] = { 0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3 };
    uint64_t *s;
    size_t n;
    char err[256];

    CHECK_EQ(find(one, sizeof(one), &s, &n, err), 0);
    CHECK_EQ(n, 1);
    CHECK(s && s[0] == VA);
    free(s);
    CHECK_EQ(find(ends, sizeof(ends), &s, &n, err), 0);
    CHECK_EQ(n, 2);
    CHECK(s && s[0] == VA && s[1] == VA + 6);
    free(s);
    CHECK_EQ(find(none, sizeof(none), &s, &n, err), 0);
    CHECK_EQ(n, 0);
    CHECK(s == NULL);
    CHECK_EQ(find(none, 0, &s, &n, err), 0);
    CHECK_EQ(n, 0);
    CHECK(s == NULL);
}

static void test_sites_pairs_inside_instructions(void)
{
    static const uint8_t imm[] = { 0xb8, 0x0f, 0x05, 0x00, 0x00, 0xc3 };       /* mov $0x50f,%eax */
    static const uint8_t disp[] = { 0x8b, 0x80, 0x0f, 0x05, 0x00, 0x00, 0xc3 }; /* mov 0x50f(%rax) */
    static const uint8_t straddle[] = { 0xb0, 0x0f, 0x05, 0x01, 0x00, 0x00, 0x00 }; /* mov $0xf,%al; add $1,%eax */
    static const uint8_t mixed[] = { 0xb8, 0x0f, 0x05, 0x00, 0x00, 0x0f, 0x05, 0xc3 };
    struct tre_syscall_scan sc;
    uint64_t *s;
    size_t n;
    char err[256];

    CHECK_EQ(find(imm, sizeof(imm), &s, &n, err), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(find(disp, sizeof(disp), &s, &n, err), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(find(straddle, sizeof(straddle), &s, &n, err), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(tre_syscall_sites_scan(mixed, sizeof(mixed), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 1);
    CHECK(sc.sites && sc.sites[0] == VA + 5);
    CHECK_EQ(sc.pairs, 2);
    CHECK_EQ(sc.ndata, 0);
    tre_syscall_scan_free(&sc);
}

static int refuses_(const uint8_t *code, size_t len, const char *want, int line)
{
    uint64_t *s = (uint64_t *)1;
    size_t n = 99;
    char err[256];
    int rc = tre_syscall_sites_find(code, len, VA, &s, &n, err, sizeof(err));

    if (rc != -ENOEXEC || !strstr(err, want) || s != NULL || n != 0) {
        fprintf(stderr, "  line %d: rc %d, err \"%s\", wanted \"%s\"\n", line, rc, err, want);
        return 0;
    }
    return 1;
}
#define REFUSES(arr, want) CHECK(refuses_((arr), sizeof(arr), (want), __LINE__))

static void test_sites_prefixed(void)
{
    static const uint8_t p66[] = { 0x90, 0x66, 0x0f, 0x05 };
    static const uint8_t rexw[] = { 0x90, 0x48, 0x0f, 0x05 };
    static const uint8_t rep[] = { 0x90, 0xf3, 0x0f, 0x05 };
    static const uint8_t cs[] = { 0x90, 0x2e, 0x0f, 0x05 };
    static const uint8_t lock[] = { 0x90, 0xf0, 0x0f, 0x05 };
    static const uint8_t two[] = { 0x90, 0x66, 0x41, 0x0f, 0x05 };

    /* each is refused, either as prefixed or as ambiguous; the message gives an address */
    REFUSES(p66, "0x40100");
    REFUSES(rexw, "0x40100");
    REFUSES(rep, "0x40100");
    REFUSES(cs, "0x40100");
    REFUSES(lock, "0x40100");
    REFUSES(two, "0x40100");
    REFUSES(p66, "prefixed");
}

static void test_sites_undecodable(void)
{
    /* 06 (push %es) is invalid in 64-bit mode */
    static const uint8_t before[] = { 0x06, 0x0f, 0x05 };
    uint8_t near[2 + 15 + 2], far[2 + 16 + 2], farther[2 + 80 + 2];
    static const uint8_t tail[] = { 0x90, 0xb0, 0x0f, 0x05 }; /* 05 needs 4 more bytes */
    struct tre_syscall_scan sc;
    char err[256];

    REFUSES(before, "syscall at 0x401001 is 0 bytes after undecodable bytes");
    memset(near, 0x90, sizeof(near));
    near[0] = near[1] = 0x06;
    near[sizeof(near) - 2] = 0x0f;
    near[sizeof(near) - 1] = 0x05;
    REFUSES(near, "15 bytes after undecodable bytes");
    REFUSES(tail, "0f 05 at 0x401002 overlaps undecodable bytes");

    /* 16 bytes later it is not ambiguous any more, but it sits next to undecodable bytes:
     * data that happens to decode, left alone */
    memset(far, 0x90, sizeof(far));
    far[0] = far[1] = 0x06;
    far[sizeof(far) - 2] = 0x0f;
    far[sizeof(far) - 1] = 0x05;
    CHECK_EQ(tre_syscall_sites_scan(far, sizeof(far), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 0);
    CHECK_EQ(sc.ndata, 1);
    CHECK(sc.data && sc.data[0] == VA + sizeof(far) - 2);
    tre_syscall_scan_free(&sc);

    /* and far enough away it is plain code */
    memset(farther, 0x90, sizeof(farther));
    farther[0] = farther[1] = 0x06;
    farther[sizeof(farther) - 2] = 0x0f;
    farther[sizeof(farther) - 1] = 0x05;
    CHECK_EQ(tre_syscall_sites_scan(farther, sizeof(farther), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 1);
    CHECK_EQ(sc.ndata, 0);
    tre_syscall_scan_free(&sc);
}

static void test_sites_data_like(void)
{
    /* in $0x12,%al; nop...; syscall: no compiler emits port I/O in a user program */
    uint8_t io[40], after[40], go[12];
    struct tre_syscall_scan sc;
    char err[256];

    memset(io, 0x90, sizeof(io));
    io[0] = 0xe4;
    io[1] = 0x12;
    io[30] = 0x0f;
    io[31] = 0x05;
    CHECK_EQ(tre_syscall_sites_scan(io, sizeof(io), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 0);
    CHECK_EQ(sc.ndata, 1);
    CHECK_EQ(sc.pairs, 1);
    tre_syscall_scan_free(&sc);

    memset(after, 0x90, sizeof(after)); /* ... and after it (int1) */
    after[2] = 0x0f;
    after[3] = 0x05;
    after[20] = 0xf1;
    CHECK_EQ(tre_syscall_sites_scan(after, sizeof(after), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 0);
    CHECK_EQ(sc.ndata, 1);
    tre_syscall_scan_free(&sc);

    /* hlt after exit (musl) and int $3 (Go) are real code */
    memset(go, 0x90, sizeof(go));
    go[0] = 0x0f;
    go[1] = 0x05;
    go[2] = 0xf4;
    go[3] = 0xcd;
    go[4] = 0x03;
    go[5] = 0xcc;
    CHECK_EQ(tre_syscall_sites_scan(go, sizeof(go), VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 1);
    CHECK_EQ(sc.ndata, 0);
    tre_syscall_scan_free(&sc);
}

static void test_sites_bad_arguments(void)
{
    static const uint8_t one[] = { 0x0f, 0x05 };
    uint64_t *s;
    size_t n;
    char err[8];

    CHECK_EQ(tre_syscall_sites_find(one, sizeof(one), UINT64_MAX, &s, &n, err, sizeof(err)),
             -ENOEXEC);
    CHECK(memchr(err, 0, sizeof(err)) != NULL);
    CHECK_EQ(tre_syscall_sites_find(one, sizeof(one), UINT64_MAX - 1, &s, &n, NULL, 0), 0);
    CHECK_EQ(n, 1);
    free(s);
    CHECK_EQ(tre_syscall_sites_find(NULL, 2, VA, &s, &n, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tre_syscall_sites_find(one, 2, VA, NULL, &n, err, sizeof(err)), -EINVAL);
}

/* 10 MB: one linear pass, no quadratic behaviour (not timed: it just has to finish). */
static void test_sites_large(void)
{
    static const uint8_t pat[] = { 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05, 0xb8, 0x0f, 0x05, 0, 0,
                                   0x0f, 0x05, 0x48, 0x8b, 0x80, 0x0f, 0x05, 0, 0, 0xc3 };
    size_t len = 10u << 20, reps = len / sizeof(pat);
    struct tre_syscall_scan sc;
    char err[256];
    uint8_t *buf = malloc(len);

    CHECK(buf != NULL);
    if (!buf)
        return;
    for (size_t i = 0; i < reps; i++)
        memcpy(buf + i * sizeof(pat), pat, sizeof(pat));
    memset(buf + reps * sizeof(pat), 0x90, len - reps * sizeof(pat));
    CHECK_EQ(tre_syscall_sites_scan(buf, len, VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, 2 * reps);
    CHECK_EQ(sc.pairs, 4 * reps);
    CHECK(sc.nsites && sc.sites[1] == VA + 12);
    tre_syscall_scan_free(&sc);

    memset(buf, 0x0f, len); /* 0f 0f ... : 3DNow! prefix soup, no pairs */
    CHECK_EQ(tre_syscall_sites_scan(buf, len, VA, &sc, err, sizeof(err)), 0);
    tre_syscall_scan_free(&sc);
    for (size_t i = 0; i + 1 < len; i += 2) { /* all syscalls */
        buf[i] = 0x0f;
        buf[i + 1] = 0x05;
    }
    CHECK_EQ(tre_syscall_sites_scan(buf, len, VA, &sc, err, sizeof(err)), 0);
    CHECK_EQ(sc.nsites, len / 2);
    tre_syscall_scan_free(&sc);
    free(buf);
}

/* ---- real static binaries ---- */

static char real_dir[64];

static const char real_note_s[] =
    ".section .note.trevisor,\"a\",@note\n"
    ".balign 4\n"
    ".long 9, 2f - 1f, 0x4d52\n"
    ".asciz \"trevisor\"\n"
    ".balign 4\n"
    "1: .asciz \"name=sites-test\"\n"
    "2: .balign 4\n"
    ".section .note.GNU-stack,\"\",@progbits\n";

static const char real_hello_c[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <time.h>\n"
    "#include <unistd.h>\n"
    "int main(void) {\n"
    "    char *p = malloc(64);\n"
    "    snprintf(p, 64, \"%ld %d\", (long)time(NULL), (int)getpid());\n"
    "    write(1, p, 10); free(p); return 0;\n"
    "}\n";

static const char real_ssl_c[] =
    "#include <openssl/evp.h>\n"
    "#include <openssl/ssl.h>\n"
    "#include <stdio.h>\n"
    "int main(void) {\n"
    "    unsigned char md[32]; unsigned n;\n"
    "    EVP_Digest(\"a\", 1, md, &n, EVP_sha256(), NULL);\n"
    "    SSL_CTX *c = SSL_CTX_new(TLS_client_method());\n"
    "    printf(\"%02x %p\\n\", md[0], (void *)c);\n"
    "    return 0;\n"
    "}\n";

static int real_write(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", real_dir, name);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int real_setup(void)
{
    if (real_dir[0])
        return 0;
    strcpy(real_dir, "/tmp/test_sites.XXXXXX");
    if (!mkdtemp(real_dir)) {
        real_dir[0] = '\0';
        return -1;
    }
    if (real_write("note.S", real_note_s) || real_write("hello.c", real_hello_c) ||
        real_write("ssl.c", real_ssl_c))
        return -1;
    return 0;
}

static void real_cleanup(void)
{
    char cmd[128];

    if (!real_dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", real_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", real_dir);
}

static uint8_t *real_read(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    long n;
    FILE *f = fopen(path, "rb");

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
        goto out;
    buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The addresses of the `syscall` instructions objdump -d shows (it uses the symbols, so
 * it knows which bytes in .text are data). Sorted; count in *n; NULL on failure. */
static uint64_t *objdump_syscalls(const char *path, size_t *n)
{
    char cmd[256], line[512];
    uint64_t *a = NULL;
    size_t cap = 0;
    FILE *p;

    *n = 0;
    snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s' 2>/dev/null", path);
    p = popen(cmd, "r");
    if (!p)
        return NULL;
    while (fgets(line, sizeof(line), p)) {
        char *t = strstr(line, ":\tsyscall");
        unsigned long long addr;

        if (!t || strspn(t + 9, " \n") != strlen(t + 9) || sscanf(line, " %llx:", &addr) != 1)
            continue;
        if (*n == cap) {
            uint64_t *na = realloc(a, (cap = cap ? cap * 2 : 256) * sizeof(*a));

            if (!na)
                break;
            a = na;
        }
        a[(*n)++] = addr;
    }
    if (pclose(p) != 0) {
        free(a);
        return NULL;
    }
    if (!a)
        a = malloc(sizeof(*a));
    qsort(a, *n, sizeof(*a), cmp_u64);
    return a;
}

static void real_check(const char *cc, const char *flags, const char *src, const char *libs,
                       const char *out)
{
    char cmd[512], path[128], err[256];
    size_t len, nod, nsites = 0, ndata = 0, pairs = 0, nx = 0;
    uint64_t *od, all[4096];
    struct tre_elf e;
    uint8_t *img;

    if (system("command -v objdump >/dev/null 2>&1") != 0)
        SKIP("objdump is not installed");
    if (real_setup())
        SKIP("no temporary directory");
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s %s -O2 -o %s %s note.S %s >/dev/null 2>&1",
             real_dir, cc, flags, out, src, libs);
    if (system(cmd) != 0)
        SKIP("%s %s could not build %s here", cc, flags, src);
    snprintf(path, sizeof(path), "%s/%s", real_dir, out);
    img = real_read(path, &len);
    CHECK(img != NULL);
    if (!img)
        return;
    CHECK_EQ(tre_elf_parse(img, len, &e, err, sizeof(err)), 0);
    for (unsigned i = 0; i < e.nloads; i++) {
        const struct tre_elf_load *l = &e.loads[i];
        struct tre_syscall_scan sc;

        if (!(l->flags & 1 /* PF_X */))
            continue;
        nx++;
        CHECK_EQ(tre_syscall_sites_scan(img + l->offset, l->filesz, l->vaddr, &sc, err,
                                        sizeof(err)), 0);
        if (err[0])
            fprintf(stderr, "  %s: %s\n", out, err);
        for (size_t j = 0; j < sc.nsites; j++) {
            const uint8_t *b = img + l->offset + (sc.sites[j] - l->vaddr);

            CHECK(b[0] == 0x0f && b[1] == 0x05);
            CHECK(j == 0 || sc.sites[j] > sc.sites[j - 1]);
            if (nsites < sizeof(all) / sizeof(all[0]))
                all[nsites] = sc.sites[j];
            nsites++;
        }
        ndata += sc.ndata;
        pairs += sc.pairs;
        tre_syscall_scan_free(&sc);
    }
    CHECK(nx >= 1);
    od = objdump_syscalls(path, &nod);
    CHECK(od != NULL);
    if (od) {
        CHECK_EQ(nsites, nod);
        CHECK(nsites <= sizeof(all) / sizeof(all[0]));
        if (nsites == nod && nsites <= sizeof(all) / sizeof(all[0])) {
            qsort(all, nsites, sizeof(all[0]), cmp_u64);
            CHECK(memcmp(all, od, nsites * sizeof(all[0])) == 0);
        }
        free(od);
    }
    CHECK(nsites > 5);
    CHECK(pairs >= nsites + ndata); /* the other pairs are inside instructions: not sites */
    printf("# %s: %zu syscall sites (= objdump), %zu data-like, %zu 0f 05 pairs\n", out,
           nsites, ndata, pairs);
    free(img);
}

static void test_sites_real_gcc_static(void)
{
    real_check("gcc", "-static", "hello.c", "", "hello_static");
}

static void test_sites_real_gcc_static_pie(void)
{
    real_check("gcc", "-static-pie -fPIE", "hello.c", "", "hello_static_pie");
}

static void test_sites_real_musl_static(void)
{
    if (system("command -v musl-gcc >/dev/null 2>&1") != 0)
        SKIP("musl-gcc is not installed");
    real_check("musl-gcc", "-static", "hello.c", "", "hello_musl");
}

static void test_sites_real_glibc_openssl(void)
{
    real_check("gcc", "-static", "ssl.c", "-lssl -lcrypto -lpthread", "hello_openssl");
}

int main(void)
{
    TEST(test_sites_simple);
    TEST(test_sites_pairs_inside_instructions);
    TEST(test_sites_prefixed);
    TEST(test_sites_undecodable);
    TEST(test_sites_data_like);
    TEST(test_sites_bad_arguments);
    TEST(test_sites_large);
    TEST(test_sites_real_gcc_static);
    TEST(test_sites_real_gcc_static_pie);
    TEST(test_sites_real_musl_static);
    TEST(test_sites_real_glibc_openssl);
    real_cleanup();
    TEST_EXIT();
}
