/* tests/test_guest.c — the user environment end to end under QEMU (TCG here): the engine,
 * the vsock front door and QEMU in this process's control, the guest image running
 * /tests/e2e.sh (the examples, eight concurrent clients, a client killed mid-call, a TRE
 * crash, hostile guest programs). Meanwhile a TRE instance of the host holds a secret
 * canary, and the guest's whole RAM, as trevisor maps it, is scanned during and after the
 * guest's TRE calls: it must never contain the canary (a marker the guest writes must be
 * found, so the scanner does see guest RAM). A TRE program probing the host address of
 * that mapping dies. Needs the guest image (make guest-image) and qemu-system-x86_64. */
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "launch/qemu.h"
#include "vsock/vsock_door.h"

struct loop_arg {
    struct vsock_door *door;
    int stop_fd;
};

static void *loop_main(void *p)
{
    struct loop_arg *a = p;
    vsock_door_run(a->door, a->stop_fd);
    return NULL;
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, prefix)); p++)
        if (p == text || p[-1] == '\n')
            n++;
    return n;
}

/* The host side of a guest run: engine, vsock front door and its loop thread. */
struct guest_host {
    struct tre_engine *e;
    struct vsock_door *door;
    int stop[2];
    pthread_t th;
    struct loop_arg la;
    char dir[32], sock[128], kernel[256], initrd[256];
};

/* 0, or -1 after reporting a failure (no image, no QEMU, no door). */
static int guest_host_start(struct guest_host *g, uint64_t budget_ms)
{
    memset(g, 0, sizeof *g);
    snprintf(g->kernel, sizeof g->kernel, "%s/guest/vmlinux", fx_build());
    snprintf(g->initrd, sizeof g->initrd, "%s/guest/initrd.cpio.gz", fx_build());
    const char *missing = access(g->kernel, R_OK) || access(g->initrd, R_OK)
                              ? "no guest image (make guest-image)"
                          : system("command -v qemu-system-x86_64 >/dev/null")
                              ? "qemu-system-x86_64 is not installed" : NULL;
    if (missing) {
        printf("FAIL %s: %s\n", check_name_, missing);
        check_total_fail_++;
        check_skipped_ = 1;
        return -1;
    }
    fx_log_start();
    g->e = fx_engine(budget_ms);
    snprintf(g->dir, sizeof g->dir, "/tmp/trevisor-guest-XXXXXX");
    char err[256];
    if (!g->e || !mkdtemp(g->dir)) {
        CHECK(!"engine or temporary directory");
        return -1;
    }
    snprintf(g->sock, sizeof g->sock, "%s/vsock.sock", g->dir);
    struct vsock_door_config vc = { .path = g->sock, .guest_cid = 3, .engine = g->e };
    if (vsock_door_open(&vc, &g->door, err, sizeof err) || pipe(g->stop)) {
        fprintf(stderr, "  %s\n", err);
        CHECK(!"vsock door");
        return -1;
    }
    g->la = (struct loop_arg){ g->door, g->stop[0] };
    pthread_create(&g->th, NULL, loop_main, &g->la);
    return 0;
}

static void guest_host_stop(struct guest_host *g)
{
    if (write(g->stop[1], "x", 1) != 1)
        perror("write");
    pthread_join(g->th, NULL);
    vsock_door_free(g->door);
    tre_engine_free(g->e);
    close(g->stop[0]);
    close(g->stop[1]);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf %s", g->dir);
    CHECK_EQ(system(rm), 0);
    tlog_set_sink(NULL, NULL);
}

static void test_guest_end_to_end(void)
{
    NEED_KVM();
    struct guest_host g;
    if (guest_host_start(&g, 3000))
        return;
    struct tre_engine *e = g.e;
    struct vsock_door *door = g.door;
    char console[160], err[256];
    snprintf(console, sizeof console, "%s/console.txt", g.dir);

    /* a host-side TRE instance holds the canary */
    uint8_t canary[32];
    RAND_bytes(canary, sizeof canary);
    int keeper = fx_exec(e, "secret");
    CHECK(keeper >= 0);
    struct iovec k[1] = { { canary, sizeof canary } };
    CHECK_EQ(tre_engine_rpc(e, keeper, 0, k, 1, NULL, 0), 0);
    CHECK(tre_engine_debug_scan(e, keeper, canary, sizeof canary) > 0);

    struct qemu_config qc = { .kernel = g.kernel, .initrd = g.initrd,
                              .mem_bytes = 256ull << 20, .accel = QEMU_ACCEL_AUTO,
                              .vsock_socket = g.sock,
                              .cmdline = "console=ttyS0 quiet panic=-1 trevisor.run=e2e "
                                         "trevisor.timeout=240" };
    struct qemu_cmd cmd;
    CHECK_EQ(qemu_build(&qc, &cmd, err, sizeof err), 0);
    int cfd = open(console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_t pid = -1;
    CHECK_EQ(qemu_spawn(&cmd, cfd, &pid), 0);
    close(cfd);

    /* scan the guest's RAM while it runs */
    static const char marker[] = "trevisor-guest-ram-marker-5f1etrevisor-guest-ram-marker-5f1e";
    long canary_hits = 0, marker_hits = 0, scans = 0;
    uint64_t ram = 0, ram_seen = 0;
    void *ram_host = NULL;
    int status = 0;
    for (int t = 0; t < 600; t++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            break;
        }
        long c = vsock_door_debug_scan(door, canary, sizeof canary, &ram, &ram_host);
        if (ram) {
            ram_seen = ram;
            scans++;
            canary_hits += c;
            marker_hits += vsock_door_debug_scan(door, marker, sizeof marker - 1, NULL, NULL);
        }
        usleep(500 * 1000);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(!"the guest did not finish in 300 s");
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(scans > 3);
    CHECK_EQ(ram_seen, 256ull << 20);
    CHECK_EQ(canary_hits, 0);
    CHECK(marker_hits > 0);

    /* a TRE program cannot reach the guest's RAM, even knowing where trevisor maps it */
    int prober = fx_exec(e, "faults");
    uint64_t target = (uint64_t)(uintptr_t)ram_host;
    uint8_t a[8], out[8];
    memcpy(a, &target, 8);
    struct iovec pa[1] = { { a, 8 } }, pr[1] = { { out, 8 } };
    CHECK_EQ(tre_engine_rpc(e, prober, 16, pa, 1, pr, 1), -EFAULT);

    /* the guest's own results */
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(file_read_all(console, 1 << 20, &text, &len), 0);
    if (text) {
        int passed = count_lines(text, "E2E PASS"), failed = count_lines(text, "E2E FAIL");
        if (failed || passed < 9 || !strstr(text, "E2E DONE"))
            fprintf(stderr, "  guest console:\n%s\n", text);
        CHECK(strstr(text, "trevisor-guest: up") != NULL);
        CHECK_EQ(failed, 0);
        CHECK_EQ(passed, 9);
        CHECK(strstr(text, "E2E DONE") != NULL);
        CHECK(strstr(text, "trevisor-guest: exit 0") != NULL);
        free(text);
    }
    /* the guest is gone; the host's own instance is intact */
    CHECK_EQ(tre_engine_rpc(e, keeper, 1, NULL, 0, NULL, 0), 1);
    qemu_cmd_free(&cmd);
    guest_host_stop(&g);
}

/* QEMU dies (SIGKILL), or the guest kernel panics, while the guest has a TRE call
 * running: trevisor notices the front end is gone, ends the guest's connection and closes
 * its instance; the host's own instance is untouched. */
static void guest_dies_mid_call(int by_panic)
{
    NEED_KVM();
    struct guest_host g;
    if (guest_host_start(&g, 3000))
        return;
    struct tre_engine *e = g.e;
    char err[256];
    int keeper = fx_exec(e, "add-musl");
    CHECK(keeper >= 0);
    struct qemu_config qc = { .kernel = g.kernel, .initrd = g.initrd,
                              .mem_bytes = 256ull << 20, .accel = QEMU_ACCEL_AUTO,
                              .vsock_socket = g.sock,
                              .cmdline = by_panic ? "console=ttyS0 quiet panic=-1 trevisor.run=panic"
                                                  : "console=ttyS0 quiet panic=-1 trevisor.run=hold" };
    struct qemu_cmd cmd;
    CHECK_EQ(qemu_build(&qc, &cmd, err, sizeof err), 0);
    int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = -1;
    CHECK_EQ(qemu_spawn(&cmd, nul, &pid), 0);
    close(nul);
    int busy = 0;
    for (int t = 0; t < 1200 && !busy; t++) {     /* up to 120 s for boot and the first call */
        usleep(100 * 1000);
        busy = tre_engine_instances(e) >= 2;
    }
    CHECK(busy);
    int status = 0;
    if (by_panic) {
        /* the guest panics on its own; panic=-1 and -no-reboot make QEMU exit */
        int exited = 0;
        for (int t = 0; t < 600 && !exited; t++) {
            usleep(100 * 1000);
            exited = waitpid(pid, &status, WNOHANG) == pid;
        }
        CHECK(exited);
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    } else {
        usleep(300 * 1000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    int cleaned = 0;
    for (int t = 0; t < 100 && !cleaned; t++) {     /* the guest's instance is closed */
        usleep(100 * 1000);
        cleaned = tre_engine_instances(e) == 1;
    }
    CHECK(cleaned);
    int sum = 0;
    CHECK_EQ(fx_add(e, keeper, 2, 3, &sum), 0);
    CHECK_EQ(sum, 5);
    qemu_cmd_free(&cmd);
    guest_host_stop(&g);
}

static void test_qemu_killed_mid_call(void)
{
    guest_dies_mid_call(0);
}

static void test_guest_panic_mid_call(void)
{
    guest_dies_mid_call(1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    TEST(test_guest_end_to_end);
    TEST(test_qemu_killed_mid_call);
    TEST(test_guest_panic_mid_call);
    TEST_EXIT();
}
