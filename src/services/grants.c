/* services/grants.c — the token policy file (grants.h): parses `grant KEYID LABEL` lines
 * strictly into a sorted table and answers "may this vendor key use that token key?".
 * Every byte of the file is hostile: it must never read past len, accept a line it does
 * not fully understand, or echo the file's bytes into a message. */
#include "services/grants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trevisor/abi.h"
#include "tre/minisign.h"
#include "util/err.h"
#include "util/file.h"

#define GRANTS_FILE      "token-grants"
#define GRANTS_FILE_MAX  (1024u * 1024)
#define GRANTS_FIELDS    4   /* at most this many are looked at; 3 are valid */

struct grant {
    uint8_t keyid[8];
    char label[TRE_TOKEN_LABEL_MAX + 1];
    size_t line;         /* where it was granted, for messages */
};

struct grants {
    size_t n;
    struct grant *v;     /* sorted by (keyid, label), no duplicates */
};

struct grants_field {
    const char *p;
    size_t len;
};

static int grants_cmp(const void *a, const void *b)
{
    const struct grant *x = a, *y = b;
    int c = memcmp(x->keyid, y->keyid, sizeof x->keyid);

    return c ? c : strcmp(x->label, y->label);
}

static int grants_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int grants_label_ok(const char *p, size_t len)
{
    if (len == 0 || len > TRE_TOKEN_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* One line (without its LF, CR already removed) into g->v[g->n]; 1 if it held a grant,
 * 0 if blank or comment, -EINVAL with the reason in why. */
static int grants_line(const char *p, size_t len, struct grants *g, const char **why)
{
    struct grants_field f[GRANTS_FIELDS];
    size_t nf = 0, i = 0;
    char hex[17];
    struct grant *gr;

    while (i < len) {
        while (i < len && grants_blank(p[i]))
            i++;
        if (i == len || p[i] == '#')
            break;                         /* a comment runs to the end of the line */
        if (nf == GRANTS_FIELDS) {
            *why = "too many fields (expected: grant KEYID LABEL)";
            return -EINVAL;
        }
        f[nf].p = p + i;
        while (i < len && !grants_blank(p[i]) && p[i] != '#')
            i++;
        f[nf].len = (size_t)(p + i - f[nf].p);
        nf++;
        if (i < len && p[i] == '#') {
            *why = "'#' inside a field (a comment must follow a space)";
            return -EINVAL;
        }
    }
    if (nf == 0)
        return 0;
    if (f[0].len != 5 || memcmp(f[0].p, "grant", 5) != 0) {
        *why = "unknown keyword (expected: grant KEYID LABEL)";
        return -EINVAL;
    }
    if (nf != 3) {
        *why = nf < 3 ? "missing field (expected: grant KEYID LABEL)"
                      : "too many fields (expected: grant KEYID LABEL)";
        return -EINVAL;
    }
    if (g->n == GRANTS_MAX) {
        *why = "more than 4096 grants";
        return -EINVAL;
    }
    gr = &g->v[g->n];
    if (f[1].len == 0 || f[1].len > 16) {
        *why = "KEYID must be 16 hex digits (a minisign key id)";
        return -EINVAL;
    }
    memcpy(hex, f[1].p, f[1].len);
    hex[f[1].len] = '\0';
    if (tre_keyid_parse_hex(hex, gr->keyid) < 0) {
        *why = "KEYID must be 16 hex digits (a minisign key id)";
        return -EINVAL;
    }
    if (!grants_label_ok(f[2].p, f[2].len)) {
        *why = "LABEL must be 1..64 characters of A-Z a-z 0-9 . _ -";
        return -EINVAL;
    }
    memcpy(gr->label, f[2].p, f[2].len);
    gr->label[f[2].len] = '\0';
    g->n++;
    return 1;
}

int grants_parse(const char *text, size_t len, struct grants **out, char *err, size_t errlen)
{
    struct grants *g;
    size_t pos = 0, line = 0, cap = 0;
    int rc;

    *out = NULL;
    errf(err, errlen, 0, "%s", "");
    if (text == NULL && len != 0)
        return errf(err, errlen, -EINVAL, "grants: no text");
    g = calloc(1, sizeof *g);
    if (g == NULL)
        return errf(err, errlen, -ENOMEM, "grants: out of memory");

    while (pos < len) {
        const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        const char *why = NULL;

        line++;
        pos += n + (nl != NULL);
        if (n > 0 && p[n - 1] == '\r')
            n--;                            /* CRLF line ends are tolerated */
        if (memchr(p, '\0', n) != NULL) {
            rc = errf(err, errlen, -EINVAL, "grants: line %zu: NUL byte", line);
            goto fail;
        }
        if (memchr(p, '\r', n) != NULL) {
            rc = errf(err, errlen, -EINVAL, "grants: line %zu: CR not at the end of the line",
                      line);
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = errf(err, errlen, -EINVAL, "grants: line %zu: control character", line);
                goto fail;
            }
        }
        if (g->n == cap && cap < GRANTS_MAX) {
            size_t ncap = cap ? cap * 2 : 16;
            struct grant *v;

            if (ncap > GRANTS_MAX)
                ncap = GRANTS_MAX;
            v = realloc(g->v, ncap * sizeof *v);
            if (v == NULL) {
                rc = errf(err, errlen, -ENOMEM, "grants: out of memory");
                goto fail;
            }
            g->v = v;
            cap = ncap;
        }
        rc = grants_line(p, n, g, &why);
        if (rc < 0) {
            rc = errf(err, errlen, -EINVAL, "grants: line %zu: %s", line, why);
            goto fail;
        }
        if (rc == 1)
            g->v[g->n - 1].line = line;
    }
    if (g->n > 1) {
        qsort(g->v, g->n, sizeof *g->v, grants_cmp);
        for (size_t i = 1; i < g->n; i++)
            if (grants_cmp(&g->v[i - 1], &g->v[i]) == 0) {
                /* a duplicate is almost certainly a mistake in the file: refuse it */
                size_t a = g->v[i - 1].line, b = g->v[i].line;

                rc = errf(err, errlen, -EINVAL, "grants: line %zu: the same grant as line %zu",
                          a > b ? a : b, a > b ? b : a);
                goto fail;
            }
    }
    *out = g;
    return 0;
fail:
    grants_free(g);
    return rc;
}

int grants_load(const char *config_dir, struct grants **out, char *err, size_t errlen)
{
    char *path = NULL, *text = NULL, perr[256];
    size_t len = 0;
    int rc;

    *out = NULL;
    if (config_dir == NULL || *config_dir == '\0')
        return errf(err, errlen, -EINVAL, "grants: no configuration directory");
    if (asprintf(&path, "%s/%s", config_dir, GRANTS_FILE) < 0)
        return errf(err, errlen, -ENOMEM, "grants: out of memory");
    rc = file_read_all(path, GRANTS_FILE_MAX, &text, &len);
    if (rc == -ENOENT) {
        rc = grants_parse("", 0, out, err, errlen);   /* no file: nothing is granted */
        goto out;
    }
    if (rc < 0) {
        if (rc == -EFBIG)
            errf(err, errlen, rc, "grants: %s: larger than 1 MiB", path);
        else if (rc == -EINVAL)
            errf(err, errlen, rc, "grants: %s: not a regular file", path);
        else
            errf(err, errlen, rc, "grants: %s: %s", path, strerror(-rc));
        goto out;
    }
    rc = grants_parse(text, len, out, perr, sizeof perr);
    if (rc < 0) {
        const char *r = strncmp(perr, "grants: ", 8) == 0 ? perr + 8 : perr;
        errf(err, errlen, rc, "grants: %s: %s", path, r);
    }
out:
    free(text);
    free(path);
    return rc;
}

void grants_free(struct grants *g)
{
    if (g == NULL)
        return;
    free(g->v);
    free(g);
}

int grants_allow(const struct grants *g, const uint8_t keyid[8], const char *label)
{
    struct grant key;
    size_t n;

    if (g == NULL || g->n == 0 || keyid == NULL || label == NULL)
        return 0;
    n = strnlen(label, TRE_TOKEN_LABEL_MAX + 1);
    if (n == 0 || n > TRE_TOKEN_LABEL_MAX)
        return 0;
    memset(&key, 0, sizeof key);
    memcpy(key.keyid, keyid, sizeof key.keyid);
    memcpy(key.label, label, n);
    return bsearch(&key, g->v, g->n, sizeof *g->v, grants_cmp) != NULL;
}

size_t grants_count(const struct grants *g)
{
    return g ? g->n : 0;
}
