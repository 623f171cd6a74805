/* measure/tpm_swtpm.c — the embedded swtpm of TPM_SWTPM (tpm_impl.h): forks
 * `swtpm socket --tpm2` with its state in STATE/swtpm and its log in STATE/swtpm/swtpm.log,
 * waits until its server socket (sock) and control socket (sock.ctrl, what the swtpm
 * TCTI expects) both answer, notices when it has exited, and stops it. The child dies
 * with the thread that started it (PR_SET_PDEATHSIG, docs/tpm.md). It never starts a
 * second swtpm on a state directory that one is serving, and never talks to the TPM:
 * that is tpm.c's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#define SWTPM_START_TIMEOUT_MS 5000
#define SWTPM_STOP_TIMEOUT_MS 2000

/* ---- small helpers ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int try_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* ---- the child ---- */

/* A swtpm that exited is reported as such, before trying to talk to it. */
int tpm_swtpm_check(struct tpm *t, char *err, size_t errlen)
{
    if (t->kind != TPM_SWTPM)
        return 0;
    if (!t->child_dead) {
        int st;
        pid_t r = waitpid(t->child, &st, WNOHANG);
        if (r == 0)
            return 0;
        t->child_dead = 1;
        if (r == t->child) {
            if (WIFSIGNALED(st))
                return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) was killed by signal %d",
                            (int)t->child, WTERMSIG(st));
            return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) exited with status %d",
                        (int)t->child, WEXITSTATUS(st));
        }
    }
    return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) is not running", (int)t->child);
}

void tpm_swtpm_stop(struct tpm *t)
{
    if (t->child <= 0 || t->child_dead)
        return;
    kill(t->child, SIGTERM);
    long deadline = now_ms() + SWTPM_STOP_TIMEOUT_MS;
    for (;;) {
        pid_t r = waitpid(t->child, NULL, WNOHANG);
        if (r == t->child || (r < 0 && errno != EINTR))
            break;
        if (now_ms() > deadline) {
            kill(t->child, SIGKILL);
            while (waitpid(t->child, NULL, 0) < 0 && errno == EINTR) {}
            break;
        }
        sleep_ms(10);
    }
    t->child_dead = 1;
}

int tpm_swtpm_start(struct tpm *t, char *err, size_t errlen)
{
    char dir[PATH_MAX], ctrl[PATH_MAX], logp[PATH_MAX + 16];
    char a_state[PATH_MAX + 16], a_server[PATH_MAX + 32], a_ctrl[PATH_MAX + 32];
    int r;

    if ((size_t)snprintf(dir, sizeof dir, "%s/swtpm", t->state_dir) >= sizeof dir)
        return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
    if ((r = tpm_mkdir1(dir, err, errlen)) < 0)
        return r;
    if ((size_t)snprintf(t->sock, sizeof t->sock, "%s/sock", dir) >= sizeof t->sock ||
        (size_t)snprintf(ctrl, sizeof ctrl, "%s.ctrl", t->sock) >= sizeof t->sock)
        return errf(err, errlen, -ENAMETOOLONG,
                    "tpm: swtpm socket path %s/sock.ctrl is longer than a Unix socket allows (%zu)",
                    dir, sizeof t->sock - 1);
    snprintf(logp, sizeof logp, "%s/swtpm.log", dir);
    snprintf(a_state, sizeof a_state, "dir=%s", dir);
    snprintf(a_server, sizeof a_server, "type=unixio,path=%s", t->sock);
    snprintf(a_ctrl, sizeof a_ctrl, "type=unixio,path=%s", ctrl);
    /* A live socket means another process runs a swtpm on this state; one left behind by
     * a killed run would make bind() fail. */
    if (try_connect(t->sock) == 0)
        return errf(err, errlen, -EBUSY, "tpm: a swtpm is already serving %s (another "
                    "trevisor on the same state directory?)", dir);
    unlink(t->sock);
    unlink(ctrl);

    int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return errf(err, errlen, -errno, "tpm: %s: %s", logp, strerror(errno));
    int ep[2];   /* exec-failure report: the child writes errno, CLOEXEC closes it on success */
    if (pipe2(ep, O_CLOEXEC) < 0) {
        int e = errno;
        close(logfd);
        return errf(err, errlen, -e, "tpm: pipe: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd); close(ep[0]); close(ep[1]);
        return errf(err, errlen, -e, "tpm: fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: dies with the thread that started it (see docs/tpm.md). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) { dup2(nul, 0); if (nul > 2) close(nul); }
        dup2(logfd, 1);
        dup2(logfd, 2);
        char *argv[] = {
            "swtpm", "socket", "--tpm2",
            "--tpmstate", a_state,
            "--server", a_server,
            "--ctrl", a_ctrl,
            "--flags", "not-need-init,startup-clear",
            NULL,
        };
        execvp("swtpm", argv);
        int e = errno;
        if (write(ep[1], &e, sizeof e) < 0) {}
        _exit(127);
    }
    close(logfd);
    close(ep[1]);
    t->child = pid;
    t->child_dead = 0;
    int e = 0;
    ssize_t n;
    while ((n = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(ep[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        t->child_dead = 1;
        return errf(err, errlen, -e, "tpm: cannot run swtpm: %s%s", strerror(e),
                    e == ENOENT ? " (install the swtpm package)" : "");
    }
    long deadline = now_ms() + SWTPM_START_TIMEOUT_MS;
    for (;;) {
        if ((r = tpm_swtpm_check(t, NULL, 0)) < 0)
            return errf(err, errlen, -EIO, "tpm: swtpm exited at start; see %s", logp);
        if (access(t->sock, F_OK) == 0 && access(ctrl, F_OK) == 0 &&
            try_connect(t->sock) == 0 && try_connect(ctrl) == 0)
            break;
        if (now_ms() > deadline) {
            tpm_swtpm_stop(t);
            return errf(err, errlen, -ETIMEDOUT, "tpm: swtpm did not come up in %d ms; see %s",
                        SWTPM_START_TIMEOUT_MS, logp);
        }
        sleep_ms(10);
    }
    return 0;
}
