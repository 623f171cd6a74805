/* measure/tpm_impl.h — what the files of the TPM backend share and nothing outside them
 * may use: struct tpm, the error and SIGPIPE-guard helpers (tpm.c), the swtpm child
 * (tpm_swtpm.c), the storage and attestation keys (tpm.c, tpm_quote.c). The API is
 * measure/tpm.h; the layout is in docs/tpm.md. */
#ifndef TREVISOR_MEASURE_TPM_IMPL_H
#define TREVISOR_MEASURE_TPM_IMPL_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

#include <tss2/tss2_esys.h>

#include "measure/tpm.h"

struct tpm {
    enum tpm_kind kind;
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    pid_t child;             /* swtpm, or 0 */
    int child_dead;          /* reaped already */
    char state_dir[PATH_MAX];/* "" if none */
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    ESYS_TR srk;
    ESYS_TR ak;
    TPM2B_PUBLIC ak_pub;
    int broken;              /* a TCTI/ESYS-level failure: the connection is unusable */
    char broken_msg[200];
    char lasterr[256];
};

/* ---- errors (tpm.c) ---- */

/* One line "tpm: what: decoded rc (0x..)"; -EPROTO for a TPM-layer code, else -EIO. */
int tpm_tss_err(char *err, size_t errlen, TSS2_RC rc, const char *what);
/* After a failed TPM call: a dead swtpm is named as such; any failure below the TPM
 * (TCTI, ESYS) marks the connection broken, so later calls report the first cause. */
int tpm_call_failed(struct tpm *t, TSS2_RC rc, const char *what, char *err, size_t errlen);
/* As tpm_call_failed; a TPM-layer refusal becomes `code` with "what: rc; why" in err. */
int tpm_call_refused(struct tpm *t, TSS2_RC rc, const char *what, int code,
                     const char *why, char *err, size_t errlen);
/* The response code without its handle/parameter/session number, for comparisons. */
TSS2_RC tpm_rc_base(TSS2_RC rc);
int tpm_rc_is_tpm_layer(TSS2_RC rc);
/* 0 if the TPM can take a command: -ENODEV for TPM_NONE, -EIO broken or swtpm gone. */
int tpm_ready(struct tpm *t, char *err, size_t errlen);
int tpm_mkdir1(const char *path, char *err, size_t errlen);   /* mode 0700, EEXIST ok */

/* ---- the SIGPIPE guard around every TPM call (tpm.c) ---- */

struct tpm_pipe_guard { sigset_t old; int pending_before; };
void tpm_guard_enter(struct tpm_pipe_guard *g);
void tpm_guard_leave(struct tpm_pipe_guard *g);

/* ---- the swtpm child (tpm_swtpm.c) ---- */

/* Starts swtpm on STATE/swtpm and waits until both its sockets answer; sets t->sock. */
int tpm_swtpm_start(struct tpm *t, char *err, size_t errlen);
/* SIGTERM, then SIGKILL after a grace period; reaps it. No child is fine. */
void tpm_swtpm_stop(struct tpm *t);
/* 0 unless t is a swtpm that has exited (reaped here, -EIO with the cause in err). */
int tpm_swtpm_check(struct tpm *t, char *err, size_t errlen);

/* ---- keys ---- */

/* The PCR selection of one SHA-256 PCR (tpm.c). */
void tpm_select_pcr(TPML_PCR_SELECTION *s, unsigned pcr);
/* The template both keys share: a restricted ECC P-256 key, SHA-256 name, fixed to this
 * TPM and its parent, made by the TPM, with attrs added (the key's use). Returns its
 * ECC parameters for the caller to finish: symmetric and scheme (tpm.c). */
TPMS_ECC_PARMS *tpm_ecc_template(TPM2B_PUBLIC *p, TPMA_OBJECT attrs);
/* A primary key under the owner hierarchy from tmpl (tpm.c). */
int tpm_create_primary(struct tpm *t, const TPM2B_PUBLIC *tmpl, ESYS_TR *h,
                       TPM2B_PUBLIC *pub_out, char *err, size_t errlen);
/* The SRK, made on first need when the open did not make it; inside a guard (tpm.c). */
int tpm_ensure_srk(struct tpm *t, char *err, size_t errlen);
/* Loads the AK from the state directory or creates and saves it, or without a state
 * directory makes it a primary key; inside a guard (tpm_quote.c). */
int tpm_ak_load_or_create(struct tpm *t, char *err, size_t errlen);

#endif
