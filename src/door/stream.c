/* door/stream.c — framing for every front door: the header first (its first byte may take
 * forever: an idle client; the rest of the frame must arrive before a deadline), then the
 * payload into a buffer that grows only as bytes arrive (a client announcing 64 MiB and
 * sending one byte costs 64 KiB), then the session's reply. */
#include "door/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "door/proto.h"
#include "door/session.h"
#include "util/log.h"

uint64_t door_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void door_send_error(const struct door_stream *st, uint32_t id, int32_t status,
                            const char *msg)
{
    uint8_t *reply;
    size_t len;
    if (session_error_reply(id, status, msg, &reply, &len) == 0) {
        st->write(st->ctx, reply, len);
        free(reply);
    }
}

int door_serve_one(const struct door_stream *st, struct door_session *s,
                   unsigned frame_timeout_ms)
{
    uint8_t hb[TRE_PROTO_HDR_SIZE];
    int r = st->read(st->ctx, hb, 1, 0);
    if (r)
        return r;
    uint64_t deadline = door_now_ms() + frame_timeout_ms;
    r = st->read(st->ctx, hb + 1, sizeof hb - 1, deadline);
    if (r) {
        if (r == -ETIMEDOUT)
            tlog("serve", "%s: frame header not complete in %u ms; dropping", s->peer,
                 frame_timeout_ms);
        return r;
    }
    struct proto_hdr h;
    r = proto_hdr_decode(hb, &h);
    if (r == 0 && (h.op & TRE_OP_REPLY))
        r = -EOPNOTSUPP; /* a client sends requests only */
    if (r) {
        tlog("serve", "%s: bad frame header (%s); closing", s->peer, strerror(-r));
        door_send_error(st, 0, r, "bad frame header");
        return r;
    }
    size_t have = 0, cap = h.len < 65536 ? h.len : 65536;
    uint8_t *payload = malloc(cap ? cap : 1);
    if (!payload)
        return -ENOMEM;
    while (have < h.len) {
        if (have == cap) {
            cap = cap * 2 < h.len ? cap * 2 : h.len;
            uint8_t *bigger = realloc(payload, cap);
            if (!bigger) {
                free(payload);
                return -ENOMEM;
            }
            payload = bigger;
        }
        size_t want = cap - have;
        r = st->read(st->ctx, payload + have, want, deadline);
        if (r) {
            if (r == -ETIMEDOUT)
                tlog("serve", "%s: frame of %u bytes not complete in %u ms; dropping",
                     s->peer, h.len, frame_timeout_ms);
            free(payload);
            return r;
        }
        have += want;
    }
    uint8_t *reply = NULL;
    size_t rlen = 0;
    r = session_handle(s, &h, payload, &reply, &rlen);
    explicit_bzero(payload, h.len);
    free(payload);
    if (r)
        return r;
    r = st->write(st->ctx, reply, rlen);
    free(reply);
    if (r)
        tlog("serve", "%s: reply not taken (%s); dropping", s->peer, strerror(-r));
    return r;
}
