/* tests/test_virtq.c — the split virtqueue walker (src/vsock/virtq.c) against rings laid
 * out by hand in a fake guest memory (one gmem region over a test buffer): good chains of
 * one and several segments, push/used idx and notify through an eventfd, index wrap-around;
 * then every way a guest can break a ring (descriptor loops, out-of-range head or next,
 * avail idx jumping, length sums over the limit, buffers outside memory, writable then
 * readable, INDIRECT, chains over VIRTQ_MAX_SEGS, ring addresses that do not fit). A
 * broken ring must log one line, signal the err eventfd and never be walked again. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "util/log.h"
#include "vsock/gmem.h"
#include "vsock/virtq.h"

#define MEM_SIZE    0x40000u
#define MEM_GPA     0x100000ull
#define MEM_UVA     0x7f1200000000ull
#define DESC_OFF    0x0000u
#define AVAIL_OFF   0x4000u
#define USED_OFF    0x6000u
#define BUF_OFF     0x10000u

#define F_NEXT      1
#define F_WRITE     2
#define F_INDIRECT  4

static uint8_t mem[MEM_SIZE] __attribute__((aligned(4096)));
static struct gmem gm;
static int log_lines;

static void log_sink(void *ctx, const char *line)
{
    (void)ctx;
    if (strstr(line, "vsock"))
        log_lines++;
}

/* ---- building guest memory by hand (little-endian, as the guest writes it) ---- */

static void put16(uint32_t off, uint16_t v) { memcpy(mem + off, &v, 2); }
static void put32(uint32_t off, uint32_t v) { memcpy(mem + off, &v, 4); }
static void put64(uint32_t off, uint64_t v) { memcpy(mem + off, &v, 8); }
static uint16_t get16(uint32_t off) { uint16_t v; memcpy(&v, mem + off, 2); return v; }
static uint32_t get32(uint32_t off) { uint32_t v; memcpy(&v, mem + off, 4); return v; }

static void desc(unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
    uint32_t o = DESC_OFF + 16 * i;
    put64(o, gpa);
    put32(o + 8, len);
    put16(o + 12, flags);
    put16(o + 14, next);
}

static uint16_t avail_idx;

/* Offers head at the next avail slot of a ring of size n. */
static void offer(uint16_t n, uint16_t head)
{
    put16(AVAIL_OFF + 4 + 2 * (avail_idx & (n - 1)), head);
    avail_idx++;
    put16(AVAIL_OFF + 2, avail_idx);
}

static uint64_t buf_gpa(uint32_t off) { return MEM_GPA + BUF_OFF + off; }

/* A fresh memory and a queue of size n over it (set up, not broken). */
static void fresh(struct virtq *q, uint16_t n)
{
    memset(mem, 0, sizeof mem);
    memset(&gm, 0, sizeof gm);
    gm.nregions = 1;
    gm.regions[0].gpa = MEM_GPA;
    gm.regions[0].size = MEM_SIZE;
    gm.regions[0].uva = MEM_UVA;
    gm.regions[0].host = mem;       /* no map_base: gmem_clear leaves it alone */
    avail_idx = 0;
    virtq_init(q);
    q->size = n;
    q->desc_uva = MEM_UVA + DESC_OFF;
    q->avail_uva = MEM_UVA + AVAIL_OFF;
    q->used_uva = MEM_UVA + USED_OFF;
    CHECK_EQ(virtq_setup(q, &gm), 0);
    log_lines = 0;
}

/* The queue is broken now, logged once, and stays so. */
static void expect_broken(struct virtq *q)
{
    struct virtq_elem e;
    uint16_t last = q->last_avail;
    CHECK_EQ(virtq_pop(q, &gm, &e), -EINVAL);
    CHECK(q->broken);
    CHECK_EQ(q->last_avail, last);
    CHECK_EQ(log_lines, 1);
    CHECK_EQ(virtq_pop(q, &gm, &e), -EINVAL);
    CHECK_EQ(log_lines, 1);
    /* a broken ring is not written either */
    uint16_t used = get16(USED_OFF + 2);
    virtq_push(q, 0, 1);
    CHECK_EQ(get16(USED_OFF + 2), used);
}

/* ---- set-up ---- */

static void test_setup_translates(void)
{
    struct virtq q;
    fresh(&q, 8);
    CHECK(q.desc == mem + DESC_OFF);
    CHECK(q.avail == mem + AVAIL_OFF);
    CHECK(q.used == mem + USED_OFF);
    CHECK_EQ(q.used_idx, 0);

    /* a restarted ring resumes at the used ring's index */
    put16(USED_OFF + 2, 77);
    CHECK_EQ(virtq_setup(&q, &gm), 0);
    CHECK_EQ(q.used_idx, 77);

    /* the biggest ring at the very end of memory fits exactly */
    q.size = VIRTQ_MAX_SIZE;
    q.desc_uva = MEM_UVA + MEM_SIZE - 16 * VIRTQ_MAX_SIZE;
    q.avail_uva = MEM_UVA + MEM_SIZE - 16 * VIRTQ_MAX_SIZE - (6 + 2 * VIRTQ_MAX_SIZE) - 2;
    q.used_uva = MEM_UVA + 0x8000;
    CHECK_EQ(virtq_setup(&q, &gm), 0);
}

static void setup_refused(uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    struct virtq q;
    fresh(&q, 8);
    q.size = size;
    q.desc_uva = desc;
    q.avail_uva = avail;
    q.used_uva = used;
    CHECK_EQ(virtq_setup(&q, &gm), -EINVAL);
    CHECK(q.desc == NULL && q.avail == NULL && q.used == NULL);
    struct virtq_elem e;
    CHECK_EQ(virtq_pop(&q, &gm, &e), 0);    /* not started: nothing to take */
}

static void test_setup_refusals(void)
{
    uint64_t d = MEM_UVA + DESC_OFF, a = MEM_UVA + AVAIL_OFF, u = MEM_UVA + USED_OFF;
    uint64_t end = MEM_UVA + MEM_SIZE;

    setup_refused(0, d, a, u);
    setup_refused(3, d, a, u);                          /* not a power of two */
    setup_refused(96, d, a, u);
    setup_refused(2 * VIRTQ_MAX_SIZE, d, a, u);         /* too big */
    setup_refused(8, MEM_GPA + DESC_OFF, a, u);         /* a GPA is not a ring address */
    setup_refused(8, MEM_UVA - 16, a, u);               /* starts before memory */
    setup_refused(8, end - 16 * 8 + 16, a, u);          /* desc table runs past the end */
    setup_refused(8, d, end - (6 + 2 * 8) + 2, u);      /* avail ring runs past the end */
    setup_refused(8, d, a, end - (6 + 8 * 8) + 4);      /* used ring runs past the end */
    setup_refused(8, d, a, UINT64_MAX - 8);             /* wraps */
    setup_refused(8, d + 8, a, u);                      /* misaligned desc (16) */
    setup_refused(8, d, a + 1, u);                      /* misaligned avail (2) */
    setup_refused(8, d, a, u + 2);                      /* misaligned used (4) */
}

/* ---- good chains ---- */

static void test_pop_empty(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 8);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 0);
    CHECK(!q.broken);
    CHECK_EQ(log_lines, 0);
}

static void test_pop_one_segment(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 8);
    memcpy(mem + BUF_OFF, "hello", 5);
    desc(3, buf_gpa(0), 5, 0, 0);
    offer(8, 3);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK_EQ(e.head, 3);
    CHECK_EQ(e.nsegs, 1);
    CHECK_EQ(e.nread, 1);
    CHECK(e.seg[0].ptr == mem + BUF_OFF);
    CHECK_EQ(e.seg[0].len, 5);
    CHECK(memcmp(e.seg[0].ptr, "hello", 5) == 0);
    CHECK_EQ(q.last_avail, 1);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 0);
    CHECK_EQ(log_lines, 0);
}

static void test_pop_chain(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 8);
    /* 2 readable, an empty one (no segment), 2 writable, in a scattered order */
    desc(5, buf_gpa(0x000), 44, F_NEXT, 2);
    desc(2, buf_gpa(0x100), 10, F_NEXT, 7);
    desc(7, buf_gpa(0), 0, F_NEXT | F_WRITE, 0);
    desc(0, buf_gpa(0x200), 4096, F_NEXT | F_WRITE, 1);
    desc(1, buf_gpa(0x2000), 100, F_WRITE, 6);      /* no NEXT: next is ignored */
    offer(8, 5);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK_EQ(e.head, 5);
    CHECK_EQ(e.nsegs, 4);
    CHECK_EQ(e.nread, 2);
    CHECK(e.seg[0].ptr == mem + BUF_OFF && e.seg[0].len == 44);
    CHECK(e.seg[1].ptr == mem + BUF_OFF + 0x100 && e.seg[1].len == 10);
    CHECK(e.seg[2].ptr == mem + BUF_OFF + 0x200 && e.seg[2].len == 4096);
    CHECK(e.seg[3].ptr == mem + BUF_OFF + 0x2000 && e.seg[3].len == 100);

    /* only writable: nread 0 */
    desc(4, buf_gpa(0x3000), 8, F_WRITE, 0);
    offer(8, 4);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK_EQ(e.nsegs, 1);
    CHECK_EQ(e.nread, 0);
    CHECK_EQ(log_lines, 0);
}

static void test_max_segs(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 256);
    for (unsigned i = 0; i < VIRTQ_MAX_SEGS; i++)
        desc(i, buf_gpa(i), 1, i + 1 < VIRTQ_MAX_SEGS ? F_NEXT : 0, (uint16_t)(i + 1));
    offer(256, 0);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK_EQ(e.nsegs, VIRTQ_MAX_SEGS);
    CHECK(e.seg[VIRTQ_MAX_SEGS - 1].ptr == mem + BUF_OFF + VIRTQ_MAX_SEGS - 1);

    /* one more descriptor is refused, even though the ring is big enough for it */
    desc(VIRTQ_MAX_SEGS - 1, buf_gpa(0), 1, F_NEXT, VIRTQ_MAX_SEGS);
    desc(VIRTQ_MAX_SEGS, buf_gpa(0), 1, 0, 0);
    offer(256, 0);
    expect_broken(&q);
}

static void test_push_and_notify(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 8);
    q.call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(q.call_fd >= 0);
    desc(6, buf_gpa(0), 64, F_WRITE, 0);
    offer(8, 6);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    virtq_push(&q, e.head, 33);
    CHECK_EQ(get16(USED_OFF + 2), 1);
    CHECK_EQ(get32(USED_OFF + 4), 6);
    CHECK_EQ(get32(USED_OFF + 8), 33);
    CHECK_EQ(q.used_idx, 1);

    virtq_notify(&q);
    uint64_t v = 0;
    CHECK_EQ(read(q.call_fd, &v, sizeof v), 8);
    CHECK_EQ(v, 1);

    /* the driver asked for no interrupts: none */
    put16(AVAIL_OFF, 1);
    virtq_notify(&q);
    CHECK_EQ(read(q.call_fd, &v, sizeof v), -1);
    CHECK_EQ(errno, EAGAIN);
    put16(AVAIL_OFF, 0);

    /* a head the device never had (a device bug) is not written */
    virtq_push(&q, 8, 1);
    CHECK_EQ(get16(USED_OFF + 2), 1);
    virtq_reset(&q);        /* closes the call fd */
    CHECK_EQ(q.call_fd, -1);
    CHECK(q.desc == NULL);
}

static void test_wraparound(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 4);
    /* a ring resumed near the end of the 16-bit index space */
    avail_idx = 65533;
    q.last_avail = 65533;
    put16(USED_OFF + 2, 65533);
    CHECK_EQ(virtq_setup(&q, &gm), 0);
    CHECK_EQ(q.used_idx, 65533);
    for (unsigned i = 0; i < 4; i++)
        desc(i, buf_gpa(16 * i), 16, 0, 0);
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < 4; i++)
            offer(4, (uint16_t)i);
        for (unsigned i = 0; i < 4; i++) {
            CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
            CHECK_EQ(e.head, i);
            virtq_push(&q, e.head, i);
        }
        CHECK_EQ(virtq_pop(&q, &gm, &e), 0);
    }
    CHECK_EQ(q.last_avail, (uint16_t)(65533 + 12));
    CHECK_EQ(get16(USED_OFF + 2), (uint16_t)(65533 + 12));
    CHECK(!q.broken);
}

/* ---- broken rings ---- */

static void test_loop(void)
{
    struct virtq q;
    fresh(&q, 8);
    desc(0, buf_gpa(0), 8, F_NEXT, 1);
    desc(1, buf_gpa(8), 8, F_NEXT, 0);
    offer(8, 0);
    expect_broken(&q);

    fresh(&q, 8);                   /* a descriptor that points at itself */
    desc(2, buf_gpa(0), 8, F_NEXT, 2);
    offer(8, 2);
    expect_broken(&q);

    fresh(&q, 8);                   /* writable loop: same */
    desc(2, buf_gpa(0), 8, F_NEXT | F_WRITE, 3);
    desc(3, buf_gpa(0), 8, F_NEXT | F_WRITE, 2);
    offer(8, 2);
    expect_broken(&q);
}

static void test_out_of_range_indexes(void)
{
    struct virtq q;
    fresh(&q, 8);
    desc(0, buf_gpa(0), 8, F_NEXT, 8);          /* next == size */
    offer(8, 0);
    expect_broken(&q);

    fresh(&q, 8);
    desc(0, buf_gpa(0), 8, F_NEXT, 0xffff);
    offer(8, 0);
    expect_broken(&q);

    fresh(&q, 8);
    offer(8, 8);                                /* head == size */
    expect_broken(&q);

    fresh(&q, 8);
    offer(8, 0xffff);
    expect_broken(&q);
}

static void test_avail_idx_jump(void)
{
    struct virtq q;
    fresh(&q, 8);
    put16(AVAIL_OFF + 2, 9);                    /* 9 pending on a ring of 8 */
    expect_broken(&q);

    fresh(&q, 8);
    desc(0, buf_gpa(0), 8, 0, 0);
    put16(AVAIL_OFF + 2, 8);                    /* exactly size pending is fine */
    struct virtq_elem e;
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK(!q.broken);

    fresh(&q, 8);
    q.last_avail = 5;
    put16(AVAIL_OFF + 2, 4);                    /* went backwards: 65535 pending */
    expect_broken(&q);
}

static void test_length_limits(void)
{
    struct virtq q;
    fresh(&q, 8);                               /* sum overflows 32 bits */
    desc(0, buf_gpa(0), 0xffffffffu, F_NEXT, 1);
    desc(1, buf_gpa(0), 0xffffffffu, 0, 0);
    offer(8, 0);
    expect_broken(&q);

    /* every buffer inside memory, but the chain's total is over the limit */
    fresh(&q, 64);
    unsigned n = VIRTQ_MAX_CHAIN_BYTES / 0x8000 + 1;
    for (unsigned i = 0; i < n; i++)
        desc(i, buf_gpa(0), 0x8000, i + 1 < n ? F_NEXT : 0, (uint16_t)(i + 1));
    offer(64, 0);
    expect_broken(&q);

    /* exactly the limit is fine */
    fresh(&q, 64);
    n = VIRTQ_MAX_CHAIN_BYTES / 0x8000;
    for (unsigned i = 0; i < n; i++)
        desc(i, buf_gpa(0), 0x8000, i + 1 < n ? F_NEXT : 0, (uint16_t)(i + 1));
    offer(64, 0);
    struct virtq_elem e;
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK_EQ(e.nsegs, n);
}

static void test_outside_memory(void)
{
    struct virtq q;
    const struct { uint64_t gpa; uint32_t len; } bad[] = {
        { MEM_GPA - 1, 2 },                     /* starts before */
        { MEM_GPA + MEM_SIZE - 4, 5 },          /* runs past the end */
        { MEM_GPA + MEM_SIZE, 1 },              /* just after */
        { 0, 16 },
        { UINT64_MAX - 3, 8 },                  /* wraps */
        { MEM_UVA + BUF_OFF, 16 },              /* a front-end address, not a GPA */
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fresh(&q, 8);
        desc(0, buf_gpa(0), 8, F_NEXT, 1);
        desc(1, bad[i].gpa, bad[i].len, 0, 0);
        offer(8, 0);
        expect_broken(&q);
    }
    /* the last byte of memory is fine */
    fresh(&q, 8);
    desc(0, MEM_GPA + MEM_SIZE - 1, 1, 0, 0);
    offer(8, 0);
    struct virtq_elem e;
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    CHECK(e.seg[0].ptr == mem + MEM_SIZE - 1);
}

static void test_write_then_read(void)
{
    struct virtq q;
    fresh(&q, 8);
    desc(0, buf_gpa(0), 8, F_NEXT | F_WRITE, 1);
    desc(1, buf_gpa(8), 8, 0, 0);
    offer(8, 0);
    expect_broken(&q);
}

static void test_indirect(void)
{
    struct virtq q;
    fresh(&q, 8);
    desc(0, buf_gpa(0), 16, F_INDIRECT, 0);
    offer(8, 0);
    expect_broken(&q);

    fresh(&q, 8);                               /* also in the middle of a chain */
    desc(0, buf_gpa(0), 16, F_NEXT, 1);
    desc(1, buf_gpa(0), 16, F_INDIRECT | F_NEXT, 2);
    desc(2, buf_gpa(0), 16, 0, 0);
    offer(8, 0);
    expect_broken(&q);
}

static void test_broken_signals_err_fd_and_reset(void)
{
    struct virtq q;
    struct virtq_elem e;
    fresh(&q, 8);
    q.err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int errfd = dup(q.err_fd);
    CHECK(errfd >= 0);
    offer(8, 9);
    expect_broken(&q);
    uint64_t v = 0;
    CHECK_EQ(read(errfd, &v, sizeof v), 8);
    CHECK_EQ(v, 1);

    /* after a reset the queue is usable again */
    virtq_reset(&q);
    CHECK(!q.broken);
    CHECK_EQ(q.err_fd, -1);
    q.size = 8;
    q.desc_uva = MEM_UVA + DESC_OFF;
    q.avail_uva = MEM_UVA + AVAIL_OFF;
    q.used_uva = MEM_UVA + USED_OFF;
    CHECK_EQ(virtq_setup(&q, &gm), 0);
    q.last_avail = avail_idx;
    desc(1, buf_gpa(0), 8, 0, 0);
    offer(8, 1);
    CHECK_EQ(virtq_pop(&q, &gm, &e), 1);
    close(errfd);
}

static void test_gmem_translation(void)
{
    struct virtq q;
    fresh(&q, 8);
    CHECK(gmem_gpa(&gm, MEM_GPA, 1) == mem);
    CHECK(gmem_gpa(&gm, MEM_GPA, MEM_SIZE) == mem);
    CHECK(gmem_gpa(&gm, MEM_GPA, MEM_SIZE + 1) == NULL);
    CHECK(gmem_gpa(&gm, MEM_GPA, 0) == NULL);
    CHECK(gmem_gpa(&gm, MEM_GPA + 5, UINT64_MAX) == NULL);
    CHECK(gmem_uva(&gm, MEM_UVA + 0x10, 0x10) == mem + 0x10);
    CHECK(gmem_uva(&gm, MEM_GPA, 1) == NULL);
    CHECK(gmem_gpa(NULL, MEM_GPA, 1) == NULL);
    gmem_clear(&gm);        /* a region without map_base is not unmapped */
    CHECK_EQ(gm.nregions, 0);
    CHECK(gmem_gpa(&gm, MEM_GPA, 1) == NULL);
}

/* ---- the fuzzer's seeds (fuzz/fuzz_virtq.c's input format) ---- */

/* Input: u8 log2(size), u8 fill, u16 last_avail, u32 desc/avail/used offsets from the
 * first region's front-end address, then region 0 (gpa 0) and region 1 (gpa 0x100000),
 * 32 KiB each. The seeds put the rings at 0x0/0x100/0x200 and buffers from 0x400. */
#define SEED_MAX (16 + 0x10000)
#define SEED_R1  0x100000ull

struct seed {
    uint8_t b[SEED_MAX];
    size_t len;
    uint16_t n, avail;
    uint32_t avail_off;
};

static void seed_init_at(struct seed *s, unsigned log2n, uint16_t last, uint32_t d,
                         uint32_t a, uint32_t u)
{
    uint32_t off[3] = { d, a, u };
    memset(s, 0, sizeof *s);
    s->n = (uint16_t)(1u << log2n);
    s->b[0] = (uint8_t)log2n;
    s->b[1] = 0x3c;
    memcpy(s->b + 2, &last, 2);
    memcpy(s->b + 4, off, 12);
    s->avail = last;
    s->avail_off = a;
    s->len = 16 + 0x600;
}

static void seed_init(struct seed *s, unsigned log2n, uint16_t last)
{
    seed_init_at(s, log2n, last, 0x0, 0x100, 0x200);
}

static void seed_put(struct seed *s, uint32_t off, const void *v, size_t len)
{
    memcpy(s->b + 16 + off, v, len);
    if (16 + off + len > s->len)
        s->len = 16 + off + len;
}

static void seed_desc(struct seed *s, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags,
                      uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &gpa, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    seed_put(s, 16 * i, d, 16);
}

static void seed_offer(struct seed *s, uint16_t head)
{
    seed_put(s, s->avail_off + 4 + 2 * (s->avail & (s->n - 1)), &head, 2);
    s->avail++;
    seed_put(s, s->avail_off + 2, &s->avail, 2);
}

static int seed_write(const char *dir, const char *name, const struct seed *s)
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
    static struct seed s;
    int bad = 0;

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 16, 0, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "good-single", &s);

    seed_init(&s, 3, 0);        /* readable, empty, writable in region 1 */
    seed_desc(&s, 2, 0x400, 44, F_NEXT, 5);
    seed_desc(&s, 5, 0x500, 0, F_NEXT | F_WRITE, 1);
    seed_desc(&s, 1, SEED_R1 + 0x10, 4096, F_WRITE, 0);
    seed_offer(&s, 2);
    seed_put(&s, 0x8000 + 0x10 + 4095, "", 1);
    bad |= seed_write(dir, "good-chain-two-regions", &s);

    seed_init(&s, 2, 0);        /* a full ring of four */
    for (unsigned i = 0; i < 4; i++) {
        seed_desc(&s, i, 0x400 + 0x40 * i, 0x40, i & 1 ? F_WRITE : 0, 0);
        seed_offer(&s, (uint16_t)i);
    }
    bad |= seed_write(dir, "good-full-ring", &s);

    seed_init(&s, 2, 65534);    /* indexes about to wrap */
    for (unsigned i = 0; i < 3; i++) {
        seed_desc(&s, i, 0x400, 8, 0, 0);
        seed_offer(&s, (uint16_t)i);
    }
    bad |= seed_write(dir, "good-wrap", &s);

    seed_init_at(&s, 6, 0, 0x0, 0x800, 0xa00);     /* a chain of 64 */
    for (unsigned i = 0; i < 64; i++)
        seed_desc(&s, i, 0x1000 + i, 1, i < 63 ? F_NEXT : 0, (uint16_t)(i + 1));
    seed_offer(&s, 0);
    s.len = 16 + 0x1100;
    bad |= seed_write(dir, "good-64-segments", &s);

    seed_init(&s, 3, 0);        /* a writable buffer aimed at the avail ring itself */
    seed_desc(&s, 0, 0x100, 0x20, F_WRITE, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "buffer-over-avail-ring", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 8, F_NEXT, 1);
    seed_desc(&s, 1, 0x408, 8, F_NEXT, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-loop", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 8, F_NEXT, 8);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-next-range", &s);

    seed_init(&s, 3, 0);
    seed_offer(&s, 9);
    bad |= seed_write(dir, "bad-head-range", &s);

    seed_init(&s, 3, 0);
    {
        uint16_t idx = 9;
        seed_put(&s, 0x102, &idx, 2);
    }
    bad |= seed_write(dir, "bad-avail-jump", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 16, F_INDIRECT, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-indirect", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 8, F_NEXT | F_WRITE, 1);
    seed_desc(&s, 1, 0x408, 8, 0, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-write-then-read", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x7ff0, 0x20, 0, 0);   /* across the end of region 0 */
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-outside-memory", &s);

    seed_init(&s, 3, 0);
    seed_desc(&s, 0, 0x400, 0xffffffffu, F_NEXT, 1);
    seed_desc(&s, 1, 0x400, 0xffffffffu, 0, 0);
    seed_offer(&s, 0);
    bad |= seed_write(dir, "bad-length-sum", &s);

    seed_init(&s, 3, 0);        /* rings that do not fit: desc table across a region end */
    {
        uint32_t off[3] = { 0x7f80, 0x100, 0x200 };
        memcpy(s.b + 4, off, 12);
    }
    bad |= seed_write(dir, "bad-ring-address", &s);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    tlog_set_sink(log_sink, NULL);
    tlog_set_quiet(1);
    TEST(test_gmem_translation);
    TEST(test_setup_translates);
    TEST(test_setup_refusals);
    TEST(test_pop_empty);
    TEST(test_pop_one_segment);
    TEST(test_pop_chain);
    TEST(test_max_segs);
    TEST(test_push_and_notify);
    TEST(test_wraparound);
    TEST(test_loop);
    TEST(test_out_of_range_indexes);
    TEST(test_avail_idx_jump);
    TEST(test_length_limits);
    TEST(test_outside_memory);
    TEST(test_write_then_read);
    TEST(test_indirect);
    TEST(test_broken_signals_err_fd_and_reset);
    TEST_EXIT();
}
