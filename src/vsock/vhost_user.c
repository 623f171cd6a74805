/* vsock/vhost_user.c — trevisor's end (the back end) of the vhost-user protocol: reads one
 * message and its fds from the front end (QEMU), checks it against the request's exact
 * payload layout, and applies it: features, the memory table (through gmem), vring set-up
 * (through virtq), kick/call/err eventfds, enable, stop, reset. Replies go back on the same
 * socket. It must never allocate or copy by a size the front end sent (messages are read
 * into a fixed buffer), never keep or leak an fd it did not ask for, never act on a queue
 * index, ring size or region it has not bounded, and never block on the front end for more
 * than VU_IO_TIMEOUT_MS. What it supports and refuses: docs/vhost-user.md. */
#include "vsock/vhost_user.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

/* front-end requests (docs/interop/vhost-user.rst in QEMU: "Front-end message types") */
enum {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_SET_SLAVE_REQ_FD = 21,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
    VU_RESET_DEVICE = 34,
    VU_SET_STATUS = 39,
    VU_GET_STATUS = 40,
    VU_NREQ = 41
};

#define VU_VERSION          0x1u
#define VU_VERSION_MASK     0x3u
#define VU_FLAG_REPLY       0x4u
#define VU_FLAG_NEED_REPLY  0x8u
#define VU_HDR_SIZE         12u
#define VU_MAX_PAYLOAD      4096u       /* the largest legal payload is 268 bytes */
#define VU_MAX_FDS          GMEM_MAX_REGIONS
#define VU_IO_TIMEOUT_MS    2000

#define VU_F_PROTOCOL_FEATURES  (1ull << 30)
#define VU_F_VERSION_1          (1ull << 32)
/* virtio transport bits 24..41 (ring layouts, INDIRECT, EVENT_IDX, packed, IOMMU,
 * LOG_ALL...): only the ones this file adds are offered, whatever the device says */
#define VU_TRANSPORT_BITS       (((1ull << 42) - 1) & ~((1ull << 24) - 1))

#define VU_PROTO_F_REPLY_ACK    (1ull << 3)
#define VU_PROTO_F_CONFIG       (1ull << 9)
#define VU_PROTO_OFFERED        (VU_PROTO_F_REPLY_ACK | VU_PROTO_F_CONFIG)

#define VU_VRING_IDX_MASK       0xffull
#define VU_VRING_NOFD           0x100ull
#define VU_STATE_SIZE           8u      /* index u32, num u32 */
#define VU_ADDR_SIZE            40u     /* index, flags u32; desc, used, avail, log u64 */
#define VU_MEM_HDR              8u      /* nregions u32, padding u32 */
#define VU_MEM_REGION           32u     /* gpa, size, uva, mmap_offset u64 */
#define VU_CONFIG_HDR           12u     /* offset, size, flags u32 */
#define VU_CONFIG_MAX           256u

struct vu_msg {
    uint32_t request, flags, size;
    const uint8_t *payload;
    int *fds;           /* a handler that keeps fds[i] sets it to -1 */
    unsigned nfds;
};

/* ---- small helpers ---- */

static uint32_t vu_get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t vu_get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void vu_close_fds(int *fds, unsigned nfds)
{
    for (unsigned i = 0; i < nfds; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

static int vu_queue_ready(const struct virtq *q)
{
    return q->desc != NULL && q->enabled && !q->broken;
}

static uint64_t vu_features_offered(const struct vhost_user *vu)
{
    uint64_t dev = vu->ops ? vu->ops->features : 0;
    return (dev & ~VU_TRANSPORT_BITS) | VU_F_PROTOCOL_FEATURES | VU_F_VERSION_1;
}

/* Waits for fd to be ready for ev: 0, -ETIMEDOUT or -errno. */
static int vu_wait(int fd, short ev)
{
    struct pollfd p = { .fd = fd, .events = ev };
    for (;;) {
        int n = poll(&p, 1, VU_IO_TIMEOUT_MS);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int vu_send(struct vhost_user *vu, uint32_t request, const void *payload, uint32_t size)
{
    uint8_t buf[VU_HDR_SIZE + VU_CONFIG_HDR + VU_CONFIG_MAX];
    uint32_t flags = VU_VERSION | VU_FLAG_REPLY;

    if (size > sizeof buf - VU_HDR_SIZE)
        return -EMSGSIZE;
    memcpy(buf, &request, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size)
        memcpy(buf + VU_HDR_SIZE, payload, size);
    size_t len = VU_HDR_SIZE + size, done = 0;
    while (done < len) {
        ssize_t n = send(vu->fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = vu_wait(vu->fd, POLLOUT);
            if (rc < 0)
                return rc;
            continue;
        }
        return n < 0 ? -errno : -EIO;
    }
    return 0;
}

static int vu_reply_u64(struct vhost_user *vu, uint32_t request, uint64_t v)
{
    return vu_send(vu, request, &v, sizeof v);
}

/* ---- queue life: a queue is started by its kick fd and stopped by GET_VRING_BASE ---- */

static void vu_kick_dev(struct vhost_user *vu, unsigned qidx)
{
    if (vu->ops && vu->ops->kick)
        vu->ops->kick(vu->dev, qidx);
}

/* Calls the device if the queue has just become ready. */
static void vu_became_ready(struct vhost_user *vu, unsigned qidx, int was_ready)
{
    if (!was_ready && vu_queue_ready(&vu->vq[qidx]))
        vu_kick_dev(vu, qidx);
}

static void vu_stop(struct virtq *q)
{
    q->desc = q->avail = q->used = NULL;
    q->broken = 0;      /* the front end reconfigures a stopped ring from scratch */
    if (q->kick_fd >= 0) {
        close(q->kick_fd);
        q->kick_fd = -1;
    }
}

/* Drops all device state: the device first (it may still look at queues), then queues and
 * memory. The connection, its owner and its protocol features stay. */
static void vu_reset_state(struct vhost_user *vu)
{
    if (vu->ops && vu->ops->reset)
        vu->ops->reset(vu->dev);
    for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
        virtq_reset(&vu->vq[i]);
    gmem_clear(&vu->mem);
    vu->acked_features = 0;
}

/* ---- handlers: 0 done, -errno refused (the caller logs it and acks failure) ---- */

static int vu_get_features(struct vhost_user *vu, struct vu_msg *m)
{
    return vu_reply_u64(vu, m->request, vu_features_offered(vu));
}

static int vu_set_features(struct vhost_user *vu, struct vu_msg *m)
{
    uint64_t f = vu_get64(m->payload);
    if (f & ~vu_features_offered(vu))
        return -ENOTSUP;
    vu->acked_features = f;
    tlog("vsock", "vhost-user: features 0x%llx, protocol features 0x%llx",
         (unsigned long long)f, (unsigned long long)vu->acked_protocol_features);
    if (!(f & VU_F_PROTOCOL_FEATURES)) {
        /* without protocol features there is no SET_VRING_ENABLE: rings start enabled */
        for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
            int was = vu_queue_ready(&vu->vq[i]);
            vu->vq[i].enabled = 1;
            vu_became_ready(vu, i, was);
        }
    }
    return 0;
}

static int vu_get_protocol_features(struct vhost_user *vu, struct vu_msg *m)
{
    return vu_reply_u64(vu, m->request, VU_PROTO_OFFERED);
}

static int vu_set_protocol_features(struct vhost_user *vu, struct vu_msg *m)
{
    uint64_t f = vu_get64(m->payload);
    if (f & ~VU_PROTO_OFFERED)
        return -ENOTSUP;
    vu->acked_protocol_features = f;
    return 0;
}

static int vu_get_queue_num(struct vhost_user *vu, struct vu_msg *m)
{
    return vu_reply_u64(vu, m->request, VHOST_USER_MAX_QUEUES);
}

static int vu_set_owner(struct vhost_user *vu, struct vu_msg *m)
{
    (void)m;
    vu->owner_set = 1;
    return 0;
}

/* RESET_OWNER is deprecated; the spec allows disabling the rings. QEMU sends it (when
 * RESET_DEVICE is not offered) to reset the device, and sends no SET_OWNER after it. */
static int vu_reset_owner(struct vhost_user *vu, struct vu_msg *m)
{
    (void)m;
    tlog("vsock", "vhost-user: the front end reset the device");
    vu_reset_state(vu);
    return 0;
}

static int vu_set_mem_table(struct vhost_user *vu, struct vu_msg *m)
{
    if (m->size < VU_MEM_HDR)
        return -EINVAL;
    uint32_t n = vu_get32(m->payload);
    if (n == 0 || n > GMEM_MAX_REGIONS)
        return -E2BIG;
    /* QEMU sends only the regions it uses; the spec's struct has room for 8 */
    if (m->size != VU_MEM_HDR + n * VU_MEM_REGION &&
        m->size != VU_MEM_HDR + GMEM_MAX_REGIONS * VU_MEM_REGION)
        return -EINVAL;
    if (m->nfds != n)
        return -EBADF;

    struct gmem next;
    memset(&next, 0, sizeof next);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = m->payload + VU_MEM_HDR + i * VU_MEM_REGION;
        uint64_t gpa = vu_get64(r), size = vu_get64(r + 8), uva = vu_get64(r + 16);
        uint64_t off = vu_get64(r + 24);
        int rc = gmem_add_region(&next, gpa, size, uva, off, m->fds[i]);
        if (rc < 0) {
            tlog("vsock", "vhost-user: memory region %u (gpa 0x%llx size 0x%llx offset "
                 "0x%llx) refused: %s", i, (unsigned long long)gpa, (unsigned long long)size,
                 (unsigned long long)off, strerror(-rc));
            gmem_clear(&next);
            return rc;
        }
        total += size;
    }
    /* the mappings hold their own references: the fds are closed by the caller */
    gmem_clear(&vu->mem);
    vu->mem = next;
    tlog("vsock", "vhost-user: memory table: %u region%s, %llu %s", n, n == 1 ? "" : "s",
         (unsigned long long)(total >= (1u << 20) ? total >> 20 : total >> 10),
         total >= (1u << 20) ? "MiB" : "KiB");

    /* a started ring must still fit the new table */
    for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
        struct virtq *q = &vu->vq[i];
        if (!q->desc)
            continue;
        uint16_t used_idx = q->used_idx;
        if (virtq_setup(q, &vu->mem) < 0) {
            tlog("vsock", "vhost-user: queue %u no longer fits guest memory: stopped", i);
            vu_stop(q);
        }
        q->used_idx = used_idx;
    }
    return 0;
}

/* A vring state (index u32, num u32) with the index checked. */
static int vu_state(const struct vu_msg *m, unsigned *idx, uint32_t *num)
{
    uint32_t i = vu_get32(m->payload);
    if (i >= VHOST_USER_MAX_QUEUES)
        return -ERANGE;
    *idx = i;
    *num = vu_get32(m->payload + 4);
    return 0;
}

static int vu_set_vring_num(struct vhost_user *vu, struct vu_msg *m)
{
    unsigned i;
    uint32_t num;
    int rc = vu_state(m, &i, &num);
    if (rc < 0)
        return rc;
    if (vu->vq[i].desc)
        return -EBUSY;
    if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)) != 0)
        return -EINVAL;
    vu->vq[i].size = (uint16_t)num;
    return 0;
}

static int vu_set_vring_base(struct vhost_user *vu, struct vu_msg *m)
{
    unsigned i;
    uint32_t num;
    int rc = vu_state(m, &i, &num);
    if (rc < 0)
        return rc;
    if (vu->vq[i].desc)
        return -EBUSY;
    if (num > 0xffff)
        return -EINVAL;
    vu->vq[i].last_avail = (uint16_t)num;
    return 0;
}

static int vu_get_vring_base(struct vhost_user *vu, struct vu_msg *m)
{
    unsigned i;
    uint32_t num;
    int rc = vu_state(m, &i, &num);
    if (rc < 0)
        return rc;
    struct virtq *q = &vu->vq[i];
    if (q->desc)
        tlog("vsock", "vhost-user: queue %u stopped at avail index %u", i, q->last_avail);
    vu_stop(q);
    uint32_t reply[2] = { i, q->last_avail };
    return vu_send(vu, m->request, reply, sizeof reply);
}

static int vu_set_vring_addr(struct vhost_user *vu, struct vu_msg *m)
{
    uint32_t i = vu_get32(m->payload), flags = vu_get32(m->payload + 4);
    if (i >= VHOST_USER_MAX_QUEUES)
        return -ERANGE;
    if (flags != 0)     /* VHOST_VRING_F_LOG: dirty logging is not offered */
        return -ENOTSUP;
    struct virtq *q = &vu->vq[i];
    if (q->desc)
        return -EBUSY;
    q->desc_uva = vu_get64(m->payload + 8);
    q->used_uva = vu_get64(m->payload + 16);
    q->avail_uva = vu_get64(m->payload + 24);
    return 0;
}

/* The u64 of SET_VRING_KICK/CALL/ERR: queue index in bits 0-7, bit 8 "no fd", no others. */
static int vu_vring_fd(const struct vu_msg *m, unsigned *idx, int *fd)
{
    uint64_t v = vu_get64(m->payload);
    if (v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD))
        return -EINVAL;
    if ((v & VU_VRING_IDX_MASK) >= VHOST_USER_MAX_QUEUES)
        return -ERANGE;
    unsigned want = (v & VU_VRING_NOFD) ? 0 : 1;
    if (m->nfds != want)
        return -EBADF;
    *idx = (unsigned)(v & VU_VRING_IDX_MASK);
    *fd = want ? m->fds[0] : -1;
    if (want)
        m->fds[0] = -1;     /* kept */
    return 0;
}

static int vu_set_vring_kick(struct vhost_user *vu, struct vu_msg *m)
{
    unsigned i;
    int fd;
    if (vu_get64(m->payload) & VU_VRING_NOFD)
        return -ENOTSUP;    /* polling mode: trevisor only waits on eventfds */
    int rc = vu_vring_fd(m, &i, &fd);
    if (rc < 0)
        return rc;
    struct virtq *q = &vu->vq[i];
    int was = vu_queue_ready(q);
    if (q->kick_fd >= 0)
        close(q->kick_fd);
    q->kick_fd = fd;
    if (!q->desc) {
        /* the kick fd starts the ring (vhost-user "Ring states") */
        rc = virtq_setup(q, &vu->mem);
        if (rc < 0) {
            tlog("vsock", "vhost-user: queue %u cannot start: size %u or its ring "
                 "addresses do not fit guest memory", i, q->size);
            return rc;
        }
        tlog("vsock", "vhost-user: queue %u started (size %u, avail index %u)", i, q->size,
             q->last_avail);
    }
    vu_became_ready(vu, i, was);
    return 0;
}

/* SET_VRING_CALL / SET_VRING_ERR: the queue's call or err eventfd is replaced. */
static int vu_set_vring_eventfd(struct vhost_user *vu, struct vu_msg *m, int is_err)
{
    unsigned i;
    int fd;
    int rc = vu_vring_fd(m, &i, &fd);
    if (rc < 0)
        return rc;
    int *slot = is_err ? &vu->vq[i].err_fd : &vu->vq[i].call_fd;
    if (*slot >= 0)
        close(*slot);
    *slot = fd;
    return 0;
}

static int vu_set_vring_call(struct vhost_user *vu, struct vu_msg *m)
{
    return vu_set_vring_eventfd(vu, m, 0);
}

static int vu_set_vring_err(struct vhost_user *vu, struct vu_msg *m)
{
    return vu_set_vring_eventfd(vu, m, 1);
}

static int vu_set_vring_enable(struct vhost_user *vu, struct vu_msg *m)
{
    unsigned i;
    uint32_t num;
    int rc = vu_state(m, &i, &num);
    if (rc < 0)
        return rc;
    if (num > 1)
        return -EINVAL;
    int was = vu_queue_ready(&vu->vq[i]);
    vu->vq[i].enabled = (int)num;
    vu_became_ready(vu, i, was);
    return 0;
}

/* The reply to GET_CONFIG: the request's header echoed with the device's bytes, or an
 * empty payload (the spec's way to say "error"). */
static int vu_get_config(struct vhost_user *vu, struct vu_msg *m)
{
    uint8_t reply[VU_CONFIG_HDR + VU_CONFIG_MAX];

    if (!(vu->acked_protocol_features & VU_PROTO_F_CONFIG) || m->size < VU_CONFIG_HDR ||
        m->nfds != 0)
        goto empty;
    uint32_t len = vu_get32(m->payload + 4);
    if (len == 0 || len > VU_CONFIG_MAX || m->size != VU_CONFIG_HDR + len)
        goto empty;
    uint32_t offset = vu_get32(m->payload);
    memcpy(reply, m->payload, VU_CONFIG_HDR);
    memset(reply + VU_CONFIG_HDR, 0, len);
    size_t got = 0;
    if (vu->ops && vu->ops->get_config)
        got = vu->ops->get_config(vu->dev, offset, reply + VU_CONFIG_HDR, len);
    if (got != len)
        goto empty;
    return vu_send(vu, m->request, reply, VU_CONFIG_HDR + len);
empty:
    tlog("vsock", "vhost-user: GET_CONFIG refused (size %u): empty reply", m->size);
    return vu_send(vu, m->request, NULL, 0);
}

static int vu_refuse(struct vhost_user *vu, struct vu_msg *m)
{
    (void)vu;
    (void)m;
    return -ENOTSUP;
}

/* ---- the request table: what each request's payload and fds must be ---- */

#define VU_SIZE_VAR 0xffffffffu     /* the handler checks the size */

enum { VU_FDS_NONE, VU_FDS_ANY };   /* ANY: the handler checks the count */

struct vu_req {
    const char *name;
    int (*fn)(struct vhost_user *vu, struct vu_msg *m);
    uint32_t size;
    uint8_t fds;
    uint8_t owner;      /* only after SET_OWNER */
    uint8_t reply;      /* answers with its own reply: a refusal drops the connection */
};

static const struct vu_req vu_reqs[VU_NREQ] = {
    [VU_GET_FEATURES] = { "GET_FEATURES", vu_get_features, 0, VU_FDS_NONE, 0, 1 },
    [VU_SET_FEATURES] = { "SET_FEATURES", vu_set_features, 8, VU_FDS_NONE, 0, 0 },
    [VU_SET_OWNER] = { "SET_OWNER", vu_set_owner, 0, VU_FDS_NONE, 0, 0 },
    [VU_RESET_OWNER] = { "RESET_OWNER", vu_reset_owner, 0, VU_FDS_NONE, 1, 0 },
    [VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", vu_set_mem_table, VU_SIZE_VAR, VU_FDS_ANY, 1, 0 },
    [VU_SET_LOG_BASE] = { "SET_LOG_BASE", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_SET_LOG_FD] = { "SET_LOG_FD", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_SET_VRING_NUM] = { "SET_VRING_NUM", vu_set_vring_num, VU_STATE_SIZE, VU_FDS_NONE, 1, 0 },
    [VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", vu_set_vring_addr, VU_ADDR_SIZE, VU_FDS_NONE,
                            1, 0 },
    [VU_SET_VRING_BASE] = { "SET_VRING_BASE", vu_set_vring_base, VU_STATE_SIZE, VU_FDS_NONE,
                            1, 0 },
    [VU_GET_VRING_BASE] = { "GET_VRING_BASE", vu_get_vring_base, VU_STATE_SIZE, VU_FDS_NONE,
                            1, 1 },
    [VU_SET_VRING_KICK] = { "SET_VRING_KICK", vu_set_vring_kick, 8, VU_FDS_ANY, 1, 0 },
    [VU_SET_VRING_CALL] = { "SET_VRING_CALL", vu_set_vring_call, 8, VU_FDS_ANY, 1, 0 },
    [VU_SET_VRING_ERR] = { "SET_VRING_ERR", vu_set_vring_err, 8, VU_FDS_ANY, 1, 0 },
    [VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", vu_get_protocol_features, 0,
                                   VU_FDS_NONE, 0, 1 },
    [VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", vu_set_protocol_features, 8,
                                   VU_FDS_NONE, 0, 0 },
    [VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", vu_get_queue_num, 0, VU_FDS_NONE, 0, 1 },
    [VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", vu_set_vring_enable, VU_STATE_SIZE,
                              VU_FDS_NONE, 1, 0 },
    [VU_SET_SLAVE_REQ_FD] = { "SET_SLAVE_REQ_FD", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_GET_CONFIG] = { "GET_CONFIG", vu_get_config, VU_SIZE_VAR, VU_FDS_ANY, 0, 1 },
    [VU_SET_CONFIG] = { "SET_CONFIG", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_RESET_DEVICE] = { "RESET_DEVICE", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_SET_STATUS] = { "SET_STATUS", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
    [VU_GET_STATUS] = { "GET_STATUS", vu_refuse, VU_SIZE_VAR, VU_FDS_ANY, 0, 0 },
};

int vhost_user_handle_msg(struct vhost_user *vu, const void *msg, size_t len, int *fds,
                          unsigned nfds)
{
    struct vu_msg m;
    int rc;

    if (nfds > VU_MAX_FDS || len < VU_HDR_SIZE) {
        tlog("vsock", "vhost-user: malformed message (%zu bytes, %u fds): dropping the "
             "connection", len, nfds);
        rc = -EPROTO;
        goto out;
    }
    memcpy(&m.request, msg, 4);
    memcpy(&m.flags, (const uint8_t *)msg + 4, 4);
    memcpy(&m.size, (const uint8_t *)msg + 8, 4);
    if ((m.flags & VU_VERSION_MASK) != VU_VERSION || (m.flags & VU_FLAG_REPLY) ||
        m.size > VU_MAX_PAYLOAD || len - VU_HDR_SIZE != m.size) {
        tlog("vsock", "vhost-user: malformed message (request %u flags 0x%x size %u): "
             "dropping the connection", m.request, m.flags, m.size);
        rc = -EPROTO;
        goto out;
    }
    m.payload = (const uint8_t *)msg + VU_HDR_SIZE;
    m.fds = fds;
    m.nfds = nfds;

    const struct vu_req *r = m.request < VU_NREQ && vu_reqs[m.request].fn
                             ? &vu_reqs[m.request] : NULL;
    char unknown[24];
    const char *name = r ? r->name : unknown;
    if (!r) {
        snprintf(unknown, sizeof unknown, "request %u", m.request);
        rc = -ENOTSUP;
    } else if (r->size != VU_SIZE_VAR && m.size != r->size) {
        rc = -EINVAL;
    } else if (r->fds == VU_FDS_NONE && nfds != 0) {
        rc = -EBADF;
    } else if (r->owner && !vu->owner_set) {
        rc = -EPERM;
    } else {
        rc = r->fn(vu, &m);
    }

    if (r && r->reply) {
        /* the handler has answered; if it could not, the front end waits for an answer
         * that will never come, so the connection goes */
        if (rc < 0) {
            tlog("vsock", "vhost-user: %s refused (size %u, %u fds): %s; dropping the "
                 "connection", name, m.size, nfds, strerror(-rc));
            rc = -EPROTO;
        }
        goto out;
    }
    if (rc < 0)
        tlog("vsock", "vhost-user: %s refused (size %u, %u fds): %s", name, m.size, nfds,
             strerror(-rc));
    if ((m.flags & VU_FLAG_NEED_REPLY) && (vu->acked_protocol_features & VU_PROTO_F_REPLY_ACK))
        rc = vu_reply_u64(vu, m.request, rc < 0 ? 1 : 0);
    else
        rc = 0;
out:
    if (fds)
        vu_close_fds(fds, nfds);
    return rc;
}

/* ---- reading one message from the socket ---- */

/* Reads exactly len bytes, collecting SCM_RIGHTS fds into fds[*nfds]: 0, -ECONNRESET when
 * the front end closed (before or in the middle), -ETIMEDOUT, -EPROTO when more fds came
 * than any message carries, or -errno. */
static int vu_read(int fd, uint8_t *buf, size_t len, int *fds, unsigned *nfds)
{
    size_t done = 0;
    int excess = 0;

    while (done < len) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
        } ctl;
        struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf,
        };
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int rc = vu_wait(fd, POLLIN);
                if (rc < 0)
                    return rc;
                continue;
            }
            return errno == ECONNRESET ? -ECONNRESET : -errno;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t k = 0; k < cnt; k++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof got);
                if (*nfds < VU_MAX_FDS)
                    fds[(*nfds)++] = got;
                else {
                    close(got);
                    excess = 1;
                }
            }
        }
        if (mh.msg_flags & MSG_CTRUNC)
            excess = 1;     /* the kernel dropped the fds that did not fit */
        if (n == 0)
            return -ECONNRESET;
        done += (size_t)n;
    }
    return excess ? -EPROTO : 0;
}

int vhost_user_handle_one(struct vhost_user *vu)
{
    uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds = 0;
    uint32_t size;

    int rc = vu_read(vu->fd, buf, VU_HDR_SIZE, fds, &nfds);
    if (rc < 0)
        goto fail;
    memcpy(&size, buf + 8, sizeof size);
    if (size > VU_MAX_PAYLOAD) {
        tlog("vsock", "vhost-user: message with a %u-byte payload: dropping the connection",
             size);
        rc = -EPROTO;
        goto fail;
    }
    rc = vu_read(vu->fd, buf + VU_HDR_SIZE, size, fds, &nfds);
    if (rc < 0)
        goto fail;
    return vhost_user_handle_msg(vu, buf, VU_HDR_SIZE + size, fds, nfds);
fail:
    vu_close_fds(fds, nfds);
    if (rc != -ECONNRESET)
        tlog("vsock", "vhost-user: reading from the front end: %s", strerror(-rc));
    return rc;
}

/* ---- the rest of the API ---- */

void vhost_user_init(struct vhost_user *vu, int fd, const struct vhost_user_device_ops *ops,
                     void *dev)
{
    memset(vu, 0, sizeof *vu);
    vu->fd = fd;
    vu->ops = ops;
    vu->dev = dev;
    for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
        virtq_init(&vu->vq[i]);
}

void vhost_user_cleanup(struct vhost_user *vu)
{
    vu_reset_state(vu);
    vu->acked_protocol_features = 0;
    vu->owner_set = 0;
}

void vhost_user_kick(struct vhost_user *vu, unsigned qidx)
{
    if (qidx >= VHOST_USER_MAX_QUEUES)
        return;
    struct virtq *q = &vu->vq[qidx];
    if (q->kick_fd >= 0) {
        /* drain without blocking, whatever kind of fd the front end gave */
        struct pollfd p = { .fd = q->kick_fd, .events = POLLIN };
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
            uint64_t v[8];
            if (read(q->kick_fd, v, sizeof v) < 0) {
                /* nothing to drain after all */
            }
        }
    }
    if (vu_queue_ready(q))
        vu_kick_dev(vu, qidx);
}

int vhost_user_queue_ready(const struct vhost_user *vu, unsigned qidx)
{
    return qidx < VHOST_USER_MAX_QUEUES && vu_queue_ready(&vu->vq[qidx]);
}
