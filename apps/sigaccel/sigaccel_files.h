/* apps/sigaccel/sigaccel_files.h — the sigaccel client's file and certificate helpers
 * (sigaccel_files.c). Each reports its own failure on stderr with sa_err. */
#ifndef SIGACCEL_FILES_H
#define SIGACCEL_FILES_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/x509.h>

/* "sigaccel: " + the message, one line on stderr */
void sa_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A regular file of at most max bytes, malloc'd and NUL-terminated; NULL with errno set
 * (ENOENT: it does not exist, EFBIG: too large), not reported: the caller says why. */
unsigned char *sa_read(const char *path, size_t max, size_t *len);
/* Writes the whole file through a temporary file and rename() (a reader sees the old file
 * or the new one), with mode. 0, or -1 (reported). */
int sa_write(const char *path, const void *data, size_t len, mode_t mode);
/* Makes dir and its parents (mode 0700). 0, or -1 (reported). */
int sa_mkdirs(const char *dir);
/* SHA-256 of a file's bytes, streamed. 0, or -1 (reported). */
int sa_hash_file(const char *path, unsigned char dg[32]);
/* A PEM certificate file, or NULL. */
X509 *sa_read_cert(const char *path);
/* One whole DER certificate (no trailing bytes), or NULL. */
X509 *sa_der_cert(const unsigned char *der, size_t len);
/* Whether the certificate carries exactly this DER SubjectPublicKeyInfo. */
int sa_cert_has_key(X509 *x, const unsigned char *spki, size_t len);
/* Writes the certificate as PEM (mode 0644). 0 or -1. */
int sa_write_pem(const char *path, X509 *x);

#endif
