/* apps/sigaccel/sigaccel_proto.h — the RPC interface of the sigaccel TRE program, shared by
 * the program (sigaccel_core.c) and its client (sigaccel_client.c): procedure numbers,
 * buffer shapes and limits, and the names in the certificates. Freestanding: <stdint.h>
 * only. See docs/sigaccel.md. */
#ifndef SIGACCEL_PROTO_H
#define SIGACCEL_PROTO_H

#include <stdint.h>

/* INIT    args: [sealed key blob] (optional: no argument, or an empty one, makes a new key)
 *         results: [sealed key blob] (the key sealed afresh: store it)
 *         returns 0. With a blob: the blob's key is loaded; -EBADMSG it does not open
 *         here, -EACCES it was sealed by a newer svn, -EINVAL it holds no P-256 key.
 *         Without: a fresh P-256 key; -ENODEV when trevisor has no sealing service.
 * CA_CERT results: [DER X.509 certificate]: self-signed CA certificate of the token key
 *         SIGACCEL_TOKEN_LABEL, signed by the token. Returns its length. -EACCES when
 *         trevisor's policy does not grant the key to this program, -ENODEV no token.
 * CERT    results: [DER X.509 certificate]: the fast key's certificate, issued by the CA
 *         certificate's subject and signed by the token. Returns its length.
 * SIGN    args: [n * 32 bytes: SHA-256 digests, 1 <= n <= SIGACCEL_MAX_DIGESTS]
 *         results: [n * (u16 little-endian length, DER ECDSA-Sig-Value)], in order.
 *         Returns n.
 * PUBKEY  results: [DER SubjectPublicKeyInfo of the fast key]. Returns its length.
 * CERT, SIGN and PUBKEY need a key: -EPERM before INIT. -ENOSPC: a result does not fit. */
#define SIGACCEL_PROC_INIT      0
#define SIGACCEL_PROC_CA_CERT   1
#define SIGACCEL_PROC_CERT      2
#define SIGACCEL_PROC_SIGN      3
#define SIGACCEL_PROC_PUBKEY    4

#define SIGACCEL_DIGEST_LEN     32
#define SIGACCEL_MAX_DIGESTS    64
#define SIGACCEL_MAX_SIG        72      /* DER ECDSA-Sig-Value for P-256, at most */
#define SIGACCEL_SIGN_OUT_MAX   (SIGACCEL_MAX_DIGESTS * (2 + SIGACCEL_MAX_SIG))
#define SIGACCEL_KEY_DER_MAX    512     /* the serialised private key, at most */
#define SIGACCEL_BLOB_MAX       1024    /* a sealed key blob, at most */
#define SIGACCEL_CERT_MAX       2048    /* one DER certificate, at most */
#define SIGACCEL_SPKI_MAX       256     /* DER SubjectPublicKeyInfo, at most */

#define SIGACCEL_TOKEN_LABEL    "sig"
#define SIGACCEL_CA_CN          "trevisor token sig"
#define SIGACCEL_CERT_CN        "trevisor sigaccel"

#endif
