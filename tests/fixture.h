/* tests/fixture.h — what the KVM tests share: finding the built, signed test programs
 * ($TREVISOR_BUILD/progs, signed by $TREVISOR_BUILD/vendor/demo.key), an engine that
 * trusts the demo key, the KVM check (SKIP here, FAIL in CI), and a log capture. */
#ifndef TREVISOR_TESTS_FIXTURE_H
#define TREVISOR_TESTS_FIXTURE_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trevisor/engine.h"
#include "kvm/kvm.h"
#include "util/file.h"
#include "util/log.h"

static __attribute__((unused)) const char * fx_build(void)
{
    const char *b = getenv("TREVISOR_BUILD");
    return b && *b ? b : "build";
}

/* 1 if KVM works. Otherwise prints the reason; in CI that is a failure. */
static __attribute__((unused)) int fx_kvm_ok(void)
{
    char err[256];
    if (kvm_sys_open(err, sizeof err) == 0)
        return 1;
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true")) {
        printf("FAIL %s: KVM is required in CI and unusable here: %s\n", check_name_, err);
        check_total_fail_++;
        check_skipped_ = 1; /* counted above */
    } else {
        printf("SKIP %s: no usable /dev/kvm (%s)\n", check_name_, err);
        check_skipped_ = 1;
    }
    return 0;
}

#define NEED_KVM() do { if (!fx_kvm_ok()) return; } while (0)

struct fx_image {
    char *img, *sig;
    size_t img_len, sig_len;
};

static __attribute__((unused)) int fx_load(const char *prog, struct fx_image *im)
{
    char p[512];
    snprintf(p, sizeof p, "%s/progs/%s", fx_build(), prog);
    if (file_read_all(p, 256u << 20, &im->img, &im->img_len)) {
        fprintf(stderr, "  cannot read %s\n", p);
        return -1;
    }
    snprintf(p, sizeof p, "%s/progs/%s.minisig", fx_build(), prog);
    if (file_read_all(p, 1 << 16, &im->sig, &im->sig_len)) {
        fprintf(stderr, "  cannot read %s\n", p);
        free(im->img);
        return -1;
    }
    return 0;
}

static __attribute__((unused)) void fx_free(struct fx_image *im)
{
    free(im->img);
    free(im->sig);
}

static __attribute__((unused)) struct tre_engine * fx_engine(uint64_t budget_ms)
{
    if (!getenv("TREVISOR_TEST_VERBOSE"))
        tlog_set_quiet(1);
    struct tre_engine_config cfg = { .cpu_budget_ms = budget_ms };
    struct tre_engine *e = NULL;
    char err[256], p[512];
    if (tre_engine_new(&cfg, &e, err, sizeof err)) {
        fprintf(stderr, "  engine: %s\n", err);
        return NULL;
    }
    char *pub;
    size_t len;
    snprintf(p, sizeof p, "%s/vendor/demo.pub", fx_build());
    if (file_read_all(p, 1 << 16, &pub, &len) || tre_engine_trust(e, pub, len, err, sizeof err)) {
        fprintf(stderr, "  cannot trust %s\n", p);
        tre_engine_free(e);
        return NULL;
    }
    free(pub);
    return e;
}

/* exec of a built program; -errno on failure */
static __attribute__((unused)) int fx_exec(struct tre_engine *e, const char *prog)
{
    struct fx_image im;
    if (fx_load(prog, &im))
        return -ENOENT;
    char err[256];
    int d = tre_engine_exec(e, im.img, im.img_len, im.sig, im.sig_len, NULL, err, sizeof err);
    if (d < 0)
        fprintf(stderr, "  exec %s: %d %s\n", prog, d, err);
    fx_free(&im);
    return d;
}

/* Log capture: the last lines the engine logged, to check diagnostics. */
static pthread_mutex_t fx_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char fx_log_buf[16384];

static __attribute__((unused)) void fx_log_sink(void *ctx, const char *line)
{
    (void)ctx;
    pthread_mutex_lock(&fx_log_lock);
    size_t n = strlen(fx_log_buf), l = strlen(line);
    if (n + l + 2 >= sizeof fx_log_buf) {
        fx_log_buf[0] = 0;
        n = 0;
    }
    memcpy(fx_log_buf + n, line, l);
    fx_log_buf[n + l] = '\n';
    fx_log_buf[n + l + 1] = 0;
    pthread_mutex_unlock(&fx_log_lock);
}

static __attribute__((unused)) void fx_log_start(void)
{
    fx_log_buf[0] = 0;
    tlog_set_sink(fx_log_sink, NULL);
    tlog_set_quiet(1);
}

static __attribute__((unused)) int fx_log_has(const char *s)
{
    pthread_mutex_lock(&fx_log_lock);
    int r = strstr(fx_log_buf, s) != NULL;
    pthread_mutex_unlock(&fx_log_lock);
    return r;
}

/* proc with two int args and one int result */
static __attribute__((unused)) int fx_add(struct tre_engine *e, int d, int a, int b, int *sum)
{
    struct iovec args[2] = { { &a, 4 }, { &b, 4 } }, res[1] = { { sum, 4 } };
    return tre_engine_rpc(e, d, 0, args, 2, res, 1);
}

#endif
