/* util/err.h — the one-line error message convention: functions that can fail for a
 * reason the caller shows to a person take (err, errlen) and fill it with one line. */
#ifndef TREVISOR_UTIL_ERR_H
#define TREVISOR_UTIL_ERR_H

#include <stddef.h>

/* Formats into err (always NUL-terminated; nothing if err is NULL or errlen 0) and returns
 * code, so that `return errf(err, errlen, -EINVAL, "...")` reads as one step. */
int errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
