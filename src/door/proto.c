/* door/proto.c — the one codec of the TRE wire protocol (include/trevisor/proto.h, API in
 * door/proto.h): the server decodes requests and encodes replies with it, libtre the other
 * way round. It owns byte order, every length check against the payload and the limits,
 * and the canonical form of each message. It must never allocate, never trust a length
 * before checking it (overflow-safe), never read past a payload or write past an output
 * buffer, and never lay a host struct over wire bytes. Decoded buffers are views into the
 * caller's payload. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "door/le.h"
#include "door/proto.h"

#define PROTO_EXEC_REQ_FIXED   8u                               /* image_len, sig_len */
#define PROTO_RPC_REQ_FIXED    12u                              /* desc, proc, nargs, nres */
#define PROTO_EXEC_REPLY_FIXED (4u + TRE_PROTO_EXEC_INFO_SIZE + 4u)  /* status, info, msg_len */
#define PROTO_RPC_REPLY_FIXED  8u                               /* status, nresults, pad */
#define PROTO_ERROR_FIXED      8u                               /* status, msg_len */

/* Sums n u32 lengths into *total; -EMSGSIZE when the sum passes max (or would overflow). */
static int proto_sum(const uint32_t *lens, unsigned n, uint64_t max, uint64_t *total)
{
    uint64_t t = 0;

    for (unsigned i = 0; i < n; i++)
        if (__builtin_add_overflow(t, (uint64_t)lens[i], &t) || t > max)
            return -EMSGSIZE;
    *total = t;
    return 0;
}

/* Size of a whole message with `fixed` + 4 * nlens + data payload bytes, or SIZE_MAX. */
static size_t proto_msg_size(size_t fixed, unsigned nlens, uint64_t data)
{
    size_t s, l;

    if (__builtin_mul_overflow((size_t)nlens, (size_t)4, &l) ||
        __builtin_add_overflow(l, fixed + TRE_PROTO_HDR_SIZE, &s) ||
        data > SIZE_MAX || __builtin_add_overflow(s, (size_t)data, &s))
        return SIZE_MAX;
    return s;
}

/* Checks a message of `size` bytes against the payload limit and the output buffer. */
static int proto_fits(size_t size, size_t outlen)
{
    if (size == SIZE_MAX || size - TRE_PROTO_HDR_SIZE > TRE_PROTO_MAX_PAYLOAD || size > outlen)
        return -EMSGSIZE;
    return 0;
}

/* ---- header ---- */

int proto_hdr_decode(const uint8_t in[TRE_PROTO_HDR_SIZE], struct proto_hdr *h)
{
    if (proto_get32(in) != TRE_PROTO_MAGIC)
        return -EPROTO;
    if (proto_get16(in + 4) != TRE_PROTO_VERSION)
        return -EOPNOTSUPP;
    uint16_t op = proto_get16(in + 6);
    switch (op) {
    case TRE_OP_EXEC: case TRE_OP_RPC: case TRE_OP_CLOSE:
    case TRE_OP_EXEC | TRE_OP_REPLY: case TRE_OP_RPC | TRE_OP_REPLY:
    case TRE_OP_CLOSE | TRE_OP_REPLY: case TRE_OP_ERROR:
    case TRE_OP_ATTEST: case TRE_OP_ATTEST | TRE_OP_REPLY:
        break;
    default:
        return -EOPNOTSUPP;
    }
    uint32_t len = proto_get32(in + 12);
    if (len > TRE_PROTO_MAX_PAYLOAD)
        return -EMSGSIZE;
    h->op = op;
    h->id = proto_get32(in + 8);
    h->len = len;
    return 0;
}

void proto_hdr_encode(uint8_t out[TRE_PROTO_HDR_SIZE], uint16_t op, uint32_t id, uint32_t len)
{
    proto_put32(out, TRE_PROTO_MAGIC);
    proto_put16(out + 4, TRE_PROTO_VERSION);
    proto_put16(out + 6, op);
    proto_put32(out + 8, id);
    proto_put32(out + 12, len);
}

/* ---- requests ---- */

int proto_exec_req_decode(const uint8_t *p, size_t len, struct proto_exec_req *r)
{
    if (len < PROTO_EXEC_REQ_FIXED)
        return -EPROTO;
    uint32_t ilen = proto_get32(p), slen = proto_get32(p + 4);
    if (ilen > TRE_PROTO_MAX_IMAGE || slen > TRE_PROTO_MAX_SIG)
        return -EMSGSIZE;
    if (len != PROTO_EXEC_REQ_FIXED + (size_t)ilen + slen)  /* both bounded: no overflow */
        return -EPROTO;
    r->image = p + PROTO_EXEC_REQ_FIXED;
    r->image_len = ilen;
    r->sig = r->image + ilen;
    r->sig_len = slen;
    return 0;
}

int proto_rpc_req_decode(const uint8_t *p, size_t len, struct proto_rpc_req *r)
{
    if (len < PROTO_RPC_REQ_FIXED)
        return -EPROTO;
    unsigned nargs = proto_get16(p + 8), nres = proto_get16(p + 10);
    if (nargs + nres > TRE_PROTO_MAX_BUFS)      /* args and results share the limit */
        return -EMSGSIZE;
    size_t fixed = PROTO_RPC_REQ_FIXED + 4u * (nargs + nres);
    if (len < fixed)
        return -EPROTO;
    memset(r, 0, sizeof *r);
    for (unsigned i = 0; i < nargs; i++)
        r->arg_len[i] = proto_get32(p + PROTO_RPC_REQ_FIXED + 4u * i);
    for (unsigned k = 0; k < nres; k++)
        r->result_cap[k] = proto_get32(p + PROTO_RPC_REQ_FIXED + 4u * (nargs + k));
    uint64_t targs, tcaps;
    if (proto_sum(r->arg_len, nargs, TRE_PROTO_MAX_DATA, &targs) ||
        proto_sum(r->result_cap, nres, TRE_PROTO_MAX_DATA, &tcaps))
        return -EMSGSIZE;
    if (len - fixed != targs)
        return -EPROTO;
    r->desc = (int32_t)proto_get32(p);
    r->proc = (int32_t)proto_get32(p + 4);
    r->nargs = (uint16_t)nargs;
    r->nresults = (uint16_t)nres;
    size_t off = fixed;
    for (unsigned i = 0; i < nargs; i++) {
        r->arg[i] = p + off;
        off += r->arg_len[i];
    }
    return 0;
}

int proto_close_req_decode(const uint8_t *p, size_t len, int32_t *desc)
{
    if (len != 4)
        return -EPROTO;
    *desc = (int32_t)proto_get32(p);
    return 0;
}

long proto_exec_req_encode(uint8_t *out, size_t outlen, uint32_t id, const void *image,
                           uint32_t image_len, const void *sig, uint32_t sig_len)
{
    if (image_len > TRE_PROTO_MAX_IMAGE || sig_len > TRE_PROTO_MAX_SIG)
        return -EMSGSIZE;
    if ((image_len && !image) || (sig_len && !sig))
        return -EINVAL;
    size_t size = proto_exec_req_size(image_len, sig_len);
    if (proto_fits(size, outlen))
        return -EMSGSIZE;
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_hdr_encode(out, TRE_OP_EXEC, id, (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    proto_put32(p, image_len);
    proto_put32(p + 4, sig_len);
    if (image_len)
        memcpy(p + PROTO_EXEC_REQ_FIXED, image, image_len);
    if (sig_len)
        memcpy(p + PROTO_EXEC_REQ_FIXED + image_len, sig, sig_len);
    return (long)size;
}

long proto_rpc_req_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t desc, int32_t proc,
                          unsigned nargs, const void *const *args, const uint32_t *arg_len,
                          unsigned nresults, const uint32_t *result_cap)
{
    if (nargs > TRE_PROTO_MAX_BUFS || nresults > TRE_PROTO_MAX_BUFS - nargs)
        return -EMSGSIZE;
    if ((nargs && (!args || !arg_len)) || (nresults && !result_cap))
        return -EINVAL;
    uint64_t targs, tcaps;
    if (proto_sum(arg_len, nargs, TRE_PROTO_MAX_DATA, &targs) ||
        proto_sum(result_cap, nresults, TRE_PROTO_MAX_DATA, &tcaps))
        return -EMSGSIZE;
    for (unsigned i = 0; i < nargs; i++)
        if (arg_len[i] && !args[i])
            return -EINVAL;
    size_t size = proto_msg_size(PROTO_RPC_REQ_FIXED, nargs + nresults, targs);
    if (proto_fits(size, outlen))
        return -EMSGSIZE;
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_hdr_encode(out, TRE_OP_RPC, id, (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    proto_put32(p, (uint32_t)desc);
    proto_put32(p + 4, (uint32_t)proc);
    proto_put16(p + 8, (uint16_t)nargs);
    proto_put16(p + 10, (uint16_t)nresults);
    p += PROTO_RPC_REQ_FIXED;
    for (unsigned i = 0; i < nargs; i++, p += 4)
        proto_put32(p, arg_len[i]);
    for (unsigned k = 0; k < nresults; k++, p += 4)
        proto_put32(p, result_cap[k]);
    for (unsigned i = 0; i < nargs; i++) {
        if (arg_len[i])
            memcpy(p, args[i], arg_len[i]);
        p += arg_len[i];
    }
    return (long)size;
}

long proto_close_req_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t desc)
{
    if (outlen < TRE_PROTO_HDR_SIZE + 4)
        return -EMSGSIZE;
    proto_hdr_encode(out, TRE_OP_CLOSE, id, 4);
    proto_put32(out + TRE_PROTO_HDR_SIZE, (uint32_t)desc);
    return TRE_PROTO_HDR_SIZE + 4;
}

size_t proto_exec_req_size(uint32_t image_len, uint32_t sig_len)
{
    return proto_msg_size(PROTO_EXEC_REQ_FIXED, 0, (uint64_t)image_len + sig_len);
}

size_t proto_rpc_req_size(unsigned nargs, const uint32_t *arg_len, unsigned nresults)
{
    uint64_t t = 0;

    if (nargs > TRE_PROTO_MAX_BUFS || nresults > TRE_PROTO_MAX_BUFS - nargs ||
        (nargs && !arg_len))
        return SIZE_MAX;
    for (unsigned i = 0; i < nargs; i++)
        t += arg_len[i];        /* at most 16 * 2^32: no overflow in 64 bits */
    return proto_msg_size(PROTO_RPC_REQ_FIXED, nargs + nresults, t);
}

/* ---- replies ---- */

/* A NUL-padded text field: at least one NUL, and nothing but NULs after the first. */
static int proto_padded_ok(const uint8_t *b, size_t n)
{
    const uint8_t *z = memchr(b, 0, n);

    if (!z)
        return 0;
    for (; z < b + n; z++)
        if (*z)
            return 0;
    return 1;
}

static void proto_put_padded(uint8_t *b, const char *s, size_t n)
{
    size_t l = strnlen(s, n - 1);       /* always leaves a NUL */

    memcpy(b, s, l);
    memset(b + l, 0, n - l);
}

uint32_t proto_msg_len(const char *msg)
{
    uint32_t n = 0;

    while (msg && n < TRE_PROTO_MAX_MSG && msg[n] && msg[n] != '\n')
        n++;
    return n;
}

int proto_msg_ok(const uint8_t *m, uint32_t n)
{
    return !memchr(m, 0, n) && !memchr(m, '\n', n);
}

long proto_exec_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                             const struct tre_proto_exec_info *info, const char *msg)
{
    uint32_t mlen = proto_msg_len(msg);

    /* success carries the info and no text; failure carries text and a zero info */
    if (status >= 0 && (mlen || !info))
        return -EINVAL;
    size_t size = proto_msg_size(PROTO_EXEC_REPLY_FIXED, 0, mlen);
    if (proto_fits(size, outlen))
        return -EMSGSIZE;
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_hdr_encode(out, TRE_OP_EXEC | TRE_OP_REPLY, id, (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    proto_put32(p, (uint32_t)status);
    uint8_t *w = p + 4;
    memset(w, 0, TRE_PROTO_EXEC_INFO_SIZE);
    if (status >= 0) {
        proto_put_padded(w, info->name, sizeof info->name);
        proto_put32(w + 32, info->version);
        proto_put32(w + 36, info->svn);
        memcpy(w + 40, info->sha256, sizeof info->sha256);
        proto_put_padded(w + 72, info->keyid, sizeof info->keyid);
    }
    proto_put32(p + 4 + TRE_PROTO_EXEC_INFO_SIZE, mlen);
    if (mlen)
        memcpy(p + PROTO_EXEC_REPLY_FIXED, msg, mlen);
    return (long)size;
}

int proto_exec_reply_decode(const uint8_t *p, size_t len, struct proto_exec_reply *r)
{
    if (len < PROTO_EXEC_REPLY_FIXED)
        return -EPROTO;
    uint32_t mlen = proto_get32(p + 4 + TRE_PROTO_EXEC_INFO_SIZE);
    if (mlen > TRE_PROTO_MAX_MSG)
        return -EMSGSIZE;
    if (len != PROTO_EXEC_REPLY_FIXED + (size_t)mlen)
        return -EPROTO;
    int32_t status = (int32_t)proto_get32(p);
    const uint8_t *w = p + 4;
    if (!proto_msg_ok(p + PROTO_EXEC_REPLY_FIXED, mlen))
        return -EPROTO;
    if (status >= 0) {
        if (mlen || !proto_padded_ok(w, 32) || !proto_padded_ok(w + 72, 24))
            return -EPROTO;
    } else {
        for (unsigned i = 0; i < TRE_PROTO_EXEC_INFO_SIZE; i++)
            if (w[i])
                return -EPROTO;
    }
    memset(r, 0, sizeof *r);
    r->status = status;
    memcpy(r->info.name, w, 32);
    r->info.version = proto_get32(w + 32);
    r->info.svn = proto_get32(w + 36);
    memcpy(r->info.sha256, w + 40, 32);
    memcpy(r->info.keyid, w + 72, 24);
    r->msg = (const char *)(p + PROTO_EXEC_REPLY_FIXED);
    r->msg_len = mlen;
    return 0;
}

long proto_rpc_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                            unsigned nresults, const void *const *results,
                            const uint32_t *result_len)
{
    if (nresults > TRE_PROTO_MAX_BUFS)
        return -EMSGSIZE;
    if ((status < 0 && nresults) || (nresults && (!results || !result_len)))
        return -EINVAL;
    uint64_t total;
    if (proto_sum(result_len, nresults, TRE_PROTO_MAX_DATA, &total))
        return -EMSGSIZE;
    for (unsigned k = 0; k < nresults; k++)
        if (result_len[k] && !results[k])
            return -EINVAL;
    size_t size = proto_msg_size(PROTO_RPC_REPLY_FIXED, nresults, total);
    if (proto_fits(size, outlen))
        return -EMSGSIZE;
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_hdr_encode(out, TRE_OP_RPC | TRE_OP_REPLY, id, (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    proto_put32(p, (uint32_t)status);
    proto_put16(p + 4, (uint16_t)nresults);
    proto_put16(p + 6, 0);
    p += PROTO_RPC_REPLY_FIXED;
    for (unsigned k = 0; k < nresults; k++, p += 4)
        proto_put32(p, result_len[k]);
    for (unsigned k = 0; k < nresults; k++) {
        if (result_len[k])
            memcpy(p, results[k], result_len[k]);
        p += result_len[k];
    }
    return (long)size;
}

int proto_rpc_reply_decode(const uint8_t *p, size_t len, unsigned expect_nresults,
                           const uint32_t *result_cap, struct proto_rpc_reply *r)
{
    if (expect_nresults > TRE_PROTO_MAX_BUFS || (expect_nresults && !result_cap))
        return -EINVAL;
    if (len < PROTO_RPC_REPLY_FIXED)
        return -EPROTO;
    int32_t status = (int32_t)proto_get32(p);
    unsigned n = proto_get16(p + 4);
    if (n > TRE_PROTO_MAX_BUFS)
        return -EMSGSIZE;
    if (proto_get16(p + 6) != 0)
        return -EPROTO;
    /* results come with a status >= 0 only, and exactly as many as were asked for */
    if (n != (status < 0 ? 0 : expect_nresults))
        return -EPROTO;
    size_t fixed = PROTO_RPC_REPLY_FIXED + 4u * n;
    if (len < fixed)
        return -EPROTO;
    memset(r, 0, sizeof *r);
    for (unsigned k = 0; k < n; k++) {
        r->result_len[k] = proto_get32(p + PROTO_RPC_REPLY_FIXED + 4u * k);
        if (r->result_len[k] > result_cap[k])
            return -EPROTO;
    }
    uint64_t total;
    if (proto_sum(r->result_len, n, TRE_PROTO_MAX_DATA, &total))
        return -EMSGSIZE;
    if (len - fixed != total)
        return -EPROTO;
    r->status = status;
    r->nresults = (uint16_t)n;
    size_t off = fixed;
    for (unsigned k = 0; k < n; k++) {
        r->result[k] = p + off;
        off += r->result_len[k];
    }
    return 0;
}

long proto_close_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status)
{
    if (outlen < TRE_PROTO_HDR_SIZE + 4)
        return -EMSGSIZE;
    proto_hdr_encode(out, TRE_OP_CLOSE | TRE_OP_REPLY, id, 4);
    proto_put32(out + TRE_PROTO_HDR_SIZE, (uint32_t)status);
    return TRE_PROTO_HDR_SIZE + 4;
}

int proto_close_reply_decode(const uint8_t *p, size_t len, int32_t *status)
{
    if (len != 4)
        return -EPROTO;
    *status = (int32_t)proto_get32(p);
    return 0;
}

long proto_error_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                              const char *msg)
{
    uint32_t mlen = proto_msg_len(msg);

    if (status >= 0)
        return -EINVAL;
    size_t size = proto_msg_size(PROTO_ERROR_FIXED, 0, mlen);
    if (proto_fits(size, outlen))
        return -EMSGSIZE;
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_hdr_encode(out, TRE_OP_ERROR, id, (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    proto_put32(p, (uint32_t)status);
    proto_put32(p + 4, mlen);
    if (mlen)
        memcpy(p + PROTO_ERROR_FIXED, msg, mlen);
    return (long)size;
}

int proto_error_reply_decode(const uint8_t *p, size_t len, struct proto_error_reply *r)
{
    if (len < PROTO_ERROR_FIXED)
        return -EPROTO;
    int32_t status = (int32_t)proto_get32(p);
    uint32_t mlen = proto_get32(p + 4);
    if (mlen > TRE_PROTO_MAX_MSG)
        return -EMSGSIZE;
    if (len != PROTO_ERROR_FIXED + (size_t)mlen || status >= 0 ||
        !proto_msg_ok(p + PROTO_ERROR_FIXED, mlen))
        return -EPROTO;
    r->status = status;
    r->msg = (const char *)(p + PROTO_ERROR_FIXED);
    r->msg_len = mlen;
    return 0;
}

size_t proto_rpc_reply_size(unsigned nresults, const uint32_t *result_len)
{
    uint64_t t = 0;

    if (nresults > TRE_PROTO_MAX_BUFS || (nresults && !result_len))
        return SIZE_MAX;
    for (unsigned k = 0; k < nresults; k++)
        t += result_len[k];
    return proto_msg_size(PROTO_RPC_REPLY_FIXED, nresults, t);
}
