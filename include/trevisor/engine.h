/* trevisor/engine.h — the TRE engine's C API: verify and start a signed program in its own
 * KVM instance, call it, end it. Every front door (hosted mode's Unix socket, the guest's
 * vsock) and the tests use the engine through this header only. Thread-safe: several
 * threads may call several instances at once; calls to one instance are serialised. */
#ifndef TREVISOR_ENGINE_H
#define TREVISOR_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct tre_engine;
struct tre_services; /* src/services/services.h: what TRE programs may ask for */

struct tre_engine_config {
    const char *trust_dir;      /* directory of vendor *.pub keys; NULL: none (add keys
                                   with tre_engine_trust) */
    uint64_t cpu_budget_ms;     /* CPU time per call (and for start-up); 0 = 5000 */
    unsigned max_instances;     /* 0 = 1024 (at most 4096) */
    struct tre_services *services; /* measurement, quotes, sealing, token; NULL: none
                                   (images are not measured, services give -ENODEV) */
};

/* What exec measured: the image and the vendor key that signed it. */
struct tre_exec_info {
    char name[32];
    uint32_t version, svn;
    uint64_t mem_size, window_size;
    uint8_t sha256[32];
    char sha256_hex[65];
    char keyid[17];             /* as minisign prints it */
    uint8_t measurement[32];    /* its TRE_IMAGE event's data hash (zero: not measured) */
};

int tre_engine_new(const struct tre_engine_config *cfg, struct tre_engine **out,
                   char *err, size_t errlen);
/* Ends and wipes every instance, then frees the engine. No call may be in flight. */
void tre_engine_free(struct tre_engine *e);
/* Adds a vendor public key (the text of a minisign .pub file, or its base64 line). */
int tre_engine_trust(struct tre_engine *e, const char *pubkey_text, size_t len,
                     char *err, size_t errlen);

/* Verifies the image against its minisign signature and the trust store, loads it into a
 * new instance and runs it until it waits for its first message. Returns a descriptor
 * (>= 0) or: -ENOKEY unknown vendor key, -EBADMSG bad signature or altered image,
 * -ENOEXEC bad ELF or manifest, -ENOMEM, -EMFILE too many instances, -ENODEV no KVM,
 * or what ended the program during start-up (see tre_engine_rpc). err gets one line. */
int tre_engine_exec(struct tre_engine *e, const void *image, size_t image_size,
                    const void *sig, size_t sig_size, struct tre_exec_info *info,
                    char *err, size_t errlen);

/* Calls procedure proc of the program: args are copied into its message window, results
 * come back with iov_len set to the bytes the program wrote. Returns the handler's return
 * value, or: -EBADF bad or stale descriptor, -EINVAL bad arguments, -E2BIG the buffers do
 * not fit the program's window or exceed TRE_MAX_BUFS, and when the program ends during
 * the call: -EFAULT it faulted or passed a bad pointer, -ETIMEDOUT its CPU budget ran out,
 * -ESRCH it exited, -EPROTO it broke the RPC protocol. Later calls to an ended program
 * return -ESRCH. */
int tre_engine_rpc(struct tre_engine *e, int desc, int proc,
                   const struct iovec *args, int nargs, struct iovec *results, int nresults);

/* The i-th trusted vendor key (trust store order, then those added with
 * tre_engine_trust): 0, or -ENOENT past the last. For measuring the policy in force. */
int tre_engine_trusted_key(struct tre_engine *e, size_t i, uint8_t keyid[8], uint8_t pk[32]);

/* The owner's attestation: a quote bundle (docs/attestation.md) binding nonce and
 * report, malloc'd into *bundle. -ENODEV when no TPM is configured. */
int tre_engine_attest(struct tre_engine *e, const uint8_t *nonce, size_t nonce_len,
                      const uint8_t *report, size_t report_len, uint8_t **bundle,
                      size_t *len, char *err, size_t errlen);

/* Ends the instance and wipes its memory; the descriptor becomes stale. */
int tre_engine_close(struct tre_engine *e, int desc);

/* Instances alive now (loaded or running), for logs, monitoring and tests. */
unsigned tre_engine_instances(struct tre_engine *e);

/* Host memory the instance's slot has resident (bytes), for benchmarks and tests. */
int64_t tre_engine_resident(struct tre_engine *e, int desc);

/* Host-side inspection for the isolation tests: how many times needle occurs in the
 * instance's resident memory (page tables, ring-0 pages and program alike). */
long tre_engine_debug_scan(struct tre_engine *e, int desc, const void *needle, size_t len);

#endif
