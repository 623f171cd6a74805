/* services/token_keys.c — the keys on the token: finds a private key by its label (and
 * remembers it per session), tells its type from CKA_KEY_TYPE, CKA_MODULUS and
 * CKA_EC_PARAMS, lists the private keys (token_list), and makes key pairs (token_generate,
 * and the SoftHSM2 default's keys). It must never make a private key extractable or
 * non-sensitive, nor trust an attribute length the module reports without checking it. */
#include "services/token_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "util/err.h"

#define TOKEN_LIST_MAX      1024u         /* private keys token_list looks at, at most */
#define TOKEN_MOD_MIN       128u          /* RSA modulus bytes: 1024 .. 8192 bits */

/* DER: OID prime256v1 (1.2.840.10045.3.1.7), OID id-Ed25519 (1.3.101.112) and the
 * PrintableString "edwards25519" that SoftHSM2 2.6 and OpenSC also use for it */
static const uint8_t token_oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
                                          0x01, 0x07 };
static const uint8_t token_oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t token_str_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
                                             '2', '5', '5', '1', '9' };

/* ---- objects ---- */

/* One object matching tmpl: 0, -ENOENT, or a token error. */
int token_find1(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h,
                char *err, size_t errlen)
{
    CK_OBJECT_HANDLE found[1] = { CK_INVALID_HANDLE };
    CK_ULONG got = 0;
    CK_RV rv, rv2;

    rv = t->f->C_FindObjectsInit(t->sess, tmpl, n);
    if (rv != CKR_OK)
        return token_fail(t, "C_FindObjectsInit", rv, err, errlen);
    rv = t->f->C_FindObjects(t->sess, found, 1, &got);
    rv2 = t->f->C_FindObjectsFinal(t->sess);
    if (rv != CKR_OK)
        return token_fail(t, "C_FindObjects", rv, err, errlen);
    if (rv2 != CKR_OK)
        return token_fail(t, "C_FindObjectsFinal", rv2, err, errlen);
    if (got == 0 || found[0] == CK_INVALID_HANDLE)
        return -ENOENT;
    *h = found[0];
    return 0;
}

/* One attribute into buf (cap bytes; buf NULL: only its length). -ENOENT the object has
 * no such attribute or it is secret, -E2BIG it is larger than cap, or a token error. */
int token_attr(struct token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf,
               size_t cap, size_t *len, char *err, size_t errlen)
{
    CK_ATTRIBUTE a = { type, buf, buf ? cap : 0 };
    CK_RV rv = t->f->C_GetAttributeValue(t->sess, h, &a, 1);

    *len = 0;
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
        return -ENOENT;
    if (rv == CKR_BUFFER_TOO_SMALL)
        return -E2BIG;
    if (rv != CKR_OK)
        return token_fail(t, "C_GetAttributeValue", rv, err, errlen);
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return -ENOENT;
    if (buf != NULL && a.ulValueLen > cap)
        return errf(err, errlen, -EIO, "token: the module returned %lu bytes for a %zu-byte "
                    "attribute buffer", (unsigned long)a.ulValueLen, cap);
    *len = a.ulValueLen;
    return 0;
}

/* k->ckk, type and modlen of the private key k->priv. */
static int token_classify(struct token *t, struct token_key *k, char *err, size_t errlen)
{
    CK_KEY_TYPE kt = 0;
    uint8_t params[TOKEN_PARAMS_MAX];
    size_t n = 0;
    int rc;

    k->type = TRE_TOKEN_KEY_OTHER;
    k->modlen = 0;
    rc = token_attr(t, k->priv, CKA_KEY_TYPE, &kt, sizeof kt, &n, err, errlen);
    if (rc == -ENOENT || rc == -E2BIG || (rc == 0 && n != sizeof kt)) {
        k->ckk = CKK_VENDOR_DEFINED;
        return 0;
    }
    if (rc < 0)
        return rc;
    k->ckk = kt;
    switch (kt) {
    case CKK_RSA:
        rc = token_attr(t, k->priv, CKA_MODULUS, NULL, 0, &n, err, errlen);
        if (rc == 0 && n >= TOKEN_MOD_MIN && n <= TOKEN_MOD_MAX) {
            k->modlen = n;
            if (n == 256)
                k->type = TRE_TOKEN_KEY_RSA2048;
        }
        break;
    case CKK_EC:
    case CKK_EC_EDWARDS:
        rc = token_attr(t, k->priv, CKA_EC_PARAMS, params, sizeof params, &n, err, errlen);
        if (rc != 0)
            break;
        if (kt == CKK_EC && n == sizeof token_oid_p256 && !memcmp(params, token_oid_p256, n))
            k->type = TRE_TOKEN_KEY_EC_P256;
        if (kt == CKK_EC_EDWARDS &&
            ((n == sizeof token_oid_ed25519 && !memcmp(params, token_oid_ed25519, n)) ||
             (n == sizeof token_str_ed25519 && !memcmp(params, token_str_ed25519, n))))
            k->type = TRE_TOKEN_KEY_ED25519;
        break;
    default:
        rc = 0;
        break;
    }
    if (rc == -ENOENT || rc == -E2BIG)
        rc = 0;                              /* a key we cannot use: listed as "other" */
    return rc;
}

/* With t->lock held and the session ready: the private key labelled label. */
int token_key(struct token *t, const char *label, struct token_key *out,
              char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[2];
    struct token_key k;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    size_t n = strnlen(label, TRE_TOKEN_LABEL_MAX + 1);
    int rc;

    if (n == 0 || n > TRE_TOKEN_LABEL_MAX)
        return errf(err, errlen, -ENOENT, "token: no key labelled \"%s\"",
                    token_show(label, shown));
    for (unsigned i = 0; i < t->ncache; i++)
        if (strcmp(t->cache[i].label, label) == 0) {
            *out = t->cache[i];
            return 0;
        }
    memset(&k, 0, sizeof k);
    memcpy(k.label, label, n);
    tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, k.label, n };
    rc = token_find1(t, tmpl, 2, &k.priv, err, errlen);
    if (rc == -ENOENT)
        return errf(err, errlen, -ENOENT, "token: no key labelled \"%s\"",
                    token_show(label, shown));
    if (rc < 0)
        return rc;
    rc = token_classify(t, &k, err, errlen);
    if (rc < 0)
        return rc;
    if (t->ncache < TOKEN_CACHE_MAX)
        t->cache[t->ncache++] = k;
    else
        t->cache[t->evict++ % TOKEN_CACHE_MAX] = k;
    *out = k;
    return 0;
}

/* Takes t->lock, readies the session and finds the private key labelled label; the caller
 * calls token_unlock whatever this returns. */
int token_lock_key(struct token *t, const char *label, struct token_key *out,
                   char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0)
        rc = token_key(t, label, out, err, errlen);
    return rc;
}

/* ---- types and the list ---- */

int token_key_type(struct token *t, const char *label, char *err, size_t errlen)
{
    struct token_key k;
    int rc;

    if (t == NULL || label == NULL)
        return errf(err, errlen, -EINVAL, "token: no token or label");
    rc = token_lock_key(t, label, &k, err, errlen);
    token_unlock(t);
    return rc < 0 ? rc : k.type;
}

struct token_listed {
    char label[TRE_TOKEN_LABEL_MAX + 1];
    int type;
};

int token_list(struct token *t, void (*fn)(void *ctx, const char *label, int type), void *ctx,
               char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[1] = { { CKA_CLASS, &cls, sizeof cls } };
    CK_OBJECT_HANDLE *h = NULL;
    struct token_listed *v = NULL;
    CK_ULONG got = 0, total = 0;
    size_t nv = 0;
    CK_RV rv, rv2;
    int rc;

    if (t == NULL || fn == NULL)
        return errf(err, errlen, -EINVAL, "token: no token or callback");
    h = calloc(TOKEN_LIST_MAX, sizeof *h);
    v = calloc(TOKEN_LIST_MAX, sizeof *v);
    if (h == NULL || v == NULL) {
        free(h);
        free(v);
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    }
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc < 0)
        goto unlock;
    rv = t->f->C_FindObjectsInit(t->sess, tmpl, 1);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_FindObjectsInit", rv, err, errlen);
        goto unlock;
    }
    rv = CKR_OK;
    while (total < TOKEN_LIST_MAX) {
        CK_ULONG want = TOKEN_LIST_MAX - total < 64 ? TOKEN_LIST_MAX - total : 64;

        got = 0;
        rv = t->f->C_FindObjects(t->sess, h + total, want, &got);
        if (rv != CKR_OK || got == 0 || got > want)
            break;
        total += got;
    }
    rv2 = t->f->C_FindObjectsFinal(t->sess);
    if (rv != CKR_OK || rv2 != CKR_OK) {
        rc = token_fail(t, rv != CKR_OK ? "C_FindObjects" : "C_FindObjectsFinal",
                        rv != CKR_OK ? rv : rv2, err, errlen);
        goto unlock;
    }
    for (CK_ULONG i = 0; i < total; i++) {
        struct token_key k;
        size_t n = 0;

        memset(&k, 0, sizeof k);
        k.priv = h[i];
        rc = token_attr(t, h[i], CKA_LABEL, k.label, TRE_TOKEN_LABEL_MAX, &n, err, errlen);
        if (rc == -ENOENT || rc == -E2BIG || (rc == 0 && (n == 0 || memchr(k.label, 0, n))))
            continue;                        /* no label a program could name */
        if (rc < 0)
            goto unlock;
        k.label[n] = '\0';
        rc = token_classify(t, &k, err, errlen);
        if (rc < 0)
            goto unlock;
        memcpy(v[nv].label, k.label, n + 1);
        v[nv].type = k.type;
        nv++;
    }
    rc = 0;
unlock:
    token_unlock(t);
    for (size_t i = 0; rc == 0 && i < nv; i++)
        fn(ctx, v[i].label, v[i].type);      /* without the lock: fn may call us */
    free(h);
    free(v);
    return rc;
}

/* ---- key generation ---- */

static int token_label_ok(const char *label)
{
    size_t n = strnlen(label, TRE_TOKEN_LABEL_MAX + 1);

    if (n == 0 || n > TRE_TOKEN_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = label[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* With t->lock held and the session ready. */
int token_keygen(struct token *t, const char *label, int type, char *err, size_t errlen)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt;
    CK_ULONG bits = 2048;
    CK_BYTE e65537[] = { 0x01, 0x00, 0x01 };
    CK_MECHANISM m = { 0, NULL, 0 };
    CK_MECHANISM_INFO mi;
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    CK_ATTRIBUTE pub[12], priv[14];
    CK_ULONG npub = 0, npriv = 0, lablen = strlen(label);
    uint8_t id[16];
    const char *what;
    CK_RV rv;

    switch (type) {
    case TRE_TOKEN_KEY_EC_P256:
        kt = CKK_EC; m.mechanism = CKM_EC_KEY_PAIR_GEN; what = "EC P-256";
        break;
    case TRE_TOKEN_KEY_RSA2048:
        kt = CKK_RSA; m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN; what = "RSA-2048";
        break;
    case TRE_TOKEN_KEY_ED25519:
        kt = CKK_EC_EDWARDS; m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN; what = "Ed25519";
        break;
    default:
        return errf(err, errlen, -EINVAL, "token: cannot generate key type %d", type);
    }
    rv = t->f->C_GetMechanismInfo(t->slot, m.mechanism, &mi);
    if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && !(mi.flags & CKF_GENERATE_KEY_PAIR)))
        return errf(err, errlen, -EOPNOTSUPP, "token: \"%s\" cannot generate %s keys",
                    t->label, what);
    if (rv != CKR_OK)
        return token_fail(t, "C_GetMechanismInfo", rv, err, errlen);
    if (RAND_bytes(id, sizeof id) != 1)
        return errf(err, errlen, -EIO, "token: no random bytes for the key id");

#define TOKEN_ADD(tm, n, typ, val, len) ((tm)[(n)++] = (CK_ATTRIBUTE){ (typ), (val), (len) })
    TOKEN_ADD(pub, npub, CKA_CLASS, &pubc, sizeof pubc);
    TOKEN_ADD(pub, npub, CKA_KEY_TYPE, &kt, sizeof kt);
    TOKEN_ADD(pub, npub, CKA_TOKEN, &yes, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_PRIVATE, &no, sizeof no);
    TOKEN_ADD(pub, npub, CKA_VERIFY, &yes, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_LABEL, (void *)label, lablen);
    TOKEN_ADD(pub, npub, CKA_ID, id, sizeof id);
    TOKEN_ADD(priv, npriv, CKA_CLASS, &privc, sizeof privc);
    TOKEN_ADD(priv, npriv, CKA_KEY_TYPE, &kt, sizeof kt);
    TOKEN_ADD(priv, npriv, CKA_TOKEN, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_PRIVATE, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_SENSITIVE, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_EXTRACTABLE, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_SIGN, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_LABEL, (void *)label, lablen);
    TOKEN_ADD(priv, npriv, CKA_ID, id, sizeof id);
    /* nothing beyond what the mechanisms need (SoftHSM2's defaults allow more) */
    TOKEN_ADD(pub, npub, CKA_WRAP, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_UNWRAP, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_DERIVE, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_DECRYPT, type == TRE_TOKEN_KEY_RSA2048 ? &yes : &no, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_ENCRYPT, type == TRE_TOKEN_KEY_RSA2048 ? &yes : &no, sizeof yes);
    if (type == TRE_TOKEN_KEY_RSA2048) {
        TOKEN_ADD(pub, npub, CKA_MODULUS_BITS, &bits, sizeof bits);
        TOKEN_ADD(pub, npub, CKA_PUBLIC_EXPONENT, e65537, sizeof e65537);
    } else if (type == TRE_TOKEN_KEY_EC_P256) {
        TOKEN_ADD(pub, npub, CKA_EC_PARAMS, (void *)token_oid_p256, sizeof token_oid_p256);
    } else {
        TOKEN_ADD(pub, npub, CKA_EC_PARAMS, (void *)token_oid_ed25519,
                  sizeof token_oid_ed25519);
    }
#undef TOKEN_ADD
    rv = t->f->C_GenerateKeyPair(t->sess, &m, pub, npub, priv, npriv, &hpub, &hpriv);
    if (type == TRE_TOKEN_KEY_ED25519 &&
        (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_CURVE_NOT_SUPPORTED ||
         rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)) {
        /* a module that knows Ed25519 only by its curve name */
        pub[npub - 1] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)token_str_ed25519,
                                        sizeof token_str_ed25519 };
        rv = t->f->C_GenerateKeyPair(t->sess, &m, pub, npub, priv, npriv, &hpub, &hpriv);
    }
    if (rv != CKR_OK)
        return token_fail(t, "C_GenerateKeyPair", rv, err, errlen);
    return 0;
}

int token_generate(struct token *t, const char *label, int type, char *err, size_t errlen)
{
    struct token_key k;
    int rc;

    if (t == NULL || label == NULL || !token_label_ok(label))
        return errf(err, errlen, -EINVAL, "token: a key label has 1..%d characters of "
                    "A-Z a-z 0-9 . _ -", TRE_TOKEN_LABEL_MAX);
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0) {
        rc = token_key(t, label, &k, err, errlen);
        if (rc == 0)
            rc = errf(err, errlen, -EEXIST, "token: a key labelled \"%s\" exists", label);
        else if (rc == -ENOENT)
            rc = token_keygen(t, label, type, err, errlen);
    }
    token_unlock(t);
    return rc;
}
