/* fuzz/fuzz_token_conf.c — libFuzzer target for the CONFIG/token.conf parser
 * (services/token_conf.c), fed untrusted text. Invariants: nothing crashes or reads out of
 * bounds; a refusal is -EINVAL with a one-line "token.conf: line N: ..." message and the
 * result untouched; an accepted file gives NUL-terminated values within their bounds: a
 * module that is softhsm2, none or an absolute path, a label of 1..32 printable ASCII
 * characters, an absolute PIN file path, each of them present in the input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/token_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* A value set must be in the input text, and be NUL-terminated within its field. */
static void check_value(const char *v, size_t cap, const char *buf, size_t size, int path)
{
    size_t n = strnlen(v, cap);
    if (n == cap)
        abort();
    if (n == 0)
        return;
    if (!printable(v) || (path && v[0] != '/' && strcmp(v, "softhsm2") && strcmp(v, "none")))
        abort();
    if (!memmem(buf, size, v, n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token_conf c, before;
    char err[256];

    if (size > TOKEN_CONF_MAX + 16)
        return 0;
    /* a private copy of exactly size bytes, so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(err, 'x', sizeof err);
    memset(&c, 0x5a, sizeof c);
    before = c;

    int rc = token_conf_parse(buf, size, &c, err, sizeof err);
    if (!memchr(err, '\0', sizeof err))
        abort();
    if (rc == 0) {
        check_value(c.module, sizeof c.module, buf, size, 1);
        check_value(c.label, sizeof c.label, buf, size, 0);
        check_value(c.pin_file, sizeof c.pin_file, buf, size, 0);
        if (c.pin_file[0] && c.pin_file[0] != '/')
            abort();
        if (strlen(c.label) > TOKEN_CONF_LABEL_MAX)
            abort();
    } else if (rc != -EINVAL || strncmp(err, "token.conf: ", 12) != 0 ||
               strchr(err, '\n') != NULL || memcmp(&c, &before, sizeof c) != 0) {
        abort();
    }
    free(buf);
    return 0;
}
