/* vsock/vsock_door.c — listens for the vhost-user front end and runs the loop: poll the
 * front end's socket, the three queues' kick eventfds and the device's output eventfd, and
 * dispatch. A front end that breaks the protocol or goes away ends the loop; the device is
 * reset, so every guest connection and every TRE instance it opened is closed. */
#include "vsock/vsock_door.h"

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

#include "vsock/vhost_user.h"
#include "vsock/vsock_dev.h"
#include "util/log.h"

struct vsock_door {
    struct vsock_door_config cfg;
    int lfd;
    char path[108];
    struct vsock_dev *dev;
    struct vhost_user vu;
    pthread_mutex_t memlock;     /* the memory table: held while a message may change it */
    int vu_live;
};

int vsock_door_open(const struct vsock_door_config *cfg, struct vsock_door **out,
                    char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!cfg->path || strlen(cfg->path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "vsock: socket path missing or too long");
        return -ENAMETOOLONG;
    }
    struct vsock_door *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    if (!d->cfg.guest_cid)
        d->cfg.guest_cid = 3;
    snprintf(d->path, sizeof d->path, "%s", cfg->path);
    strcpy(sa.sun_path, cfg->path);
    pthread_mutex_init(&d->memlock, NULL);
    struct vsock_dev_config dc = { .guest_cid = d->cfg.guest_cid, .engine = cfg->engine };
    int r = vsock_dev_new(&dc, &d->dev);
    if (r) {
        snprintf(err, errlen, "vsock: device: %s", strerror(-r));
        free(d);
        return r;
    }
    d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct stat st;
    if (lstat(cfg->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(cfg->path);
    mode_t old = umask(0177);
    r = d->lfd < 0 || bind(d->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(d->lfd, 1) < 0 ? -errno : 0;
    umask(old);
    if (r) {
        snprintf(err, errlen, "vsock: %s: %s", cfg->path, strerror(-r));
        if (d->lfd >= 0)
            close(d->lfd);
        vsock_dev_free(d->dev);
        free(d);
        return r;
    }
    *out = d;
    return 0;
}

int vsock_door_run(struct vsock_door *d, int stop_fd)
{
    struct pollfd lp[2] = { { .fd = d->lfd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
    for (;;) {
        int r = poll(lp, stop_fd >= 0 ? 2 : 1, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (stop_fd >= 0 && (lp[1].revents & POLLIN))
            return 1;
        if (lp[0].revents & POLLIN)
            break;
    }
    int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    tlog("vsock", "front end connected on %s; guest CID %llu, TRE port %u", d->path,
         (unsigned long long)d->cfg.guest_cid, 7300u);
    struct vhost_user *vup = &d->vu;
    pthread_mutex_lock(&d->memlock);
    vhost_user_init(vup, fd, vsock_dev_ops(), d->dev);
    d->vu_live = 1;
    pthread_mutex_unlock(&d->memlock);
    vsock_dev_attach(d->dev, vup);
    int result = 0;
    for (;;) {
        struct pollfd p[3 + VHOST_USER_MAX_QUEUES];
        unsigned n = 0, qmap[VHOST_USER_MAX_QUEUES];
        p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        p[n++] = (struct pollfd){ .fd = vsock_dev_event_fd(d->dev), .events = POLLIN };
        p[n++] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
        unsigned first_q = n;
        for (unsigned q = 0; q < VHOST_USER_MAX_QUEUES; q++)
            if (vup->vq[q].kick_fd >= 0) {
                qmap[n - first_q] = q;
                p[n++] = (struct pollfd){ .fd = vup->vq[q].kick_fd, .events = POLLIN };
            }
        int r = poll(p, n, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (p[2].revents & POLLIN) {
            result = 1;
            break;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            vsock_dev_frontend_busy(d->dev, 1);
            pthread_mutex_lock(&d->memlock);
            r = vhost_user_handle_one(vup);
            pthread_mutex_unlock(&d->memlock);
            vsock_dev_frontend_busy(d->dev, 0);
            if (r) {
                if (r != -ECONNRESET)
                    tlog("vsock", "front end: %s; disconnecting", strerror(-r));
                else
                    tlog("vsock", "front end went away");
                break;
            }
        }
        for (unsigned i = first_q; i < n; i++)
            if (p[i].revents & POLLIN)
                vhost_user_kick(vup, qmap[i - first_q]);
        if (p[1].revents & POLLIN)
            vsock_dev_flush(d->dev);
    }
    vsock_dev_ops()->reset(d->dev);
    vsock_dev_attach(d->dev, NULL);
    pthread_mutex_lock(&d->memlock);
    vhost_user_cleanup(vup);
    d->vu_live = 0;
    pthread_mutex_unlock(&d->memlock);
    close(fd);
    return result;
}

long vsock_door_debug_scan(struct vsock_door *d, const void *needle, size_t len,
                           uint64_t *ram_bytes, void **first_host)
{
    long n = 0;
    uint64_t total = 0;
    pthread_mutex_lock(&d->memlock);
    if (d->vu_live)
        for (unsigned i = 0; i < d->vu.mem.nregions; i++) {
            const struct gmem_region *g = &d->vu.mem.regions[i];
            if (i == 0 && first_host)
                *first_host = g->host;
            total += g->size;
            const uint8_t *p = g->host, *end = g->host + g->size;
            while (len && (size_t)(end - p) >= len) {
                const uint8_t *hit = memmem(p, (size_t)(end - p), needle, len);
                if (!hit)
                    break;
                n++;
                p = hit + 1;
            }
        }
    pthread_mutex_unlock(&d->memlock);
    if (ram_bytes)
        *ram_bytes = total;
    return n;
}

void vsock_door_free(struct vsock_door *d)
{
    if (!d)
        return;
    if (d->lfd >= 0)
        close(d->lfd);
    unlink(d->path);
    vsock_dev_free(d->dev);
    pthread_mutex_destroy(&d->memlock);
    free(d);
}
