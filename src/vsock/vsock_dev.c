/* vsock/vsock_dev.c — the host side of virtio-vsock streams. The loop thread (vhost-user
 * kicks, the output eventfd) owns the virtqueues: it parses guest packets from tx and
 * writes host packets into rx. Per TRE connection a worker thread runs door/stream.c over
 * the connection's byte buffers. Everything a guest sends is checked: a spoofed source CID
 * is dropped unanswered; a bad header, a wrong destination, a lie about credit or a packet
 * for no connection gets a RST, never a crash; no guest value sizes an allocation beyond
 * the fixed per-connection limits. */
#include "vsock/vsock_dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "door/session.h"
#include "door/stream.h"
#include "trevisor/proto.h"
#include "util/log.h"

#define VSOCK_HDR_SIZE 44
#define VSOCK_TYPE_STREAM 1
enum { OP_INVALID, OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };
#define SHUT_RCV_FLAG 1
#define SHUT_SEND_FLAG 2
#define VSOCK_QUEUE_RX 0
#define VSOCK_QUEUE_TX 1
#define VSOCK_MAX_CTRL 64               /* pending control packets for no connection */
#define VSOCK_OUT_MAX (VSOCK_BUF_ALLOC) /* echo output kept before back-pressure */

struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

struct vsock_conn {
    struct vsock_dev *dev;
    uint32_t guest_port, host_port;
    int echo;
    int closed;                  /* no more data either way; RST sent or to send */
    int rst_pending, response_pending, credit_pending;
    int peer_shut;               /* SHUTDOWN flags from the guest */
    /* guest -> host */
    uint8_t *in;
    size_t in_len;
    uint32_t fwd_cnt, fwd_sent;  /* bytes consumed; last fwd_cnt told to the guest */
    /* host -> guest */
    uint8_t *out;
    size_t out_len, out_off;
    uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
    /* the worker */
    pthread_t worker;
    int has_worker, worker_done;
    pthread_cond_t cv;           /* bytes arrived, output drained, or closed */
    struct vsock_conn *next;
};

struct vsock_dev {
    struct vsock_dev_config cfg;
    struct vhost_user *vu;
    pthread_mutex_t lock;
    int efd;
    struct vsock_conn *conns;
    unsigned nconns;
    struct vsock_hdr ctrl[VSOCK_MAX_CTRL];  /* RSTs for packets that had no connection */
    unsigned nctrl;
    unsigned long serial;
    int frontend_busy;           /* the loop is handling a vhost-user message: only it may
                                    touch the queues and guest memory until it is done */
};

static void hdr_decode(const uint8_t *b, struct vsock_hdr *h)
{
    memcpy(&h->src_cid, b + 0, 8);
    memcpy(&h->dst_cid, b + 8, 8);
    memcpy(&h->src_port, b + 16, 4);
    memcpy(&h->dst_port, b + 20, 4);
    memcpy(&h->len, b + 24, 4);
    memcpy(&h->type, b + 28, 2);
    memcpy(&h->op, b + 30, 2);
    memcpy(&h->flags, b + 32, 4);
    memcpy(&h->buf_alloc, b + 36, 4);
    memcpy(&h->fwd_cnt, b + 40, 4);
}

static void hdr_encode(uint8_t *b, const struct vsock_hdr *h)
{
    memcpy(b + 0, &h->src_cid, 8);
    memcpy(b + 8, &h->dst_cid, 8);
    memcpy(b + 16, &h->src_port, 4);
    memcpy(b + 20, &h->dst_port, 4);
    memcpy(b + 24, &h->len, 4);
    memcpy(b + 28, &h->type, 2);
    memcpy(b + 30, &h->op, 2);
    memcpy(b + 32, &h->flags, 4);
    memcpy(b + 36, &h->buf_alloc, 4);
    memcpy(b + 40, &h->fwd_cnt, 4);
}

static void dev_signal(struct vsock_dev *d)
{
    uint64_t one = 1;
    if (write(d->efd, &one, sizeof one) < 0) {
        /* the counter is saturated: a flush is already due */
    }
}

static struct vsock_conn *conn_find(struct vsock_dev *d, uint32_t guest_port, uint32_t host_port)
{
    for (struct vsock_conn *c = d->conns; c; c = c->next)
        if (c->guest_port == guest_port && c->host_port == host_port)
            return c;
    return NULL;
}

/* A RST for a packet that has no connection (bounded; extra ones are dropped). */
static void dev_rst_for(struct vsock_dev *d, const struct vsock_hdr *h)
{
    if (h->op == OP_RST || d->nctrl == VSOCK_MAX_CTRL)
        return;
    struct vsock_hdr *r = &d->ctrl[d->nctrl++];
    memset(r, 0, sizeof *r);
    r->src_cid = VSOCK_HOST_CID;
    r->dst_cid = d->cfg.guest_cid;
    r->src_port = h->dst_port;
    r->dst_port = h->src_port;
    r->type = VSOCK_TYPE_STREAM;
    r->op = OP_RST;
}

static void conn_close(struct vsock_conn *c, const char *why)
{
    if (c->closed)
        return;
    c->closed = 1;
    c->rst_pending = 1;
    if (why)
        tlog("vsock", "guest port %u -> %u: reset: %s", c->guest_port, c->host_port, why);
    pthread_cond_broadcast(&c->cv);
}

static void dev_flush_locked(struct vsock_dev *d);

/* ---- the worker's byte stream over the connection buffers ---- */

/* Waits on c->cv (d->lock held) until signalled or deadline_ms (CLOCK_MONOTONIC ms; 0 =
 * none). -ETIMEDOUT once the deadline has passed, else 0 (re-check the condition). */
static int conn_wait(struct vsock_conn *c, uint64_t deadline_ms)
{
    if (!deadline_ms) {
        pthread_cond_wait(&c->cv, &c->dev->lock);
        return 0;
    }
    uint64_t now = door_now_ms();
    if (now >= deadline_ms)
        return -ETIMEDOUT;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (deadline_ms - now) * 1000000ull;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_cond_timedwait(&c->cv, &c->dev->lock, &ts);
    return 0;
}

static int conn_read(void *ctx, uint8_t *buf, size_t n, uint64_t deadline_ms)
{
    struct vsock_conn *c = ctx;
    struct vsock_dev *d = c->dev;
    size_t got = 0;
    pthread_mutex_lock(&d->lock);
    while (got < n) {
        if (c->in_len) {
            size_t k = c->in_len < n - got ? c->in_len : n - got;
            memcpy(buf + got, c->in, k);
            memmove(c->in, c->in + k, c->in_len - k);
            c->in_len -= k;
            got += k;
            c->fwd_cnt += (uint32_t)k;
            if (c->fwd_cnt - c->fwd_sent >= VSOCK_BUF_ALLOC / 2) {
                c->credit_pending = 1;
                dev_signal(d);
            }
            continue;
        }
        if (c->closed || (c->peer_shut & SHUT_SEND_FLAG)) {
            pthread_mutex_unlock(&d->lock);
            return -ECONNRESET;
        }
        if (conn_wait(c, deadline_ms)) {
            pthread_mutex_unlock(&d->lock);
            return -ETIMEDOUT;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static int conn_write(void *ctx, const uint8_t *buf, size_t n)
{
    struct vsock_conn *c = ctx;
    struct vsock_dev *d = c->dev;
    pthread_mutex_lock(&d->lock);
    if (c->closed) {
        pthread_mutex_unlock(&d->lock);
        return -ECONNRESET;
    }
    /* the worker's reply replaces an empty output buffer (one reply at a time) */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        pthread_mutex_unlock(&d->lock);
        return -ENOMEM;
    }
    memcpy(copy, buf, n);
    free(c->out);
    c->out = copy;
    c->out_len = n;
    c->out_off = 0;
    /* send what the guest has room for now (queues are used under d->lock, and never while
     * the loop handles a front-end message, which may remap guest memory); the loop sends
     * the rest as the guest returns rx buffers and credit */
    if (d->frontend_busy)
        dev_signal(d);
    else
        dev_flush_locked(d);
    uint64_t deadline = door_now_ms() + d->cfg.send_timeout_ms;
    int r = 0;
    while (c->out_off < c->out_len && !c->closed) {
        if (conn_wait(c, deadline)) {
            r = -ETIMEDOUT;
            break;
        }
    }
    if (!r && c->closed && c->out_off < c->out_len)
        r = -ECONNRESET;
    pthread_mutex_unlock(&d->lock);
    return r;
}

static void *conn_worker(void *arg)
{
    struct vsock_conn *c = arg;
    struct vsock_dev *d = c->dev;
    char peer[96];
    pthread_mutex_lock(&d->lock);
    unsigned long n = ++d->serial;
    pthread_mutex_unlock(&d->lock);
    snprintf(peer, sizeof peer, "guest conn %lu (port %u)", n, c->guest_port);
    tlog("vsock", "%s: connected", peer);
    struct door_session s;
    session_init(&s, d->cfg.engine, peer);
    struct door_stream st = { conn_read, conn_write, c };
    while (door_serve_one(&st, &s, d->cfg.frame_timeout_ms) == 0)
        ;
    session_end(&s);
    tlog("vsock", "%s: disconnected", peer);
    pthread_mutex_lock(&d->lock);
    conn_close(c, NULL);
    c->worker_done = 1;
    dev_signal(d);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ---- packets from the guest ---- */

static void dev_new_conn(struct vsock_dev *d, const struct vsock_hdr *h)
{
    int echo = h->dst_port == VSOCK_ECHO_PORT;
    if ((h->dst_port != TRE_PROTO_VSOCK_PORT && !echo) || d->nconns >= d->cfg.max_conns) {
        if (d->nconns >= d->cfg.max_conns)
            tlog("vsock", "refusing guest port %u: %u connections open", h->src_port,
                 d->nconns);
        dev_rst_for(d, h);
        return;
    }
    struct vsock_conn *c = calloc(1, sizeof *c);
    if (c)
        c->in = malloc(VSOCK_BUF_ALLOC);
    if (!c || !c->in) {
        if (c)
            free(c);
        dev_rst_for(d, h);
        return;
    }
    c->dev = d;
    c->guest_port = h->src_port;
    c->host_port = h->dst_port;
    c->echo = echo;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->response_pending = 1;
    pthread_cond_init(&c->cv, NULL);
    if (!echo) {
        if (pthread_create(&c->worker, NULL, conn_worker, c) != 0) {
            free(c->in);
            pthread_cond_destroy(&c->cv);
            free(c);
            dev_rst_for(d, h);
            return;
        }
        c->has_worker = 1;
    }
    c->next = d->conns;
    d->conns = c;
    d->nconns++;
}

/* Echo: move received bytes to the output, as far as the output has room. */
static void conn_echo(struct vsock_conn *c)
{
    if (!c->echo || !c->in_len)
        return;
    if (!c->out) {
        c->out = malloc(VSOCK_OUT_MAX);
        if (!c->out) {
            conn_close(c, "out of memory");
            return;
        }
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    size_t room = VSOCK_OUT_MAX - c->out_len;
    size_t k = c->in_len < room ? c->in_len : room;
    memcpy(c->out + c->out_len, c->in, k);
    c->out_len += k;
    memmove(c->in, c->in + k, c->in_len - k);
    c->in_len -= k;
    c->fwd_cnt += (uint32_t)k;
    if (c->fwd_cnt - c->fwd_sent >= VSOCK_BUF_ALLOC / 2)
        c->credit_pending = 1;
}

static void dev_packet(struct vsock_dev *d, const struct vsock_hdr *h, const uint8_t *payload)
{
    if (h->src_cid != d->cfg.guest_cid) {
        tlog("vsock", "dropping a packet with source CID %llu (the guest is %llu)",
             (unsigned long long)h->src_cid, (unsigned long long)d->cfg.guest_cid);
        return;
    }
    if (h->dst_cid != VSOCK_HOST_CID || h->type != VSOCK_TYPE_STREAM) {
        dev_rst_for(d, h);
        return;
    }
    struct vsock_conn *c = conn_find(d, h->src_port, h->dst_port);
    if (h->op == OP_REQUEST) {
        if (c) {
            conn_close(c, "second REQUEST on an open connection");
            return;
        }
        dev_new_conn(d, h);
        return;
    }
    if (!c || c->closed) {
        dev_rst_for(d, h);
        return;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case OP_RW:
        if (c->peer_shut & SHUT_SEND_FLAG) {
            conn_close(c, "data after SHUTDOWN");
            break;
        }
        if (h->len > VSOCK_BUF_ALLOC - c->in_len) {
            conn_close(c, "the guest sent more than the credit it was given");
            break;
        }
        memcpy(c->in + c->in_len, payload, h->len);
        c->in_len += h->len;
        conn_echo(c);
        pthread_cond_broadcast(&c->cv);
        break;
    case OP_CREDIT_UPDATE:
        pthread_cond_broadcast(&c->cv);
        break;
    case OP_CREDIT_REQUEST:
        c->credit_pending = 1;
        break;
    case OP_SHUTDOWN:
        c->peer_shut |= (int)(h->flags & (SHUT_RCV_FLAG | SHUT_SEND_FLAG));
        if ((c->peer_shut & (SHUT_RCV_FLAG | SHUT_SEND_FLAG)) == (SHUT_RCV_FLAG | SHUT_SEND_FLAG))
            conn_close(c, NULL);
        pthread_cond_broadcast(&c->cv);
        break;
    case OP_RST:
        conn_close(c, NULL);
        c->rst_pending = 0; /* no RST in reply to a RST */
        break;
    default:
        conn_close(c, "unexpected op");
        break;
    }
}

/* Copies a chain's device-readable bytes into buf (at most cap). Returns the count. */
static size_t elem_gather(const struct virtq_elem *e, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (unsigned i = 0; i < e->nread && n < cap; i++) {
        size_t k = e->seg[i].len < cap - n ? e->seg[i].len : cap - n;
        memcpy(buf + n, e->seg[i].ptr, k);
        n += k;
    }
    return n;
}

static void dev_process_tx(struct vsock_dev *d)
{
    struct vhost_user *vu = d->vu;
    struct virtq *q = &vu->vq[VSOCK_QUEUE_TX];
    static __thread uint8_t pkt[VSOCK_HDR_SIZE + VSOCK_MAX_PKT];
    struct virtq_elem e;
    int popped = 0;
    for (int budget = 0; budget < 1024; budget++) {
        int r = virtq_pop(q, &vu->mem, &e);
        if (r <= 0)
            break;
        popped = 1;
        size_t n = elem_gather(&e, pkt, sizeof pkt);
        struct vsock_hdr h;
        if (n < VSOCK_HDR_SIZE) {
            tlog("vsock", "dropping a tx packet of %zu bytes (shorter than a header)", n);
        } else {
            hdr_decode(pkt, &h);
            if (h.src_cid != d->cfg.guest_cid) {
                /* not from this guest: dropped before anything else is believed */
                tlog("vsock", "dropping a packet with source CID %llu (the guest is %llu)",
                     (unsigned long long)h.src_cid, (unsigned long long)d->cfg.guest_cid);
            } else if (h.len > VSOCK_MAX_PKT || h.len != n - VSOCK_HDR_SIZE) {
                tlog("vsock", "tx packet says %u payload bytes, carries %zu: reset",
                     h.len, n - VSOCK_HDR_SIZE);
                struct vsock_conn *c = conn_find(d, h.src_port, h.dst_port);
                if (c)
                    conn_close(c, "malformed packet");
                else
                    dev_rst_for(d, &h);
            } else {
                dev_packet(d, &h, pkt + VSOCK_HDR_SIZE);
            }
        }
        virtq_push(q, e.head, 0);
    }
    if (popped)
        virtq_notify(q);
}

/* ---- packets to the guest ---- */

/* Writes one packet into the next rx chain. 0, or -EAGAIN when the guest gave no buffer. */
static int dev_send(struct vsock_dev *d, struct vsock_hdr *h, const uint8_t *data,
                    size_t *len)
{
    struct vhost_user *vu = d->vu;
    struct virtq *q = &vu->vq[VSOCK_QUEUE_RX];
    struct virtq_elem e;
    if (virtq_pop(q, &vu->mem, &e) != 1)
        return -EAGAIN;
    size_t room = 0;
    for (unsigned i = e.nread; i < e.nsegs; i++)
        room += e.seg[i].len;
    if (room < VSOCK_HDR_SIZE) {
        tlog("vsock", "an rx buffer of %zu bytes cannot hold a header", room);
        virtq_push(q, e.head, 0);
        return -EAGAIN;
    }
    size_t k = len ? *len : 0;
    if (k > room - VSOCK_HDR_SIZE)
        k = room - VSOCK_HDR_SIZE;
    h->len = (uint32_t)k;
    uint8_t hb[VSOCK_HDR_SIZE];
    hdr_encode(hb, h);
    /* scatter header then data over the writable segments */
    size_t done = 0, total = VSOCK_HDR_SIZE + k;
    for (unsigned i = e.nread; i < e.nsegs && done < total; i++) {
        size_t seg = e.seg[i].len, off = 0;
        while (off < seg && done < total) {
            size_t chunk;
            if (done < VSOCK_HDR_SIZE) {
                chunk = VSOCK_HDR_SIZE - done < seg - off ? VSOCK_HDR_SIZE - done : seg - off;
                memcpy(e.seg[i].ptr + off, hb + done, chunk);
            } else {
                chunk = total - done < seg - off ? total - done : seg - off;
                memcpy(e.seg[i].ptr + off, data + (done - VSOCK_HDR_SIZE), chunk);
            }
            off += chunk;
            done += chunk;
        }
    }
    virtq_push(q, e.head, (uint32_t)total);
    if (len)
        *len = k;
    return 0;
}

static void conn_hdr(const struct vsock_dev *d, const struct vsock_conn *c, uint16_t op,
                     struct vsock_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->src_cid = VSOCK_HOST_CID;
    h->dst_cid = d->cfg.guest_cid;
    h->src_port = c->host_port;
    h->dst_port = c->guest_port;
    h->type = VSOCK_TYPE_STREAM;
    h->op = op;
    h->buf_alloc = VSOCK_BUF_ALLOC;
    h->fwd_cnt = c->fwd_cnt;
}

/* Sends what c has pending; 0, or -EAGAIN when rx buffers ran out. */
static int conn_flush(struct vsock_dev *d, struct vsock_conn *c)
{
    struct vsock_hdr h;
    if (c->response_pending && !c->closed) {
        conn_hdr(d, c, OP_RESPONSE, &h);
        if (dev_send(d, &h, NULL, NULL))
            return -EAGAIN;
        c->response_pending = 0;
        c->fwd_sent = c->fwd_cnt;
    }
    while (!c->closed && c->out_off < c->out_len) {
        uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
        if (in_flight >= c->peer_buf_alloc)
            break; /* no credit: wait for the guest's CREDIT_UPDATE */
        size_t k = c->out_len - c->out_off, credit = c->peer_buf_alloc - in_flight;
        if (k > credit)
            k = credit;
        if (k > VSOCK_MAX_PKT)
            k = VSOCK_MAX_PKT;
        conn_hdr(d, c, OP_RW, &h);
        if (dev_send(d, &h, c->out + c->out_off, &k))
            return -EAGAIN;
        c->out_off += k;
        c->tx_cnt += (uint32_t)k;
        c->fwd_sent = c->fwd_cnt;
        c->credit_pending = 0;
        if (c->out_off == c->out_len)
            pthread_cond_broadcast(&c->cv);
    }
    if (c->echo)
        conn_echo(c);
    if (c->credit_pending && !c->closed) {
        conn_hdr(d, c, OP_CREDIT_UPDATE, &h);
        if (dev_send(d, &h, NULL, NULL))
            return -EAGAIN;
        c->credit_pending = 0;
        c->fwd_sent = c->fwd_cnt;
    }
    if (c->rst_pending) {
        conn_hdr(d, c, OP_RST, &h);
        if (dev_send(d, &h, NULL, NULL))
            return -EAGAIN;
        c->rst_pending = 0;
    }
    return 0;
}

/* Frees closed connections whose worker has ended. */
static void dev_reap(struct vsock_dev *d)
{
    struct vsock_conn **pp = &d->conns;
    while (*pp) {
        struct vsock_conn *c = *pp;
        if (c->closed && !c->rst_pending && (!c->has_worker || c->worker_done)) {
            *pp = c->next;
            d->nconns--;
            if (c->has_worker) {
                pthread_mutex_unlock(&d->lock);
                pthread_join(c->worker, NULL);
                pthread_mutex_lock(&d->lock);
            }
            pthread_cond_destroy(&c->cv);
            explicit_bzero(c->in, VSOCK_BUF_ALLOC);
            free(c->in);
            free(c->out);
            free(c);
            pp = &d->conns; /* the list may have changed while unlocked */
        } else {
            pp = &c->next;
        }
    }
}

static void dev_flush_locked(struct vsock_dev *d)
{
    if (!d->vu)
        return;
    struct virtq *rx = &d->vu->vq[VSOCK_QUEUE_RX];
    if (rx->size && rx->enabled && !rx->broken) {
        uint16_t before = rx->used_idx;
        unsigned k = 0;
        for (; k < d->nctrl; k++)
            if (dev_send(d, &d->ctrl[k], NULL, NULL))
                break;
        memmove(d->ctrl, d->ctrl + k, (d->nctrl - k) * sizeof d->ctrl[0]);
        d->nctrl -= k;
        for (struct vsock_conn *c = d->conns; c; c = c->next)
            if (conn_flush(d, c))
                break;
        if (rx->used_idx != before)
            virtq_notify(rx);
    }
    dev_reap(d);
}

void vsock_dev_flush(struct vsock_dev *d)
{
    uint64_t v;
    if (read(d->efd, &v, sizeof v) < 0) {
        /* nothing pending: flush anyway */
    }
    pthread_mutex_lock(&d->lock);
    dev_flush_locked(d);
    pthread_mutex_unlock(&d->lock);
}

/* ---- vhost-user device ops ---- */

static size_t dev_get_config(void *dev, uint32_t offset, void *buf, size_t len)
{
    struct vsock_dev *d = dev;
    uint8_t cfg[8];
    memcpy(cfg, &d->cfg.guest_cid, 8); /* le64 guest_cid */
    if (offset >= sizeof cfg)
        return 0;
    size_t n = sizeof cfg - offset < len ? sizeof cfg - offset : len;
    memcpy(buf, cfg + offset, n);
    return n;
}

static void dev_kick(void *dev, unsigned qidx)
{
    struct vsock_dev *d = dev;
    pthread_mutex_lock(&d->lock);
    if (qidx == VSOCK_QUEUE_TX && d->vu)
        dev_process_tx(d);
    dev_flush_locked(d); /* rx buffers came back, or tx produced replies */
    pthread_mutex_unlock(&d->lock);
}

static void dev_reset(void *dev)
{
    struct vsock_dev *d = dev;
    pthread_mutex_lock(&d->lock);
    for (struct vsock_conn *c = d->conns; c; c = c->next) {
        conn_close(c, NULL);
        c->rst_pending = 0; /* the device is gone: nobody to tell */
    }
    d->nctrl = 0;
    /* wait for every worker: their sessions close the TRE instances */
    while (d->conns) {
        dev_reap(d);
        if (d->conns) {
            pthread_mutex_unlock(&d->lock);
            usleep(1000);
            pthread_mutex_lock(&d->lock);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

static const struct vhost_user_device_ops vsock_ops = {
    .features = 0,      /* stream sockets only: no SEQPACKET feature */
    .get_config = dev_get_config,
    .kick = dev_kick,
    .reset = dev_reset,
};

const struct vhost_user_device_ops *vsock_dev_ops(void)
{
    return &vsock_ops;
}

int vsock_dev_new(const struct vsock_dev_config *cfg, struct vsock_dev **out)
{
    if (cfg->guest_cid < 3 || cfg->guest_cid > 0xfffffffeull || !cfg->engine)
        return -EINVAL;
    struct vsock_dev *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    if (!d->cfg.max_conns)
        d->cfg.max_conns = 64;
    if (!d->cfg.frame_timeout_ms)
        d->cfg.frame_timeout_ms = 30000;
    if (!d->cfg.send_timeout_ms)
        d->cfg.send_timeout_ms = 10000;
    d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->efd < 0) {
        free(d);
        return -errno;
    }
    pthread_mutex_init(&d->lock, NULL);
    *out = d;
    return 0;
}

void vsock_dev_frontend_busy(struct vsock_dev *d, int busy)
{
    pthread_mutex_lock(&d->lock);
    d->frontend_busy = busy;
    pthread_mutex_unlock(&d->lock);
    if (!busy)
        dev_signal(d); /* replies held back meanwhile go out now */
}

void vsock_dev_attach(struct vsock_dev *d, struct vhost_user *vu)
{
    pthread_mutex_lock(&d->lock);
    d->vu = vu;
    pthread_mutex_unlock(&d->lock);
}

int vsock_dev_event_fd(const struct vsock_dev *d)
{
    return d->efd;
}

unsigned vsock_dev_conns(struct vsock_dev *d)
{
    pthread_mutex_lock(&d->lock);
    unsigned n = d->nconns;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void vsock_dev_free(struct vsock_dev *d)
{
    if (!d)
        return;
    dev_reset(d);
    close(d->efd);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
