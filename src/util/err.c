/* util/err.c — formatting of one-line error messages (see err.h). */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>

int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
