/* trevisor/tre.h — the program SDK: what a vendor's TRE program includes. The RPC handler
 * shape and serve loop, the doorbell, log and exit, and the manifest macro. It must stay
 * freestanding (usable with glibc, musl or no libc) and must never make a Linux syscall:
 * everything here leaves the instance through the doorbell (see abi.h). */
#ifndef TREVISOR_TRE_H
#define TREVISOR_TRE_H

#include <stddef.h>
#include <stdint.h>
#include "trevisor/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Linux errno values, for handlers built without a libc (return them negated). */
#define TRE_EINVAL  22
#define TRE_ENOSPC  28
#define TRE_ENOSYS  38
#define TRE_EPROTO  71

/* ---- RPC ----
 * One buffer of a call. Arguments come first (rw = 0, len = bytes given), then results
 * (rw = 1, len = capacity on entry; the handler sets len to the bytes it wrote). */
struct msgbuf {
    void *base;
    unsigned int len;
    int rw;
};

/* Called once per message. msgcode is TRE_MSG_CALL. The return value goes back to the
 * caller as the RPC's result; a negative value is -errno and returns no result bytes (the
 * serve loop sets every result's length to 0). A result whose len the handler leaves
 * alone returns its whole capacity. */
typedef int tre_handler_fn(int msgcode, int proc_number, struct msgbuf *buf, int bufcnt);

/* Tells trevisor the program is ready, then serves calls forever: wait, check the window
 * header, call h, write back the result lengths, reply. Program state persists between
 * calls. Returns only on a protocol error (a negative -errno). Needs TRE_MANIFEST. */
int tre_serve(tre_handler_fn *h);

/* The message window's size, from the program's own manifest (window=, or the default). */
size_t tre_window_size(void);

/* ---- Leaving the instance ----
 * Stores nr (8 bytes, one movq) to the doorbell page; arguments in rdi, rsi, rdx, r10, r8,
 * the result in rax; every other register is preserved by trevisor. */
static inline long tre_doorbell(long nr, long a1, long a2, long a3, long a4, long a5)
{
    register long r_a1 __asm__("rdi") = a1;
    register long r_a2 __asm__("rsi") = a2;
    register long r_a3 __asm__("rdx") = a3;
    register long r_a4 __asm__("r10") = a4;
    register long r_a5 __asm__("r8") = a5;
    long ret;

    __asm__ __volatile__("movq %%rax, (%[db])"
                         : "=a"(ret)
                         : "a"(nr), [db] "r"((uintptr_t)TRE_DOORBELL_VA), "r"(r_a1),
                           "r"(r_a2), "r"(r_a3), "r"(r_a4), "r"(r_a5)
                         : "memory", "cc");
    return ret;
}

/* One line to trevisor's log (the owner reads it). len is clamped by trevisor. */
void tre_log(const char *msg, size_t len);

/* Ends the program (and so its instance) with status. */
void tre_exit(int status) __attribute__((noreturn));

/* ---- TRE services (abi.h, docs/services.md) ----
 * Each returns the bytes written to out (>= 0) or a negative errno: -ENODEV (19) when the
 * host has no such service, -EACCES (13) when the program may not use it. */
long tre_svc_call(long nr, const void *req, size_t req_len, void *out, size_t out_cap);
long tre_random(void *out, size_t len);
/* A quote bundle binding nonce, this instance's measurement and report_data (on a host
 * run with --tpm none an untrusted bundle, which verifiers refuse by default). */
long tre_quote(const void *nonce, size_t nonce_len, const void *report, size_t report_len,
               void *out, size_t out_cap);
long tre_seal(const void *data, size_t len, void *blob, size_t cap);
long tre_unseal(const void *blob, size_t len, void *data, size_t cap);
/* Token keys this program may use: records of struct tre_token_key. */
long tre_token_list(void *out, size_t cap);
long tre_token_pubkey(const char *label, void *der, size_t cap);
long tre_token_sign(const char *label, unsigned mech, const void *data, size_t len,
                    void *sig, size_t cap);
long tre_token_decrypt(const char *label, unsigned mech, const void *in, size_t len,
                       void *out, size_t cap);
long tre_token_random(void *out, size_t len);

/* ---- The manifest ----
 * TRE_MANIFEST("name=add\0version=1\0svn=1\0mem=4M\0window=64K");
 * Use it once, at file scope, in one source file of the program. It emits an ELF note
 * (owner "trevisor", type TRE_NOTE_MANIFEST) in section .note.trevisor, which the linker
 * puts in a PT_NOTE segment; its descriptor is exactly the string's bytes including the
 * final NUL, so every entry is NUL-terminated. Sizes must be multiples of 4K (see
 * docs/vendor-guide.md). It also defines tre_manifest_desc(), which the serve loop reads. */
struct tre_note_head {
    uint32_t namesz, descsz, type;
    char name[12];          /* "trevisor" + NUL, padded to 4 */
};

const char *tre_manifest_desc(size_t *len);

#define TRE_MANIFEST(s)                                                                  \
    static const struct {                                                                \
        struct tre_note_head head;                                                       \
        char desc[(sizeof(s) + 3) & ~(size_t)3];                                         \
    } tre_manifest_note_                                                                 \
        __attribute__((section(".note.trevisor"), used, aligned(4))) = {                 \
        { sizeof(TRE_NOTE_OWNER), sizeof(s), TRE_NOTE_MANIFEST, TRE_NOTE_OWNER }, s      \
    };                                                                                   \
    _Static_assert(sizeof(TRE_NOTE_OWNER) == 9, "note owner");                           \
    _Static_assert(sizeof("" s) > 1, "TRE_MANIFEST needs a non-empty string literal");   \
    const char *tre_manifest_desc(size_t *len)                                           \
    {                                                                                    \
        *len = sizeof(s);                                                                \
        return tre_manifest_note_.desc;                                                  \
    }

#ifdef __cplusplus
}
#endif

#endif
