/* tre/imagecache.h — what trevisor already worked out about recently loaded images, keyed
 * by the image's SHA-256: the syscall sites the decoder found (a pure function of the
 * bytes) and the last signature that verified for it, with its key id. A later exec of the
 * same bytes skips the decoder, and the minisign check if it brings the same signature
 * bytes and that key is still trusted. Process-wide, bounded (LRU), thread-safe. */
#ifndef TREVISOR_TRE_IMAGECACHE_H
#define TREVISOR_TRE_IMAGECACHE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGECACHE_ENTRIES 32

/* 1 and a malloc'd copy of the sites (and their count) if known, else 0 (or -ENOMEM). */
int imagecache_get_sites(const uint8_t sha256[32], uint64_t **sites, size_t *n);
void imagecache_put_sites(const uint8_t sha256[32], const uint64_t *sites, size_t n);
/* 1 and the key id if this image verified before with a signature of this SHA-256. */
int imagecache_get_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                            uint8_t keyid[8]);
void imagecache_put_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                             const uint8_t keyid[8]);
/* Forgets everything (benchmarks measure the cold path with it). */
void imagecache_clear(void);

#endif
