/* tre/syscall_sites.c — the syscall finder: a capstone linear sweep over one executable
 * segment records every instruction start, every undecodable byte and every instruction
 * compiled code never contains; then each decoded `syscall` is classified (a site to
 * rewrite, or data that happens to decode) and one pass over the 0f 05 byte pairs checks
 * that each is a decoded syscall's start or lies strictly inside a decoded instruction.
 * It must never modify the code, never accept a prefixed syscall or one the sweep may
 * have mis-synchronised on, and stay linear in the segment size.
 *
 * Leaving a data-like 0f 05 unrewritten gives a program nothing new: a jump into the
 * middle of an instruction reaches an unrewritten 0f 05 anyway, so the instance must
 * already survive one; rewriting data would silently corrupt the program's constants. */
#include "tre/syscall_sites.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-byte facts from the sweep, as bitmaps over the segment's offsets. */
struct sites_maps {
    uint8_t *starts;  /* a decoded instruction starts here */
    uint8_t *undec;   /* the decoder could not decode from here */
    uint8_t *odd;     /* undecodable, or part of an instruction compiled code never has */
    uint8_t *sys;     /* a decoded plain syscall starts here */
};

static int sites_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int sites_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void sites_bit_set(uint8_t *bm, size_t i)
{
    bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int sites_bit(const uint8_t *bm, size_t i)
{
    return (bm[i >> 3] >> (i & 7)) & 1;
}

/* Is any bit in [from, to) set? Whole bytes in the middle, bits at the ends. */
static int sites_any(const uint8_t *bm, size_t from, size_t to)
{
    while (from < to && (from & 7))
        if (sites_bit(bm, from++))
            return 1;
    while (from + 8 <= to) {
        if (bm[from >> 3])
            return 1;
        from += 8;
    }
    while (from < to)
        if (sites_bit(bm, from++))
            return 1;
    return 0;
}

/* Offset of the opcode after legacy and REX prefixes in one decoded instruction. */
static size_t sites_skip_prefixes(const uint8_t *insn, size_t size)
{
    size_t i = 0;

    while (i < size) {
        uint8_t b = insn[i];

        if (b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e ||
            b == 0x36 || b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65 ||
            (b >= 0x40 && b <= 0x4f))
            i++;
        else
            break;
    }
    return i;
}

/* Instructions a compiler never emits in user-mode x86-64 code, but which random bytes
 * decode to often: port I/O, privileged and far-transfer instructions, int imm8 (but 3), int1,
 * prefixed int3, undocumented x87. (Not hlt: musl uses it to crash; not ud2/ud1: traps.) */
static int sites_implausible(const cs_insn *insn, const uint8_t *bytes)
{
    switch (insn->id) {
    case X86_INS_INT: /* Go's runtime crashes with `int $3` (cd 03) */
        return !(insn->size == 2 && bytes[0] == 0xcd && bytes[1] == 0x03);
    case X86_INS_IN: case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
    case X86_INS_OUT: case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD:
    case X86_INS_INT1: case X86_INS_INTO:
    case X86_INS_SALC: case X86_INS_FSTPNCE:
    case X86_INS_CLI: case X86_INS_STI: case X86_INS_CLTS:
    case X86_INS_LGDT: case X86_INS_LIDT: case X86_INS_LLDT: case X86_INS_LTR:
    case X86_INS_LMSW: case X86_INS_INVD: case X86_INS_WBINVD: case X86_INS_INVLPG:
    case X86_INS_RDMSR: case X86_INS_WRMSR: case X86_INS_RSM: case X86_INS_SWAPGS:
    case X86_INS_SYSRET: case X86_INS_SYSEXIT: case X86_INS_SYSENTER:
    case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ:
    case X86_INS_LJMP: case X86_INS_LCALL: case X86_INS_RETF: case X86_INS_RETFQ:
    case X86_INS_LDS: case X86_INS_LES: case X86_INS_LSS: case X86_INS_LFS: case X86_INS_LGS:
    case X86_INS_ARPL: case X86_INS_BOUND: case X86_INS_PUSHAL: case X86_INS_POPAL:
    case X86_INS_DAA: case X86_INS_DAS: case X86_INS_AAA: case X86_INS_AAS:
    case X86_INS_AAM: case X86_INS_AAD:
        return 1;
    case X86_INS_INT3:
        return insn->size > 1;
    default:
        return 0;
    }
}

static int sites_push(uint64_t **arr, size_t *n, size_t *cap, uint64_t va)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        uint64_t *p;

        if (ncap < *cap || ncap > SIZE_MAX / sizeof(**arr))
            return -ENOMEM;
        p = realloc(*arr, ncap * sizeof(**arr));
        if (!p)
            return -ENOMEM;
        *arr = p;
        *cap = ncap;
    }
    (*arr)[(*n)++] = va;
    return 0;
}

/* 1. The linear sweep: each step consumes >= 1 byte. Fills the maps; refuses prefixed
 * syscalls and syscalls just after undecodable bytes. */
static int sites_sweep(csh cs, cs_insn *insn, const uint8_t *code, size_t len, uint64_t vaddr,
                       struct sites_maps *m, char *err, size_t errlen)
{
    size_t undec_end = 0;      /* offset just past the last undecodable byte */
    int have_undec = 0;
    const uint8_t *p = code;
    size_t left = len;
    uint64_t addr = vaddr;

    while (left) {
        size_t off = len - left, size, op;
        const uint8_t *np = p;
        size_t nleft = left;
        uint64_t naddr = addr;

        if (!cs_disasm_iter(cs, &np, &nleft, &naddr, insn) || insn->size == 0 ||
            insn->size > left || nleft != left - insn->size) {
            sites_bit_set(m->undec, off);
            sites_bit_set(m->odd, off);
            have_undec = 1;
            undec_end = off + 1;
            p++;
            left--;
            addr++;
            continue;
        }
        size = insn->size;
        sites_bit_set(m->starts, off);
        if (sites_implausible(insn, code + off))
            for (size_t i = 0; i < size; i++)
                sites_bit_set(m->odd, off + i);
        op = sites_skip_prefixes(code + off, size);
        if (insn->id == X86_INS_SYSCALL ||
            (op + 1 < size && code[off + op] == 0x0f && code[off + op + 1] == 0x05)) {
            if (size != 2 || op != 0 || code[off] != 0x0f || code[off + 1] != 0x05)
                return sites_fail(err, errlen, -ENOEXEC, "syscall sites: prefixed or "
                                  "non-standard syscall (%u bytes) at 0x%llx", (unsigned)size,
                                  (unsigned long long)(vaddr + off));
            if (have_undec && off - undec_end < TRE_SYSCALL_SITES_RESYNC)
                return sites_fail(err, errlen, -ENOEXEC, "syscall sites: syscall at 0x%llx is "
                                  "%zu bytes after undecodable bytes ending at 0x%llx; the "
                                  "decoding is ambiguous", (unsigned long long)(vaddr + off),
                                  off - undec_end, (unsigned long long)(vaddr + undec_end));
            sites_bit_set(m->sys, off);
        }
        p = np;
        left = nleft;
        addr = naddr;
    }
    return 0;
}

/* 2. One pass over every 0f 05 pair: check it, and classify the decoded syscalls. */
static int sites_pairs(const uint8_t *code, size_t len, uint64_t vaddr,
                       const struct sites_maps *m, struct tre_syscall_scan *out,
                       char *err, size_t errlen)
{
    size_t cap_sites = 0, cap_data = 0;
    int rc;

    for (size_t i = 0; i + 1 < len; i++) {
        const uint8_t *q;
        size_t from, to;

        if (code[i] != 0x0f) {
            q = memchr(code + i, 0x0f, len - 1 - i);
            if (!q)
                break;
            i = (size_t)(q - code);
        }
        if (code[i + 1] != 0x05)
            continue;
        out->pairs++;
        if (sites_bit(m->undec, i) || sites_bit(m->undec, i + 1))
            return sites_fail(err, errlen, -ENOEXEC, "syscall sites: 0f 05 at 0x%llx overlaps "
                              "undecodable bytes; the decoding is ambiguous",
                              (unsigned long long)(vaddr + i));
        if (!sites_bit(m->starts, i))
            continue; /* strictly inside a decoded instruction: not an instruction */
        if (!sites_bit(m->sys, i)) /* the sweep makes this impossible */
            return sites_fail(err, errlen, -ENOEXEC, "syscall sites: 0f 05 at 0x%llx starts "
                              "an instruction that is not a syscall",
                              (unsigned long long)(vaddr + i));
        from = i > TRE_SYSCALL_SITES_CONTEXT ? i - TRE_SYSCALL_SITES_CONTEXT : 0;
        to = len - (i + 2) > TRE_SYSCALL_SITES_CONTEXT ? i + 2 + TRE_SYSCALL_SITES_CONTEXT
                                                        : len;
        if (sites_any(m->odd, from, to))
            rc = sites_push(&out->data, &out->ndata, &cap_data, vaddr + i);
        else
            rc = sites_push(&out->sites, &out->nsites, &cap_sites, vaddr + i);
        if (rc)
            return sites_fail(err, errlen, rc, "syscall sites: out of memory");
    }
    return 0;
}

void tre_syscall_scan_free(struct tre_syscall_scan *s)
{
    if (!s)
        return;
    free(s->sites);
    free(s->data);
    memset(s, 0, sizeof(*s));
}

int tre_syscall_sites_scan(const uint8_t *code, size_t len, uint64_t vaddr,
                           struct tre_syscall_scan *out, char *err, size_t errlen)
{
    struct tre_syscall_scan res = { 0 };
    struct sites_maps m = { 0 };
    cs_insn *insn = NULL;
    size_t bmlen;
    uint64_t last;
    csh cs;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!out || (!code && len))
        return sites_fail(err, errlen, -EINVAL, "syscall sites: bad arguments");
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0;
    if (len > TRE_SYSCALL_SITES_MAX_LEN)
        return sites_fail(err, errlen, -ENOEXEC, "syscall sites: segment at 0x%llx is too "
                          "large (%zu bytes)", (unsigned long long)vaddr, len);
    if (__builtin_add_overflow(vaddr, (uint64_t)len - 1, &last))
        return sites_fail(err, errlen, -ENOEXEC, "syscall sites: segment at 0x%llx wraps "
                          "around the address space", (unsigned long long)vaddr);

    bmlen = len / 8 + 1;
    m.starts = calloc(1, bmlen);
    m.undec = calloc(1, bmlen);
    m.odd = calloc(1, bmlen);
    m.sys = calloc(1, bmlen);
    if (!m.starts || !m.undec || !m.odd || !m.sys) {
        rc = sites_fail(err, errlen, -ENOMEM, "syscall sites: out of memory");
        goto out_free;
    }
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
        rc = sites_fail(err, errlen, -EIO, "syscall sites: capstone cs_open failed");
        goto out_free;
    }
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_OFF);
    insn = cs_malloc(cs);
    if (!insn) {
        rc = sites_fail(err, errlen, -ENOMEM, "syscall sites: capstone cs_malloc failed");
        goto out_close;
    }
    rc = sites_sweep(cs, insn, code, len, vaddr, &m, err, errlen);
    if (rc)
        goto out_close;
    rc = sites_pairs(code, len, vaddr, &m, &res, err, errlen);
    if (rc)
        goto out_close;
    *out = res;
    memset(&res, 0, sizeof(res));
out_close:
    if (insn)
        cs_free(insn, 1);
    cs_close(&cs);
out_free:
    tre_syscall_scan_free(&res);
    if (m.starts && m.undec && m.odd && m.sys) { /* they describe the vendor's code */
        explicit_bzero(m.starts, bmlen);
        explicit_bzero(m.undec, bmlen);
        explicit_bzero(m.odd, bmlen);
        explicit_bzero(m.sys, bmlen);
    }
    free(m.starts);
    free(m.undec);
    free(m.odd);
    free(m.sys);
    return rc;
}

int tre_syscall_sites_find(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t **sites,
                           size_t *nsites, char *err, size_t errlen)
{
    struct tre_syscall_scan s;
    int rc;

    if (!sites || !nsites)
        return sites_fail(err, errlen, -EINVAL, "syscall sites: bad arguments");
    *sites = NULL;
    *nsites = 0;
    rc = tre_syscall_sites_scan(code, len, vaddr, &s, err, errlen);
    if (rc)
        return rc;
    *sites = s.sites;
    *nsites = s.nsites;
    free(s.data);
    return 0;
}
