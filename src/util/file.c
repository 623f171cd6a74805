/* util/file.c — whole-file reads, bounded, for images, signatures and keys. It reads only
 * regular files (never blocks on a FIFO), what fstat promised and no more, and wipes what
 * it read if it fails. Whole-file writes: all the bytes, fsynced, put in place by a
 * rename, so a reader sees the old file or the new one, never a part. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/err.h"

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

int file_write_fd(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        off += (size_t)n;
    }
    return 0;
}

int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
                      char *err, size_t errlen)
{
    char tmp[PATH_MAX + 8];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return errf(err, errlen, -ENAMETOOLONG, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return errf(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    int r = file_write_fd(fd, buf, len);
    if (r < 0) {
        close(fd);
        unlink(tmp);
        return errf(err, errlen, r, "write %s: %s", tmp, strerror(-r));
    }
    int e = fsync(fd) < 0 ? errno : 0;
    if (close(fd) < 0 && !e)
        e = errno;
    if (e) {
        unlink(tmp);
        return errf(err, errlen, -e, "write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        e = errno;
        unlink(tmp);
        return errf(err, errlen, -e, "rename to %s: %s", path, strerror(e));
    }
    return 0;
}

int file_sha256(const char *path, unsigned char out[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    unsigned hl = 0;
    uint8_t *buf = malloc(1 << 16);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, 1 << 16);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(ctx, out, &hl) != 1 || hl != 32)
        rc = -ENOMEM;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return rc;
}
