/* tests/server.h — a real `trevisor serve` for the end-to-end tests: a configuration
 * directory that trusts the demo vendor key, a state directory (swtpm, sealing, token),
 * start with extra options, stop (SIGTERM) and restart on the same state, and running a
 * shell command while capturing its output. */
#ifndef TREVISOR_TESTS_SERVER_H
#define TREVISOR_TESTS_SERVER_H

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "trevisor/client.h"

struct srv {
    char conf[64], state[96], sock[128], log[128];
    pid_t pid;
};

static __attribute__((unused)) int srv_setup(struct srv *s, const char *tag)
{
    char cmd[1024];
    memset(s, 0, sizeof *s);
    s->pid = -1;
    snprintf(s->conf, sizeof s->conf, "/tmp/tv-%s-XXXXXX", tag);
    if (!mkdtemp(s->conf))
        return -1;
    snprintf(s->state, sizeof s->state, "%s/state", s->conf);
    snprintf(s->sock, sizeof s->sock, "%s/tre.sock", s->conf);
    snprintf(s->log, sizeof s->log, "%s/serve.log", s->conf);
    snprintf(cmd, sizeof cmd, "%s/trevisor trust add %s/vendor/demo.pub --config %s >/dev/null",
             fx_build(), fx_build(), s->conf);
    return system(cmd) ? -1 : 0;
}

/* extra: NULL-terminated options after --socket/--config/--state (at most 16) */
static __attribute__((unused)) int srv_start(struct srv *s, const char *const *extra)
{
    unlink(s->sock);
    s->pid = fork();
    if (s->pid == 0) {
        char bin[512];
        const char *argv[32];
        int n = 0;
        snprintf(bin, sizeof bin, "%s/trevisor", fx_build());
        argv[n++] = bin;
        argv[n++] = "serve";
        argv[n++] = "--socket";
        argv[n++] = s->sock;
        argv[n++] = "--config";
        argv[n++] = s->conf;
        argv[n++] = "--state";
        argv[n++] = s->state;
        for (int i = 0; extra && extra[i] && n < 31; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    /* first starts make the token's keys (RSA-2048 keygen can take seconds on a loaded
     * machine): wait up to 60 s, returning as soon as the socket is there */
    for (int i = 0; i < 6000; i++) {
        if (access(s->sock, F_OK) == 0) {
            setenv("TREVISOR_SOCKET", s->sock, 1);
            return 0;
        }
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = -1;
            return -1;
        }
        usleep(10 * 1000);
    }
    return -1;
}

static __attribute__((unused)) int srv_stop(struct srv *s)
{
    int st = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
        s->pid = -1;
    }
    return st;
}

static __attribute__((unused)) void srv_cleanup(struct srv *s)
{
    char cmd[256];
    srv_stop(s);
    if (getenv("TREVISOR_TEST_KEEP"))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->conf);
    if (system(cmd))
        fprintf(stderr, "  cannot remove %s\n", s->conf);
}

static __attribute__((unused)) int run_capture(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    return pclose(p);
}

/* exec through libtre (the server of $TREVISOR_SOCKET): a signed image and its .minisig */
static __attribute__((unused)) int srv_exec_file(const char *img, const char *sig)
{
    struct fx_image im;
    if (file_read_all(img, 256u << 20, &im.img, &im.img_len))
        return -ENOENT;
    if (file_read_all(sig, 1 << 16, &im.sig, &im.sig_len)) {
        free(im.img);
        return -ENOENT;
    }
    int d = vmmcall_tre_exec(im.img, im.img_len, im.sig, im.sig_len);
    fx_free(&im);
    return d;
}

/* exec PROG from DIR (NULL: the build's progs) */
static __attribute__((unused)) int srv_exec(const char *dir, const char *prog)
{
    char img[512], sig[512], d[256];
    snprintf(d, sizeof d, "%s/progs", fx_build());
    snprintf(img, sizeof img, "%s/%s", dir ? dir : d, prog);
    snprintf(sig, sizeof sig, "%s/%s.minisig", dir ? dir : d, prog);
    return srv_exec_file(img, sig);
}

/* A second vendor: a new key pair in the configuration directory, trusted, that signs a
 * copy of PROG there (CONF/PROG, CONF/PROG.minisig). Restart the server to trust it. */
static __attribute__((unused)) int srv_second_vendor(const struct srv *s, const char *prog)
{
    char cmd[2048];
    const char *b = fx_build();
    snprintf(cmd, sizeof cmd, "%s/trevisor keygen -p %s/v2.pub -s %s/v2.key >/dev/null && "
             "cp %s/progs/%s %s/%s && %s/trevisor sign -s %s/v2.key %s/%s >/dev/null && "
             "%s/trevisor trust add %s/v2.pub --config %s >/dev/null", b, s->conf, s->conf,
             b, prog, s->conf, prog, b, s->conf, s->conf, prog, b, s->conf, s->conf);
    return system(cmd) ? -1 : 0;
}

/* the server's log contains s */
static __attribute__((unused)) int srv_log_has(const struct srv *s, const char *needle)
{
    char *t = NULL;
    size_t n;
    if (file_read_all(s->log, 16u << 20, &t, &n))
        return 0;
    int r = strstr(t, needle) != NULL;
    free(t);
    return r;
}

#endif
