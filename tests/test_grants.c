/* tests/test_grants.c — the token policy parser (services/grants.c): what it accepts
 * (comments, blank lines, CRLF, either case, minisign's short key ids), what it refuses
 * with "grants: line N: reason", its limits, grants_load on a missing, valid, oversized
 * and broken file, and grants_allow's answers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "services/grants.h"
#include "tre/minisign.h"

static int parse(const char *text, struct grants **g, char *err, size_t errlen)
{
    return grants_parse(text, strlen(text), g, err, errlen);
}

static void keyid(const char *hex, uint8_t out[8])
{
    if (tre_keyid_parse_hex(hex, out) != 0)
        memset(out, 0xee, 8);
}

static void test_accepts(void)
{
    static const char text[] =
        "# token policy\n"
        "\n"
        "grant 0123456789ABCDEF sig\n"
        "   grant\t0123456789abcdef   rsa   # trailing comment\n"
        "grant 941D0F15C208373 ed\r\n"        /* minisign 0.11 drops the leading zero */
        "grant FEDCBA9876543210 a.b_c-D9\n"
        "\t# indented comment\n"
        "   \n"
        "grant FEDCBA9876543210 sig";           /* no final newline */
    struct grants *g = NULL;
    uint8_t a[8], b[8], c[8], d[8];
    char err[256];

    CHECK_EQ(parse(text, &g, err, sizeof err), 0);
    CHECK(g != NULL);
    CHECK_EQ(grants_count(g), 5);
    keyid("0123456789ABCDEF", a);
    keyid("0941d0f15c208373", b);
    keyid("FEDCBA9876543210", c);
    keyid("1111111111111111", d);
    CHECK(grants_allow(g, a, "sig"));
    CHECK(grants_allow(g, a, "rsa"));
    CHECK(!grants_allow(g, a, "ed"));
    CHECK(grants_allow(g, b, "ed"));
    CHECK(grants_allow(g, c, "a.b_c-D9"));
    CHECK(grants_allow(g, c, "sig"));
    CHECK(!grants_allow(g, c, "rsa"));
    CHECK(!grants_allow(g, d, "sig"));
    CHECK(!grants_allow(g, a, "SIG"));      /* labels are case-sensitive */
    CHECK(!grants_allow(g, a, ""));
    CHECK(!grants_allow(g, a, NULL));
    CHECK(!grants_allow(NULL, a, "sig"));
    grants_free(g);
}

static void test_empty(void)
{
    struct grants *g = NULL;
    uint8_t a[8] = { 0 };
    char err[256];

    CHECK_EQ(grants_parse("", 0, &g, err, sizeof err), 0);
    CHECK(g != NULL && grants_count(g) == 0 && !grants_allow(g, a, "sig"));
    grants_free(g);
    CHECK_EQ(grants_parse(NULL, 0, &g, err, sizeof err), 0);
    CHECK(g != NULL && grants_count(g) == 0);
    grants_free(g);
    CHECK_EQ(parse("# nothing\n\n\r\n", &g, err, sizeof err), 0);
    CHECK(g != NULL && grants_count(g) == 0);
    grants_free(g);
    grants_free(NULL);
    CHECK_EQ(grants_count(NULL), 0);
}

struct bad {
    const char *text;
    size_t len;          /* 0: strlen */
    const char *msg;     /* expected in err */
};

static void test_rejects(void)
{
    static const struct bad bad[] = {
        { "grant 0123456789ABCDEF\n", 0, "line 1: missing field" },
        { "grant\n", 0, "line 1: missing field" },
        { "\n\ngrant 0123456789ABCDEF sig extra\n", 0, "line 3: too many fields" },
        { "allow 0123456789ABCDEF sig\n", 0, "line 1: unknown keyword" },
        { "GRANT 0123456789ABCDEF sig\n", 0, "line 1: unknown keyword" },
        { "grants 0123456789ABCDEF sig\n", 0, "line 1: unknown keyword" },
        { "grant 0123456789ABCDEF0 sig\n", 0, "line 1: KEYID" },       /* 17 digits */
        { "grant 0123456789ABCDEG sig\n", 0, "line 1: KEYID" },
        { "grant 0x23456789ABCDEF sig\n", 0, "line 1: KEYID" },
        { "grant -123456789ABCDEF sig\n", 0, "line 1: KEYID" },
        { "grant 0123456789ABCDEF s/g\n", 0, "line 1: LABEL" },
        { "grant 0123456789ABCDEF s\xc3\xa9g\n", 0, "line 1: LABEL" },
        { "grant 0123456789ABCDEF "
          "a234567890123456789012345678901234567890123456789012345678901234X\n", 0,
          "line 1: LABEL" },                                              /* 65 chars */
        { "grant 0123456789ABCDEF sig#x\n", 0, "line 1: '#' inside a field" },
        { "grant 0123456789ABCDEF sig\rx\n", 0, "line 1: CR not at the end" },
        { "grant 0123456789ABCDEF sig\r\r\n", 0, "line 1: CR not at the end" },
        { "# ok\ngrant 0123456789ABCDEF\x01sig\n", 0, "line 2: control character" },
        { "grant 0123456789ABCDEF sig\x7f\n", 0, "line 1: control character" },
        { "grant 0123456789ABCDEF sig\0\n", 27, "line 1: NUL byte" },
        { "# a\0b\n", 6, "line 1: NUL byte" },
        { "grant 0123456789ABCDEF sig\ngrant 0123456789abcdef sig\n", 0,
          "line 2: the same grant as line 1" },
        { "grant 123 sig\n# x\ngrant 0000000000000123 sig\n", 0,
          "line 3: the same grant as line 1" },
        { "\xef\xbb\xbfgrant 0123456789ABCDEF sig\n", 0, "line 1: unknown keyword" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct grants *g = (struct grants *)1;
        char err[256] = "";
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
        int rc = grants_parse(bad[i].text, len, &g, err, sizeof err);

        if (rc != -EINVAL || g != NULL || strncmp(err, "grants: ", 8) != 0 ||
            strstr(err, bad[i].msg) == NULL) {
            fprintf(stderr, "  case %zu: rc %d, err \"%s\", expected \"%s\"\n", i, rc, err,
                    bad[i].msg);
            check_failed_++;
        }
    }
}

static void test_limits(void)
{
    size_t cap = (GRANTS_MAX + 2) * 40, n = 0;
    char *text = malloc(cap), err[256];
    struct grants *g = NULL;
    uint8_t id[8];

    CHECK(text != NULL);
    if (text == NULL)
        return;
    for (unsigned i = 0; i < GRANTS_MAX; i++)
        n += (size_t)snprintf(text + n, cap - n, "grant %016X k%u\n", i, i);
    CHECK_EQ(grants_parse(text, n, &g, err, sizeof err), 0);
    CHECK_EQ(grants_count(g), GRANTS_MAX);
    keyid("0000000000000FFF", id);
    CHECK(grants_allow(g, id, "k4095"));
    CHECK(!grants_allow(g, id, "k4094"));
    grants_free(g);
    g = NULL;
    n += (size_t)snprintf(text + n, cap - n, "grant %016X k%u\n", GRANTS_MAX, GRANTS_MAX);
    CHECK_EQ(grants_parse(text, n, &g, err, sizeof err), -EINVAL);
    CHECK(g == NULL && strstr(err, "line 4097: more than 4096 grants") != NULL);
    free(text);
    /* a 64-character label is the longest */
    CHECK_EQ(parse("grant 1 a234567890123456789012345678901234567890123456789012345678901234\n",
                   &g, err, sizeof err), 0);
    keyid("1", id);
    CHECK(grants_allow(g, id, "a234567890123456789012345678901234567890123456789012345678901234"));
    grants_free(g);
    /* a tiny error buffer is still NUL-terminated */
    {
        char small[8];
        CHECK_EQ(parse("bogus\n", &g, small, sizeof small), -EINVAL);
        CHECK(memchr(small, '\0', sizeof small) != NULL);
        CHECK_EQ(parse("bogus\n", &g, NULL, 0), -EINVAL);
    }
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(text, 1, len, f), len);
        fclose(f);
    }
}

static void test_load(void)
{
    char dir[] = "/tmp/trevisor-grants-XXXXXX", path[256], err[512], *big;
    struct grants *g = NULL;
    uint8_t id[8];

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/token-grants", dir);
    /* missing: an empty policy */
    CHECK_EQ(grants_load(dir, &g, err, sizeof err), 0);
    CHECK(g != NULL && grants_count(g) == 0);
    grants_free(g);
    g = NULL;
    write_file(path, "grant ABCDEF0123456789 sig\n", 27);
    CHECK_EQ(grants_load(dir, &g, err, sizeof err), 0);
    keyid("ABCDEF0123456789", id);
    CHECK(g != NULL && grants_count(g) == 1 && grants_allow(g, id, "sig"));
    grants_free(g);
    g = NULL;
    write_file(path, "# x\nnope\n", 9);
    CHECK_EQ(grants_load(dir, &g, err, sizeof err), -EINVAL);
    CHECK(g == NULL && strstr(err, path) != NULL && strstr(err, "line 2") != NULL);
    /* larger than 1 MiB */
    big = malloc(1024 * 1024 + 1);
    if (big) {
        memset(big, '#', 1024 * 1024 + 1);
        write_file(path, big, 1024 * 1024 + 1);
        CHECK_EQ(grants_load(dir, &g, err, sizeof err), -EFBIG);
        CHECK(g == NULL && strstr(err, "1 MiB") != NULL);
        free(big);
    }
    unlink(path);
    /* not a regular file */
    CHECK_EQ(mkdir(path, 0700), 0);
    CHECK_EQ(grants_load(dir, &g, err, sizeof err), -EINVAL);
    CHECK(g == NULL);
    rmdir(path);
    rmdir(dir);
    CHECK_EQ(grants_load(NULL, &g, err, sizeof err), -EINVAL);
}

int main(void)
{
    TEST(test_accepts);
    TEST(test_empty);
    TEST(test_rejects);
    TEST(test_limits);
    TEST(test_load);
    TEST_EXIT();
}
