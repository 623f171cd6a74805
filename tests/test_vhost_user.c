/* tests/test_vhost_user.c — the vhost-user back end (src/vsock/vhost_user.c) against a fake
 * front end on a socketpair (no QEMU): the negotiation in QEMU 7.2's order for
 * vhost-user-vsock-pci, a memory table over a memfd (checked translation), vring set-up,
 * a kick that reaches the device and a chain that goes round, GET_CONFIG, REPLY_ACK, stop
 * and reset; then crafted bad messages: wrong sizes, too many or overlapping regions, queue
 * indexes out of range, bad ring sizes, fds where none are expected, unknown requests,
 * truncated messages, a front end that closes or stalls mid-message. Every case checks
 * that the connection stays in sync (or is dropped when it must be) and that no fd leaks
 * (/proc/self/fd is counted before and after). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"
#include "vsock/vhost_user.h"

/* the requests, from the spec, independently of the back end's own table */
enum {
    GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, RESET_OWNER = 4, SET_MEM_TABLE = 5,
    SET_LOG_BASE = 6, SET_LOG_FD = 7, SET_VRING_NUM = 8, SET_VRING_ADDR = 9,
    SET_VRING_BASE = 10, GET_VRING_BASE = 11, SET_VRING_KICK = 12, SET_VRING_CALL = 13,
    SET_VRING_ERR = 14, GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16,
    GET_QUEUE_NUM = 17, SET_VRING_ENABLE = 18, GET_CONFIG = 24, SET_CONFIG = 25,
    RESET_DEVICE = 34, SET_STATUS = 39, GET_STATUS = 40,
};
#define V1          0x1u
#define REPLY       0x4u
#define NEED_REPLY  0x8u
#define F_PROTOCOL  (1ull << 30)
#define F_VERSION_1 (1ull << 32)
#define F_INDIRECT  (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define F_PACKED    (1ull << 34)
#define P_MQ        (1ull << 0)
#define P_REPLY_ACK (1ull << 3)
#define P_CONFIG    (1ull << 9)
#define NOFD        0x100ull

/* guest memory: a 2 MiB memfd, shared as two regions like QEMU's pc.ram around the hole */
#define MEMFD_SIZE  0x200000u
#define UVA_BASE    0x7f0000000000ull
#define RING_OFF(q) (0x100000u + (q) * 0x10000u)
#define BUF_OFF     0x180000u

/* ---- the fake device ---- */

struct fake_dev {
    struct vhost_user *vu;
    unsigned kicks[VHOST_USER_MAX_QUEUES];
    unsigned resets;
    unsigned chains;
    uint8_t first_byte;
    uint8_t cfg[8];
};

static size_t fake_get_config(void *dev, uint32_t offset, void *buf, size_t len)
{
    struct fake_dev *d = dev;
    if (offset >= sizeof d->cfg)
        return 0;
    size_t n = sizeof d->cfg - offset < len ? sizeof d->cfg - offset : len;
    memcpy(buf, d->cfg + offset, n);
    return n;
}

/* Takes every chain, notes it, gives it back with nothing written. */
static void fake_kick(void *dev, unsigned qidx)
{
    struct fake_dev *d = dev;
    struct virtq *q = &d->vu->vq[qidx];
    struct virtq_elem e;
    d->kicks[qidx]++;
    int any = 0;
    while (virtq_pop(q, &d->vu->mem, &e) == 1) {
        d->chains++;
        if (e.nsegs)
            d->first_byte = e.seg[0].ptr[0];
        virtq_push(q, e.head, 0);
        any = 1;
    }
    if (any)
        virtq_notify(q);
}

static void fake_reset(void *dev)
{
    struct fake_dev *d = dev;
    d->resets++;
}

static const struct vhost_user_device_ops fake_ops = {
    /* a device bit, plus ring features the back end must not pass on */
    .features = (1ull << 0) | F_INDIRECT | F_EVENT_IDX | F_PACKED,
    .get_config = fake_get_config,
    .kick = fake_kick,
    .reset = fake_reset,
};

/* ---- the fake front end ---- */

struct fe {
    int fd;                 /* the front end's end of the socketpair */
    struct vhost_user vu;
    struct fake_dev dev;
    int memfd;
    uint8_t *guest;         /* our own mapping of the guest memory */
    int kick[VHOST_USER_MAX_QUEUES], call[VHOST_USER_MAX_QUEUES];
};

static int log_lines;

static void log_sink(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
    log_lines++;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int fe_send_raw(struct fe *f, const void *bytes, size_t len, const int *fds,
                       unsigned nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    struct iovec iov = { .iov_base = (void *)bytes, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(f->fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *payload,
                   uint32_t size, const int *fds, unsigned nfds)
{
    uint8_t buf[12 + 4096];
    memcpy(buf, &req, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size)
        memcpy(buf + 12, payload, size);
    return fe_send_raw(f, buf, 12 + size, fds, nfds);
}

/* The back end's reply, if one is waiting: its payload size, or -1. */
static int fe_recv(struct fe *f, uint32_t want_req, void *payload, size_t cap)
{
    uint8_t buf[12 + 512];
    ssize_t n = recv(f->fd, buf, 12, MSG_DONTWAIT);
    if (n != 12)
        return -1;
    uint32_t req, flags, size;
    memcpy(&req, buf, 4);
    memcpy(&flags, buf + 4, 4);
    memcpy(&size, buf + 8, 4);
    CHECK_EQ(req, want_req);
    CHECK_EQ(flags, V1 | REPLY);
    if (size > sizeof buf - 12 ||
        (size && recv(f->fd, buf + 12, size, MSG_DONTWAIT) != (ssize_t)size))
        return -1;
    if (payload)
        memcpy(payload, buf + 12, size < cap ? size : cap);
    return (int)size;
}

static int fe_nothing_waiting(struct fe *f)
{
    uint8_t b;
    return recv(f->fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

/* Sends a message and lets the back end handle it: its return value. */
static int fe_do(struct fe *f, uint32_t req, uint32_t flags, const void *payload,
                 uint32_t size, const int *fds, unsigned nfds)
{
    CHECK_EQ(fe_send(f, req, flags, payload, size, fds, nfds), 0);
    return vhost_user_handle_one(&f->vu);
}

static uint64_t fe_get_u64(struct fe *f, uint32_t req)
{
    uint64_t v = 0;
    CHECK_EQ(fe_do(f, req, V1, NULL, 0, NULL, 0), 0);
    CHECK_EQ(fe_recv(f, req, &v, sizeof v), 8);
    return v;
}

static void fe_set_u64(struct fe *f, uint32_t req, uint64_t v, const int *fds, unsigned nfds)
{
    CHECK_EQ(fe_do(f, req, V1, &v, 8, fds, nfds), 0);
    CHECK(fe_nothing_waiting(f));
}

/* A request with need_reply: the u64 ack (0 ok, 1 refused), or -1 if none came. */
static long long fe_acked(struct fe *f, uint32_t req, const void *payload, uint32_t size,
                          const int *fds, unsigned nfds)
{
    uint64_t v;
    CHECK_EQ(fe_do(f, req, V1 | NEED_REPLY, payload, size, fds, nfds), 0);
    if (fe_recv(f, req, &v, sizeof v) != 8)
        return -1;
    return (long long)v;
}

static void state(uint8_t *p, uint32_t idx, uint32_t num)
{
    memcpy(p, &idx, 4);
    memcpy(p + 4, &num, 4);
}

static long long fe_state(struct fe *f, uint32_t req, uint32_t idx, uint32_t num)
{
    uint8_t p[8];
    state(p, idx, num);
    return fe_acked(f, req, p, 8, NULL, 0);
}

static void fe_open(struct fe *f)
{
    int sv[2];
    memset(f, 0, sizeof *f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    f->fd = sv[0];
    f->dev.vu = &f->vu;
    f->dev.cfg[0] = 3;      /* guest CID 3, little-endian */
    vhost_user_init(&f->vu, sv[1], &fake_ops, &f->dev);
    f->memfd = memfd_create("guest", MFD_CLOEXEC);
    CHECK(f->memfd >= 0);
    CHECK_EQ(ftruncate(f->memfd, MEMFD_SIZE), 0);
    f->guest = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    CHECK(f->guest != MAP_FAILED);
    for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
        f->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        f->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
}

static void fe_close(struct fe *f)
{
    vhost_user_cleanup(&f->vu);
    close(f->vu.fd);
    close(f->fd);
    munmap(f->guest, MEMFD_SIZE);
    close(f->memfd);
    for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
        close(f->kick[i]);
        close(f->call[i]);
    }
}

/* QEMU's order when the device is realized: features, protocol features, owner, the
 * call fds, the config. */
static void fe_negotiate(struct fe *f)
{
    uint64_t feat = fe_get_u64(f, GET_FEATURES);
    CHECK(feat & F_PROTOCOL);
    uint64_t proto = fe_get_u64(f, GET_PROTOCOL_FEATURES);
    CHECK_EQ(proto, P_REPLY_ACK | P_CONFIG);
    fe_set_u64(f, SET_PROTOCOL_FEATURES, proto, NULL, 0);
    CHECK_EQ(fe_do(f, SET_OWNER, V1, NULL, 0, NULL, 0), 0);
    CHECK_EQ(fe_get_u64(f, GET_FEATURES), feat);
    for (unsigned q = 0; q < 2; q++)
        fe_set_u64(f, SET_VRING_CALL, q, &f->call[q], 1);
}

struct region { uint64_t gpa, size, uva, off; };

static void mem_payload(uint8_t *p, uint32_t n, const struct region *r, unsigned cnt)
{
    memset(p, 0, 8);
    memcpy(p, &n, 4);
    for (unsigned i = 0; i < cnt; i++)
        memcpy(p + 8 + 32 * i, &r[i], 32);
}

/* The two regions: [0, 0xa0000) and [0x100000, 0x200000) at their memfd offsets. */
static long long fe_mem_table(struct fe *f)
{
    struct region r[2] = {
        { 0, 0xa0000, UVA_BASE, 0 },
        { 0x100000, 0x100000, UVA_BASE + 0x100000, 0x100000 },
    };
    uint8_t p[8 + 64];
    int fds[2] = { f->memfd, f->memfd };
    mem_payload(p, 2, r, 2);
    return fe_acked(f, SET_MEM_TABLE, p, sizeof p, fds, 2);
}

static long long fe_vring_addr(struct fe *f, uint32_t q, uint32_t flags, uint64_t desc,
                               uint64_t used, uint64_t avail)
{
    uint8_t p[40] = { 0 };
    memcpy(p, &q, 4);
    memcpy(p + 4, &flags, 4);
    memcpy(p + 8, &desc, 8);
    memcpy(p + 16, &used, 8);
    memcpy(p + 24, &avail, 8);
    return fe_acked(f, SET_VRING_ADDR, p, sizeof p, NULL, 0);
}

/* QEMU's order when the guest driver starts the device. */
static void fe_start(struct fe *f)
{
    uint64_t feat = (1ull << 0) | F_PROTOCOL | F_VERSION_1;
    CHECK_EQ(fe_acked(f, SET_FEATURES, &feat, 8, NULL, 0), 0);
    CHECK_EQ(fe_mem_table(f), 0);
    for (uint32_t q = 0; q < 2; q++) {
        uint64_t ring = UVA_BASE + RING_OFF(q);
        CHECK_EQ(fe_state(f, SET_VRING_NUM, q, 256), 0);
        CHECK_EQ(fe_state(f, SET_VRING_BASE, q, 0), 0);
        CHECK_EQ(fe_vring_addr(f, q, 0, ring, ring + 0x8000, ring + 0x4000), 0);
        uint64_t v = q;
        CHECK_EQ(fe_acked(f, SET_VRING_KICK, &v, 8, &f->kick[q], 1), 0);
        CHECK_EQ(fe_acked(f, SET_VRING_CALL, &v, 8, &f->call[q], 1), 0);
    }
    CHECK_EQ(f->dev.kicks[0] + f->dev.kicks[1], 0);    /* started but still disabled */
    for (uint32_t q = 0; q < 2; q++)
        CHECK_EQ(fe_state(f, SET_VRING_ENABLE, q, 1), 0);
    CHECK_EQ(f->dev.kicks[0], 1);                       /* became ready */
    CHECK_EQ(f->dev.kicks[1], 1);
}

/* The guest offers one readable buffer on queue q (desc 0 -> BUF_OFF). */
static void guest_offer(struct fe *f, unsigned q, uint8_t byte)
{
    uint8_t *ring = f->guest + RING_OFF(q);
    uint64_t gpa = BUF_OFF;
    uint32_t len = 16;
    uint16_t flags = 0, next = 0;
    f->guest[BUF_OFF] = byte;
    memcpy(ring, &gpa, 8);
    memcpy(ring + 8, &len, 4);
    memcpy(ring + 12, &flags, 2);
    memcpy(ring + 14, &next, 2);
    uint16_t idx;
    memcpy(&idx, ring + 0x4000 + 2, 2);
    uint16_t head = 0;
    memcpy(ring + 0x4000 + 4 + 2 * (idx % 256), &head, 2);
    idx++;
    memcpy(ring + 0x4000 + 2, &idx, 2);
    uint64_t one = 1;
    CHECK_EQ(write(f->kick[q], &one, 8), 8);
}

static uint16_t guest_used_idx(struct fe *f, unsigned q)
{
    uint16_t idx;
    memcpy(&idx, f->guest + RING_OFF(q) + 0x8000 + 2, 2);
    return idx;
}

/* ---- the good path ---- */

static void test_qemu_order(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    fe_negotiate(&f);
    CHECK_EQ(f.vu.acked_protocol_features, P_REPLY_ACK | P_CONFIG);
    CHECK(f.vu.owner_set);
    CHECK(f.vu.vq[0].call_fd >= 0 && f.vu.vq[1].call_fd >= 0);

    /* GET_CONFIG for the guest CID */
    uint8_t cfg[12 + 8] = { 0 }, reply[12 + 8];
    uint32_t sz = 8;
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, sizeof cfg, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, reply, sizeof reply), 20);
    CHECK(memcmp(reply, cfg, 12) == 0);
    CHECK_EQ(reply[12], 3);

    fe_start(&f);
    /* the kept eventfds are close-on-exec (trevisor starts QEMU and swtpm) */
    CHECK(fcntl(f.vu.vq[1].kick_fd, F_GETFD) & FD_CLOEXEC);

    /* a kick goes to the device, which takes the chain and gives it back */
    unsigned chains = f.dev.chains;
    guest_offer(&f, 1, 0x5a);
    vhost_user_kick(&f.vu, 1);
    CHECK_EQ(f.dev.kicks[1], 2);
    CHECK_EQ(f.dev.chains, chains + 1);
    CHECK_EQ(f.dev.first_byte, 0x5a);
    CHECK_EQ(guest_used_idx(&f, 1), 1);
    uint64_t v = 0;
    CHECK_EQ(read(f.call[1], &v, 8), 8);                /* the guest was notified */
    CHECK_EQ(read(f.kick[1], &v, 8), -1);               /* the kick was drained */

    /* stop, as QEMU does: disable, then GET_VRING_BASE */
    CHECK_EQ(fe_state(&f, SET_VRING_ENABLE, 1, 0), 0);
    CHECK(!vhost_user_queue_ready(&f.vu, 1));
    uint8_t p[8], base[8];
    state(p, 1, 0);
    CHECK_EQ(fe_do(&f, GET_VRING_BASE, V1, p, 8, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_VRING_BASE, base, sizeof base), 8);
    uint32_t idx, num;
    memcpy(&idx, base, 4);
    memcpy(&num, base + 4, 4);
    CHECK_EQ(idx, 1);
    CHECK_EQ(num, 1);
    CHECK_EQ(f.vu.vq[1].kick_fd, -1);
    CHECK(f.vu.vq[1].desc == NULL);
    vhost_user_kick(&f.vu, 1);
    CHECK_EQ(f.dev.kicks[1], 2);                        /* a stopped queue is not kicked */

    /* restart from the base QEMU got back */
    uint64_t ring = UVA_BASE + RING_OFF(1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 1, 256), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_BASE, 1, num), 0);
    CHECK_EQ(fe_vring_addr(&f, 1, 0, ring, ring + 0x8000, ring + 0x4000), 0);
    uint64_t k = 1;
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &k, 8, &f.kick[1], 1), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_ENABLE, 1, 1), 0);
    CHECK_EQ(f.vu.vq[1].used_idx, 1);
    guest_offer(&f, 1, 0x77);
    vhost_user_kick(&f.vu, 1);
    CHECK_EQ(f.dev.first_byte, 0x77);
    CHECK_EQ(guest_used_idx(&f, 1), 2);

    /* GET_QUEUE_NUM */
    CHECK_EQ(fe_get_u64(&f, GET_QUEUE_NUM), VHOST_USER_MAX_QUEUES);

    /* RESET_OWNER resets the device and drops memory; the connection stays */
    CHECK_EQ(fe_acked(&f, RESET_OWNER, NULL, 0, NULL, 0), 0);
    CHECK_EQ(f.dev.resets, 1);
    CHECK_EQ(f.vu.mem.nregions, 0);
    CHECK(f.vu.vq[0].desc == NULL && f.vu.vq[0].call_fd == -1);
    CHECK_EQ(fe_mem_table(&f), 0);      /* still the owner */

    fe_close(&f);
    CHECK_EQ(f.dev.resets, 2);          /* cleanup tells the device too */
    CHECK_EQ(count_fds(), before);
}

static void test_memory_translation(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    fe_negotiate(&f);
    CHECK_EQ(fe_mem_table(&f), 0);
    CHECK_EQ(f.vu.mem.nregions, 2);
    memcpy(f.guest + 0x123456, "guest", 5);
    memcpy(f.guest + 0x1000, "low", 3);
    uint8_t *p = gmem_gpa(&f.vu.mem, 0x123456, 5);
    CHECK(p && memcmp(p, "guest", 5) == 0);
    p = gmem_uva(&f.vu.mem, UVA_BASE + 0x123456, 5);
    CHECK(p && memcmp(p, "guest", 5) == 0);
    p = gmem_gpa(&f.vu.mem, 0x1000, 3);
    CHECK(p && memcmp(p, "low", 3) == 0);
    /* writes go to the guest's memory */
    p = gmem_gpa(&f.vu.mem, 0x1ffff0, 16);
    CHECK(p != NULL);
    if (p)
        memcpy(p, "from trevisor", 13);
    CHECK(memcmp(f.guest + 0x1ffff0, "from trevisor", 13) == 0);
    /* the hole and the outside do not translate, nor does a range across the hole */
    CHECK(gmem_gpa(&f.vu.mem, 0xa0000, 1) == NULL);
    CHECK(gmem_gpa(&f.vu.mem, 0x9ffff, 2) == NULL);
    CHECK(gmem_gpa(&f.vu.mem, 0x200000, 1) == NULL);
    CHECK(gmem_gpa(&f.vu.mem, 0x1fffff, 2) == NULL);

    /* a new table replaces the old one */
    struct region r = { 0x40000000, 0x1000, UVA_BASE + 0x1000, 0x1000 };
    uint8_t m[8 + 32];
    mem_payload(m, 1, &r, 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, sizeof m, &f.memfd, 1), 0);
    CHECK_EQ(f.vu.mem.nregions, 1);
    CHECK(gmem_gpa(&f.vu.mem, 0x123456, 1) == NULL);
    p = gmem_gpa(&f.vu.mem, 0x40000000, 3);
    CHECK(p && memcmp(p, "low", 3) == 0);

    /* the spec's full-size table (room for 8) is accepted too */
    uint8_t full[8 + 8 * 32];
    memset(full, 0, sizeof full);
    mem_payload(full, 1, &r, 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, full, sizeof full, &f.memfd, 1), 0);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static void test_reply_ack(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    /* no REPLY_ACK negotiated: need_reply is ignored, refused or not */
    CHECK_EQ(fe_do(&f, SET_OWNER, V1 | NEED_REPLY, NULL, 0, NULL, 0), 0);
    CHECK(fe_nothing_waiting(&f));
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 3), -1);
    uint64_t proto = P_REPLY_ACK;
    fe_set_u64(&f, SET_PROTOCOL_FEATURES, proto, NULL, 0);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 64), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 3), 1);
    /* without need_reply: no reply either way */
    uint8_t p[8];
    state(p, 0, 3);
    CHECK_EQ(fe_do(&f, SET_VRING_NUM, V1, p, 8, NULL, 0), 0);
    CHECK(fe_nothing_waiting(&f));
    /* GET_* answer once, need_reply or not */
    CHECK_EQ(fe_do(&f, GET_FEATURES, V1 | NEED_REPLY, NULL, 0, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_FEATURES, NULL, 0), 8);
    CHECK(fe_nothing_waiting(&f));
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static void test_no_protocol_features(void)
{
    /* a front end that does not ack F_PROTOCOL_FEATURES: rings start enabled */
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    CHECK_EQ(fe_do(&f, SET_OWNER, V1, NULL, 0, NULL, 0), 0);
    fe_set_u64(&f, SET_FEATURES, F_VERSION_1, NULL, 0);
    uint8_t m[8 + 32];
    struct region r = { 0x100000, 0x100000, UVA_BASE + 0x100000, 0x100000 };
    mem_payload(m, 1, &r, 1);
    CHECK_EQ(fe_do(&f, SET_MEM_TABLE, V1, m, sizeof m, &f.memfd, 1), 0);
    uint8_t p[8];
    state(p, 1, 256);
    CHECK_EQ(fe_do(&f, SET_VRING_NUM, V1, p, 8, NULL, 0), 0);
    uint64_t ring = UVA_BASE + RING_OFF(1);
    uint8_t a[40] = { 1 };
    memcpy(a + 8, &ring, 8);
    ring += 0x8000;
    memcpy(a + 16, &ring, 8);
    ring -= 0x4000;
    memcpy(a + 24, &ring, 8);
    CHECK_EQ(fe_do(&f, SET_VRING_ADDR, V1, a, 40, NULL, 0), 0);
    fe_set_u64(&f, SET_VRING_KICK, 1, &f.kick[1], 1);
    CHECK(vhost_user_queue_ready(&f.vu, 1));
    CHECK_EQ(f.dev.kicks[1], 1);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

/* ---- refused messages: the connection goes on, in sync ---- */

/* After a refusal the next request is still understood. */
static void still_in_sync(struct fe *f)
{
    CHECK(fe_nothing_waiting(f));
    uint64_t v = fe_get_u64(f, GET_FEATURES);
    CHECK(v & F_PROTOCOL);
}

static void test_refused_sizes_and_values(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    fe_negotiate(&f);
    uint8_t big[64] = { 0 };
    uint64_t v;

    /* wrong payload sizes */
    CHECK_EQ(fe_acked(&f, SET_FEATURES, big, 4, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_FEATURES, big, 16, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_OWNER, big, 8, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_NUM, big, 4, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_NUM, big, 12, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_ADDR, big, 32, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_ADDR, big, 48, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, big, 4, &f.kick[0], 1), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_ENABLE, big, 0, NULL, 0), 1);
    still_in_sync(&f);

    /* features we never offered */
    v = F_EVENT_IDX | F_PROTOCOL;
    CHECK_EQ(fe_acked(&f, SET_FEATURES, &v, 8, NULL, 0), 1);
    v = F_INDIRECT;
    CHECK_EQ(fe_acked(&f, SET_FEATURES, &v, 8, NULL, 0), 1);
    v = F_PACKED;
    CHECK_EQ(fe_acked(&f, SET_FEATURES, &v, 8, NULL, 0), 1);
    v = 1ull << 26;     /* VHOST_F_LOG_ALL */
    CHECK_EQ(fe_acked(&f, SET_FEATURES, &v, 8, NULL, 0), 1);
    v = P_MQ | P_REPLY_ACK;
    CHECK_EQ(fe_acked(&f, SET_PROTOCOL_FEATURES, &v, 8, NULL, 0), 1);
    CHECK_EQ(f.vu.acked_protocol_features, P_REPLY_ACK | P_CONFIG);

    /* queue indexes out of range */
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 3, 256), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0xffffffffu, 256), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_BASE, 3, 0), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_ENABLE, 3, 1), 1);
    CHECK_EQ(fe_vring_addr(&f, 3, 0, 0, 0, 0), 1);
    v = 3;
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, &f.kick[0], 1), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, &f.kick[0], 1), 1);
    v = 0xff | NOFD;
    CHECK_EQ(fe_acked(&f, SET_VRING_ERR, &v, 8, NULL, 0), 1);

    /* vring sizes */
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 0), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 3), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 384), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 2 * VIRTQ_MAX_SIZE), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 0x10000), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, VIRTQ_MAX_SIZE), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 1), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_BASE, 0, 0x10000), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_BASE, 0, 0xffff), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_ENABLE, 0, 2), 1);
    CHECK_EQ(fe_vring_addr(&f, 0, 1, 0, 0, 0), 1);     /* VHOST_VRING_F_LOG */

    /* kick/call/err u64: unknown bits, polling kick */
    v = 0 | (1ull << 9);
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, &f.call[0], 1), 1);
    v = 0 | NOFD;
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, NULL, 0), 0);  /* no call fd is fine */
    CHECK_EQ(f.vu.vq[0].call_fd, -1);
    still_in_sync(&f);

    /* a ring whose addresses do not fit memory does not start */
    CHECK_EQ(fe_mem_table(&f), 0);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 256), 0);
    CHECK_EQ(fe_vring_addr(&f, 0, 0, UVA_BASE + 0xa0000, UVA_BASE + 0x100000,
                           UVA_BASE + 0x104000), 0);
    v = 0;
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, &f.kick[0], 1), 1);
    CHECK(f.vu.vq[0].desc == NULL);
    CHECK_EQ(fe_state(&f, SET_VRING_ENABLE, 0, 1), 0);
    CHECK(!vhost_user_queue_ready(&f.vu, 0));
    CHECK_EQ(f.dev.kicks[0], 0);
    /* ... nor one at a misaligned address */
    CHECK_EQ(fe_vring_addr(&f, 0, 0, UVA_BASE + 0x100008, UVA_BASE + 0x108000,
                           UVA_BASE + 0x104000), 0);
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, &f.kick[0], 1), 1);
    /* a started ring cannot be resized or moved */
    CHECK_EQ(fe_vring_addr(&f, 0, 0, UVA_BASE + 0x100000, UVA_BASE + 0x108000,
                           UVA_BASE + 0x104000), 0);
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, &f.kick[0], 1), 0);
    CHECK(f.vu.vq[0].desc != NULL);
    CHECK_EQ(f.dev.kicks[0], 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 128), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_BASE, 0, 5), 1);
    CHECK_EQ(fe_vring_addr(&f, 0, 0, UVA_BASE + 0x100000, UVA_BASE + 0x108000,
                           UVA_BASE + 0x104000), 1);
    /* a new memory table the ring does not fit in stops it */
    struct region r = { 0, 0x1000, UVA_BASE, 0 };
    uint8_t m[8 + 32];
    mem_payload(m, 1, &r, 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, sizeof m, &f.memfd, 1), 0);
    CHECK(f.vu.vq[0].desc == NULL);
    CHECK(!vhost_user_queue_ready(&f.vu, 0));
    still_in_sync(&f);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static void test_refused_mem_tables(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    fe_negotiate(&f);
    int fds[9];
    for (unsigned i = 0; i < 9; i++)
        fds[i] = f.memfd;
    uint8_t m[8 + 9 * 32] = { 0 };
    struct region r[9];
    for (unsigned i = 0; i < 9; i++)
        r[i] = (struct region){ 0x1000ull * i, 0x1000, UVA_BASE + 0x1000ull * i, 0x1000ull * i };

    /* 8 regions is the most */
    mem_payload(m, 8, r, 8);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 8 * 32, fds, 8), 0);
    CHECK_EQ(f.vu.mem.nregions, 8);
    /* 9 regions (with 8 fds, since a message carries no more) */
    mem_payload(m, 9, r, 9);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 9 * 32, fds, 8), 1);
    /* a count that is not what the size says */
    mem_payload(m, 2, r, 2);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 1 * 32, fds, 2), 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 3 * 32, fds, 2), 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 4, NULL, 0), 1);
    /* zero regions */
    mem_payload(m, 0, r, 0);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8, NULL, 0), 1);
    /* fds that do not match the regions */
    mem_payload(m, 2, r, 2);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 64, fds, 1), 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 64, fds, 3), 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 64, NULL, 0), 1);
    /* the old table is still there after each refusal */
    CHECK_EQ(f.vu.mem.nregions, 8);

    struct region bad[][2] = {
        /* overlapping guest-physical ranges */
        { { 0, 0x2000, UVA_BASE, 0 }, { 0x1000, 0x1000, UVA_BASE + 0x10000, 0 } },
        /* overlapping front-end addresses */
        { { 0, 0x2000, UVA_BASE, 0 }, { 0x10000, 0x1000, UVA_BASE + 0x1fff, 0 } },
        /* empty */
        { { 0, 0, UVA_BASE, 0 }, { 0x10000, 0x1000, UVA_BASE + 0x10000, 0 } },
        /* guest-physical range wraps */
        { { UINT64_MAX - 0xfff, 0x2000, UVA_BASE, 0 }, { 0, 0x1000, UVA_BASE + 0x10000, 0 } },
        /* front-end range wraps */
        { { 0, 0x1000, UINT64_MAX - 0x10, 0 }, { 0x10000, 0x1000, UVA_BASE + 0x10000, 0 } },
        /* past the end of the memfd */
        { { 0, 0x1000, UVA_BASE, MEMFD_SIZE - 0xfff }, { 0x10000, 0x1000, UVA_BASE + 0x10000, 0 } },
        { { 0, MEMFD_SIZE + 0x1000, UVA_BASE, 0 }, { 0x10000000, 0x1000, UVA_BASE + 0x10000000, 0 } },
        /* mmap offset + size overflows */
        { { 0, 0x1000, UVA_BASE, UINT64_MAX - 0xfff }, { 0x10000, 0x1000, UVA_BASE + 0x10000, 0 } },
        /* huge */
        { { 0, 1ull << 62, UVA_BASE, 0 }, { 1ull << 62, 0x1000, 1ull << 62, 0 } },
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mem_payload(m, 2, bad[i], 2);
        CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 64, fds, 2), 1);
        CHECK_EQ(f.vu.mem.nregions, 8);
    }
    /* memory that is not a file */
    int efd = eventfd(0, EFD_CLOEXEC);
    mem_payload(m, 1, r, 1);
    CHECK_EQ(fe_acked(&f, SET_MEM_TABLE, m, 8 + 32, &efd, 1), 1);
    close(efd);
    still_in_sync(&f);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static void test_unexpected_fds_and_requests(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    /* before SET_OWNER, no vring or memory message is taken */
    uint64_t proto = P_REPLY_ACK | P_CONFIG;
    fe_set_u64(&f, SET_PROTOCOL_FEATURES, proto, NULL, 0);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 256), 1);
    CHECK_EQ(fe_mem_table(&f), 1);
    CHECK_EQ(f.vu.mem.nregions, 0);
    uint64_t v = 0;
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, &f.call[0], 1), 1);
    CHECK_EQ(f.vu.vq[0].call_fd, -1);
    CHECK_EQ(fe_acked(&f, SET_OWNER, NULL, 0, NULL, 0), 0);

    int two[2] = { f.kick[0], f.kick[1] };
    /* fds on messages that take none */
    CHECK_EQ(fe_acked(&f, SET_OWNER, NULL, 0, two, 1), 1);
    v = 1;
    CHECK_EQ(fe_acked(&f, SET_FEATURES, &v, 8, two, 2), 1);
    CHECK_EQ(fe_state(&f, SET_VRING_NUM, 0, 256), 0);
    uint8_t p[8];
    state(p, 0, 256);
    CHECK_EQ(fe_acked(&f, SET_VRING_NUM, p, 8, two, 1), 1);
    /* the wrong number of fds */
    v = 0;
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, two, 2), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_KICK, &v, 8, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, two, 2), 1);
    v = NOFD;
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, two, 1), 1);
    CHECK_EQ(f.vu.vq[0].kick_fd, -1);
    CHECK_EQ(f.vu.vq[0].call_fd, -1);
    /* replacing a call fd closes the old one (counted at the end) */
    v = 0;
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, &f.call[0], 1), 0);
    CHECK_EQ(fe_acked(&f, SET_VRING_CALL, &v, 8, &f.call[1], 1), 0);
    CHECK_EQ(fe_acked(&f, SET_VRING_ERR, &v, 8, &f.call[1], 1), 0);
    CHECK_EQ(fe_acked(&f, SET_VRING_ERR, &v, 8, &f.call[2], 1), 0);

    /* what trevisor refuses: logging, config writes, unoffered extensions, unknowns */
    CHECK_EQ(fe_acked(&f, SET_LOG_BASE, p, 8, two, 1), 1);
    uint8_t lb[16] = { 0 };
    CHECK_EQ(fe_acked(&f, SET_LOG_BASE, lb, 16, two, 1), 1);
    CHECK_EQ(fe_acked(&f, SET_LOG_FD, NULL, 0, two, 1), 1);
    uint8_t cfg[12 + 8] = { 0 };
    cfg[4] = 8;
    CHECK_EQ(fe_acked(&f, SET_CONFIG, cfg, sizeof cfg, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, RESET_DEVICE, NULL, 0, NULL, 0), 1);
    CHECK_EQ(f.dev.resets, 0);
    v = 0xf;
    CHECK_EQ(fe_acked(&f, SET_STATUS, &v, 8, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, 0, NULL, 0, NULL, 0), 1);
    CHECK_EQ(fe_acked(&f, 99, p, 8, two, 2), 1);
    CHECK_EQ(fe_acked(&f, 0xffffffffu, lb, 16, two, 1), 1);
    CHECK_EQ(fe_acked(&f, 26, lb, 16, NULL, 0), 1);     /* CREATE_CRYPTO_SESSION */
    /* an unknown request without need_reply is dropped silently, in sync */
    CHECK_EQ(fe_do(&f, 1000, V1, lb, 16, two, 2), 0);
    still_in_sync(&f);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static void test_get_config_refusals(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    uint8_t cfg[12 + 300] = { 0 };
    uint32_t sz = 8;
    memcpy(cfg + 4, &sz, 4);
    /* CONFIG not negotiated yet: an empty reply */
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 20, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    fe_negotiate(&f);
    /* the size field does not match the payload */
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 24, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 8, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    /* more than the spec's 256 bytes */
    sz = 300;
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 12 + 300, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    /* beyond the device's 8 bytes, or none */
    sz = 16;
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 12 + 16, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    sz = 0;
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 12, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    uint32_t off = 0xfffffffcu;
    sz = 8;
    memcpy(cfg, &off, 4);
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 20, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    /* with an fd */
    off = 4;
    sz = 4;
    memcpy(cfg, &off, 4);
    memcpy(cfg + 4, &sz, 4);
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1, cfg, 16, &f.kick[0], 1), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, NULL, 0), 0);
    /* a part of the config is fine */
    uint8_t reply[16];
    f.dev.cfg[5] = 0x42;
    CHECK_EQ(fe_do(&f, GET_CONFIG, V1 | NEED_REPLY, cfg, 16, NULL, 0), 0);
    CHECK_EQ(fe_recv(&f, GET_CONFIG, reply, sizeof reply), 16);
    CHECK_EQ(reply[13], 0x42);
    still_in_sync(&f);
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

/* ---- messages that end the connection ---- */

static void expect_drop(const void *bytes, size_t len, const int *fds, unsigned nfds,
                        int close_after, int want)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    fe_negotiate(&f);
    CHECK_EQ(fe_send_raw(&f, bytes, len, fds ? fds : f.kick, nfds), 0);
    if (close_after) {
        close(f.fd);
        f.fd = -1;
    }
    CHECK_EQ(vhost_user_handle_one(&f.vu), want);
    if (f.fd < 0)
        f.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);     /* for fe_close */
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

static size_t msg(uint8_t *b, uint32_t req, uint32_t flags, uint32_t size)
{
    memcpy(b, &req, 4);
    memcpy(b + 4, &flags, 4);
    memcpy(b + 8, &size, 4);
    return 12;
}

static void test_dropped(void)
{
    uint8_t b[64] = { 0 };
    /* the front end closes: cleanly, mid-header, mid-payload (with fds in flight) */
    expect_drop(b, 0, NULL, 0, 1, -ECONNRESET);
    msg(b, SET_FEATURES, V1, 8);
    expect_drop(b, 6, NULL, 0, 1, -ECONNRESET);
    expect_drop(b, 12 + 4, NULL, 0, 1, -ECONNRESET);
    msg(b, SET_VRING_KICK, V1, 8);
    expect_drop(b, 12 + 3, NULL, 1, 1, -ECONNRESET);
    expect_drop(b, 5, NULL, 2, 1, -ECONNRESET);
    /* ... or stalls in the middle */
    expect_drop(b, 12 + 3, NULL, 1, 0, -ETIMEDOUT);
    /* a payload bigger than any message */
    msg(b, SET_MEM_TABLE, V1, 4097);
    expect_drop(b, 12, NULL, 0, 0, -EPROTO);
    msg(b, SET_MEM_TABLE, V1, 0xffffffffu);
    expect_drop(b, 12, NULL, 0, 0, -EPROTO);
    /* a bad version, or a reply sent to the back end */
    msg(b, GET_FEATURES, 0x2, 0);
    expect_drop(b, 12, NULL, 0, 0, -EPROTO);
    msg(b, GET_FEATURES, 0x0, 0);
    expect_drop(b, 12, NULL, 0, 0, -EPROTO);
    msg(b, SET_OWNER, V1 | REPLY, 0);
    expect_drop(b, 12, NULL, 0, 0, -EPROTO);
    /* requests that must be answered but cannot be */
    msg(b, GET_FEATURES, V1, 8);
    expect_drop(b, 20, NULL, 0, 0, -EPROTO);
    msg(b, GET_PROTOCOL_FEATURES, V1, 0);
    expect_drop(b, 12, NULL, 1, 0, -EPROTO);
    msg(b, GET_VRING_BASE, V1, 8);
    uint32_t idx = 3;
    memcpy(b + 12, &idx, 4);
    expect_drop(b, 20, NULL, 0, 0, -EPROTO);
    msg(b, GET_VRING_BASE, V1, 4);
    expect_drop(b, 16, NULL, 0, 0, -EPROTO);
    /* more fds than any message carries */
    {
        int before = count_fds();
        int many[12];
        for (unsigned i = 0; i < 12; i++)
            many[i] = eventfd(0, EFD_CLOEXEC);
        msg(b, SET_MEM_TABLE, V1, 8);
        expect_drop(b, 20, many, 12, 0, -EPROTO);
        for (unsigned i = 0; i < 12; i++)
            close(many[i]);
        CHECK_EQ(count_fds(), before);
    }
}

static void test_handle_msg_framing(void)
{
    int before = count_fds();
    struct fe f;
    fe_open(&f);
    uint8_t b[32] = { 0 };
    int fds[2];
    /* shorter than a header; a length that is not 12 + size; fds are consumed anyway */
    fds[0] = eventfd(0, EFD_CLOEXEC);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 11, fds, 1), -EPROTO);
    msg(b, SET_OWNER, V1, 0);
    fds[0] = eventfd(0, EFD_CLOEXEC);
    fds[1] = eventfd(0, EFD_CLOEXEC);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 13, fds, 2), -EPROTO);
    msg(b, SET_FEATURES, V1, 8);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 19, NULL, 0), -EPROTO);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 21, NULL, 0), -EPROTO);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 20, NULL, 0), 0);
    msg(b, SET_OWNER, V1, 0);
    CHECK_EQ(vhost_user_handle_msg(&f.vu, b, 12, NULL, 0), 0);
    CHECK(f.vu.owner_set);
    /* kicks for queues out of range or not set up do nothing */
    vhost_user_kick(&f.vu, VHOST_USER_MAX_QUEUES);
    vhost_user_kick(&f.vu, 2);
    CHECK_EQ(f.dev.kicks[2], 0);
    CHECK(!vhost_user_queue_ready(&f.vu, 7));
    fe_close(&f);
    CHECK_EQ(count_fds(), before);
}

/* ---- the fuzzer's seeds (fuzz/fuzz_vhost_user.c's script format) ---- */

/* Guest memory in the fuzzer is a 256 KiB memfd; the seeds share it as two regions:
 * gpa [0, 0x10000) at offset 0 and gpa [0x100000, 0x130000) at offset 0x10000, with front-end
 * addresses SEED_UVA + gpa. Queue q's rings are at gpa 0x100000 + 0x8000 q (desc, avail at
 * +0x1000, used at +0x2000), buffers at gpa 0x120000. */
#define SEED_UVA    0x7f0000000000ull
#define SEED_RING(q) (0x100000ull + 0x8000ull * (q))
#define SEED_BUF    0x120000ull
#define SEED_OFF(gpa) ((uint32_t)((gpa) - 0x100000ull + 0x10000ull))
#define SEED_MEMFD  0x10u   /* op bits: fd 0 (and with 0x20, fd 1) is the memfd */

struct script {
    uint8_t b[8192];
    size_t len;
};

static void sc_bytes(struct script *s, const void *v, size_t n)
{
    if (s->len + n <= sizeof s->b) {
        memcpy(s->b + s->len, v, n);
        s->len += n;
    }
}

/* A message record: op = fd count | which fds are the memfd. */
static void sc_msg(struct script *s, uint8_t op, uint32_t req, uint32_t flags,
                   const void *payload, uint32_t size)
{
    uint16_t len = (uint16_t)(12 + size);
    uint8_t h[12];
    sc_bytes(s, &op, 1);
    sc_bytes(s, &len, 2);
    memcpy(h, &req, 4);
    memcpy(h + 4, &flags, 4);
    memcpy(h + 8, &size, 4);
    sc_bytes(s, h, 12);
    sc_bytes(s, payload, size);
}

static void sc_u64(struct script *s, uint8_t op, uint32_t req, uint32_t flags, uint64_t v)
{
    sc_msg(s, op, req, flags, &v, 8);
}

static void sc_state(struct script *s, uint32_t req, uint32_t idx, uint32_t num)
{
    uint8_t p[8];
    state(p, idx, num);
    sc_msg(s, 0, req, V1 | NEED_REPLY, p, 8);
}

static void sc_mem(struct script *s, uint32_t off, const void *v, uint16_t len)
{
    uint8_t op = 0xff;
    sc_bytes(s, &op, 1);
    sc_bytes(s, &off, 4);
    sc_bytes(s, &len, 2);
    sc_bytes(s, v, len);
}

static void sc_kick(struct script *s, uint8_t q)
{
    uint8_t op = 0xfe;
    sc_bytes(s, &op, 1);
    sc_bytes(s, &q, 1);
}

static void sc_negotiate(struct script *s)
{
    sc_msg(s, 0, GET_FEATURES, V1, NULL, 0);
    sc_msg(s, 0, GET_PROTOCOL_FEATURES, V1, NULL, 0);
    sc_u64(s, 0, SET_PROTOCOL_FEATURES, V1, P_REPLY_ACK | P_CONFIG);
    sc_msg(s, 0, SET_OWNER, V1, NULL, 0);
    sc_msg(s, 0, GET_FEATURES, V1, NULL, 0);
    sc_u64(s, 1, SET_VRING_CALL, V1, 0);
    sc_u64(s, 1, SET_VRING_CALL, V1, 1);
    uint8_t cfg[20] = { 0 };
    cfg[4] = 8;
    sc_msg(s, 0, GET_CONFIG, V1, cfg, sizeof cfg);
}

static void sc_mem_table(struct script *s)
{
    struct region r[2] = {
        { 0, 0x10000, SEED_UVA, 0 },
        { 0x100000, 0x30000, SEED_UVA + 0x100000, 0x10000 },
    };
    uint8_t m[8 + 64];
    mem_payload(m, 2, r, 2);
    sc_msg(s, 2 | SEED_MEMFD | 0x20, SET_MEM_TABLE, V1 | NEED_REPLY, m, sizeof m);
}

static void sc_ring(struct script *s, uint32_t q, uint32_t num)
{
    uint64_t ring = SEED_UVA + SEED_RING(q);
    uint8_t a[40] = { 0 };
    uint64_t used = ring + 0x2000, avail = ring + 0x1000;
    sc_state(s, SET_VRING_NUM, q, num);
    sc_state(s, SET_VRING_BASE, q, 0);
    memcpy(a, &q, 4);
    memcpy(a + 8, &ring, 8);
    memcpy(a + 16, &used, 8);
    memcpy(a + 24, &avail, 8);
    sc_msg(s, 0, SET_VRING_ADDR, V1 | NEED_REPLY, a, 40);
    sc_u64(s, 1, SET_VRING_KICK, V1 | NEED_REPLY, q);
    sc_u64(s, 1, SET_VRING_CALL, V1 | NEED_REPLY, q);
}

static void sc_start(struct script *s)
{
    sc_u64(s, 0, SET_FEATURES, V1 | NEED_REPLY, 1 | F_PROTOCOL | F_VERSION_1);
    sc_mem_table(s);
    sc_ring(s, 0, 256);
    sc_ring(s, 1, 256);
    sc_state(s, SET_VRING_ENABLE, 0, 1);
    sc_state(s, SET_VRING_ENABLE, 1, 1);
}

/* The guest's side: desc i of queue q, and an offer of head at avail slot `slot`. */
static void sc_desc(struct script *s, uint32_t q, unsigned i, uint64_t gpa, uint32_t len,
                    uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &gpa, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    sc_mem(s, SEED_OFF(SEED_RING(q)) + 16 * i, d, 16);
}

static void sc_offer(struct script *s, uint32_t q, uint16_t slot, uint16_t head)
{
    uint16_t idx = (uint16_t)(slot + 1);
    sc_mem(s, SEED_OFF(SEED_RING(q)) + 0x1000 + 4 + 2 * slot, &head, 2);
    sc_mem(s, SEED_OFF(SEED_RING(q)) + 0x1000 + 2, &idx, 2);
}

static void sc_traffic(struct script *s)
{
    sc_desc(s, 1, 0, SEED_BUF, 44, 1, 1);               /* tx: header + payload */
    sc_desc(s, 1, 1, SEED_BUF + 0x40, 100, 0, 0);
    sc_offer(s, 1, 0, 0);
    sc_kick(s, 1);
    sc_desc(s, 0, 0, SEED_BUF + 0x1000, 4096, 2, 0);    /* rx: one writable buffer */
    sc_offer(s, 0, 0, 0);
    sc_kick(s, 0);
}

static void sc_stop(struct script *s)
{
    sc_state(s, SET_VRING_ENABLE, 0, 0);
    sc_state(s, SET_VRING_ENABLE, 1, 0);
    uint8_t p[8];
    for (uint32_t q = 0; q < 2; q++) {
        state(p, q, 0);
        sc_msg(s, 0, GET_VRING_BASE, V1, p, 8);
    }
}

static int sc_write(const char *dir, const char *name, const struct script *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->len, f) != s->len) {
        perror(path);
        if (f)
            fclose(f);
        return 1;
    }
    return fclose(f) != 0;
}

static int write_corpus(const char *dir)
{
    static struct script s;
    int bad = 0;
    uint8_t z[64] = { 0 };

    memset(&s, 0, sizeof s);
    sc_negotiate(&s);
    bad |= sc_write(dir, "qemu-init", &s);

    sc_start(&s);
    sc_traffic(&s);
    sc_stop(&s);
    sc_msg(&s, 0, RESET_OWNER, V1 | NEED_REPLY, NULL, 0);
    bad |= sc_write(dir, "qemu-start-traffic-stop", &s);

    memset(&s, 0, sizeof s);
    sc_negotiate(&s);
    sc_start(&s);
    sc_traffic(&s);
    sc_stop(&s);
    sc_ring(&s, 1, 256);            /* restart queue 1 where it stopped */
    sc_state(&s, SET_VRING_ENABLE, 1, 1);
    sc_offer(&s, 1, 1, 1);
    sc_kick(&s, 1);
    bad |= sc_write(dir, "qemu-restart", &s);

    memset(&s, 0, sizeof s);        /* no protocol features: rings start enabled */
    sc_msg(&s, 0, GET_FEATURES, V1, NULL, 0);
    sc_msg(&s, 0, SET_OWNER, V1, NULL, 0);
    sc_u64(&s, 0, SET_FEATURES, V1, F_VERSION_1);
    sc_mem_table(&s);
    sc_ring(&s, 1, 64);
    sc_traffic(&s);
    bad |= sc_write(dir, "no-protocol-features", &s);

    memset(&s, 0, sizeof s);        /* a guest that loops its tx chain */
    sc_negotiate(&s);
    sc_start(&s);
    sc_desc(&s, 1, 0, SEED_BUF, 44, 1, 1);
    sc_desc(&s, 1, 1, SEED_BUF, 44, 1, 0);
    sc_offer(&s, 1, 0, 0);
    sc_kick(&s, 1);
    sc_kick(&s, 1);
    bad |= sc_write(dir, "guest-ring-loop", &s);

    memset(&s, 0, sizeof s);        /* overlapping regions, too many, fds mismatched */
    sc_negotiate(&s);
    {
        struct region r[2] = {
            { 0, 0x20000, SEED_UVA, 0 },
            { 0x10000, 0x10000, SEED_UVA + 0x100000, 0x10000 },
        };
        uint8_t m[8 + 9 * 32] = { 0 };
        mem_payload(m, 2, r, 2);
        sc_msg(&s, 2 | SEED_MEMFD | 0x20, SET_MEM_TABLE, V1 | NEED_REPLY, m, 8 + 64);
        sc_msg(&s, 1 | SEED_MEMFD, SET_MEM_TABLE, V1 | NEED_REPLY, m, 8 + 64);
        uint32_t nine = 9;
        memcpy(m, &nine, 4);
        sc_msg(&s, 8 | 0xf0, SET_MEM_TABLE, V1 | NEED_REPLY, m, sizeof m);
    }
    bad |= sc_write(dir, "bad-mem-tables", &s);

    memset(&s, 0, sizeof s);        /* sizes, indexes and numbers out of bounds */
    sc_negotiate(&s);
    sc_msg(&s, 0, SET_FEATURES, V1 | NEED_REPLY, z, 4);
    sc_msg(&s, 0, SET_VRING_ADDR, V1 | NEED_REPLY, z, 32);
    sc_state(&s, SET_VRING_NUM, 3, 256);
    sc_state(&s, SET_VRING_NUM, 0, 100);
    sc_state(&s, SET_VRING_NUM, 0, 2048);
    sc_state(&s, SET_VRING_BASE, 0, 0x10000);
    sc_state(&s, SET_VRING_ENABLE, 0, 7);
    sc_u64(&s, 0, SET_FEATURES, V1 | NEED_REPLY, F_EVENT_IDX);
    sc_u64(&s, 1, SET_VRING_KICK, V1 | NEED_REPLY, 0x100);
    sc_u64(&s, 2, SET_VRING_CALL, V1 | NEED_REPLY, 1);
    sc_u64(&s, 1, SET_OWNER, V1 | NEED_REPLY, 0);
    bad |= sc_write(dir, "bad-values", &s);

    memset(&s, 0, sizeof s);        /* requests trevisor refuses or does not know */
    sc_negotiate(&s);
    sc_u64(&s, 1 | SEED_MEMFD, SET_LOG_BASE, V1 | NEED_REPLY, 0);
    sc_msg(&s, 1, SET_LOG_FD, V1 | NEED_REPLY, NULL, 0);
    sc_msg(&s, 0, SET_CONFIG, V1 | NEED_REPLY, z, 20);
    sc_msg(&s, 0, RESET_DEVICE, V1 | NEED_REPLY, NULL, 0);
    sc_u64(&s, 0, SET_STATUS, V1 | NEED_REPLY, 15);
    sc_msg(&s, 0, GET_STATUS, V1, NULL, 0);
    sc_msg(&s, 2, 99, V1 | NEED_REPLY, z, 16);
    sc_msg(&s, 0, GET_QUEUE_NUM, V1, NULL, 0);
    bad |= sc_write(dir, "refused-requests", &s);

    memset(&s, 0, sizeof s);        /* GET_CONFIG, good and bad */
    sc_negotiate(&s);
    {
        uint8_t cfg[12 + 8] = { 4, 0, 0, 0, 4 };
        sc_msg(&s, 0, GET_CONFIG, V1, cfg, 16);
        sc_msg(&s, 0, GET_CONFIG, V1, cfg, 20);
        cfg[4] = 0;
        cfg[5] = 1;
        sc_msg(&s, 0, GET_CONFIG, V1, cfg, 12);
    }
    bad |= sc_write(dir, "get-config", &s);

    memset(&s, 0, sizeof s);        /* drops: bad version, then a new connection */
    sc_negotiate(&s);
    sc_msg(&s, 0, SET_OWNER, 0x2, NULL, 0);
    sc_negotiate(&s);
    sc_msg(&s, 10, SET_OWNER, V1, NULL, 0);
    sc_msg(&s, 0, GET_VRING_BASE, V1, z, 8);
    bad |= sc_write(dir, "drops", &s);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    tlog_set_sink(log_sink, NULL);
    tlog_set_quiet(1);
    TEST(test_qemu_order);
    TEST(test_memory_translation);
    TEST(test_reply_ack);
    TEST(test_no_protocol_features);
    TEST(test_refused_sizes_and_values);
    TEST(test_refused_mem_tables);
    TEST(test_unexpected_fds_and_requests);
    TEST(test_get_config_refusals);
    TEST(test_dropped);
    TEST(test_handle_msg_framing);
    TEST_EXIT();
}
