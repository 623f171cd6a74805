/* launch/qemu.c — QEMU's command line and process. It never gives the guest anything but
 * its RAM, its console and the vhost-user-vsock device: -nodefaults, no network, no disk
 * unless asked later, and never the tamper-resistant token. */
#include "launch/qemu.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/kvm.h"

extern char **environ;

enum qemu_accel qemu_pick_accel(enum qemu_accel want, char *why, size_t whylen)
{
    if (want == QEMU_ACCEL_TCG) {
        snprintf(why, whylen, "TCG as asked");
        return QEMU_ACCEL_TCG;
    }
    int kvm_ok = access("/dev/kvm", R_OK | W_OK) == 0;
    if (want == QEMU_ACCEL_KVM) {
        snprintf(why, whylen, "KVM as asked%s", kvm_ok ? "" : " (but /dev/kvm is not usable)");
        return QEMU_ACCEL_KVM;
    }
    if (!kvm_ok) {
        snprintf(why, whylen, "auto: no usable /dev/kvm, so TCG");
        return QEMU_ACCEL_TCG;
    }
    if (kvm_sys_is_pvm()) {
        snprintf(why, whylen, "auto: /dev/kvm is the PVM backend, which cannot run a full "
                 "Linux guest, so TCG");
        return QEMU_ACCEL_TCG;
    }
    snprintf(why, whylen, "auto: hardware KVM");
    return QEMU_ACCEL_KVM;
}

int qemu_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || v == 0 || v > (~0ull >> shift))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

static int qemu_arg(struct qemu_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int qemu_arg(struct qemu_cmd *c, const char *fmt, ...)
{
    if (c->argc == QEMU_MAX_ARGS)
        return -E2BIG;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&c->argv[c->argc], fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    c->argc++;
    c->argv[c->argc] = NULL;
    return 0;
}

int qemu_build(const struct qemu_config *cfg, struct qemu_cmd *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!cfg->kernel || !cfg->initrd || !cfg->vsock_socket) {
        snprintf(err, errlen, "run: a kernel, an initrd and the vsock socket are needed");
        return -EINVAL;
    }
    /* QEMU's option syntax uses ',' as a separator: refuse paths that would inject options */
    const char *paths[] = { cfg->kernel, cfg->initrd, cfg->vsock_socket };
    for (unsigned i = 0; i < 3; i++)
        if (strchr(paths[i], ',')) {
            snprintf(err, errlen, "run: '%s': commas are not allowed in paths", paths[i]);
            return -EINVAL;
        }
    if (access(cfg->kernel, R_OK) || access(cfg->initrd, R_OK)) {
        snprintf(err, errlen, "run: cannot read %s", access(cfg->kernel, R_OK) ? cfg->kernel
                                                                             : cfg->initrd);
        return -ENOENT;
    }
    uint64_t mem = cfg->mem_bytes ? cfg->mem_bytes : 512ull << 20;
    unsigned cpus = cfg->cpus ? cfg->cpus : 1;
    c->accel = qemu_pick_accel(cfg->accel, c->why, sizeof c->why);
    int r = 0;
    r |= qemu_arg(c, "%s", cfg->binary ? cfg->binary : "qemu-system-x86_64");
    r |= qemu_arg(c, "-nodefaults");
    r |= qemu_arg(c, "-no-user-config");
    r |= qemu_arg(c, "-machine");
    r |= qemu_arg(c, "q35,accel=%s,memory-backend=trevisor-ram",
                  c->accel == QEMU_ACCEL_KVM ? "kvm" : "tcg");
    r |= qemu_arg(c, "-cpu");
    r |= qemu_arg(c, "%s", c->accel == QEMU_ACCEL_KVM ? "host" : "max");
    r |= qemu_arg(c, "-smp");
    r |= qemu_arg(c, "%u", cpus);
    r |= qemu_arg(c, "-m");
    r |= qemu_arg(c, "%llu", (unsigned long long)(mem >> 20));
    r |= qemu_arg(c, "-object");
    r |= qemu_arg(c, "memory-backend-memfd,id=trevisor-ram,size=%llu,share=on",
                  (unsigned long long)mem);
    r |= qemu_arg(c, "-chardev");
    r |= qemu_arg(c, "socket,id=trevisor-vsock,path=%s", cfg->vsock_socket);
    r |= qemu_arg(c, "-device");
    /* the guest's CID is not an option here: the device reads it from trevisor's config
     * space (vhost-user GET_CONFIG) */
    r |= qemu_arg(c, "vhost-user-vsock-pci,chardev=trevisor-vsock");
    r |= qemu_arg(c, "-display");
    r |= qemu_arg(c, "none");
    r |= qemu_arg(c, "-serial");
    r |= qemu_arg(c, "stdio");
    r |= qemu_arg(c, "-monitor");
    r |= qemu_arg(c, "none");
    r |= qemu_arg(c, "-no-reboot");
    r |= qemu_arg(c, "-kernel");
    r |= qemu_arg(c, "%s", cfg->kernel);
    r |= qemu_arg(c, "-initrd");
    r |= qemu_arg(c, "%s", cfg->initrd);
    r |= qemu_arg(c, "-append");
    r |= qemu_arg(c, "%s", cfg->cmdline ? cfg->cmdline : "console=ttyS0 quiet panic=-1");
    if (r) {
        qemu_cmd_free(c);
        snprintf(err, errlen, "run: cannot build QEMU's command line");
        return -ENOMEM;
    }
    return 0;
}

void qemu_cmd_free(struct qemu_cmd *c)
{
    for (unsigned i = 0; i < c->argc; i++)
        free(c->argv[i]);
    c->argc = 0;
}

int qemu_cmdline_string(const struct qemu_cmd *c, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = 0;
    for (unsigned i = 0; i < c->argc; i++) {
        int quote = strpbrk(c->argv[i], " \t\"'") != NULL;
        int k = snprintf(out + n, outlen - n, "%s%s%s%s", i ? " " : "", quote ? "'" : "",
                         c->argv[i], quote ? "'" : "");
        if (k < 0 || (size_t)k >= outlen - n)
            return -ENOSPC;
        n += (size_t)k;
    }
    return 0;
}

int qemu_spawn(const struct qemu_cmd *c, int console_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (console_fd >= 0) {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, console_fd, 1);
    }
    int r = posix_spawnp(pid, c->argv[0], &fa, NULL, c->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return r ? -r : 0;
}
