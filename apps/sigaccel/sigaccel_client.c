/* apps/sigaccel/sigaccel_client.c — the `sigaccel` command, the owner's side of the
 * signature accelerator (in the user environment, or on the host in hosted mode): starts
 * the signed sigaccel TRE program through libtre, keeps its sealed key blob and the two
 * certificates in a state directory, has the TRE sign SHA-256 digests of files, and
 * verifies signatures and the certificate chain locally with OpenSSL. It holds no key: the
 * blob it stores is sealed by trevisor, and everything it gets from the TRE is checked
 * before it is written. One connection (one TRE instance) per command. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "trevisor/client.h"
#include "sigaccel_files.h"
#include "sigaccel_proto.h"

#define SA_DEFAULT_IMAGE "/usr/lib/trevisor/sigaccel"
#define SA_IMAGE_MAX     (64u << 20)
#define SA_SIGFILE_MAX   16384u
#define SA_PEM_MAX       16384u

struct sa {
    const char *state, *image, *sig;
    char sigbuf[4096];
    char key_path[4096], ca_path[4096], cert_path[4096];
    int desc;
    unsigned char spki[SIGACCEL_SPKI_MAX];
    size_t spki_len;
};

/* ---- talking to the TRE ---- */

static const char *sa_proc_name(int proc)
{
    switch (proc) {
    case SIGACCEL_PROC_INIT:    return "INIT";
    case SIGACCEL_PROC_CA_CERT: return "CA_CERT";
    case SIGACCEL_PROC_CERT:    return "CERT";
    case SIGACCEL_PROC_SIGN:    return "SIGN";
    case SIGACCEL_PROC_PUBKEY:  return "PUBKEY";
    default:                    return "?";
    }
}

/* What a negative return of proc means, in sigaccel's terms where the code is the
 * program's own (docs/sigaccel.md), else libtre's text. */
static const char *sa_meaning(int proc, int r)
{
    int e = -r;

    switch (e) {
    case ECONNRESET: case EPROTO: case ESRCH: case EFAULT: case ETIMEDOUT: case EBADF:
    case E2BIG: case ECONNREFUSED:
        return tre_strerror(r);
    default:
        break;
    }
    if (proc == SIGACCEL_PROC_INIT) {
        if (e == EBADMSG)
            return "the sealed key does not open here (sealed by another trevisor, launch "
                   "measurement, vendor or program, or damaged); remove key.sealed to make "
                   "a new key";
        if (e == EACCES)
            return "the sealed key was sealed by a newer version of sigaccel";
        if (e == EINVAL)
            return "the sealed data is not a sigaccel key";
        if (e == ENODEV)
            return "trevisor has no sealing service here (hosted mode needs `trevisor "
                   "serve --state DIR`)";
    }
    if (proc == SIGACCEL_PROC_CA_CERT || proc == SIGACCEL_PROC_CERT) {
        if (e == EACCES)
            return "trevisor does not grant token key '" SIGACCEL_TOKEN_LABEL "' to this "
                   "program's vendor (see CONFIG/token-grants)";
        if (e == ENODEV)
            return "trevisor has no token here";
        if (e == ENOENT)
            return "the token has no key '" SIGACCEL_TOKEN_LABEL "'";
        if (e == EINVAL)
            return "the token key '" SIGACCEL_TOKEN_LABEL "' is not an EC P-256 key";
        if (e == EBADMSG)
            return "the token's signature on the certificate does not verify";
    }
    if (e == EPERM)
        return "the program has no key yet (INIT first)";
    if (e == ENOSPC)
        return "a result did not fit its buffer";
    return tre_strerror(r);
}

static int sa_refused(int proc, int r)
{
    sa_err("the TRE refused: %s: %s (%d)", sa_proc_name(proc), sa_meaning(proc, r), r);
    return -1;
}

static int sa_exec(struct sa *s)
{
    size_t ilen, slen;
    unsigned char *img = sa_read(s->image, SA_IMAGE_MAX, &ilen), *sig = NULL;
    int d;

    if (!img) {
        sa_err("cannot read the TRE image %s: %s (--image, or $SIGACCEL_IMAGE)", s->image,
               strerror(errno));
        return -1;
    }
    sig = sa_read(s->sig, SA_SIGFILE_MAX, &slen);
    if (!sig) {
        sa_err("cannot read the image's signature %s: %s (--sig)", s->sig, strerror(errno));
        free(img);
        return -1;
    }
    d = vmmcall_tre_exec(img, ilen, sig, slen);
    free(img);
    free(sig);
    if (d < 0) {
        const char *why = tre_last_error();
        sa_err("trevisor refused to start %s: %s%s%s", s->image, tre_strerror(d),
               *why ? ": " : "", why);
        return -1;
    }
    s->desc = d;
    return 0;
}

static int sa_rpc(struct sa *s, int proc, const void *arg, size_t arglen, void *res,
                  size_t *reslen)
{
    struct iovec a[1] = { { (void *)arg, arglen } }, o[1] = { { res, *reslen } };
    int r = vmmcall_tre_rpc(s->desc, proc, a, arg ? 1 : 0, o, 1);

    if (r < 0)
        return r;
    *reslen = o[0].iov_len;
    return r;
}

/* CA_CERT and CERT, checked (the leaf carries the fast key and verifies under the CA),
 * written as ca.pem and cert.pem. */
static int sa_fetch_certs(struct sa *s)
{
    unsigned char ca_der[SIGACCEL_CERT_MAX], cert_der[SIGACCEL_CERT_MAX];
    size_t cal = sizeof ca_der, cl = sizeof cert_der;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *capub = NULL;
    int r, rc = -1;

    if ((r = sa_rpc(s, SIGACCEL_PROC_CA_CERT, NULL, 0, ca_der, &cal)) < 0)
        return sa_refused(SIGACCEL_PROC_CA_CERT, r);
    if ((r = sa_rpc(s, SIGACCEL_PROC_CERT, NULL, 0, cert_der, &cl)) < 0)
        return sa_refused(SIGACCEL_PROC_CERT, r);
    ca = sa_der_cert(ca_der, cal);
    cert = sa_der_cert(cert_der, cl);
    capub = ca ? X509_get_pubkey(ca) : NULL;
    if (!ca || !cert || !capub) {
        sa_err("the TRE's certificates do not parse");
        goto out;
    }
    if (!sa_cert_has_key(cert, s->spki, s->spki_len) || X509_verify(cert, capub) != 1 ||
        X509_verify(ca, capub) != 1) {
        sa_err("the TRE's certificates do not check (wrong key or signature)");
        goto out;
    }
    if (sa_write_pem(s->ca_path, ca) == 0 && sa_write_pem(s->cert_path, cert) == 0)
        rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(capub);
    X509_free(ca);
    X509_free(cert);
    return rc;
}

/* Starts the TRE and gives it its key: INIT with key.sealed when there is one (else a new
 * key), stores the blob it returns, and fetches the certificates when force is set or
 * when the stored ones are missing or for another key. */
static int sa_start(struct sa *s, int force)
{
    unsigned char out[SIGACCEL_BLOB_MAX];
    size_t olen = sizeof out, blen = 0;
    unsigned char *blob;
    X509 *cert;
    int r, need;

    if (sa_mkdirs(s->state))
        return -1;
    blob = sa_read(s->key_path, SIGACCEL_BLOB_MAX, &blen);
    if (!blob && errno != ENOENT) {
        sa_err("cannot read %s: %s", s->key_path, strerror(errno));
        return -1;
    }
    if (sa_exec(s)) {
        free(blob);
        return -1;
    }
    r = sa_rpc(s, SIGACCEL_PROC_INIT, blob, blob ? blen : 0, out, &olen);
    if (r < 0) {
        free(blob);
        return sa_refused(SIGACCEL_PROC_INIT, r);
    }
    if (olen == 0 || olen > sizeof out) {
        free(blob);
        sa_err("the TRE returned no sealed key");
        return -1;
    }
    if ((!blob || blen != olen || memcmp(blob, out, olen)) &&
        sa_write(s->key_path, out, olen, 0600)) {
        free(blob);
        return -1;
    }
    free(blob);
    s->spki_len = sizeof s->spki;
    if ((r = sa_rpc(s, SIGACCEL_PROC_PUBKEY, NULL, 0, s->spki, &s->spki_len)) < 0)
        return sa_refused(SIGACCEL_PROC_PUBKEY, r);
    cert = force ? NULL : sa_read_cert(s->cert_path);
    need = force || !cert || !sa_cert_has_key(cert, s->spki, s->spki_len) ||
           access(s->ca_path, R_OK) != 0;
    X509_free(cert);
    return need ? sa_fetch_certs(s) : 0;
}

static void sa_stop(struct sa *s)
{
    if (s->desc >= 0)
        vmmcall_tre_close(s->desc);
    s->desc = -1;
}

/* ---- commands ---- */

static int cmd_init(struct sa *s)
{
    int rc = sa_start(s, 1);

    sa_stop(s);
    if (rc)
        return 1;
    printf("sigaccel: fast key ready, certified by the token\n"
           "  sealed key:  %s\n  CA (token):  %s\n  certificate: %s\n", s->key_path,
           s->ca_path, s->cert_path);
    return 0;
}

/* Checks the packed signature of dg from SIGN with the fast key; returns its DER span. */
static int sa_unpack_sig(const struct sa *s, const unsigned char *out, size_t olen,
                         const unsigned char dg[32], const unsigned char **sig,
                         size_t *siglen)
{
    const unsigned char *p = s->spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)s->spki_len);
    EVP_PKEY_CTX *ctx = pub ? EVP_PKEY_CTX_new(pub, NULL) : NULL;
    size_t l = olen >= 2 ? (size_t)(out[0] | out[1] << 8) : 0;
    int ok = ctx && olen >= 2 && l > 0 && l <= SIGACCEL_MAX_SIG && 2 + l <= olen &&
             EVP_PKEY_verify_init(ctx) > 0 && EVP_PKEY_verify(ctx, out + 2, l, dg, 32) == 1;

    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    ERR_clear_error();
    *sig = out + 2;
    *siglen = l;
    return ok ? 0 : -1;
}

static int cmd_sign(struct sa *s, const char *file, const char *outpath)
{
    unsigned char dg[32], out[2 + SIGACCEL_MAX_SIG + 8];
    size_t olen = sizeof out, siglen;
    const unsigned char *sig;
    char defpath[4200];
    int r;

    if (sa_hash_file(file, dg))
        return 1;
    if (!outpath) {
        snprintf(defpath, sizeof defpath, "%s.sig", file);
        outpath = defpath;
    }
    if (sa_start(s, 0)) {
        sa_stop(s);
        return 1;
    }
    r = sa_rpc(s, SIGACCEL_PROC_SIGN, dg, sizeof dg, out, &olen);
    sa_stop(s);
    if (r != 1) {
        if (r < 0)
            sa_refused(SIGACCEL_PROC_SIGN, r);
        else
            sa_err("the TRE returned %d signatures for 1 digest", r);
        return 1;
    }
    if (sa_unpack_sig(s, out, olen, dg, &sig, &siglen)) {
        sa_err("the TRE's signature does not verify with its own key");
        return 1;
    }
    if (sa_write(outpath, sig, siglen, 0644))
        return 1;
    printf("sigaccel: signed %s -> %s (ECDSA P-256, SHA-256, DER; certificate %s)\n", file,
           outpath, s->cert_path);
    return 0;
}

static int sa_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sa_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("FAIL: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    return 1;
}

/* Local only: cert.pem must chain to ca.pem (a self-signed CA whose signature checks), be
 * for digital signatures, and its key must verify SIG over SHA-256(FILE). */
static int cmd_verify(struct sa *s, const char *file, const char *sigpath)
{
    unsigned char dg[32], *sig = NULL;
    size_t siglen = 0;
    X509 *ca = sa_read_cert(s->ca_path), *cert = sa_read_cert(s->cert_path);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *xc = X509_STORE_CTX_new();
    EVP_PKEY *pub = NULL;
    EVP_PKEY_CTX *pc = NULL;
    int rc = 1;

    if (!ca || !cert) {
        rc = sa_fail("cannot read %s (run `sigaccel init`)", !ca ? s->ca_path : s->cert_path);
        goto out;
    }
    if (!store || !xc || !X509_STORE_add_cert(store, ca) ||
        !X509_STORE_CTX_init(xc, store, cert, NULL)) {
        rc = sa_fail("OpenSSL set-up failed");
        goto out;
    }
    X509_STORE_CTX_set_flags(xc, X509_V_FLAG_CHECK_SS_SIGNATURE | X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(xc) != 1) {
        rc = sa_fail("%s does not chain to %s: %s", s->cert_path, s->ca_path,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(xc)));
        goto out;
    }
    if (!(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE)) {
        rc = sa_fail("%s is not for digital signatures", s->cert_path);
        goto out;
    }
    if (sa_hash_file(file, dg)) {
        rc = sa_fail("cannot read %s", file);
        goto out;
    }
    sig = sa_read(sigpath, 1024, &siglen);
    if (!sig) {
        rc = sa_fail("cannot read %s: %s", sigpath, strerror(errno));
        goto out;
    }
    pub = X509_get_pubkey(cert);
    pc = pub ? EVP_PKEY_CTX_new(pub, NULL) : NULL;
    if (!pc || EVP_PKEY_verify_init(pc) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) <= 0) {
        rc = sa_fail("OpenSSL set-up failed");
        goto out;
    }
    if (EVP_PKEY_verify(pc, sig, siglen, dg, sizeof dg) != 1) {
        rc = sa_fail("the signature %s does not match %s under %s", sigpath, file,
                     s->cert_path);
        goto out;
    }
    printf("OK\n");
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_CTX_free(pc);
    EVP_PKEY_free(pub);
    free(sig);
    X509_STORE_CTX_free(xc);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(cert);
    return rc;
}

static void sa_show(const char *what, const char *path, int is_cert)
{
    X509 *x = is_cert ? sa_read_cert(path) : NULL;
    int present = access(path, F_OK) == 0;

    printf("%-12s %s%s\n", what, path, present ? "" : " (missing)");
    if (x) {
        char sub[256], iss[256];
        unsigned char md[32];
        unsigned mdl = 0;

        X509_NAME_oneline(X509_get_subject_name(x), sub, sizeof sub);
        X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof iss);
        printf("             subject %s, issuer %s\n", sub, iss);
        if (X509_digest(x, EVP_sha256(), md, &mdl) && mdl == 32) {
            printf("             sha256 ");
            for (unsigned i = 0; i < mdl; i++)
                printf("%02x", md[i]);
            printf("\n");
        }
        X509_free(x);
    }
}

static int cmd_cert(struct sa *s)
{
    sa_show("sealed key:", s->key_path, 0);
    sa_show("CA (token):", s->ca_path, 1);
    sa_show("certificate:", s->cert_path, 1);
    return 0;
}

static double sa_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_bench(struct sa *s, double secs, int batch)
{
    static unsigned char dg[SIGACCEL_MAX_DIGESTS * SIGACCEL_DIGEST_LEN];
    static unsigned char out[SIGACCEL_SIGN_OUT_MAX];
    unsigned long sigs = 0;
    double t0, t;

    if (RAND_bytes(dg, sizeof dg) != 1 || sa_start(s, 0)) {
        sa_stop(s);
        return 1;
    }
    t0 = sa_now();
    do {
        size_t olen = sizeof out, siglen;
        const unsigned char *sig;
        int r = sa_rpc(s, SIGACCEL_PROC_SIGN, dg, (size_t)batch * SIGACCEL_DIGEST_LEN, out,
                       &olen);

        if (r != batch) {
            sa_stop(s);
            if (r < 0) {
                sa_refused(SIGACCEL_PROC_SIGN, r);
                return 1;
            }
            sa_err("the TRE returned %d signatures for %d digests", r, batch);
            return 1;
        }
        if (sigs == 0 && sa_unpack_sig(s, out, olen, dg, &sig, &siglen)) {
            sa_stop(s);
            sa_err("the TRE's signature does not verify");
            return 1;
        }
        sigs += (unsigned long)batch;
        t = sa_now() - t0;
    } while (t < secs);
    sa_stop(s);
    printf("%.0f signatures/s\n", (double)sigs / t);
    return 0;
}

/* ---- the command line ---- */

static const char sa_usage_text[] =
    "usage: sigaccel [--state DIR] [--image IMAGE] [--sig SIG] COMMAND ...\n"
    "  the signature accelerator: a fast ECDSA P-256 key inside a TRE program, certified\n"
    "  once by the tamper-resistant token's key \"sig\" (docs/sigaccel.md)\n"
    "commands:\n"
    "  init                         start the TRE program, unseal (or make) the fast key,\n"
    "                               store its sealed blob, fetch and write both certificates\n"
    "  sign FILE [-o OUT]           sign SHA-256(FILE) in the TRE (OUT: default FILE.sig,\n"
    "                               DER ECDSA); initialises implicitly\n"
    "  verify FILE SIG              check SIG over FILE with cert.pem, and cert.pem's chain\n"
    "                               to ca.pem, locally; prints OK (exit 0) or FAIL (exit 1)\n"
    "  cert                         print the state files' paths and the certificates\n"
    "  bench [--seconds S] [--batch B]   signatures per second through the TRE\n"
    "                               (default 2 s, 16 digests a call, at most 64)\n"
    "options:\n"
    "  --state DIR   key.sealed, ca.pem, cert.pem (default $SIGACCEL_STATE, else\n"
    "                $HOME/.sigaccel)\n"
    "  --image PATH  the signed TRE image (default $SIGACCEL_IMAGE, else\n"
    "                " SA_DEFAULT_IMAGE ")\n"
    "  --sig PATH    its minisign signature (default IMAGE.minisig)\n"
    "trevisor is reached through libtre: TREVISOR_SOCKET (a Unix socket path in hosted\n"
    "mode, vsock:2 in the user environment). Hosted mode isolates the TRE program from\n"
    "the applications that call it, not from the host's root.\n";

static int sa_usage(FILE *f, const char *cmd)
{
    if (cmd && !strcmp(cmd, "init"))
        fprintf(f, "usage: sigaccel [--state DIR] [--image P] [--sig P] init\n");
    else if (cmd && !strcmp(cmd, "sign"))
        fprintf(f, "usage: sigaccel [--state DIR] [--image P] [--sig P] sign FILE [-o OUT]\n");
    else if (cmd && !strcmp(cmd, "verify"))
        fprintf(f, "usage: sigaccel [--state DIR] verify FILE SIG\n"
                   "  prints OK (exit 0) or FAIL: reason (exit 1)\n");
    else if (cmd && !strcmp(cmd, "cert"))
        fprintf(f, "usage: sigaccel [--state DIR] cert\n");
    else if (cmd && !strcmp(cmd, "bench"))
        fprintf(f, "usage: sigaccel [--state DIR] [--image P] [--sig P] bench "
                   "[--seconds S] [--batch B]\n  prints \"N signatures/s\"\n");
    else
        fputs(sa_usage_text, f);
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    static struct sa s = { .desc = -1 };
    const char *pos[4] = { 0 }, *outpath = NULL, *env;
    char statebuf[4096];
    double secs = 2;
    int npos = 0, batch = 16, help = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = 1;
        } else if (!strcmp(a, "--state") && more) {
            s.state = argv[++i];
        } else if (!strcmp(a, "--image") && more) {
            s.image = argv[++i];
        } else if (!strcmp(a, "--sig") && more) {
            s.sig = argv[++i];
        } else if (!strcmp(a, "-o") && more) {
            outpath = argv[++i];
        } else if (!strcmp(a, "--seconds") && more) {
            secs = atof(argv[++i]);
            if (!(secs > 0 && secs <= 3600)) {
                sa_err("--seconds: 0 < S <= 3600");
                return 2;
            }
        } else if (!strcmp(a, "--batch") && more) {
            batch = atoi(argv[++i]);
            if (batch < 1 || batch > SIGACCEL_MAX_DIGESTS) {
                sa_err("--batch: 1..%d", SIGACCEL_MAX_DIGESTS);
                return 2;
            }
        } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
            sa_err("unknown option %s (try --help)", a);
            return 2;
        } else if (npos < 4) {
            pos[npos++] = a;
        } else {
            sa_err("too many arguments (try --help)");
            return 2;
        }
    }
    if (help)
        return sa_usage(stdout, pos[0]);
    if (!pos[0])
        return sa_usage(stderr, NULL);

    if (!s.state) {
        env = getenv("SIGACCEL_STATE");
        if (env && *env) {
            s.state = env;
        } else if ((env = getenv("HOME")) && *env) {
            snprintf(statebuf, sizeof statebuf, "%s/.sigaccel", env);
            s.state = statebuf;
        } else {
            sa_err("no state directory: give --state DIR, or set SIGACCEL_STATE or HOME");
            return 2;
        }
    }
    if (!s.image) {
        env = getenv("SIGACCEL_IMAGE");
        s.image = env && *env ? env : SA_DEFAULT_IMAGE;
    }
    if (!s.sig) {
        snprintf(s.sigbuf, sizeof s.sigbuf, "%s.minisig", s.image);
        s.sig = s.sigbuf;
    }
    if (strlen(s.state) > 3000) {
        sa_err("state directory path too long");
        return 2;
    }
    snprintf(s.key_path, sizeof s.key_path, "%s/key.sealed", s.state);
    snprintf(s.ca_path, sizeof s.ca_path, "%s/ca.pem", s.state);
    snprintf(s.cert_path, sizeof s.cert_path, "%s/cert.pem", s.state);

    if (!strcmp(pos[0], "init") && npos == 1)
        return cmd_init(&s);
    if (!strcmp(pos[0], "sign") && npos == 2)
        return cmd_sign(&s, pos[1], outpath);
    if (!strcmp(pos[0], "verify") && npos == 3)
        return cmd_verify(&s, pos[1], pos[2]);
    if (!strcmp(pos[0], "cert") && npos == 1)
        return cmd_cert(&s);
    if (!strcmp(pos[0], "bench") && npos == 1)
        return cmd_bench(&s, secs, batch);
    if (strcmp(pos[0], "init") && strcmp(pos[0], "sign") && strcmp(pos[0], "verify") &&
        strcmp(pos[0], "cert") && strcmp(pos[0], "bench")) {
        sa_err("unknown command '%s' (try --help)", pos[0]);
        return 2;
    }
    return sa_usage(stderr, pos[0]);
}
