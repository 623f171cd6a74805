/* door/unix_door.c — the Unix-socket front door: listen, accept, and per connection a
 * thread that serves the byte stream through door/stream.c (framing, session) with this
 * socket's read and write. A bad frame gets an ERROR reply and the connection is closed;
 * nothing a client sends can crash or stall trevisor or other clients. */
#include "door/unix_door.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "door/session.h"
#include "door/stream.h"
#include "util/log.h"

struct door_conn {
    struct unix_door *door;
    int fd;
    pthread_t thread;
    int done;                 /* the thread has finished; guarded by door->lock */
    struct door_conn *next;
};

struct unix_door {
    struct unix_door_config cfg;
    struct tre_engine *engine;
    int lfd;
    char path[108];
    pthread_mutex_t lock;
    struct door_conn *conns;
    unsigned nconns;
    unsigned long serial;
};

/* Reads exactly n bytes before deadline_ms (0: no deadline). */
static int unix_read_full(void *ctx, uint8_t *buf, size_t n, uint64_t deadline_ms)
{
    int fd = *(int *)ctx;
    size_t got = 0;
    while (got < n) {
        int wait = -1;
        if (deadline_ms) {
            uint64_t now = door_now_ms();
            if (now >= deadline_ms)
                return -ETIMEDOUT;
            wait = (int)(deadline_ms - now);
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ETIMEDOUT;
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -ECONNRESET;
        got += (size_t)k;
    }
    return 0;
}

/* Writes all of buf; SO_SNDTIMEO bounds how long a client may leave it unread. */
static int unix_write_full(void *ctx, const uint8_t *buf, size_t n)
{
    int fd = *(int *)ctx;
    while (n) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

static void unix_send_error(int fd, int32_t status, const char *msg)
{
    uint8_t *reply;
    size_t len;
    if (session_error_reply(0, status, msg, &reply, &len) == 0) {
        unix_write_full(&fd, reply, len);
        free(reply);
    }
}

static void *door_conn_main(void *arg)
{
    struct door_conn *c = arg;
    struct unix_door *d = c->door;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    char peer[96];
    pthread_mutex_lock(&d->lock);
    unsigned long n = ++d->serial;
    pthread_mutex_unlock(&d->lock);
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
        snprintf(peer, sizeof peer, "conn %lu (pid %d uid %u gid %u)", n, (int)cred.pid,
                 (unsigned)cred.uid, (unsigned)cred.gid);
    else
        snprintf(peer, sizeof peer, "conn %lu (unknown peer)", n);
    tlog("serve", "%s: connected", peer);
    struct timeval tv = { .tv_sec = d->cfg.send_timeout_ms / 1000,
                          .tv_usec = (d->cfg.send_timeout_ms % 1000) * 1000 };
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    struct door_session s;
    session_init(&s, d->engine, peer);
    struct door_stream st = { unix_read_full, unix_write_full, &c->fd };
    while (door_serve_one(&st, &s, d->cfg.frame_timeout_ms) == 0)
        ;
    session_end(&s);
    tlog("serve", "%s: disconnected", peer);
    pthread_mutex_lock(&d->lock);
    c->done = 1;
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Joins finished connection threads. Caller holds d->lock. */
static void door_reap(struct unix_door *d)
{
    struct door_conn **pp = &d->conns;
    while (*pp) {
        struct door_conn *c = *pp;
        if (c->done) {
            pthread_join(c->thread, NULL);
            close(c->fd);
            *pp = c->next;
            d->nconns--;
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

int unix_door_open(const struct unix_door_config *cfg, struct tre_engine *e,
                   struct unix_door **out, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!cfg->path || strlen(cfg->path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "serve: socket path missing or too long");
        return -ENAMETOOLONG;
    }
    struct unix_door *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    if (!d->cfg.max_conns)
        d->cfg.max_conns = 64;
    if (!d->cfg.frame_timeout_ms)
        d->cfg.frame_timeout_ms = 30000;
    if (!d->cfg.send_timeout_ms)
        d->cfg.send_timeout_ms = 10000;
    d->engine = e;
    pthread_mutex_init(&d->lock, NULL);
    snprintf(d->path, sizeof d->path, "%s", cfg->path);
    strcpy(sa.sun_path, cfg->path);
    int r;
    d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->lfd < 0) {
        r = -errno;
        goto fail;
    }
    /* replace a stale socket, never another kind of file */
    struct stat st;
    if (lstat(cfg->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "serve: %s exists and is not a socket", cfg->path);
            r = -EEXIST;
            goto fail_quiet;
        }
        unlink(cfg->path);
    }
    mode_t old = umask(0177);
    r = bind(d->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
    umask(old);
    if (r)
        goto fail;
    if (cfg->group != (gid_t)-1 &&
        (chown(cfg->path, (uid_t)-1, cfg->group) < 0 || chmod(cfg->path, 0660) < 0)) {
        r = -errno;
        unlink(cfg->path);
        goto fail;
    }
    if (listen(d->lfd, 64) < 0) {
        r = -errno;
        unlink(cfg->path);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    snprintf(err, errlen, "serve: %s: %s", cfg->path, strerror(-r));
fail_quiet:
    if (d->lfd >= 0)
        close(d->lfd);
    pthread_mutex_destroy(&d->lock);
    free(d);
    return r;
}

int unix_door_run(struct unix_door *d, int stop_fd)
{
    tlog("serve", "listening on %s (mode %s)", d->path,
         d->cfg.group == (gid_t)-1 ? "0600" : "0660");
    for (;;) {
        struct pollfd p[2] = { { .fd = d->lfd, .events = POLLIN },
                               { .fd = stop_fd, .events = POLLIN } };
        int r = poll(p, stop_fd >= 0 ? 2 : 1, 1000);
        pthread_mutex_lock(&d->lock);
        door_reap(d);
        pthread_mutex_unlock(&d->lock);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (stop_fd >= 0 && (p[1].revents & POLLIN))
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&d->lock);
        if (d->nconns >= d->cfg.max_conns) {
            pthread_mutex_unlock(&d->lock);
            tlog("serve", "refusing a connection: %u already open", d->cfg.max_conns);
            unix_send_error(fd, -EMFILE, "too many connections");
            close(fd);
            continue;
        }
        struct door_conn *c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&d->lock);
            close(fd);
            continue;
        }
        c->door = d;
        c->fd = fd;
        if (pthread_create(&c->thread, NULL, door_conn_main, c) != 0) {
            pthread_mutex_unlock(&d->lock);
            close(fd);
            free(c);
            continue;
        }
        c->next = d->conns;
        d->conns = c;
        d->nconns++;
        pthread_mutex_unlock(&d->lock);
    }
    /* shutting down: wake every connection, wait for it to end its session */
    tlog("serve", "shutting down");
    close(d->lfd);
    d->lfd = -1;
    unlink(d->path);
    pthread_mutex_lock(&d->lock);
    for (struct door_conn *c = d->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&d->lock);
    for (;;) {
        pthread_mutex_lock(&d->lock);
        door_reap(d);
        unsigned left = d->nconns;
        pthread_mutex_unlock(&d->lock);
        if (!left)
            break;
        usleep(10000);
    }
    return 0;
}

void unix_door_free(struct unix_door *d)
{
    if (!d)
        return;
    if (d->lfd >= 0)
        close(d->lfd);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
