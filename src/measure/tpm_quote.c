/* measure/tpm_quote.c — the attestation key and quotes (measure/tpm.h): the AK (an ECC
 * P-256 ECDSA/SHA-256 restricted signing key) created once and kept in the state
 * directory, its public key as DER, TPM2_Quote over one PCR, and the files
 * tpm2_checkquote takes (docs/tpm.md). It never signs anything but a TPM quote and never
 * writes a file except whole and atomically (util/file.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "measure/tpm_impl.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

/* ---- files ---- */

/* A marshalled key file into buf: -ENOENT if missing, -EFBIG if it fills cap or more. */
static int read_key_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    char *b = NULL;
    int r = file_read_all(path, cap - 1, &b, len);
    if (r == 0) {
        memcpy(buf, b, *len);
        free(b);
    }
    return r;
}

/* Replaces path whole (mode 0600), with a "tpm: " line in err on failure. */
static int save_file(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    char m[PATH_MAX + 64];
    int r = file_write_atomic(path, buf, len, 0600, m, sizeof m);
    return r < 0 ? errf(err, errlen, r, "tpm: %s", m) : 0;
}

/* ---- the attestation key ---- */

static void ak_template(TPM2B_PUBLIC *p)
{
    TPMS_ECC_PARMS *e = tpm_ecc_template(p, TPMA_OBJECT_SIGN_ENCRYPT);
    e->symmetric.algorithm = TPM2_ALG_NULL;
    e->scheme.scheme = TPM2_ALG_ECDSA;
    e->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
}

/* The AK is a primary key without a state directory, else created once under the SRK
 * and kept as STATE/ak.pub and STATE/ak.priv (marshalled TPM2B_PUBLIC/TPM2B_PRIVATE). */
int tpm_ak_load_or_create(struct tpm *t, char *err, size_t errlen)
{
    TPM2B_PUBLIC tmpl;
    ak_template(&tmpl);
    if (!t->state_dir[0])
        return tpm_create_primary(t, &tmpl, &t->ak, &t->ak_pub, err, errlen);

    char ppub[PATH_MAX + 16], ppriv[PATH_MAX + 16];
    snprintf(ppub, sizeof ppub, "%s/ak.pub", t->state_dir);
    snprintf(ppriv, sizeof ppriv, "%s/ak.priv", t->state_dir);
    uint8_t bpub[sizeof(TPM2B_PUBLIC)], bpriv[sizeof(TPM2B_PRIVATE)];
    size_t lpub = 0, lpriv = 0;
    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    TSS2_RC rc;
    int r1 = read_key_file(ppub, bpub, sizeof bpub, &lpub);
    int r2 = read_key_file(ppriv, bpriv, sizeof bpriv, &lpriv);

    if (r1 == -ENOENT && r2 == -ENOENT) {
        /* First use: create the AK under the SRK and keep its blobs. */
        TPM2B_SENSITIVE_CREATE sens = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION creation = {0};
        TPM2B_PRIVATE *opriv = NULL;
        TPM2B_PUBLIC *opub = NULL;
        rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &tmpl, &outside, &creation, &opriv, &opub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
            return tpm_tss_err(err, errlen, rc, "Create (attestation key)");
        pub = *opub;
        priv = *opriv;
        Esys_Free(opub);
        Esys_Free(opriv);
        lpub = lpriv = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, bpub, sizeof bpub, &lpub);
        if (rc == TSS2_RC_SUCCESS)
            rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&priv, bpriv, sizeof bpriv, &lpriv);
        if (rc != TSS2_RC_SUCCESS)
            return tpm_tss_err(err, errlen, rc, "marshal attestation key");
        int r = save_file(ppriv, bpriv, lpriv, err, errlen);
        if (r == 0)
            r = save_file(ppub, bpub, lpub, err, errlen);
        if (r < 0)
            return r;
        tlog("tpm", "created attestation key in %s", t->state_dir);
    } else if (r1 < 0 || r2 < 0) {
        return errf(err, errlen, r1 < 0 ? r1 : r2,
                    "tpm: attestation key incomplete in %s (ak.pub: %s, ak.priv: %s)",
                    t->state_dir, r1 < 0 ? strerror(-r1) : "ok", r2 < 0 ? strerror(-r2) : "ok");
    } else {
        size_t off = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(bpub, lpub, &off, &pub);
        if (rc == TSS2_RC_SUCCESS && off == lpub) {
            off = 0;
            rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(bpriv, lpriv, &off, &priv);
        }
        if (rc != TSS2_RC_SUCCESS || off != lpriv)
            return errf(err, errlen, -EINVAL, "tpm: corrupt attestation key files in %s",
                        t->state_dir);
    }
    rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                   &priv, &pub, &t->ak);
    if (rc != TSS2_RC_SUCCESS) {
        char m[200];
        tpm_tss_err(m, sizeof m, rc, "Load (attestation key)");
        return errf(err, errlen, (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ? -EPROTO : -EIO,
                    "%s; was the TPM state in %s replaced?", m, t->state_dir);
    }
    t->ak_pub = pub;
    return 0;
}

/* ---- its public key ---- */

static const uint8_t p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

int tpm_ak_public(struct tpm *t, uint8_t *der, size_t *len)
{
    t->lasterr[0] = 0;
    if (t->kind == TPM_NONE)
        return errf(t->lasterr, sizeof t->lasterr, -ENODEV, "tpm: no TPM (--tpm none)");
    const TPMS_ECC_POINT *q = &t->ak_pub.publicArea.unique.ecc;
    size_t need = sizeof p256_spki_prefix + 64;
    if (q->x.size > 32 || q->y.size > 32 || q->x.size == 0 || q->y.size == 0)
        return errf(t->lasterr, sizeof t->lasterr, -EPROTO, "tpm: AK is not a P-256 point");
    if (*len < need) {
        *len = need;
        return errf(t->lasterr, sizeof t->lasterr, -ENOBUFS, "tpm: AK buffer too small");
    }
    memcpy(der, p256_spki_prefix, sizeof p256_spki_prefix);
    uint8_t *x = der + sizeof p256_spki_prefix, *y = x + 32;
    memset(x, 0, 64);
    memcpy(x + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(y + 32 - q->y.size, q->y.buffer, q->y.size);
    *len = need;
    return 0;
}

/* ---- quote ---- */

int tpm_quote(struct tpm *t, unsigned pcr, const uint8_t *qual, size_t qual_len,
              uint8_t *attest, size_t *attest_len, uint8_t *sig, size_t *sig_len,
              char *err, size_t errlen)
{
    int r;
    t->lasterr[0] = 0;
    if (pcr > 23)
        return errf(err, errlen, -EINVAL, "tpm: PCR %u does not exist", pcr);
    if (qual_len > TPM_QUAL_MAX || qual_len > sizeof(((TPM2B_DATA *)0)->buffer))
        return errf(err, errlen, -EINVAL, "tpm: qualifying data is %zu bytes (max %d)",
                    qual_len, TPM_QUAL_MAX);
    if ((r = tpm_ready(t, err, errlen)) < 0)
        return r;
    TPM2B_DATA q = {0};
    q.size = (UINT16)qual_len;
    if (qual_len)
        memcpy(q.buffer, qual, qual_len);
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };   /* the key's own: ECDSA/SHA-256 */
    TPML_PCR_SELECTION sel;
    tpm_select_pcr(&sel, pcr);
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    TSS2_RC rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                            &q, &scheme, &sel, &quoted, &signature);
    tpm_guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return tpm_call_failed(t, rc, "Quote", err, errlen);
    }
    r = 0;
    if (quoted->size > *attest_len) {
        r = errf(err, errlen, -ENOBUFS, "tpm: attest buffer too small (%u > %zu)",
                 quoted->size, *attest_len);
    } else {
        memcpy(attest, quoted->attestationData, quoted->size);
        *attest_len = quoted->size;
        size_t off = 0;
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig, *sig_len, &off);
        if (rc != TSS2_RC_SUCCESS)
            r = tpm_tss_err(err, errlen, rc, "marshal signature");
        else
            *sig_len = off;
    }
    Esys_Free(quoted);
    Esys_Free(signature);
    return r;
}

/* ---- files for tpm2_checkquote ---- */

static size_t pem_encode(const uint8_t *der, size_t len, char *out, size_t cap)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, col = 0;
    const char *head = "-----BEGIN PUBLIC KEY-----\n", *tail = "-----END PUBLIC KEY-----\n";
    size_t need = strlen(head) + strlen(tail) + (len + 2) / 3 * 4 + (len / 48 + 2);
    if (need >= cap)
        return 0;
    o += (size_t)sprintf(out + o, "%s", head);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)der[i] << 16;
        if (i + 1 < len) v |= (uint32_t)der[i + 1] << 8;
        if (i + 2 < len) v |= der[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
        if ((col += 4) == 64) { out[o++] = '\n'; col = 0; }
    }
    if (col)
        out[o++] = '\n';
    o += (size_t)sprintf(out + o, "%s", tail);
    return o;
}

int tpm_save_quote_files(const char *dir, unsigned pcr, const uint8_t pcr_value[32],
                         const uint8_t *ak_der, size_t ak_der_len,
                         const uint8_t *attest, size_t attest_len,
                         const uint8_t *sig, size_t sig_len,
                         const uint8_t *qual, size_t qual_len, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    char pem[512];
    int r;
    size_t pem_len = pem_encode(ak_der, ak_der_len, pem, sizeof pem);
    if (!pem_len)
        return errf(err, errlen, -EINVAL, "tpm: AK public key too large for PEM");
    struct { const char *name; const void *buf; size_t len; } files[] = {
        { "quote.msg", attest, attest_len },
        { "quote.sig", sig, sig_len },
        { "ak.pem", pem, pem_len },
        { "quote.pcrs", pcr_value, 32 },
        { "quote.qual", qual, qual_len },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i].name) >= sizeof path)
            return errf(err, errlen, -ENAMETOOLONG, "tpm: path too long: %s", dir);
        if ((r = save_file(path, files[i].buf, files[i].len, err, errlen)) < 0)
            return r;
    }
    char sel[32];
    int n = snprintf(sel, sizeof sel, "sha256:%u\n", pcr);
    snprintf(path, sizeof path, "%s/quote.pcrlist", dir);
    return save_file(path, sel, (size_t)n, err, errlen);
}
