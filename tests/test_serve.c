/* tests/test_serve.c — hosted mode's front door on a real Unix socket, with a raw client
 * built on the codec: exec/rpc/close, descriptors owned by their connection, clients that
 * vanish mid-call, malformed frames, a slow client, one that never reads, a connection
 * flood, the socket's mode, and a clean stop on SIGTERM. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "door/proto.h"
#include "door/unix_door.h"

static char sock_path[108];
static struct tre_engine *srv_engine;
static struct unix_door *srv_door;
static int srv_stop[2] = { -1, -1 };
static pthread_t srv_thread;

static void *srv_main(void *p)
{
    (void)p;
    unix_door_run(srv_door, srv_stop[0]);
    return NULL;
}

static int srv_start(unsigned max_conns, uint64_t budget_ms)
{
    snprintf(sock_path, sizeof sock_path, "/tmp/trevisor-test-%d.sock", (int)getpid());
    srv_engine = fx_engine(budget_ms);
    if (!srv_engine)
        return -1;
    struct unix_door_config cfg = { .path = sock_path, .group = (gid_t)-1,
                                    .max_conns = max_conns, .frame_timeout_ms = 600,
                                    .send_timeout_ms = 600 };
    char err[256];
    if (unix_door_open(&cfg, srv_engine, &srv_door, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        return -1;
    }
    if (pipe(srv_stop))
        return -1;
    return pthread_create(&srv_thread, NULL, srv_main, NULL);
}

static void srv_stop_now(void)
{
    if (write(srv_stop[1], "x", 1) != 1)
        perror("write");
    pthread_join(srv_thread, NULL);
    unix_door_free(srv_door);
    tre_engine_free(srv_engine);
    close(srv_stop[0]);
    close(srv_stop[1]);
}

static int cl_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, sock_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -errno;
    }
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int cl_send(int fd, const void *b, size_t n)
{
    return send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int cl_read_full(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, b + got, n - got, 0);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* One reply: header + payload (malloc'd). -1 on EOF. */
static int cl_reply(int fd, struct proto_hdr *h, uint8_t **payload)
{
    uint8_t hb[TRE_PROTO_HDR_SIZE];
    if (cl_read_full(fd, hb, sizeof hb) || proto_hdr_decode(hb, h))
        return -1;
    *payload = malloc(h->len + 1);
    return cl_read_full(fd, *payload, h->len);
}

static int cl_exec(int fd, const char *prog)
{
    struct fx_image im;
    if (fx_load(prog, &im))
        return -ENOENT;
    size_t n = proto_exec_req_size(im.img_len, im.sig_len);
    uint8_t *m = malloc(n);
    long len = proto_exec_req_encode(m, n, 7, im.img, im.img_len, im.sig, im.sig_len);
    int r = -EIO;
    struct proto_hdr h;
    uint8_t *p = NULL;
    struct proto_exec_reply rep;
    if (len > 0 && !cl_send(fd, m, len) && !cl_reply(fd, &h, &p) &&
        h.op == (TRE_OP_EXEC | TRE_OP_REPLY) && h.id == 7 &&
        !proto_exec_reply_decode(p, h.len, &rep))
        r = rep.status;
    free(p);
    free(m);
    fx_free(&im);
    return r;
}

static int cl_add(int fd, int desc, int a, int b, int *sum)
{
    const void *args[2] = { &a, &b };
    uint32_t alen[2] = { 4, 4 }, cap[1] = { 4 };
    uint8_t m[256];
    long len = proto_rpc_req_encode(m, sizeof m, 9, desc, 0, 2, args, alen, 1, cap);
    struct proto_hdr h;
    uint8_t *p = NULL;
    struct proto_rpc_reply rep;
    int r = -EIO;
    if (len > 0 && !cl_send(fd, m, len) && !cl_reply(fd, &h, &p) &&
        h.op == (TRE_OP_RPC | TRE_OP_REPLY) && !proto_rpc_reply_decode(p, h.len, 1, cap, &rep)) {
        r = rep.status;
        if (rep.nresults == 1 && rep.result_len[0] == 4)
            memcpy(sum, rep.result[0], 4);
    }
    free(p);
    return r;
}

static int cl_close(int fd, int desc)
{
    uint8_t m[64];
    long len = proto_close_req_encode(m, sizeof m, 11, desc);
    struct proto_hdr h;
    uint8_t *p = NULL;
    int32_t st = -EIO;
    if (len > 0 && !cl_send(fd, m, len) && !cl_reply(fd, &h, &p))
        proto_close_reply_decode(p, h.len, &st);
    free(p);
    return st;
}

/* An ERROR reply's status, or 1 if the server closed without one. */
static int cl_expect_error(int fd)
{
    struct proto_hdr h;
    uint8_t *p = NULL;
    struct proto_error_reply e;
    int r = 1;
    if (!cl_reply(fd, &h, &p) && h.op == TRE_OP_ERROR && !proto_error_reply_decode(p, h.len, &e))
        r = e.status;
    free(p);
    return r;
}

static int cl_closed_by_server(int fd)
{
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    if (poll(&pf, 1, 5000) <= 0)
        return 0;
    char c;
    return recv(fd, &c, 1, 0) == 0;
}

static void test_exec_rpc_close_and_ownership(void)
{
    NEED_KVM();
    if (srv_start(8, 0))
        return;
    struct stat st;
    CHECK_EQ(stat(sock_path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    int a = cl_connect(), b = cl_connect();
    CHECK(a >= 0 && b >= 0);
    int d = cl_exec(a, "add-glibc");
    CHECK(d >= 0);
    int sum = 0;
    CHECK_EQ(cl_add(a, d, 40, 2, &sum), 0);
    CHECK_EQ(sum, 42);
    /* another connection can neither call nor close it */
    CHECK_EQ(cl_add(b, d, 1, 1, &sum), -EBADF);
    CHECK_EQ(cl_close(b, d), -EBADF);
    CHECK_EQ(cl_add(b, d + 1, 1, 1, &sum), -EBADF);
    CHECK_EQ(cl_add(a, d, 1, 2, &sum), 0);
    CHECK_EQ(sum, 3);
    CHECK_EQ(cl_close(a, d), 0);
    CHECK_EQ(cl_add(a, d, 1, 2, &sum), -EBADF);
    /* refused image: the reason travels */
    struct fx_image im;
    CHECK_EQ(fx_load("add-free", &im), 0);
    im.img[100] ^= 1;
    size_t n = proto_exec_req_size(im.img_len, im.sig_len);
    uint8_t *m = malloc(n);
    long len = proto_exec_req_encode(m, n, 3, im.img, im.img_len, im.sig, im.sig_len);
    CHECK(len > 0 && cl_send(a, m, len) == 0);
    struct proto_hdr h;
    uint8_t *p = NULL;
    struct proto_exec_reply rep;
    CHECK_EQ(cl_reply(a, &h, &p), 0);
    CHECK_EQ(proto_exec_reply_decode(p, h.len, &rep), 0);
    CHECK_EQ(rep.status, -EBADMSG);
    CHECK(rep.msg_len > 0);
    free(p), free(m);
    fx_free(&im);
    close(a), close(b);
    srv_stop_now();
    CHECK(access(sock_path, F_OK) != 0); /* removed */
}

static void test_client_gone_mid_call_leaves_nothing(void)
{
    NEED_KVM();
    if (srv_start(8, 400))
        return;
    int a = cl_connect();
    int d = cl_exec(a, "spin");
    CHECK(d >= 0);
    /* start the endless proc 0, then vanish */
    uint32_t none[1];
    uint8_t m[128];
    long len = proto_rpc_req_encode(m, sizeof m, 5, d, 0, 0, NULL, none, 0, none);
    CHECK(len > 0 && cl_send(a, m, len) == 0);
    usleep(100 * 1000);
    close(a);
    /* the server notices once the call ends (budget), and closes the instance */
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(50 * 1000);
        gone = tre_engine_rpc(srv_engine, d, 1, NULL, 0, NULL, 0) == -EBADF;
    }
    CHECK(gone);
    /* an idle client that just disconnects: also cleaned up */
    int b = cl_connect();
    int d2 = cl_exec(b, "add-musl");
    CHECK(d2 >= 0);
    close(b);
    gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(20 * 1000);
        gone = tre_engine_rpc(srv_engine, d2, 0, NULL, 0, NULL, 0) == -EBADF;
    }
    CHECK(gone);
    srv_stop_now();
}

static void test_malformed_frames(void)
{
    NEED_KVM();
    if (srv_start(16, 0))
        return;
    struct { const char *what; uint8_t hdr[16]; int closes; } cases[] = {
        { "bad magic", { 'X', 'R', 'E', 'P', 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 1 },
        { "bad version", { 'T', 'R', 'E', 'P', 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 1 },
        { "unknown op", { 'T', 'R', 'E', 'P', 1, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 1 },
        { "a reply op", { 'T', 'R', 'E', 'P', 1, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0 }, 1 },
        { "huge length", { 'T', 'R', 'E', 'P', 1, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff }, 1 },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = cl_connect();
        CHECK(cl_send(fd, cases[i].hdr, 16) == 0);
        int st = cl_expect_error(fd);
        if (st >= 0)
            fprintf(stderr, "  %s: no error reply (%d)\n", cases[i].what, st);
        CHECK(st < 0);
        CHECK(cl_closed_by_server(fd));
        close(fd);
    }
    /* well framed but undecodable: an error reply, and the connection goes on */
    int fd = cl_connect();
    uint8_t bad[16 + 12];
    proto_hdr_encode(bad, TRE_OP_RPC, 1, 12);
    memset(bad + 16, 0xff, 12);      /* nargs = nresults = 0xffff */
    CHECK(cl_send(fd, bad, sizeof bad) == 0);
    CHECK_EQ(cl_expect_error(fd), -EMSGSIZE);
    uint8_t badclose[16 + 2];
    proto_hdr_encode(badclose, TRE_OP_CLOSE, 2, 2); /* a close needs 4 bytes */
    memset(badclose + 16, 0, 2);
    CHECK(cl_send(fd, badclose, sizeof badclose) == 0);
    CHECK_EQ(cl_expect_error(fd), -EPROTO);
    int d = cl_exec(fd, "add-free"), sum = 0;
    CHECK(d >= 0);
    CHECK_EQ(cl_add(fd, d, 2, 3, &sum), 0);
    CHECK_EQ(sum, 5);
    /* a truncated frame, then the client goes: the server just drops it */
    int t = cl_connect();
    uint8_t half[16];
    proto_hdr_encode(half, TRE_OP_EXEC, 1, 1000);
    CHECK(cl_send(t, half, 16) == 0 && cl_send(t, "abc", 3) == 0);
    close(t);
    /* a stalled frame: dropped after the frame deadline (600 ms here) */
    t = cl_connect();
    CHECK(cl_send(t, half, 10) == 0);
    CHECK(cl_closed_by_server(t));
    close(t);
    CHECK_EQ(cl_add(fd, d, 20, 22, &sum), 0);
    CHECK_EQ(sum, 42);
    close(fd);
    srv_stop_now();
}

struct slow_arg {
    int result;
};

static void *slow_client(void *p)
{
    struct slow_arg *a = p;
    int fd = cl_connect();
    uint8_t m[64];
    long len = proto_close_req_encode(m, sizeof m, 1, 12345);
    a->result = -1;
    for (long i = 0; i < len; i++) {
        if (cl_send(fd, m + i, 1))
            break;
        usleep(25 * 1000);    /* 20 bytes in ~0.5 s, inside the frame deadline */
    }
    struct proto_hdr h;
    uint8_t *pl = NULL;
    int32_t st = 0;
    if (!cl_reply(fd, &h, &pl) && !proto_close_reply_decode(pl, h.len, &st))
        a->result = st;
    free(pl);
    close(fd);
    return NULL;
}

static void test_slow_and_deaf_clients_hurt_nobody(void)
{
    NEED_KVM();
    if (srv_start(16, 0))
        return;
    pthread_t th;
    struct slow_arg sa;
    pthread_create(&th, NULL, slow_client, &sa);
    int fd = cl_connect();
    int d = cl_exec(fd, "add-glibc"), sum = 0, ok = 0;
    for (int i = 0; i < 20; i++)
        ok += cl_add(fd, d, i, i, &sum) == 0 && sum == 2 * i;
    CHECK_EQ(ok, 20);
    pthread_join(th, NULL);
    CHECK_EQ(sa.result, -EBADF);   /* its close of a descriptor it does not own */

    /* a client that never reads: it asks for 1 MiB results again and again */
    int deaf = cl_connect();
    int nd = cl_exec(deaf, "nullrpc");
    CHECK(nd >= 0);
    static uint8_t arg[1 << 20];
    const void *args[1] = { arg };
    uint32_t alen[1] = { sizeof arg }, cap[1] = { sizeof arg };
    size_t n = proto_rpc_req_size(1, alen, 1);
    uint8_t *m = malloc(n);
    long len = proto_rpc_req_encode(m, n, 1, nd, 1, 1, args, alen, 1, cap);
    CHECK(len > 0);
    int sndbuf = 1 << 16;
    setsockopt(deaf, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fcntl(deaf, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 16; i++) {
        const uint8_t *q = m;
        size_t left = (size_t)len;
        for (int spins = 0; left && spins < 200; spins++) {
            ssize_t k = send(deaf, q, left, MSG_NOSIGNAL);
            if (k > 0) {
                q += k;
                left -= (size_t)k;
            } else {
                usleep(5000);
            }
        }
    }
    free(m);
    /* meanwhile everyone else is served, and the deaf one is dropped with its instance */
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += cl_add(fd, d, i, 1, &sum) == 0 && sum == i + 1;
    CHECK_EQ(ok, 10);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        usleep(25 * 1000);
        gone = tre_engine_rpc(srv_engine, nd, 0, NULL, 0, NULL, 0) == -EBADF;
    }
    CHECK(gone);
    close(deaf);
    close(fd);
    srv_stop_now();
}

static void test_connection_flood(void)
{
    NEED_KVM();
    if (srv_start(4, 0))
        return;
    int fds[8], refused = 0;
    for (int i = 0; i < 8; i++) {
        fds[i] = cl_connect();
        usleep(20 * 1000);
    }
    for (int i = 4; i < 8; i++)
        refused += cl_expect_error(fds[i]) == -EMFILE;
    CHECK_EQ(refused, 4);
    int d = cl_exec(fds[0], "add-free"), sum = 0;
    CHECK_EQ(cl_add(fds[0], d, 1, 1, &sum), 0);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    /* slots come back */
    usleep(1200 * 1000);
    int again = cl_connect();
    d = cl_exec(again, "add-free");
    CHECK(d >= 0);
    close(again);
    srv_stop_now();
}

static void test_sigterm_stops_cleanly(void)
{
    NEED_KVM();
    char conf[] = "/tmp/trevisor-conf-XXXXXX", cmd[1024];
    CHECK(mkdtemp(conf) != NULL);
    snprintf(cmd, sizeof cmd, "%s/trevisor trust add %s/vendor/demo.pub --config %s >/dev/null",
             fx_build(), fx_build(), conf);
    CHECK_EQ(system(cmd), 0);
    snprintf(sock_path, sizeof sock_path, "%s/tre.sock", conf);
    pid_t pid = fork();
    if (pid == 0) {
        char bin[512];
        snprintf(bin, sizeof bin, "%s/trevisor", fx_build());
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        char state[128];
        snprintf(state, sizeof state, "%s/state", conf);
        execl(bin, bin, "serve", "--socket", sock_path, "--config", conf, "--state", state,
              (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    for (int i = 0; i < 3000 && fd < 0; i++) {
        usleep(20 * 1000);
        fd = cl_connect();
    }
    CHECK(fd >= 0);
    int d = cl_exec(fd, "add-glibc"), sum = 0;
    CHECK(d >= 0);
    CHECK_EQ(cl_add(fd, d, 5, 6, &sum), 0);
    CHECK_EQ(sum, 11);
    CHECK_EQ(kill(pid, SIGTERM), 0);
    int status = -1;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(access(sock_path, F_OK) != 0);
    CHECK(cl_closed_by_server(fd));
    close(fd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", conf);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_exec_rpc_close_and_ownership);
    TEST(test_client_gone_mid_call_leaves_nothing);
    TEST(test_malformed_frames);
    TEST(test_slow_and_deaf_clients_hurt_nobody);
    TEST(test_connection_flood);
    TEST(test_sigterm_stops_cleanly);
    TEST_EXIT();
}
