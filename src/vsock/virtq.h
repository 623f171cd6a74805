/* vsock/virtq.h — a split virtqueue in guest memory, walked defensively: the guest writes
 * the rings, so every index, descriptor, length and chain is checked, loops are refused,
 * and a broken ring marks the queue broken instead of crashing or hanging trevisor. */
#ifndef TREVISOR_VSOCK_VIRTQ_H
#define TREVISOR_VSOCK_VIRTQ_H

#include <stdint.h>
#include "vsock/gmem.h"

#define VIRTQ_MAX_SIZE   1024   /* queue sizes above this are refused */
#define VIRTQ_MAX_SEGS   64     /* descriptors per chain */
#define VIRTQ_MAX_CHAIN_BYTES (1u << 20)

struct virtq {
    uint16_t size;              /* 0 = not set up */
    uint64_t desc_uva, avail_uva, used_uva;   /* as given by SET_VRING_ADDR */
    void *desc, *avail, *used;  /* translated once, checked against size */
    uint16_t last_avail;        /* next avail index to take */
    uint16_t used_idx;          /* next used index to give */
    int kick_fd, call_fd, err_fd;
    int enabled;
    int broken;                 /* the guest broke the ring: ignore it until reset */
};

/* One chain taken from the avail ring: its segments, device-readable first. */
struct virtq_elem {
    uint16_t head;
    unsigned nsegs, nread;      /* nread: how many leading segments are device-readable */
    struct { uint8_t *ptr; uint32_t len; } seg[VIRTQ_MAX_SEGS];
};

/* Sets up pointers from the addresses; 0 or -EINVAL if they do not translate for size. */
int virtq_setup(struct virtq *q, const struct gmem *m);
/* Takes the next available chain: 1 and *e, 0 if none, -EINVAL if the ring is broken
 * (then q->broken is set and the error logged once). */
int virtq_pop(struct virtq *q, const struct gmem *m, struct virtq_elem *e);
/* Returns a chain with `written` bytes written into its device-writable part. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* Signals the guest through the call eventfd (if any). */
void virtq_notify(struct virtq *q);
void virtq_reset(struct virtq *q);
/* The initial state of a fresh struct: no ring, fds -1. virtq_reset also closes the
 * queue's kick, call and err fds (those >= 0) first, so use virtq_init before any. */
void virtq_init(struct virtq *q);

#endif
