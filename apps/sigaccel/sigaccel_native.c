/* apps/sigaccel/sigaccel_native.c — sigaccel's native twin: the same sigaccel_core code
 * (RPC handler, key, certificates, signing) called in-process on the host, with native
 * stand-ins for the TRE services: an in-memory P-256 "token" key and a "seal" that only
 * tags the data (it protects nothing: this is a baseline and a self-test, never a place
 * for a real key).
 *   sigaccel-native --bench SECONDS [--batch B]   signatures per second (batches of 1 and
 *                                                 16, or B), for the benchmark
 *   sigaccel-native --selftest DIR                every procedure once; writes DIR/ca.pem,
 *                                                 DIR/cert.pem, DIR/msg, DIR/msg.sig */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include "sigaccel_core.h"

/* ---- stand-ins for the TRE services ---- */
static EVP_PKEY *nat_token;
static const char nat_tag[16] = "sigaccel-native";   /* 15 chars + NUL */

static long nat_seal(const void *data, size_t len, void *blob, size_t cap)
{
    if (len > TRE_SEAL_MAX)
        return -E2BIG;
    if (cap < sizeof nat_tag + len)
        return -ENOBUFS;
    memcpy(blob, nat_tag, sizeof nat_tag);
    memcpy((char *)blob + sizeof nat_tag, data, len);
    return (long)(sizeof nat_tag + len);
}

static long nat_unseal(const void *blob, size_t len, void *data, size_t cap)
{
    if (len < sizeof nat_tag || memcmp(blob, nat_tag, sizeof nat_tag))
        return -EBADMSG;
    if (len - sizeof nat_tag > cap)
        return -ENOBUFS;
    memcpy(data, (const char *)blob + sizeof nat_tag, len - sizeof nat_tag);
    return (long)(len - sizeof nat_tag);
}

static long nat_token_pubkey(const char *label, void *der, size_t cap)
{
    unsigned char *p = der;
    int n;

    if (strcmp(label, SIGACCEL_TOKEN_LABEL))
        return -ENOENT;
    n = i2d_PUBKEY(nat_token, NULL);
    if (n <= 0)
        return -EIO;
    if ((size_t)n > cap)
        return -ENOBUFS;
    return i2d_PUBKEY(nat_token, &p);
}

static long nat_token_sign(const char *label, unsigned mech, const void *data, size_t len,
                           void *sig, size_t cap)
{
    EVP_PKEY_CTX *ctx;
    size_t n = cap;
    int ok;

    if (strcmp(label, SIGACCEL_TOKEN_LABEL))
        return -ENOENT;
    if (mech != TRE_TOKEN_ECDSA_SHA256 || len != 32)
        return -EINVAL;
    ctx = EVP_PKEY_CTX_new(nat_token, NULL);
    ok = ctx && EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_sign(ctx, sig, &n, data, len) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok ? (long)n : -EIO;
}

static void nat_log(const char *line)
{
    if (getenv("SIGACCEL_VERBOSE"))
        fprintf(stderr, "%s\n", line);
}

static const struct sigaccel_ops nat_ops = {
    .seal = nat_seal,
    .unseal = nat_unseal,
    .token_pubkey = nat_token_pubkey,
    .token_sign = nat_token_sign,
    .log = nat_log,
};

/* ---- calling the handler as the serve loop would ---- */
static int nat_call(int proc, void *arg, unsigned arglen, void *res, unsigned *reslen)
{
    struct msgbuf b[2];
    int n = 0, rc;

    if (arg)
        b[n++] = (struct msgbuf){ arg, arglen, 0 };
    if (res)
        b[n++] = (struct msgbuf){ res, *reslen, 1 };
    rc = sigaccel_handler(TRE_MSG_CALL, proc, b, n);
    if (res)
        *reslen = rc >= 0 ? b[n - 1].len : 0;
    return rc;
}

static int nat_start(void)
{
    static unsigned char blob[SIGACCEL_BLOB_MAX];
    unsigned bl = sizeof blob;

    nat_token = EVP_EC_gen("P-256");
    if (!nat_token || sigaccel_setup(&nat_ops) != 0 ||
        nat_call(SIGACCEL_PROC_INIT, NULL, 0, blob, &bl) != 0) {
        fprintf(stderr, "sigaccel-native: set-up failed\n");
        return -1;
    }
    return 0;
}

static double nat_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Verifies the n packed signatures in out over the digests dg with the key from PUBKEY. */
static int nat_check(const unsigned char *dg, int n, const unsigned char *out, unsigned len)
{
    unsigned char spki[SIGACCEL_SPKI_MAX];
    unsigned sl = sizeof spki;
    const unsigned char *p = spki;
    EVP_PKEY *pub = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t off = 0;
    int ok = nat_call(SIGACCEL_PROC_PUBKEY, NULL, 0, spki, &sl) > 0;

    if (ok)
        pub = d2i_PUBKEY(NULL, &p, sl);
    ctx = pub ? EVP_PKEY_CTX_new(pub, NULL) : NULL;
    if (!ctx || EVP_PKEY_verify_init(ctx) <= 0)
        ok = 0;
    for (int i = 0; ok && i < n; i++) {
        size_t l;

        if (off + 2 > len)
            ok = 0;
        l = ok ? (size_t)(out[off] | out[off + 1] << 8) : 0;
        if (!ok || off + 2 + l > len ||
            EVP_PKEY_verify(ctx, out + off + 2, l, dg + 32 * i, 32) != 1)
            ok = 0;
        off += 2 + l;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return ok;
}

static double nat_rate(int batch, double secs)
{
    static unsigned char dg[SIGACCEL_MAX_DIGESTS * SIGACCEL_DIGEST_LEN];
    static unsigned char out[SIGACCEL_SIGN_OUT_MAX];
    unsigned long sigs = 0;
    double t0, t;

    if (RAND_bytes(dg, sizeof dg) != 1)
        return -1;
    t0 = nat_now();
    do {
        unsigned ol = sizeof out;
        int rc = nat_call(SIGACCEL_PROC_SIGN, dg, (unsigned)batch * SIGACCEL_DIGEST_LEN, out,
                          &ol);

        if (rc != batch) {
            fprintf(stderr, "sigaccel-native: SIGN failed (%d)\n", rc);
            return -1;
        }
        if (sigs == 0 && !nat_check(dg, batch, out, ol)) {
            fprintf(stderr, "sigaccel-native: a signature does not verify\n");
            return -1;
        }
        sigs += (unsigned long)batch;
        t = nat_now() - t0;
    } while (t < secs);
    return (double)sigs / t;
}

static int nat_write_pem(const char *dir, const char *name, const unsigned char *der,
                         unsigned len)
{
    char path[4096];
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, len);
    FILE *f;
    int ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = x ? fopen(path, "w") : NULL;
    ok = f && PEM_write_X509(f, x);
    if (f && fclose(f))
        ok = 0;
    X509_free(x);
    if (!ok)
        fprintf(stderr, "sigaccel-native: cannot write %s\n", path);
    return ok ? 0 : -1;
}

static int nat_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;
    int ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f))
        ok = 0;
    if (!ok)
        fprintf(stderr, "sigaccel-native: cannot write %s\n", path);
    return ok ? 0 : -1;
}

#define NAT_FAIL(...) do { fprintf(stderr, "sigaccel-native: selftest: " __VA_ARGS__); \
                           fprintf(stderr, "\n"); return 1; } while (0)

static int nat_selftest(const char *dir)
{
    static unsigned char blob[SIGACCEL_BLOB_MAX], blob2[SIGACCEL_BLOB_MAX];
    static unsigned char ca[SIGACCEL_CERT_MAX], cert[SIGACCEL_CERT_MAX];
    static unsigned char pk1[SIGACCEL_SPKI_MAX], pk2[SIGACCEL_SPKI_MAX];
    static unsigned char out[SIGACCEL_SIGN_OUT_MAX], dg[2 * 32];
    static const char msg[] = "sigaccel native self-test\n";
    unsigned bl = sizeof blob, bl2 = sizeof blob2, cal = sizeof ca, cl = sizeof cert;
    unsigned p1 = sizeof pk1, p2 = sizeof pk2, ol = sizeof out, sl;
    int rc;

    nat_token = EVP_EC_gen("P-256");
    if (!nat_token || sigaccel_setup(&nat_ops) != 0)
        NAT_FAIL("set-up failed");
    if ((rc = nat_call(SIGACCEL_PROC_PUBKEY, NULL, 0, pk1, &p1)) != -EPERM)
        NAT_FAIL("PUBKEY before INIT gave %d, not -EPERM", rc);
    if ((rc = nat_call(SIGACCEL_PROC_INIT, NULL, 0, blob, &bl)) != 0)
        NAT_FAIL("INIT (new key) gave %d", rc);
    p1 = sizeof pk1;
    if (nat_call(SIGACCEL_PROC_PUBKEY, NULL, 0, pk1, &p1) <= 0)
        NAT_FAIL("PUBKEY failed");
    /* a second INIT with the blob gives the same key back */
    if ((rc = nat_call(SIGACCEL_PROC_INIT, blob, bl, blob2, &bl2)) != 0)
        NAT_FAIL("INIT (from the blob) gave %d", rc);
    if (nat_call(SIGACCEL_PROC_PUBKEY, NULL, 0, pk2, &p2) <= 0 || p1 != p2 ||
        memcmp(pk1, pk2, p1))
        NAT_FAIL("the unsealed key differs from the sealed one");
    blob[sizeof nat_tag] ^= 1;
    bl2 = sizeof blob2;
    if ((rc = nat_call(SIGACCEL_PROC_INIT, blob, 3, blob2, &bl2)) != -EBADMSG)
        NAT_FAIL("INIT with a broken blob gave %d, not -EBADMSG", rc);
    if (nat_call(SIGACCEL_PROC_CA_CERT, NULL, 0, ca, &cal) <= 0)
        NAT_FAIL("CA_CERT failed");
    if (nat_call(SIGACCEL_PROC_CERT, NULL, 0, cert, &cl) <= 0)
        NAT_FAIL("CERT failed");
    SHA256((const unsigned char *)msg, sizeof msg - 1, dg);
    SHA256(dg, 32, dg + 32);
    if ((rc = nat_call(SIGACCEL_PROC_SIGN, dg, sizeof dg, out, &ol)) != 2)
        NAT_FAIL("SIGN gave %d, not 2", rc);
    if (!nat_check(dg, 2, out, ol))
        NAT_FAIL("a signature does not verify");
    if ((rc = nat_call(SIGACCEL_PROC_SIGN, dg, 31, out, &ol)) != -EINVAL)
        NAT_FAIL("SIGN of 31 bytes gave %d, not -EINVAL", rc);
    sl = (unsigned)(out[0] | out[1] << 8);
    if (nat_write_pem(dir, "ca.pem", ca, cal) || nat_write_pem(dir, "cert.pem", cert, cl) ||
        nat_write(dir, "msg", msg, sizeof msg - 1) || nat_write(dir, "msg.sig", out + 2, sl))
        return 1;
    printf("selftest OK: %s/ca.pem, %s/cert.pem, %s/msg.sig\n", dir, dir, dir);
    return 0;
}

static void nat_usage(FILE *f)
{
    fprintf(f, "usage: sigaccel-native --bench SECONDS [--batch B]\n"
               "       sigaccel-native --selftest DIR\n"
               "  sigaccel's signing code run natively (no TRE), with stand-ins for the token\n"
               "  and for sealing that protect nothing: a baseline and a self-test only.\n"
               "  --bench     signatures per second, batches of 1 and 16 digests a call\n"
               "              (or only B, printed as \"N signatures/s\")\n"
               "  --selftest  every procedure once; writes ca.pem, cert.pem, msg, msg.sig\n");
}

int main(int argc, char **argv)
{
    double secs = 0;
    int batch = 0;
    const char *selftest = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            nat_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--bench") && i + 1 < argc) {
            secs = atof(argv[++i]);
            if (!(secs > 0 && secs < 3600))
                goto usage;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            batch = atoi(argv[++i]);
            if (batch < 1 || batch > SIGACCEL_MAX_DIGESTS)
                goto usage;
        } else if (!strcmp(argv[i], "--selftest") && i + 1 < argc) {
            selftest = argv[++i];
        } else {
            goto usage;
        }
    }
    if (selftest && !secs && !batch)
        return nat_selftest(selftest);
    if (!secs || selftest)
        goto usage;
    if (nat_start())
        return 1;
    if (batch) {
        double r = nat_rate(batch, secs);
        if (r < 0)
            return 1;
        printf("%.0f signatures/s\n", r);
        return 0;
    }
    for (int b = 1; b <= 16; b += 15) {
        double r = nat_rate(b, secs);
        if (r < 0)
            return 1;
        printf("batch %d: %.0f signatures/s\n", b, r);
    }
    return 0;
usage:
    nat_usage(stderr);
    return 2;
}
