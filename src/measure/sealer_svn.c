/* measure/sealer_svn.c — the rollback store on disk and in the TPM (measure/sealer.h,
 * docs/sealing.md "The TPM's record"): one file per launch measurement, STATE/seal/
 * svn-<PCR hex>.db, whose SHA-256 is kept in an NV index that only the holder of that
 * measurement's master can read or write. It creates the store and its index, commits
 * an update (file to NAME.tmp, hash to the index, rename), loads the one file the TPM
 * vouches for, and answers sealer_check_svn under the sealer's lock. It never accepts a
 * store file the TPM does not vouch for, and after an update that left the TPM's record
 * uncertain it records nothing more. The file format is sealer_svndb.c's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/sealer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "measure/sealer_impl.h"
#include "measure/tpm.h"
#include "tre/minisign.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hex.h"
#include "util/log.h"

#define NV_PROBES 64u

static const char INFO_SVN[] = "trevisor-svn v1";          /* each used with its NUL */
static const char INFO_NV[] = "trevisor-svn-nv v1";

/* ---- names and keys ---- */

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

int sealer_store_derive_keys(struct sealer *s)
{
    int r = sealer_hkdf(s->sec->master, NULL, 0, (const uint8_t *)INFO_SVN, sizeof INFO_SVN,
                        s->sec->svn_key);
    if (r == 0)
        r = sealer_hkdf(s->sec->master, NULL, 0, (const uint8_t *)INFO_NV, sizeof INFO_NV,
                        s->sec->nv_auth);
    return r;
}

/* ---- commit ---- */

enum { COMMIT_NOTHING, COMMIT_UNCERTAIN, COMMIT_DONE };

/* Makes ndb the committed store: the new file to NAME.tmp (fsynced), its SHA-256 into the
 * NV index, then the rename. *stage says how far it got: COMMIT_NOTHING (the TPM's
 * record is unchanged), COMMIT_UNCERTAIN (the NV write failed: it may or may not have
 * happened), COMMIT_DONE (the TPM holds the new hash, even if the rename then failed). */
static int store_commit(struct sealer *s, const struct seal_svndb *ndb, int *stage,
                        char *err, size_t errlen)
{
    *stage = COMMIT_NOTHING;
    size_t cap = sealer_svndb_size(ndb->count);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return errf(err, errlen, -ENOMEM, "out of memory");
    int r;
    long n = sealer_svndb_encode(ndb, s->sec->svn_key, buf, cap);
    if (n < 0) {
        r = errf(err, errlen, (int)n, "cannot encode the store");
        goto out;
    }
    if ((r = sealer_write_synced(s->tmp_path, buf, (size_t)n, 0)) < 0) {
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
    sealer_fsync_dir(s->dir);
    r = 0;
out:
    free(buf);
    return r;
}

/* A new measurement's store: its NV index, then the empty store committed to it. */
int sealer_store_create(struct sealer *s, const uint8_t pv[32], char *err, size_t errlen)
{
    char terr[256] = "";
    int r, stage;

    uint8_t seed[sizeof INFO_NV + 32], h[32];
    memcpy(seed, INFO_NV, sizeof INFO_NV);
    memcpy(seed + sizeof INFO_NV, pv, 32);
    SHA256(seed, sizeof seed, h);
    uint32_t start = ((uint32_t)h[0] << 8 | h[1]) % SEALER_NV_WINDOW, idx = 0;
    r = -ENOSPC;
    for (uint32_t i = 0; i < NV_PROBES && r == -ENOSPC; i++) {
        idx = SEALER_NV_BASE + (start + i) % SEALER_NV_WINDOW;
        int d = tpm_nv_define(s->tpm, idx, 32, s->sec->nv_auth, sizeof s->sec->nv_auth, terr,
                              sizeof terr);
        if (d == 0)
            r = 0;
        else if (d != -EEXIST)
            return errf(err, errlen, d, "seal: cannot define the store's NV index: %s", terr);
    }
    if (r < 0)
        return errf(err, errlen, -ENOSPC, "seal: no free NV index among %u tried in "
                    "0x%08x-0x%08x", NV_PROBES, SEALER_NV_BASE,
                    SEALER_NV_BASE + SEALER_NV_WINDOW - 1);
    s->db.nv_index = idx;
    if ((r = store_commit(s, &s->db, &stage, terr, sizeof terr)) < 0) {
        r = errf(err, errlen, r, "seal: cannot write the new svn store: %s", terr);
        tpm_nv_undefine(s->tpm, idx, NULL, 0);
        return r;
    }
    return 0;
}

void sealer_store_remove(struct sealer *s)
{
    unlink(s->db_path);
    tpm_nv_undefine(s->tpm, s->db.nv_index, NULL, 0);
}

/* ---- load ---- */

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

/* The existing store of this master: the file, or a leftover NAME.tmp from an
 * interrupted update, whose SHA-256 the TPM's NV index holds. Anything else is refused. */
int sealer_store_load(struct sealer *s, char *err, size_t errlen)
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
        sealer_fsync_dir(s->dir);
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

/* ---- rollback ---- */

int sealer_check_svn(struct sealer *s, const uint8_t keyid[8], const char *name,
                     uint32_t svn, char *err, size_t errlen)
{
    char nm[32], shown[33], kh[17];
    if (!s || !keyid || !name || canon_name(name, 32, nm) < 0)
        return errf(err, errlen, -EINVAL, "rollback: bad program name");
    if (!s->tpm)
        return errf(err, errlen, -ENODEV, "rollback: no store (a sealer without a TPM)");
    sealer_name_show(nm, shown);
    tre_keyid_hex(keyid, kh); /* as minisign and `trevisor trust list` show it */

    pthread_mutex_lock(&s->mu);
    int r = 0;
    size_t lo = 0, hi = s->db.count;           /* first record not below (keyid, name) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sealer_rec_cmp(keyid, nm, &s->db.recs[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int found = lo < s->db.count && sealer_rec_cmp(keyid, nm, &s->db.recs[lo]) == 0;
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
