/* tests/test_eventlog.c — the measured-launch event log: the digest rule and replay against
 * hand computations with OpenSSL, the written format and its round trip, every kind of
 * tampered log (refused, or replaying to a different value), the reference policy, the
 * canonical encodings, and concurrent appends. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "check.h"
#include "measure/eventlog.h"

static void tohex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* D by hand: SHA-256("trevisor-event v1\0" NAME "\0" SHA-256(data)) */
static void hand_digest(const char *name, const void *data, size_t len, uint8_t d[32])
{
    uint8_t buf[128], h[32];
    size_t n = 0;

    SHA256(data, len, h);
    memcpy(buf, "trevisor-event v1", 18); /* with the NUL */
    n = 18;
    memcpy(buf + n, name, strlen(name) + 1);
    n += strlen(name) + 1;
    memcpy(buf + n, h, 32);
    n += 32;
    SHA256(buf, n, d);
}

/* A log with one of each type; its text in *text (malloc'd). */
static struct eventlog *sample_log(char **text, size_t *len)
{
    struct eventlog *l = NULL;
    static const uint8_t sha[32] = { 1, 2, 3 }, keyid[8] = { 0xaa, 0xbb };
    char *argv[] = { "qemu-system-x86_64", "-m", "512", "-append", "console=ttyS0", NULL };
    uint8_t enc[512];
    long n;

    if (eventlog_new(15, &l))
        return NULL;
    CHECK_EQ(eventlog_append(l, EV_SELF, "trevisor-bytes", 14, "/usr/bin/trevisor", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_CONFIG, "mem=1G\n", 7, "config /etc/trevisor.conf", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_POLICY, "", 0, "policy: empty", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_QEMU_BINARY, "ELF...", 6, "qemu", NULL), 0);
    n = eventlog_encode_argv(argv, enc, sizeof(enc));
    CHECK(n > 0);
    CHECK_EQ(eventlog_append(l, EV_QEMU_CMDLINE, enc, (size_t)n, "qemu -m 512 ...", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_GUEST_KERNEL, "kernel", 6, "bzImage", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_GUEST_INITRD, "initrd", 6, "initrd.img", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_GUEST_CMDLINE, "console=ttyS0", 13,
                             "cmdline: console=ttyS0", NULL), 0);
    CHECK_EQ(eventlog_append(l, EV_SEPARATOR, NULL, 0, "end of launch", NULL), 0);
    n = eventlog_encode_tre_image(sha, keyid, "name=a\0", 7, enc, sizeof(enc));
    CHECK(n > 0);
    CHECK_EQ(eventlog_append(l, EV_TRE_IMAGE, enc, (size_t)n,
                             "tre hello key aabb\\ \"x\"\ttab\x01\x7f\xc3\xa9", NULL), 0);
    if (text)
        CHECK_EQ(eventlog_format(l, text, len), 0);
    return l;
}

static void test_eventlog_types_and_pcr(void)
{
    struct eventlog *l = (struct eventlog *)1;

    for (int t = EV_TYPE_MIN; t <= EV_TYPE_MAX; t++) {
        const char *n = ev_type_name((enum ev_type)t);

        CHECK(n != NULL);
        if (n)
            CHECK_EQ(ev_type_from_name(n, strlen(n)), t);
    }
    CHECK(ev_type_name((enum ev_type)0) == NULL);
    CHECK(ev_type_name((enum ev_type)(EV_TYPE_MAX + 1)) == NULL);
    CHECK_EQ(ev_type_from_name("self", 4), 0);
    CHECK_EQ(ev_type_from_name("SELFX", 5), 0);
    CHECK_EQ(ev_type_from_name("SELF", 3), 0);

    CHECK_EQ(eventlog_new(16, &l), -EINVAL);
    CHECK(l == NULL);
    CHECK_EQ(eventlog_new(23, &l), -EINVAL);
    CHECK_EQ(eventlog_new(24, &l), -EINVAL);
    CHECK_EQ(eventlog_new(0, &l), 0);
    CHECK_EQ(eventlog_pcr(l), 0);
    eventlog_free(l);
    CHECK_EQ(eventlog_new(EVENTLOG_DEFAULT_PCR, &l), 0);
    CHECK_EQ(eventlog_pcr(l), 15);
    CHECK_EQ(eventlog_count(l), 0);
    eventlog_free(l);
    eventlog_free(NULL);
}

static void test_eventlog_digest_rule(void)
{
    struct eventlog *l;
    uint8_t d[32], want[32], h[32], d2[32];
    struct ev_event ev;

    CHECK_EQ(eventlog_new(15, &l), 0);
    CHECK_EQ(eventlog_append(l, EV_GUEST_KERNEL, "abc", 3, "k", d), 0);
    hand_digest("GUEST_KERNEL", "abc", 3, want);
    CHECK(memcmp(d, want, 32) == 0);
    CHECK_EQ(eventlog_get(l, 0, &ev), 0);
    CHECK(memcmp(ev.digest, want, 32) == 0);
    SHA256((const uint8_t *)"abc", 3, h);
    CHECK(memcmp(ev.data_hash, h, 32) == 0);
    CHECK_EQ(ev.type, EV_GUEST_KERNEL);
    CHECK_EQ(ev.pcr, 15);
    CHECK(strcmp(ev.desc, "k") == 0);
    CHECK_EQ(eventlog_get(l, 1, &ev), -ENOENT);

    /* the same data under another type gives another digest */
    CHECK_EQ(eventlog_digest(EV_GUEST_INITRD, "abc", 3, d2, NULL), 0);
    CHECK(memcmp(d, d2, 32) != 0);
    CHECK_EQ(eventlog_digest_from_hash(EV_GUEST_KERNEL, h, d2), 0);
    CHECK(memcmp(d, d2, 32) == 0);
    CHECK_EQ(eventlog_digest((enum ev_type)0, "abc", 3, d2, NULL), -EINVAL);
    {
        char hx[65];

        /* the documented digest of the empty separator */
        CHECK_EQ(eventlog_digest(EV_SEPARATOR, NULL, 0, d2, NULL), 0);
        tohex(d2, 32, hx);
        CHECK(strcmp(hx, "f15737c48207bd85278e564fa3dcab4c98eb84386ab6f9b4795f162ca2040472") == 0);
    }
    CHECK_EQ(eventlog_digest((enum ev_type)99, "abc", 3, d2, NULL), -EINVAL);

    /* refusals */
    CHECK_EQ(eventlog_append(l, (enum ev_type)0, "x", 1, "d", NULL), -EINVAL);
    CHECK_EQ(eventlog_append(l, EV_SELF, "x", 1, "", NULL), -EINVAL);
    CHECK_EQ(eventlog_append(l, EV_SELF, "x", 1, NULL, NULL), -EINVAL);
    CHECK_EQ(eventlog_append(l, EV_SELF, NULL, 1, "d", NULL), -EINVAL);
    {
        char big[EVENTLOG_MAX_DESC + 2];

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK_EQ(eventlog_append(l, EV_SELF, "x", 1, big, NULL), -EINVAL);
        big[EVENTLOG_MAX_DESC] = '\0';
        CHECK_EQ(eventlog_append(l, EV_SELF, "x", 1, big, NULL), 0);
    }
    CHECK_EQ(eventlog_count(l), 2);
    eventlog_free(l);
}

static void test_eventlog_replay_by_hand(void)
{
    struct eventlog *l;
    uint8_t v[32], buf[64], got[32], d[32];
    const char *items[] = { "one", "two", "three" };

    CHECK_EQ(eventlog_new(15, &l), 0);
    eventlog_replay(l, got);
    memset(v, 0, 32);
    CHECK(memcmp(got, v, 32) == 0); /* empty log: the reset value */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(eventlog_append(l, EV_CONFIG, items[i], strlen(items[i]), items[i], NULL), 0);
        hand_digest("CONFIG", items[i], strlen(items[i]), d);
        memcpy(buf, v, 32);
        memcpy(buf + 32, d, 32);
        SHA256(buf, 64, v);
    }
    CHECK_EQ(eventlog_replay(l, got), 0);
    CHECK(memcmp(got, v, 32) == 0);
    eventlog_free(l);
}

static void test_eventlog_round_trip(void)
{
    struct eventlog *l, *p = NULL;
    char *text = NULL, *text2 = NULL, err[256], *mem = NULL;
    size_t len = 0, len2 = 0, memlen = 0;
    uint8_t v1[32], v2[32];
    FILE *f;

    l = sample_log(&text, &len);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK(strncmp(text, "trevisor-eventlog v1 sha256 pcr=15\n", 35) == 0);
    CHECK(strstr(text, "\n15 SELF ") != NULL);
    /* the description's control, backslash and non-ASCII bytes are escaped */
    CHECK(strstr(text, " tre hello key aabb\\\\ \"x\"\\x09tab\\x01\\x7f\\xc3\\xa9\n") != NULL);
    CHECK_EQ(strlen(text), len);

    CHECK_EQ(eventlog_parse(text, len, &p, err, sizeof(err)), 0);
    if (!p) {
        fprintf(stderr, "  parse: %s\n", err);
        eventlog_free(l);
        free(text);
        return;
    }
    CHECK_EQ(eventlog_count(p), eventlog_count(l));
    for (size_t i = 0; i < eventlog_count(l); i++) {
        struct ev_event a, b;

        eventlog_get(l, i, &a);
        eventlog_get(p, i, &b);
        CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    }
    eventlog_replay(l, v1);
    eventlog_replay(p, v2);
    CHECK(memcmp(v1, v2, 32) == 0);
    CHECK_EQ(eventlog_format(p, &text2, &len2), 0);
    CHECK_EQ(len2, len);
    CHECK(text2 && memcmp(text, text2, len) == 0);

    /* eventlog_write gives the same bytes */
    f = open_memstream(&mem, &memlen);
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(eventlog_write(p, f), 0);
        fclose(f);
        CHECK_EQ(memlen, len);
        CHECK(mem && memcmp(mem, text, len) == 0);
    }
    free(mem);
    /* a write error is reported */
    f = fopen("/dev/full", "w");
    if (f) {
        CHECK_EQ(eventlog_write(p, f), -EIO);
        fclose(f);
    }

    /* a header-only log is a valid, empty log */
    eventlog_free(p);
    p = NULL;
    CHECK_EQ(eventlog_parse("trevisor-eventlog v1 sha256 pcr=0\n", 34, &p, err, sizeof(err)), 0);
    CHECK(p && eventlog_count(p) == 0 && eventlog_pcr(p) == 0);
    eventlog_free(p);
    eventlog_free(l);
    free(text);
    free(text2);
}

/* Parses text (NUL-terminated); returns the parse result and, if it parsed, its replay. */
static int parse_replay(const char *text, uint8_t v[32], char *err, size_t errlen)
{
    struct eventlog *p = NULL;
    int rc = eventlog_parse(text, strlen(text), &p, err, errlen);

    if (rc == 0) {
        eventlog_replay(p, v);
        eventlog_free(p);
    }
    return rc;
}

/* Line i (0 = header) of text as [*start, *end) including its '\n'. */
static void find_line(const char *text, int i, const char **start, const char **end)
{
    const char *p = text;

    while (i-- > 0)
        p = strchr(p, '\n') + 1;
    *start = p;
    *end = strchr(p, '\n') + 1;
}

static char *splice(const char *text, const char *from, const char *to, const char *ins)
{
    size_t a = (size_t)(from - text), il = strlen(ins), rest = strlen(to);
    char *out = malloc(a + il + rest + 1);

    memcpy(out, text, a);
    memcpy(out + a, ins, il);
    memcpy(out + a + il, to, rest + 1);
    return out;
}

static int refused_(const char *t, const char *want, int line)
{
    char err[256];
    uint8_t v[32];
    int rc = parse_replay(t, v, err, sizeof(err));

    if (rc != -EINVAL || strncmp(err, "eventlog: ", 10) != 0 || !strstr(err, want)) {
        fprintf(stderr, "  line %d: rc %d, err \"%s\", wanted \"%s\"\n", line, rc, err, want);
        return 0;
    }
    return 1;
}
#define REFUSED(t, want) CHECK(refused_((t), (want), __LINE__))

static void test_eventlog_tampering(void)
{
    struct eventlog *l;
    char *text = NULL, *t, err[256], line[8192];
    const char *s, *e, *s2, *e2;
    uint8_t good[32], v[32];
    size_t len;

    l = sample_log(&text, &len);
    if (!l)
        return;
    eventlog_replay(l, good);
    CHECK_EQ(parse_replay(text, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) == 0);

    /* a changed digest D (first hex digit of line 2's D) */
    t = strdup(text);
    find_line(t, 2, &s, &e);
    {
        char *d = strchr(strchr((char *)s, ' ') + 1, ' ') + 1;
        *d = *d == '0' ? '1' : '0';
    }
    REFUSED(t, "line 3: digest does not follow");
    free(t);

    /* a changed data hash H */
    t = strdup(text);
    find_line(t, 1, &s, &e);
    ((char *)e)[-3] = e[-3] == 'a' ? 'b' : 'a'; /* inside the description: allowed */
    CHECK_EQ(parse_replay(t, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) == 0); /* the description is not measured */
    {
        char *h = strchr(strchr(strchr((char *)s, ' ') + 1, ' ') + 1, ' ') + 1;
        *h = *h == '0' ? '1' : '0';
    }
    REFUSED(t, "line 2: digest does not follow");
    free(t);

    /* a changed type, to another valid type: D no longer follows */
    find_line(text, 6, &s, &e);
    CHECK(strncmp(s, "15 GUEST_KERNEL ", 16) == 0);
    snprintf(line, sizeof(line), "15 GUEST_INITRD %.*s", (int)(e - s - 16), s + 16);
    t = splice(text, s, e, line);
    REFUSED(t, "line 7: digest does not follow");
    free(t);
    snprintf(line, sizeof(line), "15 GUEST_KERNELX %.*s", (int)(e - s - 16), s + 16);
    t = splice(text, s, e, line);
    REFUSED(t, "line 7: unknown event type");
    free(t);
    snprintf(line, sizeof(line), "15 guest_kernel %.*s", (int)(e - s - 16), s + 16);
    t = splice(text, s, e, line);
    REFUSED(t, "line 7: unknown event type");
    free(t);

    /* reordered: lines 2 and 3 swapped: parses, but replays to another value */
    find_line(text, 2, &s, &e);
    find_line(text, 3, &s2, &e2);
    snprintf(line, sizeof(line), "%.*s%.*s", (int)(e2 - s2), s2, (int)(e - s), s);
    t = splice(text, s, e2, line);
    CHECK_EQ(parse_replay(t, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) != 0);
    free(t);

    /* dropped: line 4 removed */
    find_line(text, 4, &s, &e);
    t = splice(text, s, e, "");
    CHECK_EQ(parse_replay(t, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) != 0);
    free(t);
    /* the last event dropped */
    t = strdup(text);
    t[strlen(t) - 1] = '\0';
    *(strrchr(t, '\n') + 1) = '\0';
    CHECK_EQ(parse_replay(t, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) != 0);
    free(t);

    /* extra line: a duplicated valid line replays differently; garbage is refused */
    find_line(text, 3, &s, &e);
    snprintf(line, sizeof(line), "%.*s%.*s", (int)(e - s), s, (int)(e - s), s);
    t = splice(text, s, e, line);
    CHECK_EQ(parse_replay(t, v, err, sizeof(err)), 0);
    CHECK(memcmp(v, good, 32) != 0);
    free(t);
    t = malloc(len + 64);
    snprintf(t, len + 64, "%shello world\n", text);
    REFUSED(t, "line 12: bad PCR field");
    snprintf(t, len + 64, "%s\n", text);
    REFUSED(t, "line 12: bad PCR field");
    snprintf(t, len + 64, "%s# comment\n", text);
    REFUSED(t, "line 12: bad PCR field");
    free(t);

    /* an event line for another PCR */
    find_line(text, 1, &s, &e);
    snprintf(line, sizeof(line), "14%.*s", (int)(e - s - 2), s + 2);
    t = splice(text, s, e, line);
    REFUSED(t, "line 2: PCR 14, but the log is for PCR 15");
    free(t);
    snprintf(line, sizeof(line), "015%.*s", (int)(e - s - 2), s + 2);
    t = splice(text, s, e, line);
    REFUSED(t, "line 2: bad PCR field");
    free(t);
    snprintf(line, sizeof(line), " 15%.*s", (int)(e - s - 2), s + 2);
    t = splice(text, s, e, line);
    REFUSED(t, "line 2: bad PCR field");
    free(t);

    /* bad headers */
    find_line(text, 0, &s, &e);
    t = splice(text, s, e, "trevisor-eventlog v2 sha256 pcr=15\n");
    REFUSED(t, "line 1: unsupported version");
    free(t);
    t = splice(text, s, e, "trevisor-eventlog v1 sha1 pcr=15\n");
    REFUSED(t, "line 1: unsupported version");
    free(t);
    t = splice(text, s, e, "trevisor-eventlog v1 sha256 pcr=16\n");
    REFUSED(t, "line 1: bad PCR number");
    free(t);
    t = splice(text, s, e, "trevisor-eventlog v1 sha256 pcr=15 \n");
    REFUSED(t, "line 1: bad PCR number");
    free(t);
    t = splice(text, s, e, "trevisor-eventlog v1 sha256 pcr=15\r\n");
    REFUSED(t, "line 1: bad PCR number");
    free(t);
    t = splice(text, s, e, "");
    REFUSED(t, "line 1: not a trevisor event log");
    free(t);
    REFUSED("", "empty log");
    REFUSED("trevisor-eventlog v1 sha256 pcr=15", "line 1: missing or overlong header");

    /* no newline at the end */
    t = strdup(text);
    t[strlen(t) - 1] = '\0';
    REFUSED(t, "line 11: no newline at the end");
    free(t);

    /* bad hex: upper case, a non-hex digit, a short digest */
    find_line(text, 1, &s, &e);
    {
        const char *d = strchr(s + 3, ' ') + 1;
        size_t pre = (size_t)(d - s);

        snprintf(line, sizeof(line), "%.*sA%.*s", (int)pre, s, (int)(e - d - 1), d + 1);
        t = splice(text, s, e, line);
        REFUSED(t, "line 2: bad digest fields");
        free(t);
        snprintf(line, sizeof(line), "%.*sg%.*s", (int)pre, s, (int)(e - d - 1), d + 1);
        t = splice(text, s, e, line);
        REFUSED(t, "line 2: bad digest fields");
        free(t);
        snprintf(line, sizeof(line), "%.*s%.*s", (int)pre, s, (int)(e - d - 1), d + 1);
        t = splice(text, s, e, line);
        REFUSED(t, "line 2: bad digest fields");
        free(t);
        /* no description at all, and an empty one */
        snprintf(line, sizeof(line), "%.*s\n", (int)(pre + 129), s);
        t = splice(text, s, e, line);
        REFUSED(t, "line 2: bad digest fields");
        free(t);
        snprintf(line, sizeof(line), "%.*s \n", (int)(pre + 129), s);
        t = splice(text, s, e, line);
        REFUSED(t, "line 2: empty description");
        free(t);

        /* descriptions with raw control characters, DEL, non-ASCII, bad escapes */
        static const char *const bad_desc[] = {
            "a\tb", "a\rb", "a\x01", "\x7f", "caf\xc3\xa9", "a\x1b[2Jb",
            "back\\slash", "trailing\\", "\\x4", "\\x00", "\\x41", "\\x5c", "\\X09", "\\x0A",
        };
        static const char *const why[] = {
            "control or non-ASCII", "control or non-ASCII", "control or non-ASCII",
            "control or non-ASCII", "control or non-ASCII", "control or non-ASCII",
            "bad escape", "bad escape", "bad escape", "holds \\x00",
            "needs no escape", "needs no escape", "bad escape", "bad escape",
        };
        for (size_t i = 0; i < sizeof(bad_desc) / sizeof(bad_desc[0]); i++) {
            snprintf(line, sizeof(line), "%.*s %s\n", (int)(pre + 129), s, bad_desc[i]);
            t = splice(text, s, e, line);
            REFUSED(t, why[i]);
            free(t);
        }
        /* a NUL inside the text is refused too */
        snprintf(line, sizeof(line), "%.*s ab\n", (int)(pre + 129), s);
        t = splice(text, s, e, line);
        {
            char *z = strstr(t, " ab\n");
            struct eventlog *p = NULL;

            z[1] = '\0';
            CHECK_EQ(eventlog_parse(t, strlen(t) + strlen(z + 2) + 1, &p, err, sizeof(err)),
                     -EINVAL);
            CHECK(strstr(err, "control or non-ASCII") != NULL);
        }
        free(t);

        /* overlong lines */
        {
            char *big = malloc(EVENTLOG_MAX_LINE + 256);
            size_t k;

            k = (size_t)snprintf(big, EVENTLOG_MAX_LINE + 256, "%.*s ", (int)(pre + 129), s);
            while (k < EVENTLOG_MAX_LINE + 100)
                big[k++] = 'x';
            big[k++] = '\n';
            big[k] = '\0';
            t = splice(text, s, e, big);
            REFUSED(t, "line 2: line too long");
            free(t);
            /* long but within the line limit: refused as too long a description */
            k = (size_t)snprintf(big, EVENTLOG_MAX_LINE + 256, "%.*s ", (int)(pre + 129), s);
            for (int j = 0; j < EVENTLOG_MAX_DESC + 1; j++)
                big[k++] = 'y';
            big[k++] = '\n';
            big[k] = '\0';
            t = splice(text, s, e, big);
            REFUSED(t, "line 2: description too long");
            free(t);
            free(big);
        }
    }

    /* the error message is always terminated, even when the buffer is tiny */
    {
        char small[8];
        struct eventlog *p = NULL;

        memset(small, 'x', sizeof(small));
        CHECK_EQ(eventlog_parse("nope\n", 5, &p, small, sizeof(small)), -EINVAL);
        CHECK(memchr(small, '\0', sizeof(small)) != NULL);
        CHECK_EQ(eventlog_parse("nope\n", 5, &p, NULL, 0), -EINVAL);
        CHECK(p == NULL);
    }
    eventlog_free(l);
    free(text);
}

static void test_eventlog_policy(void)
{
    struct eventlog *l;
    char pol[8192], hx[65], err[512];
    size_t n = 0;
    int rc;

    l = sample_log(NULL, NULL);
    if (!l)
        return;
    n = (size_t)snprintf(pol, sizeof(pol), "# reference policy\n\ntrevisor-policy v1\n");
    for (size_t i = 0; i < eventlog_count(l); i++) {
        struct ev_event ev;

        eventlog_get(l, i, &ev);
        if (ev.type == EV_SEPARATOR)
            continue; /* the empty separator is always allowed */
        tohex(ev.data_hash, 32, hx);
        if (i == 2) /* upper case, tabs and a trailing comment are fine */
            for (char *c = hx; *c; c++)
                *c = (char)(*c >= 'a' ? *c - 32 : *c);
        n += (size_t)snprintf(pol + n, sizeof(pol) - n, "%s\t%s%s\n",
                              ev_type_name(ev.type), hx, i == 2 ? "  # upper" : "");
    }
    rc = eventlog_check_policy(l, pol, n, err, sizeof(err));
    CHECK_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "  %s\n", err);

    /* a file's sha256sum works directly: the policy lists H, not D */
    {
        char path[] = "/tmp/test_eventlog_XXXXXX";
        int fd = mkstemp(path);
        uint8_t d[32], want[32];
        struct ev_event ev;

        CHECK(fd >= 0);
        CHECK_EQ(write(fd, "kernel", 6), 6);
        close(fd);
        CHECK_EQ(eventlog_append_file(l, EV_GUEST_KERNEL, path, "kernel again", d), 0);
        hand_digest("GUEST_KERNEL", "kernel", 6, want);
        CHECK(memcmp(d, want, 32) == 0);
        eventlog_get(l, eventlog_count(l) - 1, &ev);
        CHECK(strcmp(ev.desc, "kernel again") == 0);
        unlink(path);
        CHECK_EQ(eventlog_append_file(l, EV_GUEST_KERNEL, path, "gone", d), -ENOENT);
        CHECK_EQ(eventlog_check_policy(l, pol, n, err, sizeof(err)), 0);
    }

    /* an event the policy does not list is refused, naming it */
    CHECK_EQ(eventlog_append(l, EV_GUEST_KERNEL, "evil", 4, "evil kernel", NULL), 0);
    CHECK_EQ(eventlog_check_policy(l, pol, n, err, sizeof(err)), -EACCES);
    CHECK(strstr(err, "event 12 (GUEST_KERNEL ") != NULL);
    eventlog_free(l);

    /* the right hash under the wrong type is refused */
    CHECK_EQ(eventlog_new(15, &l), 0);
    CHECK_EQ(eventlog_append(l, EV_GUEST_INITRD, "kernel", 6, "kernel as initrd", NULL), 0);
    CHECK_EQ(eventlog_check_policy(l, pol, n, err, sizeof(err)), -EACCES);
    /* a separator over other data is not the implicit one */
    eventlog_free(l);
    CHECK_EQ(eventlog_new(15, &l), 0);
    CHECK_EQ(eventlog_append(l, EV_SEPARATOR, "x", 1, "sep", NULL), 0);
    CHECK_EQ(eventlog_check_policy(l, pol, n, err, sizeof(err)), -EACCES);

    /* malformed policies */
    static const char *const bad[] = {
        "",
        "# only a comment\n",
        "trevisor-policy v2\n",
        "SELF 0000000000000000000000000000000000000000000000000000000000000000\n",
        "trevisor-policy v1\nSELFIE 0000000000000000000000000000000000000000000000000000000000000000\n",
        "trevisor-policy v1\nSELF 000000000000000000000000000000000000000000000000000000000000000\n",
        "trevisor-policy v1\nSELF 00000000000000000000000000000000000000000000000000000000000000000\n",
        "trevisor-policy v1\nSELF 000000000000000000000000000000000000000000000000000000000000000g\n",
        "trevisor-policy v1\nSELF 0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "trevisor-policy v1\nSELF\n",
        "trevisor-policy v1\nSELF 00\x01\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = eventlog_check_policy(l, bad[i], strlen(bad[i]), err, sizeof(err));
        if (rc != -EINVAL || strncmp(err, "policy: ", 8) != 0) {
            fprintf(stderr, "  bad policy %zu: rc %d err \"%s\"\n", i, rc, err);
            CHECK(0);
        }
    }
    /* an empty log passes any well-formed policy; no final newline is fine */
    eventlog_free(l);
    CHECK_EQ(eventlog_new(15, &l), 0);
    CHECK_EQ(eventlog_check_policy(l, "trevisor-policy v1", 18, err, sizeof(err)), 0);
    eventlog_free(l);
}

static void test_eventlog_encodings(void)
{
    char *argv[] = { "a", "", "bc", NULL }, *none[] = { NULL };
    static const uint8_t sha[32] = { 0x11 }, keyid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t out[128];

    CHECK_EQ(eventlog_encode_argv(argv, NULL, 0), 6);
    CHECK_EQ(eventlog_encode_argv(argv, out, 5), 6); /* too small: nothing written */
    memset(out, 0xff, sizeof(out));
    CHECK_EQ(eventlog_encode_argv(argv, out, sizeof(out)), 6);
    CHECK(memcmp(out, "a\0\0bc\0", 6) == 0);
    CHECK_EQ(out[6], 0xff);
    CHECK_EQ(eventlog_encode_argv(none, out, sizeof(out)), -EINVAL);
    CHECK_EQ(eventlog_encode_argv(NULL, out, sizeof(out)), -EINVAL);

    CHECK_EQ(eventlog_encode_tre_image(sha, keyid, "m=1", 3, NULL, 0), 22 + 32 + 8 + 4 + 3);
    CHECK_EQ(eventlog_encode_tre_image(sha, keyid, "m=1", 3, out, sizeof(out)), 69);
    CHECK(memcmp(out, "trevisor-tre-image v1\0", 22) == 0);
    CHECK(memcmp(out + 22, sha, 32) == 0);
    CHECK(memcmp(out + 54, keyid, 8) == 0);
    CHECK(memcmp(out + 62, "\0\0\0\3m=1", 7) == 0);
    CHECK_EQ(eventlog_encode_tre_image(sha, keyid, NULL, 0, out, sizeof(out)), 66);
    CHECK_EQ(eventlog_encode_tre_image(sha, keyid, NULL, 3, out, sizeof(out)), -EINVAL);
    CHECK_EQ(eventlog_encode_tre_image(NULL, keyid, "m", 1, out, sizeof(out)), -EINVAL);
}

#define NTHREADS 8
#define PER_THREAD 200

static void *appender(void *arg)
{
    struct eventlog *l = arg;
    char desc[32];

    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(desc, sizeof(desc), "t%p-%d", (void *)pthread_self(), i);
        if (eventlog_append(l, EV_TRE_IMAGE, desc, strlen(desc), desc, NULL) != 0)
            return (void *)1;
        if (i % 50 == 0) {
            uint8_t v[32];
            char *t;

            eventlog_replay(l, v);
            if (eventlog_format(l, &t, NULL) == 0)
                free(t);
        }
    }
    return NULL;
}

static void test_eventlog_threads(void)
{
    struct eventlog *l, *p = NULL;
    pthread_t th[NTHREADS];
    uint8_t v1[32], v2[32];
    char *text, err[256];
    size_t len;

    CHECK_EQ(eventlog_new(15, &l), 0);
    for (int i = 0; i < NTHREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, appender, l), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *r;

        pthread_join(th[i], &r);
        CHECK(r == NULL);
    }
    CHECK_EQ(eventlog_count(l), NTHREADS * PER_THREAD);
    CHECK_EQ(eventlog_format(l, &text, &len), 0);
    CHECK_EQ(eventlog_parse(text, len, &p, err, sizeof(err)), 0);
    if (p) {
        eventlog_replay(l, v1);
        eventlog_replay(p, v2);
        CHECK(memcmp(v1, v2, 32) == 0);
        /* each event's digest follows from its own description's data */
        for (size_t i = 0; i < eventlog_count(p); i++) {
            struct ev_event ev;
            uint8_t d[32];

            eventlog_get(p, i, &ev);
            eventlog_digest(EV_TRE_IMAGE, ev.desc, strlen(ev.desc), d, NULL);
            CHECK(memcmp(d, ev.digest, 32) == 0);
        }
    }
    eventlog_free(p);
    eventlog_free(l);
    free(text);
}

int main(void)
{
    TEST(test_eventlog_types_and_pcr);
    TEST(test_eventlog_digest_rule);
    TEST(test_eventlog_replay_by_hand);
    TEST(test_eventlog_round_trip);
    TEST(test_eventlog_tampering);
    TEST(test_eventlog_policy);
    TEST(test_eventlog_encodings);
    TEST(test_eventlog_threads);
    TEST_EXIT();
}
