/* tre/image.c — builds the prepared image: copies the segments into a memfd, finds the
 * syscall sites with the decoder and rewrites each, then seals the memfd so nothing can
 * change it. It never maps anything into an instance (the loader does). */
#include "util/err.h"
#include "tre/image.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tre/syscall_sites.h"
#include "tre/sysregion.h"

#define PAGE 4096ull

/* Finds the sites of every executable segment and rewrites them in the laid-out copy. */
static int image_rewrite(const uint8_t *img, const struct tre_elf *elf, uint64_t bias,
                         uint64_t lo, uint8_t *copy, struct imagecache_image *im,
                         char *err, size_t errlen)
{
    for (unsigned i = 0; i < elf->nloads; i++) {
        const struct tre_elf_load *l = &elf->loads[i];
        if (!(l->flags & PF_X) || l->filesz == 0)
            continue;
        uint64_t *found = NULL;
        size_t n = 0;
        int r = tre_syscall_sites_find(img + l->offset, l->filesz, l->vaddr + bias, &found,
                                       &n, err, errlen);
        if (r)
            return r;
        uint64_t *all = realloc(im->sites, (im->nsites + n + 1) * sizeof *all);
        if (!all) {
            free(found);
            return -ENOMEM;
        }
        im->sites = all;
        for (size_t k = 0; k < n; k++) {
            uint8_t *op = copy + (found[k] - lo);
            if (op[0] != 0x0f || op[1] != 0x05) { /* the decoder and the copy disagree */
                free(found);
                return errf(err, errlen, -ENOEXEC, "load: syscall site 0x%llx is not "
                                  "in the code", (unsigned long long)found[k]);
            }
            op[0] = 0xe6;
            op[1] = TRE_SYSCALL_PORT;
            im->sites[im->nsites++] = found[k];
        }
        free(found);
    }
    return 0;
}

int image_prepare(const uint8_t sha256[32], const uint8_t *img, const struct tre_elf *elf,
                  uint64_t bias, struct imagecache_image *im, uint64_t *lo_out,
                  char *err, size_t errlen)
{
    uint64_t lo = (elf->loads[0].vaddr & ~(PAGE - 1)) + bias;
    const struct tre_elf_load *last = &elf->loads[elf->nloads - 1];
    uint64_t hi = ((last->vaddr + last->memsz + PAGE - 1) & ~(PAGE - 1)) + bias;
    *lo_out = lo;
    int r = imagecache_get_image(sha256, im);
    if (r < 0)
        return errf(err, errlen, r, "load: %s", strerror(-r));
    if (r == 1 && im->span == hi - lo)
        return 0;
    if (r == 1)
        imagecache_image_free(im);

    memset(im, 0, sizeof *im);
    im->span = hi - lo;
    im->fd = memfd_create("trevisor-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (im->fd < 0)
        return errf(err, errlen, -errno, "load: memfd_create: %s", strerror(errno));
    uint8_t *copy = MAP_FAILED;
    if (ftruncate(im->fd, (off_t)im->span) < 0) {
        r = errf(err, errlen, -errno, "load: %s", strerror(errno));
        goto fail;
    }
    copy = mmap(NULL, im->span, PROT_READ | PROT_WRITE, MAP_SHARED, im->fd, 0);
    if (copy == MAP_FAILED) {
        r = errf(err, errlen, -errno, "load: %s", strerror(errno));
        goto fail;
    }
    for (unsigned i = 0; i < elf->nloads; i++) {
        const struct tre_elf_load *l = &elf->loads[i];
        memcpy(copy + (l->vaddr + bias - lo), img + l->offset, l->filesz);
    }
    r = image_rewrite(img, elf, bias, lo, copy, im, err, errlen);
    munmap(copy, im->span);
    if (r)
        goto fail;
    if (fcntl(im->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        r = errf(err, errlen, -errno, "load: sealing the image: %s", strerror(errno));
        goto fail;
    }
    imagecache_put_image(sha256, im);
    return 0;
fail:
    imagecache_image_free(im);
    return r;
}
