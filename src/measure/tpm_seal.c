/* measure/tpm_seal.c — data sealed to a PCR value (measure/tpm.h, docs/sealing.md "The
 * master blob"): a keyed-hash sealed-data object under the SRK whose only authorization
 * is PolicyPCR(SHA-256 PCR == value), created with the policy digest computed here and
 * unsealed through a policy session. It never seals to PCR 16 or 23 (resettable at
 * locality 0), never keeps a loaded object past the call, and wipes the copies of the
 * secret it made, and the caller's buffer when an unseal fails. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "measure/tpm_impl.h"
#include "util/err.h"

/* PolicyPCR's policy digest from a zero start, computed as the TPM does:
 * SHA-256(0^32 || u32be(TPM_CC_PolicyPCR) || TPML_PCR_SELECTION || SHA-256(pcr_value)). */
static int policy_pcr_digest(unsigned pcr, const uint8_t pcr_value[32], uint8_t out[32])
{
    TPML_PCR_SELECTION sel;
    tpm_select_pcr(&sel, pcr);
    uint8_t m[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
    size_t off = 32;
    memset(m, 0, 32);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 24);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 16);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 8);
    m[off++] = (uint8_t)TPM2_CC_PolicyPCR;
    if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, m, sizeof m - 32, &off) != TSS2_RC_SUCCESS)
        return -EINVAL;
    SHA256(pcr_value, 32, m + off);
    off += 32;
    SHA256(m, off, out);
    return 0;
}

#define SEALED_HDR 8

int tpm_seal(struct tpm *t, unsigned pcr, const uint8_t pcr_value[32], const void *data,
             size_t len, uint8_t *blob, size_t *blob_len, char *err, size_t errlen)
{
    int r;
    if (pcr > 23)
        return errf(err, errlen, -EINVAL, "tpm: PCR %u does not exist", pcr);
    if (pcr == 16 || pcr == 23)
        return errf(err, errlen, -EPERM, "tpm: PCR %u can be reset at locality 0; refusing "
                    "to seal to it", pcr);
    if (!data || len == 0 || len > TPM_SEAL_DATA_MAX)
        return errf(err, errlen, -EINVAL, "tpm: sealed data must be 1..%d bytes (not %zu)",
                    TPM_SEAL_DATA_MAX, len);
    if ((r = tpm_ready(t, err, errlen)) < 0)
        return r;

    TPM2B_PUBLIC tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    /* no userWithAuth: the user role needs the policy; no sensitiveDataOrigin: we give
     * the data */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_NODA;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    tmpl.publicArea.authPolicy.size = 32;
    if (policy_pcr_digest(pcr, pcr_value, tmpl.publicArea.authPolicy.buffer) < 0)
        return errf(err, errlen, -EINVAL, "tpm: cannot compute the PCR policy");

    TPM2B_SENSITIVE_CREATE sens;
    memset(&sens, 0, sizeof sens);
    sens.sensitive.data.size = (UINT16)len;
    memcpy(sens.sensitive.data.buffer, data, len);
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    r = tpm_ensure_srk(t, err, errlen);
    TSS2_RC rc = TSS2_RC_SUCCESS;
    if (r == 0)
        rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &tmpl, &outside, &creation, &opriv, &opub, NULL, NULL, NULL);
    tpm_guard_leave(&g);
    OPENSSL_cleanse(&sens, sizeof sens);
    if (r < 0)
        return r;
    if (rc != TSS2_RC_SUCCESS)
        return tpm_call_failed(t, rc, "Create (sealed data)", err, errlen);

    uint8_t out[TPM_SEALED_MAX];
    size_t off = SEALED_HDR;
    memcpy(out, "TRSO", 4);
    out[4] = 1;
    out[5] = (uint8_t)pcr;
    out[6] = out[7] = 0;
    rc = Tss2_MU_TPM2B_PUBLIC_Marshal(opub, out, sizeof out, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Marshal(opriv, out, sizeof out, &off);
    Esys_Free(opub);
    Esys_Free(opriv);
    if (rc != TSS2_RC_SUCCESS)
        return errf(err, errlen, -EOVERFLOW, "tpm: sealed object does not fit %d bytes",
                    TPM_SEALED_MAX);
    if (off > *blob_len) {
        *blob_len = off;
        return errf(err, errlen, -ENOBUFS, "tpm: sealed blob buffer too small (%zu bytes "
                    "needed)", off);
    }
    memcpy(blob, out, off);
    *blob_len = off;
    return 0;
}

int tpm_unseal(struct tpm *t, const uint8_t *blob, size_t blob_len, uint8_t *data,
               size_t *len, char *err, size_t errlen)
{
    int r;
    size_t cap = *len;
    *len = 0;
    if (!blob || blob_len < SEALED_HDR || blob_len > TPM_SEALED_MAX ||
        memcmp(blob, "TRSO", 4) != 0 || blob[4] != 1 || blob[5] > 23 ||
        blob[6] != 0 || blob[7] != 0)
        return errf(err, errlen, -EBADMSG, "tpm: not a sealed blob of this program "
                    "(bad header)");
    unsigned pcr = blob[5];
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    memset(&pub, 0, sizeof pub);
    memset(&priv, 0, sizeof priv);
    size_t off = SEALED_HDR;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, blob_len, &off, &pub);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, blob_len, &off, &priv);
    if (rc != TSS2_RC_SUCCESS || off != blob_len ||
        pub.publicArea.type != TPM2_ALG_KEYEDHASH ||
        pub.publicArea.nameAlg != TPM2_ALG_SHA256 || pub.publicArea.authPolicy.size != 32)
        return errf(err, errlen, -EBADMSG, "tpm: malformed sealed blob");
    if ((r = tpm_ready(t, err, errlen)) < 0)
        return r;

    ESYS_TR obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *out = NULL;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    if ((r = tpm_ensure_srk(t, err, errlen)) < 0)
        goto done;
    rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
                   &obj);
    if (rc != TSS2_RC_SUCCESS) {
        obj = ESYS_TR_NONE;
        r = tpm_call_refused(t, rc, "Load (sealed data)", -EBADMSG,
                         "the blob was altered or made by another TPM", err, errlen);
        goto done;
    }
    TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
    rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
                               TPM2_ALG_SHA256, &sess);
    if (rc != TSS2_RC_SUCCESS) {
        sess = ESYS_TR_NONE;
        r = tpm_call_failed(t, rc, "StartAuthSession (policy)", err, errlen);
        goto done;
    }
    TPML_PCR_SELECTION sel;
    tpm_select_pcr(&sel, pcr);
    TPM2B_DIGEST none = { .size = 0 };   /* the TPM takes the PCR's current value */
    rc = Esys_PolicyPCR(t->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &none, &sel);
    if (rc != TSS2_RC_SUCCESS) {
        r = tpm_call_failed(t, rc, "PolicyPCR", err, errlen);
        goto done;
    }
    rc = Esys_Unseal(t->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &out);
    if (rc != TSS2_RC_SUCCESS) {
        TSS2_RC b = tpm_rc_base(rc);
        int policy = tpm_rc_is_tpm_layer(rc) &&
                     (b == TPM2_RC_POLICY_FAIL || b == TPM2_RC_PCR_CHANGED);
        char why[96];
        snprintf(why, sizeof why, "PCR %u does not hold the value the data was sealed to", pcr);
        r = tpm_call_refused(t, rc, "Unseal", policy ? -EACCES : -EPROTO, policy ? why : NULL,
                         err, errlen);
        goto done;
    }
    if (out->size > cap) {
        r = errf(err, errlen, -ENOBUFS, "tpm: unseal buffer too small (%u > %zu)", out->size,
                 cap);
        goto done;
    }
    memcpy(data, out->buffer, out->size);
    *len = out->size;
    r = 0;
done:
    if (out) {
        OPENSSL_cleanse(out, sizeof *out);
        Esys_Free(out);
    }
    if (!t->broken) {
        if (sess != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, sess);
        if (obj != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, obj);
    }
    tpm_guard_leave(&g);
    if (r < 0 && data && cap)
        OPENSSL_cleanse(data, cap);
    return r;
}
