/* measure/measured.c — the measured launch (measure/measured.h): owns the TPM handle, the
 * event log and the sealer for the process, and the set of TRE images already measured.
 * It appends every event to the log (and its copy in the state directory) before it
 * extends the PCR, and never lets a quote interleave with an extend. A TPM whose PCR is
 * not zero at start (a device, trevisor restarted without a reboot) continues the saved
 * log if that replays to the PCR. It never decides what to measure: the commands do. */
#include "measure/measured.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/sha.h>

#include "measure/quote.h"
#include "measure/sealer.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#define MEASURED_MAX_IMAGES EVENTLOG_MAX_EVENTS

struct measured {
    pthread_mutex_t lock;
    struct tpm *tpm;
    struct eventlog *log;
    unsigned pcr;
    struct sealer *sealer;
    char seal_why[256];
    char state_dir[4096];
    uint8_t (*images)[32];    /* measurements (H) of the images measured so far */
    size_t nimages, cap_images;
    int rollback_warned;
    char log_path[4200];      /* STATE/eventlog-pcrN: the log as extended so far; "" none */
    int log_save_warned;
};

/* Saves the log (under the lock) to log_path: a temporary file renamed over it. Not
 * synced: it matters only while the TPM keeps its PCRs, which a power loss resets. */
static void measured_save_log(struct measured *m)
{
    if (!m->log_path[0])
        return;
    char tmp[sizeof m->log_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->log_path);
    FILE *f = fopen(tmp, "w");
    int ok = f && eventlog_write(m->log, f) == 0;
    ok = f && fclose(f) == 0 && ok;
    if (ok && rename(tmp, m->log_path) == 0)
        return;
    unlink(tmp);
    if (!m->log_save_warned) {
        m->log_save_warned = 1;
        tlog("measure", "warning: cannot save the event log to %s: a restart of trevisor "
             "without a reboot of the TPM will not be able to continue it", m->log_path);
    }
}

/* The PCR holds v, not zero: something was extended before this start. If it was an
 * earlier trevisor on this TPM since its last reset, its saved log (all of it, or all but
 * the last event, whose extend may not have happened) replays to v: continue that log. */
static void measured_continue_log(struct measured *m, const uint8_t v[32])
{
    char *text = NULL, perr[256];
    size_t len = 0;
    struct eventlog *saved = NULL;
    int adopted = 0;
    if (m->log_path[0] && file_read_all(m->log_path, 64u << 20, &text, &len) == 0 &&
        eventlog_parse(text, len, &saved, perr, sizeof perr) == 0 &&
        eventlog_pcr(saved) == m->pcr) {
        size_t n = eventlog_count(saved), k;
        uint8_t acc[32] = { 0 }, prev[32] = { 0 }, buf[64];
        struct ev_event ev;
        for (size_t i = 0; i < n && eventlog_get(saved, i, &ev) == 0; i++) {
            memcpy(prev, acc, 32);
            memcpy(buf, acc, 32);
            memcpy(buf + 32, ev.digest, 32);
            SHA256(buf, 64, acc);
        }
        k = !memcmp(acc, v, 32) ? n : (n && !memcmp(prev, v, 32)) ? n - 1 : (size_t)-1;
        if (k != (size_t)-1) {
            adopted = 1;
            for (size_t i = 0; i < k && adopted; i++)
                adopted = eventlog_get(saved, i, &ev) == 0 &&
                          eventlog_append_hash(m->log, ev.type, ev.data_hash, ev.desc,
                                               NULL) == 0;
            if (adopted)
                tlog("measure", "PCR %u continues the log of an earlier trevisor since the "
                     "TPM's last reset (%zu events, %s): quotes show both launches", m->pcr, k,
                     m->log_path);
        }
    }
    free(text);
    eventlog_free(saved);
    if (!adopted) {
        if (eventlog_count(m->log)) {          /* half adopted: start clean */
            eventlog_free(m->log);
            m->log = NULL;
            if (eventlog_new(m->pcr, &m->log))
                m->log = NULL;
        }
        tlog("measure", "warning: PCR %u is not zero at start and no saved log replays to "
             "it: something else extends it, so the log will not replay to it (choose "
             "another --pcr, or reboot)", m->pcr);
    }
}

int measured_open(const struct measured_config *c, struct measured **out, char *err,
                  size_t errlen)
{
    unsigned pcr = c->pcr ? c->pcr : EVENTLOG_DEFAULT_PCR;
    if (pcr > EVENTLOG_MAX_PCR || pcr == 16 || pcr == 23)
        return errf(err, errlen, -EINVAL, "measure: PCR %u cannot be used (0..23, not the "
                    "resettable 16 or 23)", pcr);
    struct measured *m = calloc(1, sizeof *m);
    if (!m)
        return errf(err, errlen, -ENOMEM, "measure: out of memory");
    pthread_mutex_init(&m->lock, NULL);
    m->pcr = pcr;
    snprintf(m->seal_why, sizeof m->seal_why, "sealing is not open yet");
    snprintf(m->state_dir, sizeof m->state_dir, "%s", c->state_dir ? c->state_dir : "");
    int r = eventlog_new(pcr, &m->log);
    if (r) {
        errf(err, errlen, r, "measure: cannot make the event log");
        goto fail;
    }
    if (c->kind == TPM_DEVICE)
        r = tpm_open_device(c->device, c->state_dir, &m->tpm, err, errlen);
    else
        r = tpm_open(c->kind, c->state_dir, &m->tpm, err, errlen);
    if (r)
        goto fail;
    if (c->kind != TPM_NONE) {
        /* a fresh boot of the embedded swtpm starts at zero; a device PCR may not */
        uint8_t v[32], zero[32] = { 0 };
        r = tpm_pcr_read(m->tpm, pcr, v);
        if (r) {
            errf(err, errlen, r, "measure: %s", tpm_last_error(m->tpm));
            goto fail;
        }
        /* only a device keeps its PCRs past this process: trevisor's own swtpm starts
         * from zero at every launch, so a saved log could never be continued there */
        if (c->kind == TPM_DEVICE && c->state_dir && *c->state_dir)
            snprintf(m->log_path, sizeof m->log_path, "%s/eventlog-pcr%u", c->state_dir,
                     pcr);
        if (memcmp(v, zero, 32)) {
            measured_continue_log(m, v);
            if (!m->log) {
                r = errf(err, errlen, -ENOMEM, "measure: out of memory");
                goto fail;
            }
        }
    }
    *out = m;
    return 0;
fail:
    measured_free(m);
    return r;
}

void measured_free(struct measured *m)
{
    if (!m)
        return;
    sealer_free(m->sealer);
    tpm_close(m->tpm);
    eventlog_free(m->log);
    free(m->images);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Appends (type, H) and extends; the lock is held. */
static int measured_append_locked(struct measured *m, enum ev_type type, const uint8_t h[32],
                                  const char *desc, char *err, size_t errlen)
{
    uint8_t d[32];
    int r = eventlog_append_hash(m->log, type, h, desc, d);
    if (r)
        return errf(err, errlen, r, "measure: cannot log %s: %s", ev_type_name(type),
                    strerror(-r));
    if (tpm_kind_of(m->tpm) == TPM_NONE)
        return 0;
    measured_save_log(m);       /* before the extend: a restart accepts one event more */
    r = tpm_pcr_extend(m->tpm, m->pcr, d);
    if (r)
        return errf(err, errlen, r, "measure: extending PCR %u with %s failed: %s", m->pcr,
                    ev_type_name(type), tpm_last_error(m->tpm));
    return 0;
}

int measured_data(struct measured *m, enum ev_type type, const void *data, size_t len,
                  const char *desc, char *err, size_t errlen)
{
    uint8_t h[32];
    SHA256(data, len, h);
    pthread_mutex_lock(&m->lock);
    int r = measured_append_locked(m, type, h, desc, err, errlen);
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int measured_hash_file(const char *path, uint8_t h[32], char *err, size_t errlen)
{
    int r = file_sha256(path, h);
    return r ? errf(err, errlen, r, "measure: cannot read %s: %s", path, strerror(-r)) : 0;
}

int measured_file(struct measured *m, enum ev_type type, const char *path, char *err,
                  size_t errlen)
{
    uint8_t h[32];
    int r = measured_hash_file(path, h, err, errlen);
    if (r)
        return r;
    pthread_mutex_lock(&m->lock);
    r = measured_append_locked(m, type, h, path, err, errlen);
    pthread_mutex_unlock(&m->lock);
    return r;
}

int measured_self(struct measured *m, char *err, size_t errlen)
{
    uint8_t h[32];
    int r = measured_hash_file("/proc/self/exe", h, err, errlen);
    if (r)
        return r;
    char path[1024];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    pthread_mutex_lock(&m->lock);
    r = measured_append_locked(m, EV_SELF, h, n > 0 ? path : "trevisor", err, errlen);
    pthread_mutex_unlock(&m->lock);
    return r;
}

int measured_end_launch(struct measured *m, char *err, size_t errlen)
{
    int r = measured_data(m, EV_SEPARATOR, "", 0, "end of launch", err, errlen);
    if (r)
        return r;
    if (tpm_kind_of(m->tpm) == TPM_NONE) {
        snprintf(m->seal_why, sizeof m->seal_why, "no TPM (--tpm none): sealing is off");
        return 0;
    }
    if (!m->state_dir[0]) {
        snprintf(m->seal_why, sizeof m->seal_why, "no state directory: sealing is off");
        return 0;
    }
    char serr[256] = "";
    pthread_mutex_lock(&m->lock);
    int s = sealer_open(m->tpm, m->pcr, m->state_dir, &m->sealer, serr, sizeof serr);
    pthread_mutex_unlock(&m->lock);
    if (s) {
        m->sealer = NULL;
        snprintf(m->seal_why, sizeof m->seal_why, "sealing is unavailable: %s", serr);
        tlog("measure", "%s", m->seal_why);
    }
    return 0;
}

int measured_image(struct measured *m, const uint8_t sha256[32], const uint8_t keyid[8],
                   const void *manifest, size_t manifest_len, const char *label,
                   uint8_t measurement[32], char *err, size_t errlen)
{
    long n = eventlog_encode_tre_image(sha256, keyid, manifest, manifest_len, NULL, 0);
    if (n < 0)
        return errf(err, errlen, (int)n, "measure: cannot encode the image's event");
    uint8_t *enc = malloc((size_t)n);
    if (!enc)
        return errf(err, errlen, -ENOMEM, "measure: out of memory");
    eventlog_encode_tre_image(sha256, keyid, manifest, manifest_len, enc, (size_t)n);
    SHA256(enc, (size_t)n, measurement);
    free(enc);

    int r = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nimages; i++)
        if (!memcmp(m->images[i], measurement, 32))
            goto out; /* measured before, in this launch */
    if (m->nimages == MEASURED_MAX_IMAGES) {
        r = errf(err, errlen, -ENOSPC, "measure: %d distinct images measured already",
                 MEASURED_MAX_IMAGES);
        goto out;
    }
    if (m->nimages == m->cap_images) {
        size_t nc = m->cap_images ? 2 * m->cap_images : 16;
        void *p = realloc(m->images, nc * 32);
        if (!p) {
            r = errf(err, errlen, -ENOMEM, "measure: out of memory");
            goto out;
        }
        m->images = p;
        m->cap_images = nc;
    }
    r = measured_append_locked(m, EV_TRE_IMAGE, measurement, label, err, errlen);
    if (!r)
        memcpy(m->images[m->nimages++], measurement, 32);
out:
    pthread_mutex_unlock(&m->lock);
    return r;
}

int measured_quote(struct measured *m, const uint8_t *nonce, size_t nonce_len,
                   const uint8_t measurement[32], const uint8_t *report, size_t report_len,
                   uint8_t **bundle, size_t *len, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->lock);
    char *text = NULL;
    size_t tlen = 0;
    int r = eventlog_format(m->log, &text, &tlen);
    if (r) {
        errf(err, errlen, r, "attest: cannot format the event log");
    } else if (tpm_kind_of(m->tpm) == TPM_NONE) {
        /* no TPM: the log's own replay stands in for the PCR, and the bundle says it is
         * UNTRUSTED, so no verifier takes it for a quote unless told to */
        uint8_t replay[32];
        eventlog_replay(m->log, replay);
        r = quote_make_untrusted(m->pcr, replay, text, tlen, nonce, nonce_len, measurement,
                                 report, report_len, bundle, len, err, errlen);
    } else {
        r = quote_make(m->tpm, m->pcr, text, tlen, nonce, nonce_len, measurement, report,
                       report_len, bundle, len, err, errlen);
    }
    pthread_mutex_unlock(&m->lock);
    free(text);
    return r;
}

int measured_check_svn(struct measured *m, const uint8_t keyid[8], const char *name,
                       uint32_t svn, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->lock);
    int r = 0;
    if (m->sealer)
        r = sealer_check_svn(m->sealer, keyid, name, svn, err, errlen);
    else if (!m->rollback_warned) {
        m->rollback_warned = 1;
        tlog("measure", "warning: rollback protection is off (%s)", m->seal_why);
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

struct sealer *measured_sealer(struct measured *m, const char **why)
{
    if (why)
        *why = m->seal_why;
    return m->sealer;
}

unsigned measured_pcr(const struct measured *m)
{
    return m->pcr;
}

enum tpm_kind measured_kind(const struct measured *m)
{
    return tpm_kind_of(m->tpm);
}

int measured_log_text(struct measured *m, char **text, size_t *len)
{
    pthread_mutex_lock(&m->lock);
    int r = eventlog_format(m->log, text, len);
    pthread_mutex_unlock(&m->lock);
    return r;
}
