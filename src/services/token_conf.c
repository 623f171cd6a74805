/* services/token_conf.c — the parser of CONFIG/token.conf (services/token_conf.h): one
 * "KEY VALUE" per line, the value being the rest of the line without its trailing blanks
 * (token labels and paths may hold spaces and '#', not tabs). It refuses anything it does not
 * understand, naming the line, and never leaves a half-filled result. */
#include "services/token_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/file.h"

static int tc_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies the value v (vlen bytes, already checked printable) into out (cap bytes). */
static const char *tc_path(const char *v, size_t vlen, char *out, size_t cap)
{
    if (v[0] != '/')
        return "want an absolute path";
    if (vlen >= cap)
        return "the path is too long";
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return NULL;
}

/* One line (no LF, CR and control characters already refused). NULL, or why not. */
static const char *tc_line(const char *p, size_t n, struct token_conf *c)
{
    size_t i = 0, k;

    while (i < n && tc_blank(p[i]))
        i++;
    if (i == n || p[i] == '#')
        return NULL;                        /* blank or comment */
    k = i;
    while (i < n && !tc_blank(p[i]))
        i++;
    const char *key = p + k;
    size_t klen = i - k;
    while (i < n && tc_blank(p[i]))
        i++;
    while (n > i && tc_blank(p[n - 1]))
        n--;
    const char *v = p + i;
    size_t vlen = n - i;
    if (vlen == 0)
        return "missing value (expected: KEY VALUE)";
    if (memchr(v, '\t', vlen))
        return "a tab inside the value (spaces only)";

    if (klen == 6 && !memcmp(key, "module", 6)) {
        if (c->module[0])
            return "module is set twice";
        if ((vlen == 8 && !memcmp(v, "softhsm2", 8)) || (vlen == 4 && !memcmp(v, "none", 4))) {
            memcpy(c->module, v, vlen);
            c->module[vlen] = '\0';
            return NULL;
        }
        const char *why = tc_path(v, vlen, c->module, sizeof c->module);
        return why ? "module: want softhsm2, none or the module's absolute path" : NULL;
    }
    if (klen == 5 && !memcmp(key, "token", 5)) {
        if (c->label[0])
            return "token is set twice";
        if (vlen > TOKEN_CONF_LABEL_MAX)
            return "token: a label is at most 32 characters";
        memcpy(c->label, v, vlen);
        c->label[vlen] = '\0';
        return NULL;
    }
    if (klen == 8 && !memcmp(key, "pin-file", 8)) {
        if (c->pin_file[0])
            return "pin-file is set twice";
        return tc_path(v, vlen, c->pin_file, sizeof c->pin_file);
    }
    return "unknown key (expected: module, token or pin-file)";
}

int token_conf_parse(const char *text, size_t len, struct token_conf *out, char *err,
                     size_t errlen)
{
    struct token_conf c;
    size_t pos = 0, line = 0;

    memset(&c, 0, sizeof c);
    errf(err, errlen, 0, "%s", "");
    if (!out || (!text && len))
        return errf(err, errlen, -EINVAL, "token.conf: bad arguments");
    if (len > TOKEN_CONF_MAX)
        return errf(err, errlen, -EINVAL, "token.conf: larger than %u bytes", TOKEN_CONF_MAX);
    while (pos < len) {
        const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;

        line++;
        pos += n + (nl != NULL);
        if (n > 0 && p[n - 1] == '\r')
            n--;                            /* CRLF line ends are tolerated */
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)p[i];
            if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
                return errf(err, errlen, -EINVAL, "token.conf: line %zu: %s", line,
                            ch == 0 ? "NUL byte" : "not printable ASCII");
        }
        const char *why = tc_line(p, n, &c);
        if (why)
            return errf(err, errlen, -EINVAL, "token.conf: line %zu: %s", line, why);
    }
    *out = c;
    return 0;
}

int token_conf_apply(const struct token_conf *c, const char **module, const char **label,
                     const char **pin_file)
{
    int from_file = !*module && c->module[0];
    if (from_file)
        *module = c->module;
    if (!*label && c->label[0])
        *label = c->label;
    if (!*pin_file && c->pin_file[0])
        *pin_file = c->pin_file;
    if (*module && !strcmp(*module, "softhsm2"))
        *module = NULL;                    /* the default, by its name */
    return from_file;
}

int token_conf_load(const char *config_dir, struct token_conf *c, char *err, size_t errlen)
{
    char path[TOKEN_CONF_PATH_MAX + 16], *text = NULL;
    size_t len = 0;

    memset(c, 0, sizeof *c);
    if ((size_t)snprintf(path, sizeof path, "%s/token.conf", config_dir) >= sizeof path)
        return errf(err, errlen, -ENAMETOOLONG, "token.conf: the configuration path is too "
                    "long");
    int r = file_read_all(path, TOKEN_CONF_MAX, &text, &len);
    if (r == -ENOENT)
        return 0;
    if (r)
        return errf(err, errlen, r, "cannot read %s: %s", path,
                    r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
    char perr[256];
    r = token_conf_parse(text, len, c, perr, sizeof perr);
    free(text);
    if (r) {
        const char *why = strncmp(perr, "token.conf: ", 12) ? perr : perr + 12;
        return errf(err, errlen, r, "%s: %s", path, why);
    }
    return 0;
}
