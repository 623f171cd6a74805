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

#endif
