/* tests/test_vsock_dev.c — the vsock device against a hostile guest kernel, with no QEMU:
 * this test plays the guest's virtio-vsock driver on rings in a test guest memory. It runs
 * the TRE protocol end to end over vsock packets (exec + rpc of add), the echo port, and
 * every kind of bad packet: wrong port, spoofed CID, lies about credit, length mismatch,
 * unknown op, packets for no connection, a connection flood; and shows that closing a
 * connection closes its TRE instance. */
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fixture.h"
#include "door/proto.h"
#include "trevisor/proto.h"
#include "vsock/vhost_user.h"
#include "vsock/vsock_dev.h"

#define GUEST_CID 3
#define QSIZE 64
#define MEM_SIZE (8u << 20)
#define MEM_GPA 0x100000ull
#define RXBUF 4096

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

static uint8_t *mem;              /* guest RAM */
static struct vhost_user vu;
static struct vsock_dev *dev;
static uint16_t tx_avail, rx_avail, rx_used_seen;
static uint64_t alloc_at;         /* bump allocator in guest RAM for tx packets */
static struct tre_engine *dev_engine;

static uint64_t g2off(uint64_t gpa) { return gpa - MEM_GPA; }

/* ring layout per queue q: desc at q*64K, avail at +16*QSIZE, used at +32K */
static uint64_t ring_gpa(unsigned q, unsigned part)
{
    uint64_t base = MEM_GPA + q * 0x10000ull;
    return part == 0 ? base : part == 1 ? base + 16 * QSIZE : base + 0x8000;
}

static struct desc *descs(unsigned q) { return (struct desc *)(mem + g2off(ring_gpa(q, 0))); }
static uint16_t *avail(unsigned q) { return (uint16_t *)(mem + g2off(ring_gpa(q, 1))); }
static uint16_t *used_idx(unsigned q) { return (uint16_t *)(mem + g2off(ring_gpa(q, 2))) + 1; }
static uint32_t *used_elem(unsigned q, unsigned i)
{
    return (uint32_t *)(mem + g2off(ring_gpa(q, 2)) + 4 + 8 * (i % QSIZE));
}

static void dev_setup(void)
{
    mem = calloc(1, MEM_SIZE);
    memset(&vu, 0, sizeof vu);
    vu.mem.nregions = 1;
    vu.mem.regions[0] = (struct gmem_region){ .gpa = MEM_GPA, .size = MEM_SIZE,
                                              .uva = 0x7f0000000000ull, .host = mem };
    for (unsigned q = 0; q < 3; q++) {
        struct virtq *v = &vu.vq[q];
        memset(v, 0, sizeof *v);
        v->size = QSIZE;
        v->desc_uva = 0x7f0000000000ull + g2off(ring_gpa(q, 0));
        v->avail_uva = 0x7f0000000000ull + g2off(ring_gpa(q, 1));
        v->used_uva = 0x7f0000000000ull + g2off(ring_gpa(q, 2));
        v->kick_fd = v->err_fd = -1;
        v->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        v->enabled = 1;
        CHECK_EQ(virtq_setup(v, &vu.mem), 0);
    }
    tx_avail = rx_avail = rx_used_seen = 0;
    alloc_at = MEM_GPA + 0x40000;
    /* post rx buffers: each one descriptor of RXBUF bytes, device-writable */
    for (unsigned i = 0; i < QSIZE; i++) {
        struct desc *d = &descs(0)[i];
        d->addr = MEM_GPA + 0x100000 + (uint64_t)i * RXBUF;
        d->len = RXBUF;
        d->flags = 2; /* WRITE */
        avail(0)[2 + i] = (uint16_t)i;
    }
    rx_avail = QSIZE;
    __atomic_store_n(&avail(0)[1], rx_avail, __ATOMIC_RELEASE);
    dev_engine = fx_engine(2000);
    struct vsock_dev_config cfg = { .guest_cid = GUEST_CID, .engine = dev_engine,
                                    .max_conns = 4, .frame_timeout_ms = 2000,
                                    .send_timeout_ms = 2000 };
    CHECK(cfg.engine != NULL);
    CHECK_EQ(vsock_dev_new(&cfg, &dev), 0);
    vsock_dev_attach(dev, &vu);
}

static void dev_teardown(void)
{
    vsock_dev_free(dev);
    tre_engine_free(dev_engine);
    for (unsigned q = 0; q < 3; q++)
        close(vu.vq[q].call_fd);
    free(mem);
}

/* The guest sends one packet on tx. */
static void guest_send(uint64_t src_cid, uint32_t sport, uint32_t dport, uint16_t op,
                       const void *data, uint32_t len, uint32_t claimed_len, uint32_t buf_alloc,
                       uint32_t fwd_cnt)
{
    uint8_t h[44] = { 0 };
    uint64_t dst = 2;
    uint16_t type = 1;
    memcpy(h, &src_cid, 8);
    memcpy(h + 8, &dst, 8);
    memcpy(h + 16, &sport, 4);
    memcpy(h + 20, &dport, 4);
    memcpy(h + 24, &claimed_len, 4);
    memcpy(h + 28, &type, 2);
    memcpy(h + 30, &op, 2);
    memcpy(h + 36, &buf_alloc, 4);
    memcpy(h + 40, &fwd_cnt, 4);
    if (alloc_at + 44 + len > MEM_GPA + 0x100000)
        alloc_at = MEM_GPA + 0x40000;
    uint64_t gpa = alloc_at;
    memcpy(mem + g2off(gpa), h, 44);
    if (len)
        memcpy(mem + g2off(gpa) + 44, data, len);
    alloc_at += (44 + len + 63) & ~63ull;
    unsigned slot = tx_avail % QSIZE;
    descs(1)[slot] = (struct desc){ gpa, 44 + len, 0, 0 };
    avail(1)[2 + slot] = (uint16_t)slot;
    __atomic_store_n(&avail(1)[1], ++tx_avail, __ATOMIC_RELEASE);
    vsock_dev_ops()->kick(dev, 1);
}

/* One packet the device wrote into rx, or 0 if none within timeout_ms. */
struct pkt { uint32_t src_port, dst_port, len, buf_alloc, fwd_cnt; uint16_t op; uint8_t data[RXBUF]; };

static int guest_recv(struct pkt *p, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        uint16_t used = __atomic_load_n(used_idx(0), __ATOMIC_ACQUIRE);
        if (used != rx_used_seen) {
            uint32_t id = used_elem(0, rx_used_seen)[0];
            uint8_t *b = mem + g2off(descs(0)[id % QSIZE].addr);
            memcpy(&p->src_port, b + 16, 4);
            memcpy(&p->dst_port, b + 20, 4);
            memcpy(&p->len, b + 24, 4);
            memcpy(&p->op, b + 30, 2);
            memcpy(&p->buf_alloc, b + 36, 4);
            memcpy(&p->fwd_cnt, b + 40, 4);
            if (p->len <= RXBUF - 44)
                memcpy(p->data, b + 44, p->len);
            rx_used_seen++;
            /* give the buffer back */
            avail(0)[2 + rx_avail % QSIZE] = (uint16_t)(id % QSIZE);
            __atomic_store_n(&avail(0)[1], ++rx_avail, __ATOMIC_RELEASE);
            return 1;
        }
        struct pollfd pf = { .fd = vsock_dev_event_fd(dev), .events = POLLIN };
        if (poll(&pf, 1, 5) > 0)
            vsock_dev_flush(dev);
        else
            vsock_dev_ops()->kick(dev, 0);
    }
    return 0;
}

static int guest_connect(uint32_t sport, uint32_t dport)
{
    guest_send(GUEST_CID, sport, dport, OP_REQUEST, NULL, 0, 0, 65536, 0);
    struct pkt p;
    if (!guest_recv(&p, 1000))
        return -1;
    return p.op;
}

/* Sends a whole message as RW packets, then collects the reply bytes into out. */
static size_t guest_roundtrip(uint32_t sport, const uint8_t *msg, size_t len, uint8_t *out,
                              size_t cap, uint32_t *fwd)
{
    for (size_t off = 0; off < len;) {
        uint32_t k = len - off > 32768 ? 32768 : (uint32_t)(len - off);
        guest_send(GUEST_CID, sport, TRE_PROTO_VSOCK_PORT, OP_RW, msg + off, k, k, 65536, *fwd);
        off += k;
    }
    size_t got = 0, want = 0;
    struct pkt p;
    while (guest_recv(&p, 3000)) {
        if (p.op == OP_RW && p.len <= RXBUF - 44 && got + p.len <= cap) {
            memcpy(out + got, p.data, p.len);
            got += p.len;
            *fwd += p.len;
        }
        if (got >= TRE_PROTO_HDR_SIZE && !want) {
            struct proto_hdr h;
            if (proto_hdr_decode(out, &h) == 0)
                want = TRE_PROTO_HDR_SIZE + h.len;
        }
        if (want && got >= want)
            break;
    }
    return got;
}

static void test_tre_protocol_over_vsock(void)
{
    NEED_KVM();
    dev_setup();
    CHECK_EQ(guest_connect(5000, TRE_PROTO_VSOCK_PORT), OP_RESPONSE);
    CHECK_EQ(vsock_dev_conns(dev), 1);
    struct fx_image im;
    CHECK_EQ(fx_load("add-free", &im), 0);
    size_t n = proto_exec_req_size(im.img_len, im.sig_len);
    uint8_t *msg = malloc(n), out[8192];
    long len = proto_exec_req_encode(msg, n, 1, im.img, im.img_len, im.sig, im.sig_len);
    uint32_t fwd = 0;
    size_t got = guest_roundtrip(5000, msg, (size_t)len, out, sizeof out, &fwd);
    struct proto_hdr h;
    struct proto_exec_reply er;
    CHECK(got >= TRE_PROTO_HDR_SIZE);
    CHECK_EQ(proto_hdr_decode(out, &h), 0);
    CHECK_EQ(proto_exec_reply_decode(out + TRE_PROTO_HDR_SIZE, h.len, &er), 0);
    CHECK(er.status >= 0);
    int desc = er.status;
    int a = 40, b = 2;
    const void *args[2] = { &a, &b };
    uint32_t alen[2] = { 4, 4 }, cap[1] = { 4 };
    uint8_t m[256];
    len = proto_rpc_req_encode(m, sizeof m, 2, desc, 0, 2, args, alen, 1, cap);
    got = guest_roundtrip(5000, m, (size_t)len, out, sizeof out, &fwd);
    struct proto_rpc_reply rr;
    CHECK_EQ(proto_hdr_decode(out, &h), 0);
    CHECK_EQ(proto_rpc_reply_decode(out + TRE_PROTO_HDR_SIZE, h.len, 1, cap, &rr), 0);
    CHECK_EQ(rr.status, 0);
    int sum = 0;
    if (rr.nresults == 1)
        memcpy(&sum, rr.result[0], 4);
    CHECK_EQ(sum, 42);
    /* the guest goes away (RST): its instance is closed */
    guest_send(GUEST_CID, 5000, TRE_PROTO_VSOCK_PORT, OP_RST, NULL, 0, 0, 65536, fwd);
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        usleep(10000);
        vsock_dev_flush(dev);
        gone = vsock_dev_conns(dev) == 0;
    }
    CHECK(gone);
    free(msg);
    fx_free(&im);
    dev_teardown();
}

static void test_echo_and_bad_packets(void)
{
    NEED_KVM();
    dev_setup();
    struct pkt p;
    /* the echo port */
    CHECK_EQ(guest_connect(6000, VSOCK_ECHO_PORT), OP_RESPONSE);
    guest_send(GUEST_CID, 6000, VSOCK_ECHO_PORT, OP_RW, "hello", 5, 5, 65536, 0);
    int echoed = 0;
    while (guest_recv(&p, 500))
        if (p.op == OP_RW && p.len == 5 && !memcmp(p.data, "hello", 5))
            echoed = 1;
    CHECK(echoed);
    /* no service on this port: RST */
    CHECK_EQ(guest_connect(6001, 9999), OP_RST);
    /* a spoofed source CID: dropped, no answer */
    guest_send(77, 6002, TRE_PROTO_VSOCK_PORT, OP_REQUEST, NULL, 0, 0, 65536, 0);
    CHECK_EQ(guest_recv(&p, 200), 0);
    /* data for no connection: RST */
    guest_send(GUEST_CID, 6003, TRE_PROTO_VSOCK_PORT, OP_RW, "x", 1, 1, 65536, 0);
    CHECK(guest_recv(&p, 500) && p.op == OP_RST);
    /* a header that lies about its length: RST */
    CHECK_EQ(guest_connect(6004, VSOCK_ECHO_PORT), OP_RESPONSE);
    guest_send(GUEST_CID, 6004, VSOCK_ECHO_PORT, OP_RW, "abc", 3, 9999, 65536, 0);
    int rst = 0;
    while (guest_recv(&p, 300))
        rst |= p.op == OP_RST && p.dst_port == 6004;
    CHECK(rst);
    /* more data than the credit it was given: RST */
    CHECK_EQ(guest_connect(6005, TRE_PROTO_VSOCK_PORT), OP_RESPONSE);
    static uint8_t junk[32768];
    memset(junk, 'T', sizeof junk);  /* 'TTTT' is not the protocol magic: but it never */
    for (int i = 0; i < 12; i++)     /* gets that far: 384 KiB > 256 KiB of credit */
        guest_send(GUEST_CID, 6005, TRE_PROTO_VSOCK_PORT, OP_RW, junk, sizeof junk,
                   sizeof junk, 65536, 0);
    rst = 0;
    while (guest_recv(&p, 300))
        rst |= p.op == OP_RST && p.dst_port == 6005;
    CHECK(rst);
    /* an unknown op on an open connection: RST */
    CHECK_EQ(guest_connect(6006, VSOCK_ECHO_PORT), OP_RESPONSE);
    guest_send(GUEST_CID, 6006, VSOCK_ECHO_PORT, 99, NULL, 0, 0, 65536, 0);
    rst = 0;
    while (guest_recv(&p, 300))
        rst |= p.op == OP_RST && p.dst_port == 6006;
    CHECK(rst);
    /* a flood: at most 4 connections; the rest get RST */
    int ok = 0, refused = 0;
    for (uint32_t port = 7000; port < 7010; port++) {
        int op = guest_connect(port, VSOCK_ECHO_PORT);
        ok += op == OP_RESPONSE;
        refused += op == OP_RST;
    }
    CHECK(ok <= 4);
    CHECK(refused >= 6);
    dev_teardown();
}

int main(void)
{
    TEST(test_tre_protocol_over_vsock);
    TEST(test_echo_and_bad_packets);
    TEST_EXIT();
}
