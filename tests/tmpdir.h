/* tests/tmpdir.h — what the TPM, sealing and quote tests share: whether a program is on
 * PATH, a fresh temporary state directory, removing one, and hex for messages. */
#ifndef TREVISOR_TESTS_TMPDIR_H
#define TREVISOR_TESTS_TMPDIR_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __attribute__((unused)) int have_prog(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* a new directory /tmp/trevisor-TAG-XXXXXX (malloc'd), or NULL */
static __attribute__((unused)) char *new_state_dir_tagged(const char *tag)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/trevisor-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static __attribute__((unused)) void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

static __attribute__((unused)) void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

#endif
