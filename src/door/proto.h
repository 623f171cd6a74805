/* door/proto.h — the one codec of the TRE wire protocol (include/trevisor/proto.h): the
 * server decodes requests and encodes replies with it, libtre encodes requests and decodes
 * replies with it. Decoders take untrusted bytes, check every length against the payload
 * and the limits before use, and return views into the caller's buffer; they never
 * allocate. Every function returns 0 or a negative errno: -EPROTO malformed, -EOPNOTSUPP
 * unknown op or version, -EMSGSIZE over a limit. */
#ifndef TREVISOR_DOOR_PROTO_H
#define TREVISOR_DOOR_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "trevisor/proto.h"

struct proto_hdr {
    uint16_t op;
    uint32_t id;
    uint32_t len;       /* payload bytes */
};

/* Header: checks magic, version, that op is a known request or reply, and len against
 * TRE_PROTO_MAX_PAYLOAD. */
int proto_hdr_decode(const uint8_t in[TRE_PROTO_HDR_SIZE], struct proto_hdr *h);
void proto_hdr_encode(uint8_t out[TRE_PROTO_HDR_SIZE], uint16_t op, uint32_t id, uint32_t len);

/* ---- requests ---- */
struct proto_exec_req {
    const uint8_t *image, *sig;
    uint32_t image_len, sig_len;
};
struct proto_rpc_req {
    int32_t desc, proc;
    uint16_t nargs, nresults;
    const uint8_t *arg[TRE_PROTO_MAX_BUFS];
    uint32_t arg_len[TRE_PROTO_MAX_BUFS];
    uint32_t result_cap[TRE_PROTO_MAX_BUFS];
};

int proto_exec_req_decode(const uint8_t *p, size_t len, struct proto_exec_req *r);
int proto_rpc_req_decode(const uint8_t *p, size_t len, struct proto_rpc_req *r);
int proto_close_req_decode(const uint8_t *p, size_t len, int32_t *desc);

/* Encoders write the whole message (header + payload) into out (outlen bytes) and
 * return its size, or -EMSGSIZE if it does not fit or breaks a limit. */
long proto_exec_req_encode(uint8_t *out, size_t outlen, uint32_t id, const void *image,
                           uint32_t image_len, const void *sig, uint32_t sig_len);
/* args[i]/arg_len[i] for i < nargs; result_cap[k] for k < nresults */
long proto_rpc_req_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t desc, int32_t proc,
                          unsigned nargs, const void *const *args, const uint32_t *arg_len,
                          unsigned nresults, const uint32_t *result_cap);
long proto_close_req_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t desc);
/* Bytes a request/reply will need, for sizing buffers (saturates at SIZE_MAX). */
size_t proto_exec_req_size(uint32_t image_len, uint32_t sig_len);
size_t proto_rpc_req_size(unsigned nargs, const uint32_t *arg_len, unsigned nresults);

/* ---- replies ---- */
struct proto_exec_reply {
    int32_t status;
    struct tre_proto_exec_info info;
    const char *msg;        /* not NUL-terminated */
    uint32_t msg_len;
};
struct proto_rpc_reply {
    int32_t status;
    uint16_t nresults;
    const uint8_t *result[TRE_PROTO_MAX_BUFS];
    uint32_t result_len[TRE_PROTO_MAX_BUFS];
};
struct proto_error_reply {
    int32_t status;
    const char *msg;
    uint32_t msg_len;
};

long proto_exec_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                             const struct tre_proto_exec_info *info, const char *msg);
long proto_rpc_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                            unsigned nresults, const void *const *results,
                            const uint32_t *result_len);
long proto_close_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status);
long proto_error_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                              const char *msg);
size_t proto_rpc_reply_size(unsigned nresults, const uint32_t *result_len);

/* Decoders of reply payloads. The RPC one also checks nresults and every length against
 * what the request asked for (expect_nresults, result_cap[]). */
int proto_exec_reply_decode(const uint8_t *p, size_t len, struct proto_exec_reply *r);
int proto_rpc_reply_decode(const uint8_t *p, size_t len, unsigned expect_nresults,
                           const uint32_t *result_cap, struct proto_rpc_reply *r);
int proto_close_reply_decode(const uint8_t *p, size_t len, int32_t *status);
int proto_error_reply_decode(const uint8_t *p, size_t len, struct proto_error_reply *r);

/* Error text on the wire is one line: no NUL, no newline, at most TRE_PROTO_MAX_MSG bytes.
 * proto_msg_len cuts msg (NULL = empty) at its first newline or at the limit, as every
 * encoder does; proto_msg_ok says whether n wire bytes are such a line. */
uint32_t proto_msg_len(const char *msg);
int proto_msg_ok(const uint8_t *m, uint32_t n);

/* ---- attest (door/proto_attest.c) ---- */
struct proto_attest_req {
    const uint8_t *nonce, *report;
    uint32_t nonce_len, report_len;
};
struct proto_attest_reply {
    int32_t status;
    const uint8_t *bundle;
    uint32_t bundle_len;
    const char *msg;
    uint32_t msg_len;
};
int proto_attest_req_decode(const uint8_t *p, size_t len, struct proto_attest_req *r);
long proto_attest_req_encode(uint8_t *out, size_t outlen, uint32_t id, const void *nonce,
                             uint32_t nonce_len, const void *report, uint32_t report_len);
long proto_attest_reply_encode(uint8_t *out, size_t outlen, uint32_t id, int32_t status,
                               const void *bundle, uint32_t bundle_len, const char *msg);
int proto_attest_reply_decode(const uint8_t *p, size_t len, struct proto_attest_reply *r);
/* Bytes an attest reply needs. */
size_t proto_attest_reply_size(uint32_t bundle_len, size_t msg_len);

#endif
