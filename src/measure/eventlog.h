/* measure/eventlog.h — the measured-launch event log: every measurement trevisor extends
 * into its TPM PCR, kept in an append-only, thread-safe list that replays exactly to the
 * PCR's value, written and parsed in the documented text format of docs/measurement.md,
 * and checked against a reference policy.
 *
 * The digest rule (docs/measurement.md, "The digest rule"): for an event of type T over
 * the bytes DATA,
 *     H = SHA-256(DATA)                                          the data hash
 *     D = SHA-256("trevisor-event v1" 0x00 T-NAME 0x00 H)        the digest extended
 * where T-NAME is the type's upper-case ASCII name (e.g. "GUEST_KERNEL"). The log line
 * carries both D and H, so the type is bound (a line whose type was changed no longer
 * matches its D and is refused) and the policy can list plain sha256sum values H. The
 * description is a label for people: it is not measured and a verifier must not trust it.
 *
 * Replay: V0 = 32 zero bytes, Vi = SHA-256(Vi-1 || Di), as TPM2_PCR_Extend on the SHA-256
 * bank does. */
#ifndef TREVISOR_MEASURE_EVENTLOG_H
#define TREVISOR_MEASURE_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EVENTLOG_DIGEST_LEN  32
#define EVENTLOG_DEFAULT_PCR 15
#define EVENTLOG_MAX_PCR     23     /* 0..23, but 16 and 23 (resettable) are refused */
#define EVENTLOG_MAX_EVENTS  65536
#define EVENTLOG_MAX_DESC    1024   /* bytes of a description, before escaping */
#define EVENTLOG_MAX_LINE    4400   /* bytes of one written line, '\n' included */
#define EVENTLOG_KEYID_LEN   8      /* a vendor (minisign) key id */

/* The codes are stable, but the log and the digest rule use the names. */
enum ev_type {
    EV_SELF = 1,       /* trevisor's own executable */
    EV_CONFIG,         /* its configuration */
    EV_POLICY,         /* its policy (trust store, limits) */
    EV_QEMU_BINARY,    /* the QEMU executable */
    EV_QEMU_CMDLINE,   /* QEMU's argv, encoded by eventlog_encode_argv() */
    EV_GUEST_KERNEL,
    EV_GUEST_INITRD,
    EV_GUEST_CMDLINE,  /* the kernel command line, its bytes without a NUL */
    EV_TRE_IMAGE,      /* encoded by eventlog_encode_tre_image() */
    EV_SEPARATOR,      /* empty data: end of the launch measurements */
};
#define EV_TYPE_MIN EV_SELF
#define EV_TYPE_MAX EV_SEPARATOR

/* One event as held by the log (a copy, for readers). */
struct ev_event {
    unsigned pcr;
    enum ev_type type;
    uint8_t digest[EVENTLOG_DIGEST_LEN];     /* D, the value extended */
    uint8_t data_hash[EVENTLOG_DIGEST_LEN];  /* H = SHA-256(data) */
    char desc[EVENTLOG_MAX_DESC + 1];        /* NUL-terminated, never empty, no NUL inside */
};

struct eventlog; /* append-only; every function below may be called from any thread */

/* "GUEST_KERNEL" for EV_GUEST_KERNEL; NULL for a code that is not a type. */
const char *ev_type_name(enum ev_type t);
/* The reverse, exact and case-sensitive; 0 (not a type) if unknown. */
enum ev_type ev_type_from_name(const char *name, size_t len);

/* A new, empty log for PCR pcr (0..23, not 16 or 23): 0, or -EINVAL / -ENOMEM. */
int eventlog_new(unsigned pcr, struct eventlog **out);
void eventlog_free(struct eventlog *l);

unsigned eventlog_pcr(const struct eventlog *l);
size_t eventlog_count(const struct eventlog *l);
/* Copies event i into *ev: 0, or -ENOENT past the end. */
int eventlog_get(const struct eventlog *l, size_t i, struct ev_event *ev);

/* The digests for (type, data) by the digest rule, without appending. digest and data_hash
 * may each be NULL. -EINVAL for an unknown type. */
int eventlog_digest(enum ev_type type, const void *data, size_t len,
                    uint8_t digest[EVENTLOG_DIGEST_LEN], uint8_t data_hash[EVENTLOG_DIGEST_LEN]);
int eventlog_digest_from_hash(enum ev_type type, const uint8_t data_hash[EVENTLOG_DIGEST_LEN],
                              uint8_t digest[EVENTLOG_DIGEST_LEN]);

/* Computes the digest D to extend for (type, data), appends the event and returns D in
 * digest (may be NULL). description: 1..EVENTLOG_MAX_DESC bytes, any bytes but NUL (they
 * are escaped when written). 0, or -EINVAL (type, description), -ENOSPC (log full),
 * -ENOMEM. The caller extends the PCR with D; append first, then extend, so that a failed
 * extend leaves a log that no longer replays (detected) rather than a silent gap. */
int eventlog_append(struct eventlog *l, enum ev_type type, const void *data, size_t len,
                    const char *description, uint8_t digest[EVENTLOG_DIGEST_LEN]);
/* The same, for a caller that already hashed the data (a large file, streamed). */
int eventlog_append_hash(struct eventlog *l, enum ev_type type,
                         const uint8_t data_hash[EVENTLOG_DIGEST_LEN], const char *description,
                         uint8_t digest[EVENTLOG_DIGEST_LEN]);
/* The same for the contents of the file at path, read in chunks. -errno from open/read. */
int eventlog_append_file(struct eventlog *l, enum ev_type type, const char *path,
                         const char *description, uint8_t digest[EVENTLOG_DIGEST_LEN]);

/* Canonical data encodings (docs/measurement.md). Each returns the number of bytes the
 * encoding takes, and writes it to out only if it fits in cap (so call once with cap 0 to
 * size the buffer); -EINVAL on bad arguments or an encoding over 64 MiB.
 *   argv:      each argument's bytes followed by one 0x00, in order (argc >= 1).
 *   TRE image: "trevisor-tre-image v1" 0x00, the image's SHA-256 (32 bytes), the key id
 *              (8 bytes), the manifest's length (u32, big-endian), the manifest bytes. */
long eventlog_encode_argv(char *const argv[], uint8_t *out, size_t cap);
long eventlog_encode_tre_image(const uint8_t image_sha256[32],
                               const uint8_t keyid[EVENTLOG_KEYID_LEN],
                               const void *manifest, size_t manifest_len,
                               uint8_t *out, size_t cap);

/* Writes the log in the documented format: 0, or -EIO. */
int eventlog_write(const struct eventlog *l, FILE *f);
/* The same into a malloc'd NUL-terminated buffer (*len without the NUL): 0 or -ENOMEM. */
int eventlog_format(const struct eventlog *l, char **text, size_t *len);

/* Parses an untrusted log, strictly: the header, then one canonical line per event, each
 * ending in '\n'; every D must follow from its type and H; nothing else is accepted (so
 * writing a parsed log gives back the same bytes). 0 and *out, or -EINVAL with one line in
 * err naming the line number ("eventlog: line 3: ..."), or -ENOMEM. */
int eventlog_parse(const char *text, size_t len, struct eventlog **out, char *err,
                   size_t errlen);

/* Replays the log: V0 = 32 zero bytes, V = SHA-256(V || D) for each event. Returns 0. */
int eventlog_replay(const struct eventlog *l, uint8_t pcr_value[EVENTLOG_DIGEST_LEN]);

/* Checks each event against a reference policy (format in docs/measurement.md: a header
 * "trevisor-policy v1", then "TYPE SHA256-HEX" lines listing the allowed data hashes H of
 * each type, '#' comments and blank lines). 0 if every event is allowed; -EACCES naming
 * the first event that is not; -EINVAL if the policy text is malformed. */
int eventlog_check_policy(const struct eventlog *l, const char *policy_text, size_t len,
                          char *err, size_t errlen);

#endif
