/* fuzz/fuzz_virtq.c — libFuzzer target for the split virtqueue walker (src/vsock/virtq.c).
 * The input is ring parameters plus guest memory: a 16-byte header (queue size as log2,
 * last_avail, and the desc/avail/used ring addresses as offsets from the first region's
 * front-end address), then the bytes of two guest memory regions (32 KiB each, with a gap
 * between them, each its own heap block so ASan sees any access outside). It sets the queue
 * up and pops until empty, broken or a budget is spent, writing into every writable
 * segment (which may overlap the rings, as a hostile guest can arrange) and pushing each
 * chain back. Every
 * element must lie inside the regions and within the limits; nothing may crash or hang.
 * Seeds: fuzz/corpus/virtq (written by `build/tests/test_virtq --write-corpus DIR`).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE
 *        -Iinclude -Isrc fuzz/fuzz_virtq.c src/vsock/virtq.c src/vsock/gmem.c src/util/log.c
 * Run:   ./a.out fuzz/corpus/virtq -max_len=65552 -max_total_time=300 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vsock/gmem.h"
#include "vsock/virtq.h"

#define FZ_REGION   0x8000u
#define FZ_GPA1     0x100000ull
#define FZ_UVA0     0x7f0000000000ull
#define FZ_UVA1     (FZ_UVA0 + 0x10000ull)
#define FZ_HDR      16u

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

static int fuzz_inside(const struct gmem *m, const uint8_t *p, uint32_t len)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        const uint8_t *b = m->regions[i].host;
        if (p >= b && len <= m->regions[i].size && p - b <= (long)(m->regions[i].size - len))
            return 1;
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tlog_set_quiet(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FZ_HDR)
        return 0;
    uint8_t *r0 = calloc(1, FZ_REGION), *r1 = calloc(1, FZ_REGION);
    fuzz_check(r0 && r1);
    size_t n = size - FZ_HDR;
    memcpy(r0, data + FZ_HDR, n < FZ_REGION ? n : FZ_REGION);
    if (n > FZ_REGION)
        memcpy(r1, data + FZ_HDR + FZ_REGION, n - FZ_REGION < FZ_REGION ? n - FZ_REGION
                                                                         : FZ_REGION);
    struct gmem m;
    memset(&m, 0, sizeof m);
    m.nregions = 2;
    m.regions[0] = (struct gmem_region){ .gpa = 0, .size = FZ_REGION, .uva = FZ_UVA0,
                                         .host = r0 };
    m.regions[1] = (struct gmem_region){ .gpa = FZ_GPA1, .size = FZ_REGION, .uva = FZ_UVA1,
                                         .host = r1 };

    struct virtq q;
    virtq_init(&q);
    uint32_t off[3];
    uint16_t last;
    memcpy(&last, data + 2, 2);
    memcpy(off, data + 4, 12);
    q.size = (uint16_t)(1u << (data[0] % 12));  /* 1..2048: the top one is refused */
    q.last_avail = last;
    q.desc_uva = FZ_UVA0 + off[0];
    q.avail_uva = FZ_UVA0 + off[1];
    q.used_uva = FZ_UVA0 + off[2];

    if (virtq_setup(&q, &m) == 0) {
        fuzz_check(q.size <= VIRTQ_MAX_SIZE);
        struct virtq_elem e;
        unsigned pops = 0;
        int rc = 0;
        /* the device's writes may move avail->idx on (a buffer aimed at the ring), as a
         * guest can keep adding chains: like the device, stop after a budget */
        while (pops++ < 4 * VIRTQ_MAX_SIZE && (rc = virtq_pop(&q, &m, &e)) == 1) {
            fuzz_check(e.head < q.size);
            fuzz_check(e.nsegs <= VIRTQ_MAX_SEGS && e.nread <= e.nsegs);
            uint64_t total = 0;
            for (unsigned i = 0; i < e.nsegs; i++) {
                fuzz_check(e.seg[i].len > 0);
                fuzz_check(fuzz_inside(&m, e.seg[i].ptr, e.seg[i].len));
                total += e.seg[i].len;
                if (i >= e.nread)   /* the device writes; the guest may have aimed at a ring */
                    memset(e.seg[i].ptr, (int)(data[1] + i), e.seg[i].len);
                else
                    (void)*(volatile uint8_t *)&e.seg[i].ptr[e.seg[i].len - 1];
            }
            fuzz_check(total <= VIRTQ_MAX_CHAIN_BYTES);
            virtq_push(&q, e.head, (uint32_t)total);
        }
        fuzz_check(rc >= 0 || q.broken);
        if (q.broken) {
            fuzz_check(virtq_pop(&q, &m, &e) < 0);
        }
        virtq_notify(&q);   /* no call fd: nothing */
    }
    virtq_reset(&q);
    free(r0);
    free(r1);
    return 0;
}
