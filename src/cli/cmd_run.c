/* cli/cmd_run.c — `trevisor run`: starts the engine and the vsock front door, then the
 * owner's OS under QEMU (launch/qemu.c), serves the guest until QEMU ends, and exits with
 * QEMU's status. SIGINT/SIGTERM are passed to QEMU. When QEMU goes, every TRE instance the
 * guest opened is closed and wiped. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/tre_setup.h"
#include "measure/eventlog.h"
#include "measure/measured.h"
#include "launch/qemu.h"
#include "trevisor/engine.h"
#include "vsock/vsock_door.h"
#include "util/log.h"

static const char run_usage[] =
    "usage: trevisor run --kernel K --initrd I [--cmdline TEXT] [--mem 512M] [--cpus N]\n"
    "                    [--accel kvm|tcg|auto] [--config DIR] [--budget-ms N]\n"
    "                    [--qemu PATH] [--cid N] [--state DIR] [--tpm T] [--pcr N]\n"
    "  start the TRE engine, then the owner's OS under QEMU with a vhost-user-vsock device\n"
    "  served by trevisor: the guest reaches TRE programs at vsock CID 2, port 7300\n"
    "  (TREVISOR_SOCKET=vsock:2 for libtre and tre in the guest). The serial console is\n"
    "  this terminal. trevisor exits when QEMU does, with its status.\n"
    "  --accel auto picks hardware KVM when it can run a full guest, else TCG (on a host\n"
    "  whose /dev/kvm is the PVM backend, TCG).\n"
    TRE_SETUP_USAGE
    "  Before QEMU starts, trevisor measures itself, these options, its policy, the QEMU\n"
    "  binary and its whole command line, and the guest's kernel, initrd and command\n"
    "  line (docs/measurement.md).\n";

struct run_loop {
    struct vsock_door *door;
    int stop_fd;
    int result;
};

static void *run_vsock_main(void *p)
{
    struct run_loop *l = p;
    l->result = vsock_door_run(l->door, l->stop_fd);
    return NULL;
}

/* QEMU's executable as the kernel will run it: a path, or the first match in $PATH. */
static int run_find_binary(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return access(out, X_OK) ? -ENOENT : 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, outlen, "%.*s/%s", (int)n, path, name);
        if (n && !access(out, X_OK))
            return 0;
        path += n + (path[n] == ':');
    }
    return -ENOENT;
}

/* The user environment's launch events, in the documented order. */
static int run_measure_guest(struct tre_setup *ts, const struct qemu_cmd *cmd,
                             const struct qemu_config *qc, char *err, size_t errlen)
{
    char bin[PATH_MAX];
    if (run_find_binary(cmd->argv[0], bin, sizeof bin))
        return snprintf(err, errlen, "cannot find QEMU (%s)", cmd->argv[0]), -ENOENT;
    int r = measured_file(ts->measured, EV_QEMU_BINARY, bin, err, errlen);
    if (r)
        return r;
    long n = eventlog_encode_argv((char *const *)cmd->argv, NULL, 0);
    uint8_t *enc = n > 0 ? malloc((size_t)n) : NULL;
    if (!enc)
        return snprintf(err, errlen, "cannot encode QEMU's command line"), -ENOMEM;
    eventlog_encode_argv((char *const *)cmd->argv, enc, (size_t)n);
    r = measured_data(ts->measured, EV_QEMU_CMDLINE, enc, (size_t)n, "QEMU argv", err, errlen);
    free(enc);
    if (r)
        return r;
    if ((r = measured_file(ts->measured, EV_GUEST_KERNEL, qc->kernel, err, errlen)) ||
        (r = measured_file(ts->measured, EV_GUEST_INITRD, qc->initrd, err, errlen)))
        return r;
    const char *append = "";
    for (unsigned i = 0; i + 1 < cmd->argc; i++)
        if (!strcmp(cmd->argv[i], "-append"))
            append = cmd->argv[i + 1];
    return measured_data(ts->measured, EV_GUEST_CMDLINE, append, strlen(append),
                         "kernel command line", err, errlen);
}

int cmd_run(int argc, char **argv)
{
    struct qemu_config qc = { .accel = QEMU_ACCEL_AUTO };
    const char *config = NULL;
    unsigned long budget = 0, cid = 3;
    struct tre_setup_opts so = { 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(run_usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "trevisor: run: %s needs a value\n%s", a, run_usage);
            return 2;
        }
        i++;
        int t = tre_setup_option(&so, a, v);
        if (t < 0)
            return 2;
        if (t)
            continue;
        char *end;
        if (!strcmp(a, "--kernel"))
            qc.kernel = v;
        else if (!strcmp(a, "--initrd"))
            qc.initrd = v;
        else if (!strcmp(a, "--cmdline"))
            qc.cmdline = v;
        else if (!strcmp(a, "--qemu"))
            qc.binary = v;
        else if (!strcmp(a, "--config"))
            config = v;
        else if (!strcmp(a, "--mem") && !qemu_parse_size(v, &qc.mem_bytes) &&
                 qc.mem_bytes >= (128ull << 20))
            ;
        else if (!strcmp(a, "--cpus") && (qc.cpus = (unsigned)strtoul(v, &end, 10)) >= 1 &&
                 qc.cpus <= 64 && !*end)
            ;
        else if (!strcmp(a, "--budget-ms") && (budget = strtoul(v, &end, 10)) >= 1 && !*end)
            ;
        else if (!strcmp(a, "--cid") && (cid = strtoul(v, &end, 10)) >= 3 &&
                 cid < 0xffffffffUL && !*end)
            ;
        else if (!strcmp(a, "--accel") && !strcmp(v, "kvm"))
            qc.accel = QEMU_ACCEL_KVM;
        else if (!strcmp(a, "--accel") && !strcmp(v, "tcg"))
            qc.accel = QEMU_ACCEL_TCG;
        else if (!strcmp(a, "--accel") && !strcmp(v, "auto"))
            qc.accel = QEMU_ACCEL_AUTO;
        else {
            fprintf(stderr, "trevisor: run: bad option %s %s (--mem needs >= 128M)\n%s", a,
                    v, run_usage);
            return 2;
        }
    }
    if (!qc.kernel || !qc.initrd) {
        fprintf(stderr, "trevisor: run: --kernel and --initrd are required\n%s", run_usage);
        return 2;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);

    char dir[PATH_MAX], err[512], rundir[PATH_MAX], sock[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/vendors", cli_config_dir(config));
    struct tre_engine *e = NULL;
    struct vsock_door *door = NULL;
    struct qemu_cmd cmd = { .argc = 0 };
    int rc = 1, stopfds[2] = { -1, -1 };
    rundir[0] = 0;
    char conf_text[2048];
    snprintf(conf_text, sizeof conf_text,
             "run mem=%llu cpus=%u accel=%d budget-ms=%lu cid=%lu",
             (unsigned long long)qc.mem_bytes, qc.cpus, (int)qc.accel, budget, cid);
    struct tre_setup ts;
    if (tre_setup_start(&so, cli_config_dir(config), conf_text, &ts, err, sizeof err)) {
        fprintf(stderr, "trevisor: run: %s\n", err);
        if (sfd >= 0)
            close(sfd);
        return 1;
    }
    /* the vhost-user socket lives in the state directory, at a fixed path, so that QEMU's
     * command line (which is measured) is the same at every launch */
    snprintf(rundir, sizeof rundir, "%s/run", ts.state_dir);
    if (mkdir(rundir, 0700) && errno != EEXIST) {
        fprintf(stderr, "trevisor: run: cannot make %s: %s\n", rundir, strerror(errno));
        rundir[0] = 0;
        goto out;
    }
    snprintf(sock, sizeof sock, "%s/vsock.sock", rundir);
    unlink(sock); /* a socket left by a killed run (swtpm's lock keeps two runs apart) */
    struct tre_engine_config ecfg = { .trust_dir = dir, .cpu_budget_ms = budget,
                                      .services = ts.services };
    if (tre_engine_new(&ecfg, &e, err, sizeof err) ||
        tre_setup_policy(&ts, e, cli_config_dir(config), err, sizeof err)) {
        fprintf(stderr, "trevisor: run: %s\n", err);
        goto out;
    }
    struct vsock_door_config vc = { .path = sock, .guest_cid = cid, .engine = e };
    if (vsock_door_open(&vc, &door, err, sizeof err)) {
        fprintf(stderr, "trevisor: run: %s\n", err);
        goto out;
    }
    qc.vsock_socket = sock;
    if (qemu_build(&qc, &cmd, err, sizeof err)) {
        fprintf(stderr, "trevisor: %s\n", err);
        goto out;
    }
    char line[8192];
    qemu_cmdline_string(&cmd, line, sizeof line);
    tlog("run", "user environment: %s", cmd.why);
    tlog("run", "QEMU: %s", line);
    if (run_measure_guest(&ts, &cmd, &qc, err, sizeof err) ||
        tre_setup_launched(&ts, err, sizeof err)) {
        fprintf(stderr, "trevisor: run: %s\n", err);
        goto out;
    }

    if (pipe(stopfds) < 0)
        goto out;
    struct run_loop loop = { .door = door, .stop_fd = stopfds[0] };
    pthread_t th;
    if (pthread_create(&th, NULL, run_vsock_main, &loop) != 0)
        goto out;
    pid_t pid;
    int r = qemu_spawn(&cmd, -1, &pid);
    if (r) {
        fprintf(stderr, "trevisor: run: cannot start %s: %s\n", cmd.argv[0], strerror(-r));
        if (write(stopfds[1], "x", 1) != 1)
            perror("write");
        pthread_join(th, NULL);
        goto out;
    }
    /* wait for QEMU; pass SIGINT/SIGTERM on to it */
    int status = 0;
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != sizeof si)
            continue;
        if (si.ssi_signo == SIGCHLD) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            continue;
        }
        tlog("run", "signal %u: stopping the user environment", si.ssi_signo);
        kill(pid, SIGTERM);
    }
    if (WIFEXITED(status)) {
        rc = WEXITSTATUS(status);
        tlog("run", "QEMU exited with status %d", rc);
    } else {
        rc = 128 + WTERMSIG(status);
        tlog("run", "QEMU was killed by signal %d", WTERMSIG(status));
    }
    if (write(stopfds[1], "x", 1) != 1)
        perror("write");
    pthread_join(th, NULL);
out:
    qemu_cmd_free(&cmd);
    vsock_door_free(door);
    tre_engine_free(e);  /* every instance ends and is wiped */
    tre_setup_stop(&ts);
    if (stopfds[0] >= 0)
        close(stopfds[0]), close(stopfds[1]);
    if (rundir[0]) {
        unlink(sock);
        rmdir(rundir);
    }
    if (sfd >= 0)
        close(sfd);
    return rc;
}
