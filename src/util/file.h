/* util/file.h — reading a whole file into memory with a size limit, writing one whole
 * and durably, and hashing one. */
#ifndef TREVISOR_UTIL_FILE_H
#define TREVISOR_UTIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads path into a malloc'd buffer (NUL-terminated, *len excludes the NUL). 0, or -errno:
 * -EFBIG larger than max, -EINVAL not a regular file, -EAGAIN it grew while being read. */
int file_read_all(const char *path, size_t max, char **buf, size_t *len);

/* Writes all len bytes to fd, through short writes and EINTR. 0, or -errno (-EIO for a
 * write that wrote nothing). */
int file_write_fd(int fd, const void *buf, size_t len);

/* Replaces path atomically: writes PATH.tmp (created with mode, or truncated), fsyncs it
 * and renames it over path; the .tmp is removed on failure. 0, or -errno with one line in
 * err (-ENAMETOOLONG for a path with no room for ".tmp"). */
int file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
                      char *err, size_t errlen);

/* SHA-256 of a file's bytes, streamed (any size). 0, or -errno from open/read, -ENOMEM. */
int file_sha256(const char *path, unsigned char out[32]);

#endif
