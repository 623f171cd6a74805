/* apps/sigaccel/sigaccel_files.c — the sigaccel client's files and certificates: bounded
 * reads, durable writes, the state directory, SHA-256 of a file, and X.509 certificates
 * read, parsed (one whole DER certificate) and written as PEM. No TRE calls here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "sigaccel_files.h"

void sa_err(const char *fmt, ...)
{
    va_list ap;

    fputs("sigaccel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- files ---- */

/* The whole of a regular file of at most max bytes (malloc'd, NUL-terminated), or NULL
 * with errno set (ENOENT when it does not exist, EFBIG when too large). */
unsigned char *sa_read(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    if ((unsigned long long)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        goto fail;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;   /* shrank under us */
            goto fail;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    *len = got;
    return buf;
fail:
    {
        int e = errno;
        free(buf);
        close(fd);
        errno = e;
    }
    return NULL;
}

/* Writes data to path through a temporary file and rename(), so a reader sees the old
 * file or the new one, never half of one. */
int sa_write(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4200];
    int fd, ok;

    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        sa_err("cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        sa_err("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int sa_mkdirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof p)
        return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0700) && errno != EEXIST) {
            sa_err("cannot make the state directory %s: %s", p, strerror(errno));
            return -1;
        }
        p[i] = c;
    }
    return 0;
}

/* SHA-256 of a file, streamed. */
int sa_hash_file(const char *path, unsigned char dg[32])
{
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char buf[65536];
    unsigned dl = 0;
    size_t n;
    int ok;

    if (!f) {
        sa_err("cannot read %s: %s", path, strerror(errno));
        EVP_MD_CTX_free(c);
        return -1;
    }
    ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(c, buf, n) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(c, dg, &dl) == 1 && dl == 32;
    fclose(f);
    EVP_MD_CTX_free(c);
    if (!ok) {
        sa_err("cannot hash %s", path);
        return -1;
    }
    return 0;
}

X509 *sa_read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    ERR_clear_error();
    return x;
}

/* DER certificate -> X509, checked to be one whole certificate */
X509 *sa_der_cert(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);

    if (x && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

int sa_cert_has_key(X509 *x, const unsigned char *spki, size_t len)
{
    unsigned char *der = NULL;
    int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
    int same = n > 0 && (size_t)n == len && memcmp(der, spki, len) == 0;

    OPENSSL_free(der);
    return same;
}

int sa_write_pem(const char *path, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    int rc = -1;

    if (b && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &data)) > 0)
        rc = sa_write(path, data, (size_t)n, 0644);
    else
        sa_err("cannot encode %s", path);
    BIO_free(b);
    return rc;
}

