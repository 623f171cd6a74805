/* tests/test_run.c — `trevisor run` itself, end to end (issues 5 and 6): the real command
 * boots the user environment under QEMU with its own swtpm and SoftHSM2 token; inside the
 * guest, `tre attest` gets a quote of the launch and sigaccel signs and verifies through
 * the TRE. The host then verifies the quote and checks that the log measured the QEMU
 * binary, its command line, and the guest's kernel, initrd and command line — the very
 * files — and that the QEMU command line names no token. */
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "server.h"
#include "measure/eventlog.h"
#include "measure/quote.h"
#include "util/hex.h"

#define GUEST_CMDLINE "console=ttyS0 quiet panic=-1 trevisor.run=trust trevisor.timeout=240"

static int sha_file(const char *path, uint8_t h[32])
{
    char *t = NULL;
    size_t n;
    if (file_read_all(path, 512u << 20, &t, &n))
        return -1;
    SHA256((uint8_t *)t, n, h);
    free(t);
    return 0;
}

static const struct ev_event *find(const struct ev_event *evs, size_t n, enum ev_type t)
{
    for (size_t i = 0; i < n; i++)
        if (evs[i].type == t)
            return &evs[i];
    return NULL;
}

static void test_run_measured_and_attested(void)
{
    NEED_KVM();
    char kernel[256], initrd[256], qemu[256] = "";
    snprintf(kernel, sizeof kernel, "%s/guest/vmlinux", fx_build());
    snprintf(initrd, sizeof initrd, "%s/guest/initrd.cpio.gz", fx_build());
    if (access(kernel, R_OK) || access(initrd, R_OK)) {
        printf("FAIL %s: no guest image (make guest-image)\n", check_name_);
        check_total_fail_++;
        check_skipped_ = 1;
        return;
    }
    if (run_capture("command -v qemu-system-x86_64", qemu, sizeof qemu) || !qemu[0])
        SKIP("qemu-system-x86_64 is not installed");
    qemu[strcspn(qemu, "\n")] = 0;
    if (system("command -v swtpm >/dev/null 2>&1"))
        SKIP("swtpm is not installed");
    struct srv s;
    CHECK_EQ(srv_setup(&s, "run"), 0);
    /* grant the demo vendor the token's "sig" key for sigaccel */
    char cmd[2048], line[512], console[256];
    snprintf(cmd, sizeof cmd, "%s/trevisor trust list --config %s | awk 'NR == 1 { print $1 }'",
             fx_build(), s.conf);
    CHECK_EQ(run_capture(cmd, line, sizeof line), 0);
    line[strcspn(line, "\n")] = 0; /* a key id: 1..16 hex digits, as minisign prints it */
    snprintf(cmd, sizeof cmd, "echo 'grant %s sig' > %s/token-grants", line, s.conf);
    CHECK_EQ(system(cmd), 0);
    snprintf(console, sizeof console, "%s/console.txt", s.conf);
    snprintf(cmd, sizeof cmd, "timeout 400 %s/trevisor run --kernel %s --initrd %s --mem 256M "
             "--config %s --state %s --accel tcg --cmdline '%s' </dev/null >%s 2>%s/run.log",
             fx_build(), kernel, initrd, s.conf, s.state, GUEST_CMDLINE, console, s.conf);
    int rc = system(cmd);
    CHECK_EQ(rc, 0);

    char *con = NULL;
    size_t clen = 0;
    CHECK_EQ(file_read_all(console, 16u << 20, &con, &clen), 0);
    if (!con) {
        srv_cleanup(&s);
        return;
    }
    int pass = 0, fail = 0;
    for (char *p = con; (p = strstr(p, "E2E ")); p += 4) {
        if (!strncmp(p, "E2E PASS ", 9))
            pass++;
        else if (!strncmp(p, "E2E FAIL ", 9)) {
            fail++;
            fprintf(stderr, "  guest: %.*s\n", (int)strcspn(p, "\r\n"), p);
        }
    }
    CHECK_EQ(fail, 0);
    CHECK_EQ(pass, 4);
    CHECK(strstr(con, "E2E DONE") != NULL);

    /* the quote the guest got, verified here */
    char *b = strstr(con, "QUOTE-BEGIN"), *e = b ? strstr(b, "QUOTE-END") : NULL;
    CHECK(b && e);
    static uint8_t bundle[1 << 20];
    size_t blen = 0;
    int nib = -1;
    for (char *p = b ? b + 11 : NULL; p && p < e && blen < sizeof bundle; p++) {
        uint8_t x;
        char t[3] = { '0', *p, 0 };
        if (hex_decode(t, &x, 1) != 1)
            continue; /* newlines and carriage returns of the console */
        if (nib < 0) {
            nib = x;
        } else {
            bundle[blen++] = (uint8_t)(nib << 4 | x);
            nib = -1;
        }
    }
    uint8_t nonce[] = "guest nonce";
    struct quote_verify_opts o = { .nonce = nonce, .nonce_len = sizeof nonce - 1 };
    struct quote_verdict v;
    char err[256];
    CHECK_EQ(quote_verify(bundle, blen, &o, &v, err, sizeof err), 0);
    struct quote_bundle qb;
    struct eventlog *log = NULL;
    if (!quote_bundle_decode(bundle, blen, &qb, err, sizeof err) &&
        !eventlog_parse(qb.eventlog, qb.eventlog_len, &log, err, sizeof err)) {
        static struct ev_event evs[64];
        size_t n = eventlog_count(log);
        CHECK(n >= 9 && n < 64);
        for (size_t i = 0; i < n && i < 64; i++)
            eventlog_get(log, i, &evs[i]);
        static const enum ev_type order[] = { EV_SELF, EV_CONFIG, EV_POLICY, EV_QEMU_BINARY,
            EV_QEMU_CMDLINE, EV_GUEST_KERNEL, EV_GUEST_INITRD, EV_GUEST_CMDLINE, EV_SEPARATOR };
        for (size_t i = 0; i < 9 && i < n; i++)
            CHECK_EQ(evs[i].type, order[i]);
        uint8_t h[32];
        const struct ev_event *ev;
        CHECK_EQ(sha_file(kernel, h), 0);
        CHECK((ev = find(evs, n, EV_GUEST_KERNEL)) && !memcmp(ev->data_hash, h, 32));
        CHECK_EQ(sha_file(initrd, h), 0);
        CHECK((ev = find(evs, n, EV_GUEST_INITRD)) && !memcmp(ev->data_hash, h, 32));
        CHECK_EQ(sha_file(qemu, h), 0);
        CHECK((ev = find(evs, n, EV_QEMU_BINARY)) && !memcmp(ev->data_hash, h, 32));
        SHA256((const uint8_t *)GUEST_CMDLINE, strlen(GUEST_CMDLINE), h);
        CHECK((ev = find(evs, n, EV_GUEST_CMDLINE)) && !memcmp(ev->data_hash, h, 32));
        snprintf(cmd, sizeof cmd, "%s/trevisor", fx_build());
        CHECK_EQ(sha_file(cmd, h), 0);
        CHECK(v.have_self && !memcmp(v.self_hash, h, 32));
    } else {
        CHECK(!"bundle or log does not parse");
    }
    eventlog_free(log);
    /* what QEMU was given: no token, nothing of the state directory but the vsock socket */
    snprintf(cmd, sizeof cmd, "grep 'run: QEMU:' %s/run.log", s.conf);
    CHECK_EQ(run_capture(cmd, line, sizeof line), 0);
    CHECK(!strstr(line, "softhsm") && !strstr(line, "usb") && !strstr(line, "swtpm") &&
          !strstr(line, "tpm2"));
    free(con);
    srv_cleanup(&s);
}

int main(void)
{
    TEST(test_run_measured_and_attested);
    TEST_EXIT();
}
