/* apps/sigaccel/sigaccel_core.c — the signature accelerator: one fast ECDSA P-256 key in
 * program memory (made or unsealed by INIT, handed out only sealed), two X.509
 * certificates signed by the slow token key (a self-signed CA for the token key, and the
 * fast key's certificate under it), and batch signing of SHA-256 digests with OpenSSL.
 * Built into the TRE program and into its native twin. It trusts no buffer beyond the
 * lengths the serve loop checked, and never writes the private key anywhere but into the
 * sealing call. */
#include "sigaccel_core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const struct sigaccel_ops *sa_ops;
static EVP_PKEY *sa_key;            /* the fast key, after INIT */
static EVP_PKEY_CTX *sa_sign_ctx;   /* ... ready to sign */
static EVP_PKEY *sa_token_pub;      /* the token key's public half, after CA_CERT */
static X509 *sa_ca;                 /* the CA certificate, parsed (for the leaf's AKID) */
static unsigned char *sa_ca_der, *sa_cert_der;
static int sa_ca_len, sa_cert_len;

#define SA_TOKEN_SIG_MAX 160        /* a token's ECDSA signature, with room to spare */
#define SA_TOKEN_SPKI_MAX 1024      /* room for a wrong (e.g. RSA) key, to say so */

/* ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758) */
static const unsigned char sa_algid_ecdsa_sha256[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};

static void sa_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sa_log(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (sa_ops && sa_ops->log)
        sa_ops->log(line);
}

/* Logs OpenSSL's reason for a failure and empties its error queue. */
static void sa_ossl_fail(const char *what)
{
    char e[160] = "no detail";
    unsigned long code = ERR_get_error();

    if (code)
        ERR_error_string_n(code, e, sizeof e);
    ERR_clear_error();
    sa_log("sigaccel: %s failed: %s", what, e);
}

/* OpenSSL's random generators reseed after a time interval, which costs a time() call
 * (one exit from a TRE instance) per signature. Reseeding by request count stays on
 * (as sdk/examples/ecdsa-sign/signer.c does). */
static void sa_no_time_reseed(EVP_RAND_CTX *drbg)
{
    time_t never = 0;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &never),
        OSSL_PARAM_construct_end(),
    };

    if (drbg)
        EVP_RAND_CTX_set_params(drbg, p);
}

int sigaccel_setup(const struct sigaccel_ops *ops)
{
    if (!ops || !ops->seal || !ops->unseal || !ops->token_pubkey || !ops->token_sign)
        return -1;
    sa_ops = ops;
    sa_no_time_reseed(RAND_get0_primary(NULL));
    sa_no_time_reseed(RAND_get0_public(NULL));
    sa_no_time_reseed(RAND_get0_private(NULL));
    return 0;
}

static int sa_is_p256(EVP_PKEY *k)
{
    char grp[80];
    size_t gl = 0;
    int nid;

    if (!k || !EVP_PKEY_is_a(k, "EC") ||
        EVP_PKEY_get_group_name(k, grp, sizeof grp, &gl) != 1)
        return 0;
    nid = OBJ_sn2nid(grp);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(grp);
    return nid == NID_X9_62_prime256v1;
}

static int sa_put(struct msgbuf *out, const unsigned char *data, int n)
{
    if (n <= 0)
        return -EIO;
    if ((unsigned)n > out->len)
        return -ENOSPC;
    memcpy(out->base, data, (size_t)n);
    out->len = (unsigned)n;
    return n;
}

/* Makes k the fast key (taking it over); the old key and its certificate go. */
static int sa_set_key(EVP_PKEY *k)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);

    if (!ctx || EVP_PKEY_sign_init(ctx) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        sa_ossl_fail("signing set-up");
        return -EIO;
    }
    EVP_PKEY_CTX_free(sa_sign_ctx);
    EVP_PKEY_free(sa_key);
    sa_sign_ctx = ctx;
    sa_key = k;
    OPENSSL_free(sa_cert_der);
    sa_cert_der = NULL;
    sa_cert_len = 0;
    return 0;
}

/* INIT: load the key sealed in blob (or make one when blob is NULL or empty), seal it
 * afresh into out, and only then make it the fast key. */
static int sa_init(const struct msgbuf *blob, struct msgbuf *out)
{
    unsigned char der[SIGACCEL_KEY_DER_MAX], *p;
    EVP_PKEY *k = NULL;
    long n;
    int dl, rc = -EIO;

    if (blob && blob->len > 0) {
        const unsigned char *q = der;

        if (blob->len > SIGACCEL_BLOB_MAX)
            return -EINVAL;
        n = sa_ops->unseal(blob->base, blob->len, der, sizeof der);
        if (n < 0) {
            sa_log("sigaccel: INIT: the sealed key does not open (%ld)", n);
            rc = (int)n;
            goto out;
        }
        if (n == 0 || (size_t)n > sizeof der) {
            rc = -EINVAL;
            goto out;
        }
        k = d2i_AutoPrivateKey(NULL, &q, n);
        if (!k || q != der + n || !sa_is_p256(k)) {
            ERR_clear_error();
            sa_log("sigaccel: INIT: the sealed data is not a P-256 key");
            rc = -EINVAL;
            goto out;
        }
    } else {
        k = EVP_EC_gen("P-256");
        if (!k) {
            sa_ossl_fail("INIT: key generation");
            goto out;
        }
    }
    dl = i2d_PrivateKey(k, NULL);
    if (dl <= 0 || (size_t)dl > sizeof der) {
        sa_ossl_fail("INIT: key serialisation");
        goto out;
    }
    p = der;
    if (i2d_PrivateKey(k, &p) != dl) {
        sa_ossl_fail("INIT: key serialisation");
        goto out;
    }
    n = sa_ops->seal(der, (size_t)dl, out->base, out->len);
    if (n < 0) {
        sa_log("sigaccel: INIT: sealing refused (%ld)", n);
        rc = (int)n;
        goto out;
    }
    if ((size_t)n > out->len) {
        rc = -EIO;
        goto out;
    }
    rc = sa_set_key(k);
    if (rc == 0) {
        k = NULL;
        out->len = (unsigned)n;
        sa_log("sigaccel: INIT: fast P-256 key %s, sealed in %ld bytes",
               blob && blob->len ? "unsealed" : "made", n);
    }
out:
    OPENSSL_cleanse(der, sizeof der);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- DER, by hand: the outer Certificate SEQUENCE around the token's signature ---- */
static size_t der_len_size(size_t n)
{
    return n < 0x80 ? 1 : n < 0x100 ? 2 : 3;    /* certificates stay below 64 KiB */
}

static unsigned char *der_put_hdr(unsigned char *p, unsigned char tag, size_t n)
{
    *p++ = tag;
    if (n < 0x80) {
        *p++ = (unsigned char)n;
    } else if (n < 0x100) {
        *p++ = 0x81;
        *p++ = (unsigned char)n;
    } else {
        *p++ = 0x82;
        *p++ = (unsigned char)(n >> 8);
        *p++ = (unsigned char)n;
    }
    return p;
}

/* The token gives a DER ECDSA-Sig-Value (abi.h); a raw r||s (PKCS#11's own form) is
 * converted, in place. Returns the DER length or -EIO. */
static long sa_sig_der(unsigned char *sig, long n, size_t cap)
{
    const unsigned char *q = sig;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, n);
    BIGNUM *r, *sv;
    unsigned char *w = sig;
    int l;

    if (s && q == sig + n) {
        ECDSA_SIG_free(s);
        return n;
    }
    ECDSA_SIG_free(s);
    ERR_clear_error();
    if (n != 64)
        return -EIO;
    s = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    sv = BN_bin2bn(sig + 32, 32, NULL);
    if (!s || !r || !sv || !ECDSA_SIG_set0(s, r, sv)) {
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        return -EIO;
    }
    l = i2d_ECDSA_SIG(s, NULL);
    if (l <= 0 || (size_t)l > cap || i2d_ECDSA_SIG(s, &w) != l)
        l = -EIO;
    ECDSA_SIG_free(s);
    return l;
}

static int sa_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ex && X509_add_ext(x, ex, -1);

    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

/* One certificate for subject_key named cn, signed by the token key: self-signed CA when
 * issuer is NULL, else an end-entity certificate under issuer. The TBSCertificate comes
 * from OpenSSL's X509 API; the token signs its SHA-256; the Certificate SEQUENCE is
 * assembled here and parsed back and verified before it is kept. */
static int sa_make_cert(EVP_PKEY *subject_key, const char *cn, X509 *issuer,
                        unsigned char **der_out, int *len_out, X509 **x_out)
{
    X509 *x = X509_new(), *parsed = NULL;
    X509_NAME *name = X509_NAME_new();
    X509_ALGOR *alg;
    X509V3_CTX ctx;
    BIGNUM *bn = NULL;
    unsigned char serial[16], dg[SHA256_DIGEST_LENGTH], sig[SA_TOKEN_SIG_MAX];
    unsigned char *tbs = NULL, *der = NULL, *p;
    const unsigned char *q;
    size_t bits, body, total;
    long sl;
    int tbs_len, rc = -EIO, ext = 0;

    if (!x || !name || RAND_bytes(serial, sizeof serial) != 1)
        goto ossl;
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);   /* positive, 16 bytes */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !X509_set_version(x, X509_VERSION_3) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        /* RFC 5280 4.1.2.5: no well-defined expiration date */
        !ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "99991231235959Z") ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                    -1, -1, 0) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, subject_key))
        goto ossl;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509V3_set_ctx_nodb(&ctx);
    if (!issuer) {
        ext |= sa_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        ext |= sa_add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        ext |= sa_add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    } else {
        ext |= sa_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
        ext |= sa_add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
        ext |= sa_add_ext(x, &ctx, NID_subject_key_identifier, "hash");
        ext |= sa_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (ext)
        goto ossl;
    /* the TBSCertificate's own signature field: ecdsa-with-SHA256, no parameters */
    alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
    if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL))
        goto ossl;
    tbs_len = i2d_re_X509_tbs(x, &tbs);
    if (tbs_len <= 0 || tbs_len > SIGACCEL_CERT_MAX)
        goto ossl;
    SHA256(tbs, (size_t)tbs_len, dg);

    sl = sa_ops->token_sign(SIGACCEL_TOKEN_LABEL, TRE_TOKEN_ECDSA_SHA256, dg, sizeof dg,
                            sig, sizeof sig);
    if (sl < 0) {
        sa_log("sigaccel: the token refused to sign with '%s' (%ld)", SIGACCEL_TOKEN_LABEL,
               sl);
        rc = (int)sl;
        goto out;
    }
    if (sl == 0 || (size_t)sl > sizeof sig || (sl = sa_sig_der(sig, sl, sizeof sig)) < 0) {
        sa_log("sigaccel: the token's signature is not an ECDSA signature");
        goto out;
    }

    /* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
    bits = 1 + (size_t)sl;
    body = (size_t)tbs_len + sizeof sa_algid_ecdsa_sha256 + 1 + der_len_size(bits) + bits;
    total = 1 + der_len_size(body) + body;
    if (total > SIGACCEL_CERT_MAX || !(der = OPENSSL_malloc(total)))
        goto out;
    p = der_put_hdr(der, 0x30, body);
    memcpy(p, tbs, (size_t)tbs_len);
    p += tbs_len;
    memcpy(p, sa_algid_ecdsa_sha256, sizeof sa_algid_ecdsa_sha256);
    p += sizeof sa_algid_ecdsa_sha256;
    p = der_put_hdr(p, 0x03, bits);
    *p++ = 0;                                       /* no unused bits */
    memcpy(p, sig, (size_t)sl);
    p += sl;
    if ((size_t)(p - der) != total)
        goto out;

    q = der;
    parsed = d2i_X509(NULL, &q, (long)total);
    if (!parsed || q != der + total) {
        sa_ossl_fail("parsing the assembled certificate");
        goto out;
    }
    if (X509_verify(parsed, sa_token_pub) != 1) {
        sa_ossl_fail("checking the token's signature on the certificate");
        rc = -EBADMSG;
        goto out;
    }
    *der_out = der;
    *len_out = (int)total;
    der = NULL;
    if (x_out) {
        *x_out = parsed;
        parsed = NULL;
    }
    rc = 0;
    goto out;
ossl:
    sa_ossl_fail("building a certificate");
out:
    OPENSSL_free(der);
    OPENSSL_free(tbs);
    X509_free(parsed);
    BN_free(bn);
    X509_NAME_free(name);
    X509_free(x);
    return rc;
}

/* The token's public key and the CA certificate, once per instance. */
static int sa_ensure_ca(void)
{
    unsigned char spki[SA_TOKEN_SPKI_MAX];
    const unsigned char *q = spki;
    long n;
    int rc;

    if (sa_ca)
        return 0;
    n = sa_ops->token_pubkey(SIGACCEL_TOKEN_LABEL, spki, sizeof spki);
    if (n < 0) {
        sa_log("sigaccel: the token refused key '%s' (%ld)", SIGACCEL_TOKEN_LABEL, n);
        return (int)n;
    }
    if (n == 0 || (size_t)n > sizeof spki)
        return -EIO;
    sa_token_pub = d2i_PUBKEY(NULL, &q, n);
    if (!sa_token_pub || q != spki + n || !sa_is_p256(sa_token_pub)) {
        ERR_clear_error();
        sa_log("sigaccel: token key '%s' is not an EC P-256 key", SIGACCEL_TOKEN_LABEL);
        rc = -EINVAL;
        goto fail;
    }
    rc = sa_make_cert(sa_token_pub, SIGACCEL_CA_CN, NULL, &sa_ca_der, &sa_ca_len, &sa_ca);
    if (rc == 0)
        return 0;
fail:
    EVP_PKEY_free(sa_token_pub);
    sa_token_pub = NULL;
    return rc;
}

static int sa_ca_cert(struct msgbuf *out)
{
    int rc = sa_ensure_ca();

    return rc ? rc : sa_put(out, sa_ca_der, sa_ca_len);
}

static int sa_cert(struct msgbuf *out)
{
    int rc;

    if (!sa_key)
        return -EPERM;
    if (!sa_cert_der) {
        rc = sa_ensure_ca();
        if (rc)
            return rc;
        rc = sa_make_cert(sa_key, SIGACCEL_CERT_CN, sa_ca, &sa_cert_der, &sa_cert_len, NULL);
        if (rc)
            return rc;
    }
    return sa_put(out, sa_cert_der, sa_cert_len);
}

static int sa_pubkey(struct msgbuf *out)
{
    unsigned char *p = out->base;
    int n;

    if (!sa_key)
        return -EPERM;
    n = i2d_PUBKEY(sa_key, NULL);
    if (n <= 0)
        return -EIO;
    if ((unsigned)n > out->len)
        return -ENOSPC;
    if (i2d_PUBKEY(sa_key, &p) != n)
        return -EIO;
    out->len = (unsigned)n;
    return n;
}

static int sa_sign(const struct msgbuf *in, struct msgbuf *out)
{
    const unsigned char *dg = in->base;
    unsigned char *o = out->base;
    unsigned n = in->len / SIGACCEL_DIGEST_LEN, used = 0;

    if (!sa_key)
        return -EPERM;
    if (in->len % SIGACCEL_DIGEST_LEN || n < 1 || n > SIGACCEL_MAX_DIGESTS)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++) {
        unsigned char sig[SIGACCEL_MAX_SIG + 8];
        size_t siglen = sizeof sig;

        if (EVP_PKEY_sign(sa_sign_ctx, sig, &siglen, dg + (size_t)i * SIGACCEL_DIGEST_LEN,
                          SIGACCEL_DIGEST_LEN) <= 0 || siglen > SIGACCEL_MAX_SIG) {
            sa_ossl_fail("SIGN");
            return -EIO;
        }
        if (out->len - used < 2 + siglen)
            return -ENOSPC;
        o[used] = (unsigned char)siglen;
        o[used + 1] = (unsigned char)(siglen >> 8);
        memcpy(o + used + 2, sig, siglen);
        used += 2 + (unsigned)siglen;
    }
    out->len = used;
    return (int)n;
}

int sigaccel_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    if (!sa_ops)
        return -EIO;
    switch (proc_number) {
    case SIGACCEL_PROC_INIT:
        if (bufcnt == 1 && buf[0].rw == 1)
            return sa_init(NULL, &buf[0]);
        if (bufcnt == 2 && buf[0].rw == 0 && buf[1].rw == 1)
            return sa_init(&buf[0], &buf[1]);
        return -EINVAL;
    case SIGACCEL_PROC_CA_CERT:
        if (bufcnt != 1 || buf[0].rw != 1)
            return -EINVAL;
        return sa_ca_cert(&buf[0]);
    case SIGACCEL_PROC_CERT:
        if (bufcnt != 1 || buf[0].rw != 1)
            return -EINVAL;
        return sa_cert(&buf[0]);
    case SIGACCEL_PROC_SIGN:
        if (bufcnt != 2 || buf[0].rw != 0 || buf[1].rw != 1)
            return -EINVAL;
        return sa_sign(&buf[0], &buf[1]);
    case SIGACCEL_PROC_PUBKEY:
        if (bufcnt != 1 || buf[0].rw != 1)
            return -EINVAL;
        return sa_pubkey(&buf[0]);
    default:
        return -ENOSYS;
    }
}
