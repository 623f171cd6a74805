/* door/session.h — one client connection's conversation with the engine, whatever the
 * transport (Unix socket now, vsock next): it decodes a request with the one codec, calls
 * the engine, encodes the reply, and owns the descriptors the connection created, so that
 * one client can never call or close another's instance and a client that goes away
 * leaves nothing behind. */
#ifndef TREVISOR_DOOR_SESSION_H
#define TREVISOR_DOOR_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include "door/proto.h"

struct tre_engine;

#define SESSION_MAX_DESCS 256

struct door_session {
    struct tre_engine *engine;
    char peer[96];              /* for log lines: "pid 123 uid 0" */
    unsigned ndescs;
    int descs[SESSION_MAX_DESCS];
};

void session_init(struct door_session *s, struct tre_engine *e, const char *peer);
/* Handles one well-framed request. *reply is malloc'd (caller frees), *reply_len its size.
 * Returns 0 (send the reply, keep going) or -errno if nothing can be replied (out of
 * memory): then drop the connection. */
int session_handle(struct door_session *s, const struct proto_hdr *h, const uint8_t *payload,
                   uint8_t **reply, size_t *reply_len);
/* An ERROR reply for a request that could not be framed or decoded. */
int session_error_reply(uint32_t id, int32_t status, const char *msg, uint8_t **reply,
                        size_t *reply_len);
/* Closes every instance the connection still owns. */
void session_end(struct door_session *s);

#endif
