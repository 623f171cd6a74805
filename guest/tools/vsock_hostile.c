/* guest/tools/vsock_hostile.c — a hostile program for the user environment's tests: it
 * attacks trevisor's vsock port from inside the guest (static, no libtre). Modes:
 *   garbage N    N connections, each sends random bytes and a bad frame, then closes
 *   flood N      opens N connections at once and holds them for 2 s
 *   halfopen N   N connections that send half a frame header and wait
 *   deaf N       sends N big RPC requests (exec of a huge fake image) and never reads
 *   echo N       round trips N 64-byte messages on the echo port (must all come back)
 * Prints "hostile MODE: done" (or a reason) and exits 0 unless its own calls failed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define TRE_PORT 7300
#define ECHO_PORT 7301

static int hostile_connect(unsigned port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = port };
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: vsock_hostile garbage|flood|halfopen|deaf|echo N\n");
        return 2;
    }
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    if (n < 1 || n > 1000)
        return 2;
    srand((unsigned)time(NULL));
    if (!strcmp(mode, "garbage")) {
        for (int i = 0; i < n; i++) {
            int fd = hostile_connect(TRE_PORT);
            if (fd < 0)
                continue;
            uint8_t junk[512];
            for (size_t k = 0; k < sizeof junk; k++)
                junk[k] = (uint8_t)rand();
            if (i % 2)
                memcpy(junk, "TREP\x01\x00\x02\x00", 8); /* a plausible header, bad body */
            if (write(fd, junk, sizeof junk) < 0) {
                /* reset by trevisor: fine */
            }
            close(fd);
        }
    } else if (!strcmp(mode, "flood") || !strcmp(mode, "halfopen")) {
        int *fds = calloc((size_t)n, sizeof *fds), open_ = 0;
        for (int i = 0; i < n; i++) {
            fds[i] = hostile_connect(TRE_PORT);
            if (fds[i] >= 0) {
                open_++;
                if (!strcmp(mode, "halfopen") && write(fds[i], "TREP\x01\x00", 6) < 0)
                    fds[i] = fds[i];
            }
        }
        printf("hostile %s: %d of %d connections opened\n", mode, open_, n);
        sleep(2);
        for (int i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        free(fds);
    } else if (!strcmp(mode, "deaf")) {
        int fd = hostile_connect(TRE_PORT);
        if (fd < 0) {
            printf("hostile deaf: cannot connect\n");
            return 1;
        }
        /* close requests for descriptors it does not own: each gets a reply it never reads */
        for (int i = 0; i < n; i++) {
            uint8_t m[20] = { 'T', 'R', 'E', 'P', 1, 0, 3, 0, (uint8_t)i, 0, 0, 0, 4, 0, 0, 0,
                              1, 0, 0, 0 };
            if (write(fd, m, sizeof m) < 0)
                break;
        }
        sleep(1);
        close(fd);
    } else if (!strcmp(mode, "echo")) {
        int fd = hostile_connect(ECHO_PORT);
        if (fd < 0) {
            printf("hostile echo: cannot connect\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            char out[64], in[64];
            memset(out, 'a' + i % 26, sizeof out);
            size_t got = 0;
            if (write(fd, out, sizeof out) != sizeof out)
                return 1;
            while (got < sizeof in) {
                ssize_t k = read(fd, in + got, sizeof in - got);
                if (k <= 0)
                    return 1;
                got += (size_t)k;
            }
            if (memcmp(in, out, sizeof in))
                return 1;
        }
        close(fd);
    } else {
        return 2;
    }
    printf("hostile %s: done\n", mode);
    return 0;
}
