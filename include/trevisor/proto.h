/* trevisor/proto.h — the TRE wire protocol, version 1: how a client (libtre, the `tre`
 * command) asks trevisor to exec, call and close TRE programs, over a Unix socket (hosted
 * mode) or a vsock port (the user environment). Every integer is little-endian. The full
 * description, with the limits and the error behaviour, is docs/protocol.md. */
#ifndef TREVISOR_PROTO_H
#define TREVISOR_PROTO_H

#include <stdint.h>

#define TRE_PROTO_MAGIC     0x50455254u   /* "TREP" */
#define TRE_PROTO_VERSION   1
#define TRE_PROTO_HDR_SIZE  16
#define TRE_PROTO_VSOCK_PORT 7300         /* trevisor's port at CID 2 in the user environment */
#define TRE_PROTO_DEFAULT_SOCKET "/run/trevisor/tre.sock"  /* hosted mode */

/* Every message, request or reply, is a 16-byte header and `len` bytes of payload:
 *   u32 magic, u16 version, u16 op, u32 id (the client's; echoed in the reply), u32 len */
#define TRE_OP_EXEC         1
#define TRE_OP_RPC          2
#define TRE_OP_CLOSE        3
#define TRE_OP_ATTEST       4             /* the owner's quote of trevisor's measurements */
#define TRE_OP_REPLY        0x8000        /* a reply has the request's op | TRE_OP_REPLY */
#define TRE_OP_ERROR        0x80ff        /* reply to a request that could not be decoded */

/* Hard limits: a message over them is refused before anything is allocated for it. */
#define TRE_PROTO_MAX_IMAGE    (64u << 20)
#define TRE_PROTO_MAX_SIG      (16u << 10)
#define TRE_PROTO_MAX_BUFS     16            /* = TRE_MAX_BUFS: args + results per call */
#define TRE_PROTO_MAX_DATA     (64u << 20)   /* total argument bytes; total result capacity */
#define TRE_PROTO_MAX_PAYLOAD  (TRE_PROTO_MAX_IMAGE + TRE_PROTO_MAX_SIG + 64u)
#define TRE_PROTO_MAX_MSG      1024          /* error text in replies */
#define TRE_PROTO_MAX_NONCE    64
#define TRE_PROTO_MAX_REPORT   1024
#define TRE_PROTO_MAX_BUNDLE   (4u << 20)    /* = QUOTE_BUNDLE_MAX */

/* Payloads
 * EXEC request:   u32 image_len, u32 sig_len, image bytes, signature bytes (minisign text)
 * EXEC reply:     i32 status (descriptor >= 0, or -errno), struct tre_proto_exec_info,
 *                 u32 msg_len, msg bytes (a one-line reason when status < 0, else empty)
 * RPC request:    i32 desc, i32 proc, u16 nargs, u16 nresults, u32 arg_len[nargs],
 *                 u32 result_cap[nresults], then the argument bytes, one after another
 * RPC reply:      i32 status (the program's return, or -errno), u16 nresults, u16 0,
 *                 u32 result_len[nresults], then the result bytes, one after another
 *                 (nresults is 0 when status is an engine error)
 * CLOSE request:  i32 desc
 * CLOSE reply:    i32 status
 * ATTEST request: u32 nonce_len (1..64), u32 report_len (0..1024), nonce, report
 * ATTEST reply:   i32 status (0, or -errno), u32 bundle_len, u32 msg_len, the quote bundle
 *                 (docs/attestation.md; empty unless status is 0), msg bytes
 * ERROR reply:    i32 status (-EPROTO, -EOPNOTSUPP, -EMSGSIZE, -EINVAL), u32 msg_len, msg
 * A payload must be exactly as long as its fields say: no trailing bytes. */
struct tre_proto_exec_info {      /* 96 bytes on the wire, in this order */
    char name[32];                /* NUL-padded */
    uint32_t version, svn;
    uint8_t sha256[32];           /* of the image: its measurement */
    char keyid[24];               /* vendor key id as minisign prints it, NUL-padded */
};
#define TRE_PROTO_EXEC_INFO_SIZE 96

#endif
