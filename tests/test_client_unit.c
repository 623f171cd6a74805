/* tests/test_client_unit.c — libtre without trevisor: error texts, TREVISOR_SOCKET
 * parsing, argument checks, no server listening, and a fake server in a thread (on a temp
 * Unix socket) whose replies are good, slow, trickled, or malformed and lying: libtre must
 * return -EPROTO or -ECONNRESET, drop the connection, reconnect on the next exec, and
 * never write past (or into, on failure) the caller's result buffers. Also: threads on one
 * connection, fork, EINTR, SIGPIPE, increasing request ids. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "door/proto.h"
#include "trevisor/client.h"

#define FAKE_DESC 7
#define GUARD 0xA5

/* ---- the fake trevisor ---- */

enum fake_act {
    ACT_GOOD,            /* exec -> 7, rpc echoes arg k into result k (cut to its cap) */
    ACT_WRONG_ID, ACT_WRONG_OP, ACT_MORE_RESULTS, ACT_FEWER_RESULTS, ACT_LONG_RESULT,
    ACT_TRUNCATED, ACT_OVERSIZE, ACT_CLOSE_MID, ACT_CLOSE_NOW, ACT_BAD_MAGIC,
    ACT_BAD_VERSION, ACT_RESULTS_ON_ERROR, ACT_TRAILING, ACT_ERROR_REPLY, ACT_ERROR_POSITIVE,
    ACT_ERROR_OTHER_ID, ACT_EXEC_FAIL, ACT_EXEC_MSG_ON_SUCCESS, ACT_EXEC_BAD_STATUS,
    ACT_EXEC_CTRL_NAME, ACT_EXEC_NAME_NO_NUL, ACT_CLOSE_POSITIVE, ACT_SLOW, ACT_TRICKLE,
    ACT_CLOSE_ON_ACCEPT, ACT_RPC_ENGINE_ERROR, ACT_ERROR_WRONG_ID, ACT_REFUSE_ON_ACCEPT,
};

struct fake {
    char dir[64], path[108];
    int lfd;
    pthread_t th;
    const int *script;     /* action for request i (the last one repeats) */
    int nscript;
    atomic_int stop, nreq, nconn, ids_bad;
    uint32_t last_id;
};

static int fake_read(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void fake_write(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

static void fake_info(struct tre_proto_exec_info *info, const char *name)
{
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", name);
    info->version = 3;
    info->svn = 2;
    for (int i = 0; i < 32; i++)
        info->sha256[i] = (uint8_t)i;
    snprintf(info->keyid, sizeof info->keyid, "0123456789ABCDEF");
}

static void fake_set_len(uint8_t *hdr, uint32_t len)
{
    for (int i = 0; i < 4; i++)
        hdr[12 + i] = (uint8_t)(len >> (8 * i));
}

/* A good RPC reply into out (status, results cut from the args); its size. */
static long fake_rpc_good(uint8_t *out, size_t cap, uint32_t id, const struct proto_rpc_req *q)
{
    const void *res[TRE_PROTO_MAX_BUFS];
    uint32_t len[TRE_PROTO_MAX_BUFS];
    if (q->desc != FAKE_DESC)
        return proto_rpc_reply_encode(out, cap, id, -EBADF, 0, NULL, NULL);
    for (unsigned k = 0; k < q->nresults; k++) {
        res[k] = k < q->nargs ? (const void *)q->arg[k] : "";
        len[k] = k < q->nargs ? q->arg_len[k] : 0;
        if (len[k] > q->result_cap[k])
            len[k] = q->result_cap[k];
    }
    return proto_rpc_reply_encode(out, cap, id, q->proc, q->nresults, res, len);
}

/* Answers one request as act says. 1: keep the connection, 0: close it. */
static int fake_reply(int fd, int act, const struct proto_hdr *h, const uint8_t *pl)
{
    size_t cap = (2u << 20) + 4096;
    uint8_t *out = calloc(1, cap);
    long n = -1;
    int keep = 1;
    struct proto_rpc_req q;
    struct tre_proto_exec_info info;
    int32_t desc;
    int is_rpc = h->op == TRE_OP_RPC && !proto_rpc_req_decode(pl, h->len, &q);
    if (!out)
        return 0;

    switch (act) {
    case ACT_CLOSE_NOW:
        keep = 0;
        break;
    case ACT_ERROR_REPLY:
        n = proto_error_reply_encode(out, cap, h->id, -EINVAL, "bad \x1b[31mthing\x7f");
        break;
    case ACT_ERROR_WRONG_ID:
        n = proto_error_reply_encode(out, cap, h->id ^ 1, -EINVAL, "x");
        break;
    case ACT_ERROR_OTHER_ID:
        n = proto_error_reply_encode(out, cap, 0, -EMFILE, "too many connections");
        keep = 0;
        break;
    case ACT_ERROR_POSITIVE:
        n = proto_error_reply_encode(out, cap, h->id, -EINVAL, "x");
        out[TRE_PROTO_HDR_SIZE] = 5;      /* status 5: not an error */
        memset(out + TRE_PROTO_HDR_SIZE + 1, 0, 3);
        break;
    case ACT_EXEC_FAIL:
        n = proto_exec_reply_encode(out, cap, h->id, -ENOKEY, NULL, "key 1234 is not trusted");
        break;
    case ACT_EXEC_MSG_ON_SUCCESS:
        n = proto_exec_reply_encode(out, cap, h->id, -ENOKEY, NULL, "oops");
        memset(out + TRE_PROTO_HDR_SIZE, 0, 4);           /* status 0 with a message */
        break;
    case ACT_EXEC_BAD_STATUS:
        n = proto_exec_reply_encode(out, cap, h->id, -100000, NULL, "");
        break;
    case ACT_EXEC_CTRL_NAME:
        fake_info(&info, "ev\x1bil\x01");
        n = proto_exec_reply_encode(out, cap, h->id, FAKE_DESC, &info, "");
        break;
    case ACT_EXEC_NAME_NO_NUL:
        fake_info(&info, "x");
        n = proto_exec_reply_encode(out, cap, h->id, FAKE_DESC, &info, "");
        memset(out + TRE_PROTO_HDR_SIZE + 4, 'N', 32);    /* name with no NUL at all */
        break;
    case ACT_CLOSE_POSITIVE:
        n = proto_close_reply_encode(out, cap, h->id, 3);
        break;
    default:
        if (h->op == TRE_OP_EXEC) {
            fake_info(&info, "adder");
            n = proto_exec_reply_encode(out, cap, h->id, FAKE_DESC, &info, "");
        } else if (h->op == TRE_OP_CLOSE && !proto_close_req_decode(pl, h->len, &desc)) {
            n = proto_close_reply_encode(out, cap, h->id, desc == FAKE_DESC ? 0 : -EBADF);
        } else if (is_rpc) {
            n = fake_rpc_good(out, cap, h->id, &q);
        }
        break;
    }
    if (is_rpc) {
        const void *res[TRE_PROTO_MAX_BUFS + 1];
        uint32_t len[TRE_PROTO_MAX_BUFS + 1];
        static const uint8_t junk[64] = { 'X', 'X', 'X', 'X', 'X', 'X', 'X', 'X', 'X' };
        for (int k = 0; k <= TRE_PROTO_MAX_BUFS; k++) {
            res[k] = junk;
            len[k] = 1;
        }
        switch (act) {
        case ACT_MORE_RESULTS:
            n = proto_rpc_reply_encode(out, cap, h->id, 0, q.nresults + 1u, res, len);
            break;
        case ACT_FEWER_RESULTS:
            n = proto_rpc_reply_encode(out, cap, h->id, 0, q.nresults - 1u, res, len);
            break;
        case ACT_LONG_RESULT:
            len[0] = q.result_cap[0] + 8;
            n = proto_rpc_reply_encode(out, cap, h->id, 0, q.nresults, res, len);
            break;
        case ACT_RESULTS_ON_ERROR:
            n = fake_rpc_good(out, cap, h->id, &q);
            memset(out + TRE_PROTO_HDR_SIZE, 0xff, 4);     /* status -1, results kept */
            break;
        case ACT_RPC_ENGINE_ERROR:
            n = proto_rpc_reply_encode(out, cap, h->id, -ETIMEDOUT, 0, NULL, NULL);
            break;
        case ACT_WRONG_OP:
            n = proto_close_reply_encode(out, cap, h->id, 0);
            break;
        }
    }
    if (n < 0) {
        free(out);
        return 0;
    }
    switch (act) {
    case ACT_WRONG_ID:
        out[8] ^= 1;
        break;
    case ACT_BAD_MAGIC:
        out[0] ^= 0x20;
        break;
    case ACT_BAD_VERSION:
        out[4] = 2;
        break;
    case ACT_TRUNCATED:         /* the header and payload agree, but a field is missing */
        n--;
        fake_set_len(out, (uint32_t)n - TRE_PROTO_HDR_SIZE);
        break;
    case ACT_TRAILING:          /* one byte more than the fields say */
        out[n++] = 0;
        fake_set_len(out, (uint32_t)n - TRE_PROTO_HDR_SIZE);
        break;
    case ACT_OVERSIZE:          /* a length no reply to this request could have */
        fake_set_len(out, TRE_PROTO_MAX_PAYLOAD);
        n = TRE_PROTO_HDR_SIZE;
        break;
    case ACT_CLOSE_MID:
        n = TRE_PROTO_HDR_SIZE + (n - TRE_PROTO_HDR_SIZE) / 2;
        keep = 0;
        break;
    case ACT_SLOW:
        usleep(300 * 1000);
        break;
    }
    if (act == ACT_TRICKLE) {
        for (long i = 0; i < n; i++) {
            fake_write(fd, out + i, 1);
            usleep(200);
        }
    } else if (keep || act == ACT_CLOSE_MID || act == ACT_ERROR_OTHER_ID) {
        fake_write(fd, out, (size_t)n);
    }
    free(out);
    return keep;
}

static void fake_serve(struct fake *f, int fd)
{
    for (;;) {
        uint8_t hb[TRE_PROTO_HDR_SIZE];
        struct proto_hdr h;
        if (fake_read(fd, hb, sizeof hb) || proto_hdr_decode(hb, &h))
            return;
        uint8_t *pl = malloc(h.len ? h.len : 1);
        if (!pl || fake_read(fd, pl, h.len)) {
            free(pl);
            return;
        }
        int i = atomic_fetch_add(&f->nreq, 1);
        int act = f->script[i < f->nscript ? i : f->nscript - 1];
        if (h.id <= f->last_id)
            atomic_store(&f->ids_bad, 1);
        f->last_id = h.id;
        int keep = fake_reply(fd, act, &h, pl);
        free(pl);
        if (!keep)
            return;
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = { .fd = f->lfd, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        atomic_fetch_add(&f->nconn, 1);
        if (f->script[0] == ACT_REFUSE_ON_ACCEPT) {
            uint8_t out[64];
            long n = proto_error_reply_encode(out, sizeof out, 0, -EMFILE, "too many");
            if (n > 0)
                fake_write(fd, out, (size_t)n);
        } else if (f->script[0] != ACT_CLOSE_ON_ACCEPT) {
            fake_serve(f, fd);
        }
        close(fd);
    }
    return NULL;
}

static int fake_start(struct fake *f, const int *script, int nscript)
{
    memset(f, 0, sizeof *f);
    f->script = script;
    f->nscript = nscript;
    snprintf(f->dir, sizeof f->dir, "/tmp/tre-unit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/sock", f->dir);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof a) || listen(f->lfd, 16))
        return -1;
    setenv("TREVISOR_SOCKET", f->path, 1);
    tre_disconnect();             /* the next call connects to this fake */
    return pthread_create(&f->th, NULL, fake_main, f) ? -1 : 0;
}

static void fake_stop(struct fake *f)
{
    tre_disconnect();             /* ends the fake's connection: its recv returns */
    atomic_store(&f->stop, 1);
    pthread_join(f->th, NULL);
    close(f->lfd);
    unlink(f->path);
    rmdir(f->dir);
}

static int guard_intact(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != GUARD)
            return 0;
    return 1;
}

/* ---- cases ---- */

static void test_strerror(void)
{
    static const struct {
        int err;
        const char *word;
    } t[] = {
        { ENOKEY, "vendor key" }, { EBADMSG, "signature" }, { ENOEXEC, "ELF" },
        { EFAULT, "faulted" }, { ETIMEDOUT, "budget" }, { ESRCH, "ended" },
        { EPROTO, "protocol" }, { EBADF, "descriptor" }, { E2BIG, "fit" },
        { ECONNREFUSED, "not running" }, { ENOENT, "not running" },
        { ECONNRESET, "lost" }, { EINVAL, "invalid" }, { ENOMEM, "memory" },
        { EMFILE, "instances" }, { ENODEV, "KVM" }, { EACCES, "permission" },
        { EOPNOTSUPP, "support" }, { EMSGSIZE, "large" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *s = tre_strerror(-t[i].err);
        CHECK(s && strstr(s, t[i].word));
        CHECK(s == tre_strerror(t[i].err));     /* the sign does not matter */
    }
    CHECK(strstr(tre_strerror(-EBADF), "another connection"));
    CHECK(!strcmp(tre_strerror(0), "success"));
    const char *other = tre_strerror(-EXDEV);
    CHECK(other && other[0]);
    CHECK(tre_strerror(-123456) && tre_strerror(-123456)[0]);
}

static void test_socket_parse(void)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
    const struct sockaddr_vm *vm = (const struct sockaddr_vm *)&ss;

    CHECK_EQ(tre_socket_parse("/run/trevisor/tre.sock", &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_UNIX);
    CHECK(!strcmp(un->sun_path, "/run/trevisor/tre.sock"));
    CHECK_EQ(sl, offsetof(struct sockaddr_un, sun_path) + strlen("/run/trevisor/tre.sock") + 1);
    CHECK_EQ(tre_socket_parse("unix:/tmp/x", &ss, &sl), 0);
    CHECK(!strcmp(un->sun_path, "/tmp/x"));
    CHECK_EQ(tre_socket_parse("rel.sock", &ss, &sl), 0);
    CHECK_EQ(tre_socket_parse("./a:b", &ss, &sl), 0);
    CHECK(!strcmp(un->sun_path, "./a:b"));

    CHECK_EQ(tre_socket_parse("vsock:2", &ss, &sl), 0);
    CHECK_EQ(ss.ss_family, AF_VSOCK);
    CHECK_EQ(vm->svm_cid, 2);
    CHECK_EQ(vm->svm_port, TRE_PROTO_VSOCK_PORT);
    CHECK_EQ(sl, sizeof(struct sockaddr_vm));
    CHECK_EQ(tre_socket_parse("vsock:3:7301", &ss, &sl), 0);
    CHECK_EQ(vm->svm_cid, 3);
    CHECK_EQ(vm->svm_port, 7301);
    CHECK_EQ(tre_socket_parse("vsock:4294967294:1", &ss, &sl), 0);

    static const char *bad[] = {
        "", "vsock:", "vsock:x", "vsock:1:", "vsock:1:2:3", "vsock:-1", "vsock: 1",
        "vsock:+1", "vsock:1x", "vsock:4294967296", "vsock:4294967295", "vsock:2:4294967295",
        "vsock:2:99999999999", "tcp:127.0.0.1:7300", "http://x", "unix:", "VSOCK2:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = tre_socket_parse(bad[i], &ss, &sl);
        if (r != -EINVAL)
            fprintf(stderr, "  '%s' -> %d\n", bad[i], r);
        CHECK_EQ(r, -EINVAL);
    }
    CHECK_EQ(tre_socket_parse(NULL, &ss, &sl), -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    CHECK_EQ(tre_socket_parse(longp, &ss, &sl), -ENAMETOOLONG);
}

static void test_arg_checks(void)
{
    /* any connection attempt would say -ENOENT: these must fail before that */
    setenv("TREVISOR_SOCKET", "/nonexistent/trevisor/tre.sock", 1);
    tre_disconnect();
    uint8_t b[8] = { 0 };
    struct iovec one = { b, 4 }, many[17], nullbuf = { NULL, 4 };
    for (int i = 0; i < 17; i++)
        many[i] = (struct iovec){ b, 1 };

    CHECK_EQ(vmmcall_tre_exec(NULL, 5, "s", 1), -EINVAL);
    CHECK(tre_last_error()[0]);
    CHECK_EQ(vmmcall_tre_exec(b, 1, NULL, 3), -EINVAL);
    CHECK_EQ(vmmcall_tre_exec(b, (size_t)TRE_PROTO_MAX_IMAGE + 1, "s", 1), -E2BIG);
    CHECK_EQ(vmmcall_tre_exec(b, 1, b, (size_t)TRE_PROTO_MAX_SIG + 1), -E2BIG);
    CHECK_EQ(vmmcall_tre_exec(b, SIZE_MAX, b, SIZE_MAX), -E2BIG);

    CHECK_EQ(vmmcall_tre_rpc(0, 0, &one, -1, NULL, 0), -EINVAL);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, &one, -1), -EINVAL);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, many, 17, NULL, 0), -E2BIG);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, many, 17), -E2BIG);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, many, 10, many, 7), -E2BIG);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 1, NULL, 0), -EINVAL);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, NULL, 1), -EINVAL);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, &nullbuf, 1, NULL, 0), -EINVAL);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, &nullbuf, 1), -EINVAL);
    struct iovec huge = { b, (size_t)TRE_PROTO_MAX_DATA + 1 };
    CHECK_EQ(vmmcall_tre_rpc(0, 0, &huge, 1, NULL, 0), -E2BIG);
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, &huge, 1), -E2BIG);
    struct iovec halves[3] = { { b, TRE_PROTO_MAX_DATA / 2 }, { b, TRE_PROTO_MAX_DATA / 2 },
                               { b, 1 } };
    CHECK_EQ(vmmcall_tre_rpc(0, 0, NULL, 0, halves, 3), -E2BIG);
    CHECK_EQ(vmmcall_tre_rpc(-1, 0, &one, 1, NULL, 0), -EBADF);
    CHECK_EQ(vmmcall_tre_close(-1), -EBADF);
    CHECK_EQ(one.iov_len, 4);
    struct tre_program_info info;
    CHECK_EQ(tre_last_exec_info(&info), -ENOENT);
    CHECK_EQ(tre_last_exec_info(NULL), -EINVAL);
}

static void test_no_server(void)
{
    setenv("TREVISOR_SOCKET", "/nonexistent/trevisor/tre.sock", 1);
    tre_disconnect();
    CHECK_EQ(vmmcall_tre_exec("img", 3, "sig", 3), -ENOENT);
    CHECK(strstr(tre_last_error(), "/nonexistent/trevisor/tre.sock"));
    CHECK_EQ(vmmcall_tre_rpc(3, 0, NULL, 0, NULL, 0), -ENOENT);
    CHECK_EQ(vmmcall_tre_close(3), -ENOENT);

    /* a socket file nobody listens on */
    char dir[] = "/tmp/tre-unit-XXXXXX", path[108];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/sock", dir);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a));
    setenv("TREVISOR_SOCKET", path, 1);
    CHECK_EQ(vmmcall_tre_exec("img", 3, "sig", 3), -ECONNREFUSED);
    close(fd);
    unlink(path);
    rmdir(dir);

    setenv("TREVISOR_SOCKET", "tcp:localhost:7300", 1);
    CHECK_EQ(vmmcall_tre_exec("img", 3, "sig", 3), -EINVAL);
    CHECK(strstr(tre_last_error(), "TREVISOR_SOCKET"));
}

static void test_fake_good(void)
{
    static const int script[] = { ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    int d = vmmcall_tre_exec("image", 5, "sig", 3);
    CHECK_EQ(d, FAKE_DESC);
    CHECK_EQ(tre_last_error()[0], 0);
    struct tre_program_info info;
    CHECK_EQ(tre_last_exec_info(&info), 0);
    CHECK_EQ(info.desc, FAKE_DESC);
    CHECK(!strcmp(info.name, "adder"));
    CHECK_EQ(info.version, 3);
    CHECK_EQ(info.svn, 2);
    CHECK(!strcmp(info.keyid, "0123456789ABCDEF"));
    CHECK(!strncmp(info.sha256_hex, "000102030405", 12));
    CHECK_EQ(strlen(info.sha256_hex), 64);
    CHECK_EQ(info.sha256[31], 31);

    /* results: cut to capacity, iov_len set, nothing past the buffers */
    uint8_t r0[4 + 8 + 4], r1[4 + 2 + 4];
    memset(r0, GUARD, sizeof r0);
    memset(r1, GUARD, sizeof r1);
    struct iovec args[2] = { { "abc", 3 }, { "wxyz", 4 } };
    struct iovec res[3] = { { r0 + 4, 8 }, { r1 + 4, 2 }, { NULL, 0 } };
    CHECK_EQ(vmmcall_tre_rpc(d, 42, args, 2, res, 3), 42);
    CHECK_EQ(res[0].iov_len, 3);
    CHECK(!memcmp(r0 + 4, "abc", 3));
    CHECK(guard_intact(r0 + 7, sizeof r0 - 7) && guard_intact(r0, 4));
    CHECK_EQ(res[1].iov_len, 2);
    CHECK(!memcmp(r1 + 4, "wx", 2));
    CHECK(guard_intact(r1 + 6, 4) && guard_intact(r1, 4));
    CHECK_EQ(res[2].iov_len, 0);
    /* no buffers at all, and a negative return from the program */
    CHECK_EQ(vmmcall_tre_rpc(d, -5, NULL, 0, NULL, 0), -5);
    /* another connection's descriptor */
    res[0].iov_len = 8;
    CHECK_EQ(vmmcall_tre_rpc(d + 1, 0, args, 1, res, 1), -EBADF);
    CHECK_EQ(res[0].iov_len, 8);
    CHECK_EQ(vmmcall_tre_close(d), 0);
    CHECK_EQ(vmmcall_tre_close(d + 1), -EBADF);
    CHECK_EQ(atomic_load(&f.nconn), 1);
    CHECK_EQ(atomic_load(&f.nreq), 6);
    CHECK_EQ(atomic_load(&f.ids_bad), 0);
    fake_stop(&f);
}

/* A big call (1 MiB each way: partial sends and reads, buffers not kept) */
static void test_fake_big(void)
{
    static const int script[] = { ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    size_t n = 1u << 20;
    uint8_t *a = malloc(n), *r = malloc(n + 64);
    CHECK(a && r);
    if (!a || !r)
        goto out;
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)(i * 7 + 1);
    memset(r, GUARD, n + 64);
    int d = vmmcall_tre_exec(a, n, "sig", 3);
    CHECK_EQ(d, FAKE_DESC);
    struct iovec arg = { a, n }, res = { r, n };
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(vmmcall_tre_rpc(d, 1, &arg, 1, &res, 1), 1);
        CHECK_EQ(res.iov_len, n);
        CHECK(!memcmp(a, r, n));
        CHECK(guard_intact(r + n, 64));
    }
out:
    free(a);
    free(r);
    fake_stop(&f);
}

/* One lying reply to an RPC: the expected error, the buffers untouched, the connection
 * dropped (-ECONNRESET without a new connection), then exec reconnects. */
static void lying_rpc(int act, int expect)
{
    const int script[] = { ACT_GOOD, act, ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 3)) {
        CHECK(0);
        return;
    }
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    uint8_t buf[4 + 8 + 4];
    memset(buf, GUARD, sizeof buf);
    struct iovec arg = { "abcdefghijkl", 12 }, res[2] = { { buf + 4, 8 }, { buf + 12, 0 } };
    int r = vmmcall_tre_rpc(FAKE_DESC, 1, &arg, 1, res, 2);
    if (r != expect)
        fprintf(stderr, "  act %d: %d (%s), expected %d\n", act, r, tre_last_error(), expect);
    CHECK_EQ(r, expect);
    CHECK(tre_last_error()[0]);
    CHECK(guard_intact(buf, sizeof buf));
    CHECK_EQ(res[0].iov_len, 8);
    CHECK_EQ(res[1].iov_len, 0);
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 1, &arg, 1, res, 1), -ECONNRESET);
    CHECK_EQ(vmmcall_tre_close(FAKE_DESC), -ECONNRESET);
    CHECK(guard_intact(buf, sizeof buf));
    CHECK_EQ(atomic_load(&f.nconn), 1);
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    CHECK_EQ(atomic_load(&f.nconn), 2);
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 1, &arg, 1, res, 1), 1);
    CHECK_EQ(res[0].iov_len, 8);
    CHECK(!memcmp(buf + 4, "abcdefgh", 8));
    CHECK(guard_intact(buf, 4) && guard_intact(buf + 12, 4));
    fake_stop(&f);
}

static void test_fake_lying_rpc(void)
{
    lying_rpc(ACT_WRONG_ID, -EPROTO);
    lying_rpc(ACT_WRONG_OP, -EPROTO);
    lying_rpc(ACT_MORE_RESULTS, -EPROTO);
    lying_rpc(ACT_FEWER_RESULTS, -EPROTO);
    lying_rpc(ACT_LONG_RESULT, -EPROTO);
    lying_rpc(ACT_TRUNCATED, -EPROTO);
    lying_rpc(ACT_TRAILING, -EPROTO);
    lying_rpc(ACT_OVERSIZE, -EPROTO);
    lying_rpc(ACT_BAD_MAGIC, -EPROTO);
    lying_rpc(ACT_BAD_VERSION, -EPROTO);
    lying_rpc(ACT_RESULTS_ON_ERROR, -EPROTO);
    lying_rpc(ACT_ERROR_WRONG_ID, -EPROTO);
    lying_rpc(ACT_ERROR_OTHER_ID, -EMFILE);     /* a refusal: trevisor closes the connection */
    lying_rpc(ACT_ERROR_POSITIVE, -EPROTO);
    lying_rpc(ACT_CLOSE_MID, -ECONNRESET);
    lying_rpc(ACT_CLOSE_NOW, -ECONNRESET);
}

/* Replies that are errors, not lies: the connection stays. */
static void test_fake_errors(void)
{
    static const int script[] = { ACT_GOOD, ACT_ERROR_REPLY, ACT_RPC_ENGINE_ERROR, ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 4))
        SKIP("cannot make a Unix socket under /tmp");
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    uint8_t buf[4 + 4 + 4];
    memset(buf, GUARD, sizeof buf);
    struct iovec arg = { "abcd", 4 }, res = { buf + 4, 4 };
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 0, &arg, 1, &res, 1), -EINVAL);
    /* trevisor's text, sanitised: no escape or control bytes reach the caller */
    CHECK(strstr(tre_last_error(), "bad ?[31mthing?"));
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 0, &arg, 1, &res, 1), -ETIMEDOUT);
    CHECK(guard_intact(buf, sizeof buf));
    CHECK_EQ(res.iov_len, 4);
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 9, &arg, 1, &res, 1), 9);
    CHECK(!memcmp(buf + 4, "abcd", 4));
    CHECK_EQ(tre_last_error()[0], 0);
    CHECK_EQ(atomic_load(&f.nconn), 1);
    fake_stop(&f);
}

static void lying_exec(int act, int expect)
{
    const int script[] = { act, ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 2)) {
        CHECK(0);
        return;
    }
    int r = vmmcall_tre_exec("image", 5, "sig", 3);
    if (r != expect)
        fprintf(stderr, "  act %d: %d (%s), expected %d\n", act, r, tre_last_error(), expect);
    CHECK_EQ(r, expect);
    struct tre_program_info info;
    CHECK_EQ(tre_last_exec_info(&info), -ENOENT);
    CHECK_EQ(vmmcall_tre_close(FAKE_DESC), -ECONNRESET);
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    CHECK_EQ(atomic_load(&f.nconn), 2);
    fake_stop(&f);
}

static void test_fake_exec_replies(void)
{
    lying_exec(ACT_EXEC_MSG_ON_SUCCESS, -EPROTO);
    lying_exec(ACT_EXEC_BAD_STATUS, -EPROTO);
    lying_exec(ACT_EXEC_NAME_NO_NUL, -EPROTO);
    lying_exec(ACT_WRONG_ID, -EPROTO);
    lying_exec(ACT_TRUNCATED, -EPROTO);
    lying_exec(ACT_OVERSIZE, -EPROTO);
    lying_exec(ACT_CLOSE_MID, -ECONNRESET);

    /* a refusal with trevisor's reason; the connection stays */
    static const int fail[] = { ACT_EXEC_FAIL, ACT_EXEC_CTRL_NAME, ACT_CLOSE_POSITIVE,
                                ACT_GOOD };
    struct fake f;
    if (fake_start(&f, fail, 4))
        SKIP("cannot make a Unix socket under /tmp");
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), -ENOKEY);
    CHECK(!strcmp(tre_last_error(), "key 1234 is not trusted"));
    struct tre_program_info info;
    CHECK_EQ(tre_last_exec_info(&info), -ENOENT);
    /* control bytes in the measured name are not passed on */
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    CHECK_EQ(tre_last_exec_info(&info), 0);
    CHECK(!strcmp(info.name, "ev?il?"));
    /* a close reply with a positive status is a lie */
    CHECK_EQ(vmmcall_tre_close(FAKE_DESC), -EPROTO);
    CHECK_EQ(atomic_load(&f.nconn), 1);
    fake_stop(&f);
}

/* Replies trickled a byte at a time, and one that is slow while signals interrupt the
 * caller's reads (a handler without SA_RESTART). */
static atomic_int sig_count, sig_run;
static void sig_handler(int s)
{
    (void)s;
    atomic_fetch_add(&sig_count, 1);
}

static void *sig_pester(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    while (atomic_load(&sig_run)) {
        pthread_kill(target, SIGUSR1);
        usleep(10 * 1000);
    }
    return NULL;
}

static void test_fake_partial_and_eintr(void)
{
    static const int script[] = { ACT_TRICKLE, ACT_TRICKLE, ACT_SLOW, ACT_SLOW };
    struct fake f;
    if (fake_start(&f, script, 4))
        SKIP("cannot make a Unix socket under /tmp");
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    uint8_t buf[32];
    struct iovec arg = { "0123456789abcdef", 16 }, res = { buf, sizeof buf };
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 3, &arg, 1, &res, 1), 3);
    CHECK_EQ(res.iov_len, 16);
    CHECK(!memcmp(buf, "0123456789abcdef", 16));

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sig_handler;         /* no SA_RESTART: recv fails with EINTR */
    sigaction(SIGUSR1, &sa, &old);
    pthread_t self = pthread_self(), th;
    atomic_store(&sig_count, 0);
    atomic_store(&sig_run, 1);
    pthread_create(&th, NULL, sig_pester, &self);
    res.iov_len = sizeof buf;
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 4, &arg, 1, &res, 1), 4);
    CHECK_EQ(res.iov_len, 16);
    CHECK_EQ(vmmcall_tre_close(FAKE_DESC), 0);
    atomic_store(&sig_run, 0);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    CHECK(atomic_load(&sig_count) > 0);
    CHECK_EQ(atomic_load(&f.nconn), 1);
    fake_stop(&f);
}

/* Several threads on the one connection: every reply reaches its own caller. */
struct worker {
    int id, bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 200; i++) {
        uint32_t v = (uint32_t)(w->id << 16 | i), out = 0;
        struct iovec a = { &v, 4 }, r = { &out, 4 };
        int ret = vmmcall_tre_rpc(FAKE_DESC, w->id, &a, 1, &r, 1);
        if (ret != w->id || r.iov_len != 4 || out != v)
            w->bad++;
    }
    return NULL;
}

static void test_fake_threads(void)
{
    static const int script[] = { ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ .id = i + 1 };
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].bad, 0);
    }
    CHECK_EQ(atomic_load(&f.nconn), 1);
    CHECK_EQ(atomic_load(&f.nreq), 1 + 4 * 200);
    CHECK_EQ(atomic_load(&f.ids_bad), 0);   /* request ids only increase */
    fake_stop(&f);
}

/* A forked child does not speak on its parent's connection. */
static void test_fake_fork(void)
{
    static const int script[] = { ACT_GOOD };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), FAKE_DESC);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int a = vmmcall_tre_rpc(FAKE_DESC, 1, NULL, 0, NULL, 0);
        int b = vmmcall_tre_close(FAKE_DESC);
        _exit(a == -ECONNRESET && b == -ECONNRESET ? 0 : 1);
    }
    int st = -1;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(vmmcall_tre_rpc(FAKE_DESC, 5, NULL, 0, NULL, 0), 5);
    CHECK_EQ(atomic_load(&f.nconn), 1);
    fake_stop(&f);
}

/* The server goes away while a large request is being sent: -ECONNRESET, no SIGPIPE
 * (the default action would kill this test). */
static void test_fake_no_sigpipe(void)
{
    static const int script[] = { ACT_CLOSE_ON_ACCEPT };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    size_t n = 8u << 20;
    uint8_t *img = calloc(1, n);
    CHECK(img != NULL);
    if (img)
        CHECK_EQ(vmmcall_tre_exec(img, n, "sig", 3), -ECONNRESET);
    free(img);
    signal(SIGPIPE, old);
    fake_stop(&f);
}

/* trevisor refuses the connection (too many): its reason arrives, whether the request
 * went out before it closed the connection or not. */
static void test_fake_refused(void)
{
    static const int script[] = { ACT_REFUSE_ON_ACCEPT };
    struct fake f;
    if (fake_start(&f, script, 1))
        SKIP("cannot make a Unix socket under /tmp");
    void (*old)(int) = signal(SIGPIPE, SIG_DFL);
    CHECK_EQ(vmmcall_tre_exec("image", 5, "sig", 3), -EMFILE);
    CHECK(strstr(tre_last_error(), "too many"));
    size_t n = 8u << 20;
    uint8_t *img = calloc(1, n);
    CHECK(img != NULL);
    if (img) {
        CHECK_EQ(vmmcall_tre_exec(img, n, "sig", 3), -EMFILE);
        CHECK(strstr(tre_last_error(), "too many"));
    }
    free(img);
    CHECK_EQ(vmmcall_tre_close(1), -ECONNRESET);
    signal(SIGPIPE, old);
    fake_stop(&f);
}

int main(void)
{
    TEST(test_strerror);
    TEST(test_socket_parse);
    TEST(test_arg_checks);
    TEST(test_no_server);
    TEST(test_fake_good);
    TEST(test_fake_big);
    TEST(test_fake_lying_rpc);
    TEST(test_fake_errors);
    TEST(test_fake_exec_replies);
    TEST(test_fake_partial_and_eintr);
    TEST(test_fake_threads);
    TEST(test_fake_fork);
    TEST(test_fake_no_sigpipe);
    TEST(test_fake_refused);
    TEST_EXIT();
}
