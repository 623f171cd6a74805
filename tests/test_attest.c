/* tests/test_attest.c — issue 5 end to end in hosted mode: a real `trevisor serve` on its
 * own swtpm measures its launch and every TRE image; the owner's `trevisor attest` and a
 * TRE program's quote verify (trevisor verify, tpm2_checkquote) and every tampering is
 * refused; sealing across programs, vendors, versions, restarts and launch measurements;
 * rollback; swtpm killed under a running server; --tpm none; and --tpm DEVICE. */
#include <sys/uio.h>

#include <openssl/sha.h>

#include "server.h"
#include "ptytpm.h"
#include "measure/eventlog.h"
#include "measure/quote.h"
#include "util/hex.h"

enum { P_QUOTE, P_SEAL, P_UNSEAL, P_RANDOM }; /* tests/progs/svc.c */

static int have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

#define NEED_SWTPM() do { NEED_KVM(); \
    if (!have("swtpm")) SKIP("swtpm is not installed (scripts/deps.sh installs it)"); } while (0)

static int exec_prog(const char *prog)
{
    return srv_exec(NULL, prog);
}

/* one argument, one result */
static int call1(int d, int proc, const void *arg, size_t alen, void *out, size_t *olen)
{
    struct iovec a[1] = { { (void *)arg, alen } }, r[1] = { { out, *olen } };
    int st = vmmcall_tre_rpc(d, proc, a, 1, r, 1);
    *olen = r[0].iov_len;
    return st;
}

static int seal(int d, const char *text, uint8_t *blob, size_t *blen)
{
    *blen = 4096;
    return call1(d, P_SEAL, text, strlen(text), blob, blen);
}

static int unseal(int d, const uint8_t *blob, size_t blen, char *out)
{
    size_t n = 4095;
    int st = call1(d, P_UNSEAL, blob, blen, out, &n);
    out[st > 0 ? n : 0] = 0;
    return st;
}

static struct eventlog *bundle_log(const uint8_t *b, size_t n)
{
    struct quote_bundle qb;
    struct eventlog *l = NULL;
    char err[256];
    if (quote_bundle_decode(b, n, &qb, err, sizeof err) ||
        eventlog_parse(qb.eventlog, qb.eventlog_len, &l, err, sizeof err))
        return NULL;
    return l;
}

static size_t count_type(const struct eventlog *l, enum ev_type t)
{
    size_t k = 0;
    for (size_t i = 0; i < eventlog_count(l); i++) {
        struct ev_event ev;
        if (!eventlog_get(l, i, &ev) && ev.type == t)
            k++;
    }
    return k;
}

static void test_owner_attest(void)
{
    NEED_SWTPM();
    if (!have("tpm2_checkquote"))
        SKIP("tpm2-tools is not installed");
    struct srv s;
    CHECK_EQ(srv_setup(&s, "att"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);
    char cmd[2048], out[16384];
    const char *b = fx_build();
    snprintf(cmd, sizeof cmd, "%s/trevisor attest --socket %s --nonce 00112233445566778899 "
             "--out %s/q --make-policy %s/ref.policy --reference %s/trevisor 2>&1", b, s.sock,
             s.conf, s.conf, b);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "quote: OK") != NULL);
    CHECK(strstr(out, "the same build") != NULL);
    CHECK(strstr(out, "SELF") && strstr(out, "CONFIG") && strstr(out, "POLICY") &&
          strstr(out, "SEPARATOR"));
    /* the standard tool accepts the same quote, and refuses another nonce */
    char qual[65];
    uint8_t nonce[10] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99 };
    uint8_t zero[32] = { 0 }, q[32];
    quote_qualifying_data(nonce, sizeof nonce, zero, NULL, 0, q);
    hex_encode(q, 32, qual);
    snprintf(cmd, sizeof cmd, "cd %s/q && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
             "-f quote.pcrs -l sha256:15 -g sha256 -q %s >/dev/null 2>&1", s.conf, qual);
    CHECK_EQ(system(cmd), 0);
    qual[0] = qual[0] == '0' ? '1' : '0';
    snprintf(cmd, sizeof cmd, "cd %s/q && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
             "-f quote.pcrs -l sha256:15 -g sha256 -q %s >/dev/null 2>&1", s.conf, qual);
    CHECK(system(cmd) != 0);
    /* trevisor verify: the policy written from this quote accepts it, pinned to its AK */
    snprintf(cmd, sizeof cmd, "%s/trevisor verify --bundle %s/q/quote.bundle --nonce "
             "00112233445566778899 --policy %s/ref.policy --ak %s/q/ak.pem 2>&1", b, s.conf,
             s.conf, s.conf);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "%s/trevisor verify --bundle %s/q/quote.bundle --nonce "
             "00112233445566778898 >/dev/null 2>&1", b, s.conf);
    CHECK(system(cmd) != 0);
    /* a policy that does not list the running trevisor refuses the quote */
    snprintf(cmd, sizeof cmd, "grep -v '^SELF' %s/ref.policy > %s/noself.policy && "
             "%s/trevisor verify --bundle %s/q/quote.bundle --nonce 00112233445566778899 "
             "--policy %s/noself.policy >/dev/null 2>&1", s.conf, s.conf, b, s.conf, s.conf);
    CHECK(system(cmd) != 0);
    /* the log's SELF is the sha256 of the binary that runs */
    snprintf(cmd, sizeof cmd, "sha256sum %s/trevisor | cut -c1-64", b);
    char sum[128];
    CHECK_EQ(run_capture(cmd, sum, sizeof sum), 0);
    sum[64] = 0;
    snprintf(cmd, sizeof cmd, "grep ' SELF ' %s/q/eventlog | cut -d' ' -f4", s.conf);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(!strncmp(out, sum, 64));
    /* no nonce: a usage error, not a quote */
    snprintf(cmd, sizeof cmd, "%s/trevisor attest --socket %s >/dev/null 2>&1", b, s.sock);
    CHECK(system(cmd) != 0);
    tre_disconnect();
    srv_cleanup(&s);
}

static void test_images_measured(void)
{
    NEED_SWTPM();
    struct srv s;
    CHECK_EQ(srv_setup(&s, "img"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);
    uint8_t nonce[8] = "nonce-01";
    void *bundle = NULL;
    size_t blen = 0;
    int d1 = exec_prog("svc"), d2 = exec_prog("svc"), d3 = exec_prog("add-glibc");
    CHECK(d1 >= 0 && d2 >= 0 && d3 >= 0);
    CHECK_EQ(tre_attest(nonce, sizeof nonce, NULL, 0, &bundle, &blen), 0);
    struct eventlog *l = bundle ? bundle_log(bundle, blen) : NULL;
    CHECK(l != NULL);
    if (l) {
        CHECK_EQ(count_type(l, EV_TRE_IMAGE), 2); /* svc twice is one image */
        struct ev_event ev;
        CHECK_EQ(eventlog_get(l, eventlog_count(l) - 1, &ev), 0);
        CHECK_EQ(ev.type, EV_TRE_IMAGE);
    }
    struct quote_verify_opts o = { .nonce = nonce, .nonce_len = sizeof nonce };
    struct quote_verdict v;
    char err[256];
    CHECK_EQ(quote_verify(bundle, blen, &o, &v, err, sizeof err), 0);
    eventlog_free(l);
    free(bundle);

    /* the program's own quote binds its measurement and report data */
    uint8_t report[16] = "public key bytes";
    struct iovec a[2] = { { nonce, sizeof nonce }, { report, sizeof report } };
    static uint8_t qb[256 * 1024];
    struct iovec r[1] = { { qb, sizeof qb - 4096 } };
    int n = vmmcall_tre_rpc(d1, P_QUOTE, a, 2, r, 1);
    CHECK(n > 0);
    if (n > 0) {
        memset(&v, 0, sizeof v);
        CHECK_EQ(quote_verify(qb, r[0].iov_len, &o, &v, err, sizeof err), 0);
        CHECK_EQ(v.instance_found, 1);
        struct quote_bundle b;
        CHECK_EQ(quote_bundle_decode(qb, r[0].iov_len, &b, err, sizeof err), 0);
        CHECK_EQ(b.report_len, sizeof report);
        /* another nonce, or the report data changed, is refused */
        uint8_t other[8] = "nonce-02";
        struct quote_verify_opts o2 = { .nonce = other, .nonce_len = sizeof other };
        CHECK_EQ(quote_verify(qb, r[0].iov_len, &o2, &v, err, sizeof err), -ESTALE);
        uint8_t *rep = (uint8_t *)b.report;
        rep[0] ^= 1;
        CHECK_EQ(quote_verify(qb, r[0].iov_len, &o, &v, err, sizeof err), -ESTALE);
    }
    /* a bad reply pointer ends that instance only */
    CHECK_EQ(vmmcall_tre_rpc(d2, 8, NULL, 0, r, 1), -EFAULT);
    uint8_t rnd[32];
    struct iovec rr[1] = { { rnd, sizeof rnd } };
    CHECK_EQ(vmmcall_tre_rpc(d1, P_RANDOM, NULL, 0, rr, 1), 32);
    tre_disconnect();
    srv_cleanup(&s);
}

static void test_sealing(void)
{
    NEED_SWTPM();
    struct srv s;
    CHECK_EQ(srv_setup(&s, "seal"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);
    uint8_t blob[4096], blob2[4096];
    size_t blen = 0, blen2 = 0;
    char out[4096];
    int d = exec_prog("svc");
    CHECK(d >= 0);
    CHECK(seal(d, "the vendor's secret", blob, &blen) > 0);
    CHECK_EQ(unseal(d, blob, blen, out), (int)strlen("the vendor's secret"));
    CHECK(!strcmp(out, "the vendor's secret"));
    /* another program of the same vendor */
    int o = exec_prog("svc-other");
    CHECK(o >= 0);
    CHECK_EQ(unseal(o, blob, blen, out), -EBADMSG);
    /* tampered: every part of the blob */
    for (size_t i = 0; i < blen; i += 7) {
        memcpy(blob2, blob, blen);
        blob2[i] ^= 0x20;
        CHECK(unseal(d, blob2, blen, out) < 0);
    }
    CHECK(unseal(d, blob, blen - 1, out) < 0);
    /* another vendor: the same program signed with a new trusted key */
    CHECK_EQ(srv_second_vendor(&s, "svc"), 0);
    srv_stop(&s);
    tre_disconnect();
    CHECK_EQ(srv_start(&s, NULL), 0);
    int v = srv_exec(s.conf, "svc");
    CHECK(v >= 0);
    /* (the trust store changed, so the POLICY measurement and the master changed too:
     * seal again under this launch) */
    d = exec_prog("svc");
    CHECK(seal(d, "the vendor's secret", blob, &blen) > 0);
    CHECK_EQ(unseal(v, blob, blen, out), -EBADMSG);
    CHECK(unseal(d, blob, blen, out) > 0);

    /* a restart with the same launch measurements keeps the data */
    srv_stop(&s);
    tre_disconnect();
    CHECK_EQ(srv_start(&s, NULL), 0);
    d = exec_prog("svc");
    CHECK(unseal(d, blob, blen, out) > 0);
    CHECK(!strcmp(out, "the vendor's secret"));
    /* a different launch measurement (other options) cannot open it ... */
    srv_stop(&s);
    tre_disconnect();
    const char *other[] = { "--budget-ms", "4000", NULL };
    CHECK_EQ(srv_start(&s, other), 0);
    d = exec_prog("svc");
    CHECK_EQ(unseal(d, blob, blen, out), -EBADMSG);
    /* ... and going back to the original launch opens it again: nothing was lost */
    srv_stop(&s);
    tre_disconnect();
    CHECK_EQ(srv_start(&s, NULL), 0);
    d = exec_prog("svc");
    CHECK(unseal(d, blob, blen, out) > 0);

    /* versions: a newer program opens the older one's blob; data the newer one sealed is
     * not for an older version — and the older version no longer runs at all (rollback) */
    int d2 = exec_prog("svc-v2");
    CHECK(d2 >= 0);
    CHECK(unseal(d2, blob, blen, out) > 0);
    CHECK(seal(d2, "v2 data", blob2, &blen2) > 0);
    CHECK_EQ(unseal(d, blob2, blen2, out), -EACCES); /* the svn-1 instance still alive */
    CHECK_EQ(exec_prog("svc"), -EPERM);
    CHECK(srv_log_has(&s, "rollback"));
    srv_stop(&s);
    tre_disconnect();
    CHECK_EQ(srv_start(&s, NULL), 0);
    CHECK_EQ(exec_prog("svc"), -EPERM); /* remembered across restarts */
    CHECK(exec_prog("svc-v3") >= 0);
    CHECK_EQ(exec_prog("svc-v2"), -EPERM);
    tre_disconnect();
    srv_cleanup(&s);
}

static pid_t swtpm_of(const struct srv *s)
{
    char cmd[256], out[64];
    snprintf(cmd, sizeof cmd, "pgrep -f 'swtpm socket.*%s' | head -n1", s->state);
    if (run_capture(cmd, out, sizeof out))
        return -1;
    return (pid_t)atoi(out);
}

static void test_swtpm_killed(void)
{
    NEED_SWTPM();
    struct srv s;
    CHECK_EQ(srv_setup(&s, "kill"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);
    int d = exec_prog("svc");
    uint8_t blob[4096];
    size_t blen = 0;
    char out[4096];
    CHECK(seal(d, "keep me", blob, &blen) > 0);
    pid_t tp = swtpm_of(&s);
    CHECK(tp > 0);
    if (tp > 0)
        kill(tp, SIGKILL);
    usleep(100 * 1000);
    /* the owner's quote fails with a clear reason; trevisor goes on */
    uint8_t nonce[4] = "abcd";
    void *bundle = NULL;
    size_t bl = 0;
    CHECK(tre_attest(nonce, sizeof nonce, NULL, 0, &bundle, &bl) < 0);
    CHECK(strstr(tre_last_error(), "swtpm") || strstr(tre_last_error(), "TPM"));
    /* a new image cannot be measured, so it does not run */
    CHECK(exec_prog("svc-other") < 0);
    /* the running program keeps its sealing (the master is in trevisor's memory) */
    CHECK(unseal(d, blob, blen, out) > 0);
    CHECK(kill(s.pid, 0) == 0);
    srv_stop(&s);
    tre_disconnect();
    /* a new start opens the old blob: no sealed data lost */
    CHECK_EQ(srv_start(&s, NULL), 0);
    d = exec_prog("svc");
    CHECK(unseal(d, blob, blen, out) > 0);
    CHECK(!strcmp(out, "keep me"));
    tre_disconnect();
    srv_cleanup(&s);
}

static void test_tpm_none(void)
{
    NEED_KVM();
    struct srv s;
    CHECK_EQ(srv_setup(&s, "none"), 0);
    const char *none[] = { "--tpm", "none", "--token-module", "none", NULL };
    CHECK_EQ(srv_start(&s, none), 0);
    CHECK(srv_log_has(&s, "WARNING: --tpm none"));
    uint8_t nonce[4] = "abcd", blob[4096];
    void *bundle = NULL;
    size_t bl = 0;
    char err[256], cmd[2048], out[16384];
    struct quote_verdict v;
    struct quote_bundle qb;

    /* the owner's quote: an UNTRUSTED bundle, refused by default, marked when accepted */
    CHECK_EQ(tre_attest(nonce, sizeof nonce, NULL, 0, &bundle, &bl), 0);
    CHECK_EQ(quote_bundle_decode(bundle, bl, &qb, err, sizeof err), 0);
    CHECK_EQ(qb.untrusted, 1);
    CHECK_EQ(qb.sig_len, 0);
    struct quote_verify_opts o = { .nonce = nonce, .nonce_len = sizeof nonce };
    CHECK_EQ(quote_verify(bundle, bl, &o, &v, err, sizeof err), -ENOKEY);
    CHECK(strstr(err, "UNTRUSTED") != NULL);
    o.allow_untrusted = 1;
    CHECK_EQ(quote_verify(bundle, bl, &o, &v, err, sizeof err), 0);
    CHECK_EQ(v.untrusted, 1);
    CHECK_EQ(v.have_self, 1);                  /* the log is kept and replays */
    uint8_t other[4] = "abce";
    struct quote_verify_opts o2 = { .nonce = other, .nonce_len = sizeof other,
                                    .allow_untrusted = 1 };
    CHECK_EQ(quote_verify(bundle, bl, &o2, &v, err, sizeof err), -ESTALE);
    free(bundle);
    bundle = NULL;

    /* the CLIs: trevisor attest fails on it unless allowed, verify says UNTRUSTED */
    const char *b = fx_build();
    snprintf(cmd, sizeof cmd, "%s/trevisor attest --socket %s --nonce 61626364 --out %s/q "
             "2>&1", b, s.sock, s.conf);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK(strstr(out, "UNTRUSTED") != NULL);
    snprintf(cmd, sizeof cmd, "%s/trevisor attest --socket %s --nonce 61626364 --out %s/q "
             "--allow-untrusted 2>&1", b, s.sock, s.conf);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "quote: UNTRUSTED") != NULL);
    snprintf(cmd, sizeof cmd, "test -f %s/q/quote.bundle && test ! -e %s/q/quote.sig",
             s.conf, s.conf);
    CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/trevisor verify --bundle %s/q/quote.bundle --nonce 61626364 "
             "2>&1", b, s.conf);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK(strstr(out, "FAIL: quote: UNTRUSTED") != NULL);
    snprintf(cmd, sizeof cmd, "%s/trevisor verify --bundle %s/q/quote.bundle --nonce 61626364 "
             "--allow-untrusted 2>&1", b, s.conf);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "OK but UNTRUSTED") != NULL);

    /* a TRE program's quote is the same kind of bundle; sealing stays off */
    int d = exec_prog("svc");
    CHECK(d >= 0);
    uint8_t report[8] = "report!!";
    struct iovec a[2] = { { nonce, sizeof nonce }, { report, sizeof report } };
    static uint8_t pq[256 * 1024];
    struct iovec r[1] = { { pq, sizeof pq - 4096 } };   /* within the program's window */
    int n = vmmcall_tre_rpc(d, P_QUOTE, a, 2, r, 1);
    CHECK(n > 0);
    if (n > 0) {
        CHECK_EQ(quote_verify(pq, r[0].iov_len, &o, &v, err, sizeof err), 0);
        CHECK_EQ(v.untrusted, 1);
        CHECK_EQ(v.instance_found, 1);
    }
    CHECK_EQ(seal(d, "x", blob, &bl), -ENODEV);
    tre_disconnect();
    srv_cleanup(&s);
}

/* `serve --tpm DEVICE` end to end, the device being a pty with swtpm behind it
 * (tests/ptytpm.h). The launch is measured into it and the owner's quote verifies. A
 * restart of trevisor without a TPM reset continues the saved log, so its quote still
 * verifies, and it is another launch measurement: the first launch's blob does not open.
 * After a TPM reset (a reboot) the same launch measures the same again and the blob
 * opens: nothing sealed was lost. */
static void test_device_tpm(void)
{
    NEED_SWTPM();
    struct srv s;
    struct ptytpm p;
    char tpmdir[128], cmd[2048], out[16384], text[256];
    uint8_t blob[4096];
    size_t bl = 0;
    CHECK_EQ(srv_setup(&s, "dev"), 0);
    snprintf(tpmdir, sizeof tpmdir, "%s/devtpm", s.conf);
    CHECK_EQ(ptytpm_start(&p, tpmdir), 0);
    const char *opts[] = { "--tpm", p.path, NULL };
    const char *b = fx_build();
    snprintf(cmd, sizeof cmd, "%s/trevisor attest --socket %s --nonce 0a0b0c0d --out %s/q "
             "2>&1 && %s/trevisor verify --bundle %s/q/quote.bundle --nonce 0a0b0c0d "
             "--ak %s/q/ak.pem --quiet 2>&1", b, s.sock, s.conf, b, s.conf, s.conf);

    CHECK_EQ(srv_start(&s, opts), 0);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "quote: OK") != NULL);
    int d = exec_prog("svc");
    CHECK(d >= 0);
    CHECK(seal(d, "on the device", blob, &bl) > 0);
    tre_disconnect();
    srv_stop(&s);

    /* restarted, no TPM reset: the log goes on, the quote verifies, the blob stays shut */
    CHECK_EQ(srv_start(&s, opts), 0);
    CHECK(srv_log_has(&s, "continues the log of an earlier trevisor"));
    CHECK(!srv_log_has(&s, "is not zero at start"));
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "OK: the quote verifies") != NULL);
    d = exec_prog("svc");
    CHECK(d >= 0);
    CHECK(unseal(d, blob, bl, text) < 0);
    tre_disconnect();
    srv_stop(&s);

    /* a TPM reset (reboot): the first launch's measurement again, and its data */
    CHECK_EQ(ptytpm_reboot(&p), 0);
    CHECK_EQ(srv_start(&s, opts), 0);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    d = exec_prog("svc");
    CHECK(d >= 0);
    CHECK(unseal(d, blob, bl, text) > 0);
    CHECK(!strcmp(text, "on the device"));
    tre_disconnect();
    srv_cleanup(&s);
    ptytpm_stop(&p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_owner_attest);
    TEST(test_images_measured);
    TEST(test_sealing);
    TEST(test_swtpm_killed);
    TEST(test_tpm_none);
    TEST(test_device_tpm);
    TEST_EXIT();
}
