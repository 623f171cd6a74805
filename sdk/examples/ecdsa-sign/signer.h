/* sdk/examples/ecdsa-sign/signer.h — the ECDSA P-256 signing service shared by the TRE
 * program and its native benchmark twin: one key made at start, an RPC handler. */
#ifndef ECDSA_SIGN_SIGNER_H
#define ECDSA_SIGN_SIGNER_H

#include "trevisor/tre.h"

#define SIGNER_MAX_DIGESTS 64
#define SIGNER_DIGEST_LEN  32
#define SIGNER_MAX_SIG     72   /* DER ECDSA-Sig-Value for P-256, at most */

/* Creates the key pair (OpenSSL, P-256). Returns 0 or -1. */
int signer_init(void);
/* proc 0: () -> (SubjectPublicKeyInfo DER), returns its length.
 * proc 1: (N*32 bytes of SHA-256 digests, N = 1..64) -> (N x [u16 LE len][DER sig]),
 *         returns N. -EINVAL on bad shapes, -ENOSPC if the result does not fit. */
int signer_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt);

#endif
