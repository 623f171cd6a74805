/* tre/arena.h — the program's heap: one region mapped RW/NX at load, from which brk grows
 * up and anonymous mmaps are carved top-down. Page permissions never change at run time
 * (see docs/engine.md: mappings are fixed at load because under shadow paging trevisor
 * cannot safely edit live page tables); this only keeps the books and wipes freed pages. */
#ifndef TREVISOR_TRE_ARENA_H
#define TREVISOR_TRE_ARENA_H

#include <stdint.h>
#include "tre/vmem.h"

struct tre_arena {
    uint64_t va, len;        /* the whole region */
    uint64_t brk_start, brk; /* brk area grows up from va */
    uint64_t npages;
    uint8_t *used;           /* per page: 1 if handed out by mmap */
    uint64_t mmap_low;       /* lowest page index in use by mmap (npages if none) */
};

int arena_init(struct tre_arena *a, uint64_t va, uint64_t len);
void arena_destroy(struct tre_arena *a);
/* brk(2): returns the new break, or the old one if the request can't be met. */
uint64_t arena_brk(struct tre_arena *a, struct tre_vmem *vm, uint64_t want);
/* Anonymous mmap of len bytes: 0 and *va, or -ENOMEM. The pages read as zero. */
int arena_mmap(struct tre_arena *a, struct tre_vmem *vm, uint64_t len, uint64_t *va);
/* munmap / MADV_DONTNEED: wipes the pages; munmap also returns them. -EINVAL if the range
 * is not mmap'd memory of this arena. */
int arena_munmap(struct tre_arena *a, struct tre_vmem *vm, uint64_t va, uint64_t len, int release);
/* MADV_DONTNEED anywhere in the arena (brk area included): the pages read as zero. */
int arena_discard(struct tre_arena *a, struct tre_vmem *vm, uint64_t va, uint64_t len);
/* Whether [va, va+len) lies in the arena (for mprotect/madvise bookkeeping). */
int arena_contains(const struct tre_arena *a, uint64_t va, uint64_t len);

#endif
