/* fuzz/fuzz_quote.c — libFuzzer target for the quote bundle decoder and the verifier
 * (measure/quote.c), fed untrusted bytes. Invariants: nothing crashes, leaks or reads out
 * of bounds; every refusal is one of the documented codes with a one-line message; a
 * decoded bundle is canonical (encoding it gives back exactly the input) with every field
 * in its bounds. Since a mutated attest almost never carries a valid signature, each
 * decodable input is also re-signed with the target's own P-256 key and verified with
 * that key pinned, so the checks after the signature (TPMS_ATTEST, qualifying data, event
 * log, replay, policy, instance) see fuzzed bytes too. An untrusted bundle (--tpm none)
 * is refused unless allowed, and when allowed its verdict is marked; the fields after the
 * shape see fuzzed bytes that way. Seeds: fuzz/corpus/quote (written
 * by tests/test_quote.c with TREVISOR_QUOTE_SEED_DIR; made with this target's nonce). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>

#include "measure/quote.h"
#include "measure/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/test_quote.c makes its seeds with this nonce */
static const uint8_t fuzz_nonce[16] = "trevisor fuzzing";
static const char fuzz_policy[] =
    "trevisor-policy v1\n"
    "SELF 303da2309555f31f99eb63cd81a1c09e13cdb0376725a44927a328a401ccd30a\n"
    "CONFIG b5055bbce60154a69168d5c6fe9144cf478e1538f7f9a01bb3be188e757b14e0\n";

static EVP_PKEY *fuzz_key;
static uint8_t fuzz_ak[TPM_AK_DER_MAX];
static size_t fuzz_ak_len;

static int verdict_code_ok(int rc)
{
    return rc == 0 || rc == -EBADMSG || rc == -EKEYREJECTED || rc == -ESTALE ||
           rc == -EILSEQ || rc == -EACCES || rc == -ENOMEM || rc == -ENOKEY;
}

static void check_err(int rc, const char *err, size_t errlen)
{
    if (!memchr(err, '\0', errlen) || (rc < 0 && err[0] == '\0') || strchr(err, '\n'))
        abort();
}

static int key_init(void)
{
    if (fuzz_key)
        return 0;
    fuzz_key = EVP_EC_gen("P-256");
    if (!fuzz_key)
        return -1;
    int n = i2d_PUBKEY(fuzz_key, NULL);
    if (n <= 0 || (size_t)n > sizeof fuzz_ak)
        abort();
    unsigned char *p = fuzz_ak;
    i2d_PUBKEY(fuzz_key, &p);
    fuzz_ak_len = (size_t)n;
    return 0;
}

/* ECDSA P-256/SHA-256 over msg, as a marshalled TPMT_SIGNATURE. */
static int resign(const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
    uint8_t dg[32], der[80];
    size_t dlen = sizeof der, off = 0;
    int r = -1;
    SHA256(msg, len, dg);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(fuzz_key, NULL);
    if (!pc || EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_sign(pc, der, &dlen, dg, 32) != 1) {
        EVP_PKEY_CTX_free(pc);
        return -1;
    }
    EVP_PKEY_CTX_free(pc);
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!es)
        return -1;
    TPMT_SIGNATURE ts;
    memset(&ts, 0, sizeof ts);
    ts.sigAlg = TPM2_ALG_ECDSA;
    ts.signature.ecdsa.hash = TPM2_ALG_SHA256;
    ts.signature.ecdsa.signatureR.size = 32;
    ts.signature.ecdsa.signatureS.size = 32;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es), ts.signature.ecdsa.signatureR.buffer, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(es), ts.signature.ecdsa.signatureS.buffer, 32) == 32 &&
        Tss2_MU_TPMT_SIGNATURE_Marshal(&ts, sig, *sig_len, &off) == TSS2_RC_SUCCESS) {
        *sig_len = off;
        r = 0;
    }
    ECDSA_SIG_free(es);
    return r;
}

static void verify_resigned(const struct quote_bundle *b)
{
    uint8_t sig[TPM_SIG_MAX];
    size_t sig_len = sizeof sig;
    char err[256];
    struct quote_verdict v;

    if (key_init() < 0 || resign(b->attest, b->attest_len, sig, &sig_len) < 0)
        return;
    struct quote_bundle r = *b;
    r.untrusted = 0;
    r.sig = sig; r.sig_len = sig_len;
    r.ak_der = fuzz_ak; r.ak_der_len = fuzz_ak_len;
    long n = quote_bundle_encode(&r, NULL, 0);
    if (n <= 0)
        abort();                            /* it decoded, so it encodes */
    uint8_t *buf = malloc((size_t)n);
    if (!buf)
        return;
    if (quote_bundle_encode(&r, buf, (size_t)n) != n)
        abort();
    for (int pass = 0; pass < 2; pass++) {
        struct quote_verify_opts o = {
            .nonce = fuzz_nonce, .nonce_len = sizeof fuzz_nonce,
            .ak_der = fuzz_ak, .ak_der_len = fuzz_ak_len,
            .policy = pass ? fuzz_policy : NULL, .policy_len = pass ? strlen(fuzz_policy) : 0,
        };
        int rc = quote_verify(buf, (size_t)n, &o, &v, err, sizeof err);
        check_err(rc, err, sizeof err);
        if (!verdict_code_ok(rc) || rc == -EKEYREJECTED)
            abort();                        /* our own key and a fresh signature */
        if (rc == 0 && !v.ak_pinned)
            abort();
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct quote_bundle b;
    struct quote_verdict v;
    char err[256];

    if (size > QUOTE_BUNDLE_MAX)
        return 0;
    /* a private copy of exactly size bytes, so ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    int rc = quote_bundle_decode(buf, size, &b, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        int shape = b.untrusted ? b.attest_len == 32 && b.sig_len == 0 && b.ak_der_len == 0
                                : b.sig_len >= 1 && b.ak_der_len >= 1;
        if (!shape || b.attest_len < 1 || b.attest_len > TPM_ATTEST_MAX ||
            b.sig_len > TPM_SIG_MAX || b.ak_der_len > TPM_AK_DER_MAX ||
            b.report_len > QUOTE_REPORT_MAX || b.eventlog_len < 1 ||
            b.pcr > 23 || b.pcr == 16 || b.pcr == 23)
            abort();
        if (b.attest < buf || b.eventlog + b.eventlog_len > (const char *)buf + size)
            abort();
        uint8_t *again = malloc(size);
        if (!again || quote_bundle_encode(&b, again, size) != (long)size ||
            memcmp(again, buf, size) != 0)
            abort();                        /* decoded bundles are canonical */
        free(again);
    } else if (rc != -EBADMSG) {
        abort();
    }

    /* as it is, with the fixed nonce, unpinned */
    struct quote_verify_opts o = { .nonce = fuzz_nonce, .nonce_len = sizeof fuzz_nonce };
    int vr = quote_verify(buf, size, &o, &v, err, sizeof err);
    check_err(vr, err, sizeof err);
    if (!verdict_code_ok(vr) || (rc != 0 && vr != -EBADMSG) || (vr == 0 && v.ak_pinned))
        abort();
    if (rc == 0 && b.untrusted != (vr == -ENOKEY))
        abort();                            /* untrusted: refused by default, and only it */

    if (rc == 0 && b.untrusted) {
        /* allowed: every other check applies, and the verdict says untrusted */
        o.allow_untrusted = 1;
        vr = quote_verify(buf, size, &o, &v, err, sizeof err);
        check_err(vr, err, sizeof err);
        if (!verdict_code_ok(vr) || vr == -ENOKEY || vr == -EKEYREJECTED || !v.untrusted)
            abort();
    } else if (rc == 0) {
        verify_resigned(&b);
    }
    free(buf);
    return 0;
}
