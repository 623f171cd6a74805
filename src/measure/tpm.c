/* measure/tpm.c — the TPM 2.0 backend through tss2-esys and the tcti loader
 * (measure/tpm.h): opening and closing a backend, the storage key, PCR extend and read,
 * and the error and SIGPIPE-guard helpers the other tpm_*.c files share (tpm_impl.h).
 *
 * TPM_SWTPM runs a swtpm child (tpm_swtpm.c) and talks to it over a Unix socket
 * ("swtpm:path=STATE/swtpm/sock"). TPM_DEVICE opens "device:/dev/tpmrm0". TPM_NONE
 * refuses extends and quotes with -ENODEV.
 *
 * Keys: an ECC P-256 storage primary key (SRK) is recreated under the owner hierarchy at
 * each open (deterministic from the owner seed, so it is always the same key); the
 * attestation key under it is tpm_quote.c's. Owner hierarchy auth is assumed empty.
 * Sealed objects are tpm_seal.c's, NV indices tpm_nv.c's. No TPM object outlives a call.
 *
 * Errors: every TSS return code becomes one line with Tss2_RC_Decode; a TPM-layer error
 * gives -EPROTO, anything below it (TCTI, ESYS, a dead swtpm) -EIO. SIGPIPE is blocked
 * around every TPM call so that a swtpm dying mid-command gives an error, not a crash. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "measure/tpm_impl.h"
#include "util/err.h"
#include "util/log.h"

/* ---- errors ---- */

int tpm_tss_err(char *err, size_t errlen, TSS2_RC rc, const char *what)
{
    int code = (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ? -EPROTO : -EIO;
    return errf(err, errlen, code, "tpm: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
}

/* After a failed TPM call: a dead swtpm is named as such; any failure below the TPM
 * (TCTI, ESYS) leaves the ESYS context unusable, so later calls report the first cause
 * instead of ESYS's "called in the wrong order". */
int tpm_call_failed(struct tpm *t, TSS2_RC rc, const char *what, char *err, size_t errlen)
{
    int r = tpm_tss_err(err, errlen, rc, what);
    if (tpm_swtpm_check(t, err, errlen) < 0)
        r = -EIO;
    if (r == -EIO && !t->broken) {
        t->broken = 1;
        snprintf(t->broken_msg, sizeof t->broken_msg, "%s", err && errlen ? err : what);
    }
    return r;
}

/* The response code without its handle/parameter/session number, for comparisons. */
TSS2_RC tpm_rc_base(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3f);
    return rc & (TPM2_RC_WARN | TPM2_RC_VER1 | 0x7f);
}

int tpm_rc_is_tpm_layer(TSS2_RC rc)
{
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
}

/* A failed call: -EIO and the broken state as tpm_call_failed decides; a TPM-layer
 * refusal becomes `code` with "what: decoded rc; why" in err. */
int tpm_call_refused(struct tpm *t, TSS2_RC rc, const char *what, int code,
                     const char *why, char *err, size_t errlen)
{
    int r = tpm_call_failed(t, rc, what, err, errlen);
    if (r != -EPROTO || code == -EPROTO)
        return r;
    return errf(err, errlen, code, "tpm: %s: %s (0x%x)%s%s", what, Tss2_RC_Decode(rc), rc,
                why ? ": " : "", why ? why : "");
}

int tpm_ready(struct tpm *t, char *err, size_t errlen)
{
    if (t->kind == TPM_NONE)
        return errf(err, errlen, -ENODEV, "tpm: no TPM (--tpm none): refused");
    if (t->broken)
        return errf(err, errlen, -EIO, "tpm: unusable since an earlier failure: %s",
                    t->broken_msg);
    return tpm_swtpm_check(t, err, errlen);
}

int tpm_mkdir1(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return errf(err, errlen, -errno, "tpm: mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* ---- SIGPIPE guard ---- */

void tpm_guard_enter(struct tpm_pipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    g->pending_before = sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void tpm_guard_leave(struct tpm_pipe_guard *g)
{
    if (!g->pending_before) {
        sigset_t set, pend;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigpending(&pend);
        if (sigismember(&pend, SIGPIPE)) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {}
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- keys ---- */

TPMS_ECC_PARMS *tpm_ecc_template(TPM2B_PUBLIC *p, TPMA_OBJECT attrs)
{
    memset(p, 0, sizeof *p);
    p->publicArea.type = TPM2_ALG_ECC;
    p->publicArea.nameAlg = TPM2_ALG_SHA256;
    p->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
        TPMA_OBJECT_RESTRICTED | attrs;
    TPMS_ECC_PARMS *e = &p->publicArea.parameters.eccDetail;
    e->curveID = TPM2_ECC_NIST_P256;
    e->kdf.scheme = TPM2_ALG_NULL;
    return e;
}

static void srk_template(TPM2B_PUBLIC *p)
{
    TPMS_ECC_PARMS *e = tpm_ecc_template(p, TPMA_OBJECT_NODA | TPMA_OBJECT_DECRYPT);
    e->symmetric.algorithm = TPM2_ALG_AES;
    e->symmetric.keyBits.aes = 128;
    e->symmetric.mode.aes = TPM2_ALG_CFB;
    e->scheme.scheme = TPM2_ALG_NULL;
}

int tpm_create_primary(struct tpm *t, const TPM2B_PUBLIC *tmpl, ESYS_TR *h,
                       TPM2B_PUBLIC *pub_out, char *err, size_t errlen)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                    ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl, &outside,
                                    &creation, h, &pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_tss_err(err, errlen, rc, "CreatePrimary");
    if (pub_out)
        *pub_out = *pub;
    Esys_Free(pub);
    return 0;
}

/* The SRK exists when a state directory was given; a device opened without one makes it
 * on first need. Called inside a pipe guard. */
int tpm_ensure_srk(struct tpm *t, char *err, size_t errlen)
{
    if (t->srk != ESYS_TR_NONE)
        return 0;
    TPM2B_PUBLIC tmpl;
    srk_template(&tmpl);
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                                    &creation, &t->srk, NULL, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->srk = ESYS_TR_NONE;
        return tpm_call_failed(t, rc, "CreatePrimary (storage key)", err, errlen);
    }
    return 0;
}

/* ---- open/close ---- */

static int open_common(struct tpm *t, const char *tcti_conf, char *err, size_t errlen)
{
    /* The TSS logs its own errors to stderr; we report one line ourselves. */
    setenv("TSS2_LOG", "all+none", 0);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_tss_err(err, errlen, rc, tcti_conf);
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_tss_err(err, errlen, rc, "Esys_Initialize");
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    int r = 0;
    if (t->state_dir[0]) {
        TPM2B_PUBLIC tmpl;
        srk_template(&tmpl);
        r = tpm_create_primary(t, &tmpl, &t->srk, NULL, err, errlen);
    }
    if (r == 0)
        r = tpm_ak_load_or_create(t, err, errlen);
    tpm_guard_leave(&g);
    return r;
}

static struct tpm *tpm_new(enum tpm_kind kind)
{
    struct tpm *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->kind = kind;
    t->srk = ESYS_TR_NONE;
    t->ak = ESYS_TR_NONE;
    return t;
}

int tpm_open_device(const char *device, const char *state_dir, struct tpm **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (!device)
        device = "/dev/tpmrm0";
    struct tpm *t = tpm_new(TPM_DEVICE);
    if (!t)
        return errf(err, errlen, -ENOMEM, "tpm: out of memory");
    int r = 0;
    if (state_dir && *state_dir) {
        if (strlen(state_dir) >= sizeof t->state_dir - 32) {
            free(t);
            return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
        }
        snprintf(t->state_dir, sizeof t->state_dir, "%s", state_dir);
        if ((r = tpm_mkdir1(t->state_dir, err, errlen)) < 0) {
            free(t);
            return r;
        }
    }
    if (access(device, R_OK | W_OK) < 0) {
        int e = errno;
        free(t);
        return errf(err, errlen, -e, "tpm: %s: %s", device, strerror(e));
    }
    char conf[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "device:%s", device);
    if ((r = open_common(t, conf, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    *out = t;
    return 0;
}

int tpm_open(enum tpm_kind kind, const char *arg, struct tpm **out, char *err, size_t errlen)
{
    *out = NULL;
    if (kind == TPM_DEVICE)
        return tpm_open_device(arg, NULL, out, err, errlen);
    if (kind == TPM_NONE) {
        struct tpm *t = tpm_new(TPM_NONE);
        if (!t)
            return errf(err, errlen, -ENOMEM, "tpm: out of memory");
        tlog("tpm", "WARNING: --tpm none: NO TPM, so this host cannot be attested: nothing "
                    "is extended and no quote is signed. For development only.");
        *out = t;
        return 0;
    }
    if (kind != TPM_SWTPM)
        return errf(err, errlen, -EINVAL, "tpm: unknown backend %d", (int)kind);
    if (!arg || !*arg)
        return errf(err, errlen, -EINVAL, "tpm: swtpm needs a state directory");
    struct tpm *t = tpm_new(TPM_SWTPM);
    if (!t)
        return errf(err, errlen, -ENOMEM, "tpm: out of memory");
    int r;
    if (strlen(arg) >= sizeof t->state_dir - 32) {
        free(t);
        return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
    }
    snprintf(t->state_dir, sizeof t->state_dir, "%s", arg);
    if ((r = tpm_mkdir1(t->state_dir, err, errlen)) < 0 ||
        (r = tpm_swtpm_start(t, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    char conf[sizeof t->sock + 16];
    snprintf(conf, sizeof conf, "swtpm:path=%s", t->sock);
    if ((r = open_common(t, conf, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    *out = t;
    return 0;
}

void tpm_close(struct tpm *t)
{
    if (!t)
        return;
    if (t->esys) {
        struct tpm_pipe_guard g;
        tpm_guard_enter(&g);
        if (!t->broken && tpm_swtpm_check(t, NULL, 0) == 0) {
            if (t->ak != ESYS_TR_NONE)
                Esys_FlushContext(t->esys, t->ak);
            if (t->srk != ESYS_TR_NONE)
                Esys_FlushContext(t->esys, t->srk);
            if (t->kind == TPM_SWTPM)  /* orderly shutdown so swtpm saves its state */
                Esys_Shutdown(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              TPM2_SU_STATE);
        }
        Esys_Finalize(&t->esys);
        tpm_guard_leave(&g);
    }
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
    tpm_swtpm_stop(t);
    free(t);
}

enum tpm_kind tpm_kind_of(const struct tpm *t)
{
    return t->kind;
}

const char *tpm_last_error(const struct tpm *t)
{
    return t ? t->lasterr : "tpm: no TPM";
}

pid_t tpm_swtpm_pid(const struct tpm *t)
{
    return t && t->kind == TPM_SWTPM && !t->child_dead ? t->child : -1;
}

/* ---- PCRs ---- */

static int pcr_ok(struct tpm *t, unsigned pcr)
{
    if (pcr > 23)
        return errf(t->lasterr, sizeof t->lasterr, -EINVAL, "tpm: PCR %u does not exist", pcr);
    return 0;
}

int tpm_pcr_extend(struct tpm *t, unsigned pcr, const uint8_t sha256[32])
{
    int r;
    t->lasterr[0] = 0;
    if ((r = pcr_ok(t, pcr)) < 0)
        return r;
    if (pcr == 16 || pcr == 23)
        return errf(t->lasterr, sizeof t->lasterr, -EPERM,
                    "tpm: PCR %u can be reset at locality 0; refusing to measure into it", pcr);
    if ((r = tpm_ready(t, t->lasterr, sizeof t->lasterr)) < 0)
        return r;
    TPML_DIGEST_VALUES d = {0};
    d.count = 1;
    d.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(d.digests[0].digest.sha256, sha256, 32);
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    TSS2_RC rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, &d);
    tpm_guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return tpm_call_failed(t, rc, "PCR_Extend", t->lasterr, sizeof t->lasterr);
    }
    return 0;
}

void tpm_select_pcr(TPML_PCR_SELECTION *s, unsigned pcr)
{
    memset(s, 0, sizeof *s);
    s->count = 1;
    s->pcrSelections[0].hash = TPM2_ALG_SHA256;
    s->pcrSelections[0].sizeofSelect = 3;
    s->pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
}

int tpm_pcr_read(struct tpm *t, unsigned pcr, uint8_t out[32])
{
    int r;
    t->lasterr[0] = 0;
    if ((r = pcr_ok(t, pcr)) < 0)
        return r;
    if ((r = tpm_ready(t, t->lasterr, sizeof t->lasterr)) < 0)
        return r;
    TPML_PCR_SELECTION sel, *sel_out = NULL;
    TPML_DIGEST *vals = NULL;
    UINT32 counter;
    tpm_select_pcr(&sel, pcr);
    struct tpm_pipe_guard g;
    tpm_guard_enter(&g);
    TSS2_RC rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                               &counter, &sel_out, &vals);
    tpm_guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return tpm_call_failed(t, rc, "PCR_Read", t->lasterr, sizeof t->lasterr);
    }
    r = 0;
    if (!vals || vals->count != 1 || vals->digests[0].size != 32)
        r = errf(t->lasterr, sizeof t->lasterr, -EPROTO,
                 "tpm: PCR %u has no SHA-256 bank value", pcr);
    else
        memcpy(out, vals->digests[0].buffer, 32);
    Esys_Free(sel_out);
    Esys_Free(vals);
    return r;
}
