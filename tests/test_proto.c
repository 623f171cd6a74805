/* tests/test_proto.c — the TRE wire protocol codec (src/door/proto.c): every message type
 * round-trips, byte for byte as docs/protocol.md shows; every refusal class (each limit,
 * each count, truncation at every byte, a trailing byte, bad magic/version/op, lengths
 * whose sum overflows, lying replies); encoders never write past their buffer.
 * `test_proto --write-corpus DIR` writes the fuzzer's seed corpus (fuzz/corpus/proto). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "door/proto.h"

#define HDR TRE_PROTO_HDR_SIZE
#define GUARD 0xa5

/* ---- helpers ---- */

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, (uint16_t)v);
    put16(b + 2, (uint16_t)(v >> 16));
}

/* A payload decoder under test, with its extra arguments fixed. */
typedef int (*dec_fn)(const uint8_t *p, size_t len);

static int dec_exec_req(const uint8_t *p, size_t len)
{
    struct proto_exec_req r;
    return proto_exec_req_decode(p, len, &r);
}

static int dec_rpc_req(const uint8_t *p, size_t len)
{
    struct proto_rpc_req r;
    return proto_rpc_req_decode(p, len, &r);
}

static int dec_close_req(const uint8_t *p, size_t len)
{
    int32_t d;
    return proto_close_req_decode(p, len, &d);
}

static int dec_exec_reply(const uint8_t *p, size_t len)
{
    struct proto_exec_reply r;
    return proto_exec_reply_decode(p, len, &r);
}

static const uint32_t add_caps[1] = { 4 };

static int dec_rpc_reply_add(const uint8_t *p, size_t len)     /* expects 1 result of <= 4 */
{
    struct proto_rpc_reply r;
    return proto_rpc_reply_decode(p, len, 1, add_caps, &r);
}

static int dec_close_reply(const uint8_t *p, size_t len)
{
    int32_t s;
    return proto_close_reply_decode(p, len, &s);
}

static int dec_error_reply(const uint8_t *p, size_t len)
{
    struct proto_error_reply r;
    return proto_error_reply_decode(p, len, &r);
}

/* Decodes an exact-size heap copy of p[0..len), so ASan sees any read past its end. */
static int dec_exact(dec_fn dec, const uint8_t *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    if (!c)
        abort();
    if (len)
        memcpy(c, p, len);
    int r = dec(c, len);
    free(c);
    return r;
}

/* A valid whole message msg[0..n): its header decodes to op and its payload decodes; every
 * shorter payload and one trailing byte are -EPROTO. */
static void check_frame(const uint8_t *msg, size_t n, uint16_t op, dec_fn dec)
{
    struct proto_hdr h;

    CHECK(n >= HDR);
    CHECK_EQ(proto_hdr_decode(msg, &h), 0);
    CHECK_EQ(h.op, op);
    CHECK_EQ(h.len, n - HDR);
    CHECK_EQ(dec_exact(dec, msg + HDR, n - HDR), 0);
    for (size_t cut = 0; cut < n - HDR; cut++) {
        int r = dec_exact(dec, msg + HDR, cut);
        if (r != -EPROTO)
            fprintf(stderr, "  op %#x cut at %zu: %d\n", op, cut, r);
        CHECK_EQ(r, -EPROTO);
    }
    uint8_t *longer = malloc(n - HDR + 1);
    memcpy(longer, msg + HDR, n - HDR);
    longer[n - HDR] = 0;
    CHECK_EQ(dec_exact(dec, longer, n - HDR + 1), -EPROTO);
    free(longer);
}

/* The encoder call enc(out, outlen) must refuse every outlen < its size without touching
 * out[outlen..], and succeed at exactly its size. */
typedef long (*enc_fn)(uint8_t *out, size_t outlen);

static void check_small_buffers(enc_fn enc, size_t size)
{
    uint8_t *buf = malloc(size + 8);

    for (size_t outlen = 0; outlen <= size; outlen++) {
        memset(buf, GUARD, size + 8);
        long r = enc(buf, outlen);
        CHECK_EQ(r, outlen < size ? -EMSGSIZE : (long)size);
        int touched = 0;
        for (size_t i = outlen; i < size + 8; i++)
            touched |= buf[i] != GUARD;
        if (touched)
            fprintf(stderr, "  outlen %zu: wrote past the buffer\n", outlen);
        CHECK(!touched);
    }
    free(buf);
}

/* ---- the add(40, 2) example of docs/protocol.md ---- */

static const uint8_t add_req_hex[48] = {
    0x54, 0x52, 0x45, 0x50, 0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
};
static const uint8_t add_reply_hex[32] = {
    0x54, 0x52, 0x45, 0x50, 0x01, 0x00, 0x02, 0x80, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00,
};
static const uint8_t le40[4] = { 40, 0, 0, 0 }, le2[4] = { 2, 0, 0, 0 }, le42[4] = { 42, 0, 0, 0 };

static long enc_add_req(uint8_t *out, size_t outlen)
{
    const void *args[2] = { le40, le2 };
    const uint32_t lens[2] = { 4, 4 };
    return proto_rpc_req_encode(out, outlen, 1, 0, 0, 2, args, lens, 1, add_caps);
}

static long enc_add_reply(uint8_t *out, size_t outlen)
{
    const void *res[1] = { le42 };
    const uint32_t lens[1] = { 4 };
    return proto_rpc_reply_encode(out, outlen, 1, 0, 1, res, lens);
}

static void test_add_example(void)
{
    uint8_t buf[64];
    const uint32_t lens[2] = { 4, 4 };

    CHECK_EQ(enc_add_req(buf, sizeof buf), sizeof add_req_hex);
    CHECK(memcmp(buf, add_req_hex, sizeof add_req_hex) == 0);
    CHECK_EQ(proto_rpc_req_size(2, lens, 1), sizeof add_req_hex);
    struct proto_rpc_req q;
    CHECK_EQ(proto_rpc_req_decode(add_req_hex + HDR, sizeof add_req_hex - HDR, &q), 0);
    CHECK_EQ(q.desc, 0);
    CHECK_EQ(q.proc, 0);
    CHECK_EQ(q.nargs, 2);
    CHECK_EQ(q.nresults, 1);
    CHECK(q.arg[0] == add_req_hex + 40 && q.arg[1] == add_req_hex + 44);
    CHECK_EQ(q.arg_len[0], 4);
    CHECK_EQ(q.arg_len[1], 4);
    CHECK_EQ(q.result_cap[0], 4);

    CHECK_EQ(enc_add_reply(buf, sizeof buf), sizeof add_reply_hex);
    CHECK(memcmp(buf, add_reply_hex, sizeof add_reply_hex) == 0);
    CHECK_EQ(proto_rpc_reply_size(1, add_caps), sizeof add_reply_hex);
    struct proto_rpc_reply y;
    CHECK_EQ(proto_rpc_reply_decode(add_reply_hex + HDR, sizeof add_reply_hex - HDR, 1, add_caps,
                                    &y), 0);
    CHECK_EQ(y.status, 0);
    CHECK_EQ(y.nresults, 1);
    CHECK_EQ(y.result_len[0], 4);
    CHECK(y.result[0] == add_reply_hex + 28);
}

/* ---- header ---- */

static void test_header(void)
{
    uint8_t b[HDR];
    struct proto_hdr h;
    static const uint8_t want[HDR] = { 'T', 'R', 'E', 'P', 1, 0, 0x03, 0x80, 0x78, 0x56, 0x34,
                                       0x12, 0x04, 0x03, 0x02, 0x01 };

    proto_hdr_encode(b, TRE_OP_CLOSE | TRE_OP_REPLY, 0x12345678, 0x01020304);
    CHECK(memcmp(b, want, HDR) == 0);
    CHECK_EQ(proto_hdr_decode(b, &h), 0);
    CHECK_EQ(h.op, TRE_OP_CLOSE | TRE_OP_REPLY);
    CHECK_EQ(h.id, 0x12345678);
    CHECK_EQ(h.len, 0x01020304);

    static const uint16_t good[] = { TRE_OP_EXEC, TRE_OP_RPC, TRE_OP_CLOSE,
                                     TRE_OP_EXEC | TRE_OP_REPLY, TRE_OP_RPC | TRE_OP_REPLY,
                                     TRE_OP_CLOSE | TRE_OP_REPLY, TRE_OP_ATTEST,
                                     TRE_OP_ATTEST | TRE_OP_REPLY, TRE_OP_ERROR };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        proto_hdr_encode(b, good[i], 7, 0);
        CHECK_EQ(proto_hdr_decode(b, &h), 0);
        CHECK_EQ(h.op, good[i]);
    }
    static const uint16_t bad[] = { 0, 5, 0xff, 0x8000, 0x8005, 0x80fe, 0x8100, 0x7fff, 0xffff,
                                    TRE_OP_EXEC | 0x100 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_hdr_encode(b, bad[i], 7, 0);
        CHECK_EQ(proto_hdr_decode(b, &h), -EOPNOTSUPP);
    }

    proto_hdr_encode(b, TRE_OP_EXEC, 1, TRE_PROTO_MAX_PAYLOAD);
    CHECK_EQ(proto_hdr_decode(b, &h), 0);
    proto_hdr_encode(b, TRE_OP_EXEC, 1, TRE_PROTO_MAX_PAYLOAD + 1);
    CHECK_EQ(proto_hdr_decode(b, &h), -EMSGSIZE);
    proto_hdr_encode(b, TRE_OP_EXEC, 1, UINT32_MAX);
    CHECK_EQ(proto_hdr_decode(b, &h), -EMSGSIZE);

    for (int i = 0; i < 4; i++) {           /* every magic byte counts */
        proto_hdr_encode(b, TRE_OP_EXEC, 1, 0);
        b[i] ^= 0x20;
        CHECK_EQ(proto_hdr_decode(b, &h), -EPROTO);
    }
    proto_hdr_encode(b, TRE_OP_EXEC, 1, 0);
    put32(b, 0x54524550);                   /* the magic big-endian */
    CHECK_EQ(proto_hdr_decode(b, &h), -EPROTO);
    static const uint16_t versions[] = { 0, 2, 0x100, 0xffff };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        proto_hdr_encode(b, TRE_OP_EXEC, 1, 0);
        put16(b + 4, versions[i]);
        CHECK_EQ(proto_hdr_decode(b, &h), -EOPNOTSUPP);
    }
}

/* ---- round trips and truncation, one message type at a time ---- */

static const uint8_t img[] = "\x7f" "ELF pretend image bytes";
static const char sig[] = "untrusted comment: sig\nRUQ...\ntrusted comment: t\nAAA...\n";

static long enc_exec_req(uint8_t *out, size_t outlen)
{
    return proto_exec_req_encode(out, outlen, 9, img, sizeof img, sig, sizeof sig - 1);
}

static void test_exec_req(void)
{
    uint8_t buf[256];
    size_t n = proto_exec_req_size(sizeof img, sizeof sig - 1);

    CHECK_EQ(n, HDR + 8 + sizeof img + sizeof sig - 1);
    CHECK_EQ(enc_exec_req(buf, sizeof buf), n);
    struct proto_exec_req r;
    CHECK_EQ(proto_exec_req_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.image_len, sizeof img);
    CHECK_EQ(r.sig_len, sizeof sig - 1);
    CHECK(r.image == buf + HDR + 8);
    CHECK(r.sig == buf + HDR + 8 + sizeof img);
    CHECK(memcmp(r.image, img, sizeof img) == 0);
    CHECK(memcmp(r.sig, sig, sizeof sig - 1) == 0);
    check_frame(buf, n, TRE_OP_EXEC, dec_exec_req);
    check_small_buffers(enc_exec_req, n);

    /* empty image and signature are well-formed (the engine refuses them, not the codec) */
    CHECK_EQ(proto_exec_req_encode(buf, sizeof buf, 1, NULL, 0, NULL, 0), HDR + 8);
    CHECK_EQ(proto_exec_req_decode(buf + HDR, 8, &r), 0);
    CHECK_EQ(r.image_len + r.sig_len, 0);
}

static uint8_t rpc_bufs[TRE_PROTO_MAX_BUFS][8];
static uint32_t rpc_lens[TRE_PROTO_MAX_BUFS];

static long enc_rpc_req(uint8_t *out, size_t outlen)    /* 10 args (sizes 0..7), 6 results */
{
    const void *args[10];
    uint32_t caps[6] = { 0, 1, 100, 4096, TRE_PROTO_MAX_DATA - 4197, 0 };

    for (int i = 0; i < 10; i++) {
        args[i] = rpc_bufs[i];
        rpc_lens[i] = (uint32_t)(i % 8);
        memset(rpc_bufs[i], 'a' + i, sizeof rpc_bufs[i]);
    }
    return proto_rpc_req_encode(out, outlen, 0xdeadbeef, -3, 77, 10, args, rpc_lens, 6, caps);
}

static void test_rpc_req(void)
{
    uint8_t buf[512];
    long n = enc_rpc_req(buf, sizeof buf);

    CHECK(n > 0);
    CHECK_EQ(proto_rpc_req_size(10, rpc_lens, 6), n);
    struct proto_rpc_req r;
    CHECK_EQ(proto_rpc_req_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.desc, -3);
    CHECK_EQ(r.proc, 77);
    CHECK_EQ(r.nargs, 10);
    CHECK_EQ(r.nresults, 6);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(r.arg_len[i], i % 8);
        CHECK(r.arg[i] >= buf + HDR && r.arg[i] + r.arg_len[i] <= buf + n);
        CHECK(memcmp(r.arg[i], rpc_bufs[i], r.arg_len[i]) == 0);
    }
    CHECK_EQ(r.result_cap[3], 4096);
    CHECK_EQ(r.result_cap[4], TRE_PROTO_MAX_DATA - 4197);  /* caps total exactly the limit */
    check_frame(buf, (size_t)n, TRE_OP_RPC, dec_rpc_req);
    check_small_buffers(enc_rpc_req, (size_t)n);

    /* no buffers at all; and 16 results, none argument */
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 1, 0, NULL, NULL, 0, NULL), HDR + 12);
    CHECK_EQ(proto_rpc_req_decode(buf + HDR, 12, &r), 0);
    CHECK_EQ(r.nargs + r.nresults, 0);
    uint32_t caps[TRE_PROTO_MAX_BUFS];
    for (int k = 0; k < TRE_PROTO_MAX_BUFS; k++)
        caps[k] = 1000;
    n = proto_rpc_req_encode(buf, sizeof buf, 1, 0, 1, 0, NULL, NULL, TRE_PROTO_MAX_BUFS, caps);
    CHECK_EQ(n, HDR + 12 + 4 * TRE_PROTO_MAX_BUFS);
    CHECK_EQ(proto_rpc_req_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.nresults, TRE_PROTO_MAX_BUFS);
}

static long enc_close_req(uint8_t *out, size_t outlen)
{
    return proto_close_req_encode(out, outlen, 5, 0x7ffffffe);
}

static long enc_close_reply(uint8_t *out, size_t outlen)
{
    return proto_close_reply_encode(out, outlen, 5, -EBADF);
}

static void test_close(void)
{
    uint8_t buf[32];
    int32_t v;

    CHECK_EQ(enc_close_req(buf, sizeof buf), HDR + 4);
    CHECK_EQ(proto_close_req_decode(buf + HDR, 4, &v), 0);
    CHECK_EQ(v, 0x7ffffffe);
    check_frame(buf, HDR + 4, TRE_OP_CLOSE, dec_close_req);
    check_small_buffers(enc_close_req, HDR + 4);

    CHECK_EQ(enc_close_reply(buf, sizeof buf), HDR + 4);
    CHECK_EQ(proto_close_reply_decode(buf + HDR, 4, &v), 0);
    CHECK_EQ(v, -EBADF);
    check_frame(buf, HDR + 4, TRE_OP_CLOSE | TRE_OP_REPLY, dec_close_reply);
    check_small_buffers(enc_close_reply, HDR + 4);
}

static struct tre_proto_exec_info test_info(void)
{
    struct tre_proto_exec_info in;

    memset(&in, 'X', sizeof in);            /* garbage after each NUL must not travel */
    strcpy(in.name, "add");
    in.version = 0x01020304;
    in.svn = 7;
    for (int i = 0; i < 32; i++)
        in.sha256[i] = (uint8_t)(0xa0 + i);
    strcpy(in.keyid, "941D0F15C208373");
    return in;
}

static long enc_exec_ok(uint8_t *out, size_t outlen)
{
    struct tre_proto_exec_info in = test_info();
    return proto_exec_reply_encode(out, outlen, 3, 4, &in, "");
}

static long enc_exec_fail(uint8_t *out, size_t outlen)
{
    struct tre_proto_exec_info in = test_info();     /* ignored: a failure carries zeros */
    return proto_exec_reply_encode(out, outlen, 3, -EKEYREJECTED, &in, "exec: untrusted key");
}

static void test_exec_reply(void)
{
    uint8_t buf[2048];
    struct proto_exec_reply r;
    size_t n = HDR + 4 + TRE_PROTO_EXEC_INFO_SIZE + 4;

    CHECK_EQ(enc_exec_ok(buf, sizeof buf), n);
    /* the info's wire layout: name[32], version, svn, sha256[32], keyid[24] */
    const uint8_t *w = buf + HDR + 4;
    CHECK(memcmp(w, "add\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32) == 0);
    CHECK(w[32] == 4 && w[33] == 3 && w[34] == 2 && w[35] == 1);
    CHECK(w[36] == 7 && w[37] == 0);
    CHECK(w[40] == 0xa0 && w[71] == 0xbf);
    CHECK(memcmp(w + 72, "941D0F15C208373\0\0\0\0\0\0\0\0", 24) == 0);
    CHECK_EQ(proto_exec_reply_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.status, 4);
    CHECK(strcmp(r.info.name, "add") == 0);
    CHECK(strcmp(r.info.keyid, "941D0F15C208373") == 0);
    CHECK_EQ(r.info.version, 0x01020304);
    CHECK_EQ(r.info.svn, 7);
    CHECK_EQ(r.info.sha256[31], 0xbf);
    CHECK_EQ(r.msg_len, 0);
    check_frame(buf, n, TRE_OP_EXEC | TRE_OP_REPLY, dec_exec_reply);
    check_small_buffers(enc_exec_ok, n);

    n += strlen("exec: untrusted key");
    CHECK_EQ(enc_exec_fail(buf, sizeof buf), n);
    CHECK_EQ(proto_exec_reply_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.status, -EKEYREJECTED);
    CHECK_EQ(r.info.name[0], 0);
    CHECK_EQ(r.msg_len, strlen("exec: untrusted key"));
    CHECK(memcmp(r.msg, "exec: untrusted key", r.msg_len) == 0);
    check_frame(buf, n, TRE_OP_EXEC | TRE_OP_REPLY, dec_exec_reply);
    check_small_buffers(enc_exec_fail, n);

    /* a 32-character name is cut to 31 so the field stays NUL-terminated */
    struct tre_proto_exec_info in = test_info();
    memset(in.name, 'n', sizeof in.name);
    memset(in.keyid, 'k', sizeof in.keyid);
    CHECK(proto_exec_reply_encode(buf, sizeof buf, 1, 0, &in, NULL) > 0);
    CHECK_EQ(proto_exec_reply_decode(buf + HDR, 104, &r), 0);
    CHECK_EQ(strlen(r.info.name), 31);
    CHECK_EQ(strlen(r.info.keyid), 23);

    /* misuse: success with a reason, success without info */
    CHECK_EQ(proto_exec_reply_encode(buf, sizeof buf, 1, 0, &in, "oops"), -EINVAL);
    CHECK_EQ(proto_exec_reply_encode(buf, sizeof buf, 1, 0, NULL, ""), -EINVAL);
    CHECK_EQ(proto_exec_reply_encode(buf, sizeof buf, 1, -EIO, NULL, "x"), HDR + 105);
}

static long enc_rpc_reply(uint8_t *out, size_t outlen)
{
    static const char a[] = "first", b[] = "second result";
    const void *res[3] = { a, NULL, b };
    const uint32_t lens[3] = { 5, 0, 13 };
    return proto_rpc_reply_encode(out, outlen, 44, 12345, 3, res, lens);
}

static int dec_rpc_reply3(const uint8_t *p, size_t len)
{
    static const uint32_t caps[3] = { 5, 0, 100 };
    struct proto_rpc_reply r;
    return proto_rpc_reply_decode(p, len, 3, caps, &r);
}

static long enc_rpc_reply_err(uint8_t *out, size_t outlen)
{
    return proto_rpc_reply_encode(out, outlen, 44, -ESRCH, 0, NULL, NULL);
}

static void test_rpc_reply(void)
{
    uint8_t buf[256];
    static const uint32_t caps[3] = { 5, 0, 100 };
    struct proto_rpc_reply r;
    long n = enc_rpc_reply(buf, sizeof buf);

    CHECK_EQ(n, HDR + 8 + 12 + 18);
    CHECK_EQ(proto_rpc_reply_decode(buf + HDR, n - HDR, 3, caps, &r), 0);
    CHECK_EQ(r.status, 12345);
    CHECK_EQ(r.nresults, 3);
    CHECK_EQ(r.result_len[0], 5);
    CHECK_EQ(r.result_len[1], 0);
    CHECK_EQ(r.result_len[2], 13);
    CHECK(memcmp(r.result[0], "first", 5) == 0);
    CHECK(memcmp(r.result[2], "second result", 13) == 0);
    CHECK(r.result[2] + 13 == buf + n);
    check_frame(buf, (size_t)n, TRE_OP_RPC | TRE_OP_REPLY, dec_rpc_reply3);
    check_small_buffers(enc_rpc_reply, (size_t)n);

    /* an engine error: no results, whatever was asked for */
    n = enc_rpc_reply_err(buf, sizeof buf);
    CHECK_EQ(n, HDR + 8);
    CHECK_EQ(proto_rpc_reply_decode(buf + HDR, 8, 3, caps, &r), 0);
    CHECK_EQ(r.status, -ESRCH);
    CHECK_EQ(r.nresults, 0);
    check_frame(buf, (size_t)n, TRE_OP_RPC | TRE_OP_REPLY, dec_rpc_reply_add);
    check_small_buffers(enc_rpc_reply_err, (size_t)n);

    /* the server's sizing: result capacities in, an upper bound out */
    CHECK_EQ(proto_rpc_reply_size(3, caps), HDR + 8 + 12 + 105);
    CHECK_EQ(proto_rpc_reply_size(TRE_PROTO_MAX_BUFS + 1, caps), SIZE_MAX);
    const void *res[1] = { "x" };
    const uint32_t one[1] = { 1 };
    CHECK_EQ(proto_rpc_reply_encode(buf, sizeof buf, 1, -1, 1, res, one), -EINVAL);
}

static long enc_error(uint8_t *out, size_t outlen)
{
    return proto_error_reply_encode(out, outlen, 0, -EPROTO, "bad frame header");
}

static void test_error_reply(void)
{
    uint8_t buf[2 * TRE_PROTO_MAX_MSG];
    struct proto_error_reply r;
    size_t n = HDR + 8 + strlen("bad frame header");

    CHECK_EQ(enc_error(buf, sizeof buf), n);
    CHECK_EQ(proto_error_reply_decode(buf + HDR, n - HDR, &r), 0);
    CHECK_EQ(r.status, -EPROTO);
    CHECK_EQ(r.msg_len, strlen("bad frame header"));
    CHECK(memcmp(r.msg, "bad frame header", r.msg_len) == 0);
    check_frame(buf, n, TRE_OP_ERROR, dec_error_reply);
    check_small_buffers(enc_error, n);

    /* long text is cut at the limit, and at its first newline */
    char big[TRE_PROTO_MAX_MSG + 100];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ(proto_error_reply_encode(buf, sizeof buf, 0, -EINVAL, big),
             HDR + 8 + TRE_PROTO_MAX_MSG);
    CHECK_EQ(proto_error_reply_decode(buf + HDR, 8 + TRE_PROTO_MAX_MSG, &r), 0);
    CHECK_EQ(r.msg_len, TRE_PROTO_MAX_MSG);
    CHECK_EQ(proto_error_reply_encode(buf, sizeof buf, 0, -EINVAL, "one\ntwo"), HDR + 8 + 3);
    CHECK_EQ(proto_error_reply_encode(buf, sizeof buf, 0, -EINVAL, NULL), HDR + 8);
    CHECK_EQ(proto_error_reply_encode(buf, sizeof buf, 0, 0, "not an error"), -EINVAL);
}

/* ---- refusals ---- */

static void test_limits(void)
{
    uint8_t p[8 + TRE_PROTO_MAX_MSG + 16];
    struct proto_exec_req e;
    struct proto_rpc_req q;
    struct proto_exec_reply x;
    struct proto_error_reply er;

    memset(p, 0, sizeof p);
    /* exec: each field over its limit (the lengths alone decide, before the payload) */
    put32(p, TRE_PROTO_MAX_IMAGE + 1);
    put32(p + 4, 0);
    CHECK_EQ(proto_exec_req_decode(p, 8, &e), -EMSGSIZE);
    put32(p, 0);
    put32(p + 4, TRE_PROTO_MAX_SIG + 1);
    CHECK_EQ(proto_exec_req_decode(p, 8, &e), -EMSGSIZE);
    put32(p, UINT32_MAX);                   /* sum overflows 32 bits */
    put32(p + 4, 9);
    CHECK_EQ(proto_exec_req_decode(p, 8 + 8, &e), -EMSGSIZE);

    /* rpc: counts, then totals */
    memset(p, 0, sizeof p);
    put16(p + 8, TRE_PROTO_MAX_BUFS + 1);
    CHECK_EQ(proto_rpc_req_decode(p, sizeof p, &q), -EMSGSIZE);
    put16(p + 8, 0);
    put16(p + 10, TRE_PROTO_MAX_BUFS + 1);
    CHECK_EQ(proto_rpc_req_decode(p, sizeof p, &q), -EMSGSIZE);
    put16(p + 8, 9);                        /* args and results share the 16 */
    put16(p + 10, 8);
    CHECK_EQ(proto_rpc_req_decode(p, sizeof p, &q), -EMSGSIZE);
    put16(p + 8, 0xffff);
    put16(p + 10, 0xffff);
    CHECK_EQ(proto_rpc_req_decode(p, sizeof p, &q), -EMSGSIZE);

    memset(p, 0, sizeof p);
    put16(p + 8, 2);
    put32(p + 12, TRE_PROTO_MAX_DATA / 2);
    put32(p + 16, TRE_PROTO_MAX_DATA / 2 + 1);  /* argument total one over */
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), -EMSGSIZE);
    put32(p + 12, UINT32_MAX);                  /* 0xffffffff + 1 wraps to 0 in 32 bits */
    put32(p + 16, 1);
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), -EMSGSIZE);
    put32(p + 12, 0x80000000u);
    put32(p + 16, 0x80000000u);
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), -EMSGSIZE);
    put16(p + 8, 0);                            /* the same as result capacities */
    put16(p + 10, 2);
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), -EMSGSIZE);
    put32(p + 12, TRE_PROTO_MAX_DATA + 1);
    put32(p + 16, 0);
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), -EMSGSIZE);
    put32(p + 12, TRE_PROTO_MAX_DATA);          /* exactly the limit is fine */
    CHECK_EQ(proto_rpc_req_decode(p, 20, &q), 0);

    /* error text over TRE_PROTO_MAX_MSG */
    memset(p, 'm', sizeof p);
    put32(p, (uint32_t)-EIO);
    put32(p + 4, TRE_PROTO_MAX_MSG + 1);
    CHECK_EQ(proto_error_reply_decode(p, 8 + TRE_PROTO_MAX_MSG + 1, &er), -EMSGSIZE);
    put32(p + 4, UINT32_MAX);
    CHECK_EQ(proto_error_reply_decode(p, 8, &er), -EMSGSIZE);
    put32(p + 4, TRE_PROTO_MAX_MSG);
    CHECK_EQ(proto_error_reply_decode(p, 8 + TRE_PROTO_MAX_MSG, &er), 0);

    uint8_t xr[104 + TRE_PROTO_MAX_MSG + 1];
    memset(xr, 0, sizeof xr);
    memset(xr + 104, 'm', TRE_PROTO_MAX_MSG + 1);
    put32(xr, (uint32_t)-EIO);
    put32(xr + 100, TRE_PROTO_MAX_MSG + 1);
    CHECK_EQ(proto_exec_reply_decode(xr, sizeof xr, &x), -EMSGSIZE);
    put32(xr + 100, TRE_PROTO_MAX_MSG);
    CHECK_EQ(proto_exec_reply_decode(xr, sizeof xr - 1, &x), 0);
}

static void test_encode_limits(void)
{
    uint8_t buf[256], dummy[1] = { 0 };
    const void *args[TRE_PROTO_MAX_BUFS + 1];
    uint32_t lens[TRE_PROTO_MAX_BUFS + 1];

    for (int i = 0; i <= TRE_PROTO_MAX_BUFS; i++) {
        args[i] = dummy;
        lens[i] = 1;
    }
    /* the limits are refused before any byte of the (pretend, huge) buffers is read */
    CHECK_EQ(proto_exec_req_encode(buf, sizeof buf, 1, dummy, TRE_PROTO_MAX_IMAGE + 1, dummy, 1),
             -EMSGSIZE);
    CHECK_EQ(proto_exec_req_encode(buf, sizeof buf, 1, dummy, 1, dummy, TRE_PROTO_MAX_SIG + 1),
             -EMSGSIZE);
    CHECK_EQ(proto_exec_req_encode(buf, sizeof buf, 1, dummy, TRE_PROTO_MAX_IMAGE, dummy, 1),
             -EMSGSIZE);            /* within the limits, but not within buf */
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, TRE_PROTO_MAX_BUFS + 1, args, lens,
                                  0, NULL), -EMSGSIZE);
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, 0, NULL, NULL,
                                  TRE_PROTO_MAX_BUFS + 1, lens), -EMSGSIZE);
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, 8, args, lens, 9, lens), -EMSGSIZE);
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, 8, args, lens, 8, lens),
             HDR + 12 + 64 + 8);
    lens[0] = UINT32_MAX;
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, 2, args, lens, 0, NULL), -EMSGSIZE);
    CHECK_EQ(proto_rpc_req_encode(buf, sizeof buf, 1, 0, 0, 0, NULL, NULL, 2, lens), -EMSGSIZE);
    CHECK_EQ(proto_rpc_reply_encode(buf, sizeof buf, 1, 0, 2, args, lens), -EMSGSIZE);
    lens[0] = 1;
    CHECK_EQ(proto_rpc_reply_encode(buf, sizeof buf, 1, 0, TRE_PROTO_MAX_BUFS + 1, args, lens),
             -EMSGSIZE);
    CHECK_EQ(proto_rpc_req_size(TRE_PROTO_MAX_BUFS + 1, lens, 0), SIZE_MAX);
    CHECK_EQ(proto_rpc_req_size(8, lens, 9), SIZE_MAX);
    CHECK_EQ(proto_exec_req_size(UINT32_MAX, UINT32_MAX),
             (size_t)HDR + 8 + 2 * (uint64_t)UINT32_MAX);
}

/* The largest legal messages go through; one byte more does not. */
static void test_largest(void)
{
    size_t n = proto_exec_req_size(TRE_PROTO_MAX_IMAGE, TRE_PROTO_MAX_SIG);
    uint8_t *buf = calloc(1, n + 1), *src = calloc(1, TRE_PROTO_MAX_IMAGE);
    struct proto_hdr h;
    struct proto_exec_req e;

    CHECK(buf && src);
    if (!buf || !src)
        goto out;
    CHECK_EQ(proto_exec_req_encode(buf, n, 1, src, TRE_PROTO_MAX_IMAGE, src, TRE_PROTO_MAX_SIG),
             n);
    CHECK_EQ(proto_hdr_decode(buf, &h), 0);
    CHECK_EQ(proto_exec_req_decode(buf + HDR, n - HDR, &e), 0);
    CHECK_EQ(e.image_len, TRE_PROTO_MAX_IMAGE);

    const void *args[2] = { src, src };
    const uint32_t lens[2] = { TRE_PROTO_MAX_DATA - 1, 1 }, big[1] = { TRE_PROTO_MAX_DATA };
    long m = proto_rpc_req_encode(buf, n, 1, 0, 0, 2, args, lens, 1, big);
    CHECK_EQ(m, HDR + 12 + 12 + TRE_PROTO_MAX_DATA);
    struct proto_rpc_req q;
    CHECK_EQ(proto_hdr_decode(buf, &h), 0);
    CHECK_EQ(proto_rpc_req_decode(buf + HDR, (size_t)m - HDR, &q), 0);

    const void *res[1] = { src };
    m = proto_rpc_reply_encode(buf, n, 1, 0, 1, res, big);
    CHECK_EQ(m, HDR + 8 + 4 + TRE_PROTO_MAX_DATA);
    struct proto_rpc_reply y;
    CHECK_EQ(proto_rpc_reply_decode(buf + HDR, (size_t)m - HDR, 1, big, &y), 0);
    CHECK_EQ(y.result_len[0], TRE_PROTO_MAX_DATA);
out:
    free(buf);
    free(src);
}

static void test_lying_replies(void)
{
    uint8_t p[64];
    struct proto_rpc_reply r;
    static const uint32_t caps2[2] = { 4, 4 };
    uint32_t huge[TRE_PROTO_MAX_BUFS];

    for (int k = 0; k < TRE_PROTO_MAX_BUFS; k++)
        huge[k] = UINT32_MAX;

    memset(p, 0, sizeof p);
    put16(p + 4, 2);                        /* 2 results of 4 bytes, as asked */
    put32(p + 8, 4);
    put32(p + 12, 4);
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 2, caps2, &r), 0);
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 1, caps2, &r), -EPROTO);  /* more than asked */
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 3, huge, &r), -EPROTO);   /* fewer than asked */
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 0, NULL, &r), -EPROTO);
    put32(p + 12, 5);                       /* one byte over its capacity */
    CHECK_EQ(proto_rpc_reply_decode(p, 25, 2, caps2, &r), -EPROTO);
    put32(p + 12, 4);
    put16(p + 6, 1);                        /* the reserved u16 */
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 2, caps2, &r), -EPROTO);
    put16(p + 6, 0);
    put32(p, (uint32_t)-EFAULT);            /* an error with results */
    CHECK_EQ(proto_rpc_reply_decode(p, 24, 2, caps2, &r), -EPROTO);
    put32(p, 0);

    /* lengths whose sum overflows 32 bits, with capacities that let them through */
    put32(p + 8, UINT32_MAX);
    put32(p + 12, 1);
    CHECK_EQ(proto_rpc_reply_decode(p, 16, 2, huge, &r), -EMSGSIZE);
    put32(p + 8, TRE_PROTO_MAX_DATA);
    put32(p + 12, 1);
    CHECK_EQ(proto_rpc_reply_decode(p, 16, 2, huge, &r), -EMSGSIZE);
    put16(p + 4, TRE_PROTO_MAX_BUFS + 1);
    CHECK_EQ(proto_rpc_reply_decode(p, sizeof p, 2, huge, &r), -EMSGSIZE);
    put16(p + 4, 2);
    CHECK_EQ(proto_rpc_reply_decode(p, 16, TRE_PROTO_MAX_BUFS + 1, huge, &r), -EINVAL);

    /* exec reply: success carries no text and NUL-padded strings; failure no info */
    uint8_t x[104 + 8];
    struct proto_exec_reply e;
    memset(x, 0, sizeof x);
    CHECK_EQ(proto_exec_reply_decode(x, 104, &e), 0);          /* empty name: well-formed */
    memcpy(x + 4, "add", 3);
    CHECK_EQ(proto_exec_reply_decode(x, 104, &e), 0);
    memset(x + 4, 'n', 32);                                      /* unterminated name */
    CHECK_EQ(proto_exec_reply_decode(x, 104, &e), -EPROTO);
    memset(x + 4, 0, 32);
    x[4 + 5] = 'z';                                              /* text after the padding */
    CHECK_EQ(proto_exec_reply_decode(x, 104, &e), -EPROTO);
    x[4 + 5] = 0;
    memset(x + 4 + 72, 'k', 24);                                 /* unterminated keyid */
    CHECK_EQ(proto_exec_reply_decode(x, 104, &e), -EPROTO);
    memset(x + 4 + 72, 0, 24);
    put32(x + 100, 3);                                           /* success with a reason */
    memcpy(x + 104, "why", 3);
    CHECK_EQ(proto_exec_reply_decode(x, 107, &e), -EPROTO);
    put32(x, (uint32_t)-EACCES);
    CHECK_EQ(proto_exec_reply_decode(x, 107, &e), 0);
    x[105] = '\n';                                               /* not one line */
    CHECK_EQ(proto_exec_reply_decode(x, 107, &e), -EPROTO);
    x[105] = 0;
    CHECK_EQ(proto_exec_reply_decode(x, 107, &e), -EPROTO);
    x[105] = 'h';
    x[4 + 40] = 1;                                               /* failure with info */
    CHECK_EQ(proto_exec_reply_decode(x, 107, &e), -EPROTO);

    /* error reply: the status must be an error */
    uint8_t er[8] = { 0 };
    struct proto_error_reply rr;
    CHECK_EQ(proto_error_reply_decode(er, 8, &rr), -EPROTO);
    put32(er, 5);
    CHECK_EQ(proto_error_reply_decode(er, 8, &rr), -EPROTO);
    put32(er, (uint32_t)-EOPNOTSUPP);
    CHECK_EQ(proto_error_reply_decode(er, 8, &rr), 0);
}

/* ---- seed corpus for fuzz/fuzz_proto.c ---- */

static int corpus_put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
        perror(path);
        return 1;
    }
    return 0;
}

static int write_corpus(const char *dir)
{
    uint8_t b[4096], m[4096];
    size_t n, an = sizeof add_req_hex, rn = sizeof add_reply_hex;
    int bad = 0;

#define PUT(name, len) (bad |= corpus_put(dir, name, b, (size_t)(len)))
#define RESET(src, len) memcpy(b, src, len)
    n = (size_t)enc_exec_req(b, sizeof b);
    memcpy(m, b, n);
    PUT("exec-req", n);
    PUT("exec-req-truncated", n - 3);
    b[n] = 0;
    PUT("exec-req-trailing-byte", n + 1);
    put32(b + HDR, TRE_PROTO_MAX_IMAGE + 1);
    PUT("exec-req-image-too-big", n);
    RESET(m, n);
    put32(b + HDR, UINT32_MAX);
    PUT("exec-req-len-overflow", n);
    RESET(m, n);
    put32(b + HDR + 4, TRE_PROTO_MAX_SIG + 1);
    PUT("exec-req-sig-too-big", n);
    RESET(m, n);
    b[0] = 'X';
    PUT("bad-magic", n);
    RESET(m, n);
    put16(b + 4, 2);
    PUT("bad-version", n);
    RESET(m, n);
    put16(b + 6, 4);
    PUT("unknown-op", n);
    RESET(m, n);
    put32(b + 12, TRE_PROTO_MAX_PAYLOAD + 1);
    PUT("hdr-len-too-big", n);
    PUT("short-header", 10);

    RESET(add_req_hex, an);
    PUT("rpc-req-add", an);
    put32(b + HDR + 12, UINT32_MAX);
    put32(b + HDR + 16, 5);
    PUT("rpc-req-len-overflow", an);
    RESET(add_req_hex, an);
    put32(b + HDR + 20, TRE_PROTO_MAX_DATA + 1);
    PUT("rpc-req-cap-too-big", an);
    RESET(add_req_hex, an);
    put16(b + HDR + 8, 16);
    PUT("rpc-req-17-bufs", an);
    n = (size_t)enc_rpc_req(b, sizeof b);
    PUT("rpc-req-16-bufs", n);
    n = (size_t)proto_rpc_req_encode(b, sizeof b, 2, 1, 3, 0, NULL, NULL, 0, NULL);
    PUT("rpc-req-no-bufs", n);
    memset(m, 'A', 3000);
    const void *big[2] = { m, m };
    const uint32_t big_len[2] = { 3000, 1 }, big_cap[1] = { 1 << 20 };
    n = (size_t)proto_rpc_req_encode(b, sizeof b, 3, 1, 0, 2, big, big_len, 1, big_cap);
    PUT("rpc-req-3k-arg", n);
    n = (size_t)enc_close_req(b, sizeof b);
    PUT("close-req", n);
    PUT("close-req-short", n - 1);

    n = (size_t)enc_exec_ok(b, sizeof b);
    PUT("exec-reply-ok", n);
    b[HDR + 4 + 31] = 'x';
    PUT("exec-reply-name-garbage", n);
    n = (size_t)enc_exec_fail(b, sizeof b);
    PUT("exec-reply-fail", n);
    put32(b + HDR + 100, TRE_PROTO_MAX_MSG + 1);
    PUT("exec-reply-msg-too-long", n);
    RESET(add_reply_hex, rn);
    PUT("rpc-reply-add", rn);
    put32(b + HDR + 8, 5);
    PUT("rpc-reply-over-cap", rn);
    RESET(add_reply_hex, rn);
    put32(b + HDR, (uint32_t)-EFAULT);
    PUT("rpc-reply-error-with-results", rn);
    RESET(add_reply_hex, rn);
    put16(b + HDR + 6, 1);
    PUT("rpc-reply-pad", rn);
    n = (size_t)enc_rpc_reply(b, sizeof b);
    PUT("rpc-reply-3", n);
    n = (size_t)enc_rpc_reply_err(b, sizeof b);
    PUT("rpc-reply-error", n);
    n = (size_t)enc_close_reply(b, sizeof b);
    PUT("close-reply", n);
    n = (size_t)enc_error(b, sizeof b);
    PUT("error-reply", n);
    put32(b + HDR, 1);
    PUT("error-reply-positive-status", n);
#undef RESET
#undef PUT
    return bad;
}

static void test_attest(void)
{
    static uint8_t buf[TRE_PROTO_HDR_SIZE + 8 + TRE_PROTO_MAX_NONCE + TRE_PROTO_MAX_REPORT];
    struct proto_hdr h;
    struct proto_attest_req q;
    long n = proto_attest_req_encode(buf, sizeof buf, 5, "nonce", 5, "rep", 3);
    CHECK_EQ(n, TRE_PROTO_HDR_SIZE + 8 + 8);
    CHECK_EQ(proto_hdr_decode(buf, &h), 0);
    CHECK_EQ(h.op, TRE_OP_ATTEST);
    CHECK_EQ(proto_attest_req_decode(buf + TRE_PROTO_HDR_SIZE, h.len, &q), 0);
    CHECK(q.nonce_len == 5 && !memcmp(q.nonce, "nonce", 5));
    CHECK(q.report_len == 3 && !memcmp(q.report, "rep", 3));
    /* refused: an empty or too long nonce, too much report data, a lying length, a
     * trailing byte, a short payload */
    CHECK_EQ(proto_attest_req_encode(buf, sizeof buf, 5, "", 0, NULL, 0), -EMSGSIZE);
    CHECK_EQ(proto_attest_req_encode(buf, sizeof buf, 5, buf, TRE_PROTO_MAX_NONCE + 1, NULL, 0),
             -EMSGSIZE);
    CHECK_EQ(proto_attest_req_encode(buf, sizeof buf, 5, "n", 1, buf, TRE_PROTO_MAX_REPORT + 1),
             -EMSGSIZE);
    uint8_t *p = buf + TRE_PROTO_HDR_SIZE;
    CHECK_EQ(proto_attest_req_decode(p, 7, &q), -EPROTO);
    CHECK_EQ(proto_attest_req_decode(p, h.len + 1, &q), -EPROTO);
    CHECK_EQ(proto_attest_req_decode(p, h.len - 1, &q), -EPROTO);
    p[0] = 0; p[1] = 0; p[2] = 0; p[3] = 0;          /* nonce_len 0 */
    CHECK_EQ(proto_attest_req_decode(p, h.len, &q), -EMSGSIZE);
    p[0] = 0xff; p[1] = 0xff; p[2] = 0xff; p[3] = 0xff; /* nonce_len huge */
    CHECK_EQ(proto_attest_req_decode(p, h.len, &q), -EMSGSIZE);

    /* replies: a bundle with status 0, a reason with an error; never both */
    static uint8_t rb[TRE_PROTO_HDR_SIZE + 12 + 64 + TRE_PROTO_MAX_MSG];
    struct proto_attest_reply a;
    n = proto_attest_reply_encode(rb, sizeof rb, 5, 0, "BUNDLE", 6, "");
    CHECK(n > 0);
    CHECK_EQ(proto_hdr_decode(rb, &h), 0);
    CHECK_EQ(proto_attest_reply_decode(rb + TRE_PROTO_HDR_SIZE, h.len, &a), 0);
    CHECK(a.status == 0 && a.bundle_len == 6 && !memcmp(a.bundle, "BUNDLE", 6));
    n = proto_attest_reply_encode(rb, sizeof rb, 5, -19, "BUNDLE", 6, "no TPM\nsecond line");
    CHECK(n > 0);
    CHECK_EQ(proto_hdr_decode(rb, &h), 0);
    CHECK_EQ(proto_attest_reply_decode(rb + TRE_PROTO_HDR_SIZE, h.len, &a), 0);
    CHECK(a.status == -19 && a.bundle_len == 0 && a.msg_len == 6);
    uint8_t *r = rb + TRE_PROTO_HDR_SIZE;
    r[4] = 1;                                         /* a bundle with an error */
    CHECK_EQ(proto_attest_reply_decode(r, h.len + 1, &a), -EPROTO);
    r[4] = 0;
    r[0] = 1; r[1] = 0; r[2] = 0; r[3] = 0;          /* a positive status */
    CHECK_EQ(proto_attest_reply_decode(r, h.len, &a), -EPROTO);
    r[0] = 0xed; r[1] = 0xff; r[2] = 0xff; r[3] = 0xff;
    r[12] = 0;                                        /* a NUL in the reason */
    CHECK_EQ(proto_attest_reply_decode(r, h.len, &a), -EPROTO);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    TEST(test_add_example);
    TEST(test_header);
    TEST(test_exec_req);
    TEST(test_rpc_req);
    TEST(test_close);
    TEST(test_exec_reply);
    TEST(test_rpc_reply);
    TEST(test_error_reply);
    TEST(test_limits);
    TEST(test_encode_limits);
    TEST(test_largest);
    TEST(test_lying_replies);
    TEST(test_attest);
    TEST_EXIT();
}
