/* tre/imagecache.c — a small LRU of facts about images, by SHA-256. It stores only what
 * the decoder and the signature check already established for identical bytes; it never
 * decides anything itself. */
#include "tre/imagecache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct imagecache_entry {
    uint8_t sha256[32];
    uint64_t used;          /* LRU clock; 0 = empty */
    int have_sites;
    uint64_t *sites;
    size_t n;
    int have_sig;
    uint8_t sig_sha256[32];
    uint8_t keyid[8];
};

static struct imagecache_entry imagecache[IMAGECACHE_ENTRIES];
static uint64_t imagecache_clock;
static pthread_mutex_t imagecache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry for sha256, or NULL. Caller holds the lock. */
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
        free(e->sites);
        memset(e, 0, sizeof *e);
        memcpy(e->sha256, sha256, 32);
    }
    e->used = ++imagecache_clock;
    return e;
}

int imagecache_get_sites(const uint8_t sha256[32], uint64_t **sites, size_t *n)
{
    int r = 0;
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_find(sha256);
    if (e && e->have_sites) {
        uint64_t *copy = malloc((e->n ? e->n : 1) * sizeof *copy);
        if (copy) {
            if (e->n)
                memcpy(copy, e->sites, e->n * sizeof *copy);
            *sites = copy;
            *n = e->n;
            e->used = ++imagecache_clock;
            r = 1;
        } else {
            r = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&imagecache_lock);
    return r;
}

void imagecache_put_sites(const uint8_t sha256[32], const uint64_t *sites, size_t n)
{
    uint64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return;
    if (n)
        memcpy(copy, sites, n * sizeof *copy);
    pthread_mutex_lock(&imagecache_lock);
    struct imagecache_entry *e = imagecache_slot(sha256);
    free(e->sites);
    e->sites = copy;
    e->n = n;
    e->have_sites = 1;
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
        free(imagecache[i].sites);
        memset(&imagecache[i], 0, sizeof imagecache[i]);
    }
    pthread_mutex_unlock(&imagecache_lock);
}
