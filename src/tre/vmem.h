/* tre/vmem.h — an instance's memory: one private slot of guest-physical memory, the
 * 4-level page tables trevisor builds in it, and the only checked translations from guest
 * addresses to host pointers. Every access to instance memory goes through here. */
#ifndef TREVISOR_TRE_VMEM_H
#define TREVISOR_TRE_VMEM_H

#include <stdint.h>
#include <stddef.h>

#define VMEM_R     1u
#define VMEM_W     2u
#define VMEM_X     4u
#define VMEM_USER  8u
#define VMEM_MAX_REGIONS 32

/* A virtually and physically contiguous mapping. Regions never overlap. */
struct vmem_region {
    uint64_t va, len, gpa;
    unsigned prot;
};

#define VMEM_MAX_PUBLIC 16

struct tre_vmem {
    uint8_t *host;          /* host mapping of guest-physical [0, size) */
    uint64_t size;
    uint64_t next_gpa;      /* bump allocator: everything is laid out once, at load */
    uint64_t pml4_gpa;
    unsigned nregions;
    struct vmem_region regions[VMEM_MAX_REGIONS];
    unsigned npublic;       /* read-only ranges of the shared prepared image: not wiped */
    struct { uint64_t gpa, len; } public[VMEM_MAX_PUBLIC];
};

int vmem_init(struct tre_vmem *vm, uint64_t size);
/* Wipes every page the instance touched (but its public ones), then unmaps. Safe on a zeroed struct. */
void vmem_destroy(struct tre_vmem *vm);
/* Allocates len bytes (rounded up to pages) of guest-physical memory, zeroed. */
int vmem_alloc(struct tre_vmem *vm, uint64_t len, uint64_t *gpa);
/* Places a file (the prepared image) copy-on-write at guest-physical [gpa, gpa+len). */
int vmem_map_file(struct tre_vmem *vm, uint64_t gpa, uint64_t len, int fd);
/* Marks [gpa, gpa+len) as the image's read-only pages: public bytes the program can never
 * write, left out of the wipe (wiping would only copy them). */
int vmem_mark_public(struct tre_vmem *vm, uint64_t gpa, uint64_t len);
/* Host pointer for guest-physical [gpa, gpa+len), or NULL if any of it is outside. */
void *vmem_gpa_ptr(struct tre_vmem *vm, uint64_t gpa, uint64_t len);
/* Maps [va, va+len) to [gpa, gpa+len) with prot (page-aligned; gpa may lie outside the
 * slot, as for the doorbell). Records a region unless record is 0. */
int vmem_map(struct tre_vmem *vm, uint64_t va, uint64_t gpa, uint64_t len, unsigned prot,
             int record);
/* Host pointer for the program's [va, va+len) if all of it is mapped for the user with at
 * least `need` (VMEM_R / VMEM_W) and is physically contiguous, else NULL. For len 0 it
 * returns a valid pointer to nothing, whatever va is. */
void *vmem_user_ptr(struct tre_vmem *vm, uint64_t va, uint64_t len, unsigned need);
/* Bytes of the slot the host has actually backed (resident pages). */
uint64_t vmem_resident(const struct tre_vmem *vm);

/* Occurrences of needle in the resident pages (a match may span pages). */
long vmem_scan(const struct tre_vmem *vm, const void *needle, size_t len);
/* Test hook: called by vmem_destroy after the wipe and before the unmap. */
extern void (*vmem_wiped_hook)(const void *host, size_t size);

#endif
