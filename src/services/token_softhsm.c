/* services/token_softhsm.c — the SoftHSM2 default (a token_config without a module): finds
 * SoftHSM2, writes its configuration in STATE/softhsm (created if missing), takes the lock
 * under which one process at a time creates the token, reads or makes the PIN file,
 * initialises the token (C_InitToken, a random SO PIN that is then forgotten, the user
 * PIN) and creates the default keys that are missing. It must never log or keep a PIN
 * (every copy it makes is wiped), nor write a file in STATE through a link or readable by
 * others. */
#include "services/token_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#define TOKEN_PIN_FILE_MAX  1024u

static const char *const token_softhsm_paths[] = {
    "/usr/lib/softhsm/libsofthsm2.so",                  /* Debian's stable path */
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", /* what it links to */
};

const char *token_softhsm_module(void)
{
    for (size_t i = 0; i < sizeof token_softhsm_paths / sizeof token_softhsm_paths[0]; i++)
        if (access(token_softhsm_paths[i], R_OK) == 0)
            return token_softhsm_paths[i];
    return NULL;
}

/* ---- files in STATE/softhsm ---- */

static int token_read_pin(const char *path, char **pin, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = file_read_all(path, TOKEN_PIN_FILE_MAX, &buf, &n);

    *pin = NULL;
    if (rc < 0)
        return errf(err, errlen, rc == -ENOENT ? -ENOENT : -EACCES, "token: PIN file %s: %s",
                    path, rc == -EFBIG ? "too large" : strerror(-rc));
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || n > TOKEN_PIN_MAX || memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return errf(err, errlen, -EACCES, "token: PIN file %s: not one line of 1..%u bytes",
                    path, TOKEN_PIN_MAX);
    }
    *pin = buf;
    *len = n;
    return 0;
}

void token_free_pin(char *pin, size_t len)
{
    if (pin != NULL) {
        OPENSSL_cleanse(pin, len);
        free(pin);
    }
}

/* A random PIN of 32 hex digits. */
static int token_new_pin(char out[33])
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t r[16];

    if (RAND_bytes(r, sizeof r) != 1)
        return -EIO;
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hexd[r[i] >> 4];
        out[2 * i + 1] = hexd[r[i] & 15];
    }
    out[32] = '\0';
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

static int token_write_file(const char *path, const char *text, size_t len, int excl)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                  (excl ? O_EXCL : O_TRUNC), 0600);
    ssize_t w;

    if (fd < 0)
        return -errno;
    w = write(fd, text, len);
    if (w < 0 || (size_t)w != len || fsync(fd) < 0) {
        int e = w < 0 ? errno : (size_t)w != len ? EIO : errno;
        close(fd);
        unlink(path);
        return -e;
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(path);
        return -e;
    }
    return 0;
}

static int token_mkdir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return errf(err, errlen, -errno, "token: %s: %s", path, strerror(errno));
    return 0;
}

/* STATE/softhsm/{tokens,softhsm2.conf}, with conf's absolute path in conf. */
static int token_softhsm_setup(const char *state, char conf[PATH_MAX], char dir[PATH_MAX],
                               char *err, size_t errlen)
{
    char abs[PATH_MAX], path[PATH_MAX + 64], *text = NULL, *old = NULL;
    size_t oldlen = 0;
    int rc, n;

    if (state == NULL || *state == '\0')
        return errf(err, errlen, -EINVAL, "token: the SoftHSM2 default needs a state directory");
    rc = token_mkdir(state, err, errlen);
    if (rc < 0)
        return rc;
    if (realpath(state, abs) == NULL)
        return errf(err, errlen, -errno, "token: %s: %s", state, strerror(errno));
    for (const char *p = abs; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return errf(err, errlen, -EINVAL, "token: the state directory's path has a "
                        "control character");
    n = snprintf(dir, PATH_MAX, "%s/softhsm", abs);
    if (n < 0 || n >= PATH_MAX - 32)
        return errf(err, errlen, -ENAMETOOLONG, "token: state directory path too long");
    rc = token_mkdir(dir, err, errlen);
    if (rc < 0)
        return rc;
    if (snprintf(path, sizeof path, "%s/tokens", dir) >= (int)sizeof path ||
        snprintf(conf, PATH_MAX, "%s/softhsm2.conf", dir) >= PATH_MAX)
        return errf(err, errlen, -ENAMETOOLONG, "token: state directory path too long");
    rc = token_mkdir(path, err, errlen);
    if (rc < 0)
        return rc;
    if (asprintf(&text, "# written by trevisor: SoftHSM2 for trevisor's default token\n"
                 "directories.tokendir = %s/tokens\n"
                 "objectstore.backend = file\n"
                 "log.level = ERROR\n"
                 "slots.removable = false\n", dir) < 0)
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    if (file_read_all(conf, 64 * 1024, &old, &oldlen) == 0 && oldlen == strlen(text) &&
        memcmp(old, text, oldlen) == 0) {
        rc = 0;
        goto out;
    }
    if (snprintf(path, sizeof path, "%s.tmp", conf) >= (int)sizeof path) {
        rc = errf(err, errlen, -ENAMETOOLONG, "token: state directory path too long");
        goto out;
    }
    unlink(path);
    rc = token_write_file(path, text, strlen(text), 1);
    if (rc == 0 && rename(path, conf) < 0) {
        rc = -errno;
        unlink(path);
    }
    if (rc < 0)
        errf(err, errlen, rc, "token: writing %s: %s", conf, strerror(-rc));
out:
    free(old);
    free(text);
    return rc;
}

/* The default's module, its configuration, the PIN file's path and its lock, held. */
int token_softhsm_prepare(const char *state, const char **module, char conf[PATH_MAX],
                          char dir[PATH_MAX], char pinpath[TOKEN_PATH_MAX], int *lockfd,
                          char *err, size_t errlen)
{
    char lockpath[TOKEN_PATH_MAX];
    int rc, fd;

    *lockfd = -1;
    *module = token_softhsm_module();
    if (*module == NULL)
        return errf(err, errlen, -ENOENT, "token: SoftHSM2 is not installed (no %s; "
                    "apt-get install softhsm2)", token_softhsm_paths[0]);
    rc = token_softhsm_setup(state, conf, dir, err, errlen);
    if (rc < 0)
        return rc;
    if (snprintf(lockpath, sizeof lockpath, "%s/lock", dir) >= (int)sizeof lockpath ||
        snprintf(pinpath, TOKEN_PATH_MAX, "%s/pin", dir) >= (int)TOKEN_PATH_MAX)
        return errf(err, errlen, -ENAMETOOLONG, "token: state directory path too long");
    /* one process at a time creates the token */
    fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        rc = errf(err, errlen, -errno, "token: %s: %s", lockpath, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *lockfd = fd;
    return 0;
}

/* The user PIN from pinpath, or on first use (no file, no token) a new one written there. */
int token_softhsm_pin(const char *pinpath, const char *dir, const char *label, CK_FLAGS flags,
                      char **pin, size_t *pinlen, int *from_file, char *err, size_t errlen)
{
    int rc = token_read_pin(pinpath, pin, pinlen, err, errlen);

    *from_file = rc == 0;
    if (rc == -ENOENT && flags == 0) {
        char fresh_pin[33], line[34];

        /* first use: the PIN is written before the token exists, so a crash in
         * between leaves a PIN file that the next open initialises the token with */
        if (token_new_pin(fresh_pin) < 0)
            return errf(err, errlen, -EIO, "token: no random bytes for the PIN");
        snprintf(line, sizeof line, "%s\n", fresh_pin);
        rc = token_write_file(pinpath, line, 33, 1);
        OPENSSL_cleanse(line, sizeof line);
        if (rc < 0) {
            OPENSSL_cleanse(fresh_pin, sizeof fresh_pin);
            return errf(err, errlen, rc, "token: writing %s: %s", pinpath, strerror(-rc));
        }
        *pin = strdup(fresh_pin);
        *pinlen = 32;
        OPENSSL_cleanse(fresh_pin, sizeof fresh_pin);
        if (*pin == NULL)
            return errf(err, errlen, -ENOMEM, "token: out of memory");
        return 0;
    }
    if (rc == -ENOENT)
        return errf(err, errlen, -EACCES, "token: \"%s\" exists in %s/tokens but its PIN "
                    "file %s is missing", label, dir, pinpath);
    return rc;
}

/* ---- the token and its default keys ---- */

/* C_InitToken on a free slot, then the user PIN (SO PIN random and forgotten). */
int token_softhsm_init(CK_FUNCTION_LIST_PTR f, const char *label, const char *pin,
                       size_t pinlen, char *err, size_t errlen)
{
    CK_UTF8CHAR lab[32];
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    char so[33];
    CK_RV rv;
    int rc;

    rc = token_find_slot(f, NULL, &slot, NULL, err, errlen);
    if (rc < 0)
        return rc;
    if (token_new_pin(so) < 0)
        return errf(err, errlen, -EIO, "token: no random bytes for the SO PIN");
    memset(lab, ' ', sizeof lab);
    memcpy(lab, label, strlen(label));
    rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so, strlen(so), lab);
    if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_InitToken", rv, err, errlen);
        goto out;
    }
    /* SoftHSM2 gives the new token another slot id: find it by its label */
    rc = token_find_slot(f, label, &slot, NULL, err, errlen);
    if (rc < 0)
        goto out;
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_OpenSession", rv, err, errlen);
        goto out;
    }
    rv = f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so, strlen(so));
    if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_Login (SO)", rv, err, errlen);
        goto out;
    }
    rv = f->C_InitPIN(s, (CK_UTF8CHAR_PTR)pin, pinlen);
    f->C_Logout(s);
    if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_InitPIN", rv, err, errlen);
        goto out;
    }
    rc = 0;
out:
    if (s != CK_INVALID_HANDLE)
        f->C_CloseSession(s);
    OPENSSL_cleanse(so, sizeof so);
    return rc;
}

/* With t->lock held: the default keys that are missing ("ed" skipped if the module has
 * no Ed25519). */
int token_default_keys(struct token *t, int fresh, char *err, size_t errlen)
{
    static const struct { const char *label; int type; } defs[] = {
        { "sig", TRE_TOKEN_KEY_EC_P256 }, { "rsa", TRE_TOKEN_KEY_RSA2048 },
        { "ed", TRE_TOKEN_KEY_ED25519 },
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        struct token_key k;
        int rc = token_key(t, defs[i].label, &k, err, errlen);

        if (rc == 0)
            continue;
        if (rc != -ENOENT)
            return rc;
        rc = token_keygen(t, defs[i].label, defs[i].type, err, errlen);
        if (rc == -EOPNOTSUPP) {
            if (fresh)
                tlog("token", "%s; key \"%s\" not created", err, defs[i].label);
            continue;
        }
        if (rc < 0)
            return rc;
        tlog("token", "created key \"%s\" (%s) on \"%s\"", defs[i].label,
             token_type_name(defs[i].type), t->label);
    }
    errf(err, errlen, 0, "%s", "");
    return 0;
}

