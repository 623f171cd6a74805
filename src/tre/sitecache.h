/* tre/sitecache.h — remembers the syscall sites found in recently loaded images, keyed by
 * the image's SHA-256, so that exec of an image seen before skips the decoder (the sites
 * are a pure function of the image's bytes). Process-wide, bounded, thread-safe. */
#ifndef TREVISOR_TRE_SITECACHE_H
#define TREVISOR_TRE_SITECACHE_H

#include <stddef.h>
#include <stdint.h>

#define SITECACHE_ENTRIES 32

/* 1 and a malloc'd copy of the sites (and their count) if the image is known, else 0
 * (or -ENOMEM). */
int sitecache_get(const uint8_t sha256[32], uint64_t **sites, size_t *n);
void sitecache_put(const uint8_t sha256[32], const uint64_t *sites, size_t n);
/* Forgets everything (benchmarks measure the cold path with it). */
void sitecache_clear(void);

#endif
