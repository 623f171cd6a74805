/* tests/test_manifest.c — the manifest parser: defaults, every key, every limit and every
 * refusal (each message names the key), and the human-readable description. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tre/manifest.h"

/* Descriptors are written as C string literals with explicit \0 separators; M() passes the
 * literal without the compiler's final NUL, so each test says exactly where NULs are. */
#define M(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static int mf_refuses_(const uint8_t *d, size_t n, const char *want, int line)
{
    struct tre_manifest m;
    char err[256];
    int rc = tre_manifest_parse(d, n, &m, err, sizeof(err));

    if (rc != -EINVAL || strncmp(err, "manifest: ", 10) != 0 || !strstr(err, want)) {
        fprintf(stderr, "  line %d: rc %d, err \"%s\", wanted \"%s\"\n", line, rc, err, want);
        return 0;
    }
    return 1;
}
#define MF_REFUSES(lit, want) CHECK(mf_refuses_(M(lit), (want), __LINE__))

static int mf_ok_(const uint8_t *d, size_t n, struct tre_manifest *m, int line)
{
    char err[256];
    int rc = tre_manifest_parse(d, n, m, err, sizeof(err));

    if (rc != 0) {
        fprintf(stderr, "  line %d: rc %d, err \"%s\"\n", line, rc, err);
        return 0;
    }
    return 1;
}
#define MF_OK(lit, m) CHECK(mf_ok_(M(lit), (m), __LINE__))

static void test_manifest_defaults(void)
{
    struct tre_manifest m;

    MF_OK("name=a\0", &m);
    CHECK(strcmp(m.name, "a") == 0);
    CHECK_EQ(m.version, 0);
    CHECK_EQ(m.svn, 0);
    CHECK_EQ(m.mem_size, 4u << 20);
    CHECK_EQ(m.window_size, 64u << 10);
    CHECK_EQ(m.ncaps, 0);
}

static void test_manifest_all_keys(void)
{
    struct tre_manifest m;

    MF_OK("name=Sign_er-1.x\0version=4294967295\0svn=7\0mem=1024M\0window=65536K\0"
          "cap=token:key=sig\0cap=net:tcp:example.com:443\0cap=display\0", &m);
    CHECK(strcmp(m.name, "Sign_er-1.x") == 0);
    CHECK_EQ(m.version, 4294967295u);
    CHECK_EQ(m.svn, 7);
    CHECK_EQ(m.mem_size, 1024ull << 20);
    CHECK_EQ(m.window_size, 64ull << 20);
    CHECK_EQ(m.ncaps, 3);
    CHECK(strcmp(m.caps[0], "token:key=sig") == 0);
    CHECK(strcmp(m.caps[1], "net:tcp:example.com:443") == 0);
    CHECK(strcmp(m.caps[2], "display") == 0);

    /* any order; sizes in bytes; trailing zero padding */
    MF_OK("mem=1048576\0window=4096\0name=x\0\0\0\0", &m);
    CHECK_EQ(m.mem_size, 1u << 20);
    CHECK_EQ(m.window_size, 4096);
    MF_OK("name=x\0mem=1M\0window=512K\0", &m); /* window = mem/2 exactly */
    CHECK_EQ(m.window_size, 512u << 10);
    MF_OK("name=x\0svn=0\0version=0\0", &m);
    MF_OK("name=0123456789012345678901234567890\0", &m); /* 31 chars */
    CHECK_EQ(strlen(m.name), 31);
}

static void test_manifest_caps_limit(void)
{
    struct tre_manifest m;
    uint8_t buf[4096];
    size_t n = 0;
    char err[256];

    n += (size_t)sprintf((char *)buf + n, "name=caps") + 1;
    for (int i = 0; i < TRE_MANIFEST_MAX_CAPS; i++)
        n += (size_t)sprintf((char *)buf + n, "cap=c%d", i) + 1;
    CHECK_EQ(tre_manifest_parse(buf, n, &m, err, sizeof(err)), 0);
    CHECK_EQ(m.ncaps, TRE_MANIFEST_MAX_CAPS);
    CHECK(strcmp(m.caps[31], "c31") == 0);
    n += (size_t)sprintf((char *)buf + n, "cap=one-too-many") + 1;
    CHECK_EQ(tre_manifest_parse(buf, n, &m, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "more than 32 'cap'") != NULL);

    /* a capability of 127 characters, and of 128 */
    n = (size_t)sprintf((char *)buf, "name=x") + 1;
    memcpy(buf + n, "cap=", 4);
    memset(buf + n + 4, 'c', 127);
    buf[n + 4 + 127] = 0;
    CHECK_EQ(tre_manifest_parse(buf, n + 4 + 128, &m, err, sizeof(err)), 0);
    CHECK_EQ(strlen(m.caps[0]), 127);
    buf[n + 4 + 127] = 'c';
    buf[n + 4 + 128] = 0;
    CHECK_EQ(tre_manifest_parse(buf, n + 4 + 129, &m, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "'cap'") != NULL);
}

static void test_manifest_structure_refusals(void)
{
    MF_REFUSES("", "missing required key 'name'");
    MF_REFUSES("\0\0\0\0", "missing required key 'name'");
    MF_REFUSES("version=1\0", "missing required key 'name'");
    MF_REFUSES("name=x", "unterminated string (key 'name')");
    MF_REFUSES("name=x\0svn=1", "unterminated string (key 'svn')");
    MF_REFUSES("name=x\0\0svn=1\0", "empty entry");
    MF_REFUSES("\0name=x\0", "empty entry");
    MF_REFUSES("name=x\0\0\0\x01", "empty entry");
    MF_REFUSES("name=x\0junk\0", "entry 'junk' has no '='");
    MF_REFUSES("name=x\0color=red\0", "unknown key 'color'");
    MF_REFUSES("name=x\0Name=y\0", "unknown key 'Name'");
    MF_REFUSES("name=x\0=y\0", "unknown key ''");
    MF_REFUSES("name=x\0name =y\0", "unknown key 'name '");
    MF_REFUSES("name=x\0name=y\0", "duplicate key 'name'");
    MF_REFUSES("name=x\0version=1\0version=1\0", "duplicate key 'version'");
    MF_REFUSES("name=x\0svn=1\0svn=2\0", "duplicate key 'svn'");
    MF_REFUSES("name=x\0mem=4M\0mem=4M\0", "duplicate key 'mem'");
    MF_REFUSES("name=x\0window=4K\0window=4K\0", "duplicate key 'window'");
    MF_REFUSES("name=\0", "empty value for key 'name'");
    MF_REFUSES("name=x\0cap=\0", "empty value for key 'cap'");
    MF_REFUSES("name=x\0mem=\0", "empty value for key 'mem'");
    MF_REFUSES("name=x\0cap=a\tb\0", "non-printable byte 0x09 in the entry of key 'cap'");
    MF_REFUSES("name=x\x80y\0", "non-printable byte 0x80 in the entry of key 'name'");
    MF_REFUSES("name=x\0ca\x7fp=y\0", "key 'ca\\x7fp'");
    MF_REFUSES("name=x\0\x1b[31m=y\0", "key '\\x1b[31m'"); /* escapes, never raw bytes */
}

static void test_manifest_value_refusals(void)
{
    MF_REFUSES("name=a b\0", "key 'name'");
    MF_REFUSES("name=a/b\0", "key 'name'");
    MF_REFUSES("name=a:b\0", "key 'name'");
    MF_REFUSES("name=01234567890123456789012345678901\0", "key 'name'"); /* 32 chars */

    MF_REFUSES("name=x\0version=-1\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version=+1\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version=01\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version=1a\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version=0x10\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version= 1\0", "key 'version' is not a decimal number");
    MF_REFUSES("name=x\0version=4294967296\0", "key 'version' is out of range");
    MF_REFUSES("name=x\0svn=99999999999999999999999\0", "key 'svn' is out of range");

    MF_REFUSES("name=x\0mem=4G\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=4k\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=M\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=04M\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=-4M\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=4MM\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=4 M\0", "key 'mem' is not a size");
    MF_REFUSES("name=x\0mem=1023K\0", "key 'mem' is out of range");
    MF_REFUSES("name=x\0mem=1025M\0", "key 'mem' is out of range");
    MF_REFUSES("name=x\0mem=0\0", "key 'mem' is out of range");
    MF_REFUSES("name=x\0mem=18446744073709551615M\0", "key 'mem' is out of range");
    MF_REFUSES("name=x\0mem=99999999999999999999\0", "key 'mem' is out of range");
    MF_REFUSES("name=x\0mem=1048577\0", "key 'mem' (1048577) is not a multiple of 4K");
    MF_REFUSES("name=x\0mem=1025K\0", "key 'mem' (1049600) is not a multiple of 4K");

    MF_REFUSES("name=x\0window=3K\0", "key 'window' is out of range");
    MF_REFUSES("name=x\0mem=1024M\0window=65M\0", "key 'window' is out of range");
    MF_REFUSES("name=x\0window=4097\0", "key 'window' (4097) is not a multiple of 4K");
    MF_REFUSES("name=x\0window=4M\0", "key 'window' (4194304) is more than half of mem");
    MF_REFUSES("name=x\0mem=1M\0window=516K\0", "more than half of mem");

    MF_REFUSES("name=x\0cap=a b\0", "key 'cap'");
}

static void test_manifest_err_always_terminated(void)
{
    struct tre_manifest m;
    char err[6];

    memset(err, 'x', sizeof(err));
    CHECK_EQ(tre_manifest_parse(M("bogus=1\0"), &m, err, sizeof(err)), -EINVAL);
    CHECK(memchr(err, 0, sizeof(err)) != NULL);
    CHECK_EQ(tre_manifest_parse(M("bogus=1\0"), &m, NULL, 0), -EINVAL);
    CHECK_EQ(tre_manifest_parse(NULL, 3, &m, err, sizeof(err)), -EINVAL);
    CHECK_EQ(tre_manifest_parse(NULL, 0, &m, err, sizeof(err)), -EINVAL); /* no name */
}

/* Every strict prefix of a valid manifest that cuts a string is refused; no crash. */
static void test_manifest_prefixes(void)
{
    static const char d[] = "name=abc\0version=12\0mem=8M\0cap=x:y\0";
    struct tre_manifest m;
    char err[256];

    for (size_t n = 0; n < sizeof(d); n++) {
        int rc = tre_manifest_parse((const uint8_t *)d, n, &m, err, sizeof(err));

        if (n == 9 || n == 20 || n == 27 || n == 35)
            CHECK_EQ(rc, 0); /* ends right after a NUL */
        else
            CHECK_EQ(rc, -EINVAL);
    }
}

static void test_manifest_format(void)
{
    struct tre_manifest m;
    char out[2048], small[40];

    MF_OK("name=signer\0version=2\0svn=1\0mem=16M\0window=128K\0cap=token:sig\0"
          "cap=net:api.example.com:443\0", &m);
    CHECK_EQ(tre_manifest_format(&m, out, sizeof(out)), 0);
    CHECK(strstr(out, "name:     signer\n") != NULL);
    CHECK(strstr(out, "version:  2\n") != NULL);
    CHECK(strstr(out, "svn:      1\n") != NULL);
    CHECK(strstr(out, "memory:   16 MiB (16777216 bytes)\n") != NULL);
    CHECK(strstr(out, "window:   128 KiB (131072 bytes)\n") != NULL);
    CHECK(strstr(out, "cap:      token:sig\n") != NULL);
    CHECK(strstr(out, "cap:      net:api.example.com:443\n") != NULL);

    MF_OK("name=plain\0", &m);
    CHECK_EQ(tre_manifest_format(&m, out, sizeof(out)), 0);
    CHECK(strstr(out, "caps:     (none)\n") != NULL);
    CHECK(strstr(out, "memory:   4 MiB") != NULL);

    memset(small, 'x', sizeof(small));
    CHECK_EQ(tre_manifest_format(&m, small, sizeof(small)), -ENOSPC);
    CHECK(memchr(small, 0, sizeof(small)) != NULL);
    CHECK_EQ(tre_manifest_format(&m, small, 0), -ENOSPC);
}

int main(void)
{
    TEST(test_manifest_defaults);
    TEST(test_manifest_all_keys);
    TEST(test_manifest_caps_limit);
    TEST(test_manifest_structure_refusals);
    TEST(test_manifest_value_refusals);
    TEST(test_manifest_err_always_terminated);
    TEST(test_manifest_prefixes);
    TEST(test_manifest_format);
    TEST_EXIT();
}
