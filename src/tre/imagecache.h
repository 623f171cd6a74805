/* tre/imagecache.h — what trevisor already worked out about recently loaded images, keyed
 * by the image's SHA-256: the prepared image (a sealed memfd with the segments laid out and
 * the syscalls rewritten, shared copy-on-write by every instance of it) with its syscall
 * sites, and the last signature that verified for it, with its key id. A later exec of the
 * same bytes skips the decoder and the copy, and the minisign check if it brings the same
 * signature bytes and that key is still trusted. Process-wide, bounded (LRU), thread-safe. */
#ifndef TREVISOR_TRE_IMAGECACHE_H
#define TREVISOR_TRE_IMAGECACHE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGECACHE_ENTRIES 32
#define IMAGECACHE_MAX_BYTES (256ull << 20)   /* prepared images kept at most */

struct imagecache_image {
    int fd;             /* the sealed memfd: the span [lo, lo + span) of the program */
    uint64_t span;
    uint64_t *sites;    /* rewritten syscall addresses, ascending */
    size_t nsites;
};

/* 1 and the image (a dup of the fd, a malloc'd copy of the sites) if known, else 0, or
 * -errno. Release it with imagecache_image_free. */
int imagecache_get_image(const uint8_t sha256[32], struct imagecache_image *out);
/* Keeps a copy (dups the fd, copies the sites). Images over the byte cap are not kept. */
void imagecache_put_image(const uint8_t sha256[32], const struct imagecache_image *im);
void imagecache_image_free(struct imagecache_image *im);
/* 1 and the key id if this image verified before with a signature of this SHA-256. */
int imagecache_get_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                            uint8_t keyid[8]);
void imagecache_put_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                             const uint8_t keyid[8]);
/* Forgets everything (benchmarks measure the cold path with it). */
void imagecache_clear(void);

#endif
