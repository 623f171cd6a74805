/* fuzz/fuzz_eventlog.c — libFuzzer target for the event log parser and the reference
 * policy parser, both fed untrusted text. Invariants: nothing crashes, leaks or reads out
 * of bounds; an accepted log is canonical (writing it gives back exactly the input bytes),
 * and parsing that output again gives the same events and the same replay; every accepted
 * event's digest follows from its type and data hash by the digest rule. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "measure/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct eventlog *a, const struct eventlog *b)
{
    uint8_t va[32], vb[32];

    if (eventlog_count(a) != eventlog_count(b) || eventlog_pcr(a) != eventlog_pcr(b))
        abort();
    for (size_t i = 0; i < eventlog_count(a); i++) {
        struct ev_event ea, eb;
        uint8_t d[32];

        if (eventlog_get(a, i, &ea) || eventlog_get(b, i, &eb) || memcmp(&ea, &eb, sizeof(ea)))
            abort();
        if (eventlog_digest_from_hash(ea.type, ea.data_hash, d) || memcmp(d, ea.digest, 32))
            abort();
        if (ea.desc[0] == '\0' || strnlen(ea.desc, sizeof(ea.desc)) > EVENTLOG_MAX_DESC)
            abort();
    }
    eventlog_replay(a, va);
    eventlog_replay(b, vb);
    if (memcmp(va, vb, 32))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct eventlog *l = NULL, *l2 = NULL, *fixed = NULL;
    char err[256], err2[256], *text = NULL, *buf;
    size_t len = 0;
    int rc;

    /* a private copy of exactly size bytes, so ASan sees any read past the end */
    buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    rc = eventlog_parse(buf, size, &l, err, sizeof(err));
    if (!memchr(err, '\0', sizeof(err)))
        abort();
    if (rc == 0) {
        if (eventlog_format(l, &text, &len) != 0)
            abort();
        if (len != size || memcmp(text, buf, size) != 0)
            abort(); /* accepted logs are canonical */
        if (eventlog_parse(text, len, &l2, err2, sizeof(err2)) != 0)
            abort();
        check_same(l, l2);
        free(text);
        eventlog_free(l2);
    } else if (rc != -EINVAL || l != NULL) {
        abort();
    }
    eventlog_free(l);

    /* the same bytes as a reference policy, against a small fixed log */
    if (eventlog_new(EVENTLOG_DEFAULT_PCR, &fixed) == 0) {
        eventlog_append(fixed, EV_SELF, "self", 4, "self", NULL);
        eventlog_append(fixed, EV_SEPARATOR, NULL, 0, "separator", NULL);
        eventlog_append(fixed, EV_GUEST_KERNEL, "", 0, "empty kernel", NULL);
        rc = eventlog_check_policy(fixed, buf, size, err, sizeof(err));
        if (rc != 0 && rc != -EINVAL && rc != -EACCES)
            abort();
        if (!memchr(err, '\0', sizeof(err)))
            abort();
        eventlog_free(fixed);
    }
    free(buf);
    return 0;
}
