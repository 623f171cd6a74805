/* sdk/examples/ecdsa-sign/sign_client.c — the owner's side of `ecdsa-sign`: starts the
 * signer through libtre, hashes FILE with SHA-256, has the TRE sign the digest, and writes
 * the TRE's public key (PEM) and the signature (DER) so that `openssl dgst -sha256 -verify
 * PUB -signature SIG FILE` checks it. Usage: sign_client IMAGE FILE PUB.pem SIG.der */
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "trevisor/client.h"

static unsigned char *sc_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "sign_client: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int sc_fail(int desc, const char *what, int r)
{
    fprintf(stderr, "sign_client: %s: %s\n", what, tre_strerror(r));
    if (desc >= 0)
        vmmcall_tre_close(desc);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sign_client IMAGE FILE PUB.pem SIG.der\n");
        return 2;
    }
    char sigpath[4096];
    snprintf(sigpath, sizeof sigpath, "%s.minisig", argv[1]);
    size_t ilen, slen, mlen;
    unsigned char *img = sc_read(argv[1], &ilen), *sig = sc_read(sigpath, &slen);
    unsigned char *msg = sc_read(argv[2], &mlen);
    unsigned char digest[32], der[256], out[256];
    SHA256(msg, mlen, digest);

    int desc = vmmcall_tre_exec(img, ilen, sig, slen);
    if (desc < 0)
        return sc_fail(-1, "exec", desc);
    struct iovec pk[1] = { { der, sizeof der } };
    int r = vmmcall_tre_rpc(desc, 0, NULL, 0, pk, 1);
    if (r < 0)
        return sc_fail(desc, "public key", r);
    struct iovec a[1] = { { digest, sizeof digest } }, o[1] = { { out, sizeof out } };
    r = vmmcall_tre_rpc(desc, 1, a, 1, o, 1);
    if (r != 1 || o[0].iov_len < 2)
        return sc_fail(desc, "sign", r < 0 ? r : -71);
    vmmcall_tre_close(desc);

    /* proc 1 gives each signature as a 2-byte little-endian length and the DER bytes */
    size_t siglen = out[0] | (size_t)out[1] << 8;
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)pk[0].iov_len);
    FILE *fp = fopen(argv[3], "w"), *fs = fopen(argv[4], "wb");
    if (!key || siglen + 2 > o[0].iov_len || !fp || !fs || !PEM_write_PUBKEY(fp, key) ||
        fwrite(out + 2, 1, siglen, fs) != siglen) {
        fprintf(stderr, "sign_client: cannot write the key or the signature\n");
        return 1;
    }
    fclose(fp);
    fclose(fs);
    EVP_PKEY_free(key);
    printf("signed %s in TRE instance %d: %zu-byte ECDSA P-256 signature -> %s, key -> %s\n",
           argv[2], desc, siglen, argv[4], argv[3]);
    free(img), free(sig), free(msg);
    return 0;
}
