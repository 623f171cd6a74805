/* vsock/gmem.c — the guest's RAM as the vhost-user front end shared it: maps each region
 * of a memory table (a MAP_SHARED mapping of the front end's fd at its mmap offset) and
 * owns the one checked translation from guest-physical or front-end virtual addresses to
 * host pointers. It must never hand out a pointer for a range that is not entirely inside
 * one mapped region, never map a range the fd does not back (a touch past the end of a
 * file is SIGBUS), and never keep the fds it is given. */
#include "vsock/gmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* [a, a+alen) and [b, b+blen) overlap; both lengths > 0 and neither range wraps. */
static int gmem_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* A range that does not wrap: [start, start+len) with len > 0 and start+len <= 2^64. */
static int gmem_range_ok(uint64_t start, uint64_t len)
{
    return len > 0 && len - 1 <= UINT64_MAX - start;
}

int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, uint64_t uva,
                    uint64_t mmap_offset, int fd)
{
    if (m->nregions >= GMEM_MAX_REGIONS)
        return -E2BIG;
    if (!gmem_range_ok(gpa, size) || !gmem_range_ok(uva, size))
        return -EINVAL;
    /* the mapping covers [0, mmap_offset + size) of the fd */
    if (mmap_offset > UINT64_MAX - size || mmap_offset + size > (uint64_t)SIZE_MAX ||
        mmap_offset + size > (uint64_t)INT64_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (gmem_overlap(gpa, size, r->gpa, r->size) || gmem_overlap(uva, size, r->uva, r->size))
            return -EINVAL;
    }

    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -EBADF;
    /* guest RAM is a memfd (or a hugetlbfs/tmpfs file): a regular file whose size backs
     * every byte we may touch */
    if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size < mmap_offset + size)
        return -EINVAL;

    uint64_t map_len = mmap_offset + size;
    void *base = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -errno;

    struct gmem_region *r = &m->regions[m->nregions++];
    r->gpa = gpa;
    r->size = size;
    r->uva = uva;
    r->map_base = base;
    r->map_len = map_len;
    r->host = (uint8_t *)base + mmap_offset;
    return 0;
}

void *gmem_gpa(const struct gmem *m, uint64_t gpa, uint64_t len)
{
    if (!m || len == 0)
        return NULL;
    for (unsigned i = 0; i < m->nregions && i < GMEM_MAX_REGIONS; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (gpa < r->gpa)
            continue;
        uint64_t off = gpa - r->gpa;
        if (off >= r->size || len > r->size - off)
            continue;
        return r->host + off;
    }
    return NULL;
}

void *gmem_uva(const struct gmem *m, uint64_t uva, uint64_t len)
{
    if (!m || len == 0)
        return NULL;
    for (unsigned i = 0; i < m->nregions && i < GMEM_MAX_REGIONS; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (uva < r->uva)
            continue;
        uint64_t off = uva - r->uva;
        if (off >= r->size || len > r->size - off)
            continue;
        return r->host + off;
    }
    return NULL;
}

void gmem_clear(struct gmem *m)
{
    for (unsigned i = 0; i < m->nregions && i < GMEM_MAX_REGIONS; i++) {
        struct gmem_region *r = &m->regions[i];
        if (r->map_base)    /* a region a test built over its own buffer has none */
            munmap(r->map_base, (size_t)r->map_len);
    }
    memset(m, 0, sizeof *m);
}
