/* services/token_mech.c — token_sign and token_decrypt: checks that a mechanism
 * (TRE_TOKEN_*) fits the key and the data, maps it to its PKCS#11 mechanism (a SHA-256
 * DigestInfo for RSA-PKCS1, PSS and OAEP parameters), turns a raw P-256 r||s into DER, and,
 * for a module that refuses OAEP with SHA-256, decrypts with CKM_RSA_X_509 and removes the
 * padding here in constant time. It must never hand back more than the module may have
 * written, nor leave a plaintext in a buffer of its own. */
#include "services/token_impl.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "util/err.h"
#include "util/log.h"

#define TOKEN_EDDSA_MAX     (64u * 1024)  /* message bytes for Ed25519 (abi.h) */
#define TOKEN_ECDSA_DER_MAX 72u           /* DER ECDSA-Sig-Value for P-256, at most */

/* DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1) */
static const uint8_t token_sha256_prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                               0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                               0x01, 0x05, 0x00, 0x04, 0x20 };

static const char *token_mech_name(unsigned mech)
{
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256: return "ECDSA-SHA256";
    case TRE_TOKEN_RSA_PKCS1_SHA256: return "RSA-PKCS1-SHA256";
    case TRE_TOKEN_RSA_PSS_SHA256: return "RSA-PSS-SHA256";
    case TRE_TOKEN_ED25519: return "Ed25519";
    case TRE_TOKEN_RSA_OAEP_SHA256: return "RSA-OAEP-SHA256";
    case TRE_TOKEN_RSA_PKCS1: return "RSA-PKCS1";
    default: return "unknown";
    }
}

/* ---- signing ---- */

static int token_mech_fits(unsigned mech, const struct token_key *k)
{
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256:
        return k->type == TRE_TOKEN_KEY_EC_P256;
    case TRE_TOKEN_RSA_PKCS1_SHA256: case TRE_TOKEN_RSA_PSS_SHA256:
    case TRE_TOKEN_RSA_OAEP_SHA256: case TRE_TOKEN_RSA_PKCS1:
        return k->ckk == CKK_RSA && k->modlen != 0;
    case TRE_TOKEN_ED25519:
        return k->type == TRE_TOKEN_KEY_ED25519;
    default:
        return 0;
    }
}

/* raw r || s (2 x 32 bytes) -> DER ECDSA-Sig-Value */
static long token_ecdsa_der(const uint8_t *raw, size_t n, uint8_t *sig, size_t cap,
                            char *err, size_t errlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *ss = BN_bin2bn(raw + n / 2, (int)(n / 2),
                                                                    NULL);
    unsigned char *p = sig;
    long rc;
    int len;

    if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss)) {
        BN_free(r);
        BN_free(ss);
        ECDSA_SIG_free(s);
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    }
    len = i2d_ECDSA_SIG(s, NULL);
    if (len <= 0)
        rc = errf(err, errlen, -EIO, "token: cannot encode the ECDSA signature");
    else if ((size_t)len > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the signature needs %d bytes", len);
    else
        rc = i2d_ECDSA_SIG(s, &p) == len ? len : errf(err, errlen, -EIO, "token: i2d failed");
    ECDSA_SIG_free(s);
    return rc;
}

long token_sign(struct token *t, const char *label, unsigned mech, const uint8_t *data,
                size_t len, uint8_t *sig, size_t cap, char *err, size_t errlen)
{
    uint8_t in[sizeof token_sha256_prefix + 32], out[TOKEN_MOD_MAX];
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM m = { 0, NULL, 0 };
    const uint8_t *src = data ? data : in;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    CK_ULONG olen = sizeof out;
    struct token_key k;
    size_t need = 0;
    CK_RV rv;
    long rc;

    if (t == NULL || label == NULL || (data == NULL && len != 0) || (sig == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256: case TRE_TOKEN_RSA_PKCS1_SHA256: case TRE_TOKEN_RSA_PSS_SHA256:
        if (len != 32)
            return errf(err, errlen, -EINVAL, "token: %s signs a 32-byte SHA-256 digest, "
                        "not %zu bytes", token_mech_name(mech), len);
        break;
    case TRE_TOKEN_ED25519:
        if (len > TOKEN_EDDSA_MAX)
            return errf(err, errlen, -EINVAL, "token: Ed25519 signs at most %u bytes, not %zu",
                        TOKEN_EDDSA_MAX, len);
        break;
    default:
        return errf(err, errlen, -EINVAL, "token: %u is not a signing mechanism", mech);
    }
    rc = token_lock_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto out;
    if (!token_mech_fits(mech, &k)) {
        rc = errf(err, errlen, -EINVAL, "token: key \"%s\" (%s) cannot sign with %s",
                  token_show(label, shown), token_type_name(k.type), token_mech_name(mech));
        goto out;
    }
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256:
        m.mechanism = CKM_ECDSA;             /* over the digest the caller made */
        need = TOKEN_ECDSA_DER_MAX;
        break;
    case TRE_TOKEN_RSA_PKCS1_SHA256:
        memcpy(in, token_sha256_prefix, sizeof token_sha256_prefix);
        memcpy(in + sizeof token_sha256_prefix, data, 32);
        src = in;
        len = sizeof in;
        m.mechanism = CKM_RSA_PKCS;
        need = k.modlen;
        break;
    case TRE_TOKEN_RSA_PSS_SHA256:
        m.mechanism = CKM_RSA_PKCS_PSS;
        m.pParameter = &pss;
        m.ulParameterLen = sizeof pss;
        need = k.modlen;
        break;
    default:
        m.mechanism = CKM_EDDSA;             /* pure Ed25519: no parameters */
        need = 64;
        break;
    }
    if (cap < need) {
        rc = errf(err, errlen, -ENOBUFS, "token: a %s signature needs %zu bytes, the buffer "
                  "holds %zu", token_mech_name(mech), need, cap);
        goto out;
    }
    rv = t->f->C_SignInit(t->sess, &m, k.priv);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_SignInit", rv, err, errlen);
        goto out;
    }
    rv = t->f->C_Sign(t->sess, (CK_BYTE_PTR)src, len, out, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Sign", rv, err, errlen);
        goto out;
    }
    if (mech == TRE_TOKEN_ECDSA_SHA256) {
        if (olen != 64) {
            rc = errf(err, errlen, -EIO, "token: C_Sign: a P-256 signature of %lu bytes",
                      (unsigned long)olen);
            goto out;
        }
        rc = token_ecdsa_der(out, 64, sig, cap, err, errlen);
        goto out;
    }
    if (olen != need) {
        rc = errf(err, errlen, -EIO, "token: C_Sign: %lu bytes, expected %zu",
                  (unsigned long)olen, need);
        goto out;
    }
    memcpy(sig, out, need);
    rc = (long)need;
out:
    token_unlock(t);
    return rc;
}

/* ---- decryption ---- */

/* OAEP (SHA-256, MGF1-SHA256, no label) for a module that has OAEP only with SHA-1, as
 * SoftHSM2 2.6: the raw RSA operation on the token (CKM_RSA_X_509), then OpenSSL's
 * constant-time OAEP check here. With t->lock held. */
static long token_decrypt_raw_oaep(struct token *t, const struct token_key *k,
                                   const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                   char *err, size_t errlen)
{
    CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
    uint8_t em[TOKEN_MOD_MAX], pt[TOKEN_MOD_MAX], raw[TOKEN_MOD_MAX];
    CK_ULONG olen = sizeof raw;
    CK_RV rv;
    long rc;
    int n;

    rv = t->f->C_DecryptInit(t->sess, &m, k->priv);
    if (rv != CKR_OK)
        return token_fail(t, "C_DecryptInit (CKM_RSA_X_509)", rv, err, errlen);
    rv = t->f->C_Decrypt(t->sess, (CK_BYTE_PTR)in, len, raw, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Decrypt (CKM_RSA_X_509)", rv, err, errlen);
        goto out;
    }
    if (olen > k->modlen) {
        rc = errf(err, errlen, -EIO, "token: C_Decrypt: %lu bytes from a %zu-byte key",
                  (unsigned long)olen, k->modlen);
        goto out;
    }
    /* the encoded message, left-padded to the modulus length as OpenSSL wants it */
    memset(em, 0, k->modlen - olen);
    memcpy(em + (k->modlen - olen), raw, olen);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    n = RSA_padding_check_PKCS1_OAEP_mgf1(pt, (int)k->modlen, em, (int)k->modlen,
                                          (int)k->modlen, NULL, 0, EVP_sha256(), EVP_sha256());
#pragma GCC diagnostic pop
    ERR_clear_error();
    if (n < 0)
        rc = token_fail(t, "OAEP decoding", CKR_ENCRYPTED_DATA_INVALID, err, errlen);
    else if ((size_t)n > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the plaintext has %d bytes, the buffer "
                  "holds %zu", n, cap);
    else {
        memcpy(out, pt, (size_t)n);
        rc = n;
    }
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(em, sizeof em);
    OPENSSL_cleanse(pt, sizeof pt);
    return rc;
}

long token_decrypt(struct token *t, const char *label, unsigned mech, const uint8_t *in,
                   size_t len, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
    CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    uint8_t buf[TOKEN_MOD_MAX];
    CK_ULONG olen = sizeof buf;
    struct token_key k;
    CK_RV rv;
    long rc;

    if (t == NULL || label == NULL || in == NULL || (out == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    if (mech == TRE_TOKEN_RSA_OAEP_SHA256) {
        m.mechanism = CKM_RSA_PKCS_OAEP;
        m.pParameter = &oaep;
        m.ulParameterLen = sizeof oaep;
    } else if (mech != TRE_TOKEN_RSA_PKCS1) {
        return errf(err, errlen, -EINVAL, "token: %u is not a decryption mechanism", mech);
    }
    rc = token_lock_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto unlock;
    if (!token_mech_fits(mech, &k)) {
        rc = errf(err, errlen, -EINVAL, "token: key \"%s\" (%s) cannot decrypt with %s",
                  token_show(label, shown), token_type_name(k.type), token_mech_name(mech));
        goto unlock;
    }
    if (len != k.modlen) {
        rc = errf(err, errlen, -EINVAL, "token: a ciphertext for \"%s\" has %zu bytes, not %zu",
                  token_show(label, shown), k.modlen, len);
        goto unlock;
    }
    rv = CKR_MECHANISM_PARAM_INVALID;
    if (mech != TRE_TOKEN_RSA_OAEP_SHA256 || !t->oaep_raw) {
        rv = t->f->C_DecryptInit(t->sess, &m, k.priv);
        if (mech == TRE_TOKEN_RSA_OAEP_SHA256 &&
            (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID)) {
            t->oaep_raw = 1;
            tlog("token", "\"%s\" refuses OAEP with SHA-256 (C_DecryptInit: %s): trevisor "
                 "removes the OAEP padding itself after CKM_RSA_X_509", t->label,
                 rv == CKR_ARGUMENTS_BAD ? "CKR_ARGUMENTS_BAD" : "CKR_MECHANISM_PARAM_INVALID");
        } else if (rv != CKR_OK) {
            rc = token_fail(t, "C_DecryptInit", rv, err, errlen);
            goto unlock;
        }
    }
    if (rv != CKR_OK) {
        rc = token_decrypt_raw_oaep(t, &k, in, len, out, cap, err, errlen);
        goto unlock;
    }
    rv = t->f->C_Decrypt(t->sess, (CK_BYTE_PTR)in, len, buf, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Decrypt", rv, err, errlen);
        goto unlock;
    }
    if (olen > k.modlen)
        rc = errf(err, errlen, -EIO, "token: C_Decrypt: %lu bytes from a %zu-byte key",
                  (unsigned long)olen, k.modlen);
    else if (olen > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the plaintext has %lu bytes, the buffer "
                  "holds %zu", (unsigned long)olen, cap);
    else {
        memcpy(out, buf, olen);
        rc = (long)olen;
    }
unlock:
    token_unlock(t);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}
