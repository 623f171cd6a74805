/* measure/tpm.c — the TPM 2.0 backend through tss2-esys and the tcti loader.
 *
 * TPM_SWTPM forks `swtpm socket --tpm2` with its state in STATE/swtpm and talks to it over
 * a Unix socket ("swtpm:path=STATE/swtpm/sock"; the control channel is sock.ctrl, which
 * is what the swtpm TCTI expects). TPM_DEVICE opens "device:/dev/tpmrm0". TPM_NONE
 * refuses extends and quotes with -ENODEV.
 *
 * Keys: an ECC P-256 storage primary key (SRK) is recreated under the owner hierarchy at
 * each open (deterministic from the owner seed, so it is always the same key); the
 * attestation key is an ordinary key under it, created once and saved as STATE/ak.pub and
 * STATE/ak.priv (marshalled TPM2B_PUBLIC/TPM2B_PRIVATE) and loaded afterwards. Without a
 * state directory (a device opened without one) the AK is itself a primary key, which is
 * equally stable. Owner hierarchy auth is assumed empty.
 *
 * Sealing: a keyed-hash sealed-data object under the SRK with PolicyPCR as its only
 * authorization, unsealed through a policy session. NV: ordinary indices whose reads and
 * writes both need the index's authValue (docs/sealing.md). No TPM object outlives a call.
 *
 * Errors: every TSS return code becomes one line with Tss2_RC_Decode; a TPM-layer error
 * gives -EPROTO, anything below it (TCTI, ESYS, a dead swtpm) -EIO. SIGPIPE is blocked
 * around every TPM call so that a swtpm dying mid-command gives an error, not a crash. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/tpm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "util/err.h"
#include "util/log.h"

#define SWTPM_START_TIMEOUT_MS 5000
#define SWTPM_STOP_TIMEOUT_MS 2000

struct tpm {
    enum tpm_kind kind;
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    pid_t child;             /* swtpm, or 0 */
    int child_dead;          /* reaped already */
    char state_dir[PATH_MAX];/* "" if none */
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    ESYS_TR srk;
    ESYS_TR ak;
    TPM2B_PUBLIC ak_pub;
    int broken;              /* a TCTI/ESYS-level failure: the connection is unusable */
    char broken_msg[200];
    char lasterr[256];
};

/* ---- errors ---- */

static int tss_err(char *err, size_t errlen, TSS2_RC rc, const char *what)
{
    int code = (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ? -EPROTO : -EIO;
    return errf(err, errlen, code, "tpm: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), rc);
}

/* A swtpm that exited is reported as such, before trying to talk to it. */
static int check_child(struct tpm *t, char *err, size_t errlen)
{
    if (t->kind != TPM_SWTPM)
        return 0;
    if (!t->child_dead) {
        int st;
        pid_t r = waitpid(t->child, &st, WNOHANG);
        if (r == 0)
            return 0;
        t->child_dead = 1;
        if (r == t->child) {
            if (WIFSIGNALED(st))
                return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) was killed by signal %d",
                            (int)t->child, WTERMSIG(st));
            return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) exited with status %d",
                        (int)t->child, WEXITSTATUS(st));
        }
    }
    return errf(err, errlen, -EIO, "tpm: swtpm (pid %d) is not running", (int)t->child);
}

/* After a failed TPM call: a dead swtpm is named as such; any failure below the TPM
 * (TCTI, ESYS) leaves the ESYS context unusable, so later calls report the first cause
 * instead of ESYS's "called in the wrong order". */
static int call_failed(struct tpm *t, TSS2_RC rc, const char *what, char *err, size_t errlen)
{
    int r = tss_err(err, errlen, rc, what);
    if (check_child(t, err, errlen) < 0)
        r = -EIO;
    if (r == -EIO && !t->broken) {
        t->broken = 1;
        snprintf(t->broken_msg, sizeof t->broken_msg, "%s", err && errlen ? err : what);
    }
    return r;
}

/* ---- SIGPIPE guard ---- */

struct pipe_guard { sigset_t old; int pending_before; };

static void guard_enter(struct pipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    g->pending_before = sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void guard_leave(struct pipe_guard *g)
{
    if (!g->pending_before) {
        sigset_t set, pend;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigpending(&pend);
        if (sigismember(&pend, SIGPIPE)) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {}
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- files ---- */

static int write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 8];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return errf(err, errlen, -ENAMETOOLONG, "tpm: path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errf(err, errlen, -errno, "tpm: %s: %s", tmp, strerror(errno));
    const uint8_t *p = buf;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return errf(err, errlen, -e, "tpm: write %s: %s", tmp, strerror(e));
        }
        off += (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return errf(err, errlen, -e, "tpm: write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return errf(err, errlen, -e, "tpm: rename to %s: %s", path, strerror(e));
    }
    return 0;
}

/* Reads a whole small file; -ENOENT if missing. */
static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len,
                     char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errf(err, errlen, -errno, "tpm: %s: %s", path, strerror(errno));
    size_t off = 0;
    for (;;) {
        if (off == cap) {
            close(fd);
            return errf(err, errlen, -EFBIG, "tpm: %s: too large", path);
        }
        ssize_t n = read(fd, buf + off, cap - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return errf(err, errlen, -e, "tpm: read %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    *len = off;
    return 0;
}

static int mkdir_p1(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return errf(err, errlen, -errno, "tpm: mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* ---- swtpm child ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int try_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static void stop_swtpm(struct tpm *t)
{
    if (t->child <= 0 || t->child_dead)
        return;
    kill(t->child, SIGTERM);
    long deadline = now_ms() + SWTPM_STOP_TIMEOUT_MS;
    for (;;) {
        pid_t r = waitpid(t->child, NULL, WNOHANG);
        if (r == t->child || (r < 0 && errno != EINTR))
            break;
        if (now_ms() > deadline) {
            kill(t->child, SIGKILL);
            while (waitpid(t->child, NULL, 0) < 0 && errno == EINTR) {}
            break;
        }
        sleep_ms(10);
    }
    t->child_dead = 1;
}

static int start_swtpm(struct tpm *t, char *err, size_t errlen)
{
    char dir[PATH_MAX], ctrl[PATH_MAX], logp[PATH_MAX + 16];
    char a_state[PATH_MAX + 16], a_server[PATH_MAX + 32], a_ctrl[PATH_MAX + 32];
    int r;

    if ((size_t)snprintf(dir, sizeof dir, "%s/swtpm", t->state_dir) >= sizeof dir)
        return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
    if ((r = mkdir_p1(dir, err, errlen)) < 0)
        return r;
    if ((size_t)snprintf(t->sock, sizeof t->sock, "%s/sock", dir) >= sizeof t->sock ||
        (size_t)snprintf(ctrl, sizeof ctrl, "%s.ctrl", t->sock) >= sizeof t->sock)
        return errf(err, errlen, -ENAMETOOLONG,
                    "tpm: swtpm socket path %s/sock.ctrl is longer than a Unix socket allows (%zu)",
                    dir, sizeof t->sock - 1);
    snprintf(logp, sizeof logp, "%s/swtpm.log", dir);
    snprintf(a_state, sizeof a_state, "dir=%s", dir);
    snprintf(a_server, sizeof a_server, "type=unixio,path=%s", t->sock);
    snprintf(a_ctrl, sizeof a_ctrl, "type=unixio,path=%s", ctrl);
    /* A live socket means another process runs a swtpm on this state; one left behind by
     * a killed run would make bind() fail. */
    if (try_connect(t->sock) == 0)
        return errf(err, errlen, -EBUSY, "tpm: a swtpm is already serving %s (another "
                    "trevisor on the same state directory?)", dir);
    unlink(t->sock);
    unlink(ctrl);

    int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return errf(err, errlen, -errno, "tpm: %s: %s", logp, strerror(errno));
    int ep[2];   /* exec-failure report: the child writes errno, CLOEXEC closes it on success */
    if (pipe2(ep, O_CLOEXEC) < 0) {
        int e = errno;
        close(logfd);
        return errf(err, errlen, -e, "tpm: pipe: %s", strerror(e));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd); close(ep[0]); close(ep[1]);
        return errf(err, errlen, -e, "tpm: fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: dies with the thread that started it (see docs/tpm.md). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) { dup2(nul, 0); if (nul > 2) close(nul); }
        dup2(logfd, 1);
        dup2(logfd, 2);
        char *argv[] = {
            "swtpm", "socket", "--tpm2",
            "--tpmstate", a_state,
            "--server", a_server,
            "--ctrl", a_ctrl,
            "--flags", "not-need-init,startup-clear",
            NULL,
        };
        execvp("swtpm", argv);
        int e = errno;
        if (write(ep[1], &e, sizeof e) < 0) {}
        _exit(127);
    }
    close(logfd);
    close(ep[1]);
    t->child = pid;
    t->child_dead = 0;
    int e = 0;
    ssize_t n;
    while ((n = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(ep[0]);
    if (n == (ssize_t)sizeof e) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        t->child_dead = 1;
        return errf(err, errlen, -e, "tpm: cannot run swtpm: %s%s", strerror(e),
                    e == ENOENT ? " (install the swtpm package)" : "");
    }
    long deadline = now_ms() + SWTPM_START_TIMEOUT_MS;
    for (;;) {
        if ((r = check_child(t, NULL, 0)) < 0)
            return errf(err, errlen, -EIO, "tpm: swtpm exited at start; see %s", logp);
        if (access(t->sock, F_OK) == 0 && access(ctrl, F_OK) == 0 &&
            try_connect(t->sock) == 0 && try_connect(ctrl) == 0)
            break;
        if (now_ms() > deadline) {
            stop_swtpm(t);
            return errf(err, errlen, -ETIMEDOUT, "tpm: swtpm did not come up in %d ms; see %s",
                        SWTPM_START_TIMEOUT_MS, logp);
        }
        sleep_ms(10);
    }
    return 0;
}

/* ---- keys ---- */

static void ak_template(TPM2B_PUBLIC *p)
{
    memset(p, 0, sizeof *p);
    p->publicArea.type = TPM2_ALG_ECC;
    p->publicArea.nameAlg = TPM2_ALG_SHA256;
    p->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
        TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    TPMS_ECC_PARMS *e = &p->publicArea.parameters.eccDetail;
    e->symmetric.algorithm = TPM2_ALG_NULL;
    e->scheme.scheme = TPM2_ALG_ECDSA;
    e->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    e->curveID = TPM2_ECC_NIST_P256;
    e->kdf.scheme = TPM2_ALG_NULL;
}

static void srk_template(TPM2B_PUBLIC *p)
{
    memset(p, 0, sizeof *p);
    p->publicArea.type = TPM2_ALG_ECC;
    p->publicArea.nameAlg = TPM2_ALG_SHA256;
    p->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
        TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    TPMS_ECC_PARMS *e = &p->publicArea.parameters.eccDetail;
    e->symmetric.algorithm = TPM2_ALG_AES;
    e->symmetric.keyBits.aes = 128;
    e->symmetric.mode.aes = TPM2_ALG_CFB;
    e->scheme.scheme = TPM2_ALG_NULL;
    e->curveID = TPM2_ECC_NIST_P256;
    e->kdf.scheme = TPM2_ALG_NULL;
}

static int create_primary(struct tpm *t, const TPM2B_PUBLIC *tmpl, ESYS_TR *h,
                          TPM2B_PUBLIC *pub_out, char *err, size_t errlen)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                    ESYS_TR_NONE, ESYS_TR_NONE, &sens, tmpl, &outside,
                                    &creation, h, &pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tss_err(err, errlen, rc, "CreatePrimary");
    if (pub_out)
        *pub_out = *pub;
    Esys_Free(pub);
    return 0;
}

static int load_or_create_ak(struct tpm *t, char *err, size_t errlen)
{
    TPM2B_PUBLIC tmpl;
    ak_template(&tmpl);
    if (!t->state_dir[0])
        return create_primary(t, &tmpl, &t->ak, &t->ak_pub, err, errlen);

    char ppub[PATH_MAX + 16], ppriv[PATH_MAX + 16];
    snprintf(ppub, sizeof ppub, "%s/ak.pub", t->state_dir);
    snprintf(ppriv, sizeof ppriv, "%s/ak.priv", t->state_dir);
    uint8_t bpub[sizeof(TPM2B_PUBLIC)], bpriv[sizeof(TPM2B_PRIVATE)];
    size_t lpub = 0, lpriv = 0;
    TPM2B_PUBLIC pub = {0};
    TPM2B_PRIVATE priv = {0};
    TSS2_RC rc;
    char e2[16];
    int r1 = read_file(ppub, bpub, sizeof bpub, &lpub, e2, sizeof e2);
    int r2 = read_file(ppriv, bpriv, sizeof bpriv, &lpriv, e2, sizeof e2);

    if (r1 == -ENOENT && r2 == -ENOENT) {
        /* First use: create the AK under the SRK and keep its blobs. */
        TPM2B_SENSITIVE_CREATE sens = {0};
        TPM2B_DATA outside = {0};
        TPML_PCR_SELECTION creation = {0};
        TPM2B_PRIVATE *opriv = NULL;
        TPM2B_PUBLIC *opub = NULL;
        rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &tmpl, &outside, &creation, &opriv, &opub, NULL, NULL, NULL);
        if (rc != TSS2_RC_SUCCESS)
            return tss_err(err, errlen, rc, "Create (attestation key)");
        pub = *opub;
        priv = *opriv;
        Esys_Free(opub);
        Esys_Free(opriv);
        lpub = lpriv = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, bpub, sizeof bpub, &lpub);
        if (rc == TSS2_RC_SUCCESS)
            rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&priv, bpriv, sizeof bpriv, &lpriv);
        if (rc != TSS2_RC_SUCCESS)
            return tss_err(err, errlen, rc, "marshal attestation key");
        int r = write_file(ppriv, bpriv, lpriv, err, errlen);
        if (r == 0)
            r = write_file(ppub, bpub, lpub, err, errlen);
        if (r < 0)
            return r;
        tlog("tpm", "created attestation key in %s", t->state_dir);
    } else if (r1 < 0 || r2 < 0) {
        return errf(err, errlen, r1 < 0 ? r1 : r2,
                    "tpm: attestation key incomplete in %s (ak.pub: %s, ak.priv: %s)",
                    t->state_dir, r1 < 0 ? strerror(-r1) : "ok", r2 < 0 ? strerror(-r2) : "ok");
    } else {
        size_t off = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(bpub, lpub, &off, &pub);
        if (rc == TSS2_RC_SUCCESS && off == lpub) {
            off = 0;
            rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(bpriv, lpriv, &off, &priv);
        }
        if (rc != TSS2_RC_SUCCESS || off != lpriv)
            return errf(err, errlen, -EINVAL, "tpm: corrupt attestation key files in %s",
                        t->state_dir);
    }
    rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                   &priv, &pub, &t->ak);
    if (rc != TSS2_RC_SUCCESS) {
        char m[200];
        tss_err(m, sizeof m, rc, "Load (attestation key)");
        return errf(err, errlen, (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ? -EPROTO : -EIO,
                    "%s; was the TPM state in %s replaced?", m, t->state_dir);
    }
    t->ak_pub = pub;
    return 0;
}

/* ---- open/close ---- */

static int open_common(struct tpm *t, const char *tcti_conf, char *err, size_t errlen)
{
    /* The TSS logs its own errors to stderr; we report one line ourselves. */
    setenv("TSS2_LOG", "all+none", 0);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS)
        return tss_err(err, errlen, rc, tcti_conf);
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tss_err(err, errlen, rc, "Esys_Initialize");
    struct pipe_guard g;
    guard_enter(&g);
    int r = 0;
    if (t->state_dir[0]) {
        TPM2B_PUBLIC tmpl;
        srk_template(&tmpl);
        r = create_primary(t, &tmpl, &t->srk, NULL, err, errlen);
    }
    if (r == 0)
        r = load_or_create_ak(t, err, errlen);
    guard_leave(&g);
    return r;
}

static struct tpm *tpm_new(enum tpm_kind kind)
{
    struct tpm *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->kind = kind;
    t->srk = ESYS_TR_NONE;
    t->ak = ESYS_TR_NONE;
    return t;
}

int tpm_open_device(const char *device, const char *state_dir, struct tpm **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (!device)
        device = "/dev/tpmrm0";
    struct tpm *t = tpm_new(TPM_DEVICE);
    if (!t)
        return errf(err, errlen, -ENOMEM, "tpm: out of memory");
    int r = 0;
    if (state_dir && *state_dir) {
        if (strlen(state_dir) >= sizeof t->state_dir - 32) {
            free(t);
            return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
        }
        snprintf(t->state_dir, sizeof t->state_dir, "%s", state_dir);
        if ((r = mkdir_p1(t->state_dir, err, errlen)) < 0) {
            free(t);
            return r;
        }
    }
    if (access(device, R_OK | W_OK) < 0) {
        int e = errno;
        free(t);
        return errf(err, errlen, -e, "tpm: %s: %s", device, strerror(e));
    }
    char conf[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "device:%s", device);
    if ((r = open_common(t, conf, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    *out = t;
    return 0;
}

int tpm_open(enum tpm_kind kind, const char *arg, struct tpm **out, char *err, size_t errlen)
{
    *out = NULL;
    if (kind == TPM_DEVICE)
        return tpm_open_device(arg, NULL, out, err, errlen);
    if (kind == TPM_NONE) {
        struct tpm *t = tpm_new(TPM_NONE);
        if (!t)
            return errf(err, errlen, -ENOMEM, "tpm: out of memory");
        tlog("tpm", "WARNING: --tpm none: NOTHING IS MEASURED, every quote is refused and "
                    "this host cannot be attested. For development only.");
        *out = t;
        return 0;
    }
    if (kind != TPM_SWTPM)
        return errf(err, errlen, -EINVAL, "tpm: unknown backend %d", (int)kind);
    if (!arg || !*arg)
        return errf(err, errlen, -EINVAL, "tpm: swtpm needs a state directory");
    struct tpm *t = tpm_new(TPM_SWTPM);
    if (!t)
        return errf(err, errlen, -ENOMEM, "tpm: out of memory");
    int r;
    if (strlen(arg) >= sizeof t->state_dir - 32) {
        free(t);
        return errf(err, errlen, -ENAMETOOLONG, "tpm: state directory path too long");
    }
    snprintf(t->state_dir, sizeof t->state_dir, "%s", arg);
    if ((r = mkdir_p1(t->state_dir, err, errlen)) < 0 || (r = start_swtpm(t, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    char conf[sizeof t->sock + 16];
    snprintf(conf, sizeof conf, "swtpm:path=%s", t->sock);
    if ((r = open_common(t, conf, err, errlen)) < 0) {
        tpm_close(t);
        return r;
    }
    *out = t;
    return 0;
}

void tpm_close(struct tpm *t)
{
    if (!t)
        return;
    if (t->esys) {
        struct pipe_guard g;
        guard_enter(&g);
        if (!t->broken && check_child(t, NULL, 0) == 0) {
            if (t->ak != ESYS_TR_NONE)
                Esys_FlushContext(t->esys, t->ak);
            if (t->srk != ESYS_TR_NONE)
                Esys_FlushContext(t->esys, t->srk);
            if (t->kind == TPM_SWTPM)  /* orderly shutdown so swtpm saves its state */
                Esys_Shutdown(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              TPM2_SU_STATE);
        }
        Esys_Finalize(&t->esys);
        guard_leave(&g);
    }
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
    stop_swtpm(t);
    free(t);
}

enum tpm_kind tpm_kind_of(const struct tpm *t)
{
    return t->kind;
}

const char *tpm_last_error(const struct tpm *t)
{
    return t ? t->lasterr : "tpm: no TPM";
}

pid_t tpm_swtpm_pid(const struct tpm *t)
{
    return t && t->kind == TPM_SWTPM && !t->child_dead ? t->child : -1;
}

/* ---- PCRs ---- */

static int pcr_ok(struct tpm *t, unsigned pcr)
{
    if (pcr > 23)
        return errf(t->lasterr, sizeof t->lasterr, -EINVAL, "tpm: PCR %u does not exist", pcr);
    return 0;
}

static int ready(struct tpm *t, char *err, size_t errlen)
{
    if (t->kind == TPM_NONE)
        return errf(err, errlen, -ENODEV, "tpm: no TPM (--tpm none): refused");
    if (t->broken)
        return errf(err, errlen, -EIO, "tpm: unusable since an earlier failure: %s",
                    t->broken_msg);
    return check_child(t, err, errlen);
}

int tpm_pcr_extend(struct tpm *t, unsigned pcr, const uint8_t sha256[32])
{
    int r;
    t->lasterr[0] = 0;
    if ((r = pcr_ok(t, pcr)) < 0)
        return r;
    if (pcr == 16 || pcr == 23)
        return errf(t->lasterr, sizeof t->lasterr, -EPERM,
                    "tpm: PCR %u can be reset at locality 0; refusing to measure into it", pcr);
    if ((r = ready(t, t->lasterr, sizeof t->lasterr)) < 0)
        return r;
    TPML_DIGEST_VALUES d = {0};
    d.count = 1;
    d.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(d.digests[0].digest.sha256, sha256, 32);
    struct pipe_guard g;
    guard_enter(&g);
    TSS2_RC rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, &d);
    guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return call_failed(t, rc, "PCR_Extend", t->lasterr, sizeof t->lasterr);
    }
    return 0;
}

static void select_pcr(TPML_PCR_SELECTION *s, unsigned pcr)
{
    memset(s, 0, sizeof *s);
    s->count = 1;
    s->pcrSelections[0].hash = TPM2_ALG_SHA256;
    s->pcrSelections[0].sizeofSelect = 3;
    s->pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
}

int tpm_pcr_read(struct tpm *t, unsigned pcr, uint8_t out[32])
{
    int r;
    t->lasterr[0] = 0;
    if ((r = pcr_ok(t, pcr)) < 0)
        return r;
    if ((r = ready(t, t->lasterr, sizeof t->lasterr)) < 0)
        return r;
    TPML_PCR_SELECTION sel, *sel_out = NULL;
    TPML_DIGEST *vals = NULL;
    UINT32 counter;
    select_pcr(&sel, pcr);
    struct pipe_guard g;
    guard_enter(&g);
    TSS2_RC rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                               &counter, &sel_out, &vals);
    guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return call_failed(t, rc, "PCR_Read", t->lasterr, sizeof t->lasterr);
    }
    r = 0;
    if (!vals || vals->count != 1 || vals->digests[0].size != 32)
        r = errf(t->lasterr, sizeof t->lasterr, -EPROTO,
                 "tpm: PCR %u has no SHA-256 bank value", pcr);
    else
        memcpy(out, vals->digests[0].buffer, 32);
    Esys_Free(sel_out);
    Esys_Free(vals);
    return r;
}

/* ---- AK public key ---- */

static const uint8_t p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
};

int tpm_ak_public(struct tpm *t, uint8_t *der, size_t *len)
{
    t->lasterr[0] = 0;
    if (t->kind == TPM_NONE)
        return errf(t->lasterr, sizeof t->lasterr, -ENODEV, "tpm: no TPM (--tpm none)");
    const TPMS_ECC_POINT *q = &t->ak_pub.publicArea.unique.ecc;
    size_t need = sizeof p256_spki_prefix + 64;
    if (q->x.size > 32 || q->y.size > 32 || q->x.size == 0 || q->y.size == 0)
        return errf(t->lasterr, sizeof t->lasterr, -EPROTO, "tpm: AK is not a P-256 point");
    if (*len < need) {
        *len = need;
        return errf(t->lasterr, sizeof t->lasterr, -ENOBUFS, "tpm: AK buffer too small");
    }
    memcpy(der, p256_spki_prefix, sizeof p256_spki_prefix);
    uint8_t *x = der + sizeof p256_spki_prefix, *y = x + 32;
    memset(x, 0, 64);
    memcpy(x + 32 - q->x.size, q->x.buffer, q->x.size);
    memcpy(y + 32 - q->y.size, q->y.buffer, q->y.size);
    *len = need;
    return 0;
}

/* ---- quote ---- */

int tpm_quote(struct tpm *t, unsigned pcr, const uint8_t *qual, size_t qual_len,
              uint8_t *attest, size_t *attest_len, uint8_t *sig, size_t *sig_len,
              char *err, size_t errlen)
{
    int r;
    t->lasterr[0] = 0;
    if (pcr > 23)
        return errf(err, errlen, -EINVAL, "tpm: PCR %u does not exist", pcr);
    if (qual_len > TPM_QUAL_MAX || qual_len > sizeof(((TPM2B_DATA *)0)->buffer))
        return errf(err, errlen, -EINVAL, "tpm: qualifying data is %zu bytes (max %d)",
                    qual_len, TPM_QUAL_MAX);
    if ((r = ready(t, err, errlen)) < 0)
        return r;
    TPM2B_DATA q = {0};
    q.size = (UINT16)qual_len;
    if (qual_len)
        memcpy(q.buffer, qual, qual_len);
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };   /* the key's own: ECDSA/SHA-256 */
    TPML_PCR_SELECTION sel;
    select_pcr(&sel, pcr);
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    struct pipe_guard g;
    guard_enter(&g);
    TSS2_RC rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                            &q, &scheme, &sel, &quoted, &signature);
    guard_leave(&g);
    if (rc != TSS2_RC_SUCCESS) {
        return call_failed(t, rc, "Quote", err, errlen);
    }
    r = 0;
    if (quoted->size > *attest_len) {
        r = errf(err, errlen, -ENOBUFS, "tpm: attest buffer too small (%u > %zu)",
                 quoted->size, *attest_len);
    } else {
        memcpy(attest, quoted->attestationData, quoted->size);
        *attest_len = quoted->size;
        size_t off = 0;
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig, *sig_len, &off);
        if (rc != TSS2_RC_SUCCESS)
            r = tss_err(err, errlen, rc, "marshal signature");
        else
            *sig_len = off;
    }
    Esys_Free(quoted);
    Esys_Free(signature);
    return r;
}

/* ---- files for tpm2_checkquote ---- */

static size_t pem_encode(const uint8_t *der, size_t len, char *out, size_t cap)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, col = 0;
    const char *head = "-----BEGIN PUBLIC KEY-----\n", *tail = "-----END PUBLIC KEY-----\n";
    size_t need = strlen(head) + strlen(tail) + (len + 2) / 3 * 4 + (len / 48 + 2);
    if (need >= cap)
        return 0;
    o += (size_t)sprintf(out + o, "%s", head);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)der[i] << 16;
        if (i + 1 < len) v |= (uint32_t)der[i + 1] << 8;
        if (i + 2 < len) v |= der[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
        if ((col += 4) == 64) { out[o++] = '\n'; col = 0; }
    }
    if (col)
        out[o++] = '\n';
    o += (size_t)sprintf(out + o, "%s", tail);
    return o;
}

int tpm_save_quote_files(const char *dir, unsigned pcr, const uint8_t pcr_value[32],
                         const uint8_t *ak_der, size_t ak_der_len,
                         const uint8_t *attest, size_t attest_len,
                         const uint8_t *sig, size_t sig_len,
                         const uint8_t *qual, size_t qual_len, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    char pem[512];
    int r;
    size_t pem_len = pem_encode(ak_der, ak_der_len, pem, sizeof pem);
    if (!pem_len)
        return errf(err, errlen, -EINVAL, "tpm: AK public key too large for PEM");
    struct { const char *name; const void *buf; size_t len; } files[] = {
        { "quote.msg", attest, attest_len },
        { "quote.sig", sig, sig_len },
        { "ak.pem", pem, pem_len },
        { "quote.pcrs", pcr_value, 32 },
        { "quote.qual", qual, qual_len },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, files[i].name) >= sizeof path)
            return errf(err, errlen, -ENAMETOOLONG, "tpm: path too long: %s", dir);
        if ((r = write_file(path, files[i].buf, files[i].len, err, errlen)) < 0)
            return r;
    }
    char sel[32];
    int n = snprintf(sel, sizeof sel, "sha256:%u\n", pcr);
    snprintf(path, sizeof path, "%s/quote.pcrlist", dir);
    return write_file(path, sel, (size_t)n, err, errlen);
}

/* ---- sealing to a PCR value ---- */

/* The response code without its handle/parameter/session number, for comparisons. */
static TSS2_RC rc_base(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3f);
    return rc & (TPM2_RC_WARN | TPM2_RC_VER1 | 0x7f);
}

static int is_tpm_layer(TSS2_RC rc)
{
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
}

/* A failed call: -EIO and the broken state as call_failed decides; a TPM-layer refusal
 * becomes `code` with "what: decoded rc; why" in err. */
static int call_refused(struct tpm *t, TSS2_RC rc, const char *what, int code,
                        const char *why, char *err, size_t errlen)
{
    int r = call_failed(t, rc, what, err, errlen);
    if (r != -EPROTO || code == -EPROTO)
        return r;
    return errf(err, errlen, code, "tpm: %s: %s (0x%x)%s%s", what, Tss2_RC_Decode(rc), rc,
                why ? ": " : "", why ? why : "");
}

/* The SRK exists when a state directory was given; a device opened without one makes it
 * on first need. Called inside a pipe guard. */
static int ensure_srk(struct tpm *t, char *err, size_t errlen)
{
    if (t->srk != ESYS_TR_NONE)
        return 0;
    TPM2B_PUBLIC tmpl;
    srk_template(&tmpl);
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                                    &creation, &t->srk, NULL, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->srk = ESYS_TR_NONE;
        return call_failed(t, rc, "CreatePrimary (storage key)", err, errlen);
    }
    return 0;
}

/* PolicyPCR's policy digest from a zero start, computed as the TPM does:
 * SHA-256(0^32 || u32be(TPM_CC_PolicyPCR) || TPML_PCR_SELECTION || SHA-256(pcr_value)). */
static int policy_pcr_digest(unsigned pcr, const uint8_t pcr_value[32], uint8_t out[32])
{
    TPML_PCR_SELECTION sel;
    select_pcr(&sel, pcr);
    uint8_t m[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
    size_t off = 32;
    memset(m, 0, 32);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 24);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 16);
    m[off++] = (uint8_t)(TPM2_CC_PolicyPCR >> 8);
    m[off++] = (uint8_t)TPM2_CC_PolicyPCR;
    if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, m, sizeof m - 32, &off) != TSS2_RC_SUCCESS)
        return -EINVAL;
    SHA256(pcr_value, 32, m + off);
    off += 32;
    SHA256(m, off, out);
    return 0;
}

#define SEALED_HDR 8

int tpm_seal(struct tpm *t, unsigned pcr, const uint8_t pcr_value[32], const void *data,
             size_t len, uint8_t *blob, size_t *blob_len, char *err, size_t errlen)
{
    int r;
    if (pcr > 23)
        return errf(err, errlen, -EINVAL, "tpm: PCR %u does not exist", pcr);
    if (pcr == 16 || pcr == 23)
        return errf(err, errlen, -EPERM, "tpm: PCR %u can be reset at locality 0; refusing "
                    "to seal to it", pcr);
    if (!data || len == 0 || len > TPM_SEAL_DATA_MAX)
        return errf(err, errlen, -EINVAL, "tpm: sealed data must be 1..%d bytes (not %zu)",
                    TPM_SEAL_DATA_MAX, len);
    if ((r = ready(t, err, errlen)) < 0)
        return r;

    TPM2B_PUBLIC tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    /* no userWithAuth: the user role needs the policy; no sensitiveDataOrigin: we give
     * the data */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_NODA;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    tmpl.publicArea.authPolicy.size = 32;
    if (policy_pcr_digest(pcr, pcr_value, tmpl.publicArea.authPolicy.buffer) < 0)
        return errf(err, errlen, -EINVAL, "tpm: cannot compute the PCR policy");

    TPM2B_SENSITIVE_CREATE sens;
    memset(&sens, 0, sizeof sens);
    sens.sensitive.data.size = (UINT16)len;
    memcpy(sens.sensitive.data.buffer, data, len);
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TPM2B_PRIVATE *opriv = NULL;
    TPM2B_PUBLIC *opub = NULL;
    struct pipe_guard g;
    guard_enter(&g);
    r = ensure_srk(t, err, errlen);
    TSS2_RC rc = TSS2_RC_SUCCESS;
    if (r == 0)
        rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &tmpl, &outside, &creation, &opriv, &opub, NULL, NULL, NULL);
    guard_leave(&g);
    OPENSSL_cleanse(&sens, sizeof sens);
    if (r < 0)
        return r;
    if (rc != TSS2_RC_SUCCESS)
        return call_failed(t, rc, "Create (sealed data)", err, errlen);

    uint8_t out[TPM_SEALED_MAX];
    size_t off = SEALED_HDR;
    memcpy(out, "TRSO", 4);
    out[4] = 1;
    out[5] = (uint8_t)pcr;
    out[6] = out[7] = 0;
    rc = Tss2_MU_TPM2B_PUBLIC_Marshal(opub, out, sizeof out, &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Marshal(opriv, out, sizeof out, &off);
    Esys_Free(opub);
    Esys_Free(opriv);
    if (rc != TSS2_RC_SUCCESS)
        return errf(err, errlen, -EOVERFLOW, "tpm: sealed object does not fit %d bytes",
                    TPM_SEALED_MAX);
    if (off > *blob_len) {
        *blob_len = off;
        return errf(err, errlen, -ENOBUFS, "tpm: sealed blob buffer too small (%zu bytes "
                    "needed)", off);
    }
    memcpy(blob, out, off);
    *blob_len = off;
    return 0;
}

int tpm_unseal(struct tpm *t, const uint8_t *blob, size_t blob_len, uint8_t *data,
               size_t *len, char *err, size_t errlen)
{
    int r;
    size_t cap = *len;
    *len = 0;
    if (!blob || blob_len < SEALED_HDR || blob_len > TPM_SEALED_MAX ||
        memcmp(blob, "TRSO", 4) != 0 || blob[4] != 1 || blob[5] > 23 ||
        blob[6] != 0 || blob[7] != 0)
        return errf(err, errlen, -EBADMSG, "tpm: not a sealed blob of this program "
                    "(bad header)");
    unsigned pcr = blob[5];
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    memset(&pub, 0, sizeof pub);
    memset(&priv, 0, sizeof priv);
    size_t off = SEALED_HDR;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, blob_len, &off, &pub);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, blob_len, &off, &priv);
    if (rc != TSS2_RC_SUCCESS || off != blob_len ||
        pub.publicArea.type != TPM2_ALG_KEYEDHASH ||
        pub.publicArea.nameAlg != TPM2_ALG_SHA256 || pub.publicArea.authPolicy.size != 32)
        return errf(err, errlen, -EBADMSG, "tpm: malformed sealed blob");
    if ((r = ready(t, err, errlen)) < 0)
        return r;

    ESYS_TR obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *out = NULL;
    struct pipe_guard g;
    guard_enter(&g);
    if ((r = ensure_srk(t, err, errlen)) < 0)
        goto done;
    rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
                   &obj);
    if (rc != TSS2_RC_SUCCESS) {
        obj = ESYS_TR_NONE;
        r = call_refused(t, rc, "Load (sealed data)", -EBADMSG,
                         "the blob was altered or made by another TPM", err, errlen);
        goto done;
    }
    TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
    rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
                               TPM2_ALG_SHA256, &sess);
    if (rc != TSS2_RC_SUCCESS) {
        sess = ESYS_TR_NONE;
        r = call_failed(t, rc, "StartAuthSession (policy)", err, errlen);
        goto done;
    }
    TPML_PCR_SELECTION sel;
    select_pcr(&sel, pcr);
    TPM2B_DIGEST none = { .size = 0 };   /* the TPM takes the PCR's current value */
    rc = Esys_PolicyPCR(t->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &none, &sel);
    if (rc != TSS2_RC_SUCCESS) {
        r = call_failed(t, rc, "PolicyPCR", err, errlen);
        goto done;
    }
    rc = Esys_Unseal(t->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &out);
    if (rc != TSS2_RC_SUCCESS) {
        TSS2_RC b = rc_base(rc);
        int policy = is_tpm_layer(rc) && (b == TPM2_RC_POLICY_FAIL || b == TPM2_RC_PCR_CHANGED);
        char why[96];
        snprintf(why, sizeof why, "PCR %u does not hold the value the data was sealed to", pcr);
        r = call_refused(t, rc, "Unseal", policy ? -EACCES : -EPROTO, policy ? why : NULL,
                         err, errlen);
        goto done;
    }
    if (out->size > cap) {
        r = errf(err, errlen, -ENOBUFS, "tpm: unseal buffer too small (%u > %zu)", out->size,
                 cap);
        goto done;
    }
    memcpy(data, out->buffer, out->size);
    *len = out->size;
    r = 0;
done:
    if (out) {
        OPENSSL_cleanse(out, sizeof *out);
        Esys_Free(out);
    }
    if (!t->broken) {
        if (sess != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, sess);
        if (obj != ESYS_TR_NONE)
            Esys_FlushContext(t->esys, obj);
    }
    guard_leave(&g);
    if (r < 0 && data && cap)
        OPENSSL_cleanse(data, cap);
    return r;
}

/* ---- NV indices ---- */

#define NV_ATTRS (TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

static int nv_args(uint32_t index, size_t size, size_t auth_len, char *err, size_t errlen)
{
    if ((index >> 24) != TPM2_HT_NV_INDEX)
        return errf(err, errlen, -EINVAL, "tpm: 0x%08x is not an NV index handle", index);
    if (size == 0 || size > TPM_NV_DATA_MAX)
        return errf(err, errlen, -EINVAL, "tpm: NV size %zu (1..%d)", size, TPM_NV_DATA_MAX);
    if (auth_len > TPM_NV_AUTH_MAX)
        return errf(err, errlen, -EINVAL, "tpm: NV auth of %zu bytes (max %d)", auth_len,
                    TPM_NV_AUTH_MAX);
    return 0;
}

int tpm_nv_define(struct tpm *t, uint32_t index, size_t size, const uint8_t *auth,
                  size_t auth_len, char *err, size_t errlen)
{
    int r;
    if ((r = nv_args(index, size, auth_len, err, errlen)) < 0 ||
        (r = ready(t, err, errlen)) < 0)
        return r;
    TPM2B_AUTH a = { .size = (UINT16)auth_len };
    if (auth_len)
        memcpy(a.buffer, auth, auth_len);
    TPM2B_NV_PUBLIC pub;
    memset(&pub, 0, sizeof pub);
    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = NV_ATTRS | (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT);
    pub.nvPublic.dataSize = (UINT16)size;
    ESYS_TR h = ESYS_TR_NONE;
    struct pipe_guard g;
    guard_enter(&g);
    TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, &a, &pub, &h);
    if (rc == TSS2_RC_SUCCESS)
        Esys_TR_Close(t->esys, &h);
    guard_leave(&g);
    OPENSSL_cleanse(&a, sizeof a);
    if (rc == TSS2_RC_SUCCESS)
        return 0;
    char what[48];
    snprintf(what, sizeof what, "NV_DefineSpace 0x%08x", index);
    TSS2_RC b = rc_base(rc);
    if (is_tpm_layer(rc) && b == TPM2_RC_NV_DEFINED)
        return call_refused(t, rc, what, -EEXIST, "already defined", err, errlen);
    if (is_tpm_layer(rc) && b == TPM2_RC_NV_SPACE)
        return call_refused(t, rc, what, -ENOSPC, "the TPM has no NV space left", err, errlen);
    return call_failed(t, rc, what, err, errlen);
}

/* An ESYS handle for an existing index with our attributes and this size; *written tells
 * whether it holds data. Called inside a pipe guard; the caller closes *h. */
static int nv_open(struct tpm *t, uint32_t index, size_t size, ESYS_TR *h, int *written,
                   char *err, size_t errlen)
{
    char what[48];
    *h = ESYS_TR_NONE;
    snprintf(what, sizeof what, "NV_ReadPublic 0x%08x", index);
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, h);
    if (rc != TSS2_RC_SUCCESS) {
        *h = ESYS_TR_NONE;
        TSS2_RC b = rc_base(rc);
        int absent = is_tpm_layer(rc) && (b == TPM2_RC_HANDLE);
        return call_refused(t, rc, what, absent ? -ENOENT : -EPROTO,
                            absent ? "no such index" : NULL, err, errlen);
    }
    TPM2B_NV_PUBLIC *pub = NULL;
    rc = Esys_NV_ReadPublic(t->esys, *h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return call_failed(t, rc, what, err, errlen);
    TPMS_NV_PUBLIC *p = &pub->nvPublic;
    int r = 0;
    if (p->nvIndex != index || p->nameAlg != TPM2_ALG_SHA256 ||
        (p->attributes & ~(TPMA_NV)TPMA_NV_WRITTEN) !=
            (NV_ATTRS | (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT)) ||
        p->authPolicy.size != 0 || p->dataSize != size)
        r = errf(err, errlen, -EBADMSG, "tpm: NV index 0x%08x has attributes 0x%08x and %u "
                 "bytes, not the expected 0x%08x and %zu", index, (unsigned)p->attributes,
                 p->dataSize, (unsigned)NV_ATTRS, size);
    else
        *written = (p->attributes & TPMA_NV_WRITTEN) != 0;
    Esys_Free(pub);
    return r;
}

static int nv_auth_refused(struct tpm *t, TSS2_RC rc, const char *what, char *err,
                           size_t errlen)
{
    TSS2_RC b = rc_base(rc);
    if (is_tpm_layer(rc) && (b == TPM2_RC_BAD_AUTH || b == TPM2_RC_AUTH_FAIL ||
                             b == TPM2_RC_NV_AUTHORIZATION))
        return call_refused(t, rc, what, -EACCES, "the index does not take our "
                            "authorization (redefined by someone else?)", err, errlen);
    return call_failed(t, rc, what, err, errlen);
}

int tpm_nv_read(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                uint8_t *buf, size_t size, char *err, size_t errlen)
{
    int r, written = 0;
    if ((r = nv_args(index, size, auth_len, err, errlen)) < 0 ||
        (r = ready(t, err, errlen)) < 0)
        return r;
    ESYS_TR h;
    TPM2B_AUTH a = { .size = (UINT16)auth_len };
    if (auth_len)
        memcpy(a.buffer, auth, auth_len);
    TPM2B_MAX_NV_BUFFER *data = NULL;
    struct pipe_guard g;
    guard_enter(&g);
    if ((r = nv_open(t, index, size, &h, &written, err, errlen)) < 0)
        goto done;
    if (!written) {
        r = errf(err, errlen, -ENODATA, "tpm: NV index 0x%08x was never written", index);
        goto done;
    }
    TSS2_RC rc = Esys_TR_SetAuth(t->esys, h, &a);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_NV_Read(t->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                          (UINT16)size, 0, &data);
    if (rc != TSS2_RC_SUCCESS) {
        char what[48];
        snprintf(what, sizeof what, "NV_Read 0x%08x", index);
        r = nv_auth_refused(t, rc, what, err, errlen);
        goto done;
    }
    if (data->size != size) {
        r = errf(err, errlen, -EPROTO, "tpm: NV_Read 0x%08x gave %u bytes, not %zu", index,
                 data->size, size);
        goto done;
    }
    memcpy(buf, data->buffer, size);
    r = 0;
done:
    if (h != ESYS_TR_NONE && !t->broken)
        Esys_TR_Close(t->esys, &h);
    guard_leave(&g);
    Esys_Free(data);
    OPENSSL_cleanse(&a, sizeof a);
    return r;
}

int tpm_nv_write(struct tpm *t, uint32_t index, const uint8_t *auth, size_t auth_len,
                 const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    int r, written = 0;
    if ((r = nv_args(index, size, auth_len, err, errlen)) < 0 ||
        (r = ready(t, err, errlen)) < 0)
        return r;
    ESYS_TR h;
    TPM2B_AUTH a = { .size = (UINT16)auth_len };
    if (auth_len)
        memcpy(a.buffer, auth, auth_len);
    TPM2B_MAX_NV_BUFFER d = { .size = (UINT16)size };
    memcpy(d.buffer, buf, size);
    struct pipe_guard g;
    guard_enter(&g);
    if ((r = nv_open(t, index, size, &h, &written, err, errlen)) < 0)
        goto done;
    TSS2_RC rc = Esys_TR_SetAuth(t->esys, h, &a);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_NV_Write(t->esys, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, 0);
    if (rc != TSS2_RC_SUCCESS) {
        char what[48];
        snprintf(what, sizeof what, "NV_Write 0x%08x", index);
        r = nv_auth_refused(t, rc, what, err, errlen);
        goto done;
    }
    r = 0;
done:
    if (h != ESYS_TR_NONE && !t->broken)
        Esys_TR_Close(t->esys, &h);
    guard_leave(&g);
    OPENSSL_cleanse(&a, sizeof a);
    return r;
}

int tpm_nv_undefine(struct tpm *t, uint32_t index, char *err, size_t errlen)
{
    int r;
    if ((index >> 24) != TPM2_HT_NV_INDEX)
        return errf(err, errlen, -EINVAL, "tpm: 0x%08x is not an NV index handle", index);
    if ((r = ready(t, err, errlen)) < 0)
        return r;
    char what[48];
    snprintf(what, sizeof what, "NV_UndefineSpace 0x%08x", index);
    ESYS_TR h = ESYS_TR_NONE;
    struct pipe_guard g;
    guard_enter(&g);
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h);
    if (rc != TSS2_RC_SUCCESS) {
        int absent = is_tpm_layer(rc) && rc_base(rc) == TPM2_RC_HANDLE;
        r = call_refused(t, rc, what, absent ? -ENOENT : -EPROTO,
                         absent ? "no such index" : NULL, err, errlen);
        guard_leave(&g);
        return r;
    }
    rc = Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, h, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE);
    r = 0;
    if (rc != TSS2_RC_SUCCESS) {
        r = call_failed(t, rc, what, err, errlen);
        if (!t->broken)
            Esys_TR_Close(t->esys, &h);
    }
    guard_leave(&g);
    return r;
}
