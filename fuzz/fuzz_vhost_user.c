/* fuzz/fuzz_vhost_user.c — libFuzzer target for the vhost-user back end
 * (src/vsock/vhost_user.c, with gmem and virtq under it). The input is a script of records:
 *   op 0xff: guest memory write — u32 offset, u16 length, bytes (into the shared memfd);
 *   op 0xfe: kick — u8 queue index (vhost_user_kick, as the event loop would call it);
 *   other op: a message — u16 length, then that many bytes (header and payload) given to
 *             vhost_user_handle_msg with (op & 15) % 11 fds: fd i is a dup of the guest
 *             memfd if bit (4 + i % 4) of op is set, else a fresh eventfd.
 * A message the back end answers with a drop (< 0) ends the connection: the state is
 * cleaned up and a new connection starts, as the event loop would do. The fake device pops
 * every chain on a kick and writes its writable segments. Replies are read and thrown away.
 * Properties: no crash, no hang, and not one fd more after the run than before it.
 * Seeds: fuzz/corpus/vhost_user (written by `build/tests/test_vhost_user --write-corpus DIR`).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE
 *        -Iinclude -Isrc fuzz/fuzz_vhost_user.c src/vsock/vhost_user.c src/vsock/virtq.c
 *        src/vsock/gmem.c src/util/log.c
 * Run:   ./a.out fuzz/corpus/vhost_user -max_len=65536 -max_total_time=300 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "vsock/vhost_user.h"

#define FZ_MEM_SIZE 0x40000u    /* the guest's RAM: a 256 KiB memfd */
#define FZ_MAX_FDS  10          /* more than a message may carry */

static int fz_memfd = -1;
static uint8_t *fz_guest;
static int fz_sock[2] = { -1, -1 };

static void fuzz_check(int cond)
{
    if (!cond)
        abort();
}

static int fz_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    fuzz_check(d != NULL);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

struct fz_dev {
    struct vhost_user *vu;
    uint8_t cfg[8];
};

static size_t fz_get_config(void *dev, uint32_t offset, void *buf, size_t len)
{
    struct fz_dev *d = dev;
    if (offset >= sizeof d->cfg)
        return 0;
    size_t n = sizeof d->cfg - offset < len ? sizeof d->cfg - offset : len;
    memcpy(buf, d->cfg + offset, n);
    return n;
}

static void fz_kick(void *dev, unsigned qidx)
{
    struct fz_dev *d = dev;
    fuzz_check(qidx < VHOST_USER_MAX_QUEUES);
    struct virtq *q = &d->vu->vq[qidx];
    struct virtq_elem e;
    for (unsigned budget = 0; budget < 256 && virtq_pop(q, &d->vu->mem, &e) == 1; budget++) {
        uint32_t written = 0;
        for (unsigned i = 0; i < e.nsegs; i++) {
            if (i >= e.nread) {
                memset(e.seg[i].ptr, 0xa5, e.seg[i].len);
                written += e.seg[i].len;
            } else {
                (void)*(volatile uint8_t *)&e.seg[i].ptr[e.seg[i].len - 1];
            }
        }
        virtq_push(q, e.head, written);
    }
    virtq_notify(q);
}

static void fz_reset(void *dev)
{
    (void)dev;
}

static const struct vhost_user_device_ops fz_ops = {
    .features = 1,
    .get_config = fz_get_config,
    .kick = fz_kick,
    .reset = fz_reset,
};

static void fz_drain(void)
{
    uint8_t buf[512];
    while (recv(fz_sock[0], buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tlog_set_quiet(1);
    fz_memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
    fuzz_check(fz_memfd >= 0 && ftruncate(fz_memfd, FZ_MEM_SIZE) == 0);
    fz_guest = mmap(NULL, FZ_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fz_memfd, 0);
    fuzz_check(fz_guest != MAP_FAILED);
    fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fz_sock) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int before = fz_count_fds();
    struct vhost_user vu;
    struct fz_dev dev = { .vu = &vu, .cfg = { 3 } };
    /* a memfd given as a kick or call fd moves the shared offset, and may grow the file */
    fuzz_check(ftruncate(fz_memfd, FZ_MEM_SIZE) == 0 && lseek(fz_memfd, 0, SEEK_SET) == 0);
    memset(fz_guest, 0, FZ_MEM_SIZE);
    vhost_user_init(&vu, fz_sock[1], &fz_ops, &dev);

    size_t p = 0;
    while (p < size) {
        uint8_t op = data[p++];
        if (op == 0xff) {
            uint32_t off;
            uint16_t len;
            if (size - p < 6)
                break;
            memcpy(&off, data + p, 4);
            memcpy(&len, data + p + 4, 2);
            p += 6;
            if (len > size - p)
                len = (uint16_t)(size - p);
            off %= FZ_MEM_SIZE;
            size_t n = len < FZ_MEM_SIZE - off ? len : FZ_MEM_SIZE - off;
            memcpy(fz_guest + off, data + p, n);
            p += len;
        } else if (op == 0xfe) {
            if (size - p < 1)
                break;
            vhost_user_kick(&vu, data[p++]);
        } else {
            uint16_t len;
            if (size - p < 2)
                break;
            memcpy(&len, data + p, 2);
            p += 2;
            if (len > size - p)
                len = (uint16_t)(size - p);
            unsigned nfds = (op & 15u) % (FZ_MAX_FDS + 1);
            int fds[FZ_MAX_FDS];
            for (unsigned i = 0; i < nfds; i++) {
                fds[i] = ((op >> 4) >> (i % 4)) & 1 ? dup(fz_memfd)
                                                    : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
                fuzz_check(fds[i] >= 0);
            }
            /* a copy of exactly len bytes, so ASan sees any read past the message */
            uint8_t *msg = malloc(len ? len : 1);
            fuzz_check(msg != NULL);
            memcpy(msg, data + p, len);
            p += len;
            int rc = vhost_user_handle_msg(&vu, msg, len, fds, nfds);
            free(msg);
            fz_drain();
            if (rc < 0) {
                /* the connection is dropped; a new front end connects */
                vhost_user_cleanup(&vu);
                vhost_user_init(&vu, fz_sock[1], &fz_ops, &dev);
            }
        }
    }
    vhost_user_cleanup(&vu);
    fz_drain();
    fuzz_check(fz_count_fds() == before);
    return 0;
}
