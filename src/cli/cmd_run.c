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
#include "launch/qemu.h"
#include "trevisor/engine.h"
#include "vsock/vsock_door.h"
#include "util/log.h"

static const char run_usage[] =
    "usage: trevisor run --kernel K --initrd I [--cmdline TEXT] [--mem 512M] [--cpus N]\n"
    "                    [--accel kvm|tcg|auto] [--config DIR] [--budget-ms N]\n"
    "                    [--qemu PATH] [--cid N]\n"
    "  start the TRE engine, then the owner's OS under QEMU with a vhost-user-vsock device\n"
    "  served by trevisor: the guest reaches TRE programs at vsock CID 2, port 7300\n"
    "  (TREVISOR_SOCKET=vsock:2 for libtre and tre in the guest). The serial console is\n"
    "  this terminal. trevisor exits when QEMU does, with its status.\n"
    "  --accel auto picks hardware KVM when it can run a full guest, else TCG (on a host\n"
    "  whose /dev/kvm is the PVM backend, TCG).\n";

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

int cmd_run(int argc, char **argv)
{
    struct qemu_config qc = { .accel = QEMU_ACCEL_AUTO };
    const char *config = NULL;
    unsigned long budget = 0, cid = 3;
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

    char dir[PATH_MAX], err[512], rundir[] = "/tmp/trevisor-run-XXXXXX", sock[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/vendors", cli_config_dir(config));
    if (!mkdtemp(rundir)) {
        perror("trevisor: run: mkdtemp");
        return 1;
    }
    snprintf(sock, sizeof sock, "%s/vsock.sock", rundir);
    struct tre_engine_config ecfg = { .trust_dir = dir, .cpu_budget_ms = budget };
    struct tre_engine *e = NULL;
    struct vsock_door *door = NULL;
    struct qemu_cmd cmd = { .argc = 0 };
    int rc = 1, stopfds[2] = { -1, -1 };
    if (tre_engine_new(&ecfg, &e, err, sizeof err)) {
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
    if (stopfds[0] >= 0)
        close(stopfds[0]), close(stopfds[1]);
    rmdir(rundir);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
