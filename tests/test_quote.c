/* tests/test_quote.c — the quote bundle and its verifier (measure/quote.c) against a real
 * swtpm: the qualifying data rule, the bundle format and its bounds, a bundle that
 * verifies (with and without a policy, pinned and unpinned), every tampering refused with
 * its own code, the untrusted bundle of --tpm none (refused unless allowed, then checked
 * and marked), and interop with tpm2_checkquote. Skips (saying so) without swtpm.
 * With TREVISOR_QUOTE_SEED_DIR set it also writes fuzz seeds (a real bundle made with the
 * fuzz target's nonce) into that directory. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>

#include "check.h"
#include "tmpdir.h"
#include "measure/eventlog.h"
#include "measure/quote.h"
#include "measure/tpm.h"

#define PCR 15
/* The nonce fuzz/fuzz_quote.c verifies with, so a bundle made here is a deep seed. */
static const uint8_t fuzz_nonce[16] = "trevisor fuzzing";
static const char report_text[] = "channel key 04ab..., session 7";




/* ---- no TPM needed ---- */

static void test_qualifying_data(void)
{
    const uint8_t nonce[3] = { 1, 2, 3 }, report[2] = { 0xaa, 0xbb };
    uint8_t m[32], q1[32], q2[32], want[32];
    memset(m, 0x5a, sizeof m);

    /* the documented rule, spelled out */
    uint8_t buf[18 + 4 + 3 + 32 + 4 + 2], *p = buf;
    memcpy(p, "trevisor-quote v1", 18); p += 18;     /* its NUL included */
    memcpy(p, "\0\0\0\3", 4); p += 4;
    memcpy(p, nonce, 3); p += 3;
    memcpy(p, m, 32); p += 32;
    memcpy(p, "\0\0\0\2", 4); p += 4;
    memcpy(p, report, 2); p += 2;
    CHECK_EQ(p - buf, sizeof buf);
    SHA256(buf, sizeof buf, want);
    quote_qualifying_data(nonce, 3, m, report, 2, q1);
    CHECK(memcmp(q1, want, 32) == 0);

    /* NULL measurement is 32 zero bytes; empty nonce and report are fine */
    uint8_t z[32] = {0};
    quote_qualifying_data(NULL, 0, z, NULL, 0, q1);
    quote_qualifying_data(NULL, 0, NULL, NULL, 0, q2);
    CHECK(memcmp(q1, q2, 32) == 0);
    /* every input counts, and the lengths keep nonce and report apart */
    const uint8_t n2[4] = { 1, 2, 3, 0xaa };
    quote_qualifying_data(nonce, 3, m, report, 2, q1);
    quote_qualifying_data(n2, 4, m, report + 1, 1, q2);
    CHECK(memcmp(q1, q2, 32) != 0);
    m[31] ^= 1;
    quote_qualifying_data(nonce, 3, m, report, 2, q2);
    CHECK(memcmp(q1, q2, 32) != 0);
}

/* A synthetic bundle (nothing in it verifies) for the format tests. */
static uint8_t syn_attest[100], syn_sig[70], syn_ak[91], syn_report[10];
static const char syn_log[] = "trevisor-eventlog v1 sha256 pcr=15\n";

static void syn_bundle(struct quote_bundle *b)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < sizeof syn_attest; i++) syn_attest[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof syn_sig; i++) syn_sig[i] = (uint8_t)(i + 1);
    for (size_t i = 0; i < sizeof syn_ak; i++) syn_ak[i] = (uint8_t)(i + 2);
    memset(syn_report, 'r', sizeof syn_report);
    b->pcr = PCR;
    memset(b->pcr_value, 0x11, 32);
    memset(b->measurement, 0x22, 32);
    b->attest = syn_attest; b->attest_len = sizeof syn_attest;
    b->sig = syn_sig; b->sig_len = sizeof syn_sig;
    b->ak_der = syn_ak; b->ak_der_len = sizeof syn_ak;
    b->report = syn_report; b->report_len = sizeof syn_report;
    b->eventlog = syn_log; b->eventlog_len = strlen(syn_log);
}

static uint8_t *encode(const struct quote_bundle *b, size_t *len)
{
    long n = quote_bundle_encode(b, NULL, 0);
    if (n <= 0)
        return NULL;
    uint8_t *buf = malloc((size_t)n);
    if (!buf)
        return NULL;
    if (quote_bundle_encode(b, buf, (size_t)n) != n) {
        free(buf);
        return NULL;
    }
    *len = (size_t)n;
    return buf;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void test_bundle_format(void)
{
    struct quote_bundle b, d;
    char err[256];
    size_t len = 0;
    syn_bundle(&b);
    uint8_t *buf = encode(&b, &len);
    CHECK(buf != NULL);
    if (!buf)
        return;
    size_t want = 76 + 5 * 4 + sizeof syn_attest + sizeof syn_sig + sizeof syn_ak +
                  sizeof syn_report + strlen(syn_log);
    CHECK_EQ(len, want);
    /* the documented layout */
    CHECK(memcmp(buf, "TRQB\1\0\0\0\17\0\0\0", 12) == 0);
    CHECK(buf[12] == 0x11 && buf[43] == 0x11 && buf[44] == 0x22 && buf[75] == 0x22);
    CHECK(memcmp(buf + 76, "\144\0\0\0", 4) == 0);              /* attest: 100 */
    CHECK(memcmp(buf + 80, syn_attest, sizeof syn_attest) == 0);
    CHECK(memcmp(buf + 180, "\106\0\0\0", 4) == 0);             /* sig: 70 */
    /* a short buffer: the length only */
    uint8_t small[10];
    CHECK_EQ(quote_bundle_encode(&b, small, sizeof small), (long)len);

    /* round trip */
    CHECK_EQ(quote_bundle_decode(buf, len, &d, err, sizeof err), 0);
    CHECK_EQ(d.pcr, PCR);
    CHECK(memcmp(d.pcr_value, b.pcr_value, 32) == 0);
    CHECK(memcmp(d.measurement, b.measurement, 32) == 0);
    CHECK(d.attest_len == b.attest_len && memcmp(d.attest, syn_attest, d.attest_len) == 0);
    CHECK(d.sig_len == b.sig_len && memcmp(d.sig, syn_sig, d.sig_len) == 0);
    CHECK(d.ak_der_len == b.ak_der_len && memcmp(d.ak_der, syn_ak, d.ak_der_len) == 0);
    CHECK(d.report_len == b.report_len && memcmp(d.report, syn_report, d.report_len) == 0);
    CHECK(d.eventlog_len == b.eventlog_len && memcmp(d.eventlog, syn_log, d.eventlog_len) == 0);
    /* pointers into the buffer */
    CHECK(d.attest == buf + 80);

    /* every prefix fails cleanly, and so does one more byte */
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);   /* exactly n bytes, for ASan */
        if (!cut) { CHECK(0); break; }
        memcpy(cut, buf, n);
        err[0] = 0;
        int r = quote_bundle_decode(cut, n, &d, err, sizeof err);
        if (r != -EBADMSG)
            fprintf(stderr, "  prefix %zu: %d\n", n, r);
        CHECK_EQ(r, -EBADMSG);
        CHECK(err[0] != 0);
        free(cut);
    }
    uint8_t *more = malloc(len + 1);
    if (more) {
        memcpy(more, buf, len);
        more[len] = 0;
        CHECK_EQ(quote_bundle_decode(more, len + 1, &d, err, sizeof err), -EBADMSG);
        CHECK(strstr(err, "trailing") != NULL);
        free(more);
    }

    /* hostile header fields and lengths */
    struct { size_t off; uint32_t v; } bad[] = {
        { 0, 0x54525142 },       /* magic "TRQB" backwards */
        { 4, 2 }, { 4, 0 },      /* version */
        { 8, 16 }, { 8, 23 }, { 8, 24 }, { 8, 0xffffffff },   /* pcr */
        { 76, 0 }, { 76, 0xffffffff }, { 76, TPM_ATTEST_MAX + 1 }, { 76, 101 }, { 76, 99 },
        { 180, 0 }, { 180, TPM_SIG_MAX + 1 }, { 180, 0xfffffffc },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t *c = malloc(len);
        if (!c) { CHECK(0); break; }
        memcpy(c, buf, len);
        put_le32(c + bad[i].off, bad[i].v);
        int r = quote_bundle_decode(c, len, &d, err, sizeof err);
        if (r != -EBADMSG)
            fprintf(stderr, "  bad[%zu]: %d\n", i, r);
        CHECK_EQ(r, -EBADMSG);
        free(c);
    }
    /* a wrong magic is named */
    buf[0] = 'X';
    CHECK_EQ(quote_bundle_decode(buf, len, &d, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "magic") != NULL);
    /* too large as a whole */
    CHECK_EQ(quote_bundle_decode(buf, (size_t)QUOTE_BUNDLE_MAX + 1, &d, err, sizeof err),
             -EBADMSG);
    free(buf);

    /* encode refuses what decode would */
    struct quote_bundle e = b;
    e.pcr = 16;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.attest_len = TPM_ATTEST_MAX + 1;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.sig_len = 0;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.ak_der_len = TPM_AK_DER_MAX + 1;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.report_len = QUOTE_REPORT_MAX + 1;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.eventlog_len = QUOTE_BUNDLE_MAX;       /* the log alone fits, the total not */
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.eventlog_len = (size_t)-1;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.report = NULL;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.report = NULL; e.report_len = 0;        /* no report data is fine */
    CHECK(quote_bundle_encode(&e, NULL, 0) > 0);
    CHECK_EQ(quote_bundle_decode(NULL, 0, &d, err, sizeof err), -EBADMSG);
}

/* ---- with a TPM ---- */

struct fix {
    char *dir;
    struct tpm *t;
    struct eventlog *log;
    char *text; size_t text_len;
    uint8_t measurement[32];     /* the TRE_IMAGE event's H */
    uint8_t self_hash[32];
    char policy[4096];
    uint8_t ak[TPM_AK_DER_MAX]; size_t ak_len;
    uint8_t *bundle; size_t len;
};

static const char *self_data = "the trevisor executable's bytes";

static int append(struct fix *f, enum ev_type type, const void *data, size_t len,
                  const char *desc)
{
    uint8_t d[32], h[32];
    char hx[65];
    if (eventlog_append(f->log, type, data, len, desc, d) != 0)
        return -1;
    if (tpm_pcr_extend(f->t, PCR, d) != 0) {
        fprintf(stderr, "  %s\n", tpm_last_error(f->t));
        return -1;
    }
    SHA256(data ? data : (const void *)"", len, h);
    hex(h, 32, hx);
    size_t o = strlen(f->policy);
    snprintf(f->policy + o, sizeof f->policy - o, "%s %s   # event %zu\n", ev_type_name(type),
             hx, eventlog_count(f->log));
    if (type == EV_SELF)
        memcpy(f->self_hash, h, 32);
    return 0;
}

static void fix_free(struct fix *f)
{
    free(f->bundle);
    free(f->text);
    eventlog_free(f->log);
    tpm_close(f->t);
    if (f->dir) {
        rm_rf(f->dir);
        free(f->dir);
    }
    memset(f, 0, sizeof *f);
}

/* A swtpm, a log of five events extended into PCR 15, and a bundle quoted over it with
 * fuzz_nonce, report_text and the TRE_IMAGE event's H as the measurement. */
static int fix_init(struct fix *f)
{
    char err[256] = "", tmpl[] = "/tmp/trevisor-quote-XXXXXX";
    memset(f, 0, sizeof *f);
    if (!mkdtemp(tmpl) || !(f->dir = strdup(tmpl)))
        return -1;
    if (tpm_open(TPM_SWTPM, f->dir, &f->t, err, sizeof err) < 0) {
        fprintf(stderr, "  %s\n", err);
        goto fail;
    }
    if (eventlog_new(PCR, &f->log) < 0)
        goto fail;
    strcpy(f->policy, "trevisor-policy v1\n");
    uint8_t sha[32], keyid[8] = { 0x3f, 0x9a, 0x0c, 0x1d, 0x2b, 0x4e, 0x5f, 0x60 };
    uint8_t img[128];
    SHA256((const uint8_t *)"image", 5, sha);
    long n = eventlog_encode_tre_image(sha, keyid, "name=hello\0", 11, img, sizeof img);
    if (n <= 0)
        goto fail;
    SHA256(img, (size_t)n, f->measurement);
    if (append(f, EV_SELF, self_data, strlen(self_data), "/usr/bin/trevisor") < 0 ||
        append(f, EV_CONFIG, "conf=1\n", 7, "/etc/trevisor/trevisor.conf") < 0 ||
        append(f, EV_GUEST_KERNEL, "vmlinuz", 7, "vmlinuz\x1b[31m red") < 0 ||
        append(f, EV_SEPARATOR, NULL, 0, "end of launch") < 0 ||
        append(f, EV_TRE_IMAGE, img, (size_t)n, "hello 1 key 3f9a0c1d2b4e5f60") < 0)
        goto fail;
    if (eventlog_format(f->log, &f->text, &f->text_len) < 0)
        goto fail;
    f->ak_len = sizeof f->ak;
    if (tpm_ak_public(f->t, f->ak, &f->ak_len) < 0)
        goto fail;
    if (quote_make(f->t, PCR, f->text, f->text_len, fuzz_nonce, sizeof fuzz_nonce,
                   f->measurement, (const uint8_t *)report_text, strlen(report_text),
                   &f->bundle, &f->len, err, sizeof err) < 0) {
        fprintf(stderr, "  quote_make: %s\n", err);
        goto fail;
    }
    return 0;
fail:
    fix_free(f);
    return -1;
}

static int verify_with(const uint8_t *buf, size_t len, const uint8_t *nonce, size_t nonce_len,
                       const char *policy, const uint8_t *ak, size_t ak_len,
                       struct quote_verdict *v, char *err, size_t errlen)
{
    struct quote_verify_opts o = {
        .nonce = nonce, .nonce_len = nonce_len,
        .policy = policy, .policy_len = policy ? strlen(policy) : 0,
        .ak_der = ak, .ak_der_len = ak_len,
    };
    err[0] = 0;
    int r = quote_verify(buf, len, &o, v, err, errlen);
    if (r < 0 && !err[0])
        fprintf(stderr, "  no message for %d\n", r);
    return r;
}

/* Verifies with the fixture's nonce, unpinned; one message line expected. */
static int verify1(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    struct quote_verdict v;
    return verify_with(buf, len, fuzz_nonce, sizeof fuzz_nonce, NULL, NULL, 0, &v, err, errlen);
}

/* The fixture's bundle with one field replaced, re-encoded. */
static int verify_changed(const struct fix *f, const struct quote_bundle *b, const char *what,
                          int want)
{
    char err[256];
    size_t len = 0;
    uint8_t *buf = encode(b, &len);
    if (!buf) {
        fprintf(stderr, "  %s: cannot encode\n", what);
        return -1;
    }
    int r = verify_with(buf, len, fuzz_nonce, sizeof fuzz_nonce, f->policy, f->ak, f->ak_len,
                        NULL, err, sizeof err);
    if (r != want)
        fprintf(stderr, "  %s: got %d (%s), want %d\n", what, r, err, want);
    else
        fprintf(stderr, "  (expected, %s) %s\n", what, err);
    free(buf);
    return r;
}

static void write_seed(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, n, fp) != n)
        fprintf(stderr, "  cannot write %s\n", path);
    if (fp)
        fclose(fp);
}

/* --tpm none: an untrusted bundle over a log built here, refused unless allowed, marked
 * when allowed, and every other check still applies to it. */
static void test_untrusted(void)
{
    struct eventlog *log = NULL;
    char *text = NULL, err[256], policy[1024];
    size_t tlen = 0, len = 0;
    uint8_t *buf = NULL, replay[32], d[32], h[32], ak[91] = { 0x30 };
    struct quote_bundle b, e;
    struct quote_verdict v;

    CHECK_EQ(eventlog_new(PCR, &log), 0);
    if (!log)
        return;
    CHECK_EQ(eventlog_append(log, EV_SELF, "self", 4, "trevisor", d), 0);
    CHECK_EQ(eventlog_append(log, EV_TRE_IMAGE, "image", 5, "prog", d), 0);
    CHECK_EQ(eventlog_format(log, &text, &tlen), 0);
    eventlog_replay(log, replay);
    SHA256((const uint8_t *)"image", 5, h);     /* the TRE_IMAGE's H: the instance */
    CHECK_EQ(quote_make_untrusted(PCR, replay, text, tlen, fuzz_nonce, sizeof fuzz_nonce, h,
                                  (const uint8_t *)report_text, strlen(report_text), &buf,
                                  &len, err, sizeof err), 0);
    if (!buf)
        goto out;
    CHECK_EQ(quote_bundle_decode(buf, len, &b, err, sizeof err), 0);
    CHECK_EQ(b.untrusted, 1);
    CHECK(b.attest_len == 32 && b.sig_len == 0 && b.ak_der_len == 0);
    CHECK(memcmp(b.pcr_value, replay, 32) == 0);

    /* refused by default, and never as a pinned AK's quote */
    struct quote_verify_opts o = { .nonce = fuzz_nonce, .nonce_len = sizeof fuzz_nonce };
    CHECK_EQ(quote_verify(buf, len, &o, &v, err, sizeof err), -ENOKEY);
    CHECK(strstr(err, "UNTRUSTED") != NULL);
    CHECK_EQ(v.untrusted, 1);
    o.allow_untrusted = 1;
    o.ak_der = ak; o.ak_der_len = sizeof ak;
    CHECK_EQ(quote_verify(buf, len, &o, &v, err, sizeof err), -EKEYREJECTED);
    o.ak_der = NULL; o.ak_der_len = 0;
    /* allowed: checked and marked */
    CHECK_EQ(quote_verify(buf, len, &o, &v, err, sizeof err), 0);
    CHECK_EQ(v.untrusted, 1);
    CHECK_EQ(v.events, 2);
    CHECK_EQ(v.instance_found, 1);
    CHECK_EQ(v.have_self, 1);
    /* with a policy: one that lists both events passes, one that lacks one does not */
    char hs[65], hi[65];
    SHA256((const uint8_t *)"self", 4, d);
    hex(d, 32, hs);
    hex(h, 32, hi);
    snprintf(policy, sizeof policy, "trevisor-policy v1\nSELF %s\nTRE_IMAGE %s\n", hs, hi);
    o.policy = policy; o.policy_len = strlen(policy);
    CHECK_EQ(quote_verify(buf, len, &o, &v, err, sizeof err), 0);
    snprintf(policy, sizeof policy, "trevisor-policy v1\nSELF %s\n", hs);
    o.policy_len = strlen(policy);
    CHECK_EQ(quote_verify(buf, len, &o, &v, err, sizeof err), -EACCES);
    o.policy = NULL; o.policy_len = 0;
    /* another nonce */
    struct quote_verify_opts o2 = { .nonce = (const uint8_t *)"other", .nonce_len = 5,
                                    .allow_untrusted = 1 };
    CHECK_EQ(quote_verify(buf, len, &o2, &v, err, sizeof err), -ESTALE);

    /* tampering, re-encoded: each still refused */
    uint8_t *c = NULL;
    size_t cl = 0;
    e = b; memset(e.pcr_value, 0x5a, 32);                  /* PCR value not the replay */
    c = encode(&e, &cl);
    CHECK(c && quote_verify(c, cl, &o, &v, err, sizeof err) == -EILSEQ);
    free(c);
    e = b; e.report_len--;                                  /* report data */
    c = encode(&e, &cl);
    CHECK(c && quote_verify(c, cl, &o, &v, err, sizeof err) == -ESTALE);
    free(c);
    uint8_t other_m[32];
    memset(other_m, 7, 32);
    e = b; memcpy(e.measurement, other_m, 32);              /* measurement */
    c = encode(&e, &cl);
    CHECK(c && quote_verify(c, cl, &o, &v, err, sizeof err) == -ESTALE);
    free(c);
    /* a log one event short replays elsewhere */
    const char *last = memchr(text, '\n', tlen);
    last = last ? memchr(last + 1, '\n', tlen - (size_t)(last + 1 - text)) : NULL;
    e = b; e.eventlog_len = last ? (size_t)(last + 1 - text) : tlen;
    c = encode(&e, &cl);
    CHECK(c && quote_verify(c, cl, &o, &v, err, sizeof err) == -EILSEQ);
    free(c);

    /* the shape is exact: 32 bytes of qual and nothing signed, or a full TPM quote */
    e = b; e.attest_len = 31;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.untrusted = 0;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    e = b; e.sig = ak; e.sig_len = 1;
    CHECK_EQ(quote_bundle_encode(&e, NULL, 0), -EINVAL);
    c = malloc(len + 1);
    if (c) {
        memcpy(c, buf, len);
        put_le32(c + 76, 31);                /* attest 31: the rest shifts, one byte spare */
        CHECK_EQ(quote_bundle_decode(c, len, &e, err, sizeof err), -EBADMSG);
        free(c);
    }
    const char *seeds = getenv("TREVISOR_QUOTE_SEED_DIR");
    if (seeds && *seeds)
        write_seed(seeds, "untrusted", buf, len);
out:
    free(buf);
    free(text);
    eventlog_free(log);
}

static void test_verify_ok(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed (apt-get install swtpm swtpm-tools)");
    struct fix f;
    CHECK_EQ(fix_init(&f), 0);
    if (!f.dir)
        return;
    struct quote_verdict v;
    char err[256];
    uint8_t pcr[32];
    CHECK_EQ(tpm_pcr_read(f.t, PCR, pcr), 0);

    /* unpinned, no policy */
    int r = verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce, NULL, NULL, 0, &v,
                        err, sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    CHECK_EQ(v.ak_pinned, 0);
    CHECK_EQ(v.events, 5);
    CHECK(memcmp(v.replay, pcr, 32) == 0);
    CHECK_EQ(v.have_self, 1);
    CHECK(memcmp(v.self_hash, f.self_hash, 32) == 0);
    CHECK_EQ(v.instance_found, 1);

    /* pinned, with a policy listing every event */
    r = verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce, f.policy, f.ak, f.ak_len,
                    &v, err, sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    CHECK_EQ(v.ak_pinned, 1);
    CHECK_EQ(v.instance_found, 1);

    /* the bundle says what it was made of */
    struct quote_bundle b;
    CHECK_EQ(quote_bundle_decode(f.bundle, f.len, &b, err, sizeof err), 0);
    CHECK_EQ(b.pcr, PCR);
    CHECK(memcmp(b.pcr_value, pcr, 32) == 0);
    CHECK(memcmp(b.measurement, f.measurement, 32) == 0);
    CHECK(b.ak_der_len == f.ak_len && memcmp(b.ak_der, f.ak, f.ak_len) == 0);
    CHECK(b.report_len == strlen(report_text) && memcmp(b.report, report_text, b.report_len) == 0);
    CHECK(b.eventlog_len == f.text_len && memcmp(b.eventlog, f.text, f.text_len) == 0);

    /* an owner quote: no instance, no report data, no nonce at all */
    uint8_t *ob = NULL;
    size_t olen = 0;
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, NULL, 0, NULL, NULL, 0, &ob, &olen,
                        err, sizeof err), 0);
    if (ob) {
        r = verify_with(ob, olen, NULL, 0, f.policy, f.ak, f.ak_len, &v, err, sizeof err);
        if (r) fprintf(stderr, "  %s\n", err);
        CHECK_EQ(r, 0);
        CHECK_EQ(v.instance_found, 0);
        CHECK_EQ(v.have_self, 1);
        /* but not under some nonce */
        CHECK_EQ(verify1(ob, olen, err, sizeof err), -ESTALE);
    }

    /* bad arguments to quote_make */
    uint8_t *nb = NULL;
    size_t nl = 0;
    uint8_t big[QUOTE_REPORT_MAX + 1] = {0};
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, big, QUOTE_NONCE_MAX + 1, NULL, NULL, 0,
                        &nb, &nl, err, sizeof err), -EINVAL);
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, NULL, 0, NULL, big, sizeof big,
                        &nb, &nl, err, sizeof err), -EINVAL);
    CHECK_EQ(quote_make(f.t, 16, f.text, f.text_len, NULL, 0, NULL, NULL, 0,
                        &nb, &nl, err, sizeof err), -EINVAL);
    CHECK(nb == NULL);
    /* and to quote_verify */
    struct quote_verify_opts o = { .nonce = big, .nonce_len = QUOTE_NONCE_MAX + 1 };
    CHECK_EQ(quote_verify(f.bundle, f.len, &o, &v, err, sizeof err), -EINVAL);
    CHECK_EQ(quote_verify(f.bundle, f.len, NULL, &v, err, sizeof err), -EINVAL);

    const char *seeds = getenv("TREVISOR_QUOTE_SEED_DIR");
    if (seeds && *seeds) {
        write_seed(seeds, "valid", f.bundle, f.len);
        if (ob)
            write_seed(seeds, "owner_no_nonce", ob, olen);
        write_seed(seeds, "truncated", f.bundle, f.len / 2);
        uint8_t *c = malloc(f.len);
        if (c) {
            memcpy(c, f.bundle, f.len);
            c[80 + 10] ^= 0x40;                             /* inside the attest */
            write_seed(seeds, "bad_attest", c, f.len);
            memcpy(c, f.bundle, f.len);
            put_le32(c + 76, 0xffffffff);                   /* attest length */
            write_seed(seeds, "bad_length", c, f.len);
            memcpy(c, f.bundle, f.len);
            c[4] = 2;                                       /* version */
            write_seed(seeds, "bad_version", c, f.len);
            free(c);
        }
        printf("  wrote fuzz seeds to %s\n", seeds);
    }
    free(ob);
    fix_free(&f);
}

/* Splits the fixture's log into lines (header first), for edits. */
static int log_lines(const char *text, size_t len, char lines[][EVENTLOG_MAX_LINE + 1], int max)
{
    int n = 0;
    size_t off = 0;
    while (off < len && n < max) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t l = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
        if (l > EVENTLOG_MAX_LINE)
            return -1;
        memcpy(lines[n], text + off, l);
        lines[n][l] = 0;
        n++;
        off += l;
    }
    return n;
}

static char *join(char lines[][EVENTLOG_MAX_LINE + 1], const int *order, int n)
{
    size_t total = 1;
    for (int i = 0; i < n; i++)
        total += strlen(lines[order[i]]);
    char *s = malloc(total);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(s, lines[order[i]]);
    return s;
}

static void test_tampering(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    struct fix f;
    CHECK_EQ(fix_init(&f), 0);
    if (!f.dir)
        return;
    struct quote_bundle b0, b;
    struct quote_verdict v;
    char err[256];
    CHECK_EQ(quote_bundle_decode(f.bundle, f.len, &b0, err, sizeof err), 0);

    /* the verifier's own inputs: nonce, policy, AK */
    uint8_t n2[sizeof fuzz_nonce];
    memcpy(n2, fuzz_nonce, sizeof n2);
    n2[0] ^= 1;
    CHECK_EQ(verify_with(f.bundle, f.len, n2, sizeof n2, NULL, NULL, 0, &v, err, sizeof err),
             -ESTALE);
    CHECK(strstr(err, "nonce/report data mismatch") != NULL);
    CHECK_EQ(verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce - 1, NULL, NULL, 0, &v,
                         err, sizeof err), -ESTALE);
    CHECK_EQ(verify_with(f.bundle, f.len, NULL, 0, NULL, NULL, 0, &v, err, sizeof err), -ESTALE);

    /* a policy missing one event (the kernel's line), and a malformed one */
    char pol[sizeof f.policy];
    strcpy(pol, f.policy);
    char *k = strstr(pol, "GUEST_KERNEL");
    CHECK(k != NULL);
    if (k) {
        char *e = strchr(k, '\n');
        memmove(k, e + 1, strlen(e + 1) + 1);
        CHECK_EQ(verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce, pol, NULL, 0, &v,
                             err, sizeof err), -EACCES);
        CHECK(strstr(err, "GUEST_KERNEL") != NULL);
        fprintf(stderr, "  (expected) %s\n", err);
    }
    CHECK_EQ(verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce, "trevisor-policy v2\n",
                         NULL, 0, &v, err, sizeof err), -EINVAL);

    /* another AK pinned; another AK in the bundle; another AK that signed it */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    CHECK(other != NULL);
    uint8_t oak[TPM_AK_DER_MAX], *po = oak;
    int oak_len = other ? i2d_PUBKEY(other, NULL) : 0;
    CHECK(oak_len > 0 && oak_len <= (int)sizeof oak);
    if (other && oak_len > 0 && oak_len <= (int)sizeof oak) {
        i2d_PUBKEY(other, &po);
        CHECK_EQ(verify_with(f.bundle, f.len, fuzz_nonce, sizeof fuzz_nonce, NULL, oak,
                             (size_t)oak_len, &v, err, sizeof err), -EKEYREJECTED);
        CHECK(strstr(err, "not the expected attestation key") != NULL);
        b = b0;
        b.ak_der = oak; b.ak_der_len = (size_t)oak_len;
        CHECK_EQ(verify_changed(&f, &b, "AK replaced, pinned", -EKEYREJECTED), -EKEYREJECTED);
        uint8_t *buf; size_t len = 0;
        if ((buf = encode(&b, &len))) {
            CHECK_EQ(verify1(buf, len, err, sizeof err), -EKEYREJECTED);   /* sig fails */
            CHECK(strstr(err, "does not verify") != NULL);
            free(buf);
        }

        /* the attacker re-signs the genuine attest with its own key: an unpinned verify
         * cannot tell (which is why the CLI warns), a pinned one refuses it */
        uint8_t dg[32], dsig[80], tsig[TPM_SIG_MAX];
        size_t dlen = sizeof dsig, toff = 0;
        SHA256(b0.attest, b0.attest_len, dg);
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(other, NULL);
        CHECK(pc && EVP_PKEY_sign_init(pc) == 1 &&
              EVP_PKEY_sign(pc, dsig, &dlen, dg, 32) == 1);
        EVP_PKEY_CTX_free(pc);
        const unsigned char *pd = dsig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &pd, (long)dlen);
        CHECK(es != NULL);
        if (es) {
            TPMT_SIGNATURE ts = { .sigAlg = TPM2_ALG_ECDSA };
            ts.signature.ecdsa.hash = TPM2_ALG_SHA256;
            ts.signature.ecdsa.signatureR.size = 32;
            ts.signature.ecdsa.signatureS.size = 32;
            BN_bn2binpad(ECDSA_SIG_get0_r(es), ts.signature.ecdsa.signatureR.buffer, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), ts.signature.ecdsa.signatureS.buffer, 32);
            CHECK_EQ(Tss2_MU_TPMT_SIGNATURE_Marshal(&ts, tsig, sizeof tsig, &toff), 0);
            ECDSA_SIG_free(es);
            b.sig = tsig; b.sig_len = toff;
            if ((buf = encode(&b, &len))) {
                CHECK_EQ(verify_with(buf, len, fuzz_nonce, sizeof fuzz_nonce, f.policy,
                                     NULL, 0, &v, err, sizeof err), 0);
                CHECK_EQ(v.ak_pinned, 0);
                CHECK_EQ(verify_with(buf, len, fuzz_nonce, sizeof fuzz_nonce, f.policy,
                                     f.ak, f.ak_len, &v, err, sizeof err), -EKEYREJECTED);
                free(buf);
            }
        }
    }
    EVP_PKEY_free(other);

    /* the bundle's own fields */
    b = b0;
    const char rep2[] = "channel key 04ab..., session 8";
    b.report = (const uint8_t *)rep2;
    CHECK_EQ(verify_changed(&f, &b, "report data", -ESTALE), -ESTALE);
    b.report_len = 0;
    CHECK_EQ(verify_changed(&f, &b, "report data dropped", -ESTALE), -ESTALE);
    b = b0;
    b.measurement[5] ^= 0x80;
    CHECK_EQ(verify_changed(&f, &b, "measurement", -ESTALE), -ESTALE);
    b = b0;
    memset(b.measurement, 0, 32);
    CHECK_EQ(verify_changed(&f, &b, "measurement zeroed", -ESTALE), -ESTALE);
    b = b0;
    b.pcr_value[31] ^= 1;
    CHECK_EQ(verify_changed(&f, &b, "PCR value", -EILSEQ), -EILSEQ);
    b = b0;
    b.pcr = 14;
    CHECK_EQ(verify_changed(&f, &b, "PCR number", -EBADMSG), -EBADMSG);

    /* every byte of the attest: the signature fails */
    uint8_t at[TPM_ATTEST_MAX];
    int bad = 0;
    for (size_t i = 0; i < b0.attest_len; i++) {
        b = b0;
        memcpy(at, b0.attest, b0.attest_len);
        at[i] ^= (uint8_t)(1u << (i % 8));
        b.attest = at;
        size_t len = 0;
        uint8_t *buf = encode(&b, &len);
        if (!buf || verify1(buf, len, err, sizeof err) != -EKEYREJECTED)
            bad++;
        free(buf);
    }
    CHECK_EQ(bad, 0);
    /* every byte of the signature: refused, never accepted */
    uint8_t sg[TPM_SIG_MAX];
    bad = 0;
    for (size_t i = 0; i < b0.sig_len; i++) {
        b = b0;
        memcpy(sg, b0.sig, b0.sig_len);
        sg[i] ^= 0x01;
        b.sig = sg;
        size_t len = 0;
        uint8_t *buf = encode(&b, &len);
        int r = buf ? verify1(buf, len, err, sizeof err) : 0;
        if (r != -EKEYREJECTED && r != -EBADMSG)
            bad++;
        /* a flip inside s (the last bytes) is a plain bad signature */
        if (i == b0.sig_len - 1 && r != -EKEYREJECTED)
            bad++;
        free(buf);
    }
    CHECK_EQ(bad, 0);
    /* every byte of the AK (unpinned): refused */
    uint8_t ak[TPM_AK_DER_MAX];
    bad = 0;
    for (size_t i = 0; i < b0.ak_der_len; i++) {
        b = b0;
        memcpy(ak, b0.ak_der, b0.ak_der_len);
        ak[i] ^= 0x01;
        b.ak_der = ak;
        size_t len = 0;
        uint8_t *buf = encode(&b, &len);
        int r = buf ? verify1(buf, len, err, sizeof err) : 0;
        if (r != -EKEYREJECTED && r != -EBADMSG)
            bad++;
        free(buf);
    }
    CHECK_EQ(bad, 0);
    /* the same key in a non-canonical encoding (BIT STRING with "1 unused bit", which
     * d2i accepts when y is even) is refused: one key, one spelling */
    CHECK_EQ(b0.ak_der_len, 91);
    CHECK_EQ(b0.ak_der[25], 0);
    memcpy(ak, b0.ak_der, b0.ak_der_len);
    ak[25] = 1;
    b = b0;
    b.ak_der = ak;
    {
        size_t len = 0;
        uint8_t *buf = encode(&b, &len);
        CHECK(buf != NULL);
        if (buf) {
            CHECK_EQ(verify1(buf, len, err, sizeof err), -EBADMSG);
            /* (when y is odd, OpenSSL clears the "unused" bit: another point, refused
             * as not a key at all) */
            CHECK(strstr(err, "canonical") != NULL || strstr(err, "not a DER") != NULL);
            free(buf);
        }
    }

    /* the log: a line dropped, two swapped, a hash changed, a description changed */
    static char lines[8][EVENTLOG_MAX_LINE + 1];
    int n = log_lines(f.text, f.text_len, lines, 8);
    CHECK_EQ(n, 6);
    if (n == 6) {
        struct { const char *what; int order[6]; int n; int want; } edits[] = {
            { "line dropped", { 0, 1, 2, 3, 5 }, 5, -EILSEQ },
            { "last line dropped", { 0, 1, 2, 3, 4 }, 5, -EILSEQ },
            { "lines reordered", { 0, 2, 1, 3, 4, 5 }, 6, -EILSEQ },
            { "line duplicated", { 0, 1, 1, 2, 3, 4 }, 6, -EILSEQ },
            { "header only", { 0 }, 1, -EILSEQ },
            { "no header", { 1, 2, 3, 4, 5 }, 5, -EBADMSG },
        };
        for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            char *s = join(lines, edits[i].order, edits[i].n);
            if (!s) { CHECK(0); continue; }
            b = b0;
            b.eventlog = s; b.eventlog_len = strlen(s);
            CHECK_EQ(verify_changed(&f, &b, edits[i].what, edits[i].want), edits[i].want);
            free(s);
        }
        int all[6] = { 0, 1, 2, 3, 4, 5 };
        char *s = join(lines, all, 6);
        if (s) {
            /* H of the CONFIG line (line 3 of the text): a hex digit changed */
            char *l = strstr(s, " CONFIG ");
            CHECK(l != NULL);
            if (l) {
                char *h = l + 8 + 65;        /* past " CONFIG " and D and its space */
                char was = *h;
                *h = was == '0' ? '1' : '0';
                b = b0;
                b.eventlog = s; b.eventlog_len = strlen(s);
                CHECK_EQ(verify_changed(&f, &b, "data hash changed", -EBADMSG), -EBADMSG);
                *h = was;
            }
            /* a description is not measured: the verdict is unchanged */
            char *d = strstr(s, "/etc/trevisor/trevisor.conf");
            if (d) {
                d[1] = 'E';
                b = b0;
                b.eventlog = s; b.eventlog_len = strlen(s);
                CHECK_EQ(verify_changed(&f, &b, "description changed", 0), 0);
            }
            free(s);
        }
        /* a consistent line of another event in place of one (D follows from H) */
        struct eventlog *l2 = NULL;
        char *t2 = NULL;
        size_t t2len = 0;
        CHECK_EQ(eventlog_new(PCR, &l2), 0);
        if (l2) {
            eventlog_append(l2, EV_SELF, self_data, strlen(self_data), "/usr/bin/trevisor", NULL);
            eventlog_append(l2, EV_CONFIG, "conf=2\n", 7, "/etc/trevisor/trevisor.conf", NULL);
            if (eventlog_format(l2, &t2, &t2len) == 0) {
                b = b0;
                b.eventlog = t2; b.eventlog_len = t2len;
                CHECK_EQ(verify_changed(&f, &b, "another log", -EILSEQ), -EILSEQ);
            }
            free(t2);
            eventlog_free(l2);
        }
        /* the log of another PCR: all its lines say 14 */
        CHECK_EQ(eventlog_new(14, &l2), 0);
        if (l2) {
            eventlog_append(l2, EV_SELF, self_data, strlen(self_data), "/usr/bin/trevisor", NULL);
            t2 = NULL;
            if (eventlog_format(l2, &t2, &t2len) == 0) {
                b = b0;
                b.eventlog = t2; b.eventlog_len = t2len;
                CHECK_EQ(verify_changed(&f, &b, "log of PCR 14", -EILSEQ), -EILSEQ);
            }
            free(t2);
            eventlog_free(l2);
        }
    }

    /* every prefix of the real bundle, and one byte too many */
    bad = 0;
    for (size_t i = 0; i < f.len; i++) {
        uint8_t *cut = malloc(i ? i : 1);
        if (!cut) { bad++; break; }
        memcpy(cut, f.bundle, i);
        if (verify1(cut, i, err, sizeof err) != -EBADMSG)
            bad++;
        free(cut);
    }
    CHECK_EQ(bad, 0);
    uint8_t *more = malloc(f.len + 1);
    if (more) {
        memcpy(more, f.bundle, f.len);
        more[f.len] = '\n';
        CHECK_EQ(verify1(more, f.len + 1, err, sizeof err), -EBADMSG);
        free(more);
    }
    /* and the genuine one still passes after all that */
    CHECK_EQ(verify1(f.bundle, f.len, err, sizeof err), 0);
    fix_free(&f);
}

/* The quoting instance's measurement must be a TRE_IMAGE event of the log; a PCR extended
 * with something the log does not have gives a quote the log cannot explain. */
static void test_log_and_instance(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    struct fix f;
    CHECK_EQ(fix_init(&f), 0);
    if (!f.dir)
        return;
    char err[256];
    struct quote_verdict v;
    uint8_t *b2 = NULL, m2[32];
    size_t l2 = 0;

    /* an instance that is not in the log (its measurement correctly bound by the quote) */
    memcpy(m2, f.measurement, 32);
    m2[0] ^= 1;
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, fuzz_nonce, sizeof fuzz_nonce, m2,
                        NULL, 0, &b2, &l2, err, sizeof err), 0);
    if (b2) {
        CHECK_EQ(verify_with(b2, l2, fuzz_nonce, sizeof fuzz_nonce, NULL, NULL, 0, &v, err,
                             sizeof err), -ESTALE);
        CHECK(strstr(err, "the quoting instance is not in the log") != NULL);
        CHECK_EQ(v.instance_found, 0);
        free(b2);
        b2 = NULL;
    }
    /* the self hash is not an instance either */
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, fuzz_nonce, sizeof fuzz_nonce,
                        f.self_hash, NULL, 0, &b2, &l2, err, sizeof err), 0);
    if (b2) {
        CHECK_EQ(verify1(b2, l2, err, sizeof err), -ESTALE);
        free(b2);
        b2 = NULL;
    }

    /* something extended after the log was taken, and not in it */
    uint8_t d[32];
    SHA256((const uint8_t *)"unlogged", 8, d);
    CHECK_EQ(tpm_pcr_extend(f.t, PCR, d), 0);
    CHECK_EQ(quote_make(f.t, PCR, f.text, f.text_len, fuzz_nonce, sizeof fuzz_nonce,
                        f.measurement, NULL, 0, &b2, &l2, err, sizeof err), 0);
    if (b2) {
        CHECK_EQ(verify_with(b2, l2, fuzz_nonce, sizeof fuzz_nonce, f.policy, f.ak, f.ak_len,
                             &v, err, sizeof err), -EILSEQ);
        CHECK(strstr(err, "does not replay") != NULL);
        fprintf(stderr, "  (expected) %s\n", err);
        free(b2);
    }
    fix_free(&f);
}

static void test_checkquote_interop(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    if (!have_prog("tpm2_checkquote"))
        SKIP("tpm2_checkquote is not installed (apt-get install tpm2-tools)");
    struct fix f;
    CHECK_EQ(fix_init(&f), 0);
    if (!f.dir)
        return;
    struct quote_bundle b;
    char err[256], qh[65], cmd[2048];
    uint8_t qual[32];
    CHECK_EQ(quote_bundle_decode(f.bundle, f.len, &b, err, sizeof err), 0);
    quote_qualifying_data(fuzz_nonce, sizeof fuzz_nonce, b.measurement, b.report,
                          b.report_len, qual);
    CHECK_EQ(tpm_save_quote_files(f.dir, b.pcr, b.pcr_value, b.ak_der, b.ak_der_len,
                                  b.attest, b.attest_len, b.sig, b.sig_len, qual, 32,
                                  err, sizeof err), 0);
    hex(qual, 32, qh);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs "
             "-l sha256:%d -g sha256 -q %s >checkquote.out 2>&1", f.dir, PCR, qh);
    int st = system(cmd);
    if (st != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/checkquote.out' >&2", f.dir);
        if (system(cmd)) {}
    }
    CHECK_EQ(st, 0);
    /* the raw nonce is not the qualifying data: refused */
    char nh[2 * sizeof fuzz_nonce + 1];
    hex(fuzz_nonce, sizeof fuzz_nonce, nh);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs "
             "-l sha256:%d -g sha256 -q %s >/dev/null 2>&1", f.dir, PCR, nh);
    CHECK(system(cmd) != 0);
    /* nor a qualifying data one bit off */
    qh[63] = qh[63] == '0' ? '1' : '0';
    snprintf(cmd, sizeof cmd,
             "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs "
             "-l sha256:%d -g sha256 -q %s >/dev/null 2>&1", f.dir, PCR, qh);
    CHECK(system(cmd) != 0);
    fix_free(&f);
}

int main(void)
{
    setenv("TSS2_LOG", "all+none", 0);
    TEST(test_qualifying_data);
    TEST(test_bundle_format);
    TEST(test_untrusted);
    TEST(test_verify_ok);
    TEST(test_tampering);
    TEST(test_log_and_instance);
    TEST(test_checkquote_interop);
    TEST_EXIT();
}
