/* tests/progs/sim.c — a native stand-in for the SDK runtime, for sanity checks of a TRE
 * program's handler as an ordinary Linux process (never part of a TRE image). Its
 * tre_serve reads one call per line from stdin:
 *     PROC [a:HEX]... [r:CAP]...      e.g.  0 a:01000000 a:02000000 r:4
 * calls the handler, and prints "ret=N" then "rI=HEX" for each result. tre_log prints
 * "log: ...", tre_exit prints "exit N" and exits with N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "trevisor/tre.h"

#define SIM_MAX_BUF (4u << 20)

void tre_log(const char *msg, size_t len)
{
    printf("log: %.*s\n", (int)len, msg);
    fflush(stdout);
}

void tre_exit(int status)
{
    printf("exit %d\n", status);
    fflush(stdout);
    exit(status);
}

size_t tre_window_size(void)
{
    return SIM_MAX_BUF;
}

static int sim_hex(const char *s, unsigned char **out, unsigned *len)
{
    size_t n = strlen(s);

    if (n % 2 || n / 2 > SIM_MAX_BUF || !(*out = malloc(n / 2 + 1)))
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;

        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        (*out)[i] = (unsigned char)v;
    }
    *len = (unsigned)(n / 2);
    return 0;
}

int tre_serve(tre_handler_fn *h)
{
    char line[65536];

    while (fgets(line, sizeof(line), stdin)) {
        struct msgbuf b[TRE_MAX_BUFS];
        unsigned caps[TRE_MAX_BUFS];
        char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
        int n = 0, proc, rc;

        if (!tok || tok[0] == '#')
            continue;
        proc = atoi(tok);
        while ((tok = strtok_r(NULL, " \t\n", &save)) && n < TRE_MAX_BUFS) {
            if (strncmp(tok, "a:", 2) == 0) {
                if (sim_hex(tok + 2, (unsigned char **)&b[n].base, &b[n].len))
                    goto bad;
                b[n].rw = 0;
            } else if (strncmp(tok, "r:", 2) == 0) {
                unsigned long cap = strtoul(tok + 2, NULL, 0);

                if (cap > SIM_MAX_BUF || !(b[n].base = calloc(1, cap + 1)))
                    goto bad;
                b[n].len = (unsigned)cap;
                b[n].rw = 1;
            } else {
                goto bad;
            }
            caps[n] = b[n].len;
            n++;
        }
        rc = h(TRE_MSG_CALL, proc, b, n);
        printf("ret=%d\n", rc);
        for (int i = 0, r = 0; i < n; i++) {
            if (!b[i].rw)
                continue;
            printf("r%d=", r++);
            for (unsigned j = 0; j < b[i].len && j < caps[i]; j++)
                printf("%02x", ((unsigned char *)b[i].base)[j]);
            printf("\n");
        }
        fflush(stdout);
        for (int i = 0; i < n; i++)
            free(b[i].base);
        continue;
bad:
        fprintf(stderr, "sim: bad call line (PROC [a:HEX]... [r:CAP]...)\n");
        return -TRE_EINVAL;
    }
    return 0;
}
