/* cli/cmd_serve.c — `trevisor serve`: hosted mode. Starts the engine with the trust store
 * of the configuration directory and serves the TRE protocol on a Unix socket until
 * SIGINT or SIGTERM, then ends every instance (wiped) and removes the socket. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/tre_setup.h"
#include "door/unix_door.h"
#include "trevisor/engine.h"
#include "trevisor/proto.h"
#include "util/log.h"

static const char serve_usage[] =
    "usage: trevisor serve [--socket PATH] [--group GROUP] [--config DIR] [--budget-ms N]\n"
    "                      [--max-conns N] [--state DIR] [--tpm swtpm|none|DEVICE]\n"
    "                      [--pcr N] [--token-module PATH|none] [--token LABEL]\n"
    "  hosted mode: serve the TRE protocol (docs/protocol.md) on a Unix socket until\n"
    "  SIGINT or SIGTERM. Clients: libtre and the `tre` command (TREVISOR_SOCKET=PATH).\n"
    "  --socket PATH   default " TRE_PROTO_DEFAULT_SOCKET "\n"
    "  --group GROUP   let GROUP use the socket (mode 0660); default: owner only (0600)\n"
    "  --config DIR    vendor keys in DIR/vendors/*.pub (default: $TREVISOR_CONFIG, else\n"
    "                  /etc/trevisor)\n"
    "  --budget-ms N   CPU time per call (default 5000)\n"
    "  --max-conns N   connections at once (default 64)\n"
    TRE_SETUP_USAGE
    "  Before it serves, trevisor measures itself, these options and its policy (vendor\n"
    "  keys, token grants) into the TPM; every TRE image is measured before it first runs\n"
    "  (docs/measurement.md). `trevisor attest` asks it for a quote.\n"
    "  Hosted mode isolates TRE programs from the applications that call them, not from\n"
    "  the host's root.\n";

static int serve_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    const char *path = TRE_PROTO_DEFAULT_SOCKET, *config = NULL, *group = NULL;
    unsigned long budget = 0, max_conns = 0;
    struct tre_setup_opts so = { 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(serve_usage, stdout);
            return 0;
        }
        if (!v || a[0] != '-') {
            fprintf(stderr, "trevisor: serve: %s\n%s", v ? "unexpected argument" :
                    "missing value", serve_usage);
            return 2;
        }
        i++;
        int t = tre_setup_option(&so, a, v);
        if (t < 0)
            return 2;
        if (t)
            continue;
        if (!strcmp(a, "--socket"))
            path = v;
        else if (!strcmp(a, "--group"))
            group = v;
        else if (!strcmp(a, "--config"))
            config = v;
        else if (!strcmp(a, "--budget-ms") && !serve_parse_uint(v, 3600000, &budget))
            ;
        else if (!strcmp(a, "--max-conns") && !serve_parse_uint(v, 4096, &max_conns))
            ;
        else {
            fprintf(stderr, "trevisor: serve: bad option %s %s\n%s", a, v, serve_usage);
            return 2;
        }
    }
    gid_t gid = (gid_t)-1;
    if (group) {
        struct group *g = getgrnam(group);
        unsigned long n;
        if (g)
            gid = g->gr_gid;
        else if (!serve_parse_uint(group, UINT_MAX - 1, &n))
            gid = (gid_t)n;
        else {
            fprintf(stderr, "trevisor: serve: no group '%s'\n", group);
            return 1;
        }
    }
    if (!strcmp(path, TRE_PROTO_DEFAULT_SOCKET))
        mkdir("/run/trevisor", 0755); /* the default's directory; fine if it exists */

    /* SIGINT/SIGTERM arrive through a signalfd; block them in every thread (the engine's
     * budget signal stays deliverable) */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("trevisor: serve: signalfd");
        return 1;
    }

    char dir[PATH_MAX], err[512];
    snprintf(dir, sizeof dir, "%s/vendors", cli_config_dir(config));
    /* the launch: measure trevisor, its options and its policy before anything runs */
    char conf_text[2048];
    snprintf(conf_text, sizeof conf_text,
             "serve socket=%s group=%ld budget-ms=%lu max-conns=%lu", path,
             group ? (long)gid : -1L, budget, max_conns);
    struct tre_setup ts;
    if (tre_setup_start(&so, cli_config_dir(config), conf_text, &ts, err, sizeof err)) {
        fprintf(stderr, "trevisor: serve: %s\n", err);
        close(sfd);
        return 1;
    }
    struct tre_engine_config ecfg = { .trust_dir = dir, .cpu_budget_ms = budget,
                                      .services = ts.services };
    struct tre_engine *e = NULL;
    if (tre_engine_new(&ecfg, &e, err, sizeof err) ||
        tre_setup_policy(&ts, e, cli_config_dir(config), err, sizeof err) ||
        tre_setup_launched(&ts, err, sizeof err)) {
        fprintf(stderr, "trevisor: serve: %s\n", err);
        tre_engine_free(e);
        tre_setup_stop(&ts);
        close(sfd);
        return 1;
    }
    struct unix_door_config dcfg = { .path = path, .group = gid, .max_conns = (unsigned)max_conns };
    struct unix_door *d = NULL;
    int r = unix_door_open(&dcfg, e, &d, err, sizeof err);
    if (r) {
        fprintf(stderr, "trevisor: %s\n", err);
        tre_engine_free(e);
        tre_setup_stop(&ts);
        close(sfd);
        return 1;
    }
    tlog("serve", "hosted mode: TRE programs are isolated from their callers, not from "
         "this host's root; vendor keys from %s", dir);
    unix_door_run(d, sfd);
    unix_door_free(d);
    tre_engine_free(e);
    tre_setup_stop(&ts);
    close(sfd);
    tlog("serve", "stopped; every instance ended and wiped");
    return 0;
}
