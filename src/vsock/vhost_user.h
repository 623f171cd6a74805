/* vsock/vhost_user.h — trevisor's end of the vhost-user protocol (the back end): one
 * front end (QEMU) on a Unix socket, feature negotiation, the memory table, vring set-up,
 * kick/call eventfds, reset; only what a virtio-vsock device needs, each message checked.
 * The device itself (vsock_dev.c) plugs in through struct vhost_user_device_ops. */
#ifndef TREVISOR_VSOCK_VHOST_USER_H
#define TREVISOR_VSOCK_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>
#include "vsock/gmem.h"
#include "vsock/virtq.h"

#define VHOST_USER_MAX_QUEUES 3

struct vhost_user;

struct vhost_user_device_ops {
    uint64_t features;                  /* device feature bits offered (VERSION_1 etc.) */
    /* config space bytes (for GET_CONFIG): copies up to len bytes at offset, returns count */
    size_t (*get_config)(void *dev, uint32_t offset, void *buf, size_t len);
    /* a queue was kicked (or became ready): process it */
    void (*kick)(void *dev, unsigned qidx);
    /* the front end reset the device or went away: drop all device state */
    void (*reset)(void *dev);
};

struct vhost_user {
    int fd;                             /* the connection to the front end */
    struct gmem mem;
    struct virtq vq[VHOST_USER_MAX_QUEUES];
    uint64_t acked_features, acked_protocol_features;
    int owner_set;
    const struct vhost_user_device_ops *ops;
    void *dev;
};

/* Handles one message from the front end (reads it from vu->fd with its fds). 0 to go on,
 * -ECONNRESET when the front end closed, other -errno on a message that cannot be
 * handled: the connection must then be dropped. Replies go back on vu->fd. */
int vhost_user_handle_one(struct vhost_user *vu);
void vhost_user_init(struct vhost_user *vu, int fd, const struct vhost_user_device_ops *ops,
                     void *dev);
/* A queue's kick eventfd is readable: drains it and calls ops->kick if the queue is set
 * up, enabled and not broken. */
void vhost_user_kick(struct vhost_user *vu, unsigned qidx);
/* Closes the eventfds, unmaps guest memory, resets the queues. */
void vhost_user_cleanup(struct vhost_user *vu);

/* Handles one whole message already read: msg is the 12-byte header and its payload (len
 * must be exactly 12 + the header's size), fds[0..nfds) the fds that came with it. It
 * always consumes the fds: each is kept (eventfds) or closed, also on error. Returns as
 * vhost_user_handle_one (which is a reader over this). */
int vhost_user_handle_msg(struct vhost_user *vu, const void *msg, size_t len, int *fds,
                          unsigned nfds);
/* The event loop saw vq[qidx].kick_fd readable: drains it and, if the queue is ready
 * (started, enabled, not broken), calls ops->kick. The fds in vq[] change while messages
 * are handled (SET_VRING_KICK, GET_VRING_BASE, resets): re-read them after each one. */
void vhost_user_kick(struct vhost_user *vu, unsigned qidx);
/* 1 if the device may use vq[qidx] now: started by its kick fd, enabled, not broken. */
int vhost_user_queue_ready(const struct vhost_user *vu, unsigned qidx);

#endif
