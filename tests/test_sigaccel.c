/* tests/test_sigaccel.c — the signature accelerator (apps/sigaccel) end to end: its
 * native twin's self-test checked with the `openssl` command and `sigaccel verify`; the
 * TRE program started by the engine; and in hosted mode a real `trevisor serve` with its
 * TPM (swtpm), sealing and SoftHSM2 token: init, sign, the certificate chain, the key
 * sealed across restarts, the token policy (no grant, another vendor). The hosted part
 * SKIPs until `trevisor serve` has --state (the TRE services). */
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "trevisor/abi.h"
#include "trevisor/client.h"
#include "tre/minisign.h"
#include "sigaccel_proto.h"

static char top[64], conf[96], state[96], sock[96], sast[96], logpath[96];
static pid_t server = -1;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Runs a shell command, its stdout and stderr into out; returns its exit status. */
static int run(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    FILE *p;
    size_t n;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    st = pclose(p);
    if (getenv("TREVISOR_TEST_VERBOSE"))
        fprintf(stderr, "  $ %s\n%s", cmd, out);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* `sigaccel --state DIR --image build/progs/sigaccel ARGS` */
static int sa(char *out, size_t outlen, const char *dir, const char *args)
{
    const char *b = fx_build();
    return run(out, outlen, "%s/apps/sigaccel --state %s --image %s/progs/sigaccel %s", b, dir,
               b, args);
}

static int exists(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f))
        ok = 0;
    return ok ? 0 : -1;
}

/* The DER SubjectPublicKeyInfo in a PEM certificate; its length, or -1. */
static int cert_spki(const char *path, unsigned char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;

    if (f)
        fclose(f);
    if (n > 0 && (size_t)n <= cap)
        memcpy(out, der, (size_t)n);
    else
        n = -1;
    OPENSSL_free(der);
    X509_free(x);
    ERR_clear_error();
    return n;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    char *buf;
    if (file_read_all(path, 64u << 20, &buf, len))
        return NULL;
    return (unsigned char *)buf;
}

static int tre_exec_file(const char *img)
{
    char sig[256];
    size_t il, sl;
    unsigned char *i, *s;
    int d;

    snprintf(sig, sizeof sig, "%s.minisig", img);
    i = read_file(img, &il);
    s = read_file(sig, &sl);
    d = i && s ? vmmcall_tre_exec(i, il, s, sl) : -ENOENT;
    free(i);
    free(s);
    return d;
}

static int tre_call(int d, int proc, const void *arg, size_t alen, void *res, size_t *rlen)
{
    struct iovec a[1] = { { (void *)arg, alen } }, r[1] = { { res, *rlen } };
    int rc = vmmcall_tre_rpc(d, proc, a, arg ? 1 : 0, r, 1);
    if (rc >= 0)
        *rlen = r[0].iov_len;
    return rc;
}

/* ---- no TRE: the native twin writes certificates; openssl and `sigaccel verify` agree ---- */
static void test_native_selftest(void)
{
    char dir[64] = "/tmp/sa-native-XXXXXX", out[8192];
    const char *b = fx_build();

    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    CHECK_EQ(run(out, sizeof out, "%s/progs/sigaccel-native --selftest %s", b, dir), 0);
    CHECK(strstr(out, "selftest OK") != NULL);
    CHECK_EQ(run(out, sizeof out, "openssl verify -CAfile %s/ca.pem %s/cert.pem", dir, dir), 0);
    CHECK(strstr(out, ": OK") != NULL);
    CHECK_EQ(run(out, sizeof out, "openssl x509 -in %s/cert.pem -pubkey -noout > %s/pub.pem && "
                 "openssl dgst -sha256 -verify %s/pub.pem -signature %s/msg.sig %s/msg", dir, dir,
                 dir, dir, dir), 0);
    CHECK(strstr(out, "Verified OK") != NULL);
    CHECK_EQ(run(out, sizeof out, "openssl x509 -in %s/cert.pem -noout -subject -issuer -ext "
                 "basicConstraints,keyUsage", dir), 0);
    CHECK(strstr(out, "CN = " SIGACCEL_CERT_CN) && strstr(out, "CN = " SIGACCEL_CA_CN));
    CHECK(strstr(out, "CA:FALSE") && strstr(out, "Digital Signature"));
    CHECK_EQ(run(out, sizeof out, "openssl x509 -in %s/ca.pem -noout -ext basicConstraints,"
                 "keyUsage", dir), 0);
    CHECK(strstr(out, "critical") && strstr(out, "CA:TRUE") && strstr(out, "Certificate Sign"));

    CHECK_EQ(run(out, sizeof out, "%s/apps/sigaccel --state %s verify %s/msg %s/msg.sig", b, dir,
                 dir, dir), 0);
    CHECK(strstr(out, "OK") != NULL);
    CHECK_EQ(sh("cp %s/msg %s/msg2 && printf x >> %s/msg2", dir, dir, dir), 0);
    CHECK_EQ(run(out, sizeof out, "%s/apps/sigaccel --state %s verify %s/msg2 %s/msg.sig", b,
                 dir, dir, dir), 1);
    CHECK(strstr(out, "FAIL") != NULL);
    /* a chain to another CA fails */
    CHECK_EQ(run(out, sizeof out, "mkdir %s/o && %s/progs/sigaccel-native --selftest %s/o && "
                 "cp %s/o/ca.pem %s/ca.pem", dir, b, dir, dir, dir), 0);
    CHECK_EQ(run(out, sizeof out, "%s/apps/sigaccel --state %s verify %s/msg %s/msg.sig", b, dir,
                 dir, dir), 1);
    CHECK(strstr(out, "does not chain") != NULL);
    CHECK_EQ(run(out, sizeof out, "%s/apps/sigaccel --help", b), 0);
    CHECK(strstr(out, "sign FILE") != NULL);
    CHECK_EQ(run(out, sizeof out, "%s/apps/sigaccel frobnicate", b), 2);
    sh("rm -rf %s", dir);
}

/* ---- the TRE program starts and checks its calls (no services needed) ---- */
static void test_tre_starts(void)
{
    NEED_KVM();
    struct tre_engine *e = fx_engine(5000);
    CHECK(e != NULL);
    if (!e)
        return;
    int d = fx_exec(e, "sigaccel");
    CHECK(d >= 0);
    unsigned char buf[SIGACCEL_SIGN_OUT_MAX], dg[64] = { 0 };
    struct iovec r[1] = { { buf, sizeof buf } }, a[1] = { { dg, 32 } };
    CHECK_EQ(tre_engine_rpc(e, d, SIGACCEL_PROC_PUBKEY, NULL, 0, r, 1), -EPERM);
    r[0].iov_len = sizeof buf;
    CHECK_EQ(tre_engine_rpc(e, d, SIGACCEL_PROC_SIGN, a, 1, r, 1), -EPERM);
    r[0].iov_len = sizeof buf;
    CHECK_EQ(tre_engine_rpc(e, d, SIGACCEL_PROC_CERT, a, 1, r, 1), -EINVAL);
    CHECK_EQ(tre_engine_rpc(e, d, 99, NULL, 0, NULL, 0), -ENOSYS);
    CHECK_EQ(tre_engine_close(e, d), 0);
    tre_engine_free(e);
}

/* ---- hosted mode, end to end ---- */

static int services_wired(void)
{
    char out[8192];
    run(out, sizeof out, "%s/trevisor serve --help", fx_build());
    return strstr(out, "--state") != NULL;
}

static void show_log(void)
{
    char out[8192];
    run(out, sizeof out, "tail -n 25 %s", logpath);
    fprintf(stderr, "  --- %s (last lines) ---\n%s", logpath, out);
}

static int server_start(void)
{
    unlink(sock);
    server = fork();
    if (server == 0) {
        char bin[512];
        snprintf(bin, sizeof bin, "%s/trevisor", fx_build());
        if (!freopen(logpath, "a", stderr))
            _exit(126);
        execl(bin, bin, "serve", "--socket", sock, "--config", conf, "--state", state, "--tpm",
              "swtpm", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 3000; i++) {
        int st;
        if (access(sock, F_OK) == 0)
            return 0;
        if (waitpid(server, &st, WNOHANG) == server) {
            fprintf(stderr, "  trevisor serve exited (status %d)\n", st);
            server = -1;
            show_log();
            return -1;
        }
        usleep(10 * 1000);
    }
    fprintf(stderr, "  trevisor serve did not make %s in 30 s\n", sock);
    show_log();
    return -1;
}

static void server_stop(void)
{
    tre_disconnect();
    if (server > 0) {
        int st;
        kill(server, SIGTERM);
        for (int i = 0; i < 1000 && waitpid(server, &st, WNOHANG) != server; i++)
            usleep(10 * 1000);
        if (kill(server, 0) == 0) {
            fprintf(stderr, "  trevisor serve ignored SIGTERM for 10 s; killing it\n");
            kill(server, SIGKILL);
            waitpid(server, &st, 0);
        }
        server = -1;
    }
    unlink(sock);
}

/* "grant KEYID sig" for the demo vendor key, its id as minisign prints it */
static int demo_grant(char *line, size_t len)
{
    char p[512], err[256];
    unsigned char *text;
    size_t tl;
    struct tre_pubkey pk;
    char id[17];

    snprintf(p, sizeof p, "%s/vendor/demo.pub", fx_build());
    text = read_file(p, &tl);
    if (!text || tre_pubkey_parse((const char *)text, tl, &pk, err, sizeof err)) {
        free(text);
        return -1;
    }
    free(text);
    tre_keyid_hex(pk.keyid, id);
    snprintf(line, len, "grant %s " SIGACCEL_TOKEN_LABEL "\n", id);
    return 0;
}

static int e2e_setup(char *grant, size_t glen)
{
    const char *b = fx_build();
    char p[160];

    snprintf(top, sizeof top, "/tmp/sa-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    snprintf(conf, sizeof conf, "%s/c", top);
    snprintf(state, sizeof state, "%s/s", top);
    snprintf(sock, sizeof sock, "%s/t.sock", top);
    snprintf(sast, sizeof sast, "%s/u", top);
    snprintf(logpath, sizeof logpath, "%s/serve.log", top);
    setenv("TREVISOR_SOCKET", sock, 1);
    if (mkdir(conf, 0700) || mkdir(state, 0700) || demo_grant(grant, glen))
        return -1;
    snprintf(p, sizeof p, "%s/token-grants", conf);
    if (write_text(p, grant))
        return -1;
    /* another vendor: trusted, not granted, signing a copy of the same program */
    return sh("%s/trevisor trust add %s/vendor/demo.pub --config %s >/dev/null && "
              "%s/trevisor keygen -p %s/v2.pub -s %s/v2.key -c 'another vendor' >/dev/null && "
              "%s/trevisor trust add %s/v2.pub --config %s >/dev/null && "
              "cp %s/progs/sigaccel %s/other && "
              "%s/trevisor sign -s %s/v2.key -x %s/other.minisig %s/other >/dev/null",
              b, b, conf, b, top, top, b, top, conf, b, top, b, top, top, top) ? -1 : 0;
}

static void test_hosted_end_to_end(void)
{
    char out[16384], grant[64], p[256];
    unsigned char spki1[SIGACCEL_SPKI_MAX], spki2[SIGACCEL_SPKI_MAX];
    int n1, n2;

    NEED_KVM();
    if (!services_wired())
        SKIP("`trevisor serve --help` has no --state: the TRE services (TPM, sealing, token) "
             "are not wired yet");
    if (sh("command -v swtpm >/dev/null 2>&1"))
        SKIP("swtpm is not installed (make deps)");
    CHECK_EQ(e2e_setup(grant, sizeof grant), 0);
    if (check_failed_)
        goto out;

    /* ---- with the grant ---- */
    CHECK_EQ(server_start(), 0);
    if (check_failed_)
        goto out;
    CHECK_EQ(sa(out, sizeof out, sast, "init"), 0);
    CHECK(exists(sast, "key.sealed") && exists(sast, "ca.pem") && exists(sast, "cert.pem"));
    if (check_failed_) {
        fprintf(stderr, "  sigaccel init: %s", out);
        goto out;
    }
    CHECK_EQ(sh("printf 'pay 100 to Bob\\n' > %s/m", top), 0);
    snprintf(p, sizeof p, "sign %s/m", top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 0);
    CHECK(exists(top, "m.sig"));
    CHECK_EQ(run(out, sizeof out, "openssl verify -CAfile %s/ca.pem %s/cert.pem", sast, sast), 0);
    CHECK(strstr(out, ": OK") != NULL);
    CHECK_EQ(run(out, sizeof out, "openssl x509 -in %s/cert.pem -pubkey -noout > %s/pub.pem && "
                 "openssl dgst -sha256 -verify %s/pub.pem -signature %s/m.sig %s/m", sast, top, top,
                 top, top), 0);
    CHECK(strstr(out, "Verified OK") != NULL);
    snprintf(p, sizeof p, "verify %s/m %s/m.sig", top, top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 0);
    CHECK(strstr(out, "OK") != NULL);
    CHECK_EQ(sh("printf 'pay 900 to Eve\\n' > %s/m2", top), 0);
    snprintf(p, sizeof p, "verify %s/m2 %s/m.sig", top, top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 1);
    CHECK(strstr(out, "FAIL") != NULL);
    snprintf(p, sizeof p, "sign %s/m2 -o %s/m2.der", top, top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 0);
    snprintf(p, sizeof p, "verify %s/m2 %s/m2.der", top, top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 0);
    CHECK_EQ(sa(out, sizeof out, sast, "bench --seconds 0.2 --batch 4"), 0);
    CHECK(strstr(out, "signatures/s") != NULL);
    CHECK_EQ(sa(out, sizeof out, sast, "cert"), 0);
    CHECK(strstr(out, "key.sealed") && strstr(out, "CN=" SIGACCEL_CA_CN));

    /* a program of another vendor asking for token:sig is refused (at exec, or by the
       token service) */
    snprintf(p, sizeof p, "%s/other", top);
    int d = tre_exec_file(p);
    if (d >= 0) {
        unsigned char buf[SIGACCEL_CERT_MAX];
        size_t bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_INIT, NULL, 0, buf, &bl), 0);
        bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_CA_CERT, NULL, 0, buf, &bl), -EACCES);
        vmmcall_tre_close(d);
    } else if (getenv("TREVISOR_TEST_VERBOSE")) {
        fprintf(stderr, "  the other vendor's program was refused at exec: %d %s\n", d,
                tre_last_error());
    }
    snprintf(p, sizeof p, "%s/cert.pem", sast);
    n1 = cert_spki(p, spki1, sizeof spki1);
    CHECK(n1 > 0);
    server_stop();

    /* ---- restarted on the same state: the sealed key opens, the same key ---- */
    CHECK_EQ(server_start(), 0);
    if (check_failed_)
        goto out;
    CHECK_EQ(sh("rm -f %s/ca.pem %s/cert.pem", sast, sast), 0);
    CHECK_EQ(sa(out, sizeof out, sast, "init"), 0);
    n2 = cert_spki(p, spki2, sizeof spki2);
    CHECK(n1 > 0 && n2 == n1 && memcmp(spki1, spki2, (size_t)n1) == 0);
    snprintf(p, sizeof p, "verify %s/m %s/m.sig", top, top);
    CHECK_EQ(sa(out, sizeof out, sast, p), 0);    /* the old signature, the new chain */
    /* a damaged blob does not open */
    snprintf(p, sizeof p, "%s/key.sealed", sast);
    size_t blen = 0;
    unsigned char *blob = read_file(p, &blen);
    CHECK(blob && blen > TRE_SEAL_OVERHEAD);
    snprintf(p, sizeof p, "%s/progs/sigaccel", fx_build());
    d = blob && blen > TRE_SEAL_OVERHEAD ? tre_exec_file(p) : -1;
    CHECK(d >= 0);
    if (d >= 0) {
        unsigned char buf[SIGACCEL_BLOB_MAX];
        size_t bl = sizeof buf;
        blob[blen - 1] ^= 1;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_INIT, blob, blen, buf, &bl), -EBADMSG);
        bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_PUBKEY, NULL, 0, buf, &bl), -EPERM);
        vmmcall_tre_close(d);
    }
    free(blob);
    server_stop();

    /* ---- without the grant: the token refuses ---- */
    snprintf(p, sizeof p, "%s/token-grants", conf);
    CHECK_EQ(write_text(p, "# no grants\n"), 0);
    CHECK_EQ(server_start(), 0);
    if (check_failed_)
        goto out;
    snprintf(p, sizeof p, "%s/progs/sigaccel", fx_build());
    d = tre_exec_file(p);
    CHECK(d >= 0);
    if (d >= 0) {
        unsigned char buf[SIGACCEL_CERT_MAX];
        size_t bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_INIT, NULL, 0, buf, &bl), 0);
        bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_CA_CERT, NULL, 0, buf, &bl), -EACCES);
        bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_CERT, NULL, 0, buf, &bl), -EACCES);
        /* the fast key still signs: only the token is refused */
        unsigned char dg[32] = { 1 };
        bl = sizeof buf;
        CHECK_EQ(tre_call(d, SIGACCEL_PROC_SIGN, dg, sizeof dg, buf, &bl), 1);
        vmmcall_tre_close(d);
    }
    snprintf(p, sizeof p, "%s/u2", top);
    CHECK(sa(out, sizeof out, p, "init") == 1);
    CHECK(strstr(out, "the TRE refused") && strstr(out, "CA_CERT"));
out:
    if (check_failed_ && logpath[0])
        show_log();
    server_stop();
    if (top[0])
        sh("rm -rf %s", top);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_native_selftest);
    TEST(test_tre_starts);
    TEST(test_hosted_end_to_end);
    TEST_EXIT();
}
