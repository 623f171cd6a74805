/* tre/elf.c — the strict ELF parser for untrusted TRE images: header, program headers,
 * segment layout (W^X, ordering, the user address range), PT_TLS, PT_PHDR and the manifest
 * note. A pure function over the file bytes: it must never allocate, never read outside
 * [img, img+len), never do unchecked arithmetic on a file value, and never look at section
 * headers (a vendor may strip them). */
#include "tre/elf.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trevisor/abi.h"

#define ELF_PAGE        TRE_PAGE_SIZE
#define ELF_MAX_TLS     (1024ull << 20) /* no PT_TLS larger than the largest instance */

static int elf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int elf_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -ENOEXEC;
}

static uint32_t elf_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* off+size inside [0, len)? */
static int elf_in_file(uint64_t off, uint64_t size, size_t len)
{
    uint64_t end;

    if (__builtin_add_overflow(off, size, &end))
        return 0;
    return end <= (uint64_t)len;
}

static int elf_is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Checks one PT_LOAD (program header index i) on its own and against the previous one,
 * then appends it to e->loads. */
static int elf_add_load(struct tre_elf *e, unsigned i, const Elf64_Phdr *ph, size_t len,
                        char *err, size_t errlen)
{
    uint64_t base = e->pie ? TRE_PIE_BASE : 0, start, end;
    struct tre_elf_load *l;

    if (e->nloads >= TRE_ELF_MAX_LOADS)
        return elf_fail(err, errlen, "ELF: more than %u PT_LOAD segments", TRE_ELF_MAX_LOADS);
    if (ph->p_memsz == 0)
        return elf_fail(err, errlen, "ELF: segment %u is empty (memsz 0)", i);
    if (ph->p_filesz > ph->p_memsz)
        return elf_fail(err, errlen, "ELF: segment %u has filesz 0x%llx > memsz 0x%llx", i,
                        (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
    if (!elf_in_file(ph->p_offset, ph->p_filesz, len))
        return elf_fail(err, errlen, "ELF: segment %u extends past the end of the file", i);
    if (ph->p_align > 1 && (!elf_is_pow2(ph->p_align) || ph->p_align < ELF_PAGE))
        return elf_fail(err, errlen, "ELF: segment %u has bad alignment 0x%llx", i,
                        (unsigned long long)ph->p_align);
    if (ph->p_vaddr % ELF_PAGE != ph->p_offset % ELF_PAGE)
        return elf_fail(err, errlen,
                        "ELF: segment %u has vaddr and file offset that differ modulo 4096", i);
    if ((ph->p_flags & PF_W) && (ph->p_flags & PF_X))
        return elf_fail(err, errlen, "ELF: segment %u is both writable and executable (W^X)",
                        i);
    if (__builtin_add_overflow(ph->p_vaddr, base, &start) ||
        __builtin_add_overflow(start, ph->p_memsz, &end))
        return elf_fail(err, errlen, "ELF: segment %u wraps around the address space", i);
    if (start < TRE_USER_MIN || end > TRE_USER_MAX)
        return elf_fail(err, errlen,
                        "ELF: segment %u at 0x%llx-0x%llx is outside the user range "
                        "0x%llx-0x%llx", i, (unsigned long long)start,
                        (unsigned long long)end, TRE_USER_MIN, TRE_USER_MAX);
    if (e->nloads) {
        const struct tre_elf_load *prev = &e->loads[e->nloads - 1];

        if (ph->p_vaddr < prev->vaddr)
            return elf_fail(err, errlen,
                            "ELF: segment %u: PT_LOAD segments are not in ascending order", i);
        if (ph->p_vaddr < prev->vaddr + prev->memsz) /* no overflow: checked when added */
            return elf_fail(err, errlen, "ELF: segment %u overlaps the previous PT_LOAD", i);
    }
    l = &e->loads[e->nloads++];
    l->vaddr = ph->p_vaddr;
    l->memsz = ph->p_memsz;
    l->offset = ph->p_offset;
    l->filesz = ph->p_filesz;
    l->flags = ph->p_flags & (PF_R | PF_W | PF_X);
    return 0;
}

/* Loads that share a 4 KiB page get the union of their permissions from the loader:
 * that union must still be W^X. Loads are ascending and disjoint here. */
static int elf_check_shared_pages(const struct tre_elf *e, char *err, size_t errlen)
{
    for (unsigned i = 0; i < e->nloads; i++) {
        const struct tre_elf_load *a = &e->loads[i];
        uint64_t a_last = (a->vaddr + a->memsz - 1) / ELF_PAGE;

        for (unsigned j = i + 1; j < e->nloads; j++) {
            const struct tre_elf_load *b = &e->loads[j];
            uint32_t f = a->flags | b->flags;

            if (b->vaddr / ELF_PAGE > a_last)
                break;
            if ((f & PF_W) && (f & PF_X))
                return elf_fail(err, errlen,
                                "ELF: PT_LOADs %u and %u share the page at 0x%llx and together "
                                "are writable and executable (W^X)", i, j,
                                (unsigned long long)(b->vaddr / ELF_PAGE * ELF_PAGE));
        }
    }
    return 0;
}

static int elf_check_entry(const struct tre_elf *e, char *err, size_t errlen)
{
    for (unsigned i = 0; i < e->nloads; i++) {
        const struct tre_elf_load *l = &e->loads[i];

        if ((l->flags & PF_X) && e->entry >= l->vaddr && e->entry - l->vaddr < l->memsz)
            return 0;
    }
    return elf_fail(err, errlen, "ELF: entry point 0x%llx is not inside an executable segment",
                    (unsigned long long)e->entry);
}

static int elf_check_tls(struct tre_elf *e, const Elf64_Phdr *ph, char *err, size_t errlen)
{
    uint64_t align = ph->p_align ? ph->p_align : 1, tend;

    if (!elf_is_pow2(align) || align > ELF_PAGE)
        return elf_fail(err, errlen, "ELF: PT_TLS has bad alignment 0x%llx",
                        (unsigned long long)ph->p_align);
    if (ph->p_vaddr % align)
        return elf_fail(err, errlen, "ELF: PT_TLS address 0x%llx is not aligned to its "
                        "alignment 0x%llx", (unsigned long long)ph->p_vaddr,
                        (unsigned long long)align);
    if (ph->p_filesz > ph->p_memsz)
        return elf_fail(err, errlen, "ELF: PT_TLS has filesz > memsz");
    if (ph->p_memsz > ELF_MAX_TLS)
        return elf_fail(err, errlen, "ELF: PT_TLS is too large (0x%llx bytes)",
                        (unsigned long long)ph->p_memsz);
    if (__builtin_add_overflow(ph->p_vaddr, ph->p_filesz, &tend))
        return elf_fail(err, errlen, "ELF: PT_TLS is not inside a PT_LOAD segment");
    for (unsigned i = 0; i < e->nloads; i++) {
        const struct tre_elf_load *l = &e->loads[i];
        int inside;

        if (ph->p_filesz) /* the initialisation image must be file-backed */
            inside = ph->p_vaddr >= l->vaddr && tend <= l->vaddr + l->filesz;
        else
            inside = ph->p_vaddr >= l->vaddr && ph->p_vaddr <= l->vaddr + l->memsz;
        if (inside) {
            e->tls_vaddr = ph->p_vaddr;
            e->tls_memsz = ph->p_memsz;
            e->tls_filesz = ph->p_filesz;
            e->tls_align = align;
            return 0;
        }
    }
    return elf_fail(err, errlen, "ELF: PT_TLS is not inside a PT_LOAD segment");
}

/* Where the program headers are in memory: PT_PHDR if present (and it must describe the
 * table at e_phoff, file-backed by a PT_LOAD), else the PT_LOAD that covers e_phoff. */
static int elf_find_phdr(struct tre_elf *e, const Elf64_Phdr *pt_phdr, uint64_t phoff,
                         uint64_t phsize, char *err, size_t errlen)
{
    uint64_t va = 0;
    int found = 0;

    for (unsigned i = 0; i < e->nloads && !found; i++) {
        const struct tre_elf_load *l = &e->loads[i];

        if (pt_phdr) {
            uint64_t v = pt_phdr->p_vaddr;

            if (v >= l->vaddr && v - l->vaddr <= l->filesz &&
                phsize <= l->filesz - (v - l->vaddr) && l->offset + (v - l->vaddr) == phoff) {
                va = v;
                found = 1;
            }
        } else if (phoff >= l->offset && phoff - l->offset <= l->filesz &&
                   phsize <= l->filesz - (phoff - l->offset)) {
            va = l->vaddr + (phoff - l->offset);
            found = 1;
        }
    }
    if (pt_phdr && (!found || pt_phdr->p_offset != phoff || pt_phdr->p_filesz < phsize))
        return elf_fail(err, errlen,
                        "ELF: PT_PHDR does not describe the program header table as loaded");
    if (found && va == 0) /* only possible for static-pie; 0 means "not mapped" */
        return elf_fail(err, errlen, "ELF: program header table mapped at address 0");
    e->phdr_vaddr = va;
    return 0;
}

/* Walks the notes of one PT_NOTE segment (program header index i) and records the
 * manifest note. Entries: namesz, descsz, type, then name and descriptor, each padded to
 * the segment's alignment (4, or 8 when p_align is 8). */
static int elf_scan_notes(struct tre_elf *e, unsigned i, const Elf64_Phdr *ph,
                          const uint8_t *img, size_t len, char *err, size_t errlen)
{
    uint64_t a, pos, end;

    if (!elf_in_file(ph->p_offset, ph->p_filesz, len))
        return elf_fail(err, errlen, "ELF: note segment %u extends past the end of the file",
                        i);
    if (ph->p_align <= 4)
        a = 4;
    else if (ph->p_align == 8)
        a = 8;
    else
        return elf_fail(err, errlen, "ELF: note segment %u has bad alignment 0x%llx", i,
                        (unsigned long long)ph->p_align);
    pos = ph->p_offset;
    end = ph->p_offset + ph->p_filesz;
    while (pos < end) { /* each step advances by >= 12 bytes */
        uint64_t room = end - pos, namesz, descsz, desc_off, desc_end, next;
        uint32_t type;

        if (room < 12)
            return elf_fail(err, errlen, "ELF: note segment %u ends in a truncated note", i);
        namesz = elf_rd32(img + pos);
        descsz = elf_rd32(img + pos + 4);
        type = elf_rd32(img + pos + 8);
        /* all below fit easily in 64 bits: namesz, descsz < 2^32 */
        desc_off = (12 + namesz + a - 1) / a * a;
        desc_end = desc_off + descsz;
        if (desc_end > room)
            return elf_fail(err, errlen,
                            "ELF: note segment %u has a note that extends past the segment", i);
        next = (desc_end + a - 1) / a * a;
        if (next > room) /* the last note's padding may be missing */
            next = room;
        if (namesz == sizeof(TRE_NOTE_OWNER) && type == TRE_NOTE_MANIFEST &&
            memcmp(img + pos + 12, TRE_NOTE_OWNER, sizeof(TRE_NOTE_OWNER)) == 0) {
            if (e->manifest)
                return elf_fail(err, errlen, "ELF: two manifest notes");
            e->manifest = img + pos + desc_off;
            e->manifest_len = (size_t)descsz;
        }
        pos += next;
    }
    return 0;
}

int tre_elf_parse(const uint8_t *img, size_t len, struct tre_elf *out, char *err, size_t errlen)
{
    const Elf64_Phdr *tls = NULL, *pt_phdr = NULL;
    Elf64_Phdr phs[TRE_ELF_MAX_PHNUM];
    struct tre_elf e;
    uint64_t phsize, phend;
    Elf64_Ehdr eh;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    memset(&e, 0, sizeof(e));
    if (!img || !out)
        return elf_fail(err, errlen, "ELF: no image");
    if (len < sizeof(eh))
        return elf_fail(err, errlen, "ELF: file too short (%zu bytes) for an ELF header", len);
    memcpy(&eh, img, sizeof(eh));
    if (eh.e_ident[EI_MAG0] != ELFMAG0 || eh.e_ident[EI_MAG1] != ELFMAG1 ||
        eh.e_ident[EI_MAG2] != ELFMAG2 || eh.e_ident[EI_MAG3] != ELFMAG3)
        return elf_fail(err, errlen, "ELF: bad magic (not an ELF file)");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64)
        return elf_fail(err, errlen, "ELF: not a 64-bit ELF (ELFCLASS64)");
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return elf_fail(err, errlen, "ELF: not little-endian (ELFDATA2LSB)");
    if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
        return elf_fail(err, errlen, "ELF: unknown ELF version (not EV_CURRENT)");
    if (eh.e_machine != EM_X86_64)
        return elf_fail(err, errlen, "ELF: not an x86-64 program (e_machine %u)",
                        eh.e_machine);
    if (eh.e_type == ET_EXEC)
        e.pie = 0;
    else if (eh.e_type == ET_DYN)
        e.pie = 1;
    else
        return elf_fail(err, errlen,
                        "ELF: type %u is not an executable (ET_EXEC, or ET_DYN static-pie)",
                        eh.e_type);
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return elf_fail(err, errlen, "ELF: program header size %u, expected %zu",
                        eh.e_phentsize, sizeof(Elf64_Phdr));
    if (eh.e_phnum == 0)
        return elf_fail(err, errlen, "ELF: no program headers");
    if (eh.e_phnum > TRE_ELF_MAX_PHNUM)
        return elf_fail(err, errlen, "ELF: too many program headers (%u > %u)", eh.e_phnum,
                        TRE_ELF_MAX_PHNUM);
    if (__builtin_mul_overflow((uint64_t)eh.e_phnum, (uint64_t)eh.e_phentsize, &phsize) ||
        __builtin_add_overflow(eh.e_phoff, phsize, &phend) || phend > len)
        return elf_fail(err, errlen, "ELF: program header table outside the file");
    if (eh.e_phoff < sizeof(eh))
        return elf_fail(err, errlen, "ELF: program header table overlaps the ELF header");
    memcpy(phs, img + eh.e_phoff, (size_t)phsize);
    e.entry = eh.e_entry;
    e.phnum = eh.e_phnum;
    e.phentsize = eh.e_phentsize;

    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *ph = &phs[i];

        switch (ph->p_type) {
        case PT_INTERP:
            return elf_fail(err, errlen,
                            "ELF: dynamically linked (PT_INTERP); TRE programs must be static");
        case PT_LOAD:
            rc = elf_add_load(&e, i, ph, len, err, errlen);
            if (rc)
                return rc;
            break;
        case PT_GNU_STACK:
            if (ph->p_flags & PF_X)
                return elf_fail(err, errlen,
                                "ELF: executable stack requested (PT_GNU_STACK with PF_X)");
            break;
        case PT_TLS:
            if (tls)
                return elf_fail(err, errlen, "ELF: two PT_TLS segments");
            tls = ph;
            break;
        case PT_PHDR:
            if (pt_phdr)
                return elf_fail(err, errlen, "ELF: two PT_PHDR segments");
            pt_phdr = ph;
            break;
        default:
            break;
        }
    }
    if (e.nloads == 0)
        return elf_fail(err, errlen, "ELF: no PT_LOAD segment");
    rc = elf_check_shared_pages(&e, err, errlen);
    if (rc)
        return rc;
    rc = elf_check_entry(&e, err, errlen);
    if (rc)
        return rc;
    if (tls) {
        rc = elf_check_tls(&e, tls, err, errlen);
        if (rc)
            return rc;
    }
    rc = elf_find_phdr(&e, pt_phdr, eh.e_phoff, phsize, err, errlen);
    if (rc)
        return rc;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        if (phs[i].p_type != PT_NOTE)
            continue;
        rc = elf_scan_notes(&e, i, &phs[i], img, len, err, errlen);
        if (rc)
            return rc;
    }
    if (!e.manifest)
        return elf_fail(err, errlen, "ELF: no manifest note (owner \"%s\", type 0x%x)",
                        TRE_NOTE_OWNER, TRE_NOTE_MANIFEST);
    *out = e;
    return 0;
}
