/* util/file.c — whole-file reads, bounded, for images, signatures and keys. It reads only
 * regular files (never blocks on a FIFO), what fstat promised and no more, and wipes what
 * it read if it fails. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    char *b = NULL;
    size_t have = 0;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        r = -EFBIG;
        goto out;
    }
    b = malloc((size_t)st.st_size + 1);
    if (!b) {
        r = -ENOMEM;
        goto out;
    }
    /* read what fstat promised, and notice a file that grew meanwhile */
    for (;;) {
        ssize_t k = read(fd, b + have, (size_t)st.st_size + 1 - have);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = -errno;
            goto out;
        }
        if (k == 0)
            break;
        have += (size_t)k;
        if (have > (size_t)st.st_size) {
            r = -EAGAIN;
            goto out;
        }
    }
    b[have] = 0;
    *buf = b;
    *len = have;
    b = NULL;
out:
    if (b) {
        explicit_bzero(b, have);
        free(b);
    }
    close(fd);
    return r;
}
