/* door/stream.h — one request at a time from a byte stream, whatever carries it (a Unix
 * socket, a vsock connection): read a frame (bounded, with a deadline once it has started),
 * hand it to the session, write the reply. Both front doors use this, so the protocol is
 * decoded in one place. */
#ifndef TREVISOR_DOOR_STREAM_H
#define TREVISOR_DOOR_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct door_session;

struct door_stream {
    /* Reads exactly n bytes; deadline_ms is CLOCK_MONOTONIC milliseconds, 0 = none.
     * 0, -ECONNRESET at the end of the stream, -ETIMEDOUT, or -errno. */
    int (*read)(void *ctx, uint8_t *buf, size_t n, uint64_t deadline_ms);
    /* Writes all n bytes (the transport applies its own send timeout). 0 or -errno. */
    int (*write)(void *ctx, const uint8_t *buf, size_t n);
    void *ctx;
};

uint64_t door_now_ms(void);
/* Serves one request. 0 to go on; <0 to drop the connection (end of stream, a framing
 * error — after an ERROR reply —, a timeout, or a reply the peer did not take). */
int door_serve_one(const struct door_stream *st, struct door_session *s,
                   unsigned frame_timeout_ms);

#endif
