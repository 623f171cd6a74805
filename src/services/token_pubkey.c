/* services/token_pubkey.c — token_pubkey: the public half of a key pair as DER
 * SubjectPublicKeyInfo, built with OpenSSL from the public key object's attributes (found
 * by label, else by the private key's CKA_ID; for RSA the private key's own n and e will
 * do): CKA_MODULUS and CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS and CKA_EC_POINT (DER or raw,
 * as modules differ). It must never ask for a secret attribute, nor trust a length or an
 * encoding the module gives without checking it. */
#include "services/token_impl.h"

#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "util/err.h"

#define TOKEN_POINT_MAX     160u          /* DER EC point (P-521 uncompressed fits) */
#define TOKEN_EXP_MAX       16u           /* RSA public exponent bytes */
#define TOKEN_ID_MAX        64u           /* CKA_ID bytes */

/* The point inside a DER OCTET STRING, or the bytes as they are if they are not one. */
static void token_unwrap_octets(const uint8_t *p, size_t n, const uint8_t **in, size_t *inlen)
{
    *in = p;
    *inlen = n;
    if (n >= 2 && p[0] == 0x04 && p[1] < 0x80 && (size_t)p[1] + 2 == n) {
        *in = p + 2;
        *inlen = p[1];
    } else if (n >= 3 && p[0] == 0x04 && p[1] == 0x81 && p[2] >= 0x80 &&
               (size_t)p[2] + 3 == n) {
        *in = p + 3;
        *inlen = p[2];
    }
}

static EVP_PKEY *token_pkey_from(const char *alg, OSSL_PARAM_BLD *b)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, alg, NULL) : NULL;
    EVP_PKEY *pk = NULL;

    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *token_pkey_ec(const uint8_t *params, size_t plen, const uint8_t *pt,
                               size_t ptlen)
{
    const unsigned char *q = params;
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &q, (long)plen);
    const char *group = NULL;
    EVP_PKEY *pk = NULL;

    if (oid != NULL && q == params + plen)
        group = OBJ_nid2sn(OBJ_obj2nid(oid));
    ASN1_OBJECT_free(oid);
    if (group == NULL)
        return NULL;
    for (int pass = 0; pass < 2 && pk == NULL; pass++) {
        const uint8_t *in = pt;
        size_t inlen = ptlen;
        OSSL_PARAM_BLD *b;

        if (pass == 0)
            token_unwrap_octets(pt, ptlen, &in, &inlen);   /* DER, as PKCS#11 says */
        else if (in == pt)
            break;                                         /* raw was tried already */
        b = OSSL_PARAM_BLD_new();
        if (b != NULL &&
            OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
            OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, in, inlen))
            pk = token_pkey_from("EC", b);
        OSSL_PARAM_BLD_free(b);
    }
    return pk;
}

static EVP_PKEY *token_pkey_rsa(const uint8_t *mod, size_t mlen, const uint8_t *exp,
                                size_t elen)
{
    BIGNUM *n = BN_bin2bn(mod, (int)mlen, NULL), *e = BN_bin2bn(exp, (int)elen, NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;

    if (n != NULL && e != NULL && b != NULL &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e))
        pk = token_pkey_from("RSA", b);
    OSSL_PARAM_BLD_free(b);
    BN_free(n);
    BN_free(e);
    return pk;
}

long token_pubkey(struct token *t, const char *label, uint8_t *der, size_t cap,
                  char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[2];
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, src;
    uint8_t params[TOKEN_PARAMS_MAX], point[TOKEN_POINT_MAX], id[TOKEN_ID_MAX];
    uint8_t mod[TOKEN_MOD_MAX], exp[TOKEN_EXP_MAX];
    size_t plen = 0, ptlen = 0, idlen = 0, mlen = 0, elen = 0;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    struct token_key k;
    EVP_PKEY *pk = NULL;
    long rc;
    int n;

    if (t == NULL || label == NULL || (der == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    rc = token_lock_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto unlock;
    /* the public key with the same label, else the one with the private key's CKA_ID */
    tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, k.label, strlen(k.label) };
    rc = token_find1(t, tmpl, 2, &pub, err, errlen);
    if (rc == -ENOENT) {
        rc = token_attr(t, k.priv, CKA_ID, id, sizeof id, &idlen, err, errlen);
        if (rc == 0 && idlen > 0) {
            tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, idlen };
            rc = token_find1(t, tmpl, 2, &pub, err, errlen);
        } else if (rc == 0 || rc == -E2BIG) {
            rc = -ENOENT;
        }
    }
    if (rc == -ENOENT && k.ckk == CKK_RSA) {
        pub = CK_INVALID_HANDLE;            /* RSA: n and e are on the private key too */
        rc = 0;
    }
    if (rc == -ENOENT) {
        rc = errf(err, errlen, -ENOENT, "token: no public key for \"%s\"",
                  token_show(label, shown));
        goto unlock;
    }
    if (rc < 0)
        goto unlock;
    src = pub != CK_INVALID_HANDLE ? pub : k.priv;
    switch (k.ckk) {
    case CKK_RSA:
        rc = token_attr(t, src, CKA_MODULUS, mod, sizeof mod, &mlen, err, errlen);
        if (rc == 0)
            rc = token_attr(t, src, CKA_PUBLIC_EXPONENT, exp, sizeof exp, &elen, err, errlen);
        break;
    case CKK_EC:
    case CKK_EC_EDWARDS:
        if (k.ckk == CKK_EC_EDWARDS && k.type != TRE_TOKEN_KEY_ED25519) {
            rc = -EINVAL;
            break;
        }
        rc = token_attr(t, src, CKA_EC_PARAMS, params, sizeof params, &plen, err, errlen);
        if (rc == -ENOENT)
            rc = token_attr(t, k.priv, CKA_EC_PARAMS, params, sizeof params, &plen, err,
                            errlen);
        if (rc == 0)
            rc = token_attr(t, src, CKA_EC_POINT, point, sizeof point, &ptlen, err, errlen);
        break;
    default:
        rc = -EINVAL;
        break;
    }
    if (rc == -EINVAL) {
        rc = errf(err, errlen, -EINVAL, "token: \"%s\" is a key type trevisor cannot export",
                  token_show(label, shown));
        goto unlock;
    }
    if (rc == -ENOENT || rc == -E2BIG) {
        rc = errf(err, errlen, -EIO, "token: the public key of \"%s\" lacks an attribute or "
                  "has one too large", token_show(label, shown));
        goto unlock;
    }
    if (rc < 0)
        goto unlock;
    token_unlock(t);

    if (k.ckk == CKK_RSA) {
        pk = token_pkey_rsa(mod, mlen, exp, elen);
    } else if (k.ckk == CKK_EC) {
        pk = token_pkey_ec(params, plen, point, ptlen);
    } else {
        const uint8_t *in;
        size_t inlen;

        token_unwrap_octets(point, ptlen, &in, &inlen);
        if (inlen == 32)
            pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, in, inlen);
    }
    if (pk == NULL)
        return errf(err, errlen, -EIO, "token: the public key of \"%s\" is malformed",
                    token_show(label, shown));
    n = i2d_PUBKEY(pk, NULL);
    if (n <= 0) {
        rc = errf(err, errlen, -EIO, "token: cannot encode the public key of \"%s\"",
                  token_show(label, shown));
    } else if ((size_t)n > cap) {
        rc = errf(err, errlen, -ENOBUFS, "token: the public key needs %d bytes, the buffer "
                  "holds %zu", n, cap);
    } else {
        unsigned char *p = der;
        rc = i2d_PUBKEY(pk, &p) == n ? n : errf(err, errlen, -EIO, "token: i2d_PUBKEY failed");
    }
    EVP_PKEY_free(pk);
    return rc;
unlock:
    token_unlock(t);
    return rc;
}
