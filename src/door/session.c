/* door/session.c — requests to engine calls and back, for one connection. Every request
 * field is decoded and checked by door/proto.c before it is used here; a descriptor is
 * used only if this connection created it. It never touches a socket. */
#include "door/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "trevisor/engine.h"
#include "util/log.h"

void session_init(struct door_session *s, struct tre_engine *e, const char *peer)
{
    memset(s, 0, sizeof *s);
    s->engine = e;
    snprintf(s->peer, sizeof s->peer, "%s", peer);
}

static int session_owns(const struct door_session *s, int desc)
{
    for (unsigned i = 0; i < s->ndescs; i++)
        if (s->descs[i] == desc)
            return 1;
    return 0;
}

static void session_forget(struct door_session *s, int desc)
{
    for (unsigned i = 0; i < s->ndescs; i++)
        if (s->descs[i] == desc) {
            s->descs[i] = s->descs[--s->ndescs];
            return;
        }
}

static int session_alloc(size_t n, uint8_t **out)
{
    *out = malloc(n ? n : 1);
    return *out ? 0 : -ENOMEM;
}

int session_error_reply(uint32_t id, int32_t status, const char *msg, uint8_t **reply,
                        size_t *reply_len)
{
    size_t cap = TRE_PROTO_HDR_SIZE + 8 + TRE_PROTO_MAX_MSG;
    if (session_alloc(cap, reply))
        return -ENOMEM;
    long n = proto_error_reply_encode(*reply, cap, id, status, msg ? msg : "");
    if (n < 0) {
        free(*reply);
        return (int)n;
    }
    *reply_len = (size_t)n;
    return 0;
}

static int session_exec(struct door_session *s, uint32_t id, const uint8_t *p, size_t len,
                        uint8_t **reply, size_t *reply_len)
{
    struct proto_exec_req req;
    int r = proto_exec_req_decode(p, len, &req);
    if (r)
        return session_error_reply(id, r, "exec: malformed request", reply, reply_len);
    char err[512] = "";
    struct tre_exec_info info;
    struct tre_proto_exec_info wire;
    memset(&wire, 0, sizeof wire);
    int d;
    if (s->ndescs == SESSION_MAX_DESCS) {
        d = -EMFILE;
        snprintf(err, sizeof err, "exec: this connection already has %d instances",
                 SESSION_MAX_DESCS);
    } else {
        d = tre_engine_exec(s->engine, req.image, req.image_len, req.sig, req.sig_len, &info,
                            err, sizeof err);
    }
    if (d >= 0) {
        s->descs[s->ndescs++] = d;
        memcpy(wire.name, info.name, sizeof wire.name);
        wire.version = info.version;
        wire.svn = info.svn;
        memcpy(wire.sha256, info.sha256, 32);
        snprintf(wire.keyid, sizeof wire.keyid, "%s", info.keyid);
        err[0] = 0;
        tlog("serve", "%s: exec %s -> %d", s->peer, info.name, d);
    } else {
        tlog("serve", "%s: exec refused: %s", s->peer, err[0] ? err : strerror(-d));
    }
    size_t cap = TRE_PROTO_HDR_SIZE + 8 + TRE_PROTO_EXEC_INFO_SIZE + TRE_PROTO_MAX_MSG;
    if (session_alloc(cap, reply))
        return -ENOMEM;
    long n = proto_exec_reply_encode(*reply, cap, id, d, &wire, err);
    if (n < 0) {
        free(*reply);
        return (int)n;
    }
    *reply_len = (size_t)n;
    return 0;
}

static int session_rpc(struct door_session *s, uint32_t id, const uint8_t *p, size_t len,
                       uint8_t **reply, size_t *reply_len)
{
    struct proto_rpc_req req;
    int r = proto_rpc_req_decode(p, len, &req);
    if (r)
        return session_error_reply(id, r, "rpc: malformed request", reply, reply_len);
    struct iovec args[TRE_PROTO_MAX_BUFS], res[TRE_PROTO_MAX_BUFS];
    uint64_t total = 0;
    for (unsigned i = 0; i < req.nresults; i++)
        total += req.result_cap[i];
    /* results go straight into the reply buffer, after the header and the lengths */
    uint32_t caps[TRE_PROTO_MAX_BUFS];
    memcpy(caps, req.result_cap, sizeof caps);
    size_t cap = proto_rpc_reply_size(req.nresults, caps);
    if (cap == SIZE_MAX || session_alloc(cap, reply))
        return -ENOMEM;
    uint8_t *scratch = malloc(total ? total : 1);
    if (!scratch) {
        free(*reply);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < req.nargs; i++)
        args[i] = (struct iovec){ (void *)req.arg[i], req.arg_len[i] };
    uint64_t off = 0;
    for (unsigned i = 0; i < req.nresults; i++) {
        res[i] = (struct iovec){ scratch + off, req.result_cap[i] };
        off += req.result_cap[i];
    }
    int status;
    if (!session_owns(s, req.desc))
        status = -EBADF; /* unknown, closed, or another connection's */
    else
        status = tre_engine_rpc(s->engine, req.desc, req.proc, args, req.nargs, res,
                                req.nresults);
    /* results travel with a status >= 0 only (a negative one may be the engine's error) */
    unsigned nres = status < 0 ? 0 : req.nresults;
    const void *ptrs[TRE_PROTO_MAX_BUFS];
    uint32_t lens[TRE_PROTO_MAX_BUFS];
    for (unsigned i = 0; i < nres; i++) {
        ptrs[i] = res[i].iov_base;
        lens[i] = (uint32_t)res[i].iov_len;
    }
    long n = proto_rpc_reply_encode(*reply, cap, id, status, nres, ptrs, lens);
    explicit_bzero(scratch, total);
    free(scratch);
    if (n < 0) {
        free(*reply);
        return (int)n;
    }
    *reply_len = (size_t)n;
    return 0;
}

static int session_close(struct door_session *s, uint32_t id, const uint8_t *p, size_t len,
                         uint8_t **reply, size_t *reply_len)
{
    int32_t desc;
    int r = proto_close_req_decode(p, len, &desc);
    if (r)
        return session_error_reply(id, r, "close: malformed request", reply, reply_len);
    int status = -EBADF;
    if (session_owns(s, desc)) {
        status = tre_engine_close(s->engine, desc);
        session_forget(s, desc);
        tlog("serve", "%s: close %d", s->peer, desc);
    }
    size_t cap = TRE_PROTO_HDR_SIZE + 4;
    if (session_alloc(cap, reply))
        return -ENOMEM;
    long n = proto_close_reply_encode(*reply, cap, id, status);
    if (n < 0) {
        free(*reply);
        return (int)n;
    }
    *reply_len = (size_t)n;
    return 0;
}

static int session_attest(struct door_session *s, uint32_t id, const uint8_t *p, size_t len,
                          uint8_t **reply, size_t *reply_len)
{
    struct proto_attest_req req;
    int r = proto_attest_req_decode(p, len, &req);
    if (r)
        return session_error_reply(id, r, "attest: malformed request", reply, reply_len);
    char err[512] = "";
    uint8_t *bundle = NULL;
    size_t blen = 0;
    int status = tre_engine_attest(s->engine, req.nonce, req.nonce_len, req.report,
                                   req.report_len, &bundle, &blen, err, sizeof err);
    if (!status && blen > TRE_PROTO_MAX_BUNDLE) {
        status = -EMSGSIZE;
        snprintf(err, sizeof err, "attest: the quote bundle is too large (%zu bytes)", blen);
    }
    if (status)
        blen = 0;
    tlog("serve", "%s: attest -> %s", s->peer, status ? err : "quote");
    size_t cap = proto_attest_reply_size((uint32_t)blen, strlen(err));
    if (cap == SIZE_MAX)
        cap = proto_attest_reply_size(0, TRE_PROTO_MAX_MSG);
    r = session_alloc(cap, reply);
    long n = r ? r : proto_attest_reply_encode(*reply, cap, id, status, bundle,
                                               (uint32_t)blen, status ? err : "");
    free(bundle);
    if (n < 0) {
        if (!r)
            free(*reply);
        return (int)n;
    }
    *reply_len = (size_t)n;
    return 0;
}

int session_handle(struct door_session *s, const struct proto_hdr *h, const uint8_t *payload,
                   uint8_t **reply, size_t *reply_len)
{
    switch (h->op) {
    case TRE_OP_EXEC:
        return session_exec(s, h->id, payload, h->len, reply, reply_len);
    case TRE_OP_RPC:
        return session_rpc(s, h->id, payload, h->len, reply, reply_len);
    case TRE_OP_CLOSE:
        return session_close(s, h->id, payload, h->len, reply, reply_len);
    case TRE_OP_ATTEST:
        return session_attest(s, h->id, payload, h->len, reply, reply_len);
    default:
        return session_error_reply(h->id, -EOPNOTSUPP, "not a request", reply, reply_len);
    }
}

void session_end(struct door_session *s)
{
    for (unsigned i = 0; i < s->ndescs; i++)
        tre_engine_close(s->engine, s->descs[i]);
    if (s->ndescs)
        tlog("serve", "%s: gone; closed its %u instance(s)", s->peer, s->ndescs);
    s->ndescs = 0;
}
