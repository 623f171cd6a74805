/* trevisor/abi.h — the TRE program ABI: the instance's address map, the doorbell calls,
 * the message-window layout and the manifest note. Shared verbatim by trevisor (host) and
 * by TRE programs (the SDK); it must stay freestanding (no libc types beyond <stdint.h>). */
#ifndef TREVISOR_ABI_H
#define TREVISOR_ABI_H

#include <stdint.h>

/* ---- Address map of an instance (virtual addresses, all in the lower canonical half) ----
 * The program's PT_LOAD segments sit where the ELF says (static-pie at TRE_PIE_BASE);
 * everything below lives above them at fixed places. */
#define TRE_PAGE_SIZE        4096ull
#define TRE_USER_MIN         0x0000000000010000ull /* nothing is mapped below this */
#define TRE_USER_MAX         0x0000100000000000ull /* ELF segments must end below this */
#define TRE_PIE_BASE         0x0000000000400000ull /* load base of ET_DYN (static-pie) images */
#define TRE_ARENA_VA         0x0000200000000000ull /* heap: brk grows up, mmap comes down */
#define TRE_WINDOW_VA        0x00007ffe00000000ull /* the message window (RW, NX) */
#define TRE_DOORBELL_VA      0x00007fff00000000ull /* one page, no memory behind it */
#define TRE_STACK_TOP        0x00007ffff0000000ull /* initial stack grows down from here */

/* ---- Doorbell calls ----
 * A program leaves its instance by storing the call number (64-bit) at TRE_DOORBELL_VA.
 * Arguments are in rdi, rsi, rdx, r10, r8 (like Linux syscalls); the result is in rax.
 * Numbers below 0x1000 are the engine's; 0x1000 and up are TRE services. */
#define TRE_DB_WAIT          1   /* rdi = handler's return value; replies, then waits for
                                    the next message; returns the new msgcode */
#define TRE_DB_LOG           2   /* rdi = buffer, rsi = length: one line to the log */
#define TRE_DB_EXIT          3   /* rdi = status: the program ends */
#define TRE_DB_SERVICE_BASE  0x1000

/* ---- Message codes passed to the handler ---- */
#define TRE_MSG_CALL         1   /* an RPC: proc_number and buffers are valid */

/* ---- The message window ----
 * Mapped at TRE_WINDOW_VA; its size comes from the manifest. It starts with this header;
 * buffer data follows at the offsets given (relative to the window's start). trevisor
 * writes the header and the arguments before it resumes the program, and reads the header
 * (a private copy first, then checks) after TRE_DB_WAIT. */
#define TRE_WINDOW_MAGIC     0x57455254u /* "TREW" */
#define TRE_MAX_BUFS         16

struct tre_window_buf {
    uint32_t offset; /* from the window's start */
    uint32_t len;    /* args: bytes given; results: set by the program to bytes written */
    uint32_t cap;    /* bytes reserved at offset */
    uint32_t rw;     /* 0 = argument (read), 1 = result (write) */
};

struct tre_window_hdr {
    uint32_t magic;
    int32_t  msgcode;
    int32_t  proc_number;
    uint32_t bufcnt;
    struct tre_window_buf bufs[TRE_MAX_BUFS];
};

/* ---- The manifest ----
 * An ELF note (section .note.trevisor, in a PT_NOTE segment) with owner "trevisor" and
 * type TRE_NOTE_MANIFEST. Its descriptor is a list of NUL-terminated "key=value" strings:
 *   name=<1..31 chars [A-Za-z0-9._-]>   version=<u32>   svn=<u32>
 *   mem=<size>   window=<size>   (size: decimal bytes, or with a K or M suffix)
 *   cap=<capability>   (zero or more; parsed and shown, granted by later policy)
 * name is required; the rest have defaults (see docs/manifest.md). */
#define TRE_NOTE_OWNER       "trevisor"
#define TRE_NOTE_MANIFEST    0x4d52 /* "RM" */

/* ---- TRE services (doorbell calls from TRE_DB_SERVICE_BASE; docs/services.md) ----
 * rdi = request, rsi = its length, rdx = reply buffer, r10 = its capacity. rax = the bytes
 * of reply written (>= 0) or -errno. Both buffers must lie in the program's memory (a bad
 * pointer ends the instance); trevisor copies the request out before it reads it. All
 * integers are little-endian. A service the host has not configured returns -ENODEV. */
#define TRE_SVC_RANDOM         0x1000 /* req: none. reply: r10 random bytes (<= 64 KiB) */
#define TRE_SVC_QUOTE          0x1001 /* req: struct tre_quote_req, then report data
                                         (<= TRE_REPORT_MAX). reply: a quote bundle
                                         (docs/attestation.md) */
#define TRE_SVC_SEAL           0x1002 /* req: data (<= TRE_SEAL_MAX). reply: a blob of
                                         len + TRE_SEAL_OVERHEAD bytes */
#define TRE_SVC_UNSEAL         0x1003 /* req: a blob. reply: the data */
#define TRE_SVC_TOKEN_LIST     0x1010 /* req: none. reply: records of struct tre_token_key */
#define TRE_SVC_TOKEN_PUBKEY   0x1011 /* req: struct tre_token_req + label. reply: DER
                                         SubjectPublicKeyInfo */
#define TRE_SVC_TOKEN_SIGN     0x1012 /* req: struct tre_token_req + label + data. reply:
                                         the signature (ECDSA: DER ECDSA-Sig-Value) */
#define TRE_SVC_TOKEN_DECRYPT  0x1013 /* req: struct tre_token_req + label + ciphertext.
                                         reply: the plaintext */
#define TRE_SVC_TOKEN_RANDOM   0x1014 /* req: none. reply: r10 bytes from the token's RNG */

#define TRE_SVC_MAX_REQ        (256u * 1024) /* bytes of one request, at most */
#define TRE_NONCE_MAX          64
#define TRE_REPORT_MAX         1024
#define TRE_SEAL_MAX           (64u * 1024)
#define TRE_SEAL_OVERHEAD      64     /* blob header + IV + tag (docs/sealing.md) */

struct tre_quote_req {
    uint32_t nonce_len;               /* 0..TRE_NONCE_MAX */
    uint8_t nonce[TRE_NONCE_MAX];     /* the verifier's challenge */
};                                    /* report data follows (the rest of the request) */

/* Token mechanisms (tre_token_req.mech). Digests are SHA-256, 32 bytes. */
#define TRE_TOKEN_ECDSA_SHA256      1 /* data: the digest. sig: DER ECDSA-Sig-Value */
#define TRE_TOKEN_RSA_PKCS1_SHA256  2 /* data: the digest. sig: 256 bytes (RSA-2048) */
#define TRE_TOKEN_RSA_PSS_SHA256    3 /* data: the digest; MGF1-SHA256, salt 32 bytes */
#define TRE_TOKEN_ED25519           4 /* data: the message (<= 64 KiB). sig: 64 bytes */
#define TRE_TOKEN_RSA_OAEP_SHA256   5 /* decrypt: OAEP, SHA-256 and MGF1-SHA256, no label */
#define TRE_TOKEN_RSA_PKCS1         6 /* decrypt: PKCS#1 v1.5 */

struct tre_token_req {
    uint32_t mech;                    /* TRE_TOKEN_*, 0 for PUBKEY */
    uint32_t label_len;               /* 1..TRE_TOKEN_LABEL_MAX; the label follows */
};                                    /* then the data (the rest of the request) */
#define TRE_TOKEN_LABEL_MAX    64

/* Key types in a TOKEN_LIST record */
#define TRE_TOKEN_KEY_EC_P256  1
#define TRE_TOKEN_KEY_RSA2048  2
#define TRE_TOKEN_KEY_ED25519  3
#define TRE_TOKEN_KEY_OTHER    15

struct tre_token_key {                /* one record of the TOKEN_LIST reply */
    uint8_t type;                     /* TRE_TOKEN_KEY_* */
    uint8_t label_len;                /* the label's bytes follow */
};

#endif
