/* client/libtre.c — libtre (include/trevisor/client.h): the process's one connection to
 * trevisor, and exec, RPC and close as request/reply exchanges on it with the one codec
 * (src/door/proto.c). It must never write past a caller's buffer, believe a length from a
 * reply before the codec and its own checks have bounded it, allocate more than the
 * request in hand can need, or raise SIGPIPE. A reply that breaks the protocol ends the
 * connection. */
#include "trevisor/client.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "door/proto.h"
#include "trevisor/proto.h"

#define TRE_BUF_KEEP       (64u << 10)  /* buffers up to this size stay for the next call */
#define TRE_ERRNO_MAX      4095         /* a status below -this is not an errno */
#define TRE_EXEC_REPLY_MAX (4u + TRE_PROTO_EXEC_INFO_SIZE + 4u + TRE_PROTO_MAX_MSG)
#define TRE_ERROR_REPLY_MAX (4u + 4u + TRE_PROTO_MAX_MSG)
#define TRE_CLOSE_REPLY_MAX 4u

enum { TRE_CONN_NONE, TRE_CONN_OPEN, TRE_CONN_LOST };

struct tre_conn {
    int fd;
    int state;
    uint32_t next_id;
    uint8_t *tx, *rx;           /* request and reply bytes; wiped after every exchange */
    size_t txcap, rxcap;
};

static pthread_mutex_t tre_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t tre_once = PTHREAD_ONCE_INIT;
static struct tre_conn tre_conn = { .fd = -1, .state = TRE_CONN_NONE, .next_id = 1 };

static __thread char tre_errmsg[TRE_PROTO_MAX_MSG + 256];
static __thread char tre_errtext[128];
static __thread struct tre_program_info tre_info;
static __thread int tre_info_valid;

/* ---- errors ---- */

__attribute__((format(printf, 2, 3)))
static int tre_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tre_errmsg, sizeof tre_errmsg, fmt, ap);
    va_end(ap);
    return err;
}

/* Copies outside text as printable ASCII (anything else becomes '?'), NUL-terminated. */
static void tre_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (cap)
        dst[n] = 0;
}

static const char *tre_errno_text(int e)
{
    return strerror_r(e, tre_errtext, sizeof tre_errtext);
}

const char *tre_strerror(int err)
{
    int e = err < 0 ? -err : err;
    switch (e) {
    case 0:            return "success";
    case ENOKEY:       return "unknown vendor key (not in trevisor's trust store)";
    case EBADMSG:      return "bad signature, or the image was altered after signing";
    case ENOEXEC:      return "not a TRE program (bad ELF or manifest)";
    case EFAULT:       return "the program faulted (or passed a bad pointer); it has ended";
    case ETIMEDOUT:    return "the program's CPU budget ran out; it has ended";
    case ESRCH:        return "the program has ended";
    case EPROTO:       return "protocol error (a program broke the RPC protocol, or a reply "
                              "from trevisor was malformed)";
    case EBADF:        return "bad descriptor (it belongs to another connection or was closed)";
    case E2BIG:        return "buffers don't fit (too many, or too large for the protocol or "
                              "the program's window)";
    case EINVAL:       return "invalid argument";
    case ENOMEM:       return "out of memory";
    case EMFILE:       return "too many TRE instances";
    case ENODEV:       return "trevisor cannot run TRE instances here (no KVM)";
    case ECONNREFUSED: return "trevisor is not running (nothing listens at TREVISOR_SOCKET)";
    case ENOENT:       return "trevisor is not running (no socket at TREVISOR_SOCKET)";
    case EACCES:       return "permission denied on trevisor's socket";
    case ECONNRESET:   return "the connection to trevisor was lost; its descriptors are gone";
    case EOPNOTSUPP:   return "trevisor does not support this request";
    case EMSGSIZE:     return "message too large for the TRE protocol";
    case ENAMETOOLONG: return "TREVISOR_SOCKET path too long";
    case EAFNOSUPPORT: return "vsock is not available here";
    default:           return tre_errno_text(e);
    }
}

const char *tre_last_error(void)
{
    return tre_errmsg;
}

int tre_last_exec_info(struct tre_program_info *out)
{
    if (!out)
        return -EINVAL;
    if (!tre_info_valid)
        return -ENOENT;
    *out = tre_info;
    return 0;
}

/* ---- addresses ---- */

/* Decimal digits only (no sign, no space), at most UINT32_MAX. End of the number or NULL. */
static const char *tre_parse_u32(const char *p, uint32_t *out)
{
    uint64_t v = 0;
    const char *s = p;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return NULL;
        p++;
    }
    if (p == s)
        return NULL;
    *out = (uint32_t)v;
    return p;
}

/* "word:" at the start (a URL-like scheme other than ours) */
static int tre_has_scheme(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; *s; s++) {
        if (*s == ':')
            return 1;
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))
            return 0;
    }
    return 0;
}

int tre_socket_parse(const char *spec, struct sockaddr_storage *addr, socklen_t *addrlen)
{
    if (!spec || !*spec || !addr || !addrlen)
        return -EINVAL;
    memset(addr, 0, sizeof *addr);
    if (!strncmp(spec, "vsock:", 6)) {
        uint32_t cid, port = TRE_PROTO_VSOCK_PORT;
        const char *p = tre_parse_u32(spec + 6, &cid);
        if (!p)
            return -EINVAL;
        if (*p == ':' && !(p = tre_parse_u32(p + 1, &port)))
            return -EINVAL;
        if (*p || cid == VMADDR_CID_ANY || port == VMADDR_PORT_ANY)
            return -EINVAL;
        struct sockaddr_vm *vm = (struct sockaddr_vm *)addr;
        vm->svm_family = AF_VSOCK;
        vm->svm_cid = cid;
        vm->svm_port = port;
        *addrlen = sizeof *vm;
        return 0;
    }
    const char *path = spec;
    if (!strncmp(spec, "unix:", 5))
        path = spec + 5;
    else if (tre_has_scheme(spec))
        return -EINVAL;
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    size_t n = strlen(path);
    if (!n)
        return -EINVAL;
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* ---- the connection (every function below runs under tre_lock) ---- */

/* A forked child must not speak on its parent's connection (the replies would go to
 * either process). The handler may not trust anything another thread of the parent was
 * changing at fork time: it forgets the buffers (leaking them in the child) and the lock. */
static void tre_atfork_child(void)
{
    pthread_mutex_init(&tre_lock, NULL);
    if (tre_conn.fd >= 0)
        close(tre_conn.fd);
    if (tre_conn.fd >= 0 || tre_conn.state != TRE_CONN_NONE)
        tre_conn.state = TRE_CONN_LOST;
    tre_conn.fd = -1;
    tre_conn.tx = tre_conn.rx = NULL;
    tre_conn.txcap = tre_conn.rxcap = 0;
}

static void tre_init(void)
{
    pthread_atfork(NULL, NULL, tre_atfork_child);
}

static void tre_enter(int *cancel_state)
{
    /* a cancelled exchange would leave the lock held and the stream half-read */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, cancel_state);
    pthread_once(&tre_once, tre_init);
    pthread_mutex_lock(&tre_lock);
}

static void tre_leave(int cancel_state)
{
    pthread_mutex_unlock(&tre_lock);
    pthread_setcancelstate(cancel_state, NULL);
}

static void tre_conn_drop(struct tre_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = TRE_CONN_LOST;
}

/* After connect() was interrupted, the connection completes (or fails) on its own. */
static int tre_connect_wait(int fd)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int n = poll(&p, 1, -1);
        if (n > 0)
            break;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -errno;
    return -err;
}

static int tre_connect(struct tre_conn *c)
{
    const char *spec = getenv(TRE_CLIENT_SOCKET_ENV);
    if (!spec || !*spec)
        spec = TRE_PROTO_DEFAULT_SOCKET;
    char shown[160];
    tre_sanitize(shown, sizeof shown, spec, strlen(spec));
    struct sockaddr_storage ss;
    socklen_t sl;
    int r = tre_socket_parse(spec, &ss, &sl);
    if (r)
        return tre_fail(r, "TREVISOR_SOCKET '%s' is not a socket path, vsock:CID or "
                        "vsock:CID:PORT", shown);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = -errno;
        return tre_fail(r, "cannot make a socket for %s: %s", shown, tre_errno_text(-r));
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        r = -errno;
        if (r == -EINTR || r == -EINPROGRESS)
            r = tre_connect_wait(fd);
        if (r) {
            close(fd);
            tre_fail(r, "cannot connect to trevisor at %s: %s", shown, tre_errno_text(-r));
            /* vsock reports "nobody listens" as a reset; neither this nor a time-out
             * means what -ECONNRESET and -ETIMEDOUT mean for a call */
            return r == -ECONNRESET || r == -ETIMEDOUT ? -ECONNREFUSED : r;
        }
    }
    c->fd = fd;
    c->state = TRE_CONN_OPEN;
    return 0;
}

/* The connection for a request. After a lost connection only exec may start a new one:
 * a call or close on the new connection could only hit a descriptor that is gone. */
static int tre_conn_get(struct tre_conn *c, int may_reconnect)
{
    if (c->state == TRE_CONN_OPEN)
        return 0;
    if (c->state == TRE_CONN_LOST && !may_reconnect)
        return tre_fail(-ECONNRESET, "the connection to trevisor was lost and its "
                        "descriptors with it; the next exec connects again");
    return tre_connect(c);
}

static uint32_t tre_conn_id(struct tre_conn *c)
{
    uint32_t id = c->next_id++;
    if (!c->next_id)
        c->next_id = 1;
    return id;
}

static int tre_buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    free(*buf);             /* always wiped after use: nothing to clear here */
    *buf = malloc(need);
    *cap = *buf ? need : 0;
    return *buf ? 0 : -ENOMEM;
}

/* Wipes what an exchange left (arguments and results may be secrets), keeps small
 * buffers for the next call. */
static void tre_buf_release(uint8_t **buf, size_t *cap, size_t used)
{
    if (!*buf)
        return;
    explicit_bzero(*buf, used < *cap ? used : *cap);
    if (*cap > TRE_BUF_KEEP) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

static int tre_send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        if (w == 0)
            return -ECONNRESET;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* flags: 0, or MSG_DONTWAIT for bytes that must be queued already */
static int tre_recv_all(int fd, uint8_t *p, size_t n, int flags)
{
    while (n) {
        ssize_t r = recv(fd, p, n, flags);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ECONNRESET;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int tre_error_reply(struct tre_conn *c, const struct proto_hdr *h);

/* Sends the request in c->tx (req_len bytes, id) and reads its reply: on 0, *h is a
 * header whose id is id and whose op is req_op's reply or an ERROR, and the payload,
 * at most max_reply bytes (or an ERROR's limit), is in c->rx. Any failure drops the
 * connection; an ERROR with id 0 is one (its status comes back). */
static int tre_exchange(struct tre_conn *c, uint16_t req_op, uint32_t id, size_t req_len,
                        size_t max_reply, struct proto_hdr *h, size_t *rx_used)
{
    uint8_t hb[TRE_PROTO_HDR_SIZE];
    int r = tre_send_all(c->fd, c->tx, req_len);
    if (r) {
        tre_fail(r, "lost the connection to trevisor while sending: %s", tre_errno_text(-r));
        /* trevisor may have refused the connection (an ERROR with id 0) and closed it
         * before taking the request: its reason is still queued */
        if (!tre_recv_all(c->fd, hb, sizeof hb, MSG_DONTWAIT) && !proto_hdr_decode(hb, h) &&
            h->op == TRE_OP_ERROR && h->id == 0 && h->len <= TRE_ERROR_REPLY_MAX &&
            !tre_buf_reserve(&c->rx, &c->rxcap, h->len ? h->len : 1)) {
            *rx_used = h->len;
            if (!tre_recv_all(c->fd, c->rx, h->len, MSG_DONTWAIT))
                r = tre_error_reply(c, h);
        }
        goto drop;
    }
    r = tre_recv_all(c->fd, hb, sizeof hb, 0);
    if (r) {
        tre_fail(r, "lost the connection to trevisor while waiting for its reply: %s",
                 r == -ECONNRESET ? "closed by trevisor" : tre_errno_text(-r));
        goto drop;
    }
    r = -EPROTO;
    if (proto_hdr_decode(hb, h)) {
        tre_fail(r, "protocol error: malformed reply header from trevisor");
        goto drop;
    }
    /* an ERROR with id 0 answers no request: trevisor could not frame one, or refuses
     * the connection (-EMFILE), and closes it */
    int refused = h->op == TRE_OP_ERROR && h->id == 0;
    if (h->id != id && !refused) {
        tre_fail(r, "protocol error: reply to request %u, expected %u", h->id, id);
        goto drop;
    }
    if (h->op != (uint16_t)(req_op | TRE_OP_REPLY) && h->op != TRE_OP_ERROR) {
        tre_fail(r, "protocol error: reply op 0x%x to request op %u", h->op, req_op);
        goto drop;
    }
    size_t max = h->op == TRE_OP_ERROR ? TRE_ERROR_REPLY_MAX : max_reply;
    if (h->len > max) {
        tre_fail(r, "protocol error: a reply of %u bytes, more than this request's %zu",
                 h->len, max);
        goto drop;
    }
    r = tre_buf_reserve(&c->rx, &c->rxcap, h->len ? h->len : 1);
    if (r) {
        tre_fail(r, "no memory for a reply of %u bytes", h->len);
        goto drop;
    }
    *rx_used = h->len;
    r = tre_recv_all(c->fd, c->rx, h->len, 0);
    if (r) {
        tre_fail(r, "lost the connection to trevisor in the middle of its reply: %s",
                 r == -ECONNRESET ? "closed by trevisor" : tre_errno_text(-r));
        goto drop;
    }
    if (refused) {
        r = tre_error_reply(c, h);
        goto drop;
    }
    return 0;
drop:
    tre_conn_drop(c);
    return r;
}

/* A status that must be >= 0 or a -errno (exec, close, ERROR). */
static int tre_status_ok(int32_t status)
{
    return status >= -TRE_ERRNO_MAX;
}

static int tre_protocol_error(struct tre_conn *c, const char *what)
{
    tre_conn_drop(c);
    return tre_fail(-EPROTO, "protocol error: %s", what);
}

/* An ERROR reply: trevisor could not decode the request. Its status comes back. */
static int tre_error_reply(struct tre_conn *c, const struct proto_hdr *h)
{
    struct proto_error_reply e;
    if (proto_error_reply_decode(c->rx, h->len, &e) || e.status >= 0 ||
        !tre_status_ok(e.status))
        return tre_protocol_error(c, "malformed ERROR reply from trevisor");
    char msg[TRE_PROTO_MAX_MSG + 1];
    tre_sanitize(msg, sizeof msg, e.msg, e.msg_len);
    return tre_fail(e.status, "trevisor refused the %s: %s",
                    h->id ? "request" : "connection", msg[0] ? msg : tre_strerror(e.status));
}

/* ---- the calls ---- */

static void tre_info_set(int desc, const struct tre_proto_exec_info *w)
{
    static const char hex[] = "0123456789abcdef";
    struct tre_program_info *i = &tre_info;
    memset(i, 0, sizeof *i);
    i->desc = desc;
    tre_sanitize(i->name, sizeof i->name, w->name, strnlen(w->name, sizeof w->name));
    tre_sanitize(i->keyid, sizeof i->keyid, w->keyid, strnlen(w->keyid, sizeof w->keyid));
    i->version = w->version;
    i->svn = w->svn;
    memcpy(i->sha256, w->sha256, sizeof i->sha256);
    for (int k = 0; k < 32; k++) {
        i->sha256_hex[2 * k] = hex[w->sha256[k] >> 4];
        i->sha256_hex[2 * k + 1] = hex[w->sha256[k] & 15];
    }
    tre_info_valid = 1;
}

int vmmcall_tre_exec(const void *binary, size_t binary_size, const void *sign,
                     size_t sign_size)
{
    static const uint8_t none[1];
    tre_errmsg[0] = 0;
    tre_info_valid = 0;
    if ((!binary && binary_size) || (!sign && sign_size))
        return tre_fail(-EINVAL, "exec: a NULL buffer with a nonzero size");
    if (binary_size > TRE_PROTO_MAX_IMAGE)
        return tre_fail(-E2BIG, "exec: an image of %zu bytes (the protocol takes %u)",
                        binary_size, TRE_PROTO_MAX_IMAGE);
    if (sign_size > TRE_PROTO_MAX_SIG)
        return tre_fail(-E2BIG, "exec: a signature of %zu bytes (the protocol takes %u)",
                        sign_size, TRE_PROTO_MAX_SIG);
    if (!binary)
        binary = none;
    if (!sign)
        sign = none;
    size_t need = proto_exec_req_size((uint32_t)binary_size, (uint32_t)sign_size);
    if (need == SIZE_MAX)
        return tre_fail(-E2BIG, "exec: the request is too large for the protocol");

    struct tre_conn *c = &tre_conn;
    size_t tx_used = 0, rx_used = 0;
    int cs, r;
    tre_enter(&cs);
    r = tre_conn_get(c, 1);
    if (r)
        goto out;
    r = tre_buf_reserve(&c->tx, &c->txcap, need);
    if (r) {
        tre_fail(r, "exec: no memory for a request of %zu bytes", need);
        goto out;
    }
    uint32_t id = tre_conn_id(c);
    long n = proto_exec_req_encode(c->tx, need, id, binary, (uint32_t)binary_size, sign,
                                   (uint32_t)sign_size);
    if (n < 0) {
        r = tre_fail(-E2BIG, "exec: the request does not fit the protocol");
        goto out;
    }
    tx_used = (size_t)n;
    struct proto_hdr h;
    r = tre_exchange(c, TRE_OP_EXEC, id, tx_used, TRE_EXEC_REPLY_MAX, &h, &rx_used);
    if (r)
        goto out;
    if (h.op == TRE_OP_ERROR) {
        r = tre_error_reply(c, &h);
        goto out;
    }
    struct proto_exec_reply rep;
    if (proto_exec_reply_decode(c->rx, h.len, &rep) || !tre_status_ok(rep.status)) {
        r = tre_protocol_error(c, "malformed exec reply from trevisor");
        goto out;
    }
    r = rep.status;
    if (r >= 0) {
        tre_info_set(r, &rep.info);
    } else {
        char msg[TRE_PROTO_MAX_MSG + 1];
        tre_sanitize(msg, sizeof msg, rep.msg, rep.msg_len);
        tre_fail(r, "%s", msg);
    }
out:
    /* the image and signature are no secret of this process's: not wiped */
    tre_buf_release(&c->tx, &c->txcap, 0);
    tre_buf_release(&c->rx, &c->rxcap, rx_used);
    tre_leave(cs);
    return r;
}

/* Checks a caller's iovec array: counts were checked, lens fit u32, total bounded. */
static int tre_check_bufs(const struct iovec *v, int n, const char *what, uint32_t *lens,
                          uint64_t *total)
{
    *total = 0;
    for (int i = 0; i < n; i++) {
        if (!v[i].iov_base && v[i].iov_len)
            return tre_fail(-EINVAL, "rpc: %s %d is NULL with a nonzero size", what, i);
        if (v[i].iov_len > TRE_PROTO_MAX_DATA)
            return tre_fail(-E2BIG, "rpc: %s %d has %zu bytes (at most %u)", what, i,
                            v[i].iov_len, TRE_PROTO_MAX_DATA);
        lens[i] = (uint32_t)v[i].iov_len;
        *total += lens[i];
    }
    if (*total > TRE_PROTO_MAX_DATA)
        return tre_fail(-E2BIG, "rpc: %llu bytes of %ss in all (at most %u)",
                        (unsigned long long)*total, what, TRE_PROTO_MAX_DATA);
    return 0;
}

int vmmcall_tre_rpc(int desc, int proc_number, struct iovec *args, int arg_count,
                    struct iovec *results, int result_count)
{
    static const uint8_t none[1];
    tre_errmsg[0] = 0;
    if (arg_count < 0 || result_count < 0)
        return tre_fail(-EINVAL, "rpc: a negative buffer count");
    if (arg_count > TRE_CLIENT_MAX_BUFS || result_count > TRE_CLIENT_MAX_BUFS ||
        arg_count + result_count > TRE_CLIENT_MAX_BUFS)
        return tre_fail(-E2BIG, "rpc: %d arguments and %d results (at most %d in all)",
                        arg_count, result_count, TRE_CLIENT_MAX_BUFS);
    if ((arg_count && !args) || (result_count && !results))
        return tre_fail(-EINVAL, "rpc: a NULL buffer array with a nonzero count");
    uint32_t arg_len[TRE_CLIENT_MAX_BUFS], cap[TRE_CLIENT_MAX_BUFS];
    const void *arg[TRE_CLIENT_MAX_BUFS];
    uint64_t arg_total, cap_total;
    int r = tre_check_bufs(args, arg_count, "argument", arg_len, &arg_total);
    if (r)
        return r;
    r = tre_check_bufs(results, result_count, "result", cap, &cap_total);
    if (r)
        return r;
    if (desc < 0)
        return tre_fail(-EBADF, "rpc: descriptor %d (exec returns descriptors >= 0)", desc);
    for (int i = 0; i < arg_count; i++)
        arg[i] = args[i].iov_base ? args[i].iov_base : none;
    size_t need = proto_rpc_req_size((unsigned)arg_count, arg_len, (unsigned)result_count);
    if (need == SIZE_MAX)
        return tre_fail(-E2BIG, "rpc: the request is too large for the protocol");
    /* the most a truthful reply can hold: status, counts, lengths, every result full */
    size_t max_reply = 8 + 4 * (size_t)result_count + (size_t)cap_total;

    struct tre_conn *c = &tre_conn;
    size_t tx_used = 0, rx_used = 0;
    int cs;
    tre_enter(&cs);
    r = tre_conn_get(c, 0);
    if (r)
        goto out;
    r = tre_buf_reserve(&c->tx, &c->txcap, need);
    if (r) {
        tre_fail(r, "rpc: no memory for a request of %zu bytes", need);
        goto out;
    }
    uint32_t id = tre_conn_id(c);
    long n = proto_rpc_req_encode(c->tx, need, id, desc, proc_number, (unsigned)arg_count,
                                  arg, arg_len, (unsigned)result_count, cap);
    if (n < 0) {
        r = tre_fail(-E2BIG, "rpc: the request does not fit the protocol");
        goto out;
    }
    tx_used = (size_t)n;
    struct proto_hdr h;
    r = tre_exchange(c, TRE_OP_RPC, id, tx_used, max_reply, &h, &rx_used);
    if (r)
        goto out;
    if (h.op == TRE_OP_ERROR) {
        r = tre_error_reply(c, &h);
        goto out;
    }
    struct proto_rpc_reply rep;
    if (proto_rpc_reply_decode(c->rx, h.len, (unsigned)result_count, cap, &rep)) {
        r = tre_protocol_error(c, "malformed RPC reply from trevisor");
        goto out;
    }
    /* the codec checked these (results come with a status >= 0 only, as many as asked,
     * each within its capacity); libtre does not write on its word alone */
    if (rep.nresults != (rep.status < 0 ? 0u : (unsigned)result_count)) {
        r = tre_protocol_error(c, "RPC reply with the wrong number of results");
        goto out;
    }
    for (unsigned i = 0; i < rep.nresults; i++)
        if (rep.result_len[i] > cap[i]) {
            r = tre_protocol_error(c, "RPC reply with a result larger than its buffer");
            goto out;
        }
    r = rep.status;
    if (r >= 0)
        for (unsigned i = 0; i < rep.nresults; i++) {
            if (rep.result_len[i])
                memcpy(results[i].iov_base, rep.result[i], rep.result_len[i]);
            results[i].iov_len = rep.result_len[i];
        }
out:
    tre_buf_release(&c->tx, &c->txcap, tx_used);
    tre_buf_release(&c->rx, &c->rxcap, rx_used);
    tre_leave(cs);
    return r;
}

int vmmcall_tre_close(int desc)
{
    tre_errmsg[0] = 0;
    if (desc < 0)
        return tre_fail(-EBADF, "close: descriptor %d (exec returns descriptors >= 0)", desc);
    struct tre_conn *c = &tre_conn;
    size_t tx_used = 0, rx_used = 0;
    int cs, r;
    size_t need = TRE_PROTO_HDR_SIZE + 4;
    tre_enter(&cs);
    r = tre_conn_get(c, 0);
    if (r)
        goto out;
    r = tre_buf_reserve(&c->tx, &c->txcap, need);
    if (r)
        goto out;
    uint32_t id = tre_conn_id(c);
    long n = proto_close_req_encode(c->tx, need, id, desc);
    if (n < 0) {
        r = tre_fail(-E2BIG, "close: the request does not fit the protocol");
        goto out;
    }
    tx_used = (size_t)n;
    struct proto_hdr h;
    r = tre_exchange(c, TRE_OP_CLOSE, id, tx_used, TRE_CLOSE_REPLY_MAX, &h, &rx_used);
    if (r)
        goto out;
    if (h.op == TRE_OP_ERROR) {
        r = tre_error_reply(c, &h);
        goto out;
    }
    int32_t status;
    if (proto_close_reply_decode(c->rx, h.len, &status) || status > 0 ||
        !tre_status_ok(status)) {
        r = tre_protocol_error(c, "malformed close reply from trevisor");
        goto out;
    }
    r = status;
out:
    tre_buf_release(&c->tx, &c->txcap, tx_used);
    tre_buf_release(&c->rx, &c->rxcap, rx_used);
    tre_leave(cs);
    return r;
}

int tre_attest(const void *nonce, size_t nonce_len, const void *report, size_t report_len,
               void **bundle, size_t *bundle_len)
{
    tre_errmsg[0] = 0;
    if (!bundle || !bundle_len || !nonce || nonce_len == 0 || nonce_len > TRE_PROTO_MAX_NONCE ||
        report_len > TRE_PROTO_MAX_REPORT || (report_len && !report))
        return tre_fail(-EINVAL, "attest: the nonce must be 1..%d bytes and the report "
                        "data at most %d", TRE_PROTO_MAX_NONCE, TRE_PROTO_MAX_REPORT);
    *bundle = NULL;
    *bundle_len = 0;
    struct tre_conn *c = &tre_conn;
    size_t tx_used = 0, rx_used = 0;
    int cs, r;
    size_t need = TRE_PROTO_HDR_SIZE + 8 + nonce_len + report_len;
    tre_enter(&cs);
    r = tre_conn_get(c, 1);
    if (r)
        goto out;
    r = tre_buf_reserve(&c->tx, &c->txcap, need);
    if (r)
        goto out;
    uint32_t id = tre_conn_id(c);
    long n = proto_attest_req_encode(c->tx, need, id, nonce, (uint32_t)nonce_len, report,
                                     (uint32_t)report_len);
    if (n < 0) {
        r = tre_fail(-E2BIG, "attest: the request does not fit the protocol");
        goto out;
    }
    tx_used = (size_t)n;
    struct proto_hdr h;
    r = tre_exchange(c, TRE_OP_ATTEST, id, tx_used, 12u + TRE_PROTO_MAX_BUNDLE +
                     TRE_PROTO_MAX_MSG, &h, &rx_used);
    if (r)
        goto out;
    if (h.op == TRE_OP_ERROR) {
        r = tre_error_reply(c, &h);
        goto out;
    }
    struct proto_attest_reply a;
    if (proto_attest_reply_decode(c->rx, h.len, &a) || !tre_status_ok(a.status)) {
        r = tre_protocol_error(c, "malformed attest reply from trevisor");
        goto out;
    }
    if (a.status) {
        char msg[TRE_PROTO_MAX_MSG + 1];
        tre_sanitize(msg, sizeof msg, a.msg, a.msg_len);
        r = tre_fail(a.status, "%s", msg[0] ? msg : tre_strerror(a.status));
        goto out;
    }
    *bundle = malloc(a.bundle_len ? a.bundle_len : 1);
    if (!*bundle) {
        r = tre_fail(-ENOMEM, "attest: no memory for the quote");
        goto out;
    }
    memcpy(*bundle, a.bundle, a.bundle_len);
    *bundle_len = a.bundle_len;
    r = 0;
out:
    tre_buf_release(&c->tx, &c->txcap, tx_used);
    tre_buf_release(&c->rx, &c->rxcap, rx_used);
    tre_leave(cs);
    return r;
}

void tre_disconnect(void)
{
    struct tre_conn *c = &tre_conn;
    int cs;
    tre_enter(&cs);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = TRE_CONN_NONE;
    free(c->tx);
    free(c->rx);
    c->tx = c->rx = NULL;
    c->txcap = c->rxcap = 0;
    tre_leave(cs);
}
