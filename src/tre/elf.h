/* tre/elf.h — the strict parser of an untrusted TRE image (a static x86-64 ELF): checks the
 * header, the program headers and the segment layout against the TRE program ABI and finds
 * the manifest note. It reads only the file bytes it is given; it never allocates, maps or
 * loads anything, and never trusts a size it has not checked against the file. */
#ifndef TREVISOR_TRE_ELF_H
#define TREVISOR_TRE_ELF_H

#include <stddef.h>
#include <stdint.h>

#define TRE_ELF_MAX_LOADS 16  /* PT_LOAD segments an image may have */
#define TRE_ELF_MAX_PHNUM 64  /* program headers an image may have */

struct tre_elf_load {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags;           /* PF_R|PF_W|PF_X; never both PF_W and PF_X */
};

struct tre_elf {
    int pie;                  /* ET_DYN (static-pie): addresses below are link-time; the
                                 loader adds TRE_PIE_BASE */
    uint64_t entry;
    uint64_t phdr_vaddr;      /* where the program headers are in memory (PT_PHDR, else the
                                 PT_LOAD that covers e_phoff); 0 if not mapped */
    uint16_t phnum, phentsize;
    unsigned nloads;
    struct tre_elf_load loads[TRE_ELF_MAX_LOADS]; /* in ascending vaddr order */
    uint64_t tls_vaddr, tls_memsz, tls_align;     /* PT_TLS, 0 if none */
    uint64_t tls_filesz;      /* PT_TLS initialisation image (.tdata) size, 0 if none */
    const uint8_t *manifest;  /* the manifest note's descriptor, pointing into the file */
    size_t manifest_len;
};

/* Parses and checks the image img[0..len). Returns 0 and fills *out, or -ENOEXEC with a
 * one-line reason in err (always NUL-terminated when errlen > 0). */
int tre_elf_parse(const uint8_t *img, size_t len, struct tre_elf *out, char *err, size_t errlen);

#endif
