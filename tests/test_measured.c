/* tests/test_measured.c — the measured launch on a TPM that keeps its PCRs across trevisor
 * restarts (measure/measured.c with `--tpm DEVICE`, a pty with swtpm behind it:
 * tests/ptytpm.h): the saved log is continued when it replays to the PCR, also when its
 * last event was never extended; a saved log that does not replay, or is not a log, is
 * not taken (a warning, a fresh log); after a TPM reset the log starts again. Skips
 * without swtpm. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "check.h"
#include "ptytpm.h"
#include "tmpdir.h"
#include "measure/measured.h"
#include "util/file.h"
#include "util/log.h"

#define PCR 15

static char logbuf[8192];

static void sink(void *ctx, const char *line)
{
    (void)ctx;
    size_t o = strlen(logbuf);
    snprintf(logbuf + o, sizeof logbuf - o, "%s\n", line);
}

/* Opens the measured launch on the device; NULL on failure. */
static struct measured *open_dev(const struct ptytpm *p, const char *state)
{
    struct measured_config c = { .kind = TPM_DEVICE, .device = p->path, .state_dir = state,
                                 .pcr = PCR };
    struct measured *m = NULL;
    char err[256];
    logbuf[0] = 0;
    if (measured_open(&c, &m, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    return m;
}

static size_t events(struct measured *m)
{
    char *text = NULL, err[256];
    size_t len = 0, n = (size_t)-1;
    struct eventlog *l = NULL;
    if (measured_log_text(m, &text, &len) == 0 &&
        eventlog_parse(text, len, &l, err, sizeof err) == 0)
        n = eventlog_count(l);
    eventlog_free(l);
    free(text);
    return n;
}

static int add(struct measured *m, const char *what)
{
    char err[256];
    return measured_data(m, EV_CONFIG, what, strlen(what), what, err, sizeof err);
}

/* Reopens the launch: the start-up log must hold needle, the log n events. */
static void reopen_expect(const struct ptytpm *p, const char *state, const char *needle,
                          size_t n)
{
    struct measured *m = open_dev(p, state);
    CHECK(m != NULL);
    if (!m)
        return;
    if (!strstr(logbuf, needle))
        fprintf(stderr, "  no \"%s\" in:\n%s", needle, logbuf);
    CHECK(strstr(logbuf, needle) != NULL);
    CHECK_EQ(events(m), n);
    measured_free(m);
}

static void write_text(const char *path, const char *mode, const char *text)
{
    FILE *f = fopen(path, mode);
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_restart_continues_the_log(void)
{
    if (!have_prog("swtpm"))
        SKIP("swtpm is not installed");
    char *dir = new_state_dir_tagged("measured");
    if (!dir) { CHECK(0); return; }
    char tpmdir[600], state[600], saved[700];
    snprintf(tpmdir, sizeof tpmdir, "%s/tpm", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(saved, sizeof saved, "%s/eventlog-pcr%d", state, PCR);
    struct ptytpm p;
    CHECK_EQ(ptytpm_start(&p, tpmdir), 0);
    tlog_set_sink(sink, NULL);

    /* a first launch: two events, saved as they are extended */
    struct measured *m = open_dev(&p, state);
    CHECK(m != NULL);
    if (!m)
        goto out;
    CHECK_EQ(add(m, "one"), 0);
    CHECK_EQ(add(m, "two"), 0);
    CHECK_EQ(events(m), 2);
    measured_free(m);

    /* restarted without a TPM reset: the two go on, a third follows */
    m = open_dev(&p, state);
    CHECK(m != NULL);
    if (!m)
        goto out;
    CHECK(strstr(logbuf, "(2 events") != NULL);
    CHECK_EQ(events(m), 2);
    CHECK_EQ(add(m, "three"), 0);
    measured_free(m);

    /* the saved log has one event more than was extended (a crash between the two) */
    {
        char *text = NULL;
        size_t len = 0;
        CHECK_EQ(file_read_all(saved, 1 << 20, &text, &len), 0);
        struct eventlog *l = NULL;
        char err[256];
        CHECK_EQ(eventlog_parse(text, len, &l, err, sizeof err), 0);
        if (l) {
            CHECK_EQ(eventlog_append(l, EV_CONFIG, "never extended", 14, "crash", NULL), 0);
            FILE *f = fopen(saved, "w");
            CHECK(f && eventlog_write(l, f) == 0);
            if (f)
                fclose(f);
            eventlog_free(l);
        }
        free(text);
    }
    reopen_expect(&p, state, "(3 events", 3);

    /* a saved log that does not replay, and one that is not a log: not taken */
    write_text(saved, "w", "trevisor-eventlog v1 sha256 pcr=15\n");
    reopen_expect(&p, state, "no saved log replays", 0);
    write_text(saved, "w", "\x7f" "ELF not a log at all");
    reopen_expect(&p, state, "no saved log replays", 0);

    /* a TPM reset: PCR 15 is zero again, the log starts empty and is saved anew */
    CHECK_EQ(ptytpm_reboot(&p), 0);
    m = open_dev(&p, state);
    CHECK(m != NULL);
    if (m) {
        CHECK(strstr(logbuf, "continues") == NULL && strstr(logbuf, "not zero") == NULL);
        CHECK_EQ(events(m), 0);
        CHECK_EQ(add(m, "after reboot"), 0);
        measured_free(m);
    }
    reopen_expect(&p, state, "(1 events", 1);
out:
    tlog_set_sink(NULL, NULL);
    ptytpm_stop(&p);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    setenv("TSS2_LOG", "all+none", 0);
    TEST(test_restart_continues_the_log);
    TEST_EXIT();
}
