/* tests/test_elf.c — the strict ELF parser: every refusal on a hand-built image (a tiny
 * in-test ELF builder: header, program headers, a manifest note, a code page), and
 * acceptance of real static binaries built here with gcc -static, gcc -static-pie and
 * musl-gcc -static, each carrying a manifest note from a small asm file. */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tre/elf.h"
#include "tre/manifest.h"
#include "trevisor/abi.h"

/* ---- a tiny ELF builder ----
 * Layout of the default image (ET_EXEC at 0x400000, 12 KiB):
 *   0x0000 ELF header, program headers at 0x40, notes at 0xf00   LOAD R   0x400000
 *   0x1000 code                                                  LOAD R X 0x401000
 *   0x2000 data (0x100 in the file, 0x2000 in memory)             LOAD R W 0x402000 */
#define EB_SIZE      0x3000
#define EB_NOTE_OFF  0xf00
#define EB_BASE      0x400000ull

struct eb {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[80];
    unsigned nph;
    uint8_t note[256];
    size_t note_len;
    uint8_t img[EB_SIZE];
    size_t len;
};

static const char eb_desc[] = "name=test\0mem=8M\0cap=log";

static size_t eb_put_note(uint8_t *p, uint32_t namesz, const char *name, uint32_t type,
                          const void *desc, uint32_t descsz, unsigned align)
{
    size_t o = 0;

    memcpy(p, &namesz, 4);
    memcpy(p + 4, &descsz, 4);
    memcpy(p + 8, &type, 4);
    o = 12;
    memcpy(p + o, name, namesz);
    o = (o + namesz + align - 1) / align * align;
    memcpy(p + o, desc, descsz);
    o = (o + descsz + align - 1) / align * align;
    return o;
}

static unsigned eb_add(struct eb *b, uint32_t type, uint32_t flags, uint64_t off, uint64_t va,
                       uint64_t filesz, uint64_t memsz, uint64_t align)
{
    Elf64_Phdr *ph = &b->ph[b->nph];

    memset(ph, 0, sizeof(*ph));
    ph->p_type = type;
    ph->p_flags = flags;
    ph->p_offset = off;
    ph->p_vaddr = ph->p_paddr = va;
    ph->p_filesz = filesz;
    ph->p_memsz = memsz;
    ph->p_align = align;
    return b->nph++;
}

/* Indexes of the default program headers */
enum { EB_LOAD_R, EB_LOAD_X, EB_LOAD_W, EB_NOTE, EB_STACK, EB_NDEFAULT };

static void eb_init(struct eb *b)
{
    memset(b, 0, sizeof(*b));
    memcpy(b->eh.e_ident, ELFMAG, SELFMAG);
    b->eh.e_ident[EI_CLASS] = ELFCLASS64;
    b->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    b->eh.e_ident[EI_VERSION] = EV_CURRENT;
    b->eh.e_type = ET_EXEC;
    b->eh.e_machine = EM_X86_64;
    b->eh.e_version = EV_CURRENT;
    b->eh.e_entry = EB_BASE + 0x1000;
    b->eh.e_phoff = sizeof(Elf64_Ehdr);
    b->eh.e_ehsize = sizeof(Elf64_Ehdr);
    b->eh.e_phentsize = sizeof(Elf64_Phdr);
    b->note_len = eb_put_note(b->note, 9, "trevisor", TRE_NOTE_MANIFEST, eb_desc,
                              sizeof(eb_desc), 4);
    eb_add(b, PT_LOAD, PF_R, 0, EB_BASE, 0x1000, 0x1000, 0x1000);
    eb_add(b, PT_LOAD, PF_R | PF_X, 0x1000, EB_BASE + 0x1000, 0x1000, 0x1000, 0x1000);
    eb_add(b, PT_LOAD, PF_R | PF_W, 0x2000, EB_BASE + 0x2000, 0x100, 0x2000, 0x1000);
    eb_add(b, PT_NOTE, PF_R, EB_NOTE_OFF, EB_BASE + EB_NOTE_OFF, b->note_len, b->note_len, 4);
    eb_add(b, PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 16);
    b->len = EB_SIZE;
}

/* Writes the program headers (where e_phoff says, if they fit), the header, the notes. */
static void eb_emit(struct eb *b)
{
    uint64_t phsize = (uint64_t)b->nph * sizeof(Elf64_Phdr);
    static const uint8_t code[] = { 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b };

    memset(b->img, 0, sizeof(b->img));
    b->eh.e_phnum = (uint16_t)b->nph;
    if (b->eh.e_phoff <= EB_SIZE && phsize <= EB_SIZE - b->eh.e_phoff)
        memcpy(b->img + b->eh.e_phoff, b->ph, phsize);
    memcpy(b->img, &b->eh, sizeof(b->eh)); /* after: e_phoff 0 must not clobber it */
    memcpy(b->img + EB_NOTE_OFF, b->note, b->note_len);
    memcpy(b->img + 0x1000, code, sizeof(code));
}

static int eb_parse(struct eb *b, struct tre_elf *e, char *err, size_t errlen)
{
    eb_emit(b);
    return tre_elf_parse(b->img, b->len, e, err, errlen);
}

static int eb_refuses_(struct eb *b, const char *want, int line)
{
    struct tre_elf e;
    char err[256];
    int rc = eb_parse(b, &e, err, sizeof(err));

    if (rc != -ENOEXEC || !strstr(err, want)) {
        fprintf(stderr, "  line %d: rc %d, err \"%s\", wanted \"%s\"\n", line, rc, err, want);
        return 0;
    }
    return 1;
}
#define EB_REFUSES(b, want) CHECK(eb_refuses_((b), (want), __LINE__))

/* ---- hand-built images ---- */

static void test_elf_minimal_ok(void)
{
    struct tre_elf e;
    struct tre_manifest m;
    char err[256];
    struct eb b;

    eb_init(&b);
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(err[0], 0);
    CHECK_EQ(e.pie, 0);
    CHECK_EQ(e.entry, EB_BASE + 0x1000);
    CHECK_EQ(e.phnum, EB_NDEFAULT);
    CHECK_EQ(e.phentsize, sizeof(Elf64_Phdr));
    CHECK_EQ(e.phdr_vaddr, EB_BASE + 0x40);
    CHECK_EQ(e.nloads, 3);
    CHECK_EQ(e.loads[1].vaddr, EB_BASE + 0x1000);
    CHECK_EQ(e.loads[1].flags, PF_R | PF_X);
    CHECK_EQ(e.loads[2].filesz, 0x100);
    CHECK_EQ(e.loads[2].memsz, 0x2000);
    CHECK_EQ(e.tls_vaddr, 0);
    CHECK_EQ(e.tls_memsz, 0);
    CHECK(e.manifest == b.img + EB_NOTE_OFF + 24);
    CHECK_EQ(e.manifest_len, sizeof(eb_desc));
    CHECK_EQ(tre_manifest_parse(e.manifest, e.manifest_len, &m, err, sizeof(err)), 0);
    CHECK(strcmp(m.name, "test") == 0);
}

static void test_elf_pie_ok(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;

    eb_init(&b);
    b.eh.e_type = ET_DYN;
    for (unsigned i = 0; i < b.nph; i++)
        if (b.ph[i].p_vaddr)
            b.ph[i].p_vaddr -= EB_BASE;
    b.eh.e_entry = 0x1000;
    eb_add(&b, PT_PHDR, PF_R, 0x40, 0x40, 6 * 56, 6 * 56, 8);
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(e.pie, 1);
    CHECK_EQ(e.loads[0].vaddr, 0);
    CHECK_EQ(e.entry, 0x1000);
    CHECK_EQ(e.phdr_vaddr, 0x40);

    /* a static-pie whose segments would end past TRE_USER_MAX once based */
    b.ph[EB_LOAD_W].p_memsz = TRE_USER_MAX - TRE_PIE_BASE - 0x2000 + 0x1000;
    EB_REFUSES(&b, "outside the user range");
}

static void test_elf_tls_ok(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;

    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x20, 0x68, 8);
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(e.tls_vaddr, EB_BASE + 0x2000);
    CHECK_EQ(e.tls_memsz, 0x68);
    CHECK_EQ(e.tls_filesz, 0x20);
    CHECK_EQ(e.tls_align, 8);
}

static void test_elf_header_refusals(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;

    eb_init(&b);
    eb_emit(&b);
    CHECK_EQ(tre_elf_parse(b.img, 63, &e, err, sizeof(err)), -ENOEXEC);
    CHECK(strstr(err, "too short") != NULL);
    CHECK_EQ(tre_elf_parse(b.img, 0, &e, err, sizeof(err)), -ENOEXEC);

    for (int i = 0; i < 4; i++) { /* every magic byte counts (BitVisor's && bug) */
        eb_init(&b);
        b.eh.e_ident[i] ^= 0x20;
        EB_REFUSES(&b, "bad magic");
    }
    eb_init(&b);
    b.eh.e_ident[EI_CLASS] = ELFCLASS32;
    EB_REFUSES(&b, "ELFCLASS64");
    eb_init(&b);
    b.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    EB_REFUSES(&b, "little-endian");
    eb_init(&b);
    b.eh.e_ident[EI_VERSION] = 2;
    EB_REFUSES(&b, "version");
    eb_init(&b);
    b.eh.e_version = 0;
    EB_REFUSES(&b, "version");
    eb_init(&b);
    b.eh.e_machine = EM_386;
    EB_REFUSES(&b, "x86-64");
    eb_init(&b);
    b.eh.e_type = ET_REL;
    EB_REFUSES(&b, "not an executable");
    eb_init(&b);
    b.eh.e_type = ET_CORE;
    EB_REFUSES(&b, "not an executable");
    eb_init(&b);
    b.eh.e_phentsize = 32;
    EB_REFUSES(&b, "program header size");
}

static void test_elf_phdr_table_refusals(void)
{
    struct eb b;

    eb_init(&b);
    b.nph = 0;
    EB_REFUSES(&b, "no program headers");

    eb_init(&b);
    while (b.nph < 65)
        eb_add(&b, PT_NULL, 0, 0, 0, 0, 0, 0);
    EB_REFUSES(&b, "too many program headers");

    eb_init(&b);
    b.eh.e_phoff = EB_SIZE - 56;
    EB_REFUSES(&b, "program header table outside the file");
    eb_init(&b);
    b.eh.e_phoff = UINT64_MAX - 100; /* offset + size overflows */
    EB_REFUSES(&b, "program header table outside the file");
    eb_init(&b);
    b.eh.e_phoff = 0;
    EB_REFUSES(&b, "overlaps the ELF header");

    eb_init(&b);
    eb_add(&b, PT_INTERP, PF_R, 0x200, EB_BASE + 0x200, 28, 28, 1);
    EB_REFUSES(&b, "ELF: dynamically linked (PT_INTERP); TRE programs must be static");
}

static void test_elf_load_refusals(void)
{
    struct eb b;

    eb_init(&b);
    b.nph = 0;
    eb_add(&b, PT_NOTE, PF_R, EB_NOTE_OFF, 0, b.note_len, b.note_len, 4);
    EB_REFUSES(&b, "no PT_LOAD");

    eb_init(&b);
    for (int i = 0; i < TRE_ELF_MAX_LOADS - 2; i++)
        eb_add(&b, PT_LOAD, PF_R | PF_W, 0x2000, EB_BASE + 0x10000 + 0x1000 * i, 0x10, 0x10,
               0x1000);
    EB_REFUSES(&b, "more than 16 PT_LOAD");

    eb_init(&b);
    b.ph[EB_LOAD_W].p_filesz = 0x3000;
    EB_REFUSES(&b, "filesz");
    eb_init(&b);
    b.ph[EB_LOAD_W].p_filesz = 0x1001;
    b.ph[EB_LOAD_W].p_memsz = 0x2000;
    EB_REFUSES(&b, "ELF: segment 2 extends past the end of the file");
    eb_init(&b);
    b.ph[EB_LOAD_W].p_offset = UINT64_MAX - 0x0ff; /* offset + filesz overflows */
    b.ph[EB_LOAD_W].p_vaddr = EB_BASE + 0x2f01;
    EB_REFUSES(&b, "extends past the end of the file");
    eb_init(&b);
    b.ph[EB_LOAD_W].p_memsz = 0;
    b.ph[EB_LOAD_W].p_filesz = 0;
    EB_REFUSES(&b, "empty");

    eb_init(&b);
    b.ph[EB_LOAD_X].p_align = 0x800;
    EB_REFUSES(&b, "bad alignment");
    eb_init(&b);
    b.ph[EB_LOAD_X].p_align = 0x3000;
    EB_REFUSES(&b, "bad alignment");
    eb_init(&b);
    b.ph[EB_LOAD_X].p_align = 2;
    EB_REFUSES(&b, "bad alignment");
    eb_init(&b);
    b.ph[EB_LOAD_X].p_align = 0x200000; /* a large power of two is fine */
    b.ph[EB_LOAD_W].p_align = 0;
    b.ph[EB_LOAD_R].p_align = 1;
    {
        struct tre_elf e;
        char err[256];

        CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    }

    eb_init(&b);
    b.ph[EB_LOAD_W].p_vaddr += 0x10;
    EB_REFUSES(&b, "differ modulo 4096");

    eb_init(&b);
    b.ph[EB_LOAD_X].p_flags = PF_R | PF_W | PF_X;
    EB_REFUSES(&b, "ELF: segment 1 is both writable and executable (W^X)");

    eb_init(&b);
    b.ph[EB_LOAD_W].p_memsz = UINT64_MAX - 0x100;
    EB_REFUSES(&b, "wraps around");
    eb_init(&b);
    b.ph[EB_LOAD_R].p_vaddr = 0x0;
    EB_REFUSES(&b, "outside the user range");
    eb_init(&b);
    b.ph[EB_LOAD_R].p_vaddr = TRE_USER_MIN - 0x1000;
    b.ph[EB_LOAD_R].p_memsz = 0x2000;
    b.ph[EB_LOAD_R].p_filesz = 0x1000;
    EB_REFUSES(&b, "outside the user range");
    eb_init(&b);
    b.ph[EB_LOAD_W].p_memsz = TRE_USER_MAX - (EB_BASE + 0x2000) + 1;
    EB_REFUSES(&b, "outside the user range");
    eb_init(&b); /* ending exactly at TRE_USER_MAX is fine */
    b.ph[EB_LOAD_W].p_memsz = TRE_USER_MAX - (EB_BASE + 0x2000);
    {
        struct tre_elf e;
        char err[256];

        CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    }
}

static void test_elf_layout_refusals(void)
{
    struct eb b;
    Elf64_Phdr t;

    eb_init(&b); /* descending order */
    t = b.ph[EB_LOAD_X];
    b.ph[EB_LOAD_X] = b.ph[EB_LOAD_W];
    b.ph[EB_LOAD_W] = t;
    EB_REFUSES(&b, "ascending");

    eb_init(&b); /* overlap by one byte */
    b.ph[EB_LOAD_R].p_memsz = 0x1001;
    EB_REFUSES(&b, "overlaps the previous PT_LOAD");

    eb_init(&b); /* RX and RW in the same page */
    b.ph[EB_LOAD_X].p_memsz = b.ph[EB_LOAD_X].p_filesz = 0x800;
    b.ph[EB_LOAD_W].p_offset = 0x1800;
    b.ph[EB_LOAD_W].p_vaddr = EB_BASE + 0x1800;
    EB_REFUSES(&b, "writable and executable");

    eb_init(&b); /* X and W share a page through a small R segment in between */
    b.ph[EB_LOAD_X].p_memsz = b.ph[EB_LOAD_X].p_filesz = 0x400;
    b.ph[EB_LOAD_W].p_offset = 0x1800;
    b.ph[EB_LOAD_W].p_vaddr = EB_BASE + 0x1800;
    eb_add(&b, PT_LOAD, PF_R, 0x1400, EB_BASE + 0x1400, 0x100, 0x100, 0x1000);
    t = b.ph[b.nph - 1]; /* keep ascending: R X, R, R W */
    memmove(&b.ph[EB_LOAD_W + 1], &b.ph[EB_LOAD_W], (b.nph - 1 - EB_LOAD_W) * sizeof(t));
    b.ph[EB_LOAD_W] = t;
    EB_REFUSES(&b, "writable and executable");

    eb_init(&b); /* R and RX in one page is fine */
    b.ph[EB_LOAD_R].p_memsz = b.ph[EB_LOAD_R].p_filesz = 0xf80;
    b.ph[EB_LOAD_X].p_offset = 0xf80;
    b.ph[EB_LOAD_X].p_vaddr = EB_BASE + 0xf80;
    b.ph[EB_LOAD_X].p_memsz = b.ph[EB_LOAD_X].p_filesz = 0x1080;
    b.eh.e_entry = EB_BASE + 0xf80;
    {
        struct tre_elf e;
        char err[256];

        CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    }
}

static void test_elf_entry_stack_refusals(void)
{
    struct eb b;

    eb_init(&b);
    b.eh.e_entry = EB_BASE + 0x2000; /* in the RW segment */
    EB_REFUSES(&b, "entry point");
    eb_init(&b);
    b.eh.e_entry = EB_BASE + 0x2000 - 1 + 1 + 0x5000; /* nowhere */
    EB_REFUSES(&b, "entry point");
    eb_init(&b);
    b.eh.e_entry = EB_BASE + 0x2000 - 1; /* last byte of the code segment: fine */
    {
        struct tre_elf e;
        char err[256];

        CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    }

    eb_init(&b);
    b.ph[EB_STACK].p_flags = PF_R | PF_W | PF_X;
    EB_REFUSES(&b, "executable stack");
}

static void test_elf_tls_refusals(void)
{
    struct eb b;

    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x20, 0x68, 24);
    EB_REFUSES(&b, "PT_TLS has bad alignment");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x20, 0x68, 0x2000);
    EB_REFUSES(&b, "PT_TLS has bad alignment");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2004, EB_BASE + 0x2004, 0x20, 0x68, 8);
    EB_REFUSES(&b, "not aligned");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x20f0, EB_BASE + 0x20f0, 0x20, 0x68, 8);
    EB_REFUSES(&b, "PT_TLS is not inside a PT_LOAD"); /* past the file-backed part */
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x9000, 0, 0x68, 8);
    EB_REFUSES(&b, "PT_TLS is not inside a PT_LOAD");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x69, 0x68, 8);
    EB_REFUSES(&b, "filesz > memsz");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, UINT64_MAX - 8 + 1, 0x20, 0x68, 8);
    EB_REFUSES(&b, "PT_TLS is not inside a PT_LOAD");
    eb_init(&b);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x20, 0x68, 8);
    eb_add(&b, PT_TLS, PF_R, 0x2000, EB_BASE + 0x2000, 0x20, 0x68, 8);
    EB_REFUSES(&b, "two PT_TLS");
}

static void test_elf_phdr_refusals(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;

    eb_init(&b);
    eb_add(&b, PT_PHDR, PF_R, 0x40, EB_BASE + 0x40, 6 * 56, 6 * 56, 8);
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(e.phdr_vaddr, EB_BASE + 0x40);

    eb_init(&b);
    eb_add(&b, PT_PHDR, PF_R, 0x40, EB_BASE + 0x1040, 6 * 56, 6 * 56, 8);
    EB_REFUSES(&b, "PT_PHDR does not describe");
    eb_init(&b);
    eb_add(&b, PT_PHDR, PF_R, 0x80, EB_BASE + 0x40, 6 * 56, 6 * 56, 8);
    EB_REFUSES(&b, "PT_PHDR does not describe");
    eb_init(&b);
    eb_add(&b, PT_PHDR, PF_R, 0x40, EB_BASE + 0x40, 6 * 56, 6 * 56, 8);
    eb_add(&b, PT_PHDR, PF_R, 0x40, EB_BASE + 0x40, 7 * 56, 7 * 56, 8);
    EB_REFUSES(&b, "two PT_PHDR");

    /* program headers not covered by any PT_LOAD: fine, phdr_vaddr = 0 */
    eb_init(&b);
    b.ph[EB_LOAD_R].p_offset = 0x1000 - 0x100 + 0;
    b.ph[EB_LOAD_R].p_vaddr = EB_BASE + 0xf00;
    b.ph[EB_LOAD_R].p_filesz = b.ph[EB_LOAD_R].p_memsz = 0x100;
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(e.phdr_vaddr, 0);
}

static void test_elf_note_refusals(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;
    uint8_t two[256];
    size_t n;

    eb_init(&b); /* no manifest: a different owner */
    b.note_len = eb_put_note(b.note, 4, "GNU", 3, "abcdefgh", 8, 4);
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = b.note_len;
    EB_REFUSES(&b, "no manifest note");
    eb_init(&b); /* no manifest: a different type */
    b.note_len = eb_put_note(b.note, 9, "trevisor", 1, eb_desc, sizeof(eb_desc), 4);
    EB_REFUSES(&b, "no manifest note");
    eb_init(&b); /* no manifest: owner name without its NUL */
    b.note_len = eb_put_note(b.note, 8, "trevisor", TRE_NOTE_MANIFEST, eb_desc,
                             sizeof(eb_desc), 4);
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = b.note_len;
    EB_REFUSES(&b, "no manifest note");
    eb_init(&b); /* no PT_NOTE */
    b.ph[EB_NOTE].p_type = PT_NULL;
    EB_REFUSES(&b, "no manifest note");

    eb_init(&b); /* two manifests in one segment */
    n = eb_put_note(two, 9, "trevisor", TRE_NOTE_MANIFEST, eb_desc, sizeof(eb_desc), 4);
    n += eb_put_note(two + n, 9, "trevisor", TRE_NOTE_MANIFEST, eb_desc, sizeof(eb_desc), 4);
    memcpy(b.note, two, n);
    b.note_len = n;
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = n;
    EB_REFUSES(&b, "two manifest notes");
    eb_init(&b); /* two manifests in two segments */
    eb_add(&b, PT_NOTE, PF_R, EB_NOTE_OFF, EB_BASE + EB_NOTE_OFF, b.note_len, b.note_len, 4);
    EB_REFUSES(&b, "two manifest notes");

    eb_init(&b); /* a GNU note first, then the manifest */
    n = eb_put_note(two, 4, "GNU", 3, "0123456789abcdefghij", 20, 4);
    n += eb_put_note(two + n, 9, "trevisor", TRE_NOTE_MANIFEST, eb_desc, sizeof(eb_desc), 4);
    memcpy(b.note, two, n);
    b.note_len = n;
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = n;
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK_EQ(e.manifest_len, sizeof(eb_desc));
    CHECK(e.manifest && memcmp(e.manifest, eb_desc, sizeof(eb_desc)) == 0);

    eb_init(&b); /* 8-aligned note segment: name and descriptor padded to 8 */
    n = eb_put_note(two, 4, "GNU", 5, "abcd", 4, 8);
    n += eb_put_note(two + n, 9, "trevisor", TRE_NOTE_MANIFEST, eb_desc, sizeof(eb_desc), 8);
    memcpy(b.note, two, n);
    b.note_len = n;
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = n;
    b.ph[EB_NOTE].p_align = 8;
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);
    CHECK(e.manifest == b.img + EB_NOTE_OFF + 24 + 24);
    b.ph[EB_NOTE].p_align = 4; /* the same bytes walked with 4-byte padding */
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), -ENOEXEC);
    b.ph[EB_NOTE].p_align = 16;
    EB_REFUSES(&b, "note segment 3 has bad alignment");

    eb_init(&b); /* the last note may lack its final padding */
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = 24 + sizeof(eb_desc);
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), 0);

    eb_init(&b); /* descriptor past the segment */
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = 24 + sizeof(eb_desc) - 1;
    EB_REFUSES(&b, "extends past the segment");
    eb_init(&b); /* huge descsz */
    b.note[4] = b.note[5] = b.note[6] = b.note[7] = 0xff;
    EB_REFUSES(&b, "extends past the segment");
    eb_init(&b); /* huge namesz */
    b.note[0] = b.note[1] = b.note[2] = b.note[3] = 0xff;
    EB_REFUSES(&b, "extends past the segment");
    eb_init(&b); /* trailing bytes too short for a note header */
    b.ph[EB_NOTE].p_filesz = b.ph[EB_NOTE].p_memsz = b.note_len + 8;
    EB_REFUSES(&b, "truncated note");
    eb_init(&b); /* note segment past the end of the file */
    b.ph[EB_NOTE].p_offset = EB_SIZE - 8;
    EB_REFUSES(&b, "note segment 3 extends past the end of the file");
    eb_init(&b);
    b.ph[EB_NOTE].p_offset = UINT64_MAX - 4;
    EB_REFUSES(&b, "note segment 3 extends past the end of the file");
}

static void test_elf_err_always_terminated(void)
{
    struct tre_elf e;
    char err[8];
    struct eb b;

    eb_init(&b);
    b.eh.e_machine = EM_386;
    memset(err, 'x', sizeof(err));
    CHECK_EQ(eb_parse(&b, &e, err, sizeof(err)), -ENOEXEC);
    CHECK(memchr(err, 0, sizeof(err)) != NULL);
    CHECK_EQ(eb_parse(&b, &e, NULL, 0), -ENOEXEC);
    CHECK_EQ(tre_elf_parse(NULL, 0, &e, err, sizeof(err)), -ENOEXEC);
}

/* Every strict prefix of a valid image is refused, and no byte flip crashes the parser. */
static void test_elf_truncations_and_flips(void)
{
    struct tre_elf e;
    char err[256];
    struct eb b;
    size_t ok = 0;

    eb_init(&b);
    eb_emit(&b);
    for (size_t n = 0; n < 0x2100; n++)
        CHECK_EQ(tre_elf_parse(b.img, n, &e, err, sizeof(err)), -ENOEXEC);
    CHECK_EQ(tre_elf_parse(b.img, 0x2100, &e, err, sizeof(err)), 0);
    for (size_t i = 0; i < 0x40 + 6 * 56; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.img[i] ^= (uint8_t)(1u << bit);
            if (tre_elf_parse(b.img, b.len, &e, err, sizeof(err)) == 0)
                ok++;
            else
                CHECK(strncmp(err, "ELF: ", 5) == 0);
            b.img[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK(ok > 0); /* some bits (p_paddr, e_shoff...) do not matter */
}

/* ---- real static binaries ---- */

static char real_dir[64];

static const char real_note_s[] =
    ".section .note.trevisor,\"a\",@note\n"
    ".balign 4\n"
    ".long 9, 2f - 1f, 0x4d52\n"
    ".asciz \"trevisor\"\n"
    ".balign 4\n"
    "1: .asciz \"name=elf-test\"\n"
    ".asciz \"version=3\"\n"
    ".asciz \"mem=16M\"\n"
    ".asciz \"cap=log\"\n"
    "2: .balign 4\n"
    ".section .note.GNU-stack,\"\",@progbits\n";

static const char real_hello_c[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "__thread int tls_counter = 7;\n"
    "int main(int argc, char **argv) {\n"
    "    char *p = malloc(100);\n"
    "    tls_counter += argc;\n"
    "    snprintf(p, 100, \"%s %d\", argv[0], tls_counter);\n"
    "    puts(p); free(p); return 0;\n"
    "}\n";

static int real_write(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", real_dir, name);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int real_setup(void)
{
    if (real_dir[0])
        return 0;
    strcpy(real_dir, "/tmp/test_elf.XXXXXX");
    if (!mkdtemp(real_dir)) {
        real_dir[0] = '\0';
        return -1;
    }
    if (real_write("note.S", real_note_s) || real_write("hello.c", real_hello_c))
        return -1;
    return 0;
}

static void real_cleanup(void)
{
    char cmd[128];

    if (!real_dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", real_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", real_dir);
}

/* Builds out from hello.c (+ note.S unless nonote) with cc and flags; 0 if it built. */
static int real_build(const char *cc, const char *flags, const char *out, int nonote)
{
    char cmd[512];

    if (real_setup())
        return -1;
    snprintf(cmd, sizeof(cmd), "cd '%s' && %s %s -O2 -o %s hello.c %s >/dev/null 2>&1", real_dir,
             cc, flags, out, nonote ? "" : "note.S");
    return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *real_read(const char *name, size_t *len)
{
    char path[128];
    uint8_t *buf = NULL;
    long n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", real_dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET))
        goto out;
    buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

static void real_check(const char *cc, const char *flags, const char *out, int want_pie)
{
    struct tre_manifest m;
    struct tre_elf e;
    char err[256];
    Elf64_Ehdr eh;
    unsigned nload = 0;
    uint8_t *img;
    size_t len;

    if (real_build(cc, flags, out, 0))
        SKIP("%s %s could not build a static program here", cc, flags);
    img = real_read(out, &len);
    CHECK(img != NULL);
    if (!img)
        return;
    CHECK_EQ(tre_elf_parse(img, len, &e, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "  %s: %s\n", out, err);
    memcpy(&eh, img, sizeof(eh));
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;

        memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        nload += ph.p_type == PT_LOAD;
    }
    CHECK_EQ(e.pie, want_pie);
    CHECK_EQ(e.entry, eh.e_entry);
    CHECK_EQ(e.phnum, eh.e_phnum);
    CHECK_EQ(e.nloads, nload);
    CHECK(e.phdr_vaddr != 0);
    for (unsigned i = 1; i < e.nloads; i++)
        CHECK(e.loads[i].vaddr >= e.loads[i - 1].vaddr + e.loads[i - 1].memsz);
    CHECK(e.tls_memsz >= 4); /* tls_counter */
    CHECK(e.tls_align >= 4);
    CHECK_EQ(tre_manifest_parse(e.manifest, e.manifest_len, &m, err, sizeof(err)), 0);
    CHECK(strcmp(m.name, "elf-test") == 0);
    CHECK_EQ(m.version, 3);
    CHECK_EQ(m.mem_size, 16u << 20);
    CHECK_EQ(m.ncaps, 1);
    free(img);
}

static void test_elf_real_gcc_static(void)
{
    real_check("gcc", "-static", "hello_static", 0);
}

static void test_elf_real_gcc_static_pie(void)
{
    real_check("gcc", "-static-pie -fPIE", "hello_static_pie", 1);
}

static void test_elf_real_musl_static(void)
{
    if (system("command -v musl-gcc >/dev/null 2>&1") != 0)
        SKIP("musl-gcc is not installed");
    real_check("musl-gcc", "-static", "hello_musl", 0);
}

static void test_elf_real_refusals(void)
{
    struct tre_elf e;
    char err[256];
    uint8_t *img;
    size_t len;

    if (real_build("gcc", "-static", "hello_nonote", 1))
        SKIP("gcc -static could not build a program here");
    img = real_read("hello_nonote", &len);
    CHECK(img != NULL);
    if (img) {
        CHECK_EQ(tre_elf_parse(img, len, &e, err, sizeof(err)), -ENOEXEC);
        CHECK(strstr(err, "no manifest note") != NULL);
        free(img);
    }
    if (real_build("gcc", "", "hello_dynamic", 0))
        SKIP("gcc could not build a dynamic program here");
    img = real_read("hello_dynamic", &len);
    CHECK(img != NULL);
    if (img) {
        CHECK_EQ(tre_elf_parse(img, len, &e, err, sizeof(err)), -ENOEXEC);
        CHECK(strstr(err, "PT_INTERP") != NULL);
        free(img);
    }
}

int main(void)
{
    TEST(test_elf_minimal_ok);
    TEST(test_elf_pie_ok);
    TEST(test_elf_tls_ok);
    TEST(test_elf_header_refusals);
    TEST(test_elf_phdr_table_refusals);
    TEST(test_elf_load_refusals);
    TEST(test_elf_layout_refusals);
    TEST(test_elf_entry_stack_refusals);
    TEST(test_elf_tls_refusals);
    TEST(test_elf_phdr_refusals);
    TEST(test_elf_note_refusals);
    TEST(test_elf_err_always_terminated);
    TEST(test_elf_truncations_and_flips);
    TEST(test_elf_real_gcc_static);
    TEST(test_elf_real_gcc_static_pie);
    TEST(test_elf_real_musl_static);
    TEST(test_elf_real_refusals);
    real_cleanup();
    TEST_EXIT();
}
