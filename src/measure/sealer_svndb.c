/* measure/sealer_svndb.c — the rollback store's file format (measure/sealer.h, "TRSV",
 * docs/sealing.md "The rollback store"): parsing and authenticating it (HMAC-SHA256),
 * writing its one canonical form, and the names and record order it is sorted by. Pure
 * functions of their arguments, fuzzed (fuzz/fuzz_sealblob.c): it treats every byte of
 * a file as hostile and touches no file, no lock and no TPM. */
#include "measure/sealer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "measure/sealer_impl.h"
#include "util/err.h"

#define SVN_HDR 24
#define SVN_REC 48
#define SVN_MAC 32

static void put_le64(uint8_t *p, uint64_t v)
{
    sealer_put_le32(p, (uint32_t)v);
    sealer_put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)sealer_get_le32(p) | (uint64_t)sealer_get_le32(p + 4) << 32;
}

/* ---- names and records ---- */

/* A name as shown in a message: at most 32 bytes, unprintable bytes as '?'. */
void sealer_name_show(const char name[32], char out[33])
{
    size_t i = 0;
    for (; i < 32 && name[i]; i++)
        out[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    out[i] = 0;
}

/* 1..32 bytes, then only NULs. */
int sealer_name_is_canonical(const char name[32])
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
int sealer_rec_cmp(const uint8_t keyid[8], const char name[32],
                   const struct seal_svn_record *r)
{
    int c = memcmp(keyid, r->keyid, 8);
    return c ? c : memcmp(name, r->name, 32);
}

/* ---- the store file ---- */

static int nv_index_ok(uint32_t idx)
{
    return idx >= SEALER_NV_BASE && idx < SEALER_NV_BASE + SEALER_NV_WINDOW;
}

size_t sealer_svndb_size(size_t count)
{
    return SVN_HDR + count * SVN_REC + SVN_MAC;
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
    uint32_t idx = sealer_get_le32(buf + 8), count = sealer_get_le32(buf + 12);
    if (!nv_index_ok(idx))
        return errf(err, errlen, -EBADMSG, "svn store: NV index 0x%08x is outside "
                    "0x%08x-0x%08x", idx, SEALER_NV_BASE, SEALER_NV_BASE + SEALER_NV_WINDOW - 1);
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
        r->svn = sealer_get_le32(p + 40);
        if (sealer_get_le32(p + 44) != 0 || !sealer_name_is_canonical(r->name) ||
            (i > 0 && sealer_rec_cmp(r->keyid, r->name, &recs[i - 1]) <= 0)) {
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
        if (!sealer_name_is_canonical(db->recs[i].name) ||
            (i > 0 &&
             sealer_rec_cmp(db->recs[i].keyid, db->recs[i].name, &db->recs[i - 1]) <= 0))
            return -EINVAL;
    size_t need = sealer_svndb_size(db->count);
    if (!out || cap < need)
        return -ENOBUFS;
    memcpy(out, "TRSV", 4);
    out[4] = 1;
    out[5] = out[6] = out[7] = 0;
    sealer_put_le32(out + 8, db->nv_index);
    sealer_put_le32(out + 12, (uint32_t)db->count);
    put_le64(out + 16, db->generation);
    for (size_t i = 0; i < db->count; i++) {
        uint8_t *p = out + SVN_HDR + i * SVN_REC;
        memcpy(p, db->recs[i].keyid, 8);
        memcpy(p + 8, db->recs[i].name, 32);
        sealer_put_le32(p + 40, db->recs[i].svn);
        sealer_put_le32(p + 44, 0);
    }
    unsigned maclen = 0;
    if (!HMAC(EVP_sha256(), key, 32, out, need - SVN_MAC, out + need - SVN_MAC, &maclen) ||
        maclen != 32)
        return -EIO;
    return (long)need;
}
