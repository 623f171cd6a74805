/* bench/bench_trust.c — the figures of measured launch and attestation (issue 5): exec
 * with and without measurement, the cost of measuring a new image, quote latency beside
 * the TPM's own TPM2_Quote, and seal/unseal throughput through a TRE program beside the
 * same AES-256-GCM natively. A swtpm in a temporary state directory is the TPM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bench.h"
#include "measure/measured.h"
#include "measure/tpm.h"
#include "services/services.h"
#include "trevisor/engine.h"
#include "util/file.h"

enum { N = 200 };

static struct tre_engine *engine_with(struct tre_services *svc)
{
    struct tre_engine_config cfg = { .services = svc };
    struct tre_engine *e = NULL;
    char err[256], p[512], *pub;
    size_t len;
    if (tre_engine_new(&cfg, &e, err, sizeof err))
        return NULL;
    snprintf(p, sizeof p, "%s/vendor/demo.pub", build);
    if (!file_read_all(p, 1 << 16, &pub, &len)) {
        tre_engine_trust(e, pub, len, err, sizeof err);
        free(pub);
    }
    return e;
}

/* exec + close of m on engines a and b, alternately (so drift hits both alike): p50s */
static void exec_pair_p50(struct tre_engine *a, struct tre_engine *b, struct img *m,
                          double *pa, double *pb)
{
    static double ta[N / 4], tb[N / 4];
    for (int i = 0; i < N / 4; i++) {
        double t0 = now_us();
        tre_engine_close(a, exec_img(a, m));
        double t1 = now_us();
        tre_engine_close(b, exec_img(b, m));
        ta[i] = t1 - t0;
        tb[i] = now_us() - t1;
    }
    *pa = pct(ta, N / 4, .5);
    *pb = pct(tb, N / 4, .5);
}

/* AES-256-GCM over len bytes, natively: MB/s */
static double native_gcm(size_t len)
{
    uint8_t key[32], iv[12], tag[16];
    RAND_bytes(key, sizeof key);
    RAND_bytes(iv, sizeof iv);
    uint8_t *in = calloc(1, len), *out = malloc(len + 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ol;
    double t0 = now_us();
    while (now_us() - t0 < 1e6) {
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv);
        EVP_EncryptUpdate(c, out, &ol, in, (int)len);
        EVP_EncryptFinal_ex(c, out + ol, &ol);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
        n++;
    }
    double s = (now_us() - t0) / 1e6;
    EVP_CIPHER_CTX_free(c);
    free(in);
    free(out);
    return n * (double)len / s / 1e6;
}

void bench_trust(void)
{
    char dir[] = "/tmp/tv-bench-XXXXXX", err[512], cmd[256];
    if (!mkdtemp(dir))
        return;
    struct measured *m = NULL;
    struct measured_config mc = { .kind = TPM_SWTPM, .state_dir = dir };
    if (measured_open(&mc, &m, err, sizeof err) || measured_self(m, err, sizeof err) ||
        measured_end_launch(m, err, sizeof err)) {
        fprintf(stderr, "bench: no swtpm, skipping the measurement figures: %s\n", err);
        goto out;
    }
    struct services_config sc = { .measured = m };
    struct tre_services *svc = NULL;
    services_new(&sc, &svc);
    struct tre_engine *plain = engine(), *meas = engine_with(svc);
    struct img add_free, sv;
    img_load("add-free", &add_free);
    img_load("svc", &sv);

    /* exec with measurement (the image measured once, then looked up) vs without */
    double base, with;
    exec_pair_p50(plain, meas, &add_free, &base, &with); /* warm: caches, the first measure */
    exec_pair_p50(plain, meas, &add_free, &base, &with);
    add("exec of add-free, measured launch (image seen before) p50", with, "us",
        "exec of add-free, no measurement p50", base, "<=1.1");

    /* measuring a new image: the event, the PCR extend, the rollback record */
    static double t[N];
    for (int i = 0; i < N / 4; i++) {
        uint8_t sha[32], kid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, meas_h[32];
        RAND_bytes(sha, sizeof sha);
        char name[32];
        snprintf(name, sizeof name, "bench-%d", i);
        double a = now_us();
        measured_image(m, sha, kid, "name=x", 7, name, meas_h, err, sizeof err);
        measured_check_svn(m, kid, name, 1, err, sizeof err);
        t[i] = now_us() - a;
    }
    add("measuring a new TRE image (event + PCR extend + rollback record) p50", pct(t, N / 4, .5),
        "us", "exec of add-free, no measurement p50", base, "report");

    /* quote latency: the bundle vs the TPM's TPM2_Quote alone */
    uint8_t nonce[32] = { 7 }, zero[32] = { 0 };
    static double q[N], raw[N];
    struct tpm *tp = NULL;
    for (int i = 0; i < N / 4; i++) {
        uint8_t *b = NULL;
        size_t bl;
        double a = now_us();
        if (measured_quote(m, nonce, sizeof nonce, zero, NULL, 0, &b, &bl, err, sizeof err)) {
            fprintf(stderr, "bench: quote: %s\n", err);
            break;
        }
        q[i] = now_us() - a;
        free(b);
    }
    /* the raw quote, through a second TPM handle on the same swtpm is not possible (it
     * serves one client); measure it through a fresh swtpm instead */
    char dir2[] = "/tmp/tv-bench-XXXXXX";
    if (mkdtemp(dir2) && !tpm_open(TPM_SWTPM, dir2, &tp, err, sizeof err)) {
        uint8_t at[TPM_ATTEST_MAX], sg[TPM_SIG_MAX];
        for (int i = 0; i < N / 4; i++) {
            size_t al = sizeof at, sl = sizeof sg;
            double a = now_us();
            tpm_quote(tp, 15, nonce, 32, at, &al, sg, &sl, err, sizeof err);
            raw[i] = now_us() - a;
        }
        tpm_close(tp);
        add("quote bundle for `trevisor attest` (TPM2_Quote + log + AK) p50", pct(q, N / 4, .5),
            "us", "TPM2_Quote alone on swtpm p50", pct(raw, N / 4, .5), "<=2");
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir2);
    if (system(cmd))
        fprintf(stderr, "bench: cannot remove %s\n", dir2);

    /* seal / unseal throughput through a TRE program, 60 KiB a call */
    int d = exec_img(meas, &sv);
    enum { LEN = 60 * 1024 };
    static uint8_t data[LEN], blob[LEN + 128], back[LEN];
    memset(data, 0x5a, sizeof data);
    size_t blen = 0; /* the blob pass 0 made, which pass 1 opens */
    for (int pass = 0; pass < 2; pass++) {
        int n = 0;
        double t0 = now_us();
        while (now_us() - t0 < 1e6) {
            struct iovec a[1], r[1];
            if (pass == 0) {
                a[0] = (struct iovec){ data, LEN };
                r[0] = (struct iovec){ blob, sizeof blob };
            } else {
                a[0] = (struct iovec){ blob, blen };
                r[0] = (struct iovec){ back, sizeof back };
            }
            int st = tre_engine_rpc(meas, d, pass ? 2 : 1, a, 1, r, 1);
            if (st <= 0) {
                fprintf(stderr, "bench: %s failed: %d\n", pass ? "unseal" : "seal", st);
                break;
            }
            blen = pass ? blen : r[0].iov_len;
            n++;
        }
        double mbs = n * (double)LEN / ((now_us() - t0) / 1e6) / 1e6;
        add(pass ? "unseal through a TRE program, 60 KiB a call" :
                   "seal through a TRE program, 60 KiB a call", mbs, "MB/s",
            "AES-256-GCM of 60 KiB natively", native_gcm(LEN), "report");
        if (pass == 0 && !n)
            break;
    }
    tre_engine_close(meas, d);
    free(add_free.img), free(add_free.sig), free(sv.img), free(sv.sig);
    tre_engine_free(meas);
    tre_engine_free(plain);
    services_free(svc);
out:
    measured_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}
