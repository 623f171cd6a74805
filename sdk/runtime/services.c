/* sdk/runtime/services.c — the SDK's wrappers of the TRE services (abi.h): each packs its
 * request into a stack buffer and makes one doorbell call. Freestanding: no libc, no
 * syscalls; requests over the stack buffer's size are refused with -E2BIG. */
#include "trevisor/tre.h"

#define SVC_E2BIG 7
#define SVC_STACK_REQ 4096 /* label + small data inline; larger data need no copy */

long tre_svc_call(long nr, const void *req, size_t req_len, void *out, size_t out_cap)
{
    return tre_doorbell(nr, (long)(uintptr_t)req, (long)req_len, (long)(uintptr_t)out,
                        (long)out_cap, 0);
}

static void svc_copy(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = s[i];
}

static size_t svc_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

long tre_random(void *out, size_t len)
{
    return tre_svc_call(TRE_SVC_RANDOM, 0, 0, out, len);
}

long tre_quote(const void *nonce, size_t nonce_len, const void *report, size_t report_len,
               void *out, size_t out_cap)
{
    uint8_t req[sizeof(struct tre_quote_req) + TRE_REPORT_MAX];
    if (nonce_len > TRE_NONCE_MAX || report_len > TRE_REPORT_MAX)
        return -SVC_E2BIG;
    struct tre_quote_req h = { .nonce_len = (uint32_t)nonce_len };
    svc_copy(h.nonce, nonce, nonce_len);
    svc_copy(req, &h, sizeof h);
    svc_copy(req + sizeof h, report, report_len);
    return tre_svc_call(TRE_SVC_QUOTE, req, sizeof h + report_len, out, out_cap);
}

long tre_seal(const void *data, size_t len, void *blob, size_t cap)
{
    return tre_svc_call(TRE_SVC_SEAL, data, len, blob, cap);
}

long tre_unseal(const void *blob, size_t len, void *data, size_t cap)
{
    return tre_svc_call(TRE_SVC_UNSEAL, blob, len, data, cap);
}

long tre_token_list(void *out, size_t cap)
{
    return tre_svc_call(TRE_SVC_TOKEN_LIST, 0, 0, out, cap);
}

/* tre_token_req + label + data, in one stack buffer */
static long svc_token(long nr, const char *label, unsigned mech, const void *data,
                      size_t len, void *out, size_t cap)
{
    uint8_t req[SVC_STACK_REQ];
    size_t ll = svc_strlen(label);
    if (ll > TRE_TOKEN_LABEL_MAX || sizeof(struct tre_token_req) + ll + len > sizeof req)
        return -SVC_E2BIG;
    struct tre_token_req h = { .mech = mech, .label_len = (uint32_t)ll };
    svc_copy(req, &h, sizeof h);
    svc_copy(req + sizeof h, label, ll);
    svc_copy(req + sizeof h + ll, data, len);
    return tre_svc_call(nr, req, sizeof h + ll + len, out, cap);
}

long tre_token_pubkey(const char *label, void *der, size_t cap)
{
    return svc_token(TRE_SVC_TOKEN_PUBKEY, label, 0, 0, 0, der, cap);
}

long tre_token_sign(const char *label, unsigned mech, const void *data, size_t len,
                    void *sig, size_t cap)
{
    return svc_token(TRE_SVC_TOKEN_SIGN, label, mech, data, len, sig, cap);
}

long tre_token_decrypt(const char *label, unsigned mech, const void *in, size_t len,
                       void *out, size_t cap)
{
    return svc_token(TRE_SVC_TOKEN_DECRYPT, label, mech, in, len, out, cap);
}

long tre_token_random(void *out, size_t len)
{
    return tre_svc_call(TRE_SVC_TOKEN_RANDOM, 0, 0, out, len);
}
