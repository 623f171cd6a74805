/* measure/tpm_nv.c — small NV indices (measure/tpm.h, docs/sealing.md "The TPM's
 * record"): ordinary indices in the owner hierarchy whose reads and writes both need the
 * index's authValue, defined, read, written whole and undefined. It never uses an index
 * whose attributes, policy or size are not exactly ours, and wipes the authValue copies
 * it made. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>

#include "measure/tpm_impl.h"
#include "util/err.h"

#define NV_ATTRS (TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

/* Checks the arguments and that the TPM can take a command, then copies the authValue
 * into *a (the caller wipes it). */
static int nv_prepare(struct tpm *t, uint32_t index, size_t size, const uint8_t *auth,
                      size_t auth_len, TPM2B_AUTH *a, char *err, size_t errlen)
{
    if ((index >> 24) != TPM2_HT_NV_INDEX)
        return errf(err, errlen, -EINVAL, "tpm: 0x%08x is not an NV index handle", index);
    if (size == 0 || size > TPM_NV_DATA_MAX)
        return errf(err, errlen, -EINVAL, "tpm: NV size %zu (1..%d)", size, TPM_NV_DATA_MAX);
    if (auth_len > TPM_NV_AUTH_MAX)
        return errf(err, errlen, -EINVAL, "tpm: NV auth of %zu bytes (max %d)", auth_len,
                    TPM_NV_AUTH_MAX);
    int r = tpm_ready(t, err, errlen);
    if (r < 0)
        return r;
    memset(a, 0, sizeof *a);
    a->size = (UINT16)auth_len;
    if (auth_len)
        memcpy(a->buffer, auth, auth_len);
    return 0;
}

int tpm_nv_define(struct tpm *t, uint32_t index, size_t size, const uint8_t *auth,
                  size_t auth_len, char *err, size_t errlen)
{
    int r;
    TPM2B_AUTH a;
    if ((r = nv_prepare(t, index, size, auth, auth_len, &a, err, errlen)) < 0)
        return r;
    TPM2B_NV_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = NV_ATTRS | (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT);
    pub.nvPublic.dataSize = (UINT16)size;
    ESYS_TR h = ESYS_TR_NONE;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, &a, &pub, &h);
    if (rc == TSS2_RC_SUCCESS)
        Esys_TR_Close(t->esys, &h);
    tpm_guard_leave(&g);
    OPENSSL_cleanse(&a, sizeof a);
    if (rc == TSS2_RC_SUCCESS)
        return 0;
    char what[48];
    snprintf(what, sizeof what, "NV_DefineSpace 0x%08x", index);
    TSS2_RC b = tpm_rc_base(rc);
    if (tpm_rc_is_tpm_layer(rc) && b == TPM2_RC_NV_DEFINED)
        return tpm_call_refused(t, rc, what, -EEXIST, "already defined", err, errlen);
    if (tpm_rc_is_tpm_layer(rc) && b == TPM2_RC_NV_SPACE)
        return tpm_call_refused(t, rc, what, -ENOSPC, "the TPM has no NV space left", err, errlen);
    return tpm_call_failed(t, rc, what, err, errlen);
}

/* An ESYS handle for an existing index with our attributes and this size; *written tells
 * whether it holds data. Called inside a pipe guard; the caller closes *h. */
static int nv_open(struct tpm *t, uint32_t index, size_t size, ESYS_TR *h, int *written,
                   char *err, size_t errlen)
{
    char what[48];
    *h = ESYS_TR_NONE;
    snprintf(what, sizeof what, "NV_ReadPublic 0x%08x", index);
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, h);
    if (rc != TSS2_RC_SUCCESS) {
        *h = ESYS_TR_NONE;
        TSS2_RC b = tpm_rc_base(rc);
        int absent = tpm_rc_is_tpm_layer(rc) && (b == TPM2_RC_HANDLE);
        return tpm_call_refused(t, rc, what, absent ? -ENOENT : -EPROTO,
                            absent ? "no such index" : NULL, err, errlen);
    }
    TPM2B_NV_PUBLIC *pub = NULL;
    rc = Esys_NV_ReadPublic(t->esys, *h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_call_failed(t, rc, what, err, errlen);
    TPMS_NV_PUBLIC *p = &pub->nvPublic;
    int r = 0;
    if (p->nvIndex != index || p->nameAlg != TPM2_ALG_SHA256 ||
        (p->attributes & ~(TPMA_NV)TPMA_NV_WRITTEN) !=
            (NV_ATTRS | (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT)) ||
        p->authPolicy.size != 0 || p->dataSize != size)
        r = errf(err, errlen, -EBADMSG, "tpm: NV index 0x%08x has attributes 0x%08x and %u "
                 "bytes, not the expected 0x%08x and %zu", index, (unsigned)p->attributes,
                 p->dataSize, (unsigned)NV_ATTRS, size);
    else
        *written = (p->attributes & TPMA_NV_WRITTEN) != 0;
    Esys_Free(pub);
    return r;
}

static int nv_auth_refused(struct tpm *t, TSS2_RC rc, const char *what, char *err,
                           size_t errlen)
{
    TSS2_RC b = tpm_rc_base(rc);
    if (tpm_rc_is_tpm_layer(rc) && (b == TPM2_RC_BAD_AUTH || b == TPM2_RC_AUTH_FAIL ||
                             b == TPM2_RC_NV_AUTHORIZATION))
        return tpm_call_refused(t, rc, what, -EACCES, "the index does not take our "
                            "authorization (redefined by someone else?)", err, errlen);
    return tpm_call_failed(t, rc, what, err, errlen);
}

int tpm_nv_read(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                uint8_t *buf, size_t size, char *err, size_t errlen)
{
    int r, written = 0;
    TPM2B_AUTH a;
    if ((r = nv_prepare(t, index, size, auth, auth_len, &a, err, errlen)) < 0)
        return r;
    ESYS_TR h;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    if ((r = nv_open(t, index, size, &h, &written, err, errlen)) < 0)
        goto done;
    if (!written) {
        r = errf(err, errlen, -ENODATA, "tpm: NV index 0x%08x was never written", index);
        goto done;
    }
    TSS2_RC rc = Esys_TR_SetAuth(t->esys, h, &a);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_NV_Read(t->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          (UINT16)size, 0, &data);
    if (rc != TSS2_RC_SUCCESS) {
        char what[48];
        snprintf(what, sizeof what, "NV_Read 0x%08x", index);
        r = nv_auth_refused(t, rc, what, err, errlen);
        goto done;
    }
    if (data->size != size) {
        r = errf(err, errlen, -EPROTO, "tpm: NV_Read 0x%08x gave %u bytes, not %zu", index,
                 data->size, size);
        goto done;
    }
    memcpy(buf, data->buffer, size);
    r = 0;
done:
    if (h != ESYS_TR_NONE && !t->broken)
        Esys_TR_Close(t->esys, &h);
    tpm_guard_leave(&g);
    Esys_Free(data);
    OPENSSL_cleanse(&a, sizeof a);
    return r;
}

int tpm_nv_write(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                 const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    int r, written = 0;
    TPM2B_AUTH a;
    if ((r = nv_prepare(t, index, size, auth, auth_len, &a, err, errlen)) < 0)
        return r;
    ESYS_TR h;
    TPM2B_MAX_NV_BUFFER d = { .size = (UINT16)size };
    memcpy(d.buffer, buf, size);
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    if ((r = nv_open(t, index, size, &h, &written, err, errlen)) < 0)
        goto done;
    TSS2_RC rc = Esys_TR_SetAuth(t->esys, h, &a);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_NV_Write(t->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, 0);
    if (rc != TSS2_RC_SUCCESS) {
        char what[48];
        snprintf(what, sizeof what, "NV_Write 0x%08x", index);
        r = nv_auth_refused(t, rc, what, err, errlen);
        goto done;
    }
    r = 0;
done:
    if (h != ESYS_TR_NONE && !t->broken)
        Esys_TR_Close(t->esys, &h);
    tpm_guard_leave(&g);
    OPENSSL_cleanse(&a, sizeof a);
    return r;
}

int tpm_nv_undefine(struct tpm *t, uint32_t index, char *err, size_t errlen)
{
    int r;
    if ((index >> 24) != TPM2_HT_NV_INDEX)
        return errf(err, errlen, -EINVAL, "tpm: 0x%08x is not an NV index handle", index);
    if ((r = tpm_ready(t, err, errlen)) < 0)
        return r;
    char what[48];
    snprintf(what, sizeof what, "NV_UndefineSpace 0x%08x", index);
    ESYS_TR h = ESYS_TR_NONE;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h);
    if (rc != TSS2_RC_SUCCESS) {
        int absent = tpm_rc_is_tpm_layer(rc) && tpm_rc_base(rc) == TPM2_RC_HANDLE;
        r = tpm_call_refused(t, rc, what, absent ? -ENOENT : -EPROTO,
                         absent ? "no such index" : NULL, err, errlen);
        tpm_guard_leave(&g);
        return r;
    }
    rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, h, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE);
    r = 0;
    if (rc != TSS2_RC_SUCCESS) {
        r = tpm_call_failed(t, rc, what, err, errlen);
        if (!t->broken)
            Esys_TR_Close(t->esys, &h);
    }
    tpm_guard_leave(&g);
    return r;
}
