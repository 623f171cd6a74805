/* sdk/examples/ecdsa-sign/native_main.c — the native baseline of ecdsa-sign for the
 * benchmark: the same signing code called in-process, no TRE. Usage: BATCH SECONDS;
 * prints "<rate> signatures/s" after checking the first batch's signatures verify. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "signer.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Verifies every signature in out against the digests with the public key from proc 0. */
static int check_batch(const unsigned char *dg, int n, const unsigned char *out)
{
    unsigned char spki[256];
    struct msgbuf pb = { spki, sizeof(spki), 1 };
    const unsigned char *p = spki;
    EVP_PKEY *pub;
    EVP_PKEY_CTX *ctx;
    size_t off = 0;
    int ok = 1;

    if (signer_handler(TRE_MSG_CALL, 0, &pb, 1) <= 0)
        return 0;
    pub = d2i_PUBKEY(NULL, &p, pb.len);
    ctx = pub ? EVP_PKEY_CTX_new(pub, NULL) : NULL;
    if (!ctx || EVP_PKEY_verify_init(ctx) <= 0)
        ok = 0;
    for (int i = 0; ok && i < n; i++) {
        size_t len = out[off] | (size_t)out[off + 1] << 8;

        ok = EVP_PKEY_verify(ctx, out + off + 2, len, dg + 32 * i, 32) == 1;
        off += 2 + len;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return ok;
}

int main(int argc, char **argv)
{
    static unsigned char dg[SIGNER_MAX_DIGESTS * SIGNER_DIGEST_LEN];
    static unsigned char out[SIGNER_MAX_DIGESTS * (2 + SIGNER_MAX_SIG)];
    int batch = argc > 1 ? atoi(argv[1]) : 16;
    double secs = argc > 2 ? atof(argv[2]) : 1.0, t0, t;
    unsigned long sigs = 0;

    if (argc > 3 || batch < 1 || batch > SIGNER_MAX_DIGESTS || !(secs > 0)) {
        fprintf(stderr, "usage: ecdsa-sign-native [BATCH 1..%d] [SECONDS]\n",
                SIGNER_MAX_DIGESTS);
        return 2;
    }
    if (signer_init() != 0 || RAND_bytes(dg, sizeof(dg)) != 1) {
        fprintf(stderr, "ecdsa-sign-native: OpenSSL setup failed\n");
        return 1;
    }
    t0 = now();
    do {
        struct msgbuf b[2] = { { dg, (unsigned)batch * SIGNER_DIGEST_LEN, 0 },
                               { out, sizeof(out), 1 } };
        int rc = signer_handler(TRE_MSG_CALL, 1, b, 2);

        if (rc != batch) {
            fprintf(stderr, "ecdsa-sign-native: sign failed (%d)\n", rc);
            return 1;
        }
        if (sigs == 0 && !check_batch(dg, batch, out)) {
            fprintf(stderr, "ecdsa-sign-native: a signature does not verify\n");
            return 1;
        }
        sigs += (unsigned long)batch;
        t = now() - t0;
    } while (t < secs);
    printf("%.0f signatures/s\n", (double)sigs / t);
    return 0;
}
