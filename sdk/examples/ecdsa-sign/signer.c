/* sdk/examples/ecdsa-sign/signer.c — the signing code, built into both the TRE program and
 * the native baseline: an ECDSA P-256 key kept in the program's memory, the public key out
 * as DER, batches of pre-hashed digests signed with OpenSSL. The private key never leaves. */
#include "signer.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

static EVP_PKEY *signer_key;
static EVP_PKEY_CTX *signer_ctx;

/* OpenSSL's random generators reseed after a time interval, which costs a time() call
 * (one exit from a TRE instance) per signature. Reseeding by request count stays on. */
static void signer_no_time_reseed(EVP_RAND_CTX *drbg)
{
    time_t never = 0;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_time_t(OSSL_DRBG_PARAM_RESEED_TIME_INTERVAL, &never),
        OSSL_PARAM_construct_end(),
    };
    if (drbg)
        EVP_RAND_CTX_set_params(drbg, p);
}

int signer_init(void)
{
    signer_no_time_reseed(RAND_get0_primary(NULL));
    signer_no_time_reseed(RAND_get0_public(NULL));
    signer_no_time_reseed(RAND_get0_private(NULL));
    signer_key = EVP_EC_gen("P-256");
    if (!signer_key)
        return -1;
    signer_ctx = EVP_PKEY_CTX_new(signer_key, NULL);
    if (!signer_ctx || EVP_PKEY_sign_init(signer_ctx) <= 0)
        return -1;
    return 0;
}

static int signer_pubkey(struct msgbuf *out)
{
    unsigned char *p = out->base;
    int n = i2d_PUBKEY(signer_key, NULL);

    if (n <= 0)
        return -EIO;
    if ((unsigned)n > out->len)
        return -ENOSPC;
    if (i2d_PUBKEY(signer_key, &p) != n)
        return -EIO;
    out->len = (unsigned)n;
    return n;
}

static int signer_sign(const struct msgbuf *in, struct msgbuf *out)
{
    const unsigned char *dg = in->base;
    unsigned char *o = out->base;
    unsigned n = in->len / SIGNER_DIGEST_LEN, used = 0;

    if (in->len % SIGNER_DIGEST_LEN || n < 1 || n > SIGNER_MAX_DIGESTS)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++) {
        unsigned char sig[SIGNER_MAX_SIG + 8];
        size_t siglen = sizeof(sig);

        if (EVP_PKEY_sign(signer_ctx, sig, &siglen, dg + (size_t)i * SIGNER_DIGEST_LEN,
                          SIGNER_DIGEST_LEN) <= 0 || siglen > SIGNER_MAX_SIG)
            return -EIO;
        if (out->len - used < 2 + siglen)
            return -ENOSPC;
        o[used] = (unsigned char)siglen;
        o[used + 1] = (unsigned char)(siglen >> 8);
        memcpy(o + used + 2, sig, siglen);
        used += 2 + (unsigned)siglen;
    }
    out->len = used;
    return (int)n;
}

int signer_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt)
{
    (void)msgcode;
    switch (proc_number) {
    case 0:
        if (bufcnt != 1 || buf[0].rw != 1)
            return -EINVAL;
        return signer_pubkey(&buf[0]);
    case 1:
        if (bufcnt != 2 || buf[0].rw != 0 || buf[1].rw != 1)
            return -EINVAL;
        return signer_sign(&buf[0], &buf[1]);
    default:
        return -ENOSYS;
    }
}
