/* util/log.h — one line per event, prefixed by the component, to stderr or a sink set by
 * the embedding program (tests capture diagnostics through it). Thread-safe. */
#ifndef TREVISOR_UTIL_LOG_H
#define TREVISOR_UTIL_LOG_H

typedef void tlog_sink_fn(void *ctx, const char *line);

void tlog(const char *component, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NULL restores stderr. The sink gets the line without a trailing newline. */
void tlog_set_sink(tlog_sink_fn *fn, void *ctx);
/* Silences stderr output (the sink still runs): for benchmarks and noisy tests. */
void tlog_set_quiet(int quiet);

#endif
