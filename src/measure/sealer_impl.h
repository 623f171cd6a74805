/* measure/sealer_impl.h — what the files of the sealer share and nothing outside them may
 * use: struct sealer and its locked secrets, the store's NV window and file layout, and
 * the helpers one file gives the others: key derivation and durable writes (sealer.c),
 * names and records (sealer_svndb.c), the store on disk and in the TPM (sealer_svn.c).
 * The API is measure/sealer.h; the formats are in docs/sealing.md. */
#ifndef TREVISOR_MEASURE_SEALER_IMPL_H
#define TREVISOR_MEASURE_SEALER_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "measure/sealer.h"

/* The NV indices trevisor defines for its stores: a window in the range the TCG registry
 * leaves unassigned (0x01800000-0x01BFFFFF). Each launch measurement probes from a slot
 * derived from its PCR value. */
#define SEALER_NV_BASE   0x018EA000u
#define SEALER_NV_WINDOW 4096u

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

/* ---- little-endian fields ---- */

static inline void sealer_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t sealer_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- sealer.c ---- */

/* HKDF-SHA256 of 32 bytes of ikm to 32 bytes (no salt if salt_len is 0). 0 or -EIO. */
int sealer_hkdf(const uint8_t ikm[32], const uint8_t *salt, size_t salt_len,
                const uint8_t *info, size_t info_len, uint8_t out[32]);
/* Writes and fsyncs path (mode 0600, never through a symlink); excl: it must not exist.
 * Removes it on failure. 0 or -errno. */
int sealer_write_synced(const char *path, const uint8_t *buf, size_t len, int excl);
int sealer_fsync_dir(const char *dir);

/* ---- sealer_svndb.c ---- */

/* A name as shown in a message: at most 32 bytes, unprintable bytes as '?'. */
void sealer_name_show(const char name[32], char out[33]);
/* 1..32 bytes, then only NULs. */
int sealer_name_is_canonical(const char name[32]);
/* Records order by key id, then name. */
int sealer_rec_cmp(const uint8_t keyid[8], const char name[32],
                   const struct seal_svn_record *r);
/* The store file's length with count records. */
size_t sealer_svndb_size(size_t count);

/* ---- sealer_svn.c ---- */

/* The store's HMAC key and NV authValue, from the master. 0 or -EIO. */
int sealer_store_derive_keys(struct sealer *s);
/* A new measurement's store: an NV index defined in the window (probing from a slot
 * derived from pv) and an empty store committed to it. Nothing is left on failure. */
int sealer_store_create(struct sealer *s, const uint8_t pv[32], char *err, size_t errlen);
/* Undoes sealer_store_create: the file and the NV index. */
void sealer_store_remove(struct sealer *s);
/* Opens the existing store into s->db: the file (or the leftover of an interrupted
 * update) whose SHA-256 the TPM's NV index holds. Anything else is -EBADMSG. */
int sealer_store_load(struct sealer *s, char *err, size_t errlen);

#endif
