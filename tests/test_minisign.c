/* tests/test_minisign.c — image signatures in minisign's format: the parsers on good and
 * every class of malformed input, verification (both algorithms, altered message and
 * comment, wrong key), secret keys (plain, encrypted, wrong password), the trust store,
 * and interoperation with the real `minisign` tool when it is installed. */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tre/minisign.h"
#include "tre/truststore.h"

/* ---- vectors made with minisign 0.11 (minisign -G -W; -S; -S -l) ---- */

static const char vec_msg[] = "trevisor test image\n";
static const char vec_pub[] =
    "untrusted comment: minisign public key 941D0F15C208373\n"
    "RWRzgyBc8dBBCQ/WG2IP8FIt3bwYM9lhZYBpmWe5f2KGUYpu5tSNZB7N\n";
static const char vec_pub_line[] = "RWRzgyBc8dBBCQ/WG2IP8FIt3bwYM9lhZYBpmWe5f2KGUYpu5tSNZB7N";
static const char vec_key[] =   /* unencrypted, as minisign -W writes it: zero checksum */
    "untrusted comment: minisign encrypted secret key\n"
    "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAc4MgXPHQQQkSoyzm"
    "/l42WFFHiTxCNKF2fcWLDbfJYEA+kZU4aWjSnA/WG2IP8FIt3bwYM9lhZYBpmWe5f2KGUYpu5tSNZB7NAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
static const char vec_sig_hashed[] =
    "untrusted comment: signature from minisign secret key\n"
    "RURzgyBc8dBBCeRjrNJ5o/3O6tN9NRh4HrTJ0cJqxLpMUZtgLX4QgUE/gZr7L8OTW5jcdLak8oEXJkjKpo3kyTvC"
    "V80gQUgJrgI=\n"
    "trusted comment: test vector hashed\n"
    "AIivLkpVjMcTic7AWuoL3YIcd/B38n6pdC92T2ZHPWSlfC//m57fyH3g8CX3bL8ywiQt3l2k+hHpONZ3WKicCA==\n";
static const char vec_sig_legacy[] =
    "untrusted comment: signature from minisign secret key\n"
    "RWRzgyBc8dBBCfJUPrW3PNqs70NlxVxDe725s9VIStjF6GKT+qf1VS4/8vmINiKxILqQ6E7ht+3+g4dvHuayyXLy"
    "ADAAThFWMwo=\n"
    "trusted comment: test vector legacy\n"
    "L/mGwswluGAdMkq8XG0jVF2F+OqZinD5oQRfUaPJpTvWERZ+tAS+VU06CwQqKNyNKec7apAj/572wgOwgMHaAw==\n";

#define MSG ((const uint8_t *)vec_msg)
#define MSG_LEN (sizeof vec_msg - 1)

/* ---- helpers ---- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/trevisor-test-minisign-XXXXXX");

    if (d == NULL || mkdtemp(d) == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

static int write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL)
        return -1;
    ok = fwrite(text, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static char *read_text(const char *path, size_t *len)
{
    char *buf = NULL, err[256];

    if (tre_minisign_read_file(path, 1 << 20, &buf, len, err, sizeof err) < 0)
        return NULL;
    return buf;
}

/* Replaces the first occurrence of `from` in text with `to` (same or other length). */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out = NULL;

    if (at == NULL)
        return NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) < 0)
        return NULL;
    return out;
}

static int have_minisign(void)
{
    return system("command -v minisign >/dev/null 2>&1") == 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    return rc;
}

/* Parses sig text and verifies it over msg with pk text; returns the verify result. */
static int verify_text(const char *pubtext, const char *sigtext, const uint8_t *msg,
                       size_t len, char *err, size_t errlen)
{
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };
    int rc;

    rc = tre_pubkey_parse(pubtext, strlen(pubtext), &pk, err, errlen);
    if (rc < 0)
        return rc;
    rc = tre_sig_parse(sigtext, strlen(sigtext), &sig, err, errlen);
    if (rc < 0)
        return rc;
    return tre_sig_verify(&pk, &sig, msg, len, err, errlen);
}

/* ---- good input ---- */

static void test_pubkey_good(void)
{
    struct tre_pubkey a, b;
    char err[256], id[17], line[TRE_PUBKEY_B64_LEN + 1];
    char *crlf = replace(vec_pub, "7N\n", "7N\r\n");
    char *crlf2 = crlf ? replace(crlf, "373\n", "373\r\n") : NULL;

    CHECK_EQ(tre_pubkey_parse(vec_pub, strlen(vec_pub), &a, err, sizeof err), 0);
    tre_keyid_hex(a.keyid, id);
    CHECK(strcmp(id, "941D0F15C208373") == 0);          /* as minisign printed it */
    tre_pubkey_b64(&a, line);
    CHECK(strcmp(line, vec_pub_line) == 0);
    /* just the base64 line, with or without a line end */
    CHECK_EQ(tre_pubkey_parse(vec_pub_line, strlen(vec_pub_line), &b, err, sizeof err), 0);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK_EQ(tre_pubkey_parse("RWRzgyBc8dBBCQ/WG2IP8FIt3bwYM9lhZYBpmWe5f2KGUYpu5tSNZB7N\n", 57,
                              &b, err, sizeof err), 0);
    /* no final newline; CRLF line ends */
    CHECK_EQ(tre_pubkey_parse(vec_pub, strlen(vec_pub) - 1, &b, err, sizeof err), 0);
    CHECK(crlf2 != NULL);
    if (crlf2 != NULL) {
        CHECK_EQ(tre_pubkey_parse(crlf2, strlen(crlf2), &b, err, sizeof err), 0);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    free(crlf);
    free(crlf2);
}

static void test_keyid_hex(void)
{
    uint8_t id[TRE_KEYID_LEN], id2[TRE_KEYID_LEN];
    char hex[17];

    CHECK_EQ(tre_keyid_parse_hex("941d0f15c208373", id), 0);
    CHECK_EQ(tre_keyid_parse_hex("0941D0F15C208373", id2), 0);
    CHECK(memcmp(id, id2, sizeof id) == 0);
    tre_keyid_hex(id, hex);
    CHECK(strcmp(hex, "941D0F15C208373") == 0);
    CHECK_EQ(tre_keyid_parse_hex("", id), -EINVAL);
    CHECK_EQ(tre_keyid_parse_hex("xyz", id), -EINVAL);
    CHECK_EQ(tre_keyid_parse_hex("0123456789ABCDEF0", id), -EINVAL);
    CHECK_EQ(tre_keyid_parse_hex("FFFFFFFFFFFFFFFF", id), 0);
    tre_keyid_hex(id, hex);
    CHECK(strcmp(hex, "FFFFFFFFFFFFFFFF") == 0);
}

static void test_sig_both_algorithms(void)
{
    struct tre_sig sig = { 0 };
    char err[256];

    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    CHECK_EQ(sig.prehashed, 1);
    CHECK(strcmp(sig.trusted_comment, "test vector hashed") == 0);
    CHECK_EQ(verify_text(vec_pub, vec_sig_hashed, MSG, MSG_LEN, err, sizeof err), 0);

    CHECK_EQ(tre_sig_parse(vec_sig_legacy, strlen(vec_sig_legacy), &sig, err, sizeof err), 0);
    CHECK_EQ(sig.prehashed, 0);
    CHECK(strcmp(sig.trusted_comment, "test vector legacy") == 0);
    CHECK_EQ(verify_text(vec_pub, vec_sig_legacy, MSG, MSG_LEN, err, sizeof err), 0);
}

static void test_sig_line_ends(void)
{
    char err[256];
    char *nofinal = strndup(vec_sig_hashed, strlen(vec_sig_hashed) - 1);
    char *a = replace(vec_sig_hashed, "\n", "\r\n");
    char *b = a ? replace(a, "gI=\n", "gI=\r\n") : NULL;
    char *c = b ? replace(b, "hashed\n", "hashed\r\n") : NULL;
    char *d = c ? replace(c, "CA==\n", "CA==\r\n") : NULL;
    char *crlf_last_only = replace(vec_sig_hashed, "CA==\n", "CA==\r\n");

    CHECK(nofinal && d && crlf_last_only);
    if (nofinal && d && crlf_last_only) {
        CHECK_EQ(verify_text(vec_pub, nofinal, MSG, MSG_LEN, err, sizeof err), 0);
        CHECK_EQ(verify_text(vec_pub, d, MSG, MSG_LEN, err, sizeof err), 0);
        CHECK_EQ(verify_text(vec_pub, crlf_last_only, MSG, MSG_LEN, err, sizeof err), 0);
    }
    free(nofinal); free(a); free(b); free(c); free(d); free(crlf_last_only);
}

/* ---- altered input ---- */

static void test_altered(void)
{
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };
    char err[256];
    char *tc = replace(vec_sig_hashed, "test vector hashed", "test vector hashes");
    static const char other[] = "trevisor test imagE\n";

    /* altered message */
    CHECK_EQ(verify_text(vec_pub, vec_sig_hashed, (const uint8_t *)other, sizeof other - 1,
                         err, sizeof err), -EBADMSG);
    CHECK(strcmp(err, "signature does not match the image") == 0);
    CHECK_EQ(verify_text(vec_pub, vec_sig_legacy, (const uint8_t *)other, sizeof other - 1,
                         err, sizeof err), -EBADMSG);
    CHECK_EQ(verify_text(vec_pub, vec_sig_hashed, MSG, MSG_LEN - 1, err, sizeof err), -EBADMSG);
    CHECK_EQ(verify_text(vec_pub, vec_sig_hashed, NULL, 0, err, sizeof err), -EBADMSG);

    /* altered trusted comment */
    CHECK(tc != NULL);
    if (tc != NULL) {
        CHECK_EQ(verify_text(vec_pub, tc, MSG, MSG_LEN, err, sizeof err), -EBADMSG);
        CHECK(strcmp(err, "trusted comment signature is bad") == 0);
    }
    /* a trusted comment taken from the other signature */
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    CHECK_EQ(tre_pubkey_parse(vec_pub, strlen(vec_pub), &pk, err, sizeof err), 0);
    strcpy(sig.trusted_comment, "test vector legacy");
    CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), -EBADMSG);
    /* altered global signature, altered signature */
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    sig.global_sig[10] ^= 1;
    CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), -EBADMSG);
    CHECK(strcmp(err, "trusted comment signature is bad") == 0);
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    sig.sig[0] ^= 0x80;
    CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), -EBADMSG);
    CHECK(strcmp(err, "signature does not match the image") == 0);
    /* the algorithm byte is signed too: a hashed signature relabelled legacy fails */
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    sig.prehashed = 0;
    CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), -EBADMSG);

    /* wrong key id */
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, strlen(vec_sig_hashed), &sig, err, sizeof err), 0);
    pk.keyid[0] ^= 1;
    CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), -ENOKEY);
    CHECK(strstr(err, "941D0F15C208373") != NULL);
    free(tc);
}

/* ---- malformed input ---- */

struct bad_case {
    const char *name;
    char *text;        /* malloc'd */
    const char *want;  /* substring of the error */
};

static void expect_bad_sig(const char *name, char *text, size_t len, const char *want)
{
    struct tre_sig sig = { 0 };
    char err[256] = "";
    int rc;

    if (text == NULL) {
        fprintf(stderr, "  case %s: could not build it\n", name);
        check_failed_++;
        return;
    }
    rc = tre_sig_parse(text, len, &sig, err, sizeof err);
    if (rc >= 0 || strstr(err, want) == NULL) {
        fprintf(stderr, "  case %s: rc %d, err \"%s\", wanted \"%s\"\n", name, rc, err, want);
        check_failed_++;
    }
    free(text);
}

static void expect_bad_pub(const char *name, char *text, const char *want)
{
    struct tre_pubkey pk = { 0 };
    char err[256] = "";
    int rc;

    if (text == NULL) {
        fprintf(stderr, "  case %s: could not build it\n", name);
        check_failed_++;
        return;
    }
    rc = tre_pubkey_parse(text, strlen(text), &pk, err, sizeof err);
    if (rc >= 0 || strstr(err, want) == NULL) {
        fprintf(stderr, "  case %s: rc %d, err \"%s\", wanted \"%s\"\n", name, rc, err, want);
        check_failed_++;
    }
    free(text);
}

#define BAD_SIG(name, text, want) do { char *t_ = (text); \
    expect_bad_sig(name, t_, t_ ? strlen(t_) : 0, want); } while (0)

static char *long_comment_sig(size_t n)
{
    char *c = malloc(n + 1), *out;

    if (c == NULL)
        return NULL;
    memset(c, 'a', n);
    c[n] = '\0';
    out = replace(vec_sig_hashed, "test vector hashed", c);
    free(c);
    return out;
}

static void test_malformed_sig(void)
{
    struct tre_sig sig = { 0 };
    char err[256];
    const char *s = vec_sig_hashed;
    char *big, *ok1024;

    /* line 1 */
    BAD_SIG("no comment prefix", replace(s, "untrusted comment: ", "untrusted comment "),
            "line 1 does not start with");
    BAD_SIG("empty", strdup(""), "signature: empty");
    /* missing lines */
    BAD_SIG("only line 1", strdup("untrusted comment: x\n"), "line 2 (the signature) is missing");
    BAD_SIG("no line 3", strndup(s, (size_t)(strstr(s, "trusted comment: t") - s)),
            "line 3 (the trusted comment) is missing");
    BAD_SIG("no line 4", strndup(s, (size_t)(strstr(s, "AIiv") - s)),
            "line 4 (the trusted comment's signature) is missing");
    /* bad base64 */
    BAD_SIG("bad char", replace(s, "RURz", "RU*z"), "line 2 is not valid base64");
    BAD_SIG("space", replace(s, "gI=\n", "gI= \n"), "line 2 is not valid base64");
    BAD_SIG("not canonical", replace(s, "gI=\n", "gJ=\n"), "line 2 is not valid base64");
    BAD_SIG("length not x4", replace(s, "gI=\n", "gI\n"), "line 2 is not valid base64");
    BAD_SIG("pad in middle", replace(s, "RURz", "RU=z"), "line 2 is not valid base64");
    BAD_SIG("line 4 bad", replace(s, "AIiv", "AI-v"), "line 4 is not valid base64");
    /* wrong lengths */
    BAD_SIG("sig 73 bytes", replace(s, "QUgJrgI=", "QUgJrg=="), "line 2 has the wrong length");
    BAD_SIG("sig 77 bytes", replace(s, "QUgJrgI=", "QUgJrgIAAAAA"), "line 2 has the wrong length");
    BAD_SIG("gsig 63 bytes", replace(s, "WKicCA==", "WKic"), "line 4 has the wrong length");
    /* wrong algorithm: "RUR" is "ED"; "RUV" is "EE" */
    BAD_SIG("alg EE", replace(s, "RURz", "RUVz"), "unsupported algorithm");
    BAD_SIG("alg eD", replace(s, "RURz", "ZURz"), "unsupported algorithm");
    /* line 3 */
    BAD_SIG("no trusted prefix", replace(s, "trusted comment: test", "trusted comment:test"),
            "line 3 does not start with");
    BAD_SIG("untrusted as line 3", replace(s, "\ntrusted comment: ", "\nuntrusted comment: "),
            "line 3 does not start with");
    BAD_SIG("overlong trusted comment", long_comment_sig(1025), "longer than 1024 bytes");
    BAD_SIG("escape in comment", replace(s, "vector", "\x1b[31m"), "control character");
    BAD_SIG("CR in comment", replace(s, "vector", "ve\rctor"), "control character");
    /* extra data, NUL, size */
    BAD_SIG("extra line", replace(s, "CA==\n", "CA==\nmore\n"), "unexpected data after line 4");
    BAD_SIG("blank line after", replace(s, "CA==\n", "CA==\n\n"), "unexpected data after line 4");
    expect_bad_sig("NUL", strdup(s), strlen(s) + 1, "NUL byte");
    big = malloc(TRE_SIG_FILE_MAX + 2);
    if (big != NULL) {
        memset(big, 'A', TRE_SIG_FILE_MAX + 1);
        big[TRE_SIG_FILE_MAX + 1] = '\0';
    }
    BAD_SIG("over 16 KiB", big, "larger than 16384 bytes");

    /* the edge that is allowed: exactly 1024 bytes of trusted comment */
    ok1024 = long_comment_sig(1024);
    CHECK(ok1024 != NULL);
    if (ok1024 != NULL) {
        CHECK_EQ(tre_sig_parse(ok1024, strlen(ok1024), &sig, err, sizeof err), 0);
        CHECK_EQ(strlen(sig.trusted_comment), 1024);
        free(ok1024);
    }
    /* a tab is a normal character (minisign's default comment has two) */
    {
        char *tab = replace(s, "test vector", "a\tb");
        CHECK(tab != NULL && tre_sig_parse(tab, strlen(tab), &sig, err, sizeof err) == 0);
        free(tab);
    }
    /* NULL input */
    CHECK_EQ(tre_sig_parse(NULL, 0, &sig, err, sizeof err), -EINVAL);
}

static void test_truncated(void)
{
    struct tre_sig sig = { 0 };
    char err[256];
    size_t n = strlen(vec_sig_hashed), bad = 0;

    /* every truncation fails, except dropping only the final newline */
    for (size_t len = 0; len < n - 1; len++)
        if (tre_sig_parse(vec_sig_hashed, len, &sig, err, sizeof err) >= 0)
            bad++;
    CHECK_EQ(bad, 0);
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, n - 1, &sig, err, sizeof err), 0);
    CHECK_EQ(tre_sig_parse(vec_sig_hashed, n, &sig, err, sizeof err), 0);

    n = strlen(vec_pub);
    bad = 0;
    for (size_t len = 0; len < n - 1; len++) {
        struct tre_pubkey pk = { 0 };

        if (tre_pubkey_parse(vec_pub, len, &pk, err, sizeof err) >= 0)
            bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_malformed_pubkey(void)
{
    const char *p = vec_pub;

    expect_bad_pub("empty", strdup(""), "public key: empty");
    expect_bad_pub("garbage line", strdup("hello\n"), "line 1 is not valid base64");
    expect_bad_pub("bad prefix", replace(p, "untrusted comment: ", "comment: "),
                   "line 1 does not start with");
    expect_bad_pub("missing key", strdup("untrusted comment: x\n"), "line 2 (the key) is missing");
    expect_bad_pub("bad base64", replace(p, "RWRz", "RW.z"), "line 2 is not valid base64");
    expect_bad_pub("not canonical", replace(p, "B7N\n", "B7=\n"), "line 2 is not valid base64");
    expect_bad_pub("too short", replace(p, "ZB7N", ""), "line 2 has the wrong length");
    expect_bad_pub("too long", replace(p, "ZB7N", "ZB7NAAAA"), "line 2 has the wrong length");
    expect_bad_pub("wrong alg", replace(p, "RWRz", "RURz"), "unsupported algorithm");
    expect_bad_pub("extra line", replace(p, "B7N\n", "B7N\nmore\n"), "unexpected data after line 2");
    expect_bad_pub("secret key given", strdup(vec_key), "line 2 has the wrong length");
    expect_bad_pub("signature given", strdup(vec_sig_hashed), "unexpected data");
}

/* ---- secret keys ---- */

static void test_seckey_vectors(void)
{
    struct tre_seckey sk = { 0 };
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };
    char err[256], *sigtext = NULL, *t;
    size_t siglen = 0;

    CHECK_EQ(tre_seckey_is_encrypted(vec_key, strlen(vec_key), err, sizeof err), 0);
    CHECK_EQ(tre_seckey_parse(vec_key, strlen(vec_key), NULL, &sk, err, sizeof err), 0);
    CHECK_EQ(tre_pubkey_parse(vec_pub, strlen(vec_pub), &pk, err, sizeof err), 0);
    CHECK(memcmp(sk.keyid, pk.keyid, TRE_KEYID_LEN) == 0);
    CHECK(memcmp(sk.sk + 32, pk.pk, 32) == 0);
    /* sign a buffer with it, with the default trusted comment and with our own */
    CHECK_EQ(tre_sign_buffer(&sk, MSG, MSG_LEN, NULL, &sigtext, &siglen, err, sizeof err), 0);
    if (sigtext != NULL) {
        CHECK_EQ(tre_sig_parse(sigtext, siglen, &sig, err, sizeof err), 0);
        CHECK(strncmp(sig.trusted_comment, "timestamp:", 10) == 0);
        CHECK(strstr(sig.trusted_comment, "\thashed") != NULL);
        CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), 0);
        free(sigtext);
        sigtext = NULL;
    }
    CHECK_EQ(tre_sign_buffer(&sk, MSG, MSG_LEN, "version:1", &sigtext, &siglen, err,
                             sizeof err), 0);
    if (sigtext != NULL) {
        CHECK_EQ(verify_text(vec_pub, sigtext, MSG, MSG_LEN, err, sizeof err), 0);
        free(sigtext);
        sigtext = NULL;
    }
    CHECK_EQ(tre_sign_buffer(&sk, MSG, MSG_LEN, "bad\ncomment", &sigtext, &siglen, err,
                             sizeof err), -EINVAL);
    tre_seckey_wipe(&sk);

    /* malformed secret keys: "RWQAAEIy" is "Ed" 0 0 "B2" */
    t = replace(vec_key, "RWQAAEIy", "RWQAAEIz");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EINVAL &&
          strstr(err, "checksum algorithm"));
    free(t);
    t = replace(vec_key, "RWQAAEIy", "RWRBAEIy");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EINVAL &&
          strstr(err, "key derivation"));
    free(t);
    t = replace(vec_key, "RWQAAEIy", "RUQAAEIy");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EINVAL &&
          strstr(err, "signature algorithm"));
    free(t);
    /* a flipped seed bit: the public half no longer matches */
    t = replace(vec_key, "c4MgXPHQQQkSoyzm", "c4MgXPHQQQkSoyzn");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EBADMSG &&
          strcmp(err, "wrong password or corrupt secret key") == 0);
    free(t);
    /* a checksum that is not zero and not right */
    t = replace(vec_key, "AAAAAAAAAAAAAAAAAAAAAAA=\n", "AAAAAAAAAAAAAAAAAAAAAAE=\n");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EBADMSG);
    free(t);
    t = replace(vec_key, "AAAA=\n", "AA=\n");
    CHECK(t && tre_seckey_parse(t, strlen(t), NULL, &sk, err, sizeof err) == -EINVAL);
    free(t);
    CHECK_EQ(tre_seckey_parse(vec_pub, strlen(vec_pub), NULL, &sk, err, sizeof err), -EINVAL);
}

/* ---- files ---- */

static void test_keygen_sign_files(void)
{
    char *d = tmpdir(), err[256], *pub = NULL, *sec = NULL, *img = NULL, *sigp = NULL;
    char *text = NULL, *sigtext = NULL;
    size_t len = 0, siglen = 0;
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };
    struct stat st;

    CHECK(d != NULL);
    if (d == NULL)
        return;
    pub = path_in(d, "v.pub");
    sec = path_in(d, "v.key");
    img = path_in(d, "img.elf");
    sigp = path_in(d, "img.elf.minisig");
    CHECK_EQ(tre_keygen_files(pub, sec, "test vendor", NULL, 0, err, sizeof err), 0);
    CHECK(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(pub, &st) == 0 && (st.st_mode & 0777) == 0644);
    text = read_text(pub, &len);
    CHECK(text != NULL && strncmp(text, "untrusted comment: test vendor\n", 31) == 0);
    CHECK(text != NULL && tre_pubkey_parse(text, len, &pk, err, sizeof err) == 0);
    free(text);
    text = read_text(sec, &len);
    CHECK(text != NULL && tre_seckey_is_encrypted(text, len, err, sizeof err) == 0);
    free(text);

    /* no overwrite without force; with force, a new key */
    CHECK_EQ(tre_keygen_files(pub, sec, NULL, NULL, 0, err, sizeof err), -EEXIST);
    CHECK(strstr(err, "already exists") != NULL);
    CHECK_EQ(tre_keygen_files(pub, sec, NULL, NULL, 1, err, sizeof err), 0);
    text = read_text(pub, &len);
    {
        struct tre_pubkey pk2 = pk;
        CHECK(text != NULL && tre_pubkey_parse(text, len, &pk2, err, sizeof err) == 0 &&
              memcmp(&pk, &pk2, sizeof pk) != 0);
        pk = pk2;
    }
    free(text);
    CHECK_EQ(tre_keygen_files(pub, pub, NULL, NULL, 1, err, sizeof err), -EINVAL);
    CHECK_EQ(tre_keygen_files(pub, sec, "two\nlines", NULL, 1, err, sizeof err), -EINVAL);

    /* sign a file; default trusted comment like minisign's */
    CHECK_EQ(write_text(img, vec_msg, MSG_LEN), 0);
    CHECK_EQ(tre_sign_file(sec, NULL, img, sigp, NULL, err, sizeof err), 0);
    sigtext = read_text(sigp, &siglen);
    CHECK(sigtext != NULL);
    if (sigtext != NULL) {
        CHECK_EQ(tre_sig_parse(sigtext, siglen, &sig, err, sizeof err), 0);
        CHECK_EQ(sig.prehashed, 1);
        CHECK(strncmp(sig.trusted_comment, "timestamp:", 10) == 0);
        CHECK(strstr(sig.trusted_comment, "\tfile:img.elf\thashed") != NULL);
        CHECK_EQ(tre_sig_verify(&pk, &sig, MSG, MSG_LEN, err, sizeof err), 0);
        CHECK_EQ(tre_sig_verify_file(&pk, &sig, img, err, sizeof err), 0);
        free(sigtext);
    }
    /* with a trusted comment; an overlong one is refused */
    CHECK_EQ(tre_sign_file(sec, NULL, img, sigp, "vendor:acme\tversion:3", err, sizeof err), 0);
    sigtext = read_text(sigp, &siglen);
    CHECK(sigtext != NULL && tre_sig_parse(sigtext, siglen, &sig, err, sizeof err) == 0 &&
          strcmp(sig.trusted_comment, "vendor:acme\tversion:3") == 0);
    free(sigtext);
    {
        char tc[1026];
        memset(tc, 'x', 1025);
        tc[1025] = '\0';
        CHECK_EQ(tre_sign_file(sec, NULL, img, sigp, tc, err, sizeof err), -EINVAL);
        tc[1024] = '\0';
        CHECK_EQ(tre_sign_file(sec, NULL, img, sigp, tc, err, sizeof err), 0);
    }
    /* the file changes after signing */
    CHECK_EQ(write_text(img, "x", 1), 0);
    sigtext = read_text(sigp, &siglen);
    CHECK(sigtext != NULL && tre_sig_parse(sigtext, siglen, &sig, err, sizeof err) == 0);
    CHECK_EQ(tre_sig_verify_file(&pk, &sig, img, err, sizeof err), -EBADMSG);
    free(sigtext);
    CHECK(tre_sign_file(sec, NULL, "/nonexistent/img", sigp, NULL, err, sizeof err) < 0);

    free(pub); free(sec); free(img); free(sigp);
    rm_rf(d);
    free(d);
}

static void test_encrypted_seckey(void)
{
    /* cheap scrypt limits keep the test fast; the interop test uses minisign's own */
    const struct tre_kdf_limits cheap = { 524288, 16777216 };
    char *d = tmpdir(), err[256], *pub = NULL, *sec = NULL, *img = NULL, *sigp = NULL;
    char *text = NULL, *ptext = NULL;
    size_t len = 0, plen = 0;
    struct tre_seckey sk = { 0 };
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };

    CHECK(d != NULL);
    if (d == NULL)
        return;
    pub = path_in(d, "e.pub");
    sec = path_in(d, "e.key");
    img = path_in(d, "img");
    sigp = path_in(d, "img.minisig");
    CHECK_EQ(tre_keygen_files_ex(pub, sec, NULL, "correct horse", &cheap, 0, err, sizeof err), 0);
    CHECK_EQ(tre_keygen_files_ex(pub, sec, NULL, "", &cheap, 1, err, sizeof err), -EINVAL);
    text = read_text(sec, &len);
    ptext = read_text(pub, &plen);
    CHECK(text != NULL && ptext != NULL);
    if (text != NULL && ptext != NULL) {
        CHECK_EQ(tre_pubkey_parse(ptext, plen, &pk, err, sizeof err), 0);
        CHECK_EQ(tre_seckey_is_encrypted(text, len, err, sizeof err), 1);
        CHECK_EQ(tre_seckey_parse(text, len, NULL, &sk, err, sizeof err), -EACCES);
        CHECK_EQ(tre_seckey_parse(text, len, "wrong horse", &sk, err, sizeof err), -EBADMSG);
        CHECK(strcmp(err, "wrong password or corrupt secret key") == 0);
        CHECK_EQ(tre_seckey_parse(text, len, "correct horse", &sk, err, sizeof err), 0);
        CHECK(memcmp(sk.keyid, pk.keyid, TRE_KEYID_LEN) == 0);
        CHECK(memcmp(sk.sk + 32, pk.pk, 32) == 0);
        tre_seckey_wipe(&sk);
    }
    CHECK_EQ(write_text(img, vec_msg, MSG_LEN), 0);
    CHECK_EQ(tre_sign_file(sec, "wrong horse", img, sigp, NULL, err, sizeof err), -EBADMSG);
    CHECK(access(sigp, F_OK) != 0);
    CHECK_EQ(tre_sign_file(sec, NULL, img, sigp, NULL, err, sizeof err), -EACCES);
    CHECK_EQ(tre_sign_file(sec, "correct horse", img, sigp, NULL, err, sizeof err), 0);
    free(text);
    text = read_text(sigp, &len);
    CHECK(text != NULL && tre_sig_parse(text, len, &sig, err, sizeof err) == 0 &&
          tre_sig_verify_file(&pk, &sig, img, err, sizeof err) == 0);
    free(text);
    free(ptext);
    free(pub); free(sec); free(img); free(sigp);
    rm_rf(d);
    free(d);
}

/* ---- the real minisign, both directions ---- */

static int verify_files(const char *pubp, const char *sigp, const char *img, char *err,
                        size_t errlen)
{
    char *pt = NULL, *st = NULL;
    size_t pl = 0, sl = 0;
    struct tre_pubkey pk = { 0 };
    struct tre_sig sig = { 0 };
    int rc = -EIO;

    pt = read_text(pubp, &pl);
    st = read_text(sigp, &sl);
    if (pt != NULL && st != NULL) {
        rc = tre_pubkey_parse(pt, pl, &pk, err, errlen);
        if (rc == 0)
            rc = tre_sig_parse(st, sl, &sig, err, errlen);
        if (rc == 0)
            rc = tre_sig_verify_file(&pk, &sig, img, err, errlen);
    }
    free(pt);
    free(st);
    return rc;
}

static void test_interop_minisign(void)
{
    const struct tre_kdf_limits cheap = { 524288, 16777216 };
    char *d, err[256];

    if (!have_minisign())
        SKIP("minisign is not on PATH (make deps installs it)");
    d = tmpdir();
    CHECK(d != NULL);
    if (d == NULL)
        return;
    CHECK_EQ(run("cd %s && printf 'trevisor interop image\\n' > img", d), 0);

    /* minisign's key (-W) and signatures -> trevisor verifies; trevisor signs with it */
    CHECK_EQ(run("cd %s && minisign -G -W -p m.pub -s m.key >/dev/null", d), 0);
    CHECK_EQ(run("cd %s && minisign -S -s m.key -m img -x m-hashed.sig -t 'from minisign' "
                 ">/dev/null", d), 0);
    CHECK_EQ(run("cd %s && minisign -S -l -s m.key -m img -x m-legacy.sig >/dev/null", d), 0);
    {
        char *pubp = path_in(d, "m.pub"), *img = path_in(d, "img");
        char *s1 = path_in(d, "m-hashed.sig"), *s2 = path_in(d, "m-legacy.sig");
        char *seck = path_in(d, "m.key"), *s3 = path_in(d, "t-with-m.sig");

        CHECK_EQ(verify_files(pubp, s1, img, err, sizeof err), 0);
        CHECK_EQ(verify_files(pubp, s2, img, err, sizeof err), 0);
        CHECK_EQ(tre_sign_file(seck, NULL, img, s3, NULL, err, sizeof err), 0);
        free(pubp); free(img); free(s1); free(s2); free(seck); free(s3);
    }
    CHECK_EQ(run("cd %s && minisign -Vm img -x t-with-m.sig -p m.pub >/dev/null", d), 0);

    /* trevisor's key -> minisign verifies our signature and signs with our key */
    {
        char *pubp = path_in(d, "t.pub"), *seck = path_in(d, "t.key"), *img = path_in(d, "img");
        char *s1 = path_in(d, "t.sig"), *s2 = path_in(d, "m-with-t.sig");

        CHECK_EQ(tre_keygen_files(pubp, seck, NULL, NULL, 0, err, sizeof err), 0);
        CHECK_EQ(tre_sign_file(seck, NULL, img, s1, "from trevisor", err, sizeof err), 0);
        CHECK_EQ(run("cd %s && minisign -Vm img -x t.sig -p t.pub | grep -q 'from trevisor'",
                     d), 0);
        CHECK_EQ(run("cd %s && minisign -S -s t.key -m img -x m-with-t.sig </dev/null "
                     ">/dev/null", d), 0);
        CHECK_EQ(verify_files(pubp, s2, img, err, sizeof err), 0);
        /* and minisign notices a changed image */
        CHECK(run("cd %s && printf x >> img && minisign -Vm img -x t.sig -p t.pub "
                  ">/dev/null 2>&1", d) != 0);
        free(pubp); free(seck); free(img); free(s1); free(s2);
    }

    /* encrypted keys: ours (cheap limits) in minisign, minisign's (its 1 GiB scrypt) in ours */
    {
        char *pubp = path_in(d, "te.pub"), *seck = path_in(d, "te.key"), *img = path_in(d, "img");
        char *mk = path_in(d, "me.key"), *mp = path_in(d, "me.pub"), *s = path_in(d, "te.sig");
        char *text = NULL;
        size_t len = 0;
        struct tre_seckey sk = { 0 };

        CHECK_EQ(tre_keygen_files_ex(pubp, seck, NULL, "pw-t", &cheap, 0, err, sizeof err), 0);
        CHECK_EQ(run("cd %s && printf 'pw-t\\n' | minisign -S -s te.key -m img -x me-with-te.sig "
                     ">/dev/null 2>&1", d), 0);
        CHECK_EQ(run("cd %s && minisign -Vm img -x me-with-te.sig -p te.pub >/dev/null", d), 0);
        CHECK(run("cd %s && printf 'nope\\n' | minisign -S -s te.key -m img -x no.sig "
                  ">/dev/null 2>&1", d) != 0);

        CHECK_EQ(run("cd %s && printf 'pw-m\\npw-m\\n' | minisign -G -p me.pub -s me.key "
                     ">/dev/null 2>&1", d), 0);
        text = read_text(mk, &len);
        CHECK(text != NULL);
        if (text != NULL) {
            CHECK_EQ(tre_seckey_is_encrypted(text, len, err, sizeof err), 1);
            CHECK_EQ(tre_seckey_parse(text, len, NULL, &sk, err, sizeof err), -EACCES);
            free(text);
        }
        CHECK_EQ(tre_sign_file(mk, "pw-m", img, s, NULL, err, sizeof err), 0);
        CHECK_EQ(run("cd %s && minisign -Vm img -x te.sig -p me.pub >/dev/null", d), 0);
        free(pubp); free(seck); free(img); free(mk); free(mp); free(s);
    }
    rm_rf(d);
    free(d);
}

/* ---- trust store ---- */

static void test_truststore(void)
{
    char *d = tmpdir(), err[256], *vd = NULL, *p = NULL, *sigtext = NULL;
    struct tre_truststore *ts = NULL;
    const struct tre_pubkey *key = NULL;
    struct tre_pubkey pk = { 0 }, other = { 0 };
    struct tre_seckey sk = { 0 };
    size_t siglen = 0;

    CHECK(d != NULL);
    if (d == NULL)
        return;
    vd = path_in(d, "vendors");

    /* a missing directory is an empty store */
    CHECK_EQ(tre_truststore_load(vd, &ts, err, sizeof err), 0);
    CHECK(ts != NULL && tre_truststore_count(ts) == 0);
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN, vec_sig_hashed, strlen(vec_sig_hashed),
                                   &key, err, sizeof err), -ENOKEY);
    CHECK(strcmp(err, "unknown vendor key 941D0F15C208373") == 0);
    CHECK(key == NULL);
    tre_truststore_free(ts);
    ts = NULL;

    /* two keys, plus files that are not keys */
    CHECK_EQ(mkdir(vd, 0755), 0);
    p = path_in(vd, "acme.pub");
    CHECK_EQ(write_text(p, vec_pub, strlen(vec_pub)), 0);
    free(p);
    p = path_in(vd, "other.pub");
    {
        char *k2 = path_in(d, "k2.key");
        CHECK_EQ(tre_keygen_files(p, k2, NULL, NULL, 0, err, sizeof err), 0);
        free(k2);
    }
    free(p);
    p = path_in(vd, "README");
    CHECK_EQ(write_text(p, "not a key\n", 10), 0);
    free(p);
    p = path_in(vd, "copy-of-acme.pub");   /* the same key twice is one key */
    CHECK_EQ(write_text(p, vec_pub_line, strlen(vec_pub_line)), 0);
    free(p);

    CHECK_EQ(tre_truststore_load(vd, &ts, err, sizeof err), 0);
    CHECK_EQ(tre_truststore_count(ts), 2);
    CHECK_EQ(tre_pubkey_parse(vec_pub, strlen(vec_pub), &pk, err, sizeof err), 0);
    CHECK(tre_truststore_find(ts, pk.keyid) != NULL);
    CHECK(tre_truststore_at(ts, 0) != NULL && tre_truststore_at(ts, 2) == NULL);
    CHECK(tre_truststore_source(ts, 0) != NULL &&
          strcmp(tre_truststore_source(ts, 0), "acme.pub") == 0);
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN, vec_sig_hashed, strlen(vec_sig_hashed),
                                   &key, err, sizeof err), 0);
    CHECK(key == tre_truststore_find(ts, pk.keyid));
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN - 1, vec_sig_hashed,
                                   strlen(vec_sig_hashed), &key, err, sizeof err), -EBADMSG);
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN, "junk", 4, &key, err, sizeof err), -EINVAL);
    CHECK_EQ(tre_truststore_add(ts, &pk), -EEXIST);

    /* in memory: a new key, then an image it signed */
    CHECK_EQ(tre_seckey_parse(vec_key, strlen(vec_key), NULL, &sk, err, sizeof err), 0);
    sk.keyid[0] ^= 0x55;  /* same Ed25519 key under another id, for the test */
    memcpy(other.keyid, sk.keyid, TRE_KEYID_LEN);
    memcpy(other.pk, sk.sk + 32, 32);
    CHECK_EQ(tre_sign_buffer(&sk, MSG, MSG_LEN, "mem", &sigtext, &siglen, err, sizeof err), 0);
    tre_seckey_wipe(&sk);
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN, sigtext, siglen, &key, err, sizeof err),
             -ENOKEY);
    CHECK_EQ(tre_truststore_add(ts, &other), 0);
    CHECK_EQ(tre_truststore_count(ts), 3);
    CHECK(tre_truststore_source(ts, 2) == NULL);
    CHECK_EQ(tre_truststore_verify(ts, MSG, MSG_LEN, sigtext, siglen, &key, err, sizeof err), 0);
    free(sigtext);
    tre_truststore_free(ts);
    ts = NULL;

    /* a malformed .pub is an error naming the file */
    p = path_in(vd, "broken.pub");
    CHECK_EQ(write_text(p, "untrusted comment: x\nRWRz\n", 26), 0);
    CHECK(tre_truststore_load(vd, &ts, err, sizeof err) < 0);
    CHECK(ts == NULL);
    CHECK(strstr(err, "broken.pub") != NULL);
    CHECK(strstr(err, "line 2 has the wrong length") != NULL || strstr(err, "base64") != NULL);
    unlink(p);
    free(p);

    /* a different key under a key id already in the store */
    p = path_in(vd, "zz-clash.pub");
    {
        struct tre_pubkey clash = pk;
        char line[TRE_PUBKEY_B64_LEN + 1];

        clash.pk[0] ^= 1;
        tre_pubkey_b64(&clash, line);
        CHECK_EQ(write_text(p, line, strlen(line)), 0);
    }
    CHECK_EQ(tre_truststore_load(vd, &ts, err, sizeof err), -EEXIST);
    CHECK(strstr(err, "zz-clash.pub") != NULL);
    unlink(p);
    free(p);

    /* remove by key id: both files holding it go */
    CHECK_EQ(tre_truststore_dir_remove(vd, pk.keyid, err, sizeof err), 2);
    CHECK_EQ(tre_truststore_dir_remove(vd, pk.keyid, err, sizeof err), 0);
    CHECK_EQ(tre_truststore_load(vd, &ts, err, sizeof err), 0);
    CHECK_EQ(tre_truststore_count(ts), 1);
    tre_truststore_free(ts);

    /* a file, not a directory */
    p = path_in(vd, "README");
    CHECK(tre_truststore_load(p, &ts, err, sizeof err) < 0);
    free(p);

    free(vd);
    rm_rf(d);
    free(d);
}

int main(void)
{
    TEST(test_pubkey_good);
    TEST(test_keyid_hex);
    TEST(test_sig_both_algorithms);
    TEST(test_sig_line_ends);
    TEST(test_altered);
    TEST(test_malformed_sig);
    TEST(test_truncated);
    TEST(test_malformed_pubkey);
    TEST(test_seckey_vectors);
    TEST(test_keygen_sign_files);
    TEST(test_encrypted_seckey);
    TEST(test_interop_minisign);
    TEST(test_truststore);
    TEST_EXIT();
}
