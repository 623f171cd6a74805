/* door/proto_attest.c — the ATTEST message of the wire protocol (include/trevisor/proto.h):
 * the owner asks for a quote of trevisor's measurements with a nonce and optional report
 * data; the reply carries the quote bundle. Same rules as door/proto.c: every length is
 * checked against the payload and the limits before use, no allocation, no trailing bytes,
 * decoded fields are views into the caller's payload. */
#include <errno.h>
#include <string.h>

#include "door/le.h"
#include "door/proto.h"

#define PROTO_ATTEST_REQ_FIXED   8u   /* nonce_len, report_len */
#define PROTO_ATTEST_REPLY_FIXED 12u  /* status, bundle_len, msg_len */

int proto_attest_req_decode(const uint8_t *p, size_t len, struct proto_attest_req *r)
{
    if (len < PROTO_ATTEST_REQ_FIXED)
        return -EPROTO;
    uint32_t nl = proto_get32(p), rl = proto_get32(p + 4);
    if (nl == 0 || nl > TRE_PROTO_MAX_NONCE || rl > TRE_PROTO_MAX_REPORT)
        return -EMSGSIZE;
    if (len - PROTO_ATTEST_REQ_FIXED != (size_t)nl + rl)
        return -EPROTO;
    r->nonce_len = nl;
    r->report_len = rl;
    r->nonce = p + PROTO_ATTEST_REQ_FIXED;
    r->report = r->nonce + nl;
    return 0;
}

long proto_attest_req_encode(uint8_t *out, size_t outlen, uint32_t id, const void *nonce,
                             uint32_t nonce_len, const void *report, uint32_t report_len)
{
    if (nonce_len == 0 || nonce_len > TRE_PROTO_MAX_NONCE || report_len > TRE_PROTO_MAX_REPORT ||
        !nonce || (report_len && !report))
        return -EMSGSIZE;
    size_t payload = PROTO_ATTEST_REQ_FIXED + nonce_len + report_len;
    if (outlen < TRE_PROTO_HDR_SIZE + payload)
        return -EMSGSIZE;
    proto_hdr_encode(out, TRE_OP_ATTEST, id, (uint32_t)payload);
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_put32(p, nonce_len);
    proto_put32(p + 4, report_len);
    memcpy(p + 8, nonce, nonce_len);
    if (report_len)
        memcpy(p + 8 + nonce_len, report, report_len);
    return (long)(TRE_PROTO_HDR_SIZE + payload);
}

size_t proto_attest_reply_size(uint32_t bundle_len, size_t msg_len)
{
    if (bundle_len > TRE_PROTO_MAX_BUNDLE || msg_len > TRE_PROTO_MAX_MSG)
        return SIZE_MAX;
    return TRE_PROTO_HDR_SIZE + PROTO_ATTEST_REPLY_FIXED + (size_t)bundle_len + msg_len;
}

long proto_attest_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                               const void *bundle, uint32_t bundle_len, const char *msg)
{
    size_t ml = proto_msg_len(msg); /* a long reason is cut, never refused */
    if (status != 0)
        bundle_len = 0;
    size_t size = proto_attest_reply_size(bundle_len, ml);
    if (size == SIZE_MAX || size > outlen || (bundle_len && !bundle))
        return -EMSGSIZE;
    proto_hdr_encode(out, TRE_OP_ATTEST | TRE_OP_REPLY, id,
                     (uint32_t)(size - TRE_PROTO_HDR_SIZE));
    uint8_t *p = out + TRE_PROTO_HDR_SIZE;
    proto_put32(p, (uint32_t)status);
    proto_put32(p + 4, bundle_len);
    proto_put32(p + 8, (uint32_t)ml);
    if (bundle_len)
        memcpy(p + 12, bundle, bundle_len);
    if (ml)
        memcpy(p + 12 + bundle_len, msg, ml);
    return (long)size;
}

int proto_attest_reply_decode(const uint8_t *p, size_t len, struct proto_attest_reply *r)
{
    if (len < PROTO_ATTEST_REPLY_FIXED)
        return -EPROTO;
    int32_t st = (int32_t)proto_get32(p);
    uint32_t bl = proto_get32(p + 4), ml = proto_get32(p + 8);
    if (bl > TRE_PROTO_MAX_BUNDLE || ml > TRE_PROTO_MAX_MSG)
        return -EMSGSIZE;
    if (st > 0 || (st != 0 && bl))
        return -EPROTO;
    if (len - PROTO_ATTEST_REPLY_FIXED != (size_t)bl + ml ||
        !proto_msg_ok(p + PROTO_ATTEST_REPLY_FIXED + bl, ml))
        return -EPROTO;
    r->status = st;
    r->bundle_len = bl;
    r->bundle = p + PROTO_ATTEST_REPLY_FIXED;
    r->msg_len = ml;
    r->msg = (const char *)r->bundle + bl;
    return 0;
}
