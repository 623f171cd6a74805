/* measure/sealer.c — sealing for TRE programs (measure/sealer.h): the master secret sealed
 * in the TPM to the launch measurement, the per-program AES-256-GCM keys derived from it,
 * the blob format, and the rollback store whose SHA-256 the TPM keeps in an NV index only
 * this launch can write. It never writes a secret unsealed, never overwrites a master
 * blob, never accepts a store file the TPM does not vouch for, and treats every byte of a
 * blob or a file as hostile. See docs/sealing.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/sealer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "measure/tpm.h"
#include "trevisor/abi.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

_Static_assert(SEAL_BLOB_HDR_LEN + SEAL_BLOB_TAG_LEN == TRE_SEAL_OVERHEAD,
               "the blob's overhead is its header and tag");

/* The NV indices trevisor defines for its stores: a window in the range the TCG registry
 * leaves unassigned (0x01800000-0x01BFFFFF). Each launch measurement probes from a slot
 * derived from its PCR value. */
#define NV_BASE   0x018EA000u
#define NV_WINDOW 4096u
#define NV_PROBES 64u

#define SVN_HDR 24
#define SVN_REC 48
#define SVN_MAC 32

static const char INFO_SEAL[] = "trevisor-seal v1";       /* each used with its NUL */
static const char INFO_SVN[] = "trevisor-svn v1";
static const char INFO_NV[] = "trevisor-svn-nv v1";
static const char BAD_BLOB[] =
    "unseal: blob was not sealed by this program under this launch, or was altered";

/* Secrets live in one locked page, never swapped or dumped, wiped on free. */
struct secrets {
    uint8_t master[32];
    uint8_t svn_key[32];       /* HMAC key of the store file */
    uint8_t nv_auth[32];       /* authValue of the store's NV index */
};

struct sealer {
    pthread_mutex_t mu;        /* guards db, broken; seal/unseal need no lock */
    struct tpm *tpm;           /* NULL: detached (tests) */
    struct secrets *sec;
    size_t sec_len;
    char dir[PATH_MAX];        /* STATE/seal */
    char db_path[PATH_MAX + 96];
    char tmp_path[PATH_MAX + 100];
    struct seal_svndb db;      /* the committed store */
    int broken;                /* an update left the TPM's record uncertain */
    char broken_msg[256];
};

/* ---- small helpers ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[b[i] >> 4];
        out[2 * i + 1] = h[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* A name as shown in a message: at most 32 bytes, unprintable bytes as '?'. */
static void show_name(const char name[32], char out[33])
{
    size_t i = 0;
    for (; i < 32 && name[i]; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    out[i] = 0;
}

/* The first NUL-terminated 1..32 bytes (at most max_in read), NUL-padded to 32. */
static int canon_name(const char *name, size_t max_in, char out[32])
{
    size_t n = strnlen(name, max_in);
    if (n == 0 || n > 32)
        return -EINVAL;
    memset(out, 0, 32);
    memcpy(out, name, n);
    return 0;
}

static int name_is_canonical(const char name[32])
{
    size_t n = strnlen(name, 32);
    if (n == 0)
        return 0;
    for (size_t i = n; i < 32; i++)
        if (name[i])
            return 0;
    return 1;
}

/* Records order by key id, then name. */
static int rec_cmp(const uint8_t keyid[8], const char name[32], const struct seal_svn_record *r)
{
    int c = memcmp(keyid, r->keyid, 8);
    return c ? c : memcmp(name, r->name, 32);
}

/* ---- crypto ---- */

static int hkdf(const uint8_t ikm[32], const uint8_t *salt, size_t salt_len,
                const uint8_t *info, size_t info_len, uint8_t out[32])
{
    char md[] = "SHA256";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[5], *q = p;
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, 32);
    if (salt_len)
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *q = OSSL_PARAM_construct_end();
    int ok = c && EVP_KDF_derive(c, out, 32, p) == 1;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok ? 0 : -EIO;
}

/* key = HKDF-SHA256(master, salt, "trevisor-seal v1\0" || keyid || name || u32le svn) */
static int blob_key(const struct sealer *s, const uint8_t salt[16], const uint8_t keyid[8],
                    const char name[32], uint32_t svn, uint8_t key[32])
{
    uint8_t info[sizeof INFO_SEAL + 8 + 32 + 4];
    memcpy(info, INFO_SEAL, sizeof INFO_SEAL);
    memcpy(info + sizeof INFO_SEAL, keyid, 8);
    memcpy(info + sizeof INFO_SEAL + 8, name, 32);
    put_le32(info + sizeof INFO_SEAL + 40, svn);
    return hkdf(s->sec->master, salt, 16, info, sizeof info, key);
}

static int derive_store_keys(struct sealer *s)
{
    int r = hkdf(s->sec->master, NULL, 0, (const uint8_t *)INFO_SVN, sizeof INFO_SVN,
                 s->sec->svn_key);
    if (r == 0)
        r = hkdf(s->sec->master, NULL, 0, (const uint8_t *)INFO_NV, sizeof INFO_NV,
                 s->sec->nv_auth);
    return r;
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
    h->svn = get_le32(blob + 8);
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
    put_le32(hdr + 8, id->svn);
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
        show_name(name, shown);
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

/* ---- the store file ---- */

static int nv_index_ok(uint32_t idx)
{
    return idx >= NV_BASE && idx < NV_BASE + NV_WINDOW;
}

void sealer_svndb_clear(struct seal_svndb *db)
{
    if (!db)
        return;
    free(db->recs);
    memset(db, 0, sizeof *db);
}

int sealer_svndb_parse(const uint8_t *buf, size_t len, const uint8_t key[32],
                       struct seal_svndb *db, char *err, size_t errlen)
{
    memset(db, 0, sizeof *db);
    if (!buf || len < SVN_HDR + SVN_MAC)
        return errf(err, errlen, -EBADMSG, "svn store: too short (%zu bytes)", len);
    if (memcmp(buf, "TRSV", 4) != 0)
        return errf(err, errlen, -EBADMSG, "svn store: not a trevisor svn store");
    if (buf[4] != 1)
        return errf(err, errlen, -EBADMSG, "svn store: version %u is not supported", buf[4]);
    uint8_t mac[32];
    unsigned maclen = 0;
    if (!HMAC(EVP_sha256(), key, 32, buf, len - SVN_MAC, mac, &maclen) || maclen != 32)
        return errf(err, errlen, -EIO, "svn store: HMAC failed");
    if (CRYPTO_memcmp(mac, buf + len - SVN_MAC, SVN_MAC) != 0)
        return errf(err, errlen, -EBADMSG, "svn store: its MAC does not verify (altered, or "
                    "made under another launch measurement)");
    if (buf[5] || buf[6] || buf[7])
        return errf(err, errlen, -EBADMSG, "svn store: reserved bytes are not zero");
    uint32_t idx = get_le32(buf + 8), count = get_le32(buf + 12);
    if (!nv_index_ok(idx))
        return errf(err, errlen, -EBADMSG, "svn store: NV index 0x%08x is outside 0x%08x-0x%08x",
                    idx, NV_BASE, NV_BASE + NV_WINDOW - 1);
    if (count > SEALER_SVN_MAX_RECORDS)
        return errf(err, errlen, -EBADMSG, "svn store: %u records (at most %d)", count,
                    SEALER_SVN_MAX_RECORDS);
    if (len != SVN_HDR + (size_t)count * SVN_REC + SVN_MAC)
        return errf(err, errlen, -EBADMSG, "svn store: %zu bytes do not hold %u records", len,
                    count);
    struct seal_svn_record *recs = calloc(count ? count : 1, sizeof *recs);
    if (!recs)
        return errf(err, errlen, -ENOMEM, "svn store: out of memory");
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *p = buf + SVN_HDR + (size_t)i * SVN_REC;
        struct seal_svn_record *r = &recs[i];
        memcpy(r->keyid, p, 8);
        memcpy(r->name, p + 8, 32);
        r->svn = get_le32(p + 40);
        if (get_le32(p + 44) != 0 || !name_is_canonical(r->name) ||
            (i > 0 && rec_cmp(r->keyid, r->name, &recs[i - 1]) <= 0)) {
            free(recs);
            return errf(err, errlen, -EBADMSG, "svn store: record %u is malformed or out of "
                        "order", i);
        }
    }
    db->nv_index = idx;
    db->generation = get_le64(buf + 16);
    db->count = count;
    db->recs = recs;
    return 0;
}

long sealer_svndb_encode(const struct seal_svndb *db, const uint8_t key[32], uint8_t *out,
                         size_t cap)
{
    if (!db || db->count > SEALER_SVN_MAX_RECORDS || (db->count && !db->recs) ||
        !nv_index_ok(db->nv_index))
        return -EINVAL;
    for (size_t i = 0; i < db->count; i++)
        if (!name_is_canonical(db->recs[i].name) ||
            (i > 0 && rec_cmp(db->recs[i].keyid, db->recs[i].name, &db->recs[i - 1]) <= 0))
            return -EINVAL;
    size_t need = SVN_HDR + db->count * SVN_REC + SVN_MAC;
    if (!out || cap < need)
        return -ENOBUFS;
    memcpy(out, "TRSV", 4);
    out[4] = 1;
    out[5] = out[6] = out[7] = 0;
    put_le32(out + 8, db->nv_index);
    put_le32(out + 12, (uint32_t)db->count);
    put_le64(out + 16, db->generation);
    for (size_t i = 0; i < db->count; i++) {
        uint8_t *p = out + SVN_HDR + i * SVN_REC;
        memcpy(p, db->recs[i].keyid, 8);
        memcpy(p + 8, db->recs[i].name, 32);
        put_le32(p + 40, db->recs[i].svn);
        put_le32(p + 44, 0);
    }
    unsigned maclen = 0;
    if (!HMAC(EVP_sha256(), key, 32, out, need - SVN_MAC, out + need - SVN_MAC, &maclen) ||
        maclen != 32)
        return -EIO;
    return (long)need;
}

/* ---- files ---- */

static int write_fd_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes and fsyncs path (mode 0600, never through a symlink); excl: it must not exist. */
static int write_synced(const char *path, const uint8_t *buf, size_t len, int excl)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (excl ? O_EXCL : O_TRUNC),
                  0600);
    if (fd < 0)
        return -errno;
    int r = write_fd_all(fd, buf, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        unlink(path);
    return r;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* ---- the store: commit and load ---- */

enum { COMMIT_NOTHING, COMMIT_UNCERTAIN, COMMIT_DONE };

/* Makes ndb the committed store: the new file to NAME.tmp (fsynced), its SHA-256 into the
 * NV index, then the rename. *stage says how far it got: COMMIT_NOTHING (the TPM's
 * record is unchanged), COMMIT_UNCERTAIN (the NV write failed: it may or may not have
 * happened), COMMIT_DONE (the TPM holds the new hash, even if the rename then failed). */
static int store_commit(struct sealer *s, const struct seal_svndb *ndb, int *stage,
                        char *err, size_t errlen)
{
    *stage = COMMIT_NOTHING;
    size_t cap = SVN_HDR + ndb->count * SVN_REC + SVN_MAC;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return errf(err, errlen, -ENOMEM, "out of memory");
    int r;
    long n = sealer_svndb_encode(ndb, s->sec->svn_key, buf, cap);
    if (n < 0) {
        r = errf(err, errlen, (int)n, "cannot encode the store");
        goto out;
    }
    if ((r = write_synced(s->tmp_path, buf, (size_t)n, 0)) < 0) {
        r = errf(err, errlen, r, "%s: %s", s->tmp_path, strerror(-r));
        goto out;
    }
    uint8_t h[32];
    SHA256(buf, (size_t)n, h);
    char terr[256] = "";
    *stage = COMMIT_UNCERTAIN;
    r = tpm_nv_write(s->tpm, ndb->nv_index, s->sec->nv_auth, sizeof s->sec->nv_auth, h,
                     sizeof h, terr, sizeof terr);
    if (r < 0) {
        r = errf(err, errlen, r, "%s", terr);
        goto out;
    }
    *stage = COMMIT_DONE;
    if (rename(s->tmp_path, s->db_path) < 0) {
        r = errf(err, errlen, -errno, "rename to %s: %s", s->db_path, strerror(errno));
        goto out;
    }
    fsync_dir(s->dir);
    r = 0;
out:
    free(buf);
    return r;
}

/* Reads one candidate store file: 1 parsed and authentic (db, hash filled), 0 absent or
 * not authentic (why says which), <0 an I/O error. */
static int store_candidate(struct sealer *s, const char *path, struct seal_svndb *db,
                           uint8_t hash[32], char *why, size_t whylen)
{
    char *buf = NULL;
    size_t len = 0;
    int r = file_read_all(path, SEALER_SVNDB_MAX, &buf, &len);
    if (r == -ENOENT) {
        snprintf(why, whylen, "missing");
        return 0;
    }
    if (r == -EFBIG || r == -EINVAL) {
        snprintf(why, whylen, "%s", r == -EFBIG ? "too large" : "not a regular file");
        return 0;
    }
    if (r < 0)
        return r;
    r = sealer_svndb_parse((const uint8_t *)buf, len, s->sec->svn_key, db, why, whylen);
    if (r == 0)
        SHA256((const uint8_t *)buf, len, hash);
    free(buf);
    if (r == -ENOMEM || r == -EIO)
        return r;
    return r == 0 ? 1 : 0;
}

/* Opens the existing store of this master: the file (or a leftover NAME.tmp from an
 * interrupted update) whose SHA-256 the TPM's NV index holds. Anything else is refused. */
static int store_load(struct sealer *s, char *err, size_t errlen)
{
    struct seal_svndb d1, d2;
    uint8_t h1[32], h2[32], nv[32];
    char why1[160] = "", why2[160] = "", terr[256] = "";
    memset(&d1, 0, sizeof d1);
    memset(&d2, 0, sizeof d2);
    int r, ok1 = store_candidate(s, s->db_path, &d1, h1, why1, sizeof why1);
    int ok2 = store_candidate(s, s->tmp_path, &d2, h2, why2, sizeof why2);
    if (ok1 < 0 || ok2 < 0) {
        r = errf(err, errlen, ok1 < 0 ? ok1 : ok2, "seal: cannot read %s: %s", s->db_path,
                 strerror(-(ok1 < 0 ? ok1 : ok2)));
        goto out;
    }
    if (!ok1 && !ok2) {
        if (!strcmp(why1, "missing"))
            r = errf(err, errlen, -EBADMSG, "seal: %s is missing although its master exists: "
                     "refusing, since a deleted store would undo rollback protection "
                     "(docs/sealing.md)", s->db_path);
        else
            r = errf(err, errlen, -EBADMSG, "seal: %s was altered: %s", s->db_path, why1);
        goto out;
    }
    uint32_t idx = ok1 ? d1.nv_index : d2.nv_index;
    r = tpm_nv_read(s->tpm, idx, s->sec->nv_auth, sizeof s->sec->nv_auth, nv, sizeof nv,
                    terr, sizeof terr);
    if (r < 0 && r != -ENOENT && r != -ENODATA && r != -EACCES && r != -EBADMSG) {
        r = errf(err, errlen, r, "seal: cannot read the store's NV index: %s", terr);
        goto out;
    }
    if (r < 0) {
        r = errf(err, errlen, -EBADMSG, "seal: the TPM's record of %s is gone or was replaced "
                 "(%s): refusing the store", s->db_path, terr);
        goto out;
    }
    struct seal_svndb *use = NULL;
    if (ok1 && CRYPTO_memcmp(h1, nv, 32) == 0) {
        use = &d1;
        unlink(s->tmp_path);
    } else if (ok2 && CRYPTO_memcmp(h2, nv, 32) == 0 && d2.nv_index == idx) {
        /* an update that stopped between the TPM's record and the rename */
        if (rename(s->tmp_path, s->db_path) < 0) {
            r = errf(err, errlen, -errno, "seal: rename to %s: %s", s->db_path, strerror(errno));
            goto out;
        }
        fsync_dir(s->dir);
        tlog("seal", "finished an interrupted update of %s", s->db_path);
        use = &d2;
    } else {
        if (ok1)
            r = errf(err, errlen, -EBADMSG, "seal: %s is older than the TPM's record of it: a "
                     "rollback of the store (an old copy put back?); refusing", s->db_path);
        else
            r = errf(err, errlen, -EBADMSG, "seal: %s was altered (%s)", s->db_path, why1);
        goto out;
    }
    s->db = *use;
    memset(use, 0, sizeof *use);
    r = 0;
out:
    sealer_svndb_clear(&d1);
    sealer_svndb_clear(&d2);
    return r;
}

/* ---- open / free ---- */

static struct sealer *sealer_alloc(void)
{
    struct sealer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    long pg = sysconf(_SC_PAGESIZE);
    s->sec_len = pg > 0 && (size_t)pg >= sizeof(struct secrets) ? (size_t)pg : 4096;
    void *p = mmap(NULL, s->sec_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return NULL;
    }
    s->sec = p;
    if (mlock(p, s->sec_len) < 0)
        tlog("seal", "warning: cannot lock the master's page in memory (%s): it may be "
             "swapped", strerror(errno));
    madvise(p, s->sec_len, MADV_DONTDUMP);
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void sealer_free(struct sealer *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->sec, s->sec_len);
    munlock(s->sec, s->sec_len);
    munmap(s->sec, s->sec_len);
    sealer_svndb_clear(&s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int sealer_new_detached(const uint8_t master[32], struct sealer **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    struct sealer *s = sealer_alloc();
    if (!s)
        return errf(err, errlen, -ENOMEM, "seal: out of memory");
    memcpy(s->sec->master, master, 32);
    if (derive_store_keys(s) < 0) {
        sealer_free(s);
        return errf(err, errlen, -EIO, "seal: key derivation failed");
    }
    *out = s;
    return 0;
}

static int unseal_master(struct sealer *s, const char *path, const uint8_t *blob, size_t len,
                         char *err, size_t errlen)
{
    uint8_t m[TPM_SEAL_DATA_MAX];
    size_t n = sizeof m;
    char terr[256] = "";
    int r = tpm_unseal(s->tpm, blob, len, m, &n, terr, sizeof terr);
    if (r == -EACCES)
        return errf(err, errlen, r, "seal: the TPM refuses to unseal %s (made under another "
                    "measurement, or tampered): %s", path, terr);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot unseal %s: %s", path, terr);
    if (n != 32) {
        OPENSSL_cleanse(m, sizeof m);
        return errf(err, errlen, -EBADMSG, "seal: %s holds %zu bytes, not a 32-byte master",
                    path, n);
    }
    memcpy(s->sec->master, m, 32);
    OPENSSL_cleanse(m, sizeof m);
    return 0;
}

/* First open under this measurement: a new master, sealed; an NV index for its store; an
 * empty store committed; then the master blob, linked into place last (never over an
 * existing file). Until that link, a crash leaves nothing that a later open would use. */
static int create_master(struct sealer *s, unsigned pcr, const uint8_t pv[32],
                         const char *path, char *err, size_t errlen)
{
    char terr[256] = "";
    uint8_t blob[TPM_SEALED_MAX];
    size_t bl = sizeof blob;
    int r, stage;
    if (RAND_bytes(s->sec->master, 32) != 1)
        return errf(err, errlen, -EIO, "seal: no randomness for a master");
    if (derive_store_keys(s) < 0)
        return errf(err, errlen, -EIO, "seal: key derivation failed");
    r = tpm_seal(s->tpm, pcr, pv, s->sec->master, 32, blob, &bl, terr, sizeof terr);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot seal a new master: %s", terr);

    uint8_t seed[sizeof INFO_NV + 32], h[32];
    memcpy(seed, INFO_NV, sizeof INFO_NV);
    memcpy(seed + sizeof INFO_NV, pv, 32);
    SHA256(seed, sizeof seed, h);
    uint32_t start = ((uint32_t)h[0] << 8 | h[1]) % NV_WINDOW, idx = 0;
    r = -ENOSPC;
    for (uint32_t i = 0; i < NV_PROBES && r == -ENOSPC; i++) {
        idx = NV_BASE + (start + i) % NV_WINDOW;
        int d = tpm_nv_define(s->tpm, idx, 32, s->sec->nv_auth, sizeof s->sec->nv_auth, terr,
                              sizeof terr);
        if (d == 0)
            r = 0;
        else if (d != -EEXIST)
            return errf(err, errlen, d, "seal: cannot define the store's NV index: %s", terr);
    }
    if (r < 0)
        return errf(err, errlen, -ENOSPC, "seal: no free NV index among %u tried in "
                    "0x%08x-0x%08x", NV_PROBES, NV_BASE, NV_BASE + NV_WINDOW - 1);
    s->db.nv_index = idx;
    if ((r = store_commit(s, &s->db, &stage, terr, sizeof terr)) < 0) {
        r = errf(err, errlen, r, "seal: cannot write the new svn store: %s", terr);
        goto undo;
    }
    char tmp[PATH_MAX + 200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    if ((r = write_synced(tmp, blob, bl, 1)) < 0) {
        r = errf(err, errlen, r, "seal: %s: %s", tmp, strerror(-r));
        goto undo_db;
    }
    if (link(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        r = errf(err, errlen, -e, "seal: cannot put the master blob at %s: %s", path,
                 strerror(e));
        goto undo_db;
    }
    unlink(tmp);
    fsync_dir(s->dir);
    tlog("seal", "new master for this launch measurement: %s (store NV index 0x%08x)", path,
         idx);
    return 0;
undo_db:
    unlink(s->db_path);
undo:
    tpm_nv_undefine(s->tpm, idx, NULL, 0);
    return r;
}

int sealer_open(struct tpm *t, unsigned pcr, const char *state_dir, struct sealer **out,
                char *err, size_t errlen)
{
    if (!out)
        return errf(err, errlen, -EINVAL, "seal: bad arguments");
    *out = NULL;
    if (!t)
        return errf(err, errlen, -EINVAL, "seal: no TPM handle");
    if (tpm_kind_of(t) == TPM_NONE)
        return errf(err, errlen, -ENODEV, "seal: no TPM (--tpm none): sealing is off");
    if (!state_dir || !*state_dir)
        return errf(err, errlen, -EINVAL, "seal: sealing needs a state directory");
    uint8_t pv[32];
    int r = tpm_pcr_read(t, pcr, pv);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot read PCR %u: %s", pcr, tpm_last_error(t));
    struct sealer *s = sealer_alloc();
    if (!s)
        return errf(err, errlen, -ENOMEM, "seal: out of memory");
    s->tpm = t;
    char hex[65], path[PATH_MAX + 96];
    to_hex(pv, 32, hex);
    if ((size_t)snprintf(s->dir, sizeof s->dir, "%s/seal", state_dir) >= sizeof s->dir -
            100) {
        r = errf(err, errlen, -ENAMETOOLONG, "seal: state directory path too long");
        goto fail;
    }
    snprintf(s->db_path, sizeof s->db_path, "%s/svn-%s.db", s->dir, hex);
    snprintf(s->tmp_path, sizeof s->tmp_path, "%s.tmp", s->db_path);
    snprintf(path, sizeof path, "%s/master-%s.blob", s->dir, hex);
    struct stat st;
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        r = errf(err, errlen, -errno, "seal: mkdir %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    if (lstat(s->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        r = errf(err, errlen, -ENOTDIR, "seal: %s is not a directory", s->dir);
        goto fail;
    }

    char *blob = NULL;
    size_t bl = 0;
    r = file_read_all(path, TPM_SEALED_MAX, &blob, &bl);
    if (r == 0) {
        r = unseal_master(s, path, (const uint8_t *)blob, bl, err, errlen);
        free(blob);
        if (r == 0 && derive_store_keys(s) < 0)
            r = errf(err, errlen, -EIO, "seal: key derivation failed");
        if (r == 0)
            r = store_load(s, err, errlen);
    } else if (r == -ENOENT) {
        r = create_master(s, pcr, pv, path, err, errlen);
    } else {
        r = errf(err, errlen, r == -EFBIG || r == -EINVAL ? -EBADMSG : r,
                 "seal: cannot read %s: %s", path,
                 r == -EFBIG ? "too large for a master blob" : strerror(-r));
    }
    if (r < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    sealer_free(s);
    return r;
}

/* ---- rollback ---- */

int sealer_check_svn(struct sealer *s, const uint8_t keyid[8], const char *name,
                     uint32_t svn, char *err, size_t errlen)
{
    char nm[32], shown[33], kh[17];
    if (!s || !keyid || !name || canon_name(name, 32, nm) < 0)
        return errf(err, errlen, -EINVAL, "rollback: bad program name");
    if (!s->tpm)
        return errf(err, errlen, -ENODEV, "rollback: no store (a sealer without a TPM)");
    show_name(nm, shown);
    to_hex(keyid, 8, kh);

    pthread_mutex_lock(&s->mu);
    int r = 0;
    size_t lo = 0, hi = s->db.count;           /* first record not below (keyid, name) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rec_cmp(keyid, nm, &s->db.recs[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int found = lo < s->db.count && rec_cmp(keyid, nm, &s->db.recs[lo]) == 0;
    if (found && svn < s->db.recs[lo].svn) {
        r = errf(err, errlen, -EPERM, "rollback: %s svn %u is below %u already run (vendor %s)",
                 shown, svn, s->db.recs[lo].svn, kh);
        goto out;
    }
    if (found && svn == s->db.recs[lo].svn)
        goto out;
    if (s->broken) {
        r = errf(err, errlen, -EIO, "rollback: cannot record %s svn %u (vendor %s): the store "
                 "is unusable since an earlier failure (%s); restart trevisor", shown, svn, kh,
                 s->broken_msg);
        goto out;
    }
    if (!found && s->db.count >= SEALER_SVN_MAX_RECORDS) {
        r = errf(err, errlen, -ENOSPC, "rollback: the store is full (%d programs); cannot "
                 "record %s (vendor %s)", SEALER_SVN_MAX_RECORDS, shown, kh);
        goto out;
    }
    struct seal_svndb nd = s->db;
    nd.count = s->db.count + !found;
    nd.generation = s->db.generation + 1;
    nd.recs = malloc((nd.count ? nd.count : 1) * sizeof *nd.recs);
    if (!nd.recs) {
        r = errf(err, errlen, -ENOMEM, "rollback: out of memory");
        goto out;
    }
    if (s->db.count)
        memcpy(nd.recs, s->db.recs, lo * sizeof *nd.recs);
    memcpy(nd.recs[lo].keyid, keyid, 8);
    memcpy(nd.recs[lo].name, nm, 32);
    nd.recs[lo].svn = svn;
    if (s->db.count > lo + found)
        memcpy(nd.recs + lo + 1, s->db.recs + lo + found,
               (s->db.count - lo - found) * sizeof *nd.recs);
    char cerr[256] = "";
    int stage;
    r = store_commit(s, &nd, &stage, cerr, sizeof cerr);
    if (stage != COMMIT_NOTHING && r < 0) {
        s->broken = 1;
        snprintf(s->broken_msg, sizeof s->broken_msg, "%s", cerr);
    }
    if (r == 0 || stage == COMMIT_DONE) {
        free(s->db.recs);
        s->db = nd;
    } else {
        free(nd.recs);
    }
    if (r < 0) {
        r = errf(err, errlen, r == -ENODEV ? -ENODEV : -EIO, "rollback: cannot record %s svn "
                 "%u (vendor %s), so it is refused: %s", shown, svn, kh, cerr);
        goto out;
    }
    tlog("seal", "recorded %s svn %u (vendor %s)", shown, svn, kh);
out:
    pthread_mutex_unlock(&s->mu);
    return r;
}
