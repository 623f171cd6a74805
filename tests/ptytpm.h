/* tests/ptytpm.h — a TPM character device for tests of `--tpm DEVICE`, on a machine that
 * has neither /dev/tpmrm0 nor CUSE: swtpm's chardev interface reads commands from and
 * writes responses to the master side of a pseudo-terminal in raw mode, and the slave
 * (/dev/pts/N) is the device path trevisor opens with the TSS's device TCTI, exactly as
 * it opens a kernel TPM device. A software TPM behind a pty: a simulation, said so here. */
#ifndef TREVISOR_TESTS_PTYTPM_H
#define TREVISOR_TESTS_PTYTPM_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

struct ptytpm {
    pid_t pid;           /* swtpm, or -1 */
    int master;          /* kept, so a restarted swtpm serves the same device path */
    int slave;           /* held open so the raw settings stay */
    char path[64];       /* the device path: /dev/pts/N */
    char state[4096];
};

/* Starts swtpm on p->master; 0 or -1. */
static __attribute__((unused)) int ptytpm_spawn(struct ptytpm *p)
{
    p->pid = fork();
    if (p->pid == 0) {
        char fd[16], dir[4200];
        snprintf(fd, sizeof fd, "%d", p->master);
        snprintf(dir, sizeof dir, "dir=%s", p->state);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        fcntl(p->master, F_SETFD, 0);       /* swtpm's own, across the exec */
        execlp("swtpm", "swtpm", "chardev", "--tpm2", "--fd", fd, "--tpmstate", dir,
               "--flags", "not-need-init,startup-clear", (char *)NULL);
        _exit(127);
    }
    if (p->pid < 0) {
        perror("  ptytpm: fork");
        return -1;
    }
    usleep(200 * 1000);     /* swtpm's start-up: it answers only once it read the fd */
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        fprintf(stderr, "  ptytpm: swtpm chardev exited at once\n");
        p->pid = -1;
        return -1;
    }
    return 0;
}

/* Starts swtpm on a new pty with its state in state_dir (created if missing). 0, or -1
 * (and a line on stderr) when it cannot. */
static __attribute__((unused)) int ptytpm_start(struct ptytpm *p, const char *state_dir)
{
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->slave = p->master = -1;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !ptsname(m)) {
        perror("  ptytpm: posix_openpt");
        if (m >= 0)
            close(m);
        return -1;
    }
    snprintf(p->path, sizeof p->path, "%s", ptsname(m));
    p->slave = open(p->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (p->slave < 0 || tcgetattr(p->slave, &t) < 0) {
        perror("  ptytpm: slave");
        close(m);
        return -1;
    }
    cfmakeraw(&t);
    tcsetattr(p->slave, TCSANOW, &t);
    fcntl(m, F_SETFD, FD_CLOEXEC);            /* no other child inherits the master */
    mkdir(state_dir, 0700);
    snprintf(p->state, sizeof p->state, "%s", state_dir);
    p->master = m;
    if (ptytpm_spawn(p) < 0) {
        close(p->slave);
        close(m);
        p->slave = p->master = -1;
        return -1;
    }
    return 0;
}

/* A TPM reset, as at a reboot: swtpm stops and starts again on the same device and
 * state, so its keys stay and its PCRs start from zero. 0 or -1. */
static __attribute__((unused)) int ptytpm_reboot(struct ptytpm *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = -1;
    return ptytpm_spawn(p);
}

static __attribute__((unused)) void ptytpm_stop(struct ptytpm *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
    }
    if (p->slave >= 0)
        close(p->slave);
    if (p->master >= 0)
        close(p->master);
    p->pid = -1;
    p->slave = p->master = -1;
}

#endif
