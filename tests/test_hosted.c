/* tests/test_hosted.c — hosted mode end to end: a real `trevisor serve` process, the
 * research system's API through libtre (from several threads at once), the `tre` command,
 * and the examples' client programs checked with OpenSSL on the host. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"

static char conf[64], sock[128];
static pid_t server = -1;

static int hosted_start(void)
{
    char cmd[1024];
    snprintf(conf, sizeof conf, "/tmp/trevisor-hosted-XXXXXX");
    if (!mkdtemp(conf))
        return -1;
    snprintf(cmd, sizeof cmd, "%s/trevisor trust add %s/vendor/demo.pub --config %s >/dev/null",
             fx_build(), fx_build(), conf);
    if (system(cmd))
        return -1;
    snprintf(sock, sizeof sock, "%s/tre.sock", conf);
    setenv("TREVISOR_SOCKET", sock, 1);
    server = fork();
    if (server == 0) {
        char bin[512], log[256];
        snprintf(bin, sizeof bin, "%s/trevisor", fx_build());
        snprintf(log, sizeof log, "%s/serve.log", conf);
        if (!freopen(log, "w", stderr))
            _exit(126);
        char state[128];
        snprintf(state, sizeof state, "%s/state", conf);
        execl(bin, bin, "serve", "--socket", sock, "--config", conf, "--budget-ms", "1000",
              "--state", state, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000; i++) { /* the first start makes the token's keys */
        if (access(sock, F_OK) == 0)
            return 0;
        usleep(10 * 1000);
    }
    return -1;
}

static void hosted_stop(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", conf);
    if (system(cmd))
        fprintf(stderr, "  cannot remove %s\n", conf);
}


static void *hosted_worker(void *p)
{
    int *fails = p, d = srv_exec(NULL, "add-glibc");
    if (d < 0) {
        (*fails)++;
        return NULL;
    }
    for (int i = 0; i < 100; i++) {
        int a = i, b = 1000, s = 0;
        struct iovec args[2] = { { &a, 4 }, { &b, 4 } }, res[1] = { { &s, 4 } };
        if (vmmcall_tre_rpc(d, 0, args, 2, res, 1) != 0 || s != i + 1000 || res[0].iov_len != 4)
            (*fails)++;
    }
    if (vmmcall_tre_close(d) != 0)
        (*fails)++;
    return NULL;
}

static void test_libtre_api(void)
{
    NEED_KVM();
    CHECK_EQ(hosted_start(), 0);
    int d = srv_exec(NULL, "add-musl");
    CHECK(d >= 0);
    struct tre_program_info info;
    CHECK_EQ(tre_last_exec_info(&info), 0);
    CHECK(!strcmp(info.name, "add"));
    int a = 40, b = 2, s = 0;
    struct iovec args[2] = { { &a, 4 }, { &b, 4 } }, res[1] = { { &s, 4 } };
    CHECK_EQ(vmmcall_tre_rpc(d, 0, args, 2, res, 1), 0);
    CHECK_EQ(s, 42);
    CHECK_EQ(vmmcall_tre_close(d), 0);
    CHECK_EQ(vmmcall_tre_rpc(d, 0, args, 2, res, 1), -EBADF);

    /* errors travel with their meaning */
    struct fx_image im;
    CHECK_EQ(fx_load("add-free", &im), 0);
    im.img[200] ^= 1;
    CHECK_EQ(vmmcall_tre_exec(im.img, im.img_len, im.sig, im.sig_len), -EBADMSG);
    CHECK(strlen(tre_last_error()) > 0);
    fx_free(&im);
    int f = srv_exec(NULL, "faults");
    CHECK(f >= 0);
    CHECK_EQ(vmmcall_tre_rpc(f, 1, NULL, 0, NULL, 0), -EFAULT);
    CHECK(strlen(tre_strerror(-EFAULT)) > 0);
    int sp = srv_exec(NULL, "spin");
    CHECK_EQ(vmmcall_tre_rpc(sp, 0, NULL, 0, NULL, 0), -ETIMEDOUT);

    /* several threads at once through the one connection */
    pthread_t th[4];
    int fails[4] = { 0 };
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hosted_worker, &fails[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(fails[i], 0);
    }
    tre_disconnect();
    hosted_stop();
}


static void test_tre_command_and_clients(void)
{
    NEED_KVM();
    CHECK_EQ(hosted_start(), 0);
    char cmd[2048], out[4096];
    const char *b = fx_build();
    snprintf(cmd, sizeof cmd, "%s/client/tre exec %s/progs/add-glibc -- call @ 0 --arg-int 40 "
             "--arg-int 2 --result 4 --int -- close @", b, b);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "result 0: 42") != NULL);
    CHECK(strstr(out, "name") && strstr(out, "sha256"));
    /* a descriptor of another connection is refused */
    snprintf(cmd, sizeof cmd, "%s/client/tre call 4096 0 2>&1", b);
    CHECK(run_capture(cmd, out, sizeof out) != 0);
    CHECK(strstr(out, "bad descriptor") != NULL);
    snprintf(cmd, sizeof cmd, "%s/examples/add_client %s/progs/add-glibc 20 22", b, b);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "= 42") != NULL);
    snprintf(cmd, sizeof cmd, "printf 'a message' > %s/msg && %s/examples/sign_client "
             "%s/progs/ecdsa-sign %s/msg %s/pub.pem %s/sig.der >/dev/null && openssl dgst "
             "-sha256 -verify %s/pub.pem -signature %s/sig.der %s/msg", conf, b, b, conf,
             conf, conf, conf, conf, conf);
    CHECK_EQ(run_capture(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "Verified OK") != NULL);
    hosted_stop();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_libtre_api);
    TEST(test_tre_command_and_clients);
    TEST_EXIT();
}
