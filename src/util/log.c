/* util/log.c — the log: formats one line, strips control characters (a TRE program's text
 * must not forge log lines or move the owner's cursor), and hands it to the sink. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t tlog_lock = PTHREAD_MUTEX_INITIALIZER;
static tlog_sink_fn *tlog_sink;
static void *tlog_ctx;
static int tlog_quiet;

void tlog_set_sink(tlog_sink_fn *fn, void *ctx)
{
    pthread_mutex_lock(&tlog_lock);
    tlog_sink = fn;
    tlog_ctx = ctx;
    pthread_mutex_unlock(&tlog_lock);
}

void tlog_set_quiet(int quiet)
{
    tlog_quiet = quiet;
}

void tlog(const char *component, const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "trevisor: %s: ", component);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    pthread_mutex_lock(&tlog_lock);
    if (tlog_sink)
        tlog_sink(tlog_ctx, line);
    if (!tlog_quiet) {
        fputs(line, stderr);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&tlog_lock);
}
