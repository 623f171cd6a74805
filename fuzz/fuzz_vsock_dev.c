/* fuzz/fuzz_vsock_dev.c — libFuzzer target for the vsock device's packet handling
 * (src/vsock/vsock_dev.c, with virtq, gmem, door/stream, door/session and the engine under
 * it). Like tests/test_vsock_dev.c it plays the guest's virtio-vsock driver on rings in a
 * fake guest memory (no QEMU, no vhost-user socket): per input a fresh guest memory with
 * the rx and tx rings, a fresh engine (tre_engine_new with no config) and a fresh device
 * (guest CID 3, 4 connections, 50 ms frame and send timeouts).
 *
 * The input is a script of commands, each starting with a selector byte s:
 *   s & 7 != 0: a packet on tx, op = s & 7; guest port (s >> 3) & 3 of {5000, 5001, 5002,
 *     0xffffffff}; host port (s >> 5) & 3 of {7300 (TRE), 7301 (echo), 9999, 0}; if s has
 *     bit 7, a modifier byte m follows:
 *       m & 3         0 honest CIDs and type, 1 spoofed src_cid, 2 wrong dst_cid, 3 type 2
 *       (m >> 2) & 3  0 honest len, 1 len + (s8 byte), 2 len = u32, 3 op = u16 (any value)
 *       (m >> 4) & 3  the chain: 0 one descriptor, 1 header | payload, 2 cut at a u8
 *                     fraction (0xf0 and up: only the first 4 * (u8 - 0xf0) bytes go),
 *                     3 cut inside the header plus a writable descriptor
 *       m & 0x40      a big payload: u16 * 2 bytes (up to 128 KiB), the input's bytes
 *                     repeated (more than VSOCK_MAX_PKT, or more than the credit)
 *       m & 0x80      raw buf_alloc, fwd_cnt and flags (3 x u32) instead of the defaults
 *                     (buf_alloc 64 KiB, fwd_cnt = the RW bytes this guest received on
 *                     the port pair, SHUTDOWN flags from the length word)
 *     then a u16 w: the payload is the next (w & 0x7ff) input bytes, (w >> 11) & 3 the
 *     SHUTDOWN flags. The packet goes in the tx ring and the device is kicked (queue 1).
 *   s & 7 == 0: a driver action by (s >> 3) & 7, with a = s >> 6:
 *     0 post rx buffers: u8 count, u8 layout (one 4 KiB segment; a tiny one, shorter than
 *       a header or not; two segments, the header cut; a readable one then a writable one)
 *     1 automatic re-posting of returned rx buffers on (a & 1) or off
 *     2 vsock_dev_flush   3 kick queue 0   4 wait up to 1, 2, 4 or 60 ms (past the frame
 *     and send timeouts; 70 ms in all per input) for the event fd, then flush
 *     5 toggle vsock_dev_frontend_busy   6 vsock_dev_conns <= max_conns, and if a == 3 the
 *     reset op first (then no connection is left)   7 get_config (u8 offset, u8 length:
 *     the guest CID) and kick queue 2
 * After every command the driver takes back what the device returned on rx. At most 64
 * packets and 256 commands per input.
 *
 * Properties: no crash, no leak, no hang; the device consumes every tx chain at once; every
 * rx buffer comes back at most once, with src_cid 2, dst_cid 3, type 1, op 1..7, a payload
 * only on RW, 44 + len == the used length <= the buffer's writable bytes (and 0 for a
 * buffer too short for a header), buf_alloc 256 KiB (but on a RST); and the device writes
 * nothing but those bytes: every rx slot is filled with a pattern around and inside its
 * segments, checked when the buffer comes back, before it is posted again, and at the end
 * for every slot (after vsock_dev_free has joined the workers, a buffer never returned is
 * intact).
 * Seeds: fuzz/corpus/vsock_dev.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE
 *        -Iinclude -Isrc fuzz/fuzz_vsock_dev.c LIB -lcrypto -lsodium -lcapstone -lpthread -lrt
 *        where LIB is every library source: src/DIR/FILE.c for every DIR but cli
 * Run:   ./a.out fuzz/corpus/vsock_dev -max_len=65536 -timeout=10 */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "trevisor/engine.h"
#include "trevisor/proto.h"
#include "util/log.h"
#include "vsock/vhost_user.h"
#include "vsock/vsock_dev.h"

#define FZ_GUEST_CID  3
#define FZ_MAX_CONNS  4
#define FZ_GPA        0x100000ull
#define FZ_UVA        0x7f0000000000ull
#define FZ_HDR        44

#define FZ_RXQ        64      /* rx: 16 slots of up to 3 descriptors (head 3 * slot) */
#define FZ_TXQ        16      /* tx: one chain at a time, descriptors 0..2 */
#define FZ_SLOTS      16
#define FZ_SLOT_SIZE  8192    /* each rx buffer's area; segments keep FZ_EDGE from its ends */
#define FZ_EDGE       64
#define FZ_MAX_PKTS   64
#define FZ_MAX_CMDS   256
#define FZ_MAX_WAIT_MS 70

/* guest memory layout (offsets from FZ_GPA) */
#define FZ_RX_DESC    0x0000
#define FZ_RX_AVAIL   0x0400
#define FZ_RX_USED    0x0800
#define FZ_TX_DESC    0x1000
#define FZ_TX_AVAIL   0x1400
#define FZ_TX_USED    0x1800
#define FZ_RX_AREA    0x2000
#define FZ_TX_AREA    (FZ_RX_AREA + FZ_SLOTS * FZ_SLOT_SIZE)
#define FZ_BIG_MAX    (2u * 0xffffu)
#define FZ_TX_SIZE    (FZ_HDR + FZ_BIG_MAX + 4 * 64)
#define FZ_MEM_SIZE   (FZ_TX_AREA + FZ_TX_SIZE)

#define FZ_DESC_NEXT  1
#define FZ_DESC_WRITE 2

enum { OP_INVALID, OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };

static const uint32_t fz_guest_ports[4] = { 5000, 5001, 5002, 0xffffffffu };
static const uint32_t fz_host_ports[4] = { TRE_PROTO_VSOCK_PORT, VSOCK_ECHO_PORT, 9999, 0 };

struct fz_seg {
    uint32_t off, len;  /* offset in guest memory */
    int write;
};

struct fz_slot {
    int posted;         /* 1: the device has it */
    uint8_t layout;
    unsigned nseg;
    struct fz_seg seg[3];
};

struct fz {
    uint8_t *mem;
    struct vhost_user vu;
    struct vsock_dev *dev;
    struct tre_engine *eng;
    uint16_t tx_avail, rx_avail, rx_used_seen;
    struct fz_slot slot[FZ_SLOTS];
    int auto_post, busy;
    unsigned waited_ms;
    uint32_t fwd[4][4];  /* RW bytes received per (guest port, host port) index */
};

static uint8_t fz_pkt[FZ_HDR + FZ_BIG_MAX];

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

/* ---- the input ---- */

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static uint8_t in_u8(struct fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint16_t in_u16(struct fz_in *in)
{
    uint16_t lo = in_u8(in);
    return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

static uint32_t in_u32(struct fz_in *in)
{
    uint32_t lo = in_u16(in);
    return lo | (uint32_t)in_u16(in) << 16;
}

/* ---- guest memory ---- */

/* The pattern of every byte of guest memory, made once (a loop per byte would cost the
 * coverage instrumentation a comparison each). */
static uint8_t fz_pattern[FZ_MEM_SIZE];

static void fz_pattern_init(void)
{
    for (uint32_t i = 0; i < FZ_MEM_SIZE; i++)
        fz_pattern[i] = (uint8_t)(0x5a + i * 7 + (i >> 8));
}

static void fz_fill(struct fz *f, uint32_t off, uint32_t len)
{
    memcpy(f->mem + off, fz_pattern + off, len);
}

/* 1 if [off, off+len) still holds the pattern. */
static int fz_intact(const struct fz *f, uint32_t off, uint32_t len)
{
    return memcmp(f->mem + off, fz_pattern + off, len) == 0;
}

static uint32_t fz_slot_base(unsigned i)
{
    return FZ_RX_AREA + i * FZ_SLOT_SIZE;
}

static void fz_desc(struct fz *f, uint32_t table, unsigned idx, uint32_t off, uint32_t len,
                    uint16_t flags, uint16_t next)
{
    uint8_t *d = f->mem + table + 16 * idx;
    uint64_t addr = FZ_GPA + off;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static uint16_t *fz_avail_ring(struct fz *f, uint32_t avail, unsigned i)
{
    return (uint16_t *)(f->mem + avail + 4 + 2 * i);
}

static uint16_t *fz_avail_idx(struct fz *f, uint32_t avail)
{
    return (uint16_t *)(f->mem + avail + 2);
}

static uint16_t fz_used_idx(struct fz *f, uint32_t used)
{
    return __atomic_load_n((uint16_t *)(f->mem + used + 2), __ATOMIC_ACQUIRE);
}

static void fz_used_elem(struct fz *f, uint32_t used, unsigned i, uint32_t *id, uint32_t *len)
{
    const uint8_t *e = f->mem + used + 4 + 8 * i;
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

/* ---- rx: the driver's buffers ---- */

/* Gives slot i (the driver's) to the device, laid out by layout. */
static void fz_post(struct fz *f, unsigned i, uint8_t layout)
{
    struct fz_slot *s = &f->slot[i];
    uint32_t base = fz_slot_base(i);
    fuzz_check(!s->posted);
    /* nothing wrote into it while the driver had it */
    fuzz_check(fz_intact(f, base, FZ_SLOT_SIZE));
    s->layout = layout;
    uint32_t a = layout >> 2; /* 0..63 */
    switch (layout & 3) {
    case 0:
        s->nseg = 1;
        s->seg[0] = (struct fz_seg){ base + FZ_EDGE, 4096, 1 };
        break;
    case 1:     /* tiny: shorter than a header, or just enough (0 is an empty descriptor) */
        s->nseg = 1;
        s->seg[0] = (struct fz_seg){ base + FZ_EDGE, a, 1 };
        break;
    case 2:     /* the header cut over two segments, a gap between them */
        s->nseg = 2;
        s->seg[0] = (struct fz_seg){ base + FZ_EDGE, a, 1 };
        s->seg[1] = (struct fz_seg){ base + FZ_EDGE + a + 32, 2048, 1 };
        break;
    default:    /* a device-readable segment first: the device must not write it */
        s->nseg = 2;
        s->seg[0] = (struct fz_seg){ base + FZ_EDGE, 32, 0 };
        s->seg[1] = (struct fz_seg){ base + FZ_EDGE + 64, 64 + 32 * a, 1 };
        break;
    }
    for (unsigned k = 0; k < s->nseg; k++) {
        fuzz_check(s->seg[k].off + s->seg[k].len <= base + FZ_SLOT_SIZE - FZ_EDGE);
        fz_desc(f, FZ_RX_DESC, 3 * i + k, s->seg[k].off, s->seg[k].len,
                (uint16_t)((s->seg[k].write ? FZ_DESC_WRITE : 0) |
                           (k + 1 < s->nseg ? FZ_DESC_NEXT : 0)),
                (uint16_t)(3 * i + k + 1));
    }
    s->posted = 1;
    *fz_avail_ring(f, FZ_RX_AVAIL, f->rx_avail % FZ_RXQ) = (uint16_t)(3 * i);
    f->rx_avail++;
    __atomic_store_n(fz_avail_idx(f, FZ_RX_AVAIL), f->rx_avail, __ATOMIC_RELEASE);
}

static int fz_port_index(const uint32_t *set, uint32_t port)
{
    for (int i = 0; i < 4; i++)
        if (set[i] == port)
            return i;
    return -1;
}

/* Checks one buffer the device returned, with `written` bytes used. */
static void fz_check_rx(struct fz *f, unsigned i, uint32_t written)
{
    struct fz_slot *s = &f->slot[i];
    uint32_t base = fz_slot_base(i), cap = 0;
    for (unsigned k = 0; k < s->nseg; k++)
        if (s->seg[k].write)
            cap += s->seg[k].len;
    fuzz_check(written <= cap);
    if (cap < FZ_HDR) {
        /* too short for a header: handed back empty */
        fuzz_check(written == 0);
        fuzz_check(fz_intact(f, base, FZ_SLOT_SIZE));
        return;
    }
    fuzz_check(written >= FZ_HDR);
    /* the bytes the device wrote, gathered; everything else must be intact */
    static uint8_t b[FZ_SLOT_SIZE];
    uint32_t got = 0, prev = base;
    for (unsigned k = 0; k < s->nseg; k++) {
        const struct fz_seg *g = &s->seg[k];
        fuzz_check(fz_intact(f, prev, g->off - prev));
        prev = g->off + g->len;
        if (!g->write) {
            fuzz_check(fz_intact(f, g->off, g->len));
            continue;
        }
        uint32_t take = written - got < g->len ? written - got : g->len;
        memcpy(b + got, f->mem + g->off, take);
        got += take;
        fuzz_check(fz_intact(f, g->off + take, g->len - take));
    }
    fuzz_check(fz_intact(f, prev, base + FZ_SLOT_SIZE - prev));
    fuzz_check(got == written);

    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len, buf_alloc;
    uint16_t type, op;
    memcpy(&src_cid, b, 8);
    memcpy(&dst_cid, b + 8, 8);
    memcpy(&src_port, b + 16, 4);
    memcpy(&dst_port, b + 20, 4);
    memcpy(&len, b + 24, 4);
    memcpy(&type, b + 28, 2);
    memcpy(&op, b + 30, 2);
    memcpy(&buf_alloc, b + 36, 4);
    fuzz_check(src_cid == VSOCK_HOST_CID);
    fuzz_check(dst_cid == FZ_GUEST_CID);
    fuzz_check(type == 1);
    fuzz_check(op >= OP_REQUEST && op <= OP_CREDIT_REQUEST);
    fuzz_check(len <= cap - FZ_HDR && (uint64_t)FZ_HDR + len == written);
    fuzz_check(op == OP_RW || len == 0);
    fuzz_check(op == OP_RST || buf_alloc == VSOCK_BUF_ALLOC);
    int gp = fz_port_index(fz_guest_ports, dst_port), hp = fz_port_index(fz_host_ports, src_port);
    if (op == OP_RW && gp >= 0 && hp >= 0)
        f->fwd[gp][hp] += len;
}

/* Takes back every buffer the device returned on rx; re-posts them if repost. */
static void fz_recv(struct fz *f, int repost)
{
    uint16_t used = fz_used_idx(f, FZ_RX_USED);
    unsigned posted = 0;
    for (unsigned i = 0; i < FZ_SLOTS; i++)
        posted += (unsigned)f->slot[i].posted;
    /* never more than the driver gave */
    fuzz_check((uint16_t)(used - f->rx_used_seen) <= posted);
    while (f->rx_used_seen != used) {
        uint32_t id, written;
        fz_used_elem(f, FZ_RX_USED, f->rx_used_seen % FZ_RXQ, &id, &written);
        f->rx_used_seen++;
        /* a head the driver posted, and still the device's */
        fuzz_check(id % 3 == 0 && id / 3 < FZ_SLOTS && f->slot[id / 3].posted);
        unsigned i = id / 3;
        fz_check_rx(f, i, written);
        f->slot[i].posted = 0;
        fz_fill(f, fz_slot_base(i), FZ_SLOT_SIZE);
        if (repost)
            fz_post(f, i, f->slot[i].layout);
    }
}

/* ---- tx: the guest's packets ---- */

static void fz_send(struct fz *f, uint8_t sel, struct fz_in *in)
{
    uint16_t op = sel & 7;
    unsigned gp = (sel >> 3) & 3, hp = (sel >> 5) & 3;
    uint8_t m = (sel & 0x80) ? in_u8(in) : 0;
    uint64_t src_cid = FZ_GUEST_CID, dst_cid = VSOCK_HOST_CID;
    uint16_t type = 1;
    switch (m & 3) {
    case 1: src_cid = 77; break;
    case 2: dst_cid = FZ_GUEST_CID; break;
    case 3: type = 2; break;
    default: break;
    }
    unsigned lenmode = (m >> 2) & 3, split = (m >> 4) & 3;
    int8_t delta = 0;
    uint32_t raw_len = 0;
    if (lenmode == 1)
        delta = (int8_t)in_u8(in);
    else if (lenmode == 2)
        raw_len = in_u32(in);
    else if (lenmode == 3)
        op = in_u16(in);
    uint8_t cut = split == 2 ? in_u8(in) : 0;
    uint32_t buf_alloc = 65536, fwd_cnt = f->fwd[gp][hp], flags = 0;
    int raw_credit = (m & 0x80) != 0;
    if (raw_credit) {
        buf_alloc = in_u32(in);
        fwd_cnt = in_u32(in);
        flags = in_u32(in);
    }
    uint32_t big = (m & 0x40) ? 2u * in_u16(in) : 0;
    uint16_t w = in_u16(in);
    if (!raw_credit && op == OP_SHUTDOWN)
        flags = (w >> 11) & 3;
    size_t chunk = w & 0x7ff;
    if (chunk > in->n)
        chunk = in->n;
    const uint8_t *data = in->p;
    in->p += chunk;
    in->n -= chunk;

    uint32_t plen = (uint32_t)chunk;
    if (m & 0x40) {
        plen = big;
        if (!chunk) {
            memset(fz_pkt + FZ_HDR, 'T', plen);
        } else {    /* the chunk, repeated: copies of what is there already */
            uint32_t have = plen < chunk ? plen : (uint32_t)chunk;
            memcpy(fz_pkt + FZ_HDR, data, have);
            while (have < plen) {
                uint32_t k = plen - have < have ? plen - have : have;
                memcpy(fz_pkt + FZ_HDR + have, fz_pkt + FZ_HDR, k);
                have += k;
            }
        }
    } else if (chunk) {
        memcpy(fz_pkt + FZ_HDR, data, chunk);
    }
    uint32_t len = plen;
    if (lenmode == 1)
        len = (uint32_t)((int64_t)plen + delta);
    else if (lenmode == 2)
        len = raw_len;
    if (op == OP_REQUEST && !raw_credit)
        f->fwd[gp][hp] = fwd_cnt = 0;   /* a new connection: nothing received yet */

    uint8_t *h = fz_pkt;
    memcpy(h, &src_cid, 8);
    memcpy(h + 8, &dst_cid, 8);
    memcpy(h + 16, &fz_guest_ports[gp], 4);
    memcpy(h + 20, &fz_host_ports[hp], 4);
    memcpy(h + 24, &len, 4);
    memcpy(h + 28, &type, 2);
    memcpy(h + 30, &op, 2);
    memcpy(h + 32, &flags, 4);
    memcpy(h + 36, &buf_alloc, 4);
    memcpy(h + 40, &fwd_cnt, 4);

    /* the chain: cuts of the packet, each at its own place in the tx area */
    uint32_t total = FZ_HDR + plen, cuts[4] = { 0, total, total, total };
    unsigned nread = 1;
    switch (split) {
    case 1:
        cuts[1] = FZ_HDR;
        nread = 2;
        break;
    case 2:
        if (cut >= 0xf0) {  /* truncated: only the first 0..60 bytes */
            uint32_t keep = 4u * (cut - 0xf0u);
            cuts[1] = keep < total ? keep : total;
            nread = 1;
        } else {
            cuts[1] = (uint32_t)((uint64_t)total * cut / 0xef);
            nread = 2;
        }
        break;
    case 3:
        cuts[1] = 20;
        nread = 2;
        break;
    default:
        break;
    }
    uint32_t at = FZ_TX_AREA;
    unsigned nd = 0;
    for (unsigned k = 0; k < nread; k++) {
        uint32_t n = cuts[k + 1] - cuts[k];
        memcpy(f->mem + at, fz_pkt + cuts[k], n);
        int last = k + 1 == nread && split != 3;
        fz_desc(f, FZ_TX_DESC, nd, at, n, last ? 0 : FZ_DESC_NEXT, (uint16_t)(nd + 1));
        nd++;
        at += (n + 64) & ~31u;
    }
    if (split == 3)     /* a writable tail: the device reads tx chains only */
        fz_desc(f, FZ_TX_DESC, nd++, at, 32, FZ_DESC_WRITE, 0);
    fuzz_check(at + 32 <= FZ_TX_AREA + FZ_TX_SIZE);
    *fz_avail_ring(f, FZ_TX_AVAIL, f->tx_avail % FZ_TXQ) = 0;
    f->tx_avail++;
    __atomic_store_n(fz_avail_idx(f, FZ_TX_AVAIL), f->tx_avail, __ATOMIC_RELEASE);
    vsock_dev_ops()->kick(f->dev, 1);
    /* the device took the chain at once and gave it back */
    fuzz_check(!f->vu.vq[1].broken);
    fuzz_check(fz_used_idx(f, FZ_TX_USED) == f->tx_avail);
    uint32_t id, written;
    fz_used_elem(f, FZ_TX_USED, (uint16_t)(f->tx_avail - 1) % FZ_TXQ, &id, &written);
    fuzz_check(id == 0 && written == 0);
}

/* ---- driver actions ---- */

static void fz_action(struct fz *f, uint8_t sel, struct fz_in *in)
{
    unsigned a = sel >> 6;
    switch ((sel >> 3) & 7) {
    case 0: {
        unsigned n = in_u8(in) % FZ_SLOTS + 1;
        uint8_t layout = in_u8(in);
        for (unsigned i = 0; i < FZ_SLOTS && n; i++)
            if (!f->slot[i].posted) {
                fz_post(f, i, layout);
                n--;
            }
        break;
    }
    case 1:
        f->auto_post = a & 1;
        break;
    case 2:
        vsock_dev_flush(f->dev);
        break;
    case 3:
        vsock_dev_ops()->kick(f->dev, 0);
        break;
    case 4: {
        unsigned ms = a == 3 ? 60 : 1u << a;  /* 60: past the frame and send timeouts */
        if (f->waited_ms + ms > FZ_MAX_WAIT_MS)
            break;
        f->waited_ms += ms;
        struct pollfd pf = { .fd = vsock_dev_event_fd(f->dev), .events = POLLIN };
        if (poll(&pf, 1, (int)ms) > 0)
            vsock_dev_flush(f->dev);
        break;
    }
    case 5:
        f->busy = !f->busy;
        vsock_dev_frontend_busy(f->dev, f->busy);
        break;
    case 6:
        if (a == 3) {   /* the front end resets the device: every connection goes */
            vsock_dev_ops()->reset(f->dev);
            fuzz_check(vsock_dev_conns(f->dev) == 0);
        }
        fuzz_check(vsock_dev_conns(f->dev) <= FZ_MAX_CONNS);
        break;
    default: {
        uint8_t cfg[16];
        uint64_t cid = FZ_GUEST_CID;
        unsigned off = in_u8(in) % 12, len = in_u8(in) % 12;
        size_t n = vsock_dev_ops()->get_config(f->dev, off, cfg, len);
        fuzz_check(n == (off < 8 ? (8 - off < len ? 8 - off : len) : 0));
        fuzz_check(memcmp(cfg, (const uint8_t *)&cid + off, n) == 0);
        vsock_dev_ops()->kick(f->dev, 2);
        break;
    }
    }
}

/* ---- set-up ---- */

static void fz_setup(struct fz *f)
{
    memset(f, 0, sizeof *f);
    f->mem = calloc(1, FZ_MEM_SIZE);
    fuzz_check(f->mem != NULL);
    for (unsigned i = 0; i < FZ_SLOTS; i++)
        fz_fill(f, fz_slot_base(i), FZ_SLOT_SIZE);
    f->vu.fd = -1;
    f->vu.mem.nregions = 1;
    f->vu.mem.regions[0] = (struct gmem_region){ .gpa = FZ_GPA, .size = FZ_MEM_SIZE,
                                                 .uva = FZ_UVA, .host = f->mem };
    static const uint32_t rings[2][3] = { { FZ_RX_DESC, FZ_RX_AVAIL, FZ_RX_USED },
                                          { FZ_TX_DESC, FZ_TX_AVAIL, FZ_TX_USED } };
    for (unsigned q = 0; q < VHOST_USER_MAX_QUEUES; q++) {
        struct virtq *v = &f->vu.vq[q];
        virtq_init(v);
        if (q >= 2)
            continue;   /* the event queue: never set up */
        v->size = q == 0 ? FZ_RXQ : FZ_TXQ;
        v->desc_uva = FZ_UVA + rings[q][0];
        v->avail_uva = FZ_UVA + rings[q][1];
        v->used_uva = FZ_UVA + rings[q][2];
        v->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        fuzz_check(v->call_fd >= 0);
        v->enabled = 1;
        fuzz_check(virtq_setup(v, &f->vu.mem) == 0);
    }
    char err[256];
    fuzz_check(tre_engine_new(NULL, &f->eng, err, sizeof err) == 0);
    struct vsock_dev_config cfg = { .guest_cid = FZ_GUEST_CID, .engine = f->eng,
                                    .max_conns = FZ_MAX_CONNS, .frame_timeout_ms = 50,
                                    .send_timeout_ms = 50 };
    fuzz_check(vsock_dev_new(&cfg, &f->dev) == 0);
    vsock_dev_attach(f->dev, &f->vu);
    f->auto_post = 1;
}

static void fz_teardown(struct fz *f)
{
    fz_recv(f, 0);
    vsock_dev_free(f->dev);         /* joins every worker: nothing writes any more */
    fz_recv(f, 0);
    fuzz_check(!f->vu.vq[0].broken && !f->vu.vq[1].broken);
    /* every buffer not returned is untouched, and so is every returned one */
    for (unsigned i = 0; i < FZ_SLOTS; i++)
        fuzz_check(fz_intact(f, fz_slot_base(i), FZ_SLOT_SIZE));
    tre_engine_free(f->eng);
    for (unsigned q = 0; q < VHOST_USER_MAX_QUEUES; q++)
        if (f->vu.vq[q].call_fd >= 0)
            close(f->vu.vq[q].call_fd);
    free(f->mem);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tlog_set_quiet(1);
    fz_pattern_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    fz_setup(&f);
    /* the driver starts with 8 buffers of 4 KiB; the script may post the rest */
    for (unsigned i = 0; i < 8; i++)
        fz_post(&f, i, 0);
    struct fz_in in = { data, size };
    unsigned pkts = 0;
    for (unsigned cmds = 0; in.n && cmds < FZ_MAX_CMDS && pkts < FZ_MAX_PKTS; cmds++) {
        uint8_t sel = in_u8(&in);
        if (sel & 7) {
            fz_send(&f, sel, &in);
            pkts++;
        } else {
            fz_action(&f, sel, &in);
        }
        fz_recv(&f, f.auto_post);
    }
    fz_teardown(&f);
    return 0;
}
