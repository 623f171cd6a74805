/* tre/imagecache.c — a small LRU of facts about images, by SHA-256. It stores only what
 * the loader and the signature check already established for identical bytes; it never
 * decides anything itself. */
#include "tre/imagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct imagecache_entry {
    uint8_t sha256[32];
    uint64_t used;          /* LRU clock; 0 = empty */
    int have_image;
    struct imagecache_image im;
    int have_sig;
    uint8_t sig_sha256[32];
    uint8_t keyid[8];
};

static struct imagecache_entry imagecache[IMAGECACHE_ENTRIES];
static uint64_t imagecache_clock, imagecache_bytes;
static pthread_mutex_t imagecache_lock = PTHREAD_MUTEX_INITIALIZER;

void imagecache_image_free(struct imagecache_image *im)
{
    if (im->fd >= 0)
        close(im->fd);
    free(im->sites);
    im->fd = -1;
    im->sites = NULL;
    im->nsites = 0;
}

/* Drops the entry's image. Caller holds the lock. */
static void imagecache_drop_image(struct imagecache_entry *e)
{
    if (!e->have_image)
        return;
    imagecache_bytes -= e->im.span;
    imagecache_image_free(&e->im);
    e->have_image = 0;
}

static struct imagecache_entry *imagecache_find(const uint8_t sha256[32])
{
    for (int i = 0; i < IMAGECACHE_ENTRIES; i++)
        if (imagecache[i].used && !memcmp(imagecache[i].sha256, sha256, 32))
            return &imagecache[i];
    return NULL;
}

/* The entry for sha256, taking the least recently used slot if new. Caller holds the lock. */
static struct imagecache_entry *imagecache_slot(const uint8_t sha256[32])
{
    struct imagecache_entry *e = imagecache_find(sha256);
    if (!e) {
        e = &imagecache[0];
        for (int i = 1; i < IMAGECACHE_ENTRIES; i++)
            if (imagecache[i].used < e->used)
                e = &imagecache[i];
        imagecache_drop_image(e);
        memset(e, 0, sizeof *e);
        e->im.fd = -1;
        memcpy(e->sha256, sha256, 32);
    }
    e->used = ++imagecache_clock;
    return e;
}

static int imagecache_copy(const struct imagecache_image *from, struct imagecache_image *to)
{
    to->fd = fcntl(from->fd, F_DUPFD_CLOEXEC, 0);
    to->sites = malloc((from->nsites ? from->nsites : 1) * sizeof *to->sites);
    to->span = from->span;
    to->nsites = from->nsites;
    if (to->fd < 0 || !to->sites) {
        imagecache_image_free(to);
        return -ENOMEM;
    }
    if (from->nsites)
        memcpy(to->sites, from->sites, from->nsites * sizeof *to->sites);
    return 0;
}

int imagecache_get_image(const uint8_t sha256[32], struct imagecache_image *out)
{
    int r = 0;
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_find(sha256);
    if (e && e->have_image) {
        r = imagecache_copy(&e->im, out);
        if (!r) {
            e->used = ++imagecache_clock;
            r = 1;
        }
    }
    pthread_mutex_unlock(&imagecache_lock);
    return r;
}

void imagecache_put_image(const uint8_t sha256[32], const struct imagecache_image *im)
{
    if (im->span > IMAGECACHE_MAX_BYTES)
        return;
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_slot(sha256);
    imagecache_drop_image(e);
    /* make room: drop the least recently used images until this one fits */
    while (imagecache_bytes + im->span > IMAGECACHE_MAX_BYTES) {
        struct imagecache_entry *lru = NULL;
        for (int i = 0; i < IMAGECACHE_ENTRIES; i++)
            if (imagecache[i].have_image && (!lru || imagecache[i].used < lru->used))
                lru = &imagecache[i];
        if (!lru)
            break;
        imagecache_drop_image(lru);
    }
    if (imagecache_copy(im, &e->im) == 0) {
        e->have_image = 1;
        imagecache_bytes += im->span;
    }
    pthread_mutex_unlock(&imagecache_lock);
}

int imagecache_get_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                            uint8_t keyid[8])
{
    int r = 0;
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_find(sha256);
    if (e && e->have_sig && !memcmp(e->sig_sha256, sig_sha256, 32)) {
        memcpy(keyid, e->keyid, 8);
        e->used = ++imagecache_clock;
        r = 1;
    }
    pthread_mutex_unlock(&imagecache_lock);
    return r;
}

void imagecache_put_verified(const uint8_t sha256[32], const uint8_t sig_sha256[32],
                             const uint8_t keyid[8])
{
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_slot(sha256);
    memcpy(e->sig_sha256, sig_sha256, 32);
    memcpy(e->keyid, keyid, 8);
    e->have_sig = 1;
    pthread_mutex_unlock(&imagecache_lock);
}

void imagecache_clear(void)
{
    pthread_mutex_lock(&imagecache_lock);
    for (int i = 0; i < IMAGECACHE_ENTRIES; i++) {
        imagecache_drop_image(&imagecache[i]);
        memset(&imagecache[i], 0, sizeof imagecache[i]);
        imagecache[i].im.fd = -1;
    }
    pthread_mutex_unlock(&imagecache_lock);
}
