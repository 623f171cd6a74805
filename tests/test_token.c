/* tests/test_token.c — the PKCS#11 token backend against a real SoftHSM2 in a temporary
 * state directory: the default token and keys created on first use and found again on
 * reopen, listing, public keys, every signing mechanism verified with OpenSSL, both
 * decryptions of OpenSSL-encrypted data, random bytes, the error cases, a simulated
 * removal through tests/p11fail.c (libp11fail.so, built next to this binary), and four
 * threads signing at once. Skips (saying so) when softhsm2 is not installed. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "check.h"
#include "services/token.h"
#include "trevisor/abi.h"
#include "util/log.h"

/* Under ASan (make SAN=1): SoftHSM2 2.6.1 leaks one small ASN.1 object in every Ed25519
 * C_SignInit (see tests/lsan.supp). These sanitizer hooks suppress exactly leaks whose
 * stack goes through libsofthsm2.so, with the slow unwinder that can see that frame
 * through libcrypto, so the test needs no options from its caller. Unused without ASan. */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_suppressions(void)
{
    return "leak:libsofthsm2.so\n";
}

static char state[PATH_MAX];
static struct token *tok;        /* the default token, open for most cases */
static int have_ed;              /* the module made the "ed" key */

static void rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 32];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

static EVP_PKEY *pubkey_of(struct token *t, const char *label)
{
    uint8_t der[1024];
    char err[256];
    long n = token_pubkey(t, label, der, sizeof der, err, sizeof err);
    const unsigned char *p = der;

    if (n <= 0) {
        fprintf(stderr, "  pubkey %s: %s\n", label, err);
        return NULL;
    }
    return d2i_PUBKEY(NULL, &p, n);
}

/* verifies sig over the digest (ECDSA, RSA) with OpenSSL */
static int verify_digest(EVP_PKEY *pk, int pad, const uint8_t dig[32], const uint8_t *sig,
                         size_t siglen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
    int ok = c && EVP_PKEY_verify_init(c) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0;

    if (ok && pad) {
        ok = EVP_PKEY_CTX_set_rsa_padding(c, pad) > 0;
        if (ok && pad == RSA_PKCS1_PSS_PADDING)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32) > 0 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0;
    }
    ok = ok && EVP_PKEY_verify(c, sig, siglen, dig, 32) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static int verify_ed(EVP_PKEY *pk, const uint8_t *msg, size_t len, const uint8_t *sig,
                     size_t siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk) > 0 &&
             EVP_DigestVerify(c, sig, siglen, msg, len) == 1;

    EVP_MD_CTX_free(c);
    return ok;
}

static long rsa_encrypt(EVP_PKEY *pk, int oaep, const uint8_t *in, size_t len, uint8_t *out,
                        size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
    size_t olen = cap;
    int ok = c && EVP_PKEY_encrypt_init(c) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(c, oaep ? RSA_PKCS1_OAEP_PADDING
                                                  : RSA_PKCS1_PADDING) > 0;

    if (ok && oaep)
        ok = EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0;
    ok = ok && EVP_PKEY_encrypt(c, out, &olen, in, len) > 0;
    EVP_PKEY_CTX_free(c);
    return ok ? (long)olen : -1;
}

/* ---- opening ---- */

struct seen {
    int sig, rsa, ed, extra, other;
};

static void on_key(void *ctx, const char *label, int type)
{
    struct seen *s = ctx;

    if (!strcmp(label, "sig") && type == TRE_TOKEN_KEY_EC_P256)
        s->sig++;
    else if (!strcmp(label, "rsa") && type == TRE_TOKEN_KEY_RSA2048)
        s->rsa++;
    else if (!strcmp(label, "ed") && type == TRE_TOKEN_KEY_ED25519)
        s->ed++;
    else if (!strcmp(label, "extra") && type == TRE_TOKEN_KEY_EC_P256)
        s->extra++;
    else
        s->other++;
}

static void test_default_creates_token(void)
{
    struct token_config c = { .state_dir = state };
    struct seen s = { 0 };
    char err[256], path[PATH_MAX + 32], *conf = NULL;
    struct stat st;
    FILE *f;
    long n;

    if (token_softhsm_module() == NULL)
        SKIP("softhsm2 is not installed (no libsofthsm2.so)");
    CHECK_EQ(token_open(&c, &tok, err, sizeof err), 0);
    if (tok == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(!strcmp(token_label(tok), "trevisor"));
    snprintf(path, sizeof path, "%s/softhsm/pin", state);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 33);
    snprintf(path, sizeof path, "%s/softhsm/softhsm2.conf", state);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        conf = calloc(1, 4096);
        n = (long)fread(conf, 1, 4095, f);
        fclose(f);
        CHECK(n > 0 && strstr(conf, "directories.tokendir = ") != NULL);
        CHECK(strstr(conf, "/softhsm/tokens\n") != NULL);
        CHECK(strstr(conf, "objectstore.backend = file\n") != NULL);
        free(conf);
    }
    CHECK(getenv("SOFTHSM2_CONF") != NULL && strstr(getenv("SOFTHSM2_CONF"), state));
    CHECK_EQ(token_list(tok, on_key, &s, err, sizeof err), 0);
    CHECK_EQ(s.sig, 1);
    CHECK_EQ(s.rsa, 1);
    CHECK_EQ(s.other, 0);
    have_ed = s.ed == 1;
    CHECK_EQ(token_key_type(tok, "sig", err, sizeof err), TRE_TOKEN_KEY_EC_P256);
    CHECK_EQ(token_key_type(tok, "rsa", err, sizeof err), TRE_TOKEN_KEY_RSA2048);
    if (have_ed)
        CHECK_EQ(token_key_type(tok, "ed", err, sizeof err), TRE_TOKEN_KEY_ED25519);
    else
        printf("  note: this SoftHSM2 made no Ed25519 key\n");
}

static void test_reopen_same_keys(void)
{
    struct token_config c = { .state_dir = state };
    static const char *const labels[] = { "sig", "rsa", "ed" };
    uint8_t a[3][1024], b[1024];
    long na[3];
    char err[256];

    if (tok == NULL)
        SKIP("no default token");
    for (int i = 0; i < 3; i++) {
        na[i] = token_pubkey(tok, labels[i], a[i], sizeof a[i], err, sizeof err);
        CHECK(na[i] > 0 || (i == 2 && !have_ed));
    }
    token_close(tok);
    tok = NULL;
    CHECK_EQ(token_open(&c, &tok, err, sizeof err), 0);
    if (tok == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    for (int i = 0; i < 3; i++) {
        long n = token_pubkey(tok, labels[i], b, sizeof b, err, sizeof err);

        if (i == 2 && !have_ed)
            continue;
        CHECK_EQ(n, na[i]);
        CHECK(n > 0 && memcmp(a[i], b, (size_t)n) == 0);
    }
}

static void test_pubkeys(void)
{
    EVP_PKEY *pk;
    uint8_t der[16];
    char err[256];

    if (tok == NULL)
        SKIP("no default token");
    pk = pubkey_of(tok, "sig");
    CHECK(pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC && EVP_PKEY_get_bits(pk) == 256);
    if (pk) {
        char group[64];
        size_t gl = 0;
        CHECK(EVP_PKEY_get_group_name(pk, group, sizeof group, &gl) == 1 &&
              !strcmp(group, "prime256v1"));
    }
    EVP_PKEY_free(pk);
    pk = pubkey_of(tok, "rsa");
    CHECK(pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pk) == 2048);
    EVP_PKEY_free(pk);
    if (have_ed) {
        pk = pubkey_of(tok, "ed");
        CHECK(pk != NULL && EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519);
        EVP_PKEY_free(pk);
    }
    CHECK_EQ(token_pubkey(tok, "sig", der, sizeof der, err, sizeof err), -ENOBUFS);
    CHECK_EQ(token_pubkey(tok, "nosuch", der, sizeof der, err, sizeof err), -ENOENT);
    CHECK(strstr(err, "nosuch") != NULL);
}

/* ---- signing ---- */

static void test_ecdsa(void)
{
    uint8_t dig[32], sig[128];
    EVP_PKEY *pk;
    char err[256];
    long n;

    if (tok == NULL)
        SKIP("no default token");
    SHA256((const uint8_t *)"hello token", 11, dig);
    n = token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err, sizeof err);
    CHECK(n >= 8 && n <= 72);
    CHECK(sig[0] == 0x30);
    pk = pubkey_of(tok, "sig");
    CHECK(pk != NULL && n > 0 && verify_digest(pk, 0, dig, sig, (size_t)n));
    dig[0] ^= 1;
    CHECK(pk != NULL && n > 0 && !verify_digest(pk, 0, dig, sig, (size_t)n));
    EVP_PKEY_free(pk);
}

static void test_rsa_sign(void)
{
    uint8_t dig[32], sig[512];
    EVP_PKEY *pk;
    char err[256];
    long n;

    if (tok == NULL)
        SKIP("no default token");
    SHA256((const uint8_t *)"rsa message", 11, dig);
    pk = pubkey_of(tok, "rsa");
    CHECK(pk != NULL);
    n = token_sign(tok, "rsa", TRE_TOKEN_RSA_PKCS1_SHA256, dig, 32, sig, sizeof sig, err,
                   sizeof err);
    CHECK_EQ(n, 256);
    CHECK(pk && n == 256 && verify_digest(pk, RSA_PKCS1_PADDING, dig, sig, 256));
    n = token_sign(tok, "rsa", TRE_TOKEN_RSA_PSS_SHA256, dig, 32, sig, sizeof sig, err,
                   sizeof err);
    CHECK_EQ(n, 256);
    CHECK(pk && n == 256 && verify_digest(pk, RSA_PKCS1_PSS_PADDING, dig, sig, 256));
    CHECK(pk && n == 256 && !verify_digest(pk, RSA_PKCS1_PADDING, dig, sig, 256));
    EVP_PKEY_free(pk);
}

static void test_ed25519(void)
{
    static const uint8_t msg[] = "an Ed25519 message of some length, signed whole";
    uint8_t sig[64], *big;
    EVP_PKEY *pk;
    char err[256];
    long n;

    if (tok == NULL)
        SKIP("no default token");
    if (!have_ed)
        SKIP("this SoftHSM2 has no Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN)");
    pk = pubkey_of(tok, "ed");
    n = token_sign(tok, "ed", TRE_TOKEN_ED25519, msg, sizeof msg, sig, sizeof sig, err,
                   sizeof err);
    CHECK_EQ(n, 64);
    CHECK(pk && n == 64 && verify_ed(pk, msg, sizeof msg, sig, 64));
    n = token_sign(tok, "ed", TRE_TOKEN_ED25519, NULL, 0, sig, sizeof sig, err, sizeof err);
    CHECK_EQ(n, 64);
    CHECK(pk && n == 64 && verify_ed(pk, (const uint8_t *)"", 0, sig, 64));
    big = calloc(1, 64 * 1024 + 1);
    if (big) {
        n = token_sign(tok, "ed", TRE_TOKEN_ED25519, big, 64 * 1024, sig, sizeof sig, err,
                       sizeof err);
        CHECK(pk && n == 64 && verify_ed(pk, big, 64 * 1024, sig, 64));
        CHECK_EQ(token_sign(tok, "ed", TRE_TOKEN_ED25519, big, 64 * 1024 + 1, sig, sizeof sig,
                            err, sizeof err), -EINVAL);
        free(big);
    }
    CHECK_EQ(token_sign(tok, "ed", TRE_TOKEN_ED25519, msg, 4, sig, 63, err, sizeof err),
             -ENOBUFS);
    EVP_PKEY_free(pk);
}

/* ---- decryption and random ---- */

static void test_decrypt(void)
{
    static const uint8_t secret[] = "a session key, 32 bytes long....";
    uint8_t ct[256], pt[256];
    EVP_PKEY *pk;
    char err[256];
    long n;

    if (tok == NULL)
        SKIP("no default token");
    pk = pubkey_of(tok, "rsa");
    CHECK(pk != NULL);
    if (pk == NULL)
        return;
    CHECK_EQ(rsa_encrypt(pk, 1, secret, 32, ct, sizeof ct), 256);
    n = token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 256, pt, sizeof pt, err,
                      sizeof err);
    CHECK_EQ(n, 32);
    CHECK(n == 32 && memcmp(pt, secret, 32) == 0);
    CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 256, pt, 31, err,
                           sizeof err), -ENOBUFS);
    CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 255, pt, sizeof pt, err,
                           sizeof err), -EINVAL);
    CHECK_EQ(rsa_encrypt(pk, 0, secret, 20, ct, sizeof ct), 256);
    n = token_decrypt(tok, "rsa", TRE_TOKEN_RSA_PKCS1, ct, 256, pt, sizeof pt, err, sizeof err);
    CHECK_EQ(n, 20);
    CHECK(n == 20 && memcmp(pt, secret, 20) == 0);
    /* a ciphertext that is not one: an error, and the token goes on working */
    memset(ct, 0x5a, sizeof ct);
    n = token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 256, pt, sizeof pt, err,
                      sizeof err);
    CHECK(n < 0);
    printf("  note: a bad OAEP ciphertext gives %ld (%s)\n", n, err);
    CHECK_EQ(n, -EINVAL);
    CHECK(strstr(err, "CKR_ENCRYPTED_DATA_INVALID") != NULL);
    n = token_decrypt(tok, "rsa", TRE_TOKEN_RSA_PKCS1, ct, 256, pt, sizeof pt, err, sizeof err);
    CHECK(n < 0);
    printf("  note: a bad PKCS#1 ciphertext gives %ld (%s)\n", n, err);
    CHECK_EQ(rsa_encrypt(pk, 1, secret, 32, ct, sizeof ct), 256);
    CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 256, pt, sizeof pt, err,
                           sizeof err), 32);
    /* OAEP with SHA-1 is not what was asked for: refused */
    {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
        size_t olen = sizeof ct;

        CHECK(c && EVP_PKEY_encrypt_init(c) > 0 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
              EVP_PKEY_encrypt(c, ct, &olen, secret, 32) > 0);
        EVP_PKEY_CTX_free(c);
        CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, ct, 256, pt, sizeof pt,
                               err, sizeof err), -EINVAL);
    }
    EVP_PKEY_free(pk);
}

static void test_random(void)
{
    uint8_t a[64], b[64], zero[64] = { 0 }, *big;
    char err[256];

    if (tok == NULL)
        SKIP("no default token");
    CHECK_EQ(token_random(tok, a, sizeof a, err, sizeof err), 64);
    CHECK_EQ(token_random(tok, b, sizeof b, err, sizeof err), 64);
    CHECK(memcmp(a, zero, 64) != 0 && memcmp(a, b, 64) != 0);
    CHECK_EQ(token_random(tok, a, 0, err, sizeof err), 0);
    big = calloc(1, 10000);
    if (big) {
        CHECK_EQ(token_random(tok, big, 10000, err, sizeof err), 10000);
        CHECK(memcmp(big + 9936, zero, 64) != 0);   /* the last chunk was filled too */
        free(big);
    }
}

/* ---- errors ---- */

static void test_errors(void)
{
    uint8_t dig[32] = { 1 }, sig[512];
    char err[256];

    if (tok == NULL)
        SKIP("no default token");
    /* mechanism and key do not fit */
    CHECK_EQ(token_sign(tok, "rsa", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK(strstr(err, "rsa") != NULL);
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_RSA_PKCS1_SHA256, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_RSA_PSS_SHA256, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_ED25519, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "rsa", TRE_TOKEN_ED25519, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    if (have_ed)
        CHECK_EQ(token_sign(tok, "ed", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                            sizeof err), -EINVAL);
    CHECK_EQ(token_decrypt(tok, "sig", TRE_TOKEN_RSA_OAEP_SHA256, sig, 256, sig, sizeof sig,
                           err, sizeof err), -EINVAL);
    /* not a mechanism of that kind */
    CHECK_EQ(token_sign(tok, "rsa", TRE_TOKEN_RSA_OAEP_SHA256, dig, 32, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "sig", 0, dig, 32, sig, sizeof sig, err, sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "sig", 99, dig, 32, sig, sizeof sig, err, sizeof err), -EINVAL);
    CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_PSS_SHA256, sig, 256, sig, sizeof sig,
                           err, sizeof err), -EINVAL);
    /* unknown labels */
    CHECK_EQ(token_sign(tok, "nosuch", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                        sizeof err), -ENOENT);
    CHECK_EQ(token_key_type(tok, "nosuch", err, sizeof err), -ENOENT);
    CHECK_EQ(token_key_type(tok, "", err, sizeof err), -ENOENT);
    CHECK_EQ(token_decrypt(tok, "nosuch", TRE_TOKEN_RSA_PKCS1, sig, 256, sig, sizeof sig, err,
                           sizeof err), -ENOENT);
    /* bad lengths */
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 31, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, sig, 33, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_sign(tok, "rsa", TRE_TOKEN_RSA_PKCS1_SHA256, dig, 0, sig, sizeof sig, err,
                        sizeof err), -EINVAL);
    CHECK_EQ(token_decrypt(tok, "rsa", TRE_TOKEN_RSA_PKCS1, sig, 257, sig, sizeof sig, err,
                           sizeof err), -EINVAL);
    /* small buffers */
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, 71, err, sizeof err),
             -ENOBUFS);
    CHECK_EQ(token_sign(tok, "rsa", TRE_TOKEN_RSA_PSS_SHA256, dig, 32, sig, 255, err,
                        sizeof err), -ENOBUFS);
    CHECK_EQ(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, NULL, 0, err, sizeof err),
             -ENOBUFS);
    /* and it still signs */
    CHECK(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, 72, err, sizeof err) > 0);
}

static void test_generate(void)
{
    struct seen s = { 0 };
    uint8_t dig[32] = { 7 }, sig[80];
    EVP_PKEY *pk;
    char err[256];
    long n;

    if (tok == NULL)
        SKIP("no default token");
    CHECK_EQ(token_generate(tok, "extra", TRE_TOKEN_KEY_EC_P256, err, sizeof err), 0);
    CHECK_EQ(token_generate(tok, "extra", TRE_TOKEN_KEY_EC_P256, err, sizeof err), -EEXIST);
    CHECK_EQ(token_generate(tok, "sig", TRE_TOKEN_KEY_RSA2048, err, sizeof err), -EEXIST);
    CHECK_EQ(token_generate(tok, "bad label", TRE_TOKEN_KEY_EC_P256, err, sizeof err), -EINVAL);
    CHECK_EQ(token_generate(tok, "", TRE_TOKEN_KEY_EC_P256, err, sizeof err), -EINVAL);
    CHECK_EQ(token_generate(tok, "x", TRE_TOKEN_KEY_OTHER, err, sizeof err), -EINVAL);
    CHECK_EQ(token_list(tok, on_key, &s, err, sizeof err), 0);
    CHECK_EQ(s.extra, 1);
    n = token_sign(tok, "extra", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                   sizeof err);
    pk = pubkey_of(tok, "extra");
    CHECK(pk && n > 0 && verify_digest(pk, 0, dig, sig, (size_t)n));
    EVP_PKEY_free(pk);
}

static void test_open_errors(void)
{
    char err[256], pinpath[PATH_MAX + 32];
    struct token *t = NULL;
    struct token_config c;

    if (token_softhsm_module() == NULL)
        SKIP("softhsm2 is not installed");
    memset(&c, 0, sizeof c);
    c.module = "/nonexistent/libnothing.so";
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -ENOENT);
    CHECK(t == NULL && strstr(err, "/nonexistent/libnothing.so") != NULL);
    c.module = "/etc/passwd";
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -EIO);
    /* the SoftHSM2 module itself (shared with the default token): no such token label */
    c.module = token_softhsm_module();
    c.token_label = "nosuch";
    c.pin = "1234";
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -ENODEV);
    CHECK(strstr(err, "nosuch") != NULL);
    c.token_label = NULL;
    c.pin = NULL;
    unsetenv("TREVISOR_TOKEN_PIN");
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -EACCES);
    CHECK(strstr(err, "PIN") != NULL);
    /* a wrong PIN: only while no session of this process is logged in (login is per
     * application), so with the default token closed for a moment */
    if (tok != NULL) {
        struct token_config d = { .state_dir = state };

        token_close(tok);
        tok = NULL;
        c.pin = "wrong-pin";
        CHECK_EQ(token_open(&c, &t, err, sizeof err), -EACCES);
        CHECK(strstr(err, "CKR_PIN_INCORRECT") != NULL);
        c.pin = NULL;
        CHECK_EQ(token_open(&d, &tok, err, sizeof err), 0);
    }
    /* the default needs a state directory; the same process cannot use two */
    memset(&c, 0, sizeof c);
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -EINVAL);
    if (tok != NULL) {
        char other[PATH_MAX + 16];

        snprintf(other, sizeof other, "%s/other", state);
        c.state_dir = other;
        CHECK_EQ(token_open(&c, &t, err, sizeof err), -EBUSY);
    }
    /* an explicit module with the PIN from the environment */
    snprintf(pinpath, sizeof pinpath, "%s/softhsm/pin", state);
    {
        FILE *f = fopen(pinpath, "r");
        char pin[64] = "";

        if (f) {
            if (fgets(pin, sizeof pin, f) == NULL)
                pin[0] = '\0';
            fclose(f);
        }
        pin[strcspn(pin, "\n")] = '\0';
        memset(&c, 0, sizeof c);
        c.module = token_softhsm_module();
        setenv("TREVISOR_TOKEN_PIN", pin, 1);
        CHECK_EQ(token_open(&c, &t, err, sizeof err), 0);
        unsetenv("TREVISOR_TOKEN_PIN");
        CHECK_EQ(token_key_type(t, "sig", err, sizeof err), TRE_TOKEN_KEY_EC_P256);
        token_close(t);
        t = NULL;
    }
    CHECK(t == NULL);
}

/* ---- simulated removal ---- */

struct logged {
    int removed;
    int reopened;
};

static void log_sink(void *ctx, const char *line)
{
    struct logged *l = ctx;

    if (strstr(line, "CKR_DEVICE_REMOVED"))
        l->removed++;
    if (strstr(line, "works again"))
        l->reopened++;
}

static int read_pin(char *pin, size_t cap)
{
    char path[PATH_MAX + 32];
    FILE *f;

    snprintf(path, sizeof path, "%s/softhsm/pin", state);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(pin, (int)cap, f) == NULL)
        pin[0] = '\0';
    fclose(f);
    pin[strcspn(pin, "\n")] = '\0';
    return pin[0] ? 0 : -1;
}

static void test_removal(void)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32], trig[PATH_MAX + 32], pin[64], err[256];
    uint8_t dig[32] = { 3 }, sig[80], rnd[16];
    struct logged l = { 0, 0 };
    struct token_config c;
    struct token *t = NULL;
    EVP_PKEY *pk = NULL;
    ssize_t n;
    long s;

    if (tok == NULL)
        SKIP("no default token");
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        SKIP("cannot find this test's directory");
    exe[n] = '\0';
    snprintf(lib, sizeof lib, "%s/libp11fail.so", dirname(exe));
    if (access(lib, R_OK) != 0)
        SKIP("%s is not built (make build/tests/libp11fail.so)", lib);
    CHECK_EQ(read_pin(pin, sizeof pin), 0);
    snprintf(trig, sizeof trig, "%s/removed", state);
    unlink(trig);
    setenv("P11FAIL_MODULE", token_softhsm_module(), 1);
    setenv("P11FAIL_TRIGGER", trig, 1);
    memset(&c, 0, sizeof c);
    c.module = lib;
    c.pin = pin;
    CHECK_EQ(token_open(&c, &t, err, sizeof err), 0);
    if (t == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    pk = pubkey_of(t, "sig");
    CHECK(pk != NULL);
    s = token_sign(t, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err, sizeof err);
    CHECK(s > 0 && pk && verify_digest(pk, 0, dig, sig, (size_t)s));

    tlog_set_sink(log_sink, &l);
    tlog_set_quiet(1);
    close(open(trig, O_WRONLY | O_CREAT, 0600));     /* the token is "removed" */
    s = token_sign(t, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err, sizeof err);
    CHECK_EQ(s, -ENODEV);
    CHECK(strcmp(err, "token: C_Sign: CKR_DEVICE_REMOVED (the token was removed)") == 0);
    CHECK_EQ(l.removed, 1);
    /* still removed: the reopen succeeds but finding the key does not */
    s = token_sign(t, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err, sizeof err);
    CHECK_EQ(s, -ENODEV);
    CHECK(strstr(err, "C_FindObjectsInit: CKR_DEVICE_REMOVED") != NULL);
    CHECK_EQ(token_random(t, rnd, sizeof rnd, err, sizeof err), -ENODEV);
    CHECK_EQ(token_decrypt(t, "rsa", TRE_TOKEN_RSA_PKCS1, sig, 256, sig, sizeof sig, err,
                           sizeof err), -ENODEV);
    CHECK_EQ(l.removed, 1);                   /* one log line per outage, not per call */
    CHECK_EQ(l.reopened, 0);
    /* "re-inserted": the next call reopens the session and works */
    unlink(trig);
    s = token_sign(t, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err, sizeof err);
    CHECK(s > 0 && pk && verify_digest(pk, 0, dig, sig, (size_t)s));
    CHECK_EQ(token_random(t, rnd, sizeof rnd, err, sizeof err), 16);
    CHECK_EQ(l.reopened, 1);
    tlog_set_quiet(0);
    tlog_set_sink(NULL, NULL);
    /* the default token, on the same SoftHSM2, was not disturbed */
    CHECK(token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                     sizeof err) > 0);
    EVP_PKEY_free(pk);
    token_close(t);
}

/* ---- threads ---- */

#define SIGNERS 4
#define SIGNS   50

struct signer {
    EVP_PKEY *pk;
    int ok;
    int id;
};

static void *signer_run(void *arg)
{
    struct signer *s = arg;

    for (int i = 0; i < SIGNS; i++) {
        uint8_t msg[8] = { (uint8_t)s->id, (uint8_t)i }, dig[32], sig[80];
        char err[256];
        long n;

        SHA256(msg, sizeof msg, dig);
        n = token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dig, 32, sig, sizeof sig, err,
                       sizeof err);
        if (n > 0 && verify_digest(s->pk, 0, dig, sig, (size_t)n))
            s->ok++;
        else
            fprintf(stderr, "  signer %d: %ld %s\n", s->id, n, err);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[SIGNERS];
    struct signer s[SIGNERS];
    EVP_PKEY *pk;

    if (tok == NULL)
        SKIP("no default token");
    pk = pubkey_of(tok, "sig");
    CHECK(pk != NULL);
    if (pk == NULL)
        return;
    for (int i = 0; i < SIGNERS; i++) {
        s[i] = (struct signer){ pk, 0, i };
        CHECK_EQ(pthread_create(&th[i], NULL, signer_run, &s[i]), 0);
    }
    for (int i = 0; i < SIGNERS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(s[i].ok, SIGNS);
    }
    EVP_PKEY_free(pk);
}

/* ---- first use interrupted, state lost ---- */

static void test_recovery(void)
{
    char st2[PATH_MAX + 16], path[PATH_MAX + 64], saved[PATH_MAX + 64], err[256];
    struct token_config c;
    struct token *t = NULL;
    uint8_t a[256], b[256];
    long na, nb;

    if (tok == NULL)
        SKIP("no default token");
    token_close(tok);                        /* one state directory per process at a time */
    tok = NULL;
    snprintf(st2, sizeof st2, "%s/second", state);
    memset(&c, 0, sizeof c);
    c.state_dir = st2;
    CHECK_EQ(token_open(&c, &t, err, sizeof err), 0);
    CHECK(t != NULL && getenv("SOFTHSM2_CONF") && strstr(getenv("SOFTHSM2_CONF"), "/second/"));
    na = token_pubkey(t, "sig", a, sizeof a, err, sizeof err);
    CHECK(na > 0);
    token_close(t);
    t = NULL;
    /* the PIN file lost: refused, saying why */
    snprintf(path, sizeof path, "%s/softhsm/pin", st2);
    snprintf(saved, sizeof saved, "%s/pin.saved", st2);
    CHECK_EQ(rename(path, saved), 0);
    CHECK_EQ(token_open(&c, &t, err, sizeof err), -EACCES);
    CHECK(t == NULL && strstr(err, "PIN file") != NULL);
    /* the token lost but its PIN file kept (as after a crash before C_InitToken): the
     * token is made again with that PIN, and new keys */
    CHECK_EQ(rename(saved, path), 0);
    snprintf(saved, sizeof saved, "%s/softhsm/tokens", st2);
    rm_rf(saved);
    CHECK_EQ(mkdir(saved, 0700), 0);
    CHECK_EQ(token_open(&c, &t, err, sizeof err), 0);
    nb = t ? token_pubkey(t, "sig", b, sizeof b, err, sizeof err) : -1;
    CHECK(nb > 0 && (nb != na || memcmp(a, b, (size_t)nb) != 0));
    token_close(t);
    /* and the first state directory works again */
    c.state_dir = state;
    CHECK_EQ(token_open(&c, &tok, err, sizeof err), 0);
    CHECK(tok != NULL && token_key_type(tok, "extra", err, sizeof err) == TRE_TOKEN_KEY_EC_P256);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(state, sizeof state, "%s/trevisor-token-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(state) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST(test_default_creates_token);
    TEST(test_reopen_same_keys);
    TEST(test_pubkeys);
    TEST(test_ecdsa);
    TEST(test_rsa_sign);
    TEST(test_ed25519);
    TEST(test_decrypt);
    TEST(test_random);
    TEST(test_errors);
    TEST(test_generate);
    TEST(test_open_errors);
    TEST(test_removal);
    TEST(test_threads);
    TEST(test_recovery);
    token_close(tok);
    rm_rf(state);
    TEST_EXIT();
}
