/* vsock/virtq.c — the split virtqueue walker (virtio 1.1 §2.6). The guest writes the rings
 * while we read them, so every value is loaded once into a local before it is checked and
 * used, every index is bounded by the queue size, a chain is bounded by the queue size and
 * VIRTQ_MAX_SEGS, and every buffer goes through gmem_gpa. It must never follow an index it
 * has not checked, never touch a broken ring again until it is reset, and never loop more
 * than a fixed number of times on guest input. It offers no INDIRECT_DESC, EVENT_IDX or
 * packed ring, so those are refused. */
#include "vsock/virtq.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2
#define VIRTQ_DESC_F_INDIRECT   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* Ring layout (little-endian, natural alignment: desc 16, avail 2, used 4). */
struct virtq_desc_raw {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail_raw {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];    /* size entries, then used_event (unused: no EVENT_IDX) */
};

struct virtq_used_elem_raw {
    uint32_t id;
    uint32_t len;
};

struct virtq_used_raw {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem_raw ring[];  /* size entries, then avail_event (unused) */
};

_Static_assert(sizeof(struct virtq_desc_raw) == 16, "virtq descriptor layout");
_Static_assert(sizeof(struct virtq_used_elem_raw) == 8, "virtq used element layout");

void virtq_init(struct virtq *q)
{
    memset(q, 0, sizeof *q);
    q->kick_fd = q->call_fd = q->err_fd = -1;
}

void virtq_reset(struct virtq *q)
{
    if (q->kick_fd >= 0)
        close(q->kick_fd);
    if (q->call_fd >= 0)
        close(q->call_fd);
    if (q->err_fd >= 0)
        close(q->err_fd);
    virtq_init(q);
}

static int virtq_aligned(const void *p, uintptr_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

int virtq_setup(struct virtq *q, const struct gmem *m)
{
    uint64_t n = q->size;

    q->desc = q->avail = q->used = NULL;
    if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)) != 0)
        return -EINVAL;
    void *desc = gmem_uva(m, q->desc_uva, 16 * n);
    void *avail = gmem_uva(m, q->avail_uva, 6 + 2 * n);
    void *used = gmem_uva(m, q->used_uva, 6 + 8 * n);
    if (!desc || !avail || !used)
        return -EINVAL;
    /* the alignment the spec requires, checked on our pointers (what we dereference) */
    if (!virtq_aligned(desc, 16) || !virtq_aligned(avail, 2) || !virtq_aligned(used, 4))
        return -EINVAL;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    /* resume where the used ring is: 0 on a fresh ring, our last value after a restart */
    struct virtq_used_raw *u = used;
    q->used_idx = le16toh(__atomic_load_n(&u->idx, __ATOMIC_RELAXED));
    return 0;
}

/* Marks the ring broken: logs one line, signals the front end's error eventfd. */
static int virtq_break(struct virtq *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int virtq_break(struct virtq *q, const char *fmt, ...)
{
    char why[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    q->broken = 1;
    tlog("vsock", "virtqueue broken by the guest, ignored until reset: %s", why);
    if (q->err_fd >= 0) {
        uint64_t one = 1;
        if (write(q->err_fd, &one, sizeof one) < 0) {
            /* best effort: the log line above is the record */
        }
    }
    return -EINVAL;
}

int virtq_pop(struct virtq *q, const struct gmem *m, struct virtq_elem *e)
{
    if (q->broken)
        return -EINVAL;
    if (!q->desc || !q->avail || !q->used || q->size == 0)
        return 0;   /* not started */

    const struct virtq_avail_raw *avail = q->avail;
    const struct virtq_desc_raw *desc = q->desc;
    uint16_t size = q->size;

    /* acquire: the ring entries and descriptors are read after the index */
    uint16_t avail_idx = le16toh(__atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE));
    uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
    if (pending > size)
        return virtq_break(q, "avail idx %u is %u ahead of %u (queue size %u)",
                           avail_idx, pending, q->last_avail, size);
    if (pending == 0)
        return 0;

    uint16_t head = le16toh(__atomic_load_n(&avail->ring[q->last_avail & (size - 1)],
                                            __ATOMIC_RELAXED));
    if (head >= size)
        return virtq_break(q, "head %u out of range (queue size %u)", head, size);

    e->head = head;
    e->nsegs = 0;
    e->nread = 0;
    uint64_t total = 0;
    int writable = 0;
    uint16_t i = head;
    unsigned max_desc = size < VIRTQ_MAX_SEGS ? size : VIRTQ_MAX_SEGS;

    for (unsigned n = 0;; n++) {
        if (n >= max_desc)
            return virtq_break(q, "chain from head %u longer than %u descriptors (a loop?)",
                               head, max_desc);
        /* one load per field into locals: the guest may change the table under us */
        const struct virtq_desc_raw *d = &desc[i];
        uint64_t addr = le64toh(__atomic_load_n(&d->addr, __ATOMIC_RELAXED));
        uint32_t len = le32toh(__atomic_load_n(&d->len, __ATOMIC_RELAXED));
        uint16_t flags = le16toh(__atomic_load_n(&d->flags, __ATOMIC_RELAXED));
        uint16_t next = le16toh(__atomic_load_n(&d->next, __ATOMIC_RELAXED));

        if (flags & VIRTQ_DESC_F_INDIRECT)
            return virtq_break(q, "indirect descriptor %u (not offered)", i);
        if (flags & VIRTQ_DESC_F_WRITE)
            writable = 1;
        else if (writable)
            return virtq_break(q, "readable descriptor %u after a writable one", i);
        total += len;
        if (total > VIRTQ_MAX_CHAIN_BYTES)
            return virtq_break(q, "chain from head %u longer than %u bytes", head,
                               VIRTQ_MAX_CHAIN_BYTES);
        if (len > 0) {  /* an empty buffer adds no segment (and has no address to check) */
            uint8_t *p = gmem_gpa(m, addr, len);
            if (!p)
                return virtq_break(q, "descriptor %u: buffer 0x%llx+%u outside guest memory",
                                   i, (unsigned long long)addr, len);
            e->seg[e->nsegs].ptr = p;
            e->seg[e->nsegs].len = len;
            e->nsegs++;
            if (!writable)
                e->nread++;
        }
        if (!(flags & VIRTQ_DESC_F_NEXT))
            break;
        if (next >= size)
            return virtq_break(q, "descriptor %u: next %u out of range (queue size %u)",
                               i, next, size);
        i = next;
    }
    q->last_avail++;
    return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    if (q->broken || !q->used || q->size == 0 || head >= q->size)
        return;
    struct virtq_used_raw *used = q->used;
    struct virtq_used_elem_raw *el = &used->ring[q->used_idx & (q->size - 1)];
    __atomic_store_n(&el->id, htole32((uint32_t)head), __ATOMIC_RELAXED);
    __atomic_store_n(&el->len, htole32(written), __ATOMIC_RELAXED);
    q->used_idx++;
    /* release: the element is visible before the index that publishes it */
    __atomic_store_n(&used->idx, htole16(q->used_idx), __ATOMIC_RELEASE);
}

void virtq_notify(struct virtq *q)
{
    if (q->broken || q->call_fd < 0 || !q->avail)
        return;
    /* order the used idx store before the flags load (virtio 1.1 §2.6.7.2), so a driver
     * that re-enables interrupts concurrently is never missed */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const struct virtq_avail_raw *avail = q->avail;
    if (le16toh(__atomic_load_n(&avail->flags, __ATOMIC_RELAXED)) & VIRTQ_AVAIL_F_NO_INTERRUPT)
        return;
    uint64_t one = 1;
    if (write(q->call_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is saturated, the guest will see it anyway */
    }
}
