/* tre/vmem.c — instance memory: slot allocation, page-table construction and checked
 * translation. It never lets a guest-supplied address reach a host pointer unchecked, and
 * it wipes what an instance held before the memory goes back to the host. */
#include "tre/vmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ull
#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_NX  (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

int vmem_init(struct tre_vmem *vm, uint64_t size)
{
    memset(vm, 0, sizeof *vm);
    if (size == 0 || size % PAGE)
        return -EINVAL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    vm->host = p;
    vm->size = size;
    vm->next_gpa = 0;
    return vmem_alloc(vm, PAGE, &vm->pml4_gpa);
}

void (*vmem_wiped_hook)(const void *host, size_t size);

void vmem_destroy(struct tre_vmem *vm)
{
    if (!vm->host)
        return;
    /* Wipe only what is resident: touching the rest would allocate it. */
    size_t npages = vm->size / PAGE;
    unsigned char *vec = malloc(npages);
    if (vec && mincore(vm->host, vm->size, vec) == 0) {
        for (unsigned k = 0; k < vm->npublic; k++)
            memset(vec + vm->public[k].gpa / PAGE, 0, vm->public[k].len / PAGE);
        for (size_t i = 0; i < npages; i++)
            if (vec[i] & 1)
                explicit_bzero(vm->host + i * PAGE, PAGE);
    } else {
        /* cannot tell what is resident: wipe all, skipping the read-only image */
        uint64_t at = 0;
        for (unsigned k = 0; k <= vm->npublic; k++) {
            uint64_t end = k < vm->npublic ? vm->public[k].gpa : vm->size;
            if (end > at)
                explicit_bzero(vm->host + at, end - at);
            if (k < vm->npublic)
                at = vm->public[k].gpa + vm->public[k].len;
        }
    }
    free(vec);
    if (vmem_wiped_hook)
        vmem_wiped_hook(vm->host, vm->size);
    munmap(vm->host, vm->size);
    vm->host = NULL;
}

int vmem_alloc(struct tre_vmem *vm, uint64_t len, uint64_t *gpa)
{
    uint64_t rounded;
    if (len == 0 || __builtin_add_overflow(len, PAGE - 1, &rounded))
        return -EINVAL;
    rounded &= ~(PAGE - 1);
    if (rounded > vm->size - vm->next_gpa)
        return -ENOMEM;
    *gpa = vm->next_gpa;
    vm->next_gpa += rounded;
    return 0;
}

int vmem_map_file(struct tre_vmem *vm, uint64_t gpa, uint64_t len, int fd)
{
    if (gpa % PAGE || len % PAGE || !vmem_gpa_ptr(vm, gpa, len))
        return -EINVAL;
    void *p = mmap(vm->host + gpa, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                   fd, 0);
    return p == MAP_FAILED ? -errno : 0;
}

int vmem_mark_public(struct tre_vmem *vm, uint64_t gpa, uint64_t len)
{
    if (gpa % PAGE || len % PAGE || !vmem_gpa_ptr(vm, gpa, len))
        return -EINVAL;
    if (vm->npublic == VMEM_MAX_PUBLIC)
        return -ENOSPC;
    /* kept in ascending order for the wipe */
    unsigned i = vm->npublic++;
    while (i > 0 && vm->public[i - 1].gpa > gpa) {
        vm->public[i] = vm->public[i - 1];
        i--;
    }
    vm->public[i].gpa = gpa;
    vm->public[i].len = len;
    return 0;
}

void *vmem_gpa_ptr(struct tre_vmem *vm, uint64_t gpa, uint64_t len)
{
    if (gpa > vm->size || len > vm->size - gpa)
        return NULL;
    return vm->host + gpa;
}

/* The page-table page that entry `index` of table `table_gpa` points to, made if absent. */
static int vmem_next_table(struct tre_vmem *vm, uint64_t table_gpa, unsigned index,
                           uint64_t *next)
{
    uint64_t *table = vmem_gpa_ptr(vm, table_gpa, PAGE);
    if (!table)
        return -EFAULT;
    if (!(table[index] & PTE_P)) {
        uint64_t gpa;
        int r = vmem_alloc(vm, PAGE, &gpa);
        if (r)
            return r;
        /* Intermediate levels allow everything; the leaf decides. */
        table[index] = gpa | PTE_P | PTE_RW | PTE_US;
    }
    *next = table[index] & PTE_ADDR;
    return 0;
}

static int vmem_map_page(struct tre_vmem *vm, uint64_t va, uint64_t gpa, unsigned prot)
{
    uint64_t t = vm->pml4_gpa;
    for (int shift = 39; shift > 12; shift -= 9) {
        int r = vmem_next_table(vm, t, (va >> shift) & 511, &t);
        if (r)
            return r;
    }
    uint64_t *pt = vmem_gpa_ptr(vm, t, PAGE);
    if (!pt)
        return -EFAULT;
    unsigned i = (va >> 12) & 511;
    if (pt[i] & PTE_P)
        return -EEXIST;
    uint64_t pte = gpa | PTE_P;
    if (prot & VMEM_W)
        pte |= PTE_RW;
    if (prot & VMEM_USER)
        pte |= PTE_US;
    if (!(prot & VMEM_X))
        pte |= PTE_NX;
    pt[i] = pte;
    return 0;
}

static int vmem_canonical(uint64_t va)
{
    return va < 0x0000800000000000ull || va >= 0xffff800000000000ull;
}

int vmem_map(struct tre_vmem *vm, uint64_t va, uint64_t gpa, uint64_t len, unsigned prot,
             int record)
{
    uint64_t end;
    if (len == 0 || (va | gpa | len) % PAGE || __builtin_add_overflow(va, len - 1, &end) ||
        !vmem_canonical(va) || !vmem_canonical(end) || (va < 0x0000800000000000ull) !=
        (end < 0x0000800000000000ull))
        return -EINVAL;
    if ((prot & VMEM_W) && (prot & VMEM_X))
        return -EPERM; /* W^X, everywhere */
    if (record && vm->nregions == VMEM_MAX_REGIONS)
        return -ENOSPC;
    for (uint64_t off = 0; off < len; off += PAGE) {
        int r = vmem_map_page(vm, va + off, gpa + off, prot);
        if (r)
            return r;
    }
    if (record)
        vm->regions[vm->nregions++] = (struct vmem_region){ va, len, gpa, prot };
    return 0;
}

static const struct vmem_region *vmem_find(const struct tre_vmem *vm, uint64_t va)
{
    for (unsigned i = 0; i < vm->nregions; i++) {
        const struct vmem_region *r = &vm->regions[i];
        if (va >= r->va && va - r->va < r->len)
            return r;
    }
    return NULL;
}

void *vmem_user_ptr(struct tre_vmem *vm, uint64_t va, uint64_t len, unsigned need)
{
    need |= VMEM_USER;
    if (len == 0)
        return vm->host; /* nothing to touch: any address is fine, as for Linux */
    const struct vmem_region *r = vmem_find(vm, va);
    if (!r || (r->prot & need) != need)
        return NULL;
    uint64_t gpa0 = r->gpa + (va - r->va);
    uint64_t left = len, cur = va;
    /* Walk adjacent regions while they stay physically contiguous. */
    for (;;) {
        uint64_t avail = r->len - (cur - r->va);
        if (left <= avail)
            break;
        left -= avail;
        cur += avail;
        const struct vmem_region *n = vmem_find(vm, cur);
        if (!n || (n->prot & need) != need || n->gpa != r->gpa + r->len)
            return NULL;
        r = n;
    }
    return vmem_gpa_ptr(vm, gpa0, len);
}

uint64_t vmem_resident(const struct tre_vmem *vm)
{
    size_t npages = vm->size / PAGE;
    unsigned char *vec = malloc(npages);
    uint64_t n = 0;
    if (vec && mincore(vm->host, vm->size, vec) == 0)
        for (size_t i = 0; i < npages; i++)
            n += vec[i] & 1;
    free(vec);
    return n * PAGE;
}

long vmem_scan(const struct tre_vmem *vm, const void *needle, size_t len)
{
    if (!len || !vm->host)
        return 0;
    size_t npages = vm->size / PAGE;
    unsigned char *vec = malloc(npages);
    if (!vec)
        return -ENOMEM;
    long n = 0;
    if (mincore(vm->host, vm->size, vec) == 0) {
        /* scan each run of resident pages as one buffer */
        for (size_t i = 0; i < npages;) {
            if (!(vec[i] & 1)) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < npages && (vec[j] & 1))
                j++;
            const uint8_t *p = vm->host + i * PAGE, *end = vm->host + j * PAGE;
            while ((size_t)(end - p) >= len) {
                const uint8_t *hit = memmem(p, end - p, needle, len);
                if (!hit)
                    break;
                n++;
                p = hit + 1;
            }
            i = j;
        }
    }
    free(vec);
    return n;
}
