/* bench/bench.h — what the benchmark's files share: the clock, percentiles, the results
 * table, an engine that trusts the demo vendor key, and loading the signed test images. */
#ifndef TREVISOR_BENCH_H
#define TREVISOR_BENCH_H

#include <stddef.h>

struct tre_engine;

extern const char *build;
double now_us(void);
double pct(double *v, int n, double p);
/* one figure beside its baseline; goal is e.g. "<=1.5", ">=0.8" or "report" */
void add(const char *name, double v, const char *unit, const char *bname, double b,
         const char *goal);
struct tre_engine *engine(void);

struct img {
    char *img, *sig;
    size_t ilen, slen;
};
void img_load(const char *prog, struct img *m);
int exec_img(struct tre_engine *e, struct img *m);

/* a thread running unix_door_run(args[0], *(int *)args[1]) (args: void *[2]) */
void *bench_door_main(void *args);

/* bench_trust.c: measurement, quotes, sealing (issue 5), the token and sigaccel (issue 6) */
void bench_trust(void);
/* bench_sigaccel.c: the signature accelerator against the token, native code and a
 * hardware token's published figure (issue 6) */
void bench_sigaccel(void);

#endif
