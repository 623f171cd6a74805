/* fuzz/fuzz_elf.c — libFuzzer target for the ELF parser of untrusted TRE images; on an
 * accepted image it also runs the manifest parser on the found note and the syscall finder
 * on each executable segment (capped at 1 MiB). It must never crash, leak or read out of
 * bounds, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tre/elf.h"
#include "tre/manifest.h"
#include "tre/syscall_sites.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tre_manifest m;
    struct tre_elf e;
    char err[256], desc[4096];
    uint8_t *img;

    /* a private copy of exactly size bytes, so ASan sees any read past the end */
    img = malloc(size ? size : 1);
    if (!img)
        return 0;
    memcpy(img, data, size);
    if (tre_elf_parse(img, size, &e, err, sizeof(err)) == 0) {
        if (e.manifest < img || e.manifest_len > size ||
            (size_t)(e.manifest - img) > size - e.manifest_len)
            abort(); /* the descriptor must lie inside the file */
        if (tre_manifest_parse(e.manifest, e.manifest_len, &m, err, sizeof(err)) == 0)
            tre_manifest_format(&m, desc, sizeof(desc));
        for (unsigned i = 0; i < e.nloads; i++) {
            const struct tre_elf_load *l = &e.loads[i];
            struct tre_syscall_scan sc;
            size_t n = l->filesz > (1u << 20) ? (1u << 20) : (size_t)l->filesz;

            if (l->offset > size || l->filesz > size - l->offset || l->filesz > l->memsz)
                abort(); /* the parser promised this */
            if (!(l->flags & 1 /* PF_X */))
                continue;
            if (tre_syscall_sites_scan(img + l->offset, n, l->vaddr, &sc, err, sizeof(err)) == 0)
                tre_syscall_scan_free(&sc);
        }
    }
    if (memchr(err, 0, sizeof(err)) == NULL)
        abort();
    free(img);
    return 0;
}
