/* vsock/gmem.h — the guest's RAM as the vhost-user front end (QEMU) shared it: a table of
 * mmap'd regions, and the one checked translation from guest-physical (and front-end
 * virtual) addresses to host pointers. Every guest address goes through here, Solo5-style:
 * a range is valid only if it lies entirely inside one region. */
#ifndef TREVISOR_VSOCK_GMEM_H
#define TREVISOR_VSOCK_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8

struct gmem_region {
    uint64_t gpa;          /* guest-physical start */
    uint64_t size;
    uint64_t uva;          /* the front end's virtual address of the same bytes */
    uint8_t *host;         /* our mapping */
    uint64_t map_len;      /* for munmap: mmap_offset + size */
    uint8_t *map_base;
};

struct gmem {
    unsigned nregions;
    struct gmem_region regions[GMEM_MAX_REGIONS];
};

/* Host pointer for guest-physical [gpa, gpa+len), or NULL (len 0 is refused). */
void *gmem_gpa(const struct gmem *m, uint64_t gpa, uint64_t len);
/* Host pointer for front-end virtual [uva, uva+len) (vring addresses), or NULL. */
void *gmem_uva(const struct gmem *m, uint64_t uva, uint64_t len);
/* Unmaps every region. */
void gmem_clear(struct gmem *m);
/* Maps [mmap_offset, mmap_offset+size) of fd (MAP_SHARED, read/write) as guest-physical
 * [gpa, gpa+size) = front-end virtual [uva, uva+size). Refuses a full table (-E2BIG), an
 * empty or wrapping range, one that overlaps an existing region in either address space,
 * and an fd that is not a regular file at least mmap_offset+size long (-EINVAL). The fd
 * stays the caller's (the mapping keeps its own reference). */
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, uint64_t uva,
                    uint64_t mmap_offset, int fd);

#endif
