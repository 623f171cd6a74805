/* vsock/vsock_dev.h — trevisor's end of virtio-vsock: the host (CID 2) side of the guest's
 * stream sockets. It parses every packet the guest puts on the tx queue, keeps the
 * connection table with credit-based flow control, and serves two ports: the TRE protocol
 * (TRE_PROTO_VSOCK_PORT, through door/stream.c and a session per connection, one worker
 * thread each) and a plain echo (VSOCK_ECHO_PORT, the benchmarks' baseline). */
#ifndef TREVISOR_VSOCK_VSOCK_DEV_H
#define TREVISOR_VSOCK_VSOCK_DEV_H

#include <stdint.h>
#include "vsock/vhost_user.h"

#define VSOCK_HOST_CID     2
#define VSOCK_ECHO_PORT    7301
#define VSOCK_BUF_ALLOC    (256u << 10)   /* what we let the guest have in flight per conn */
#define VSOCK_MAX_PKT      (64u << 10)    /* payload per packet, as the spec bounds it */

struct tre_engine;
struct vsock_dev;

struct vsock_dev_config {
    uint64_t guest_cid;         /* 3 and up */
    struct tre_engine *engine;
    unsigned max_conns;         /* 0 = 64 */
    unsigned frame_timeout_ms;  /* 0 = 30000 */
    unsigned send_timeout_ms;   /* 0 = 10000: a guest that does not take a reply */
};

int vsock_dev_new(const struct vsock_dev_config *cfg, struct vsock_dev **out);
void vsock_dev_free(struct vsock_dev *d);
/* The device as vhost-user sees it (features, config space, kick, reset). */
const struct vhost_user_device_ops *vsock_dev_ops(void);
void vsock_dev_attach(struct vsock_dev *d, struct vhost_user *vu);
/* The loop brackets each vhost-user message with busy 1 / 0: meanwhile workers leave the
 * queues (and the guest memory a new table may unmap) to the loop thread. */
void vsock_dev_frontend_busy(struct vsock_dev *d, int busy);
/* Readable when workers have output for the guest; then call vsock_dev_flush. */
int vsock_dev_event_fd(const struct vsock_dev *d);
void vsock_dev_flush(struct vsock_dev *d);
/* Connections open now (for tests and logs). */
unsigned vsock_dev_conns(struct vsock_dev *d);

#endif
