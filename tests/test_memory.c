/* tests/test_memory.c — unit tests of an instance's memory without KVM: the checked
 * guest->host translation (permissions, bounds, overflow, contiguity), page-table
 * construction rules (W^X, canonical addresses), the heap's brk/mmap/munmap books and the
 * wiping of what a program gives back. */
#include <errno.h>
#include <sys/mman.h>

#include "check.h"
#include "tre/arena.h"
#include "tre/vmem.h"

#define PAGE 4096ull

static void test_user_ptr_checks(void)
{
    struct tre_vmem vm;
    CHECK_EQ(vmem_init(&vm, 1 << 20), 0);
    uint64_t a, b, k;
    CHECK_EQ(vmem_alloc(&vm, 2 * PAGE, &a), 0);
    CHECK_EQ(vmem_alloc(&vm, PAGE, &b), 0);
    CHECK_EQ(vmem_alloc(&vm, PAGE, &k), 0);
    /* two adjacent, physically contiguous regions: RO code then RW data */
    CHECK_EQ(vmem_map(&vm, 0x400000, a, 2 * PAGE, VMEM_R | VMEM_X | VMEM_USER, 1), 0);
    CHECK_EQ(vmem_map(&vm, 0x402000, b, PAGE, VMEM_R | VMEM_W | VMEM_USER, 1), 0);
    CHECK_EQ(vmem_map(&vm, 0xffffffff80000000ull, k, PAGE, VMEM_R | VMEM_W, 1), 0);
    CHECK(vmem_user_ptr(&vm, 0x400000, 2 * PAGE, VMEM_R) == vm.host + a);
    CHECK(vmem_user_ptr(&vm, 0x401ff0, 0x20, VMEM_R) != NULL);          /* spans both */
    CHECK(vmem_user_ptr(&vm, 0x401ff0, 0x20, VMEM_W) == NULL);          /* code is RO */
    CHECK(vmem_user_ptr(&vm, 0x402000, PAGE, VMEM_W) == vm.host + b);
    CHECK(vmem_user_ptr(&vm, 0x402000, PAGE + 1, VMEM_R) == NULL);      /* past the end */
    CHECK(vmem_user_ptr(&vm, 0x3fffff, 2, VMEM_R) == NULL);             /* before */
    CHECK(vmem_user_ptr(&vm, 0x402fff, ~0ull, VMEM_R) == NULL);         /* overflow */
    CHECK(vmem_user_ptr(&vm, 0xffffffff80000000ull, 8, VMEM_R) == NULL); /* supervisor */
    CHECK(vmem_user_ptr(&vm, 0x12345, 0, VMEM_W) != NULL);              /* nothing to touch */
    CHECK(vmem_gpa_ptr(&vm, vm.size - 8, 9) == NULL);
    CHECK(vmem_gpa_ptr(&vm, ~0ull, 2) == NULL);
    /* refused mappings */
    uint64_t c;
    CHECK_EQ(vmem_alloc(&vm, PAGE, &c), 0);
    CHECK_EQ(vmem_map(&vm, 0x500000, c, PAGE, VMEM_W | VMEM_X | VMEM_USER, 1), -EPERM);
    CHECK_EQ(vmem_map(&vm, 0x500001, c, PAGE, VMEM_R, 1), -EINVAL);
    CHECK_EQ(vmem_map(&vm, 0x0000800000000000ull, c, PAGE, VMEM_R, 1), -EINVAL);
    CHECK_EQ(vmem_map(&vm, 0x00007ffffffff000ull, c, 2 * PAGE, VMEM_R, 1), -EINVAL);
    CHECK_EQ(vmem_map(&vm, 0x400000, c, PAGE, VMEM_R | VMEM_USER, 1), -EEXIST);
    CHECK_EQ(vmem_alloc(&vm, 2 << 20, &c), -ENOMEM);
    vmem_destroy(&vm);
    CHECK(vm.host == NULL);
}

static void test_scan_and_public_pages(void)
{
    struct tre_vmem vm;
    CHECK_EQ(vmem_init(&vm, 64 * PAGE), 0);
    uint64_t g;
    CHECK_EQ(vmem_alloc(&vm, 4 * PAGE, &g), 0);
    memcpy(vm.host + g + PAGE - 3, "canary", 6);        /* across a page boundary */
    memcpy(vm.host + g + 3 * PAGE, "canary", 6);
    CHECK_EQ(vmem_scan(&vm, "canary", 6), 2);
    CHECK_EQ(vmem_mark_public(&vm, g + 3 * PAGE, PAGE), 0);
    CHECK_EQ(vmem_mark_public(&vm, g + 1, PAGE), -EINVAL);
    vmem_destroy(&vm);
}

static void test_arena_books(void)
{
    struct tre_vmem vm;
    struct tre_arena ar;
    const uint64_t base = 0x200000000000ull, len = 64 * PAGE;
    uint64_t g;
    CHECK_EQ(vmem_init(&vm, 128 * PAGE), 0);
    CHECK_EQ(vmem_alloc(&vm, len, &g), 0);
    CHECK_EQ(vmem_map(&vm, base, g, len, VMEM_R | VMEM_W | VMEM_USER, 1), 0);
    CHECK_EQ(arena_init(&ar, base, len), 0);

    /* brk */
    CHECK_EQ(arena_brk(&ar, &vm, 0), base);
    CHECK_EQ(arena_brk(&ar, &vm, base + 10 * PAGE + 5), base + 10 * PAGE + 5);
    CHECK_EQ(arena_brk(&ar, &vm, base - 1), base + 10 * PAGE + 5);        /* below: no */
    CHECK_EQ(arena_brk(&ar, &vm, base + len + 1), base + 10 * PAGE + 5);  /* past: no */

    /* mmap comes down from the top and never overlaps brk */
    uint64_t m1, m2, m3;
    CHECK_EQ(arena_mmap(&ar, &vm, 3 * PAGE, &m1), 0);
    CHECK_EQ(m1, base + len - 3 * PAGE);
    CHECK_EQ(arena_mmap(&ar, &vm, 1, &m2), 0);
    CHECK_EQ(m2, m1 - PAGE);
    CHECK_EQ(arena_mmap(&ar, &vm, 60 * PAGE, &m3), -ENOMEM);
    CHECK_EQ(arena_mmap(&ar, &vm, 0, &m3), -ENOMEM);
    CHECK_EQ(arena_brk(&ar, &vm, m2 + 1), base + 10 * PAGE + 5);          /* into mmap: no */
    CHECK_EQ(arena_brk(&ar, &vm, m2), m2);
    CHECK_EQ(arena_mmap(&ar, &vm, PAGE, &m3), -ENOMEM);                   /* brk took it */
    CHECK_EQ(arena_brk(&ar, &vm, base + PAGE), base + PAGE);

    /* munmap wipes, and only what mmap handed out */
    uint8_t *p = vmem_user_ptr(&vm, m1, 3 * PAGE, VMEM_W);
    memset(p, 0xab, 3 * PAGE);
    CHECK_EQ(arena_munmap(&ar, &vm, m1 + 1, PAGE, 1), -EINVAL);
    CHECK_EQ(arena_munmap(&ar, &vm, base, PAGE, 1), -EINVAL);             /* brk memory */
    CHECK_EQ(arena_munmap(&ar, &vm, m1, 4 * PAGE, 1), -EINVAL);           /* past the end */
    CHECK_EQ(arena_munmap(&ar, &vm, m1, 3 * PAGE, 1), 0);
    p = vmem_user_ptr(&vm, m1, 3 * PAGE, VMEM_R);
    int zero = 1;
    for (uint64_t i = 0; i < 3 * PAGE; i++)
        zero &= p[i] == 0;
    CHECK(zero);
    CHECK_EQ(arena_munmap(&ar, &vm, m1, 3 * PAGE, 1), -EINVAL);           /* twice */
    uint64_t again;
    CHECK_EQ(arena_mmap(&ar, &vm, 3 * PAGE, &again), 0);
    CHECK_EQ(again, m1);

    /* brk shrink inside a page clears the tail */
    uint8_t *q = vmem_user_ptr(&vm, base, PAGE, VMEM_W);
    memset(q, 0xcd, PAGE);
    CHECK_EQ(arena_brk(&ar, &vm, base + 100), base + 100);
    CHECK_EQ(q[99], 0xcd);
    CHECK_EQ(q[100], 0);
    CHECK_EQ(q[PAGE - 1], 0);

    /* MADV_DONTNEED anywhere in the arena reads back zero */
    memset(q, 0xee, PAGE);
    CHECK_EQ(arena_discard(&ar, &vm, base, PAGE), 0);
    CHECK_EQ(q[0], 0);
    CHECK_EQ(arena_discard(&ar, &vm, base + len, PAGE), -EINVAL);
    arena_destroy(&ar);
    vmem_destroy(&vm);
}

int main(void)
{
    TEST(test_user_ptr_checks);
    TEST(test_scan_and_public_pages);
    TEST(test_arena_books);
    TEST_EXIT();
}
