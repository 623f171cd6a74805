/* util/file.h — reading a whole file into memory with a size limit. */
#ifndef TREVISOR_UTIL_FILE_H
#define TREVISOR_UTIL_FILE_H

#include <stddef.h>

/* Reads path into a malloc'd buffer (NUL-terminated, *len excludes the NUL). 0, or -errno:
 * -EFBIG larger than max, -EINVAL not a regular file, -EAGAIN it grew while being read. */
int file_read_all(const char *path, size_t max, char **buf, size_t *len);

#endif
