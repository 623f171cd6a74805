/* door/unix_door.h — hosted mode's front door: the TRE protocol on a Unix socket. One
 * thread per connection (bounded), each with its own session; SO_PEERCRED is logged. */
#ifndef TREVISOR_DOOR_UNIX_DOOR_H
#define TREVISOR_DOOR_UNIX_DOOR_H

#include <sys/types.h>

struct tre_engine;

struct unix_door_config {
    const char *path;         /* the socket; an existing socket file there is replaced */
    gid_t group;              /* (gid_t)-1: mode 0600; else mode 0660 and this group */
    unsigned max_conns;       /* 0 = 64 */
    unsigned frame_timeout_ms;/* a started frame must arrive within this; 0 = 30000 */
    unsigned send_timeout_ms; /* a reply must be taken within this; 0 = 10000 */
};

struct unix_door;

int unix_door_open(const struct unix_door_config *cfg, struct tre_engine *e,
                   struct unix_door **out, char *err, size_t errlen);
/* Accepts and serves until stop_fd becomes readable (e.g. a signalfd for SIGINT and
 * SIGTERM). Then ends every connection (their instances are closed), removes the socket
 * and returns 0. */
int unix_door_run(struct unix_door *d, int stop_fd);
void unix_door_free(struct unix_door *d);

#endif
