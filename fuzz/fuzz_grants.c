/* fuzz/fuzz_grants.c — libFuzzer target for the token policy parser (services/grants.c),
 * fed untrusted text. Invariants: nothing crashes, leaks or reads out of bounds; a refusal
 * is -EINVAL with no policy and a one-line "grants: line N: ..." message; an accepted
 * policy has at most GRANTS_MAX grants, and every `grant KEYID LABEL` line of the input
 * (re-read here by a second, simpler reading) is allowed by it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/grants.h"
#include "tre/minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For each line that is exactly "grant KEYID LABEL" with single spaces, checks the
 * policy allows it. */
static void check_lines(const struct grants *g, const char *buf, size_t size)
{
    size_t pos = 0;

    while (pos < size) {
        const char *p = buf + pos, *nl = memchr(p, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - p) : size - pos;
        char line[128], *id, *label, *end;
        uint8_t keyid[8];

        pos += n + (nl != NULL);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n < 9 || n >= sizeof line || memcmp(p, "grant ", 6) != 0)
            continue;
        memcpy(line, p, n);
        line[n] = '\0';
        id = line + 6;
        label = strchr(id, ' ');
        if (label == NULL)
            continue;
        *label++ = '\0';
        end = strpbrk(label, " \t#");
        if (end != NULL || *label == '\0' || tre_keyid_parse_hex(id, keyid) != 0)
            continue;
        if (!grants_allow(g, keyid, label))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grants *g = NULL;
    char err[256];
    char *buf;
    int rc;

    /* a private copy of exactly size bytes, so ASan sees any read past the end */
    buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(err, 'x', sizeof err);

    rc = grants_parse(buf, size, &g, err, sizeof err);
    if (!memchr(err, '\0', sizeof err))
        abort();
    if (rc == 0) {
        if (g == NULL || grants_count(g) > GRANTS_MAX)
            abort();
        check_lines(g, buf, size);
        grants_free(g);
    } else if (rc != -EINVAL || g != NULL || strncmp(err, "grants: ", 8) != 0 ||
               strchr(err, '\n') != NULL) {
        abort();
    }
    free(buf);
    return 0;
}
