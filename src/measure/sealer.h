/* measure/sealer.h — sealing for TRE programs and rollback protection. A 32-byte master
 * secret is kept sealed in the TPM to the launch measurement (PolicyPCR over the launch
 * PCR's value after the launch events, before any TRE image); trevisor unseals it once at
 * start-up, holds it in locked memory, and derives from it, with HKDF-SHA256, one
 * AES-256-GCM key per (vendor key id, program name, security version). Blobs go to the
 * program, which stores them anywhere. The highest security version seen per (vendor,
 * program) is kept in a file authenticated by the master, one per launch measurement,
 * whose SHA-256 the TPM holds in an NV index that only the holder of that master can
 * read or write, so neither an older program nor an older copy of the file is accepted.
 * See docs/sealing.md. Thread-safe. */
#ifndef TREVISOR_MEASURE_SEALER_H
#define TREVISOR_MEASURE_SEALER_H

#include <stddef.h>
#include <stdint.h>

struct tpm;
struct sealer;

/* Who seals: the vendor key that signed the image, its manifest name and svn. */
struct seal_identity {
    uint8_t keyid[8];
    char name[32];
    uint32_t svn;
};

/* Reads PCR `pcr` now (the caller has measured the launch and nothing else), then loads
 * STATE/seal/master-<PCR value hex>.blob and unseals it under PolicyPCR, or on first use
 * makes a random master, seals it to that PCR value and saves the blob (never
 * overwriting one). Opens this measurement's rollback store STATE/seal/svn-<hex>.db and
 * checks it against the TPM's NV record of it.
 * Errors: -ENODEV (no TPM), -EIO (TPM unreachable), -EACCES (the TPM refused to unseal:
 * the blob was made under another measurement or tampered), -EBADMSG (a corrupt file, or
 * a store the TPM's record does not vouch for: altered, deleted, or an old copy),
 * -ENOSPC (no NV space or index left for a new measurement's store). */
int sealer_open(struct tpm *t, unsigned pcr, const char *state_dir, struct sealer **out,
                char *err, size_t errlen);
void sealer_free(struct sealer *s);   /* wipes the master and derived keys */

/* Returns the blob's length (len + TRE_SEAL_OVERHEAD), -ENOBUFS if cap is too small,
 * -E2BIG over TRE_SEAL_MAX. */
long sealer_seal(struct sealer *s, const struct seal_identity *id, const void *data,
                 size_t len, uint8_t *blob, size_t cap, char *err, size_t errlen);
/* Returns the data's length. Refuses with -EBADMSG a blob that is malformed, tampered,
 * made under another master (another launch measurement), or for another vendor key or
 * program name, and with -EACCES one sealed at an svn above id->svn (a newer program's
 * data). A blob sealed at a lower svn opens (an upgrade keeps its data). */
long sealer_unseal(struct sealer *s, const struct seal_identity *id, const uint8_t *blob,
                   size_t len, uint8_t *data, size_t cap, char *err, size_t errlen);

/* Rollback: -EPERM if svn is below the highest recorded for (keyid, name); records a
 * higher svn (file rewritten, the TPM's record of it updated) before returning 0. -EIO
 * when the store cannot be updated (the program is then refused too; after a TPM failure
 * every later update is refused until the sealer is opened again), -ENOSPC with
 * SEALER_SVN_MAX_RECORDS programs recorded, -EINVAL for an empty name. name is
 * NUL-terminated or 32 bytes: only its first 32 bytes count. */
int sealer_check_svn(struct sealer *s, const uint8_t keyid[8], const char *name,
                     uint32_t svn, char *err, size_t errlen);

/* ---- the formats, exposed for tests and the fuzzer (docs/sealing.md) ---- */

/* A sealed blob: "TRSB" | version 1 | 3 zero bytes | svn u32le | vendor key id (8) |
 * KDF salt (16) | GCM IV (12) | ciphertext (len) | GCM tag (16). The first 48 bytes are
 * the header and the AAD. */
#define SEAL_BLOB_HDR_LEN 48
#define SEAL_BLOB_TAG_LEN 16

struct seal_blob_hdr {
    uint32_t svn;
    uint8_t keyid[8];
    uint8_t salt[16];
    uint8_t iv[12];
    size_t data_len;          /* the ciphertext's length, = the data's */
};

/* Checks the framing only (magic, version, zero bytes, lengths: at least
 * TRE_SEAL_OVERHEAD, at most TRE_SEAL_MAX + TRE_SEAL_OVERHEAD). 0 or -EBADMSG. */
int sealer_blob_parse_header(const uint8_t *blob, size_t len, struct seal_blob_hdr *h);

/* The rollback store's file, svn-<PCR hex>.db: "TRSV" | version 1 | 3 zero bytes |
 * NV index u32le | count u32le | generation u64le | count records | HMAC-SHA256 (32).
 * A record is vendor key id (8) | name (32, NUL-padded) | svn u32le | 4 zero bytes,
 * sorted by (key id, name), no duplicates. */
#define SEALER_SVN_MAX_RECORDS 4096
#define SEALER_SVNDB_MAX (24 + 48 * SEALER_SVN_MAX_RECORDS + 32)

struct seal_svn_record {
    uint8_t keyid[8];
    char name[32];            /* NUL-padded; 32 bytes may all be used */
    uint32_t svn;
};

struct seal_svndb {
    uint32_t nv_index;        /* the TPM NV index holding SHA-256 of this file */
    uint64_t generation;      /* updates so far (for people; the NV index is the check) */
    size_t count;
    struct seal_svn_record *recs;   /* malloc'd, count entries */
};

/* Parses and authenticates (HMAC-SHA256 under key) a store file. 0, or -EBADMSG with
 * one line in err; -ENOMEM. On success db->recs is malloc'd: free with
 * sealer_svndb_clear. */
int sealer_svndb_parse(const uint8_t *buf, size_t len, const uint8_t key[32],
                       struct seal_svndb *db, char *err, size_t errlen);
/* Writes the canonical file for db (records must be sorted and unique): returns its
 * length, -ENOBUFS if cap is too small, -EINVAL for a db the parser would refuse. */
long sealer_svndb_encode(const struct seal_svndb *db, const uint8_t key[32], uint8_t *out,
                         size_t cap);
void sealer_svndb_clear(struct seal_svndb *db);

/* A sealer with a given master and no TPM, no files and no rollback store
 * (sealer_check_svn gives -ENODEV): for tests and fuzzing only. */
int sealer_new_detached(const uint8_t master[32], struct sealer **out, char *err,
                        size_t errlen);

#endif
