/* tests/check.h — the tiny test harness every test binary uses: CHECK() records a failure
 * with file:line, TEST() runs one case and prints PASS/FAIL/SKIP lines that tests/run.sh
 * counts. A test that cannot run here (no /dev/kvm) calls SKIP() with the reason. */
#ifndef TREVISOR_TESTS_CHECK_H
#define TREVISOR_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_;   /* failures in the running case */
static int check_skipped_;  /* the running case skipped itself */
static int check_total_fail_;

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        check_failed_++; \
    } } while (0)

#define CHECK_EQ(a, b) do { \
    long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { \
        fprintf(stderr, "  %s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
                __FILE__, __LINE__, #a, a_, #b, b_); \
        check_failed_++; \
    } } while (0)

#define SKIP(...) do { \
    printf("SKIP %s: ", check_name_); printf(__VA_ARGS__); printf("\n"); \
    check_skipped_ = 1; return; } while (0)

static const char *check_name_;

#define TEST(fn) do { \
    check_name_ = #fn; check_failed_ = 0; check_skipped_ = 0; \
    fn(); \
    if (check_skipped_) { } \
    else if (check_failed_) { printf("FAIL %s\n", #fn); check_total_fail_++; } \
    else printf("PASS %s\n", #fn); \
    fflush(stdout); } while (0)

#define TEST_EXIT() return check_total_fail_ ? 1 : 0

#endif
