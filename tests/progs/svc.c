/* tests/progs/svc.c — a TRE program that exposes every TRE service as an RPC procedure,
 * for the services, attestation, sealing and token tests. Built several times with other
 * names and security versions (SVC_NAME, SVC_SVN, SVC_CAPS; tests/tests.mk). Freestanding:
 * it uses nothing but the SDK. Each procedure returns the service's own result. */
#include "trevisor/tre.h"

#ifndef SVC_NAME
#define SVC_NAME "svc"
#endif
#ifndef SVC_SVN
#define SVC_SVN "1"
#endif
#ifndef SVC_CAPS
#define SVC_CAPS "\0cap=token:sig"
#endif

TRE_MANIFEST("name=" SVC_NAME "\0version=1\0svn=" SVC_SVN "\0mem=4M\0window=256K" SVC_CAPS);

enum {
    SVC_QUOTE, SVC_SEAL, SVC_UNSEAL, SVC_RANDOM, SVC_TOKEN_SIGN, SVC_TOKEN_PUBKEY,
    SVC_TOKEN_LIST, SVC_TOKEN_SIGN_LABEL, SVC_BAD_POINTER, SVC_TOKEN_RANDOM,
};

/* arguments first, then one result */
static int svc_handler(int msgcode, int proc, struct msgbuf *buf, int n)
{
    (void)msgcode;
    if (n < 1 || buf[n - 1].rw != 1)
        return -TRE_EINVAL;
    struct msgbuf *res = &buf[n - 1];
    long r;
    switch (proc) {
    case SVC_QUOTE:
        if (n != 3)
            return -TRE_EINVAL;
        r = tre_quote(buf[0].base, buf[0].len, buf[1].base, buf[1].len, res->base, res->len);
        break;
    case SVC_SEAL:
        r = n == 2 ? tre_seal(buf[0].base, buf[0].len, res->base, res->len) : -TRE_EINVAL;
        break;
    case SVC_UNSEAL:
        r = n == 2 ? tre_unseal(buf[0].base, buf[0].len, res->base, res->len) : -TRE_EINVAL;
        break;
    case SVC_RANDOM:
        r = tre_random(res->base, res->len);
        break;
    case SVC_TOKEN_SIGN:
        r = n == 2 ? tre_token_sign("sig", TRE_TOKEN_ECDSA_SHA256, buf[0].base, buf[0].len,
                                    res->base, res->len)
                   : -TRE_EINVAL;
        break;
    case SVC_TOKEN_PUBKEY:
        r = tre_token_pubkey("sig", res->base, res->len);
        break;
    case SVC_TOKEN_LIST:
        r = tre_token_list(res->base, res->len);
        break;
    case SVC_TOKEN_SIGN_LABEL: { /* args: label (NUL-terminated), mechanism (1 byte), data */
        if (n != 4 || buf[0].len < 2 || ((char *)buf[0].base)[buf[0].len - 1] || buf[1].len != 1)
            return -TRE_EINVAL;
        r = tre_token_sign(buf[0].base, *(uint8_t *)buf[1].base, buf[2].base, buf[2].len,
                           res->base, res->len);
        break;
    }
    case SVC_BAD_POINTER: /* a reply buffer in no memory of the program's: it must end */
        r = tre_svc_call(TRE_SVC_RANDOM, 0, 0, (void *)0x8000, 16);
        break;
    case SVC_TOKEN_RANDOM:
        r = tre_token_random(res->base, res->len);
        break;
    default:
        return -TRE_ENOSYS;
    }
    res->len = r > 0 ? (unsigned)r : 0;
    return (int)r;
}

int main(void)
{
    return tre_serve(svc_handler);
}
