/* vsock/vsock_door.h — the user environment's front door: a vhost-user socket that QEMU's
 * vhost-user-vsock-pci connects to, and the event loop that drives the vhost-user back end
 * and the vsock device (front-end messages, queue kicks, worker output). */
#ifndef TREVISOR_VSOCK_VSOCK_DOOR_H
#define TREVISOR_VSOCK_VSOCK_DOOR_H

#include <stddef.h>
#include <stdint.h>

struct tre_engine;
struct vsock_door;

struct vsock_door_config {
    const char *path;        /* the vhost-user socket QEMU connects to */
    uint64_t guest_cid;      /* 0 = 3 */
    struct tre_engine *engine;
};

int vsock_door_open(const struct vsock_door_config *cfg, struct vsock_door **out,
                    char *err, size_t errlen);
/* Waits for the front end, then serves it until it goes away (0) or stop_fd becomes
 * readable (1). Either way every guest connection is ended and its instances closed. */
int vsock_door_run(struct vsock_door *d, int stop_fd);
void vsock_door_free(struct vsock_door *d);
/* Isolation tests: occurrences of needle in all of the guest's RAM as trevisor maps it
 * (0 before the front end shared it); *ram_bytes the RAM size seen, *first_host where
 * trevisor maps the first region. */
long vsock_door_debug_scan(struct vsock_door *d, const void *needle, size_t len,
                           uint64_t *ram_bytes, void **first_host);

#endif
