/* tre/syscall_sites.h — finds every `syscall` instruction (0f 05) in a TRE program's
 * executable segment with a real x86 decoder (capstone), so the loader can rewrite each to
 * a two-byte trap and know the exact set of rewritten addresses. It only reads the bytes:
 * it never rewrites them, and it refuses any 0f 05 it cannot place without ambiguity. */
#ifndef TREVISOR_TRE_SYSCALL_SITES_H
#define TREVISOR_TRE_SYSCALL_SITES_H

#include <stddef.h>
#include <stdint.h>

/* Refuse a syscall that starts fewer than this many bytes after undecodable bytes: the
 * linear sweep may have resynchronised on the wrong instruction boundary. */
#define TRE_SYSCALL_SITES_RESYNC  16
/* A decoded syscall with an undecodable byte, or an instruction compiled user code never
 * contains (port I/O, privileged, far transfers, int imm8, int1...), this close before or
 * after it is in data that happens to decode (e.g. OpenSSL's tables in .text): it is not
 * rewritten, and listed apart. */
#define TRE_SYSCALL_SITES_CONTEXT 64
#define TRE_SYSCALL_SITES_MAX_LEN (1ull << 30) /* largest segment it will scan */

/* What one scan found. All addresses are virtual (vaddr + offset), ascending. */
struct tre_syscall_scan {
    uint64_t *sites;  size_t nsites;  /* `syscall` instructions: to rewrite */
    uint64_t *data;   size_t ndata;   /* 0f 05 that decoded as syscall in data-like bytes:
                                         left alone */
    size_t pairs;                     /* every 0f 05 byte pair in the segment */
};

/* Scans one executable segment's bytes (code, len) mapped at vaddr. On success *sites is a
 * malloc'd ascending array of the virtual addresses of every `syscall` instruction (NULL
 * when there are none; data-like ones are not included), *nsites its count. Refuses
 * (-ENOEXEC, err says where) if any 0f 05 byte pair cannot be placed cleanly: a prefixed
 * syscall, a pair overlapping undecodable bytes, or a syscall fewer than
 * TRE_SYSCALL_SITES_RESYNC bytes after undecodable bytes. -ENOMEM/-EIO if the decoder or
 * memory fails, -EINVAL on bad arguments. */
int tre_syscall_sites_find(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t **sites,
                           size_t *nsites, char *err, size_t errlen);

/* The same scan with everything it found; free with tre_syscall_scan_free(). */
int tre_syscall_sites_scan(const uint8_t *code, size_t len, uint64_t vaddr,
                           struct tre_syscall_scan *out, char *err, size_t errlen);
void tre_syscall_scan_free(struct tre_syscall_scan *s);

#endif
