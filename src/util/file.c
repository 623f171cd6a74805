/* util/file.c — whole-file reads, bounded, for images, signatures and keys. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, size_t max, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    char *b = NULL;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto out;
    }
    if ((size_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    b = malloc(n + 1);
    if (!b) {
        r = -ENOMEM;
        goto out;
    }
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            r = k < 0 ? -errno : -EIO;
            goto out;
        }
        got += (size_t)k;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    b = NULL;
out:
    free(b);
    close(fd);
    return r;
}
