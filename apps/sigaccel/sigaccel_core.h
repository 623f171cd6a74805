/* apps/sigaccel/sigaccel_core.h — the signature accelerator's logic, shared by the TRE
 * program (sigaccel_tre.c) and its native twin (sigaccel_native.c): the fast ECDSA P-256
 * key, its sealing, the two certificates the token signs, batch signing, and the RPC
 * handler. What it may ask of the outside world (sealing, the token, a log line) comes in
 * through struct sigaccel_ops, so the same code runs on TRE services or on native
 * stand-ins. It never returns the private key except as a sealed blob. */
#ifndef SIGACCEL_CORE_H
#define SIGACCEL_CORE_H

#include <stddef.h>
#include "trevisor/tre.h"
#include "sigaccel_proto.h"

/* The outside world, with the TRE service wrappers' shapes (tre.h): bytes written or
 * -errno. */
struct sigaccel_ops {
    long (*seal)(const void *data, size_t len, void *blob, size_t cap);
    long (*unseal)(const void *blob, size_t len, void *data, size_t cap);
    long (*token_pubkey)(const char *label, void *der, size_t cap);
    long (*token_sign)(const char *label, unsigned mech, const void *data, size_t len,
                       void *sig, size_t cap);
    void (*log)(const char *line);
};

/* Sets up OpenSSL (no time-based DRBG reseeds: each would be an exit) and keeps ops.
 * No key yet: INIT makes or loads one. 0 or -1. */
int sigaccel_setup(const struct sigaccel_ops *ops);

/* The RPC handler (procedures in sigaccel_proto.h). */
int sigaccel_handler(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt);

#endif
