/* tre/arena.c — brk and anonymous mmap inside an instance's pre-mapped heap region. It
 * never maps or unmaps pages; it wipes and zeroes what a program gives back. */
#include "tre/arena.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096ull

int arena_init(struct tre_arena *a, uint64_t va, uint64_t len)
{
    memset(a, 0, sizeof *a);
    a->va = va;
    a->len = len;
    a->brk_start = a->brk = va;
    a->npages = len / PAGE;
    a->mmap_low = a->npages;
    a->used = calloc(a->npages ? a->npages : 1, 1);
    return a->used ? 0 : -ENOMEM;
}

void arena_destroy(struct tre_arena *a)
{
    free(a->used);
    a->used = NULL;
}

/* Wipes whole pages [va, va+len) and gives their host memory back; they read as zero. */
static void arena_wipe(struct tre_vmem *vm, uint64_t va, uint64_t len)
{
    uint8_t *p = vmem_user_ptr(vm, va, len, VMEM_W);
    if (!p || !len)
        return;
    explicit_bzero(p, len);
    madvise(p, len, MADV_DONTNEED);
}

uint64_t arena_brk(struct tre_arena *a, struct tre_vmem *vm, uint64_t want)
{
    uint64_t limit = a->va + a->mmap_low * PAGE;
    if (want < a->brk_start || want > limit)
        return a->brk;
    uint64_t old_end = (a->brk + PAGE - 1) & ~(PAGE - 1);
    uint64_t new_end = (want + PAGE - 1) & ~(PAGE - 1);
    if (new_end < old_end)
        arena_wipe(vm, new_end, old_end - new_end);
    else if (want < a->brk && want % PAGE) {
        /* shrinking inside a page: clear the tail so a later grow reads zeros */
        uint8_t *p = vmem_user_ptr(vm, want, a->brk - want, VMEM_W);
        if (p)
            explicit_bzero(p, a->brk - want);
    }
    a->brk = want;
    return a->brk;
}

int arena_mmap(struct tre_arena *a, struct tre_vmem *vm, uint64_t len, uint64_t *va)
{
    (void)vm;
    if (len == 0 || len > a->len)
        return -ENOMEM;
    uint64_t n = (len + PAGE - 1) / PAGE;
    uint64_t brk_pages = ((a->brk + PAGE - 1) & ~(PAGE - 1)) - a->va;
    brk_pages /= PAGE;
    /* first fit, top-down: find n free pages ending as high as possible */
    uint64_t run = 0;
    for (uint64_t i = a->npages; i > brk_pages; i--) {
        if (a->used[i - 1]) {
            run = 0;
            continue;
        }
        if (++run == n) {
            uint64_t first = i - 1;
            memset(a->used + first, 1, n);
            if (first < a->mmap_low)
                a->mmap_low = first;
            *va = a->va + first * PAGE;
            return 0;
        }
    }
    return -ENOMEM;
}

int arena_contains(const struct tre_arena *a, uint64_t va, uint64_t len)
{
    return va >= a->va && len <= a->len && va - a->va <= a->len - len;
}

int arena_discard(struct tre_arena *a, struct tre_vmem *vm, uint64_t va, uint64_t len)
{
    uint64_t rlen = (len + PAGE - 1) & ~(PAGE - 1);
    if (va % PAGE || rlen < len || !arena_contains(a, va, rlen))
        return -EINVAL;
    arena_wipe(vm, va, rlen);
    return 0;
}

int arena_munmap(struct tre_arena *a, struct tre_vmem *vm, uint64_t va, uint64_t len, int release)
{
    if (va % PAGE || len == 0)
        return -EINVAL;
    uint64_t rlen = (len + PAGE - 1) & ~(PAGE - 1);
    if (rlen < len || !arena_contains(a, va, rlen))
        return -EINVAL;
    uint64_t first = (va - a->va) / PAGE, n = rlen / PAGE;
    for (uint64_t i = first; i < first + n; i++)
        if (!a->used[i])
            return -EINVAL;
    arena_wipe(vm, va, rlen);
    if (release) {
        memset(a->used + first, 0, n);
        while (a->mmap_low < a->npages && !a->used[a->mmap_low])
            a->mmap_low++;
    }
    return 0;
}
