/* tre/manifest.c — parses and describes a TRE program's manifest: a sequence of
 * NUL-terminated "key=value" strings (then optional zero padding) from an untrusted image.
 * It must never read outside [desc, desc+len), never accept a byte it does not understand,
 * never put an unescaped image byte into a message, and never allocate. */
#include "tre/manifest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum manifest_key {
    MANIFEST_NAME, MANIFEST_VERSION, MANIFEST_SVN, MANIFEST_MEM, MANIFEST_WINDOW, MANIFEST_CAP,
    MANIFEST_NKEYS
};

static const char *const manifest_key_names[MANIFEST_NKEYS] = {
    [MANIFEST_NAME] = "name",     [MANIFEST_VERSION] = "version", [MANIFEST_SVN] = "svn",
    [MANIFEST_MEM] = "mem",       [MANIFEST_WINDOW] = "window",   [MANIFEST_CAP] = "cap",
};

static int manifest_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int manifest_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Copies an untrusted key into dst for a message: printable ASCII as is, anything else
 * as \xNN, at most 32 source bytes (then "..."). */
static void manifest_quote(char *dst, size_t dstlen, const uint8_t *s, size_t n)
{
    size_t o = 0, i;

    for (i = 0; i < n && i < 32 && o + 5 < dstlen; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\')
            dst[o++] = (char)s[i];
        else
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", s[i]);
    }
    if (i < n && o + 4 < dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* Decimal digits only, no sign, no leading zero (except "0"), no overflow. */
static int manifest_dec(const uint8_t *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;

    if (n == 0 || (n > 1 && v[0] == '0'))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, v[i] - '0', &x))
            return -ERANGE;
    }
    *out = x;
    return 0;
}

/* A size: decimal bytes, or decimal followed by K (KiB) or M (MiB). */
static int manifest_size(const uint8_t *v, size_t n, uint64_t *out)
{
    uint64_t x, mul = 1;
    int rc;

    if (n && v[n - 1] == 'K') {
        mul = 1ull << 10;
        n--;
    } else if (n && v[n - 1] == 'M') {
        mul = 1ull << 20;
        n--;
    }
    rc = manifest_dec(v, n, &x);
    if (rc)
        return rc;
    if (__builtin_mul_overflow(x, mul, out))
        return -ERANGE;
    return 0;
}

static int manifest_u32(const char *key, const uint8_t *v, size_t n, uint32_t *out,
                        char *err, size_t errlen)
{
    uint64_t x;
    int rc = manifest_dec(v, n, &x);

    if (rc == -EINVAL)
        return manifest_fail(err, errlen, "manifest: key '%s' is not a decimal number "
                             "(digits only, no sign, no leading zero)", key);
    if (rc || x > UINT32_MAX)
        return manifest_fail(err, errlen, "manifest: key '%s' is out of range (0..%u)", key,
                             UINT32_MAX);
    *out = (uint32_t)x;
    return 0;
}

static int manifest_bytes(const char *key, const uint8_t *v, size_t n, uint64_t min,
                          uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    uint64_t x;
    int rc = manifest_size(v, n, &x);

    if (rc == -EINVAL)
        return manifest_fail(err, errlen, "manifest: key '%s' is not a size (decimal bytes, "
                             "or with a K or M suffix; no sign, no leading zero)", key);
    if (rc || x < min || x > max)
        return manifest_fail(err, errlen, "manifest: key '%s' is out of range (%lluK..%lluK)",
                             key, (unsigned long long)(min >> 10),
                             (unsigned long long)(max >> 10));
    if (x % 4096)
        return manifest_fail(err, errlen, "manifest: key '%s' (%llu) is not a multiple of 4K",
                             key, (unsigned long long)x);
    *out = x;
    return 0;
}

static int manifest_name(const uint8_t *v, size_t n, char *out, char *err, size_t errlen)
{
    if (n < 1 || n >= TRE_MANIFEST_NAME_LEN)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = v[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            goto bad;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
bad:
    return manifest_fail(err, errlen, "manifest: key 'name' must be 1..%d characters of "
                         "[A-Za-z0-9._-]", TRE_MANIFEST_NAME_LEN - 1);
}

static int manifest_cap(struct tre_manifest *m, const uint8_t *v, size_t n, char *err,
                        size_t errlen)
{
    if (m->ncaps >= TRE_MANIFEST_MAX_CAPS)
        return manifest_fail(err, errlen, "manifest: more than %d 'cap' entries",
                             TRE_MANIFEST_MAX_CAPS);
    if (n < 1 || n >= TRE_MANIFEST_CAP_LEN)
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (v[i] <= 0x20 || v[i] >= 0x7f)
            goto bad;
    memcpy(m->caps[m->ncaps], v, n);
    m->caps[m->ncaps][n] = '\0';
    m->ncaps++;
    return 0;
bad:
    return manifest_fail(err, errlen, "manifest: key 'cap' must be 1..%d printable characters "
                         "without spaces", TRE_MANIFEST_CAP_LEN - 1);
}

int tre_manifest_parse(const uint8_t *desc, size_t len, struct tre_manifest *out,
                       char *err, size_t errlen)
{
    unsigned seen[MANIFEST_NKEYS] = { 0 };
    struct tre_manifest m;
    char q[160];
    size_t pos = 0;
    int rc = 0;

    if (err && errlen)
        err[0] = '\0';
    memset(&m, 0, sizeof(m));
    if (!out || (!desc && len))
        return manifest_fail(err, errlen, "manifest: no descriptor");
    while (pos < len) { /* each step consumes >= 1 byte */
        const uint8_t *e = desc + pos, *nul, *eq, *v;
        size_t elen, klen, vlen;
        int k;

        if (e[0] == '\0') { /* padding: only zeros may follow */
            for (size_t i = pos; i < len; i++)
                if (desc[i])
                    return manifest_fail(err, errlen, "manifest: empty entry at offset %zu "
                                         "(a NUL before more entries)", pos);
            break;
        }
        nul = memchr(e, '\0', len - pos);
        elen = nul ? (size_t)(nul - e) : len - pos;
        eq = memchr(e, '=', elen);
        klen = eq ? (size_t)(eq - e) : elen;
        manifest_quote(q, sizeof(q), e, klen);
        if (!nul)
            return manifest_fail(err, errlen, "manifest: unterminated string (key '%s')", q);
        for (size_t i = 0; i < elen; i++)
            if (e[i] < 0x20 || e[i] >= 0x7f)
                return manifest_fail(err, errlen, "manifest: non-printable byte 0x%02x in the "
                                     "entry of key '%s'", e[i], q);
        if (!eq)
            return manifest_fail(err, errlen, "manifest: entry '%s' has no '='", q);
        for (k = 0; k < MANIFEST_NKEYS; k++)
            if (strlen(manifest_key_names[k]) == klen &&
                memcmp(manifest_key_names[k], e, klen) == 0)
                break;
        if (k == MANIFEST_NKEYS)
            return manifest_fail(err, errlen, "manifest: unknown key '%s'", q);
        if (k != MANIFEST_CAP && seen[k])
            return manifest_fail(err, errlen, "manifest: duplicate key '%s'", q);
        seen[k]++;
        v = eq + 1;
        vlen = elen - klen - 1;
        if (vlen == 0)
            return manifest_fail(err, errlen, "manifest: empty value for key '%s'", q);
        switch (k) {
        case MANIFEST_NAME:
            rc = manifest_name(v, vlen, m.name, err, errlen);
            break;
        case MANIFEST_VERSION:
            rc = manifest_u32("version", v, vlen, &m.version, err, errlen);
            break;
        case MANIFEST_SVN:
            rc = manifest_u32("svn", v, vlen, &m.svn, err, errlen);
            break;
        case MANIFEST_MEM:
            rc = manifest_bytes("mem", v, vlen, TRE_MANIFEST_MEM_MIN, TRE_MANIFEST_MEM_MAX,
                                &m.mem_size, err, errlen);
            break;
        case MANIFEST_WINDOW:
            rc = manifest_bytes("window", v, vlen, TRE_MANIFEST_WINDOW_MIN,
                                TRE_MANIFEST_WINDOW_MAX, &m.window_size, err, errlen);
            break;
        default:
            rc = manifest_cap(&m, v, vlen, err, errlen);
            break;
        }
        if (rc)
            return rc;
        pos += elen + 1;
    }
    if (!seen[MANIFEST_NAME])
        return manifest_fail(err, errlen, "manifest: missing required key 'name'");
    if (!seen[MANIFEST_MEM])
        m.mem_size = TRE_MANIFEST_MEM_DEFAULT;
    if (!seen[MANIFEST_WINDOW])
        m.window_size = TRE_MANIFEST_WINDOW_DEFAULT;
    if (m.window_size > m.mem_size / 2)
        return manifest_fail(err, errlen, "manifest: key 'window' (%llu) is more than half of "
                             "mem (%llu)", (unsigned long long)m.window_size,
                             (unsigned long long)m.mem_size);
    *out = m;
    return 0;
}

/* Appends to out[*o..outlen), keeping it NUL-terminated; remembers truncation. */
static void manifest_put(char *out, size_t outlen, size_t *o, int *trunc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void manifest_put(char *out, size_t outlen, size_t *o, int *trunc, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*o >= outlen) {
        *trunc = 1;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(out + *o, outlen - *o, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen - *o) {
        *trunc = 1;
        *o = outlen;
    } else {
        *o += (size_t)n;
    }
}

static void manifest_put_size(char *out, size_t outlen, size_t *o, int *trunc,
                              const char *label, uint64_t v)
{
    unsigned long long x = (unsigned long long)v;

    if (v && v % (1u << 20) == 0)
        manifest_put(out, outlen, o, trunc, "%-9s %llu MiB (%llu bytes)\n", label, x >> 20, x);
    else if (v && v % (1u << 10) == 0)
        manifest_put(out, outlen, o, trunc, "%-9s %llu KiB (%llu bytes)\n", label, x >> 10, x);
    else
        manifest_put(out, outlen, o, trunc, "%-9s %llu bytes\n", label, x);
}

int tre_manifest_format(const struct tre_manifest *m, char *out, size_t outlen)
{
    size_t o = 0;
    int trunc = 0;

    if (!out || !outlen)
        return -ENOSPC;
    out[0] = '\0';
    if (!m)
        return -EINVAL;
    /* the struct may come from anywhere: print its strings bounded */
    manifest_put(out, outlen, &o, &trunc, "name:     %.*s\n", TRE_MANIFEST_NAME_LEN - 1,
                 m->name);
    manifest_put(out, outlen, &o, &trunc, "version:  %u\n", m->version);
    manifest_put(out, outlen, &o, &trunc, "svn:      %u\n", m->svn);
    manifest_put_size(out, outlen, &o, &trunc, "memory:", m->mem_size);
    manifest_put_size(out, outlen, &o, &trunc, "window:", m->window_size);
    if (m->ncaps == 0)
        manifest_put(out, outlen, &o, &trunc, "caps:     (none)\n");
    for (unsigned i = 0; i < m->ncaps && i < TRE_MANIFEST_MAX_CAPS; i++)
        manifest_put(out, outlen, &o, &trunc, "cap:      %.*s\n", TRE_MANIFEST_CAP_LEN - 1,
                     m->caps[i]);
    return trunc ? -ENOSPC : 0;
}
