/* measure/sealer.c — the sealer (measure/sealer.h): opening and freeing it, and the
 * master secret, sealed in the TPM to the launch measurement, from which every key is
 * derived (HKDF-SHA256). A first open makes a master, seals it, creates the store
 * (sealer_svn.c) and links the master blob into place last; a later open unseals it and
 * loads the store. It never writes a secret unsealed, never overwrites a master blob,
 * and keeps the secrets in one locked page that is wiped on free. Blobs are
 * sealer_blob.c's, the rollback store sealer_svndb.c's (format) and sealer_svn.c's.
 * See docs/sealing.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure/sealer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "measure/sealer_impl.h"
#include "measure/tpm.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hex.h"
#include "util/log.h"

/* ---- keys and files ---- */

int sealer_hkdf(const uint8_t ikm[32], const uint8_t *salt, size_t salt_len,
                const uint8_t *info, size_t info_len, uint8_t out[32])
{
    char md[] = "SHA256";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[5], *q = p;
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, 32);
    if (salt_len)
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *q = OSSL_PARAM_construct_end();
    int ok = c && EVP_KDF_derive(c, out, 32, p) == 1;
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
    return ok ? 0 : -EIO;
}

/* Writes and fsyncs path (mode 0600, never through a symlink); excl: it must not exist. */
int sealer_write_synced(const char *path, const uint8_t *buf, size_t len, int excl)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (excl ? O_EXCL : O_TRUNC),
                  0600);
    if (fd < 0)
        return -errno;
    int r = file_write_fd(fd, buf, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r < 0)
        unlink(path);
    return r;
}

int sealer_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

/* ---- open / free ---- */

static struct sealer *sealer_alloc(void)
{
    struct sealer *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    long pg = sysconf(_SC_PAGESIZE);
    s->sec_len = pg > 0 && (size_t)pg >= sizeof(struct secrets) ? (size_t)pg : 4096;
    void *p = mmap(NULL, s->sec_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return NULL;
    }
    s->sec = p;
    if (mlock(p, s->sec_len) < 0)
        tlog("seal", "warning: cannot lock the master's page in memory (%s): it may be "
             "swapped", strerror(errno));
    madvise(p, s->sec_len, MADV_DONTDUMP);
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void sealer_free(struct sealer *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->sec, s->sec_len);
    munlock(s->sec, s->sec_len);
    munmap(s->sec, s->sec_len);
    sealer_svndb_clear(&s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int sealer_new_detached(const uint8_t master[32], struct sealer **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    struct sealer *s = sealer_alloc();
    if (!s)
        return errf(err, errlen, -ENOMEM, "seal: out of memory");
    memcpy(s->sec->master, master, 32);
    if (sealer_store_derive_keys(s) < 0) {
        sealer_free(s);
        return errf(err, errlen, -EIO, "seal: key derivation failed");
    }
    *out = s;
    return 0;
}

/* ---- the master ---- */

static int unseal_master(struct sealer *s, const char *path, const uint8_t *blob, size_t len,
                         char *err, size_t errlen)
{
    uint8_t m[TPM_SEAL_DATA_MAX];
    size_t n = sizeof m;
    char terr[256] = "";
    int r = tpm_unseal(s->tpm, blob, len, m, &n, terr, sizeof terr);
    if (r == -EACCES)
        return errf(err, errlen, r, "seal: the TPM refuses to unseal %s (made under another "
                    "measurement, or tampered): %s", path, terr);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot unseal %s: %s", path, terr);
    if (n != 32) {
        OPENSSL_cleanse(m, sizeof m);
        return errf(err, errlen, -EBADMSG, "seal: %s holds %zu bytes, not a 32-byte master",
                    path, n);
    }
    memcpy(s->sec->master, m, 32);
    OPENSSL_cleanse(m, sizeof m);
    return 0;
}

/* First open under this measurement: a new master, sealed; an NV index for its store; an
 * empty store committed; then the master blob, linked into place last (never over an
 * existing file). Until that link, a crash leaves nothing that a later open would use. */
static int create_master(struct sealer *s, unsigned pcr, const uint8_t pv[32],
                         const char *path, char *err, size_t errlen)
{
    char terr[256] = "";
    uint8_t blob[TPM_SEALED_MAX];
    size_t bl = sizeof blob;
    int r;
    if (RAND_bytes(s->sec->master, 32) != 1)
        return errf(err, errlen, -EIO, "seal: no randomness for a master");
    if (sealer_store_derive_keys(s) < 0)
        return errf(err, errlen, -EIO, "seal: key derivation failed");
    r = tpm_seal(s->tpm, pcr, pv, s->sec->master, 32, blob, &bl, terr, sizeof terr);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot seal a new master: %s", terr);

    if ((r = sealer_store_create(s, pv, err, errlen)) < 0)
        return r;
    char tmp[PATH_MAX + 200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    if ((r = sealer_write_synced(tmp, blob, bl, 1)) < 0) {
        r = errf(err, errlen, r, "seal: %s: %s", tmp, strerror(-r));
        goto undo;
    }
    if (link(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        r = errf(err, errlen, -e, "seal: cannot put the master blob at %s: %s", path,
                 strerror(e));
        goto undo;
    }
    unlink(tmp);
    sealer_fsync_dir(s->dir);
    tlog("seal", "new master for this launch measurement: %s (store NV index 0x%08x)", path,
         s->db.nv_index);
    return 0;
undo:
    sealer_store_remove(s);
    return r;
}

int sealer_open(struct tpm *t, unsigned pcr, const char *state_dir, struct sealer **out,
                char *err, size_t errlen)
{
    if (!out)
        return errf(err, errlen, -EINVAL, "seal: bad arguments");
    *out = NULL;
    if (!t)
        return errf(err, errlen, -EINVAL, "seal: no TPM handle");
    if (tpm_kind_of(t) == TPM_NONE)
        return errf(err, errlen, -ENODEV, "seal: no TPM (--tpm none): sealing is off");
    if (!state_dir || !*state_dir)
        return errf(err, errlen, -EINVAL, "seal: sealing needs a state directory");
    uint8_t pv[32];
    int r = tpm_pcr_read(t, pcr, pv);
    if (r < 0)
        return errf(err, errlen, r, "seal: cannot read PCR %u: %s", pcr, tpm_last_error(t));
    struct sealer *s = sealer_alloc();
    if (!s)
        return errf(err, errlen, -ENOMEM, "seal: out of memory");
    s->tpm = t;
    char hex[65], path[PATH_MAX + 96];
    hex_encode(pv, 32, hex);
    if ((size_t)snprintf(s->dir, sizeof s->dir, "%s/seal", state_dir) >= sizeof s->dir -
            100) {
        r = errf(err, errlen, -ENAMETOOLONG, "seal: state directory path too long");
        goto fail;
    }
    snprintf(s->db_path, sizeof s->db_path, "%s/svn-%s.db", s->dir, hex);
    snprintf(s->tmp_path, sizeof s->tmp_path, "%s.tmp", s->db_path);
    snprintf(path, sizeof path, "%s/master-%s.blob", s->dir, hex);
    struct stat st;
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        r = errf(err, errlen, -errno, "seal: mkdir %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    if (lstat(s->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        r = errf(err, errlen, -ENOTDIR, "seal: %s is not a directory", s->dir);
        goto fail;
    }

    char *blob = NULL;
    size_t bl = 0;
    r = file_read_all(path, TPM_SEALED_MAX, &blob, &bl);
    if (r == 0) {
        r = unseal_master(s, path, (const uint8_t *)blob, bl, err, errlen);
        free(blob);
        if (r == 0 && sealer_store_derive_keys(s) < 0)
            r = errf(err, errlen, -EIO, "seal: key derivation failed");
        if (r == 0)
            r = sealer_store_load(s, err, errlen);
    } else if (r == -ENOENT) {
        r = create_master(s, pcr, pv, path, err, errlen);
    } else {
        r = errf(err, errlen, r == -EFBIG || r == -EINVAL ? -EBADMSG : r,
                 "seal: cannot read %s: %s", path,
                 r == -EFBIG ? "too large for a master blob" : strerror(-r));
    }
    if (r < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    sealer_free(s);
    return r;
}
