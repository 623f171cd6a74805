/* measure/tpm.h — the TPM 2.0 backend (tss2-esys): PCR extend/read, the attestation key,
 * quotes, data sealed to a PCR value, and small NV indices. Three backends: an embedded swtpm started as a child in the state
 * directory, a real device (/dev/tpmrm0), or none (development only: every extend and
 * quote is refused with -ENODEV so the caller marks things untrusted). See docs/tpm.md. */
#ifndef TREVISOR_MEASURE_TPM_H
#define TREVISOR_MEASURE_TPM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum tpm_kind { TPM_SWTPM, TPM_DEVICE, TPM_NONE };

struct tpm;

/* Largest outputs of tpm_quote (TPMS_ATTEST is at most sizeof(TPMS_ATTEST) marshalled;
 * an ECDSA P-256 TPMT_SIGNATURE is 2+2+2+32+2+32 bytes). */
#define TPM_ATTEST_MAX 1024
#define TPM_SIG_MAX 256
#define TPM_QUAL_MAX 64
/* DER SubjectPublicKeyInfo of a P-256 key is 91 bytes. */
#define TPM_AK_DER_MAX 128

/* Opens a backend. arg is: for TPM_SWTPM the state directory (required; the swtpm state
 * goes to ARG/swtpm, the AK to ARG/ak.*); for TPM_DEVICE the device path (NULL means
 * /dev/tpmrm0) — the AK is then kept as ak.* in TREVISOR_TPM_STATE or, failing that, not
 * kept (recreated per open); for TPM_NONE ignored. Returns 0 or a negative errno with a
 * one-line message in err. */
int tpm_open(enum tpm_kind kind, const char *arg, struct tpm **out, char *err, size_t errlen);

/* Like tpm_open for a device, with an explicit AK state directory (may be NULL). */
int tpm_open_device(const char *device, const char *state_dir, struct tpm **out,
                    char *err, size_t errlen);

/* Flushes transient objects, stops the swtpm child. NULL is fine. */
void tpm_close(struct tpm *t);

enum tpm_kind tpm_kind_of(const struct tpm *t);

/* The swtpm child's pid (for tests and diagnostics), or -1. */
pid_t tpm_swtpm_pid(const struct tpm *t);

/* The last error of a call that has no err argument, one line ("" if none). */
const char *tpm_last_error(const struct tpm *t);

/* Extends a SHA-256 PCR (0..23). PCR 16 and 23 are refused with -EPERM (locality 0 can
 * reset them), TPM_NONE with -ENODEV, a dead TPM gives -EIO. */
int tpm_pcr_extend(struct tpm *t, unsigned pcr, const uint8_t sha256[32]);
int tpm_pcr_read(struct tpm *t, unsigned pcr, uint8_t out[32]);

/* The attestation key (ECC P-256 ECDSA/SHA-256 restricted signing key under the owner
 * storage hierarchy), created on first use and saved in the state directory as
 * ak.pub/ak.priv (marshalled TPM2B_PUBLIC/TPM2B_PRIVATE), reloaded afterwards. Writes its
 * public key as DER SubjectPublicKeyInfo; *len is the buffer size in, the length out. */
int tpm_ak_public(struct tpm *t, uint8_t *der, size_t *len);

/* TPM2_Quote over one SHA-256 PCR with qualifying data (at most 64 bytes). attest gets
 * the marshalled TPMS_ATTEST (tpm2_checkquote -m), sig the marshalled TPMT_SIGNATURE
 * (tpm2_checkquote -s). *attest_len and *sig_len are the buffer sizes in, lengths out. */
int tpm_quote(struct tpm *t, unsigned pcr, const uint8_t *qual, size_t qual_len,
              uint8_t *attest, size_t *attest_len, uint8_t *sig, size_t *sig_len,
              char *err, size_t errlen);

/* Writes the files tpm2_checkquote takes into dir: quote.msg (-m), quote.sig (-s),
 * ak.pem (-u), quote.pcrs (-f: the raw 32-byte PCR value, tpm2_pcrread's "values" form),
 * quote.pcrlist (the text to give -l, "sha256:N") and quote.qual (-q, raw bytes).
 * pcr_value is the PCR's value at quote time. See docs/tpm.md. */
int tpm_save_quote_files(const char *dir, unsigned pcr, const uint8_t pcr_value[32],
                         const uint8_t *ak_der, size_t ak_der_len,
                         const uint8_t *attest, size_t attest_len,
                         const uint8_t *sig, size_t sig_len,
                         const uint8_t *qual, size_t qual_len, char *err, size_t errlen);

/* ---- sealing to a PCR value (docs/sealing.md, "The master blob") ----
 * A keyed-hash sealed-data object under the SRK whose only authorization is
 * PolicyPCR(SHA-256 PCR `pcr` == pcr_value). The blob is this backend's framing:
 *   "TRSO" | version 1 | pcr (1 byte) | 2 zero bytes | TPM2B_PUBLIC | TPM2B_PRIVATE
 * (both marshalled as the TPM defines them). It only loads on the TPM that made it. */
#define TPM_SEAL_DATA_MAX 128
#define TPM_SEALED_MAX 1024

/* Seals 1..TPM_SEAL_DATA_MAX bytes to pcr_value (the PCR need not hold it now). *blob_len
 * is the buffer size in, the length out. -EPERM for PCR 16 or 23, -EINVAL bad
 * arguments, -ENOBUFS, -EIO, -EPROTO, -ENODEV. */
int tpm_seal(struct tpm *t, unsigned pcr, const uint8_t pcr_value[32], const void *data,
             size_t len, uint8_t *blob, size_t *blob_len, char *err, size_t errlen);

/* Loads the blob under the SRK, satisfies PolicyPCR in a policy session and unseals.
 * *len is the buffer size in, the length out. -EACCES when the PCR does not hold the
 * value the data was sealed to (TPM_RC_POLICY_FAIL), -EBADMSG for a malformed blob or
 * one the TPM will not load (altered, or made by another TPM), -ENOBUFS, -EIO, -ENODEV.
 * The output is wiped on every failure. */
int tpm_unseal(struct tpm *t, const uint8_t *blob, size_t blob_len, uint8_t *data,
               size_t *len, char *err, size_t errlen);

/* ---- NV indices (docs/sealing.md, "The TPM's record") ----
 * Ordinary NV indices in the owner hierarchy with exactly the attributes
 * TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA (type ordinary, nameAlg SHA-256,
 * no policy): reading and writing both need the index's authValue, so a successful read
 * also proves the index was defined by whoever knows that value. index is a TPM NV
 * handle (0x01000000..0x01FFFFFF). */
#define TPM_NV_AUTH_MAX 32
#define TPM_NV_DATA_MAX 256

/* -EEXIST when the index is already defined (by anyone), -ENOSPC when the TPM has no NV
 * space left. */
int tpm_nv_define(struct tpm *t, uint32_t index, size_t size, const uint8_t *auth,
                  size_t auth_len, char *err, size_t errlen);
/* Reads all `size` bytes. -ENOENT no such index, -ENODATA never written, -EACCES the
 * authValue is not the index's (it was redefined by someone else), -EBADMSG the index
 * exists with other attributes or another size. */
int tpm_nv_read(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                uint8_t *buf, size_t size, char *err, size_t errlen);
/* Writes all `size` bytes (the index's whole size), same errors as tpm_nv_read. */
int tpm_nv_write(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                 const uint8_t *buf, size_t size, char *err, size_t errlen);
/* Undefines the index with the owner's (empty) authorization; -ENOENT if absent. */
int tpm_nv_undefine(struct tpm *t, uint32_t index, char *err, size_t errlen);

#endif
