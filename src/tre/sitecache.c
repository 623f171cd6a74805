/* tre/sitecache.c — a small LRU of (image SHA-256 -> syscall sites). It stores only what
 * the decoder already found for identical bytes; it never decides anything itself. */
#include "tre/sitecache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sitecache_entry {
    uint8_t sha256[32];
    uint64_t *sites;
    size_t n;
    uint64_t used;      /* LRU clock; 0 = empty */
};

static struct sitecache_entry sitecache[SITECACHE_ENTRIES];
static uint64_t sitecache_clock;
static pthread_mutex_t sitecache_lock = PTHREAD_MUTEX_INITIALIZER;

int sitecache_get(const uint8_t sha256[32], uint64_t **sites, size_t *n)
{
    int r = 0;
    pthread_mutex_lock(&sitecache_lock);
    for (int i = 0; i < SITECACHE_ENTRIES; i++) {
        struct sitecache_entry *e = &sitecache[i];
        if (!e->used || memcmp(e->sha256, sha256, 32))
            continue;
        uint64_t *copy = malloc((e->n ? e->n : 1) * sizeof *copy);
        if (!copy) {
            r = -ENOMEM;
            break;
        }
        if (e->n)
            memcpy(copy, e->sites, e->n * sizeof *copy);
        *sites = copy;
        *n = e->n;
        e->used = ++sitecache_clock;
        r = 1;
        break;
    }
    pthread_mutex_unlock(&sitecache_lock);
    return r;
}

void sitecache_put(const uint8_t sha256[32], const uint64_t *sites, size_t n)
{
    uint64_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        return;
    if (n)
        memcpy(copy, sites, n * sizeof *copy);
    pthread_mutex_lock(&sitecache_lock);
    struct sitecache_entry *victim = &sitecache[0];
    for (int i = 0; i < SITECACHE_ENTRIES; i++) {
        struct sitecache_entry *e = &sitecache[i];
        if (e->used && !memcmp(e->sha256, sha256, 32)) {
            victim = e;
            break;
        }
        if (e->used < victim->used)
            victim = e;
    }
    free(victim->sites);
    memcpy(victim->sha256, sha256, 32);
    victim->sites = copy;
    victim->n = n;
    victim->used = ++sitecache_clock;
    pthread_mutex_unlock(&sitecache_lock);
}

void sitecache_clear(void)
{
    pthread_mutex_lock(&sitecache_lock);
    for (int i = 0; i < SITECACHE_ENTRIES; i++) {
        free(sitecache[i].sites);
        memset(&sitecache[i], 0, sizeof sitecache[i]);
    }
    pthread_mutex_unlock(&sitecache_lock);
}
