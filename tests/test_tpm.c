/* tests/test_tpm.c — the TPM backend against a real swtpm started in a temporary state
 * directory: PCR extend replayed with OpenSSL, refused PCRs, the attestation key kept
 * across reopen, a quote checked with OpenSSL and with tpm2_checkquote, a swtpm killed
 * mid-run, the device backend (a pty with swtpm behind it), and the "none" backend. Skips (saying so) when swtpm is not installed. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>

#include "check.h"
#include "tmpdir.h"
#include "ptytpm.h"
#include "measure/tpm.h"
#include "util/log.h"





/* ECDSA-P256/SHA-256 over msg, signature as the marshalled TPMT_SIGNATURE. */
static int openssl_verify(const uint8_t *der, size_t der_len, const uint8_t *msg,
                          size_t msg_len, const uint8_t *sigb, size_t sig_len)
{
    TPMT_SIGNATURE s;
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigb, sig_len, &off, &s) != 0 || off != sig_len)
        return -1;
    if (s.sigAlg != TPM2_ALG_ECDSA || s.signature.ecdsa.hash != TPM2_ALG_SHA256)
        return -2;
    const unsigned char *p = der;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)der_len);
    if (!pk)
        return -3;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(s.signature.ecdsa.signatureR.buffer, s.signature.ecdsa.signatureR.size, NULL);
    BIGNUM *ss = BN_bin2bn(s.signature.ecdsa.signatureS.buffer, s.signature.ecdsa.signatureS.size, NULL);
    ECDSA_SIG_set0(es, r, ss);
    unsigned char *dsig = NULL;
    int dlen = i2d_ECDSA_SIG(es, &dsig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
             EVP_DigestVerify(md, dsig, (size_t)dlen, msg, msg_len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(dsig);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok ? 0 : -4;
}

static void test_extend_replay(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed (apt-get install swtpm swtpm-tools)");
    char *dir = new_state_dir_tagged("tpm");
    CHECK(dir != NULL);
    if (!dir)
        return;
    struct tpm *t = NULL;
    char err[256] = "";
    int r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    if (r < 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(tpm_kind_of(t), TPM_SWTPM);
        uint8_t expect[32] = {0}, got[32];
        CHECK_EQ(tpm_pcr_read(t, 15, got), 0);
        CHECK(memcmp(got, expect, 32) == 0);
        for (int i = 0; i < 2; i++) {
            uint8_t d[32], buf[64];
            SHA256((const uint8_t *)(i ? "second" : "first"), i ? 6 : 5, d);
            CHECK_EQ(tpm_pcr_extend(t, 15, d), 0);
            memcpy(buf, expect, 32);
            memcpy(buf + 32, d, 32);
            SHA256(buf, 64, expect);
            CHECK_EQ(tpm_pcr_read(t, 15, got), 0);
            CHECK(memcmp(got, expect, 32) == 0);
        }
        uint8_t d[32] = {1};
        CHECK_EQ(tpm_pcr_extend(t, 16, d), -EPERM);
        CHECK(strstr(tpm_last_error(t), "16") != NULL);
        CHECK_EQ(tpm_pcr_extend(t, 23, d), -EPERM);
        CHECK_EQ(tpm_pcr_extend(t, 24, d), -EINVAL);
        CHECK_EQ(tpm_pcr_read(t, 99, got), -EINVAL);
        /* other PCRs untouched */
        CHECK_EQ(tpm_pcr_read(t, 14, got), 0);
        CHECK(memcmp(got, (uint8_t[32]){0}, 32) == 0);
        tpm_close(t);
        /* the child is gone after close */
    }
    rm_rf(dir);
    free(dir);
}

static void test_ak_persistent(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("tpm");
    if (!dir) { CHECK(0); return; }
    struct tpm *t = NULL;
    char err[256] = "";
    uint8_t der1[TPM_AK_DER_MAX], der2[TPM_AK_DER_MAX];
    size_t l1 = sizeof der1, l2 = sizeof der2;
    int r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    if (r < 0) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(tpm_ak_public(t, der1, &l1), 0);
        CHECK_EQ(l1, 91);
        size_t small = 10;
        CHECK_EQ(tpm_ak_public(t, der1 + 0, &small), -ENOBUFS);
        tpm_close(t);
        char p[600];
        snprintf(p, sizeof p, "%s/ak.pub", dir);
        CHECK(access(p, F_OK) == 0);
        snprintf(p, sizeof p, "%s/ak.priv", dir);
        CHECK(access(p, F_OK) == 0);
    }
    t = NULL;
    r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    if (r < 0) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(tpm_ak_public(t, der2, &l2), 0);
        CHECK_EQ(l2, l1);
        CHECK(memcmp(der1, der2, l1) == 0);
        /* and it parses as a P-256 key */
        const unsigned char *pp = der2;
        EVP_PKEY *pk = d2i_PUBKEY(NULL, &pp, (long)l2);
        CHECK(pk != NULL);
        if (pk) {
            CHECK_EQ(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
            CHECK_EQ(EVP_PKEY_get_bits(pk), 256);
        }
        EVP_PKEY_free(pk);
        tpm_close(t);
    }
    /* a fresh state dir gives a different key */
    char *dir2 = new_state_dir_tagged("tpm");
    if (dir2) {
        r = tpm_open(TPM_SWTPM, dir2, &t, err, sizeof err);
        CHECK_EQ(r, 0);
        if (r == 0) {
            l2 = sizeof der2;
            CHECK_EQ(tpm_ak_public(t, der2, &l2), 0);
            CHECK(memcmp(der1, der2, l1) != 0);
            tpm_close(t);
        }
        rm_rf(dir2);
        free(dir2);
    }
    rm_rf(dir);
    free(dir);
}

static void test_quote(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("tpm");
    if (!dir) { CHECK(0); return; }
    struct tpm *t = NULL;
    char err[256] = "";
    int r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    if (r < 0) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    if (r != 0) { rm_rf(dir); free(dir); return; }

    uint8_t d[32], pcr[32], der[TPM_AK_DER_MAX];
    size_t der_len = sizeof der;
    SHA256((const uint8_t *)"measured", 8, d);
    CHECK_EQ(tpm_pcr_extend(t, 15, d), 0);
    CHECK_EQ(tpm_pcr_read(t, 15, pcr), 0);
    CHECK_EQ(tpm_ak_public(t, der, &der_len), 0);

    uint8_t nonce[TPM_QUAL_MAX];
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(i * 7 + 3);
    uint8_t attest[TPM_ATTEST_MAX], sig[TPM_SIG_MAX];
    size_t alen = sizeof attest, slen = sizeof sig;
    r = tpm_quote(t, 15, nonce, sizeof nonce, attest, &alen, sig, &slen, err, sizeof err);
    if (r < 0) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);

    /* too much qualifying data, a PCR that does not exist */
    uint8_t big[65] = {0};
    size_t a2 = sizeof attest, s2 = sizeof sig;
    CHECK_EQ(tpm_quote(t, 15, big, sizeof big, attest, &a2, sig, &s2, err, sizeof err), -EINVAL);
    a2 = sizeof attest; s2 = sizeof sig;
    CHECK_EQ(tpm_quote(t, 24, nonce, 8, attest, &a2, sig, &s2, err, sizeof err), -EINVAL);

    if (r == 0) {
        /* the attest structure: a quote over PCR 15 with our nonce and the PCR digest */
        TPMS_ATTEST a;
        size_t off = 0;
        CHECK_EQ(Tss2_MU_TPMS_ATTEST_Unmarshal(attest, alen, &off, &a), 0);
        CHECK_EQ(off, alen);
        CHECK_EQ(a.magic, TPM2_GENERATED_VALUE);
        CHECK_EQ(a.type, TPM2_ST_ATTEST_QUOTE);
        CHECK_EQ(a.extraData.size, sizeof nonce);
        CHECK(memcmp(a.extraData.buffer, nonce, sizeof nonce) == 0);
        TPML_PCR_SELECTION *ps = &a.attested.quote.pcrSelect;
        CHECK_EQ(ps->count, 1);
        CHECK_EQ(ps->pcrSelections[0].hash, TPM2_ALG_SHA256);
        CHECK_EQ(ps->pcrSelections[0].pcrSelect[1], 0x80);
        uint8_t pd[32];
        SHA256(pcr, 32, pd);
        CHECK_EQ(a.attested.quote.pcrDigest.size, 32);
        CHECK(memcmp(a.attested.quote.pcrDigest.buffer, pd, 32) == 0);

        /* the signature, with OpenSSL */
        CHECK_EQ(openssl_verify(der, der_len, attest, alen, sig, slen), 0);
        uint8_t bad[TPM_ATTEST_MAX];
        memcpy(bad, attest, alen);
        bad[alen - 1] ^= 1;
        CHECK(openssl_verify(der, der_len, bad, alen, sig, slen) != 0);

        /* and with tpm2_checkquote */
        CHECK_EQ(tpm_save_quote_files(dir, 15, pcr, der, der_len, attest, alen, sig, slen,
                                      nonce, sizeof nonce, err, sizeof err), 0);
        if (!have_prog("tpm2_checkquote")) {
            printf("  (tpm2_checkquote not installed: interop not checked)\n");
        } else {
            char nh[2 * sizeof nonce + 1], cmd[2048];
            hex(nonce, sizeof nonce, nh);
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
                     "-f quote.pcrs -l sha256:15 -g sha256 -q %s >checkquote.out 2>&1",
                     dir, nh);
            int st = system(cmd);
            if (st != 0) {
                snprintf(cmd, sizeof cmd, "cat '%s/checkquote.out' >&2", dir);
                if (system(cmd)) {}
            }
            CHECK_EQ(st, 0);
            /* the nonce in a file, as written by the helper */
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
                     "-f quote.pcrs -l \"$(cat quote.pcrlist)\" -q quote.qual >/dev/null 2>&1",
                     dir);
            CHECK_EQ(system(cmd), 0);
            /* a wrong nonce is refused */
            nh[0] = nh[0] == '0' ? '1' : '0';
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
                     "-f quote.pcrs -l sha256:15 -q %s >/dev/null 2>&1", dir, nh);
            CHECK(system(cmd) != 0);
            /* a wrong PCR value is refused */
            uint8_t wrong[32];
            memcpy(wrong, pcr, 32);
            wrong[0] ^= 1;
            CHECK_EQ(tpm_save_quote_files(dir, 15, wrong, der, der_len, attest, alen, sig,
                                          slen, nonce, sizeof nonce, err, sizeof err), 0);
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
                     "-f quote.pcrs -l sha256:15 -q quote.qual >/dev/null 2>&1", dir);
            CHECK(system(cmd) != 0);
        }
    }
    /* a quote with no qualifying data works too */
    alen = sizeof attest; slen = sizeof sig;
    CHECK_EQ(tpm_quote(t, 15, NULL, 0, attest, &alen, sig, &slen, err, sizeof err), 0);
    CHECK_EQ(openssl_verify(der, der_len, attest, alen, sig, slen), 0);
    tpm_close(t);
    rm_rf(dir);
    free(dir);
}

static void test_swtpm_killed(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("tpm");
    if (!dir) { CHECK(0); return; }
    struct tpm *t = NULL;
    char err[256] = "";
    int r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r != 0) { rm_rf(dir); free(dir); return; }
    uint8_t d[32] = {7}, der1[TPM_AK_DER_MAX], der2[TPM_AK_DER_MAX];
    size_t l1 = sizeof der1, l2 = sizeof der2;
    CHECK_EQ(tpm_ak_public(t, der1, &l1), 0);
    CHECK_EQ(tpm_pcr_extend(t, 15, d), 0);
    pid_t pid = tpm_swtpm_pid(t);
    CHECK(pid > 0);
    if (pid > 0) {
        CHECK_EQ(kill(pid, SIGKILL), 0);
        usleep(100000);
    }
    /* each operation fails cleanly, with a message naming the cause */
    r = tpm_pcr_extend(t, 15, d);
    CHECK_EQ(r, -EIO);
    fprintf(stderr, "  (expected) %s\n", tpm_last_error(t));
    CHECK(strstr(tpm_last_error(t), "swtpm") != NULL);
    uint8_t v[32];
    CHECK_EQ(tpm_pcr_read(t, 15, v), -EIO);
    uint8_t attest[TPM_ATTEST_MAX], sig[TPM_SIG_MAX];
    size_t alen = sizeof attest, slen = sizeof sig;
    err[0] = 0;
    CHECK_EQ(tpm_quote(t, 15, d, 8, attest, &alen, sig, &slen, err, sizeof err), -EIO);
    CHECK(err[0] != 0);
    tpm_close(t);

    /* a swtpm dying without the backend noticing first: the TSS error path */
    t = NULL;
    r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    if (r < 0) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        /* the AK survived the crash */
        CHECK_EQ(tpm_ak_public(t, der2, &l2), 0);
        CHECK(l1 == l2 && memcmp(der1, der2, l1) == 0);
        pid = tpm_swtpm_pid(t);
        /* stop it and reap it ourselves behind the backend's back is not possible (it is
         * our child), so kill and race: the call sees either the exit or an I/O error */
        kill(pid, SIGKILL);
        r = tpm_pcr_extend(t, 15, d);
        CHECK(r == -EIO);
        fprintf(stderr, "  (expected) %s\n", tpm_last_error(t));
        tpm_close(t);
    }
    rm_rf(dir);
    free(dir);
}

/* Two users of one state directory, and a TPM whose state was replaced under the AK. */
static void test_state_dir_conflicts(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("tpm");
    if (!dir) { CHECK(0); return; }
    struct tpm *t = NULL, *t2 = NULL;
    char err[256] = "";
    int r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t2, err, sizeof err), -EBUSY);
        CHECK(t2 == NULL);
        uint8_t d[32] = {3}, v[32];
        CHECK_EQ(tpm_pcr_extend(t, 15, d), 0);   /* the first one is unharmed */
        CHECK_EQ(tpm_pcr_read(t, 15, v), 0);
        tpm_close(t);
    }
    /* a new TPM (fresh owner seed) cannot load the old AK: refused, not silently replaced */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/swtpm/tpm2-*", dir);
    CHECK_EQ(system(cmd), 0);
    t = NULL;
    r = tpm_open(TPM_SWTPM, dir, &t, err, sizeof err);
    CHECK(r < 0);
    CHECK(t == NULL);
    CHECK(strstr(err, "replaced") != NULL);
    fprintf(stderr, "  (expected) %s\n", err);
    rm_rf(dir);
    free(dir);
}

static void test_none(void)
{
    struct tpm *t = NULL;
    char err[256] = "";
    tlog_set_quiet(1);
    CHECK_EQ(tpm_open(TPM_NONE, NULL, &t, err, sizeof err), 0);
    tlog_set_quiet(0);
    if (!t)
        return;
    uint8_t d[32] = {0}, v[32];
    CHECK_EQ(tpm_kind_of(t), TPM_NONE);
    CHECK_EQ(tpm_pcr_extend(t, 15, d), -ENODEV);
    CHECK_EQ(tpm_pcr_read(t, 15, v), -ENODEV);
    uint8_t der[TPM_AK_DER_MAX], attest[TPM_ATTEST_MAX], sig[TPM_SIG_MAX];
    size_t dl = sizeof der, alen = sizeof attest, slen = sizeof sig;
    CHECK_EQ(tpm_ak_public(t, der, &dl), -ENODEV);
    CHECK_EQ(tpm_quote(t, 15, d, 8, attest, &alen, sig, &slen, err, sizeof err), -ENODEV);
    CHECK(strstr(err, "none") != NULL);
    tpm_close(t);
    tpm_close(NULL);
}

/* --tpm DEVICE: the TSS's device TCTI on a character device, here a pty with swtpm
 * behind it (tests/ptytpm.h): extend, read, the AK kept in the state directory across a
 * reopen, a quote that OpenSSL verifies, and the TPM going away mid-run. */
static void test_device_backend(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("tpmdev");
    if (!dir) { CHECK(0); return; }
    char tpmdir[600], state[600], err[256] = "";
    snprintf(tpmdir, sizeof tpmdir, "%s/tpm", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    struct ptytpm p;
    struct tpm *t = NULL;
    CHECK_EQ(ptytpm_start(&p, tpmdir), 0);
    int r = tpm_open_device(p.path, state, &t, err, sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    CHECK_EQ(r, 0);
    uint8_t d[32], v[32], want[32], both[64] = { 0 }, der1[TPM_AK_DER_MAX], der2[TPM_AK_DER_MAX];
    size_t l1 = sizeof der1, l2 = sizeof der2;
    if (r == 0) {
        CHECK_EQ(tpm_kind_of(t), TPM_DEVICE);
        SHA256((const uint8_t *)"device event", 12, d);
        CHECK_EQ(tpm_pcr_read(t, 15, v), 0);
        memcpy(both, v, 32);
        memcpy(both + 32, d, 32);
        SHA256(both, 64, want);
        CHECK_EQ(tpm_pcr_extend(t, 15, d), 0);
        CHECK_EQ(tpm_pcr_read(t, 15, v), 0);
        CHECK(memcmp(v, want, 32) == 0);
        CHECK_EQ(tpm_ak_public(t, der1, &l1), 0);
        uint8_t attest[TPM_ATTEST_MAX], sig[TPM_SIG_MAX], qual[8] = "devquote";
        size_t alen = sizeof attest, slen = sizeof sig;
        CHECK_EQ(tpm_quote(t, 15, qual, sizeof qual, attest, &alen, sig, &slen, err,
                           sizeof err), 0);
        CHECK_EQ(openssl_verify(der1, l1, attest, alen, sig, slen), 0);
        tpm_close(t);
        t = NULL;
    }
    /* the AK is kept in the state directory: a reopen loads the same key */
    r = tpm_open_device(p.path, state, &t, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(tpm_ak_public(t, der2, &l2), 0);
        CHECK(l1 == l2 && memcmp(der1, der2, l1) == 0);
        /* the TPM goes away: a clear error, no crash */
        ptytpm_stop(&p);
        r = tpm_pcr_extend(t, 15, d);
        CHECK(r < 0);
        fprintf(stderr, "  (expected) %s\n", tpm_last_error(t));
        CHECK(tpm_last_error(t)[0] != 0);
        tpm_close(t);
    }
    ptytpm_stop(&p);
    /* and a device that is no TPM at all is refused at open */
    r = tpm_open_device("/dev/null", state, &t, err, sizeof err);
    CHECK(r < 0);
    fprintf(stderr, "  (expected) %s\n", err);
    rm_rf(dir);
    free(dir);
}

static void test_bad_args(void)
{
    struct tpm *t = (struct tpm *)1;
    char err[256] = "";
    CHECK_EQ(tpm_open(TPM_SWTPM, NULL, &t, err, sizeof err), -EINVAL);
    CHECK(t == NULL);
    CHECK(err[0] != 0);
    CHECK(tpm_open(TPM_DEVICE, "/nonexistent/tpmrm9", &t, err, sizeof err) < 0);
    CHECK(strstr(err, "/nonexistent/tpmrm9") != NULL);
}

int main(void)
{
    TEST(test_extend_replay);
    TEST(test_ak_persistent);
    TEST(test_quote);
    TEST(test_swtpm_killed);
    TEST(test_state_dir_conflicts);
    TEST(test_none);
    TEST(test_device_backend);
    TEST(test_bad_args);
    TEST_EXIT();
}
