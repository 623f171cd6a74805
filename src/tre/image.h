/* tre/image.h — the prepared image of a program: its PT_LOAD segments laid out as they sit
 * in memory, every `syscall` rewritten to `out %al, $TRE_SYSCALL_PORT`, in a sealed memfd
 * that every instance of the same image maps copy-on-write. Built once per image (cached
 * by SHA-256 in imagecache.c); the original file is what is measured. */
#ifndef TREVISOR_TRE_IMAGE_H
#define TREVISOR_TRE_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "tre/elf.h"
#include "tre/imagecache.h"

/* The prepared image of img (parsed as elf, SHA-256 sha256), loaded at bias: from the
 * cache, or built now. lo is the first page's address. 0 or -errno with err set. */
int image_prepare(const uint8_t sha256[32], const uint8_t *img, const struct tre_elf *elf,
                  uint64_t bias, struct imagecache_image *out, uint64_t *lo,
                  char *err, size_t errlen);

#endif
