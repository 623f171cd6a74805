/* measure/sealer_blob.c — a TRE program's sealed blobs (measure/sealer.h): the format
 * ("TRSB", docs/sealing.md "The blob"), the per-blob AES-256-GCM key derived from the
 * master, the vendor key id, the program name, the svn and a random salt, and seal and
 * unseal. It treats every byte of a blob as hostile, opens a blob only for the vendor
 * and name it was sealed for and never for an older svn, and wipes every key and every
 * plaintext it no longer needs. It needs no lock and no TPM. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/sealer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "measure/sealer_impl.h"
#include "trevisor/abi.h"
#include "util/err.h"

_Static_assert(SEAL_BLOB_HDR_LEN + SEAL_BLOB_TAG_LEN == TRE_SEAL_OVERHEAD,
               "the blob's overhead is its header and tag");

static const char INFO_SEAL[] = "trevisor-seal v1";       /* used with its NUL */
static const char BAD_BLOB[] =
    "unseal: blob was not sealed by this program under this launch, or was altered";

/* ---- keys and the cipher ---- */

/* key = HKDF-SHA256(master, salt, "trevisor-seal v1\0" || keyid || name || u32le svn) */
static int blob_key(const struct sealer *s, const uint8_t salt[16], const uint8_t keyid[8],
                    const char name[32], uint32_t svn, uint8_t key[32])
{
    uint8_t info[sizeof INFO_SEAL + 8 + 32 + 4];
    memcpy(info, INFO_SEAL, sizeof INFO_SEAL);
    memcpy(info + sizeof INFO_SEAL, keyid, 8);
    memcpy(info + sizeof INFO_SEAL + 8, name, 32);
    sealer_put_le32(info + sizeof INFO_SEAL + 40, svn);
    return sealer_hkdf(s->sec->master, salt, 16, info, sizeof info, key);
}

/* AES-256-GCM over in[0..n) with the AAD; enc writes tag, !enc checks it. 1 if good. */
static int gcm(int enc, const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = 0, l;
    if (!c)
        return 0;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(c, NULL, &l, aad, (int)aad_len) != 1)
        goto out;
    if (n && EVP_CipherUpdate(c, out, &l, in, (int)n) != 1)
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
        goto out;
    uint8_t fin[16];                 /* GCM's final step writes no bytes */
    if (EVP_CipherFinal_ex(c, fin, &l) != 1)
        goto out;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
        goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* ---- the blob ---- */

int sealer_blob_parse_header(const uint8_t *blob, size_t len, struct seal_blob_hdr *h)
{
    if (!blob || !h || len < TRE_SEAL_OVERHEAD || len - TRE_SEAL_OVERHEAD > TRE_SEAL_MAX)
        return -EBADMSG;
    if (memcmp(blob, "TRSB", 4) != 0 || blob[4] != 1 || blob[5] || blob[6] || blob[7])
        return -EBADMSG;
    h->svn = sealer_get_le32(blob + 8);
    memcpy(h->keyid, blob + 12, 8);
    memcpy(h->salt, blob + 20, 16);
    memcpy(h->iv, blob + 36, 12);
    h->data_len = len - TRE_SEAL_OVERHEAD;
    return 0;
}

long sealer_seal(struct sealer *s, const struct seal_identity *id, const void *data,
                 size_t len, uint8_t *blob, size_t cap, char *err, size_t errlen)
{
    if (!s || !id || (!data && len) || !blob)
        return errf(err, errlen, -EINVAL, "seal: bad arguments");
    if (len > TRE_SEAL_MAX)
        return errf(err, errlen, -E2BIG, "seal: %zu bytes is over the limit of %u", len,
                    TRE_SEAL_MAX);
    size_t need = len + TRE_SEAL_OVERHEAD;
    if (cap < need)
        return errf(err, errlen, -ENOBUFS, "seal: the blob needs %zu bytes, the buffer has %zu",
                    need, cap);
    char name[32];
    memset(name, 0, sizeof name);
    memcpy(name, id->name, strnlen(id->name, sizeof id->name));
    uint8_t hdr[SEAL_BLOB_HDR_LEN];
    memcpy(hdr, "TRSB", 4);
    hdr[4] = 1;
    hdr[5] = hdr[6] = hdr[7] = 0;
    sealer_put_le32(hdr + 8, id->svn);
    memcpy(hdr + 12, id->keyid, 8);
    if (RAND_bytes(hdr + 20, 16 + 12) != 1)
        return errf(err, errlen, -EIO, "seal: no randomness");
    uint8_t key[32];
    int r = blob_key(s, hdr + 20, id->keyid, name, id->svn, key);
    if (r < 0)
        return errf(err, errlen, r, "seal: key derivation failed");
    /* the header goes in last: data may not alias blob, but be safe with the AAD copy */
    int ok = gcm(1, key, hdr + 36, hdr, sizeof hdr, data, len, blob + SEAL_BLOB_HDR_LEN,
                 blob + SEAL_BLOB_HDR_LEN + len);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) {
        OPENSSL_cleanse(blob, need);
        return errf(err, errlen, -EIO, "seal: encryption failed");
    }
    memcpy(blob, hdr, sizeof hdr);
    return (long)need;
}

long sealer_unseal(struct sealer *s, const struct seal_identity *id, const uint8_t *blob,
                   size_t len, uint8_t *data, size_t cap, char *err, size_t errlen)
{
    if (!s || !id || !blob)
        return errf(err, errlen, -EINVAL, "unseal: bad arguments");
    struct seal_blob_hdr h;
    if (sealer_blob_parse_header(blob, len, &h) < 0 || memcmp(h.keyid, id->keyid, 8) != 0)
        return errf(err, errlen, -EBADMSG, "%s", BAD_BLOB);
    int newer = h.svn > id->svn;
    if (!newer && (cap < h.data_len || (!data && h.data_len)))
        return errf(err, errlen, -ENOBUFS, "unseal: the data is %zu bytes, the buffer %zu",
                    h.data_len, cap);
    char name[32];
    memset(name, 0, sizeof name);
    memcpy(name, id->name, strnlen(id->name, sizeof id->name));
    uint8_t key[32], tag[16];
    memcpy(tag, blob + SEAL_BLOB_HDR_LEN + h.data_len, 16);
    int r = blob_key(s, h.salt, id->keyid, name, h.svn, key);
    if (r < 0)
        return errf(err, errlen, r, "unseal: key derivation failed");
    /* A newer program's blob is checked too, into scratch memory that is wiped: only an
     * authentic one gets -EACCES, anything altered gets -EBADMSG. */
    uint8_t *out = data;
    if (newer && !(out = malloc(h.data_len + 1))) {
        OPENSSL_cleanse(key, sizeof key);
        return errf(err, errlen, -ENOMEM, "unseal: out of memory");
    }
    int ok = gcm(0, key, h.iv, blob, SEAL_BLOB_HDR_LEN, blob + SEAL_BLOB_HDR_LEN, h.data_len,
                 out, tag);
    OPENSSL_cleanse(key, sizeof key);
    if (newer) {
        OPENSSL_cleanse(out, h.data_len + 1);
        free(out);
        if (!ok)
            return errf(err, errlen, -EBADMSG, "%s", BAD_BLOB);
        char shown[33];
        sealer_name_show(name, shown);
        return errf(err, errlen, -EACCES, "unseal: sealed by a newer version of %s (svn %u; "
                    "this is svn %u)", shown, h.svn, id->svn);
    }
    if (!ok) {
        if (h.data_len)
            OPENSSL_cleanse(data, h.data_len);
        return errf(err, errlen, -EBADMSG, "%s", BAD_BLOB);
    }
    return (long)h.data_len;
}
