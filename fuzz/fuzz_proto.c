/* fuzz/fuzz_proto.c — libFuzzer target for the TRE wire protocol codec (src/door/proto.c,
 * src/door/proto_attest.c).
 * The input is a whole message: its first 16 bytes go to proto_hdr_decode, and the rest is
 * tried as the payload of every message type, whatever the header says. Whatever decodes
 * is encoded again into a buffer of exactly the needed size (and refused by one a byte
 * smaller): the bytes must equal the input (the decoders accept the canonical form only)
 * and decode to the same fields. It only calls the codec; it never allocates by a length
 * it read. Seeds: fuzz/corpus/proto (written by `build/tests/test_proto --write-corpus`).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE
 *        -Iinclude -Isrc fuzz/fuzz_proto.c src/door/proto.c src/door/proto_attest.c
 * Run:   ./a.out fuzz/corpus/proto -max_len=65536 -max_total_time=300 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "door/proto.h"

#define HDR TRE_PROTO_HDR_SIZE

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

static int fuzz_errno_ok(long r)
{
    return r == -EPROTO || r == -EOPNOTSUPP || r == -EMSGSIZE || r == -EINVAL;
}

/* The encoding in a buffer of exactly size bytes must equal want[0..size) (header op and
 * id included); a buffer one byte smaller must be refused. Returns the exact-size copy. */
typedef long (*fuzz_enc)(uint8_t *out, size_t outlen, const void *ctx);

static void fuzz_reencode(fuzz_enc enc, const void *ctx, const uint8_t *want, size_t size)
{
    uint8_t *small = malloc(size - 1), *out = malloc(size);

    fuzz_check(small && out);
    fuzz_check(enc(small, size - 1, ctx) == -EMSGSIZE);
    fuzz_check(enc(out, size, ctx) == (long)size);
    fuzz_check(memcmp(out, want, size) == 0);
    free(small);
    free(out);
}

/* ---- one encoder wrapper per message type, over the decoded fields ---- */

struct fuzz_msg {
    uint32_t id;
    const void *p;     /* the decoded struct */
};

static long fuzz_enc_exec_req(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_exec_req *r = m->p;
    return proto_exec_req_encode(out, outlen, m->id, r->image, r->image_len, r->sig, r->sig_len);
}

static long fuzz_enc_rpc_req(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_rpc_req *r = m->p;
    const void *args[TRE_PROTO_MAX_BUFS];
    for (unsigned i = 0; i < r->nargs; i++)
        args[i] = r->arg[i];
    return proto_rpc_req_encode(out, outlen, m->id, r->desc, r->proc, r->nargs, args,
                                r->arg_len, r->nresults, r->result_cap);
}

static long fuzz_enc_close_req(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    return proto_close_req_encode(out, outlen, m->id, *(const int32_t *)m->p);
}

/* The error text travels as a C string: give the encoder a NUL-terminated copy. */
static char fuzz_text[TRE_PROTO_MAX_MSG + 1];

static const char *fuzz_cstr(const char *msg, uint32_t len)
{
    fuzz_check(len <= TRE_PROTO_MAX_MSG);
    memcpy(fuzz_text, msg, len);
    fuzz_text[len] = 0;
    return fuzz_text;
}

static long fuzz_enc_exec_reply(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_exec_reply *r = m->p;
    return proto_exec_reply_encode(out, outlen, m->id, r->status, &r->info,
                                   fuzz_cstr(r->msg, r->msg_len));
}

static long fuzz_enc_rpc_reply(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_rpc_reply *r = m->p;
    const void *res[TRE_PROTO_MAX_BUFS];
    for (unsigned k = 0; k < r->nresults; k++)
        res[k] = r->result[k];
    return proto_rpc_reply_encode(out, outlen, m->id, r->status, r->nresults, res,
                                  r->result_len);
}

static long fuzz_enc_close_reply(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    return proto_close_reply_encode(out, outlen, m->id, *(const int32_t *)m->p);
}

static long fuzz_enc_error(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_error_reply *r = m->p;
    return proto_error_reply_encode(out, outlen, m->id, r->status,
                                    fuzz_cstr(r->msg, r->msg_len));
}

static long fuzz_enc_attest_req(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_attest_req *r = m->p;
    return proto_attest_req_encode(out, outlen, m->id, r->nonce, r->nonce_len, r->report,
                                   r->report_len);
}

static long fuzz_enc_attest_reply(uint8_t *out, size_t outlen, const void *ctx)
{
    const struct fuzz_msg *m = ctx;
    const struct proto_attest_reply *r = m->p;
    return proto_attest_reply_encode(out, outlen, m->id, r->status, r->bundle, r->bundle_len,
                                     fuzz_cstr(r->msg, r->msg_len));
}

/* ---- the target ---- */

static const uint8_t *fuzz_end;

static void fuzz_view(const void *v, uint32_t len, const uint8_t *p)
{
    const uint8_t *b = v;
    fuzz_check(len == 0 || (b >= p && b <= fuzz_end && len <= (size_t)(fuzz_end - b)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *msg;
    struct proto_hdr h;
    struct fuzz_msg m = { 0, NULL };
    int r;

    if (size < HDR)
        return 0;
    /* the header: a decoded one re-encodes to the same 16 bytes */
    r = proto_hdr_decode(data, &h);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        uint8_t again[HDR];
        proto_hdr_encode(again, h.op, h.id, h.len);
        fuzz_check(memcmp(again, data, HDR) == 0);
        fuzz_check(h.len <= TRE_PROTO_MAX_PAYLOAD);
    }
    m.id = (uint32_t)data[8] | (uint32_t)data[9] << 8 | (uint32_t)data[10] << 16 |
           (uint32_t)data[11] << 24;

    /* a message to compare re-encodings with: this header (op set per type), this payload */
    size_t plen = size - HDR;
    msg = malloc(size);
    fuzz_check(msg != NULL);
    memcpy(msg, data, size);
    const uint8_t *p = msg + HDR;
    fuzz_end = msg + size;
    msg[0] = 'T'; msg[1] = 'R'; msg[2] = 'E'; msg[3] = 'P'; msg[4] = TRE_PROTO_VERSION; msg[5] = 0;
    msg[12] = (uint8_t)plen; msg[13] = (uint8_t)(plen >> 8);
    msg[14] = (uint8_t)(plen >> 16); msg[15] = (uint8_t)(plen >> 24);
#define AS_OP(op) (msg[6] = (uint8_t)(op), msg[7] = (uint8_t)((op) >> 8))

    struct proto_exec_req er;
    r = proto_exec_req_decode(p, plen, &er);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_view(er.image, er.image_len, p);
        fuzz_view(er.sig, er.sig_len, p);
        fuzz_check(er.image_len <= TRE_PROTO_MAX_IMAGE && er.sig_len <= TRE_PROTO_MAX_SIG);
        fuzz_check(proto_exec_req_size(er.image_len, er.sig_len) == size);
        AS_OP(TRE_OP_EXEC);
        m.p = &er;
        fuzz_reencode(fuzz_enc_exec_req, &m, msg, size);
    }

    struct proto_rpc_req rq;
    r = proto_rpc_req_decode(p, plen, &rq);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_check(rq.nargs + rq.nresults <= TRE_PROTO_MAX_BUFS);
        uint64_t t = 0;
        for (unsigned i = 0; i < rq.nargs; i++) {
            fuzz_view(rq.arg[i], rq.arg_len[i], p);
            t += rq.arg_len[i];
        }
        fuzz_check(t <= TRE_PROTO_MAX_DATA);
        fuzz_check(proto_rpc_req_size(rq.nargs, rq.arg_len, rq.nresults) == size);
        AS_OP(TRE_OP_RPC);
        m.p = &rq;
        fuzz_reencode(fuzz_enc_rpc_req, &m, msg, size);
    }

    int32_t v;
    r = proto_close_req_decode(p, plen, &v);
    fuzz_check(r == 0 || r == -EPROTO);
    if (r == 0) {
        AS_OP(TRE_OP_CLOSE);
        m.p = &v;
        fuzz_reencode(fuzz_enc_close_req, &m, msg, size);
        AS_OP(TRE_OP_CLOSE | TRE_OP_REPLY);
        fuzz_check(proto_close_reply_decode(p, plen, &v) == 0);
        fuzz_reencode(fuzz_enc_close_reply, &m, msg, size);
    } else {
        fuzz_check(proto_close_reply_decode(p, plen, &v) == -EPROTO);
    }

    struct proto_exec_reply xr;
    r = proto_exec_reply_decode(p, plen, &xr);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_view(xr.msg, xr.msg_len, p);
        fuzz_check(memchr(xr.info.name, 0, sizeof xr.info.name) != NULL);
        fuzz_check(memchr(xr.info.keyid, 0, sizeof xr.info.keyid) != NULL);
        AS_OP(TRE_OP_EXEC | TRE_OP_REPLY);
        m.p = &xr;
        fuzz_reencode(fuzz_enc_exec_reply, &m, msg, size);
    }

    /* RPC reply: once expecting what it says with unlimited capacities (so well-formed
     * replies decode), once with an expectation and capacities taken from the id */
    uint32_t caps[TRE_PROTO_MAX_BUFS];
    for (unsigned k = 0; k < TRE_PROTO_MAX_BUFS; k++)
        caps[k] = UINT32_MAX;
    for (int pass = 0; pass < 2; pass++) {
        unsigned expect = plen >= 6 ? (unsigned)(p[4] | p[5] << 8) : 0;
        if (pass == 1) {
            expect = m.id % (TRE_PROTO_MAX_BUFS + 2);
            for (unsigned k = 0; k < TRE_PROTO_MAX_BUFS; k++)
                caps[k] = (m.id >> 8) & 0xfff;
        }
        if (expect > TRE_PROTO_MAX_BUFS + 1)
            expect = TRE_PROTO_MAX_BUFS + 1;
        struct proto_rpc_reply rr;
        r = proto_rpc_reply_decode(p, plen, expect, caps, &rr);
        fuzz_check(r == 0 || fuzz_errno_ok(r));
        if (expect > TRE_PROTO_MAX_BUFS)
            fuzz_check(r == -EINVAL);
        if (r != 0)
            continue;
        fuzz_check(rr.nresults == (rr.status < 0 ? 0 : expect));
        for (unsigned k = 0; k < rr.nresults; k++) {
            fuzz_view(rr.result[k], rr.result_len[k], p);
            fuzz_check(rr.result_len[k] <= caps[k]);
        }
        fuzz_check(proto_rpc_reply_size(rr.nresults, rr.result_len) == size);
        AS_OP(TRE_OP_RPC | TRE_OP_REPLY);
        m.p = &rr;
        fuzz_reencode(fuzz_enc_rpc_reply, &m, msg, size);
    }

    struct proto_error_reply xe;
    r = proto_error_reply_decode(p, plen, &xe);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_check(xe.status < 0);
        fuzz_view(xe.msg, xe.msg_len, p);
        AS_OP(TRE_OP_ERROR);
        m.p = &xe;
        fuzz_reencode(fuzz_enc_error, &m, msg, size);
    }
    struct proto_attest_req aq;
    r = proto_attest_req_decode(p, plen, &aq);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_view(aq.nonce, aq.nonce_len, p);
        fuzz_view(aq.report, aq.report_len, p);
        fuzz_check(aq.nonce_len >= 1 && aq.nonce_len <= TRE_PROTO_MAX_NONCE &&
                   aq.report_len <= TRE_PROTO_MAX_REPORT);
        AS_OP(TRE_OP_ATTEST);
        m.p = &aq;
        fuzz_reencode(fuzz_enc_attest_req, &m, msg, size);
    }

    struct proto_attest_reply ar;
    r = proto_attest_reply_decode(p, plen, &ar);
    fuzz_check(r == 0 || fuzz_errno_ok(r));
    if (r == 0) {
        fuzz_view(ar.bundle, ar.bundle_len, p);
        fuzz_view(ar.msg, ar.msg_len, p);
        fuzz_check(ar.status <= 0 && (ar.status == 0 || ar.bundle_len == 0));
        fuzz_check(proto_attest_reply_size(ar.bundle_len, ar.msg_len) == size);
        AS_OP(TRE_OP_ATTEST | TRE_OP_REPLY);
        m.p = &ar;
        fuzz_reencode(fuzz_enc_attest_reply, &m, msg, size);
    }
#undef AS_OP
    free(msg);
    return 0;
}
