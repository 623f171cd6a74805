/* measure/measured.h — trevisor's measured launch: one TPM, one PCR and the event log that
 * replays to it. The launch measures itself, its configuration and policy, QEMU and the
 * guest (docs/measurement.md), ends with a separator, then unseals the sealing master
 * (measure/sealer.h); every distinct TRE image is measured once before it first runs.
 * Quotes are taken under the same lock as extends, so a quote's log always replays to the
 * quoted PCR. With the "none" backend the log is kept but nothing is extended, quotes are
 * UNTRUSTED bundles over the log's own replay, and sealing is refused (-ENODEV):
 * development only. Thread-safe. */
#ifndef TREVISOR_MEASURE_MEASURED_H
#define TREVISOR_MEASURE_MEASURED_H

#include <stddef.h>
#include <stdint.h>

#include "measure/eventlog.h"
#include "measure/tpm.h"

struct measured;
struct sealer;

struct measured_config {
    enum tpm_kind kind;
    const char *device;       /* TPM_DEVICE: the device path (NULL: /dev/tpmrm0) */
    const char *state_dir;    /* required for swtpm; keeps the AK and the sealing state */
    unsigned pcr;             /* 0: EVENTLOG_DEFAULT_PCR */
};

int measured_open(const struct measured_config *c, struct measured **out, char *err,
                  size_t errlen);
void measured_free(struct measured *m);

/* Launch events; each appends to the log, then extends the PCR. */
int measured_self(struct measured *m, char *err, size_t errlen);
int measured_file(struct measured *m, enum ev_type type, const char *path, char *err,
                  size_t errlen);
int measured_data(struct measured *m, enum ev_type type, const void *data, size_t len,
                  const char *desc, char *err, size_t errlen);
/* The separator; then opens the sealer. A sealer that cannot open is logged and leaves
 * sealing refused (the caller goes on). */
int measured_end_launch(struct measured *m, char *err, size_t errlen);

/* A TRE image about to run: returns its measurement (the TRE_IMAGE event's data hash H).
 * The first load of an image with this H measures it; later loads only look it up. */
int measured_image(struct measured *m, const uint8_t sha256[32], const uint8_t keyid[8],
                   const void *manifest, size_t manifest_len, const char *label,
                   uint8_t measurement[32], char *err, size_t errlen);

/* Rollback check of a program's security version (sealer_check_svn), serialised with the
 * other TPM commands. Without a sealer it allows everything and says so once. */
int measured_check_svn(struct measured *m, const uint8_t keyid[8], const char *name,
                       uint32_t svn, char *err, size_t errlen);

/* A quote bundle (measure/quote.h) over the PCR and the log as of now (with --tpm none an
 * untrusted one). measurement is 32 zero bytes for the owner. Returns a malloc'd bundle. */
int measured_quote(struct measured *m, const uint8_t *nonce, size_t nonce_len,
                   const uint8_t measurement[32], const uint8_t *report, size_t report_len,
                   uint8_t **bundle, size_t *len, char *err, size_t errlen);

/* The sealer, or NULL when sealing is unavailable (then *why says why). */
struct sealer *measured_sealer(struct measured *m, const char **why);
unsigned measured_pcr(const struct measured *m);
enum tpm_kind measured_kind(const struct measured *m);
/* The log's text (malloc'd). */
int measured_log_text(struct measured *m, char **text, size_t *len);

#endif
