/* measure/eventlog.c — the measured-launch event log (see eventlog.h and
 * docs/measurement.md): append, the digest rule, the text format, its strict parser,
 * replay, and the reference policy check. */
#include "measure/eventlog.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "util/err.h"

#define HEADER_PREFIX "trevisor-eventlog "
#define HEADER_V1     "trevisor-eventlog v1 sha256 pcr="
#define EVENT_DOMAIN  "trevisor-event v1"      /* followed by its NUL in the encoding */
#define TRE_DOMAIN    "trevisor-tre-image v1"
#define POLICY_HEADER "trevisor-policy v1"
#define ENCODE_MAX    (64l << 20)

struct ev_rec {
    uint8_t type;
    uint8_t d[EVENTLOG_DIGEST_LEN];
    uint8_t h[EVENTLOG_DIGEST_LEN];
    char *desc; /* malloc'd, NUL-terminated */
};

struct eventlog {
    pthread_mutex_t mu; /* guards n, cap and ev; pcr never changes */
    unsigned pcr;
    size_t n, cap;
    struct ev_rec *ev;
};

static const char *const type_names[] = {
    [EV_SELF] = "SELF",
    [EV_CONFIG] = "CONFIG",
    [EV_POLICY] = "POLICY",
    [EV_QEMU_BINARY] = "QEMU_BINARY",
    [EV_QEMU_CMDLINE] = "QEMU_CMDLINE",
    [EV_GUEST_KERNEL] = "GUEST_KERNEL",
    [EV_GUEST_INITRD] = "GUEST_INITRD",
    [EV_GUEST_CMDLINE] = "GUEST_CMDLINE",
    [EV_TRE_IMAGE] = "TRE_IMAGE",
    [EV_SEPARATOR] = "SEPARATOR",
};

/* ---- locking: const readers still take the mutex ---- */

static void lock(const struct eventlog *l)
{
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
}

static void unlock(const struct eventlog *l)
{
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
}

/* ---- types and digests ---- */

const char *ev_type_name(enum ev_type t)
{
    if ((int)t < EV_TYPE_MIN || (int)t > EV_TYPE_MAX)
        return NULL;
    return type_names[t];
}

enum ev_type ev_type_from_name(const char *name, size_t len)
{
    for (int t = EV_TYPE_MIN; t <= EV_TYPE_MAX; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
            return (enum ev_type)t;
    return (enum ev_type)0;
}

static int valid_pcr(unsigned pcr)
{
    return pcr <= EVENTLOG_MAX_PCR && pcr != 16 && pcr != 23;
}

int eventlog_digest_from_hash(enum ev_type type, const uint8_t data_hash[EVENTLOG_DIGEST_LEN],
                              uint8_t digest[EVENTLOG_DIGEST_LEN])
{
    uint8_t buf[sizeof(EVENT_DOMAIN) + 32 + EVENTLOG_DIGEST_LEN];
    const char *name = ev_type_name(type);
    size_t n = 0, nl;

    if (!name || !data_hash || !digest)
        return -EINVAL;
    nl = strlen(name);
    memcpy(buf, EVENT_DOMAIN, sizeof(EVENT_DOMAIN)); /* with its NUL */
    n = sizeof(EVENT_DOMAIN);
    memcpy(buf + n, name, nl + 1);                   /* with its NUL */
    n += nl + 1;
    memcpy(buf + n, data_hash, EVENTLOG_DIGEST_LEN);
    n += EVENTLOG_DIGEST_LEN;
    SHA256(buf, n, digest);
    return 0;
}

int eventlog_digest(enum ev_type type, const void *data, size_t len,
                    uint8_t digest[EVENTLOG_DIGEST_LEN], uint8_t data_hash[EVENTLOG_DIGEST_LEN])
{
    static const uint8_t empty;
    uint8_t h[EVENTLOG_DIGEST_LEN], d[EVENTLOG_DIGEST_LEN];

    if (!ev_type_name(type) || (!data && len))
        return -EINVAL;
    SHA256(data ? data : &empty, len, h);
    eventlog_digest_from_hash(type, h, d);
    if (digest)
        memcpy(digest, d, sizeof(d));
    if (data_hash)
        memcpy(data_hash, h, sizeof(h));
    return 0;
}

/* ---- the log ---- */

int eventlog_new(unsigned pcr, struct eventlog **out)
{
    struct eventlog *l;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!valid_pcr(pcr))
        return -EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return -ENOMEM;
    }
    l->pcr = pcr;
    *out = l;
    return 0;
}

void eventlog_free(struct eventlog *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->ev[i].desc);
    free(l->ev);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

unsigned eventlog_pcr(const struct eventlog *l)
{
    return l->pcr;
}

size_t eventlog_count(const struct eventlog *l)
{
    size_t n;

    lock(l);
    n = l->n;
    unlock(l);
    return n;
}

int eventlog_get(const struct eventlog *l, size_t i, struct ev_event *ev)
{
    int rc = -ENOENT;

    lock(l);
    if (i < l->n) {
        const struct ev_rec *r = &l->ev[i];

        memset(ev, 0, sizeof(*ev));
        ev->pcr = l->pcr;
        ev->type = (enum ev_type)r->type;
        memcpy(ev->digest, r->d, sizeof(ev->digest));
        memcpy(ev->data_hash, r->h, sizeof(ev->data_hash));
        snprintf(ev->desc, sizeof(ev->desc), "%s", r->desc);
        rc = 0;
    }
    unlock(l);
    return rc;
}

/* Appends a record whose digest is already computed and checked; takes desc (malloc'd). */
static int push(struct eventlog *l, enum ev_type type, const uint8_t d[EVENTLOG_DIGEST_LEN],
                const uint8_t h[EVENTLOG_DIGEST_LEN], char *desc)
{
    int rc = 0;

    lock(l);
    if (l->n >= EVENTLOG_MAX_EVENTS) {
        rc = -ENOSPC;
    } else if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct ev_rec *nev = realloc(l->ev, ncap * sizeof(*nev));

        if (!nev)
            rc = -ENOMEM;
        else {
            l->ev = nev;
            l->cap = ncap;
        }
    }
    if (rc == 0) {
        struct ev_rec *r = &l->ev[l->n++];

        r->type = (uint8_t)type;
        memcpy(r->d, d, EVENTLOG_DIGEST_LEN);
        memcpy(r->h, h, EVENTLOG_DIGEST_LEN);
        r->desc = desc;
    }
    unlock(l);
    if (rc)
        free(desc);
    return rc;
}

int eventlog_append_hash(struct eventlog *l, enum ev_type type,
                         const uint8_t data_hash[EVENTLOG_DIGEST_LEN], const char *description,
                         uint8_t digest[EVENTLOG_DIGEST_LEN])
{
    uint8_t d[EVENTLOG_DIGEST_LEN];
    size_t dl;
    char *desc;
    int rc;

    if (!l || !data_hash || !description || !ev_type_name(type))
        return -EINVAL;
    dl = strnlen(description, EVENTLOG_MAX_DESC + 1);
    if (dl == 0 || dl > EVENTLOG_MAX_DESC)
        return -EINVAL;
    eventlog_digest_from_hash(type, data_hash, d);
    desc = strndup(description, dl);
    if (!desc)
        return -ENOMEM;
    rc = push(l, type, d, data_hash, desc);
    if (rc == 0 && digest)
        memcpy(digest, d, sizeof(d));
    return rc;
}

int eventlog_append(struct eventlog *l, enum ev_type type, const void *data, size_t len,
                    const char *description, uint8_t digest[EVENTLOG_DIGEST_LEN])
{
    uint8_t h[EVENTLOG_DIGEST_LEN];
    int rc = eventlog_digest(type, data, len, NULL, h);

    if (rc)
        return rc;
    return eventlog_append_hash(l, type, h, description, digest);
}

int eventlog_append_file(struct eventlog *l, enum ev_type type, const char *path,
                         const char *description, uint8_t digest[EVENTLOG_DIGEST_LEN])
{
    uint8_t h[EVENTLOG_DIGEST_LEN];

    if (!path)
        return -EINVAL;
    int rc = file_sha256(path, h);
    return rc ? rc : eventlog_append_hash(l, type, h, description, digest);
}

/* ---- canonical encodings ---- */

long eventlog_encode_argv(char *const argv[], uint8_t *out, size_t cap)
{
    size_t total = 0, off = 0;

    if (!argv || !argv[0])
        return -EINVAL;
    for (size_t i = 0; argv[i]; i++) {
        total += strlen(argv[i]) + 1;
        if (total > (size_t)ENCODE_MAX)
            return -EINVAL;
    }
    if (out && total <= cap) {
        for (size_t i = 0; argv[i]; i++) {
            size_t n = strlen(argv[i]) + 1;

            memcpy(out + off, argv[i], n);
            off += n;
        }
    }
    return (long)total;
}

long eventlog_encode_tre_image(const uint8_t image_sha256[32],
                               const uint8_t keyid[EVENTLOG_KEYID_LEN],
                               const void *manifest, size_t manifest_len,
                               uint8_t *out, size_t cap)
{
    size_t fixed = sizeof(TRE_DOMAIN) + 32 + EVENTLOG_KEYID_LEN + 4, total;

    if (!image_sha256 || !keyid || (!manifest && manifest_len) ||
        manifest_len > (size_t)ENCODE_MAX - fixed)
        return -EINVAL;
    total = fixed + manifest_len;
    if (out && total <= cap) {
        size_t off = 0;

        memcpy(out, TRE_DOMAIN, sizeof(TRE_DOMAIN));
        off = sizeof(TRE_DOMAIN);
        memcpy(out + off, image_sha256, 32);
        off += 32;
        memcpy(out + off, keyid, EVENTLOG_KEYID_LEN);
        off += EVENTLOG_KEYID_LEN;
        out[off++] = (uint8_t)(manifest_len >> 24);
        out[off++] = (uint8_t)(manifest_len >> 16);
        out[off++] = (uint8_t)(manifest_len >> 8);
        out[off++] = (uint8_t)manifest_len;
        if (manifest_len)
            memcpy(out + off, manifest, manifest_len);
    }
    return (long)total;
}

/* ---- writing ---- */

static const char hexd[] = "0123456789abcdef";

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c > 0x7e || c == '\\';
}

/* The length of an event's line as format_line() writes it, '\n' included. */
static size_t line_len(unsigned pcr, const struct ev_rec *r)
{
    size_t n = (pcr >= 10 ? 2 : 1) + 1 + strlen(type_names[r->type]) + 1 + 64 + 1 + 64 + 1 + 1;

    for (const unsigned char *p = (const unsigned char *)r->desc; *p; p++)
        n += *p == '\\' ? 2 : needs_escape(*p) ? 4 : 1;
    return n;
}

/* Writes one event line at buf (which has room for line_len() bytes); returns its length. */
static size_t format_line(char *buf, unsigned pcr, const struct ev_rec *r)
{
    size_t n = (size_t)sprintf(buf, "%u %s ", pcr, type_names[r->type]);

    for (int i = 0; i < EVENTLOG_DIGEST_LEN; i++) {
        buf[n++] = hexd[r->d[i] >> 4];
        buf[n++] = hexd[r->d[i] & 15];
    }
    buf[n++] = ' ';
    for (int i = 0; i < EVENTLOG_DIGEST_LEN; i++) {
        buf[n++] = hexd[r->h[i] >> 4];
        buf[n++] = hexd[r->h[i] & 15];
    }
    buf[n++] = ' ';
    for (const unsigned char *p = (const unsigned char *)r->desc; *p; p++) {
        if (*p == '\\') {
            buf[n++] = '\\';
            buf[n++] = '\\';
        } else if (needs_escape(*p)) {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hexd[*p >> 4];
            buf[n++] = hexd[*p & 15];
        } else {
            buf[n++] = (char)*p;
        }
    }
    buf[n++] = '\n';
    return n;
}

int eventlog_format(const struct eventlog *l, char **text, size_t *len)
{
    char *buf;
    size_t cap, n;

    if (!l || !text)
        return -EINVAL;
    lock(l);
    cap = 64; /* the header and the final NUL */
    for (size_t i = 0; i < l->n; i++)
        cap += line_len(l->pcr, &l->ev[i]);
    buf = malloc(cap);
    if (!buf) {
        unlock(l);
        return -ENOMEM;
    }
    n = (size_t)sprintf(buf, HEADER_V1 "%u\n", l->pcr);
    for (size_t i = 0; i < l->n; i++)
        n += format_line(buf + n, l->pcr, &l->ev[i]);
    unlock(l);
    buf[n] = '\0';
    *text = buf;
    if (len)
        *len = n;
    return 0;
}

int eventlog_write(const struct eventlog *l, FILE *f)
{
    char *text;
    size_t n;
    int rc = eventlog_format(l, &text, &n);

    if (rc)
        return rc;
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0)
        rc = -EIO;
    free(text);
    return rc;
}

/* ---- parsing ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Exactly 64 lower-case hex digits at p -> out; 0 or -1. */
static int parse_hex32(const char *p, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* A canonical decimal PCR number (no sign, no leading zero) in [p, p+n). */
static int parse_pcr(const char *p, size_t n, unsigned *pcr)
{
    unsigned v = 0;

    if (n == 0 || n > 2 || (n > 1 && p[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *pcr = v;
    return 0;
}

#define PERR(...) errf(err, errlen, -EINVAL, "eventlog: " __VA_ARGS__)

/* Parses the canonical escaped description in [p, p+n) into a new string. */
static int parse_desc(const char *p, size_t n, char **out, const char **why)
{
    char *d = malloc(n + 1);
    size_t o = 0;

    if (!d)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\\') {
            if (i + 1 < n && p[i + 1] == '\\') {
                d[o++] = '\\';
                i++;
            } else if (i + 3 < n && p[i + 1] == 'x' && hexval(p[i + 2]) >= 0 &&
                       hexval(p[i + 3]) >= 0) {
                unsigned char v = (unsigned char)(hexval(p[i + 2]) << 4 | hexval(p[i + 3]));

                if (v == 0 || !needs_escape(v) || v == '\\') {
                    *why = v == 0 ? "description holds \\x00"
                                  : "description escapes a byte that needs no escape";
                    free(d);
                    return -EINVAL;
                }
                d[o++] = (char)v;
                i += 3;
            } else {
                *why = "bad escape in description";
                free(d);
                return -EINVAL;
            }
        } else if (needs_escape(c)) {
            *why = "control or non-ASCII byte in description";
            free(d);
            return -EINVAL;
        } else {
            d[o++] = (char)c;
        }
    }
    if (o == 0 || o > EVENTLOG_MAX_DESC) {
        *why = o ? "description too long" : "empty description";
        free(d);
        return -EINVAL;
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

static int parse_header(const char *text, size_t len, unsigned *pcr, size_t *used, char *err,
                        size_t errlen)
{
    size_t hl = sizeof(HEADER_V1) - 1, n;
    const char *nl;

    if (len == 0)
        return PERR("empty log");
    nl = memchr(text, '\n', len < 64 ? len : 64);
    n = nl ? (size_t)(nl - text) : (len < 64 ? len : 64);
    if (n < sizeof(HEADER_PREFIX) - 1 ||
        memcmp(text, HEADER_PREFIX, sizeof(HEADER_PREFIX) - 1) != 0)
        return PERR("line 1: not a trevisor event log");
    if (!nl)
        return PERR("line 1: missing or overlong header");
    if (n < hl || memcmp(text, HEADER_V1, hl) != 0)
        return PERR("line 1: unsupported version or digest (want \"%s\")", HEADER_V1 "N");
    if (parse_pcr(text + hl, n - hl, pcr) != 0 || !valid_pcr(*pcr))
        return PERR("line 1: bad PCR number (0..23, not 16 or 23)");
    *used = n + 1;
    return 0;
}

int eventlog_parse(const char *text, size_t len, struct eventlog **out, char *err,
                   size_t errlen)
{
    struct eventlog *l = NULL;
    size_t off = 0, lineno = 1;
    unsigned pcr = 0;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!text && len)
        return PERR("no text");
    rc = parse_header(text, len, &pcr, &off, err, errlen);
    if (rc)
        return rc;
    rc = eventlog_new(pcr, &l);
    if (rc)
        return rc;
    while (off < len) {
        size_t rem = len - off, n, tl;
        const char *p = text + off, *nl, *sp, *why = NULL;
        uint8_t d[32], h[32], want[32];
        unsigned lpcr;
        enum ev_type type;
        char *desc = NULL;

        lineno++;
        nl = memchr(p, '\n', rem < EVENTLOG_MAX_LINE ? rem : EVENTLOG_MAX_LINE);
        if (!nl) {
            rc = rem < EVENTLOG_MAX_LINE ? PERR("line %zu: no newline at the end", lineno)
                                         : PERR("line %zu: line too long", lineno);
            goto fail;
        }
        n = (size_t)(nl - p);
        /* PCR */
        sp = memchr(p, ' ', n);
        if (!sp || parse_pcr(p, (size_t)(sp - p), &lpcr) != 0) {
            rc = PERR("line %zu: bad PCR field", lineno);
            goto fail;
        }
        if (lpcr != pcr) {
            rc = PERR("line %zu: PCR %u, but the log is for PCR %u", lineno, lpcr, pcr);
            goto fail;
        }
        p = sp + 1;
        n -= (size_t)(sp - (text + off)) + 1;
        /* TYPE */
        sp = memchr(p, ' ', n);
        tl = sp ? (size_t)(sp - p) : 0;
        type = sp ? ev_type_from_name(p, tl) : (enum ev_type)0;
        if (!type) {
            rc = PERR("line %zu: unknown event type", lineno);
            goto fail;
        }
        p = sp + 1;
        n -= tl + 1;
        /* D and H */
        if (n < 64 + 1 + 64 + 1 || p[64] != ' ' || p[129] != ' ' || parse_hex32(p, d) != 0 ||
            parse_hex32(p + 65, h) != 0) {
            rc = PERR("line %zu: bad digest fields (want two 64-digit lower-case hex)", lineno);
            goto fail;
        }
        eventlog_digest_from_hash(type, h, want);
        if (memcmp(want, d, 32) != 0) {
            rc = PERR("line %zu: digest does not follow from its type and data hash", lineno);
            goto fail;
        }
        p += 130;
        n -= 130;
        rc = parse_desc(p, n, &desc, &why);
        if (rc == -EINVAL)
            rc = PERR("line %zu: %s", lineno, why);
        if (rc)
            goto fail;
        rc = push(l, type, d, h, desc);
        if (rc == -ENOSPC)
            rc = PERR("line %zu: more than %d events", lineno, EVENTLOG_MAX_EVENTS);
        if (rc)
            goto fail;
        off = (size_t)(nl - text) + 1;
    }
    *out = l;
    return 0;
fail:
    eventlog_free(l);
    return rc;
}

/* ---- replay ---- */

int eventlog_replay(const struct eventlog *l, uint8_t pcr_value[EVENTLOG_DIGEST_LEN])
{
    uint8_t buf[2 * EVENTLOG_DIGEST_LEN];

    memset(buf, 0, sizeof(buf));
    lock(l);
    for (size_t i = 0; i < l->n; i++) {
        memcpy(buf + EVENTLOG_DIGEST_LEN, l->ev[i].d, EVENTLOG_DIGEST_LEN);
        SHA256(buf, sizeof(buf), buf);
    }
    unlock(l);
    memcpy(pcr_value, buf, EVENTLOG_DIGEST_LEN);
    return 0;
}

/* ---- policy ---- */

struct pol_entry {
    uint8_t type;
    uint8_t h[32];
};

static int hexval_any(char c)
{
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return hexval(c);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

#define POLERR(...) errf(err, errlen, -EINVAL, "policy: " __VA_ARGS__)

/* Parses the policy into a malloc'd array of entries. */
static int parse_policy(const char *text, size_t len, struct pol_entry **out, size_t *count,
                        char *err, size_t errlen)
{
    struct pol_entry *e;
    size_t n = 0, maxn = 1, off = 0, lineno = 0;
    int seen_header = 0;

    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            maxn++;
    e = calloc(maxn, sizeof(*e));
    if (!e)
        return -ENOMEM;
    while (off < len) {
        const char *p = text + off, *nl = memchr(p, '\n', len - off);
        size_t ll = nl ? (size_t)(nl - p) : len - off, i = 0, ts, te;
        enum ev_type type;

        lineno++;
        off += ll + (nl ? 1 : 0);
        for (size_t k = 0; k < ll; k++) {
            unsigned char c = (unsigned char)p[k];

            if ((c < 0x20 && !is_blank((char)c)) || c == 0x7f) {
                free(e);
                return POLERR("line %zu: control character", lineno);
            }
        }
        while (i < ll && is_blank(p[i]))
            i++;
        if (i == ll || p[i] == '#')
            continue;
        if (!seen_header) {
            size_t hl = sizeof(POLICY_HEADER) - 1, j = i + hl;

            if (ll - i < hl || memcmp(p + i, POLICY_HEADER, hl) != 0)
                goto bad_header;
            while (j < ll && is_blank(p[j]))
                j++;
            if (j != ll)
                goto bad_header;
            seen_header = 1;
            continue;
        }
        ts = i;
        while (i < ll && !is_blank(p[i]))
            i++;
        te = i;
        type = ev_type_from_name(p + ts, te - ts);
        if (!type) {
            free(e);
            return POLERR("line %zu: unknown event type \"%.*s\"", lineno,
                          (int)(te - ts > 32 ? 32 : te - ts), p + ts);
        }
        while (i < ll && is_blank(p[i]))
            i++;
        if (ll - i < 64) {
            free(e);
            return POLERR("line %zu: want \"TYPE SHA256-HEX\"", lineno);
        }
        for (int k = 0; k < 32; k++) {
            int hi = hexval_any(p[i + 2 * k]), lo = hexval_any(p[i + 2 * k + 1]);

            if (hi < 0 || lo < 0) {
                free(e);
                return POLERR("line %zu: bad SHA-256 (want 64 hex digits)", lineno);
            }
            e[n].h[k] = (uint8_t)(hi << 4 | lo);
        }
        i += 64;
        if (i < ll && !is_blank(p[i])) {
            free(e);
            return POLERR("line %zu: bad SHA-256 (want 64 hex digits)", lineno);
        }
        while (i < ll && is_blank(p[i]))
            i++;
        if (i < ll && p[i] != '#') {
            free(e);
            return POLERR("line %zu: trailing text (comments start with '#')", lineno);
        }
        e[n++].type = (uint8_t)type;
    }
    if (!seen_header) {
    bad_header:
        free(e);
        return POLERR("line %zu: want the header \"%s\"", lineno ? lineno : 1, POLICY_HEADER);
    }
    *out = e;
    *count = n;
    return 0;
}

static void hex64(const uint8_t b[32], char out[65])
{
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    out[64] = '\0';
}

int eventlog_check_policy(const struct eventlog *l, const char *policy_text, size_t len,
                          char *err, size_t errlen)
{
    struct pol_entry *e = NULL;
    uint8_t empty_h[32];
    size_t n = 0;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!l || (!policy_text && len))
        return -EINVAL;
    rc = parse_policy(policy_text ? policy_text : "", len, &e, &n, err, errlen);
    if (rc)
        return rc;
    SHA256((const uint8_t *)"", 0, empty_h);
    lock(l);
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        const struct ev_rec *r = &l->ev[i];
        int ok = r->type == EV_SEPARATOR && memcmp(r->h, empty_h, 32) == 0;

        for (size_t k = 0; k < n && !ok; k++)
            ok = e[k].type == r->type && memcmp(e[k].h, r->h, 32) == 0;
        if (!ok) {
            char hx[65];

            hex64(r->h, hx);
            rc = errf(err, errlen, -EACCES, "policy: event %zu (%s %s) is not allowed", i + 1,
                      type_names[r->type], hx);
        }
    }
    unlock(l);
    free(e);
    return rc;
}
