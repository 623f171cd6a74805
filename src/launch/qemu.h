/* launch/qemu.h — the user environment's VMM: chooses the accelerator, builds QEMU's
 * command line (guest RAM as a shared memfd, vhost-user-vsock-pci on trevisor's socket, the
 * serial console on trevisor's terminal, no token and nothing else of trevisor's), logs it
 * whole, starts QEMU and reports how it ended. */
#ifndef TREVISOR_LAUNCH_QEMU_H
#define TREVISOR_LAUNCH_QEMU_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum qemu_accel { QEMU_ACCEL_AUTO, QEMU_ACCEL_KVM, QEMU_ACCEL_TCG };

struct qemu_config {
    const char *binary;        /* NULL: qemu-system-x86_64 from PATH */
    const char *kernel, *initrd, *cmdline;
    uint64_t mem_bytes;        /* 0 = 512 MiB */
    unsigned cpus;             /* 0 = 1 */
    enum qemu_accel accel;
    const char *vsock_socket;  /* trevisor's vhost-user socket */
};

#define QEMU_MAX_ARGS 48

struct qemu_cmd {
    char *argv[QEMU_MAX_ARGS + 1];
    unsigned argc;
    enum qemu_accel accel;     /* resolved: KVM or TCG */
    char why[160];             /* why that accelerator */
};

/* Resolves "auto": hardware KVM when /dev/kvm is usable and not the PVM backend (which
 * cannot run a full Linux guest), else TCG. */
enum qemu_accel qemu_pick_accel(enum qemu_accel want, char *why, size_t whylen);
int qemu_build(const struct qemu_config *cfg, struct qemu_cmd *cmd, char *err, size_t errlen);
void qemu_cmd_free(struct qemu_cmd *cmd);
/* The whole command line as one line (for the log and, later, the measurement). */
int qemu_cmdline_string(const struct qemu_cmd *cmd, char *out, size_t outlen);
/* Starts QEMU. console_fd < 0: stdin/stdout/stderr inherited (the console is this
 * terminal); else the console's output goes to console_fd and stdin is /dev/null. */
int qemu_spawn(const struct qemu_cmd *cmd, int console_fd, pid_t *pid);
/* Parses "512M", "1G", "268435456". */
int qemu_parse_size(const char *s, uint64_t *out);

#endif
