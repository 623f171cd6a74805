/* tests/test_token_tre.c — issue 6's policy end to end: a real `trevisor serve` with its
 * SoftHSM2 token; a TRE program signs with a granted key and OpenSSL on the host checks
 * the signature; a key not in the manifest, a program that asks for none, and another
 * vendor's program are refused; the wire protocol (the guest's only path) has no way to
 * the token and QEMU's command line carries no token device; a token that fails mid-run
 * (a test PKCS#11 wrapper simulating removal) gives a clear error and the instance lives;
 * the module, label and PIN file set in CONFIG/token.conf. */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "server.h"
#include "door/proto.h"
#include "launch/qemu.h"
#include "trevisor/client.h"

enum { P_TOKEN_SIGN = 4, P_TOKEN_PUBKEY, P_TOKEN_LIST, P_TOKEN_SIGN_LABEL, P_BAD,
       P_TOKEN_RANDOM }; /* tests/progs/svc.c */

static int softhsm_present(void)
{
    return access("/usr/lib/softhsm/libsofthsm2.so", R_OK) == 0 ||
           access("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", R_OK) == 0;
}

#define NEED_TOKEN() do { NEED_KVM(); \
    if (!softhsm_present()) SKIP("softhsm2 is not installed (scripts/deps.sh installs it)"); \
    if (system("command -v swtpm >/dev/null 2>&1")) SKIP("swtpm is not installed"); } while (0)

static int demo_keyid(const struct srv *s, char out[17])
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "%s/trevisor trust list --config %s | awk 'NR == 1 { print $1 }'",
             fx_build(), s->conf);
    if (run_capture(cmd, line, sizeof line))
        return -1;
    size_t n = strcspn(line, "\n"); /* 1..16 hex digits, as minisign prints a key id */
    if (n == 0 || n > 16)
        return -1;
    memcpy(out, line, n);
    out[n] = 0;
    return 0;
}

static int grant(const struct srv *s, const char *keyid, const char *label)
{
    char p[256];
    snprintf(p, sizeof p, "%s/token-grants", s->conf);
    FILE *f = fopen(p, "a");
    if (!f)
        return -1;
    fprintf(f, "# test grant\ngrant %s %s\n", keyid, label);
    return fclose(f);
}

static int exec_prog(const char *dir, const char *prog)
{
    return srv_exec(dir, prog);
}

static int sign(int d, const uint8_t dg[32], uint8_t *sig, size_t *slen)
{
    struct iovec a[1] = { { (void *)dg, 32 } }, r[1] = { { sig, *slen } };
    int st = vmmcall_tre_rpc(d, P_TOKEN_SIGN, a, 1, r, 1);
    *slen = r[0].iov_len;
    return st;
}

static int verify_with(const uint8_t *der, size_t dlen, const uint8_t dg[32],
                       const uint8_t *sig, size_t slen)
{
    const uint8_t *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)dlen);
    if (!k)
        return -1;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    int ok = c && EVP_PKEY_verify_init(c) == 1 &&
             EVP_PKEY_verify(c, sig, slen, dg, 32) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

static void test_policy(void)
{
    NEED_TOKEN();
    struct srv s;
    char kid[17], progs[512];
    snprintf(progs, sizeof progs, "%s/progs", fx_build());
    CHECK_EQ(srv_setup(&s, "tok"), 0);
    CHECK_EQ(demo_keyid(&s, kid), 0);
    CHECK_EQ(grant(&s, kid, "sig"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);

    int d = exec_prog(progs, "svc");
    CHECK(d >= 0);
    static uint8_t der[1024], sigb[512], list[512];
    struct iovec r[1] = { { der, sizeof der } };
    int n = vmmcall_tre_rpc(d, P_TOKEN_PUBKEY, NULL, 0, r, 1);
    CHECK(n > 0);
    size_t dlen = r[0].iov_len;
    uint8_t dg[32];
    SHA256((const uint8_t *)"a message", 9, dg);
    size_t slen = sizeof sigb;
    CHECK(sign(d, dg, sigb, &slen) > 0);
    CHECK_EQ(verify_with(der, dlen, dg, sigb, slen), 0);
    dg[0] ^= 1;
    CHECK(verify_with(der, dlen, dg, sigb, slen) != 0);
    /* the list shows the granted key only */
    r[0] = (struct iovec){ list, sizeof list };
    n = vmmcall_tre_rpc(d, P_TOKEN_LIST, NULL, 0, r, 1);
    CHECK_EQ(n, 5); /* one record: type, length 3, "sig" */
    CHECK(n == 5 && list[1] == 3 && !memcmp(list + 2, "sig", 3));
    /* a key the manifest did not ask for, though it is on the token */
    uint8_t mech = 2; /* TRE_TOKEN_RSA_PKCS1_SHA256 */
    struct iovec a3[3] = { { "rsa", 4 }, { &mech, 1 }, { dg, 32 } };
    r[0] = (struct iovec){ sigb, sizeof sigb };
    CHECK_EQ(vmmcall_tre_rpc(d, P_TOKEN_SIGN_LABEL, a3, 3, r, 1), -EACCES);
    CHECK(srv_log_has(&s, "the manifest does not ask for it"));
    /* a program that asks for no key */
    int nc = exec_prog(progs, "svc-nocap");
    CHECK(nc >= 0);
    slen = sizeof sigb;
    CHECK_EQ(sign(nc, dg, sigb, &slen), -EACCES);
    struct iovec rr[1] = { { sigb, 16 } };
    CHECK_EQ(vmmcall_tre_rpc(nc, P_TOKEN_RANDOM, NULL, 0, rr, 1), -EACCES);
    /* another vendor's program asking for the same key: trusted, but not granted */
    CHECK_EQ(srv_second_vendor(&s, "svc"), 0);
    srv_stop(&s);
    tre_disconnect();
    CHECK_EQ(srv_start(&s, NULL), 0);
    int v = exec_prog(s.conf, "svc");
    CHECK(v >= 0);
    slen = sizeof sigb;
    CHECK_EQ(sign(v, dg, sigb, &slen), -EACCES);
    CHECK(srv_log_has(&s, "not granted to vendor key"));
    /* the granted vendor still signs, with the same key as before the restart */
    d = exec_prog(progs, "svc");
    static uint8_t der2[1024];
    r[0] = (struct iovec){ der2, sizeof der2 };
    CHECK(vmmcall_tre_rpc(d, P_TOKEN_PUBKEY, NULL, 0, r, 1) > 0);
    CHECK(r[0].iov_len == dlen && !memcmp(der, der2, dlen));
    tre_disconnect();
    /* the owner's view of the token (the server stopped: the token is not in use) */
    srv_stop(&s);
    char cmd[1024], out[4096], path[256];
    snprintf(cmd, sizeof cmd, "%s/trevisor token list --state %s", fx_build(), s.state);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "sig") && strstr(out, "rsa") && strstr(out, "ed"));
    snprintf(path, sizeof path, "%s/sig.der", s.conf);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(der, 1, dlen, f) == dlen);
    if (f)
        fclose(f);
    snprintf(cmd, sizeof cmd, "%s/trevisor token pubkey --label sig --state %s | openssl pkey "
             "-pubin -outform DER | cmp - %s", fx_build(), s.state, path);
    CHECK_EQ(system(cmd), 0); /* the key the TRE used is the token's "sig" */
    srv_cleanup(&s);
}

/* The guest's only path is the wire protocol: exec, rpc, close, attest — nothing names the
 * token. Every other op is refused; and QEMU is given no token device. */
static void test_guest_has_no_path(void)
{
    NEED_TOKEN();
    struct srv s;
    CHECK_EQ(srv_setup(&s, "gst"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, s.sock, strnlen(s.sock, sizeof sa.sun_path - 1));
    CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (uint16_t op = 5; op < 64; op++) {
        uint8_t h[TRE_PROTO_HDR_SIZE], rep[2048];
        proto_hdr_encode(h, op, op, 0);
        CHECK_EQ(write(fd, h, sizeof h), (ssize_t)sizeof h);
        ssize_t k = read(fd, rep, sizeof rep);
        if (k <= 0)
            break; /* the server may drop a connection that sends an unknown op */
        struct proto_hdr rh;
        CHECK_EQ(proto_hdr_decode(rep, &rh), 0);
        CHECK_EQ(rh.op, TRE_OP_ERROR);
        int32_t st;
        memcpy(&st, rep + TRE_PROTO_HDR_SIZE, 4);
        CHECK(st == -EOPNOTSUPP || st == -EPROTO);
    }
    close(fd);
    char k[128], i[128];
    snprintf(k, sizeof k, "%s/tre.sock", s.conf); /* any readable files will do */
    snprintf(i, sizeof i, "%s/serve.log", s.conf);
    struct qemu_config qc = { .kernel = i, .initrd = i, .vsock_socket = k,
                              .accel = QEMU_ACCEL_TCG };
    struct qemu_cmd qcmd;
    char err[256];
    CHECK_EQ(qemu_build(&qc, &qcmd, err, sizeof err), 0);
    for (unsigned a = 0; a < qcmd.argc; a++) {
        CHECK(!strstr(qcmd.argv[a], "usb") && !strstr(qcmd.argv[a], "ccid") &&
              !strstr(qcmd.argv[a], "pkcs") && !strstr(qcmd.argv[a], "softhsm") &&
              !strstr(qcmd.argv[a], s.state));
    }
    qemu_cmd_free(&qcmd);
    srv_cleanup(&s);
}

static void test_token_failure(void)
{
    NEED_TOKEN();
    char wrapper[512];
    snprintf(wrapper, sizeof wrapper, "%s/tests/libp11fail.so", fx_build());
    if (access(wrapper, R_OK))
        SKIP("the test PKCS#11 wrapper %s was not built", wrapper);
    struct srv s;
    char kid[17], progs[512], trig[256], conf[256], pin[256];
    snprintf(progs, sizeof progs, "%s/progs", fx_build());
    CHECK_EQ(srv_setup(&s, "fail"), 0);
    CHECK_EQ(demo_keyid(&s, kid), 0);
    CHECK_EQ(grant(&s, kid, "sig"), 0);
    /* a first start makes the SoftHSM2 token in the state directory */
    CHECK_EQ(srv_start(&s, NULL), 0);
    srv_stop(&s);
    snprintf(trig, sizeof trig, "%s/removed", s.conf);
    snprintf(conf, sizeof conf, "%s/softhsm/softhsm2.conf", s.state);
    snprintf(pin, sizeof pin, "%s/softhsm/pin", s.state);
    setenv("P11FAIL_MODULE", access("/usr/lib/softhsm/libsofthsm2.so", R_OK)
                                 ? "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
                                 : "/usr/lib/softhsm/libsofthsm2.so", 1);
    setenv("P11FAIL_TRIGGER", trig, 1);
    setenv("SOFTHSM2_CONF", conf, 1);
    const char *opts[] = { "--token-module", wrapper, "--token-pin-file", pin, NULL };
    CHECK_EQ(srv_start(&s, opts), 0);
    int d = exec_prog(progs, "svc");
    CHECK(d >= 0);
    uint8_t dg[32] = { 1 }, sigb[512], rnd[16];
    size_t slen = sizeof sigb;
    CHECK(sign(d, dg, sigb, &slen) > 0);
    FILE *f = fopen(trig, "w"); /* simulated removal */
    if (f)
        fclose(f);
    slen = sizeof sigb;
    int st = sign(d, dg, sigb, &slen);
    CHECK(st == -ENODEV || st == -EIO);
    CHECK(srv_log_has(&s, "CKR_DEVICE_REMOVED"));
    struct iovec r[1] = { { rnd, sizeof rnd } };
    CHECK_EQ(vmmcall_tre_rpc(d, 3, NULL, 0, r, 1), 16); /* the instance lives on */
    unlink(trig);
    slen = sizeof sigb;
    CHECK(sign(d, dg, sigb, &slen) > 0); /* "re-inserted": works again */
    tre_disconnect();
    unsetenv("SOFTHSM2_CONF");
    srv_cleanup(&s);
}

/* The module, PIN file and label can live in CONFIG/token.conf instead of the options:
 * here the failure wrapper as "another vendor's module", then a broken file that stops
 * serve with the line named, then an option that overrides the file. */
static void test_module_from_config(void)
{
    NEED_TOKEN();
    char rel[512], wrapper[PATH_MAX], path[256], pin[256], conf[256], cmd[2048], out[8192];
    char kid[17];
    snprintf(rel, sizeof rel, "%s/tests/libp11fail.so", fx_build());
    if (!realpath(rel, wrapper))                 /* token.conf takes absolute paths */
        SKIP("the test PKCS#11 wrapper %s was not built", rel);
    struct srv s;
    CHECK_EQ(srv_setup(&s, "tconf"), 0);
    CHECK_EQ(demo_keyid(&s, kid), 0);
    CHECK_EQ(grant(&s, kid, "sig"), 0);
    CHECK_EQ(srv_start(&s, NULL), 0);            /* makes the SoftHSM2 token */
    srv_stop(&s);
    snprintf(conf, sizeof conf, "%s/softhsm/softhsm2.conf", s.state);
    snprintf(pin, sizeof pin, "%s/softhsm/pin", s.state);
    setenv("P11FAIL_MODULE", access("/usr/lib/softhsm/libsofthsm2.so", R_OK)
                                 ? "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
                                 : "/usr/lib/softhsm/libsofthsm2.so", 1);
    snprintf(path, sizeof path, "%s/never-created", s.conf);
    setenv("P11FAIL_TRIGGER", path, 1);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(path, sizeof path, "%s/token.conf", s.conf);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        goto out;
    fprintf(f, "# the vendor's token\nmodule %s\ntoken trevisor\npin-file %s\n", wrapper, pin);
    fclose(f);
    CHECK_EQ(srv_start(&s, NULL), 0);
    CHECK(srv_log_has(&s, "(set in token.conf)"));
    CHECK(srv_log_has(&s, wrapper));
    int d = exec_prog(NULL, "svc");
    CHECK(d >= 0);
    uint8_t dg[32] = { 2 }, sigb[512];
    size_t slen = sizeof sigb;
    CHECK(sign(d, dg, sigb, &slen) > 0);
    tre_disconnect();
    srv_stop(&s);
    /* trevisor token reads the same file */
    snprintf(cmd, sizeof cmd, "%s/trevisor token init --config %s --state %s 2>&1",
             fx_build(), s.conf, s.state);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, wrapper) != NULL && strstr(out, "sig") != NULL);
    /* a broken file: serve refuses to start and names the line */
    f = fopen(path, "a");
    if (f) {
        fputs("modul /typo.so\n", f);
        fclose(f);
    }
    CHECK(srv_start(&s, NULL) != 0);
    CHECK(srv_log_has(&s, "token.conf: line 5: unknown key"));
    /* an option wins over the file */
    const char *none[] = { "--token-module", "none", NULL };
    f = fopen(path, "w");
    if (f) {
        fputs("module /nonexistent/pkcs11.so\n", f);
        fclose(f);
    }
    CHECK_EQ(srv_start(&s, none), 0);
    CHECK(!srv_log_has(&s, "/nonexistent/pkcs11.so"));
    srv_stop(&s);
    CHECK_EQ(srv_start(&s, NULL), 0);            /* and the file alone is used */
    CHECK(srv_log_has(&s, "cannot load PKCS#11 module /nonexistent/pkcs11.so"));
out:
    tre_disconnect();
    unsetenv("SOFTHSM2_CONF");
    srv_cleanup(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_policy);
    TEST(test_guest_has_no_path);
    TEST(test_token_failure);
    TEST(test_module_from_config);
    TEST_EXIT();
}
