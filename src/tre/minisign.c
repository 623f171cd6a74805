/* tre/minisign.c — minisign's key and signature formats (Ed25519, BLAKE2b, scrypt):
 * strict parsers, verification, key generation and signing. It owns every byte count
 * read from those files and checks it here, once. It must never accept a file it only
 * half understood, never decide trust (truststore.c does), and never free or leave
 * behind secret key material without wiping it. */
#include "util/err.h"
#include "util/file.h"
#include "tre/minisign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#define MS_UNTRUSTED_PREFIX "untrusted comment: "
#define MS_TRUSTED_PREFIX   "trusted comment: "
#define MS_ALG_ED           "Ed"   /* Ed25519 over the message itself */
#define MS_ALG_ED_HASHED    "ED"   /* Ed25519 over BLAKE2b-512 of the message */
#define MS_KDF_SCRYPT       "Sc"
#define MS_CHK_B2           "B2"

#define MS_PUBKEY_BIN   42u   /* alg 2 + keyid 8 + pk 32 */
#define MS_SIG_BIN      74u   /* alg 2 + keyid 8 + sig 64 */
#define MS_GSIG_BIN     64u
#define MS_SECKEY_BIN  158u   /* algs 6 + salt 32 + limits 16 + keynum block 104 */
#define MS_KEYNUM_LEN  104u   /* keyid 8 + sk 64 + checksum 32 */
#define MS_B64_LEN(n)  ((((n) + 2u) / 3u) * 4u)

#define MS_LEGACY_MSG_MAX (1ull << 30)  /* "Ed" signatures need the file in memory */

/* Offsets in the 158-byte secret key. */
enum {
    MS_SK_SIGALG = 0, MS_SK_KDFALG = 2, MS_SK_CHKALG = 4, MS_SK_SALT = 6,
    MS_SK_OPS = 38, MS_SK_MEM = 46, MS_SK_KEYNUM = 54,
    MS_SK_KEYID = 54, MS_SK_SK = 62, MS_SK_CHK = 126,
};


/* ---- little-endian and hex ---- */

static uint64_t ms_le64_load(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void ms_le64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

void tre_keyid_hex(const uint8_t keyid[TRE_KEYID_LEN], char out[17])
{
    /* minisign 0.11 prints it without leading zeros (e.g. "941D0F15C208373") */
    snprintf(out, 17, "%" PRIX64, ms_le64_load(keyid));
}

int tre_keyid_parse_hex(const char *hex, uint8_t keyid[TRE_KEYID_LEN])
{
    uint64_t v = 0;

    size_t n;

    if (hex == NULL)
        return -EINVAL;
    n = strlen(hex);
    if (n == 0 || n > 16)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
        v = (v << 4) | d;
    }
    ms_le64_store(keyid, v);
    return 0;
}

/* ---- base64 (standard alphabet, '=' padding, canonical only) ---- */

static const char ms_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes MS_B64_LEN(n) characters and a NUL; out must hold MS_B64_LEN(n) + 1 bytes. */
static void ms_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t rem = n - i;

        if (rem > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (rem > 2)
            v |= in[i + 2];
        out[o++] = ms_b64_alphabet[(v >> 18) & 63];
        out[o++] = ms_b64_alphabet[(v >> 12) & 63];
        out[o++] = rem > 1 ? ms_b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = rem > 2 ? ms_b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
}

static int ms_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes exactly `want` bytes from s[0..n). -EINVAL: not canonical base64.
 * -ERANGE: valid base64 of another length (*got says how many bytes). */
static int ms_b64_decode_exact(const char *s, size_t n, uint8_t *out, size_t want, size_t *got)
{
    size_t pad = 0, groups, bytes, o = 0;

    *got = 0;
    if (n == 0 || n % 4 != 0)
        return -EINVAL;
    if (s[n - 1] == '=')
        pad = (s[n - 2] == '=') ? 2 : 1;
    groups = n / 4;
    bytes = groups * 3 - pad;
    for (size_t i = 0; i < n - pad; i++)
        if (ms_b64_value((unsigned char)s[i]) < 0)
            return -EINVAL;
    /* the unused low bits of the last character must be zero (canonical form) */
    if (pad == 1 && (ms_b64_value((unsigned char)s[n - 2]) & 0x03) != 0)
        return -EINVAL;
    if (pad == 2 && (ms_b64_value((unsigned char)s[n - 3]) & 0x0f) != 0)
        return -EINVAL;
    *got = bytes;
    if (bytes != want)
        return -ERANGE;
    for (size_t g = 0; g < groups; g++) {
        const char *q = s + g * 4;
        uint32_t v = 0;

        for (size_t k = 0; k < 4; k++) {
            int d = (q[k] == '=') ? 0 : ms_b64_value((unsigned char)q[k]);
            v = (v << 6) | (uint32_t)d;
        }
        if (o < bytes)
            out[o++] = (uint8_t)(v >> 16);
        if (o < bytes)
            out[o++] = (uint8_t)(v >> 8);
        if (o < bytes)
            out[o++] = (uint8_t)v;
    }
    return 0;
}

/* ---- lines ---- */

struct ms_line {
    const char *p;
    size_t n;
};

/* Splits text into up to `want` lines ending in "\n" or "\r\n" (the last may have no
 * end). *got = lines found; returns -EINVAL if text has a NUL byte or anything after
 * line `want`. */
static int ms_split(const char *text, size_t len, struct ms_line *lines, size_t want,
                    size_t *got)
{
    size_t pos = 0, i;

    *got = 0;
    if (memchr(text, '\0', len) != NULL)
        return -EINVAL;
    for (i = 0; i < want && pos < len; i++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t next = nl ? end + 1 : len;

        if (end > pos && text[end - 1] == '\r')
            end--;
        lines[i].p = text + pos;
        lines[i].n = end - pos;
        pos = next;
    }
    *got = i;
    return pos < len ? -E2BIG : 0;
}

static int ms_has_prefix(const struct ms_line *l, const char *prefix)
{
    size_t n = strlen(prefix);

    return l->n >= n && memcmp(l->p, prefix, n) == 0;
}

/* Checks the untrusted comment line (line 1 of every file). */
static int ms_check_untrusted(const struct ms_line *l, const char *what, char *err,
                              size_t errlen)
{
    if (!ms_has_prefix(l, MS_UNTRUSTED_PREFIX)) {
        errf(err, errlen, 0, "%s: line 1 does not start with \"" MS_UNTRUSTED_PREFIX "\"", what);
        return -EINVAL;
    }
    if (l->n - strlen(MS_UNTRUSTED_PREFIX) > TRE_COMMENT_MAX) {
        errf(err, errlen, 0, "%s: untrusted comment is longer than %u bytes", what,
               TRE_COMMENT_MAX);
        return -EINVAL;
    }
    return 0;
}

static int ms_decode_line(const struct ms_line *l, unsigned lineno, const char *what,
                          uint8_t *out, size_t want, char *err, size_t errlen)
{
    size_t got;
    int rc = ms_b64_decode_exact(l->p, l->n, out, want, &got);

    if (rc == -EINVAL) {
        errf(err, errlen, 0, "%s: line %u is not valid base64", what, lineno);
        return -EINVAL;
    }
    if (rc == -ERANGE) {
        errf(err, errlen, 0, "%s: line %u has the wrong length (%zu bytes, expected %zu)",
               what, lineno, got, want);
        return -EINVAL;
    }
    return rc;
}

/* A text the owner will see: no control character but tab (no terminal escapes). */
static int ms_comment_text_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* ---- public keys ---- */

static int ms_pubkey_decode(const struct ms_line *l, unsigned lineno, struct tre_pubkey *out,
                            char *err, size_t errlen)
{
    uint8_t bin[MS_PUBKEY_BIN];
    int rc = ms_decode_line(l, lineno, "public key", bin, sizeof bin, err, errlen);

    if (rc < 0)
        return rc;
    if (memcmp(bin, MS_ALG_ED, 2) != 0) {
        errf(err, errlen, 0, "public key: unsupported algorithm (not Ed25519)");
        return -EINVAL;
    }
    memcpy(out->keyid, bin + 2, TRE_KEYID_LEN);
    memcpy(out->pk, bin + 2 + TRE_KEYID_LEN, 32);
    return 0;
}

int tre_pubkey_parse(const char *text, size_t len, struct tre_pubkey *out,
                     char *err, size_t errlen)
{
    struct ms_line lines[2];
    struct ms_line first;
    size_t got;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (text == NULL || out == NULL) {
        errf(err, errlen, 0, "public key: no input");
        return -EINVAL;
    }
    if (len > TRE_PUBKEY_FILE_MAX) {
        errf(err, errlen, 0, "public key: file is larger than %u bytes", TRE_PUBKEY_FILE_MAX);
        return -EFBIG;
    }
    first.p = text;
    first.n = len;
    if (!ms_has_prefix(&first, MS_UNTRUSTED_PREFIX)) {
        /* just the base64 line, as `minisign -P` takes it */
        rc = ms_split(text, len, lines, 1, &got);
        if (rc == -EINVAL) {
            errf(err, errlen, 0, "public key: contains a NUL byte");
            return rc;
        }
        if (rc < 0) {
            errf(err, errlen, 0, "public key: line 1 does not start with \""
                   MS_UNTRUSTED_PREFIX "\"");
            return -EINVAL;
        }
        if (got < 1) {
            errf(err, errlen, 0, "public key: empty");
            return -EINVAL;
        }
        return ms_pubkey_decode(&lines[0], 1, out, err, errlen);
    }
    rc = ms_split(text, len, lines, 2, &got);
    if (rc == -EINVAL) {
        errf(err, errlen, 0, "public key: contains a NUL byte");
        return rc;
    }
    if (rc < 0) {
        errf(err, errlen, 0, "public key: unexpected data after line 2");
        return -EINVAL;
    }
    rc = ms_check_untrusted(&lines[0], "public key", err, errlen);
    if (rc < 0)
        return rc;
    if (got < 2) {
        errf(err, errlen, 0, "public key: line 2 (the key) is missing");
        return -EINVAL;
    }
    return ms_pubkey_decode(&lines[1], 2, out, err, errlen);
}

void tre_pubkey_b64(const struct tre_pubkey *pk, char out[TRE_PUBKEY_B64_LEN + 1])
{
    uint8_t bin[MS_PUBKEY_BIN];

    memcpy(bin, MS_ALG_ED, 2);
    memcpy(bin + 2, pk->keyid, TRE_KEYID_LEN);
    memcpy(bin + 2 + TRE_KEYID_LEN, pk->pk, 32);
    ms_b64_encode(bin, sizeof bin, out);
}

/* ---- signatures ---- */

int tre_sig_parse(const char *text, size_t len, struct tre_sig *out, char *err, size_t errlen)
{
    static const char *const names[4] = {
        "the untrusted comment", "the signature", "the trusted comment",
        "the trusted comment's signature",
    };
    struct ms_line lines[4];
    uint8_t bin[MS_SIG_BIN];
    size_t got, tlen, plen = strlen(MS_TRUSTED_PREFIX);
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (text == NULL || out == NULL) {
        errf(err, errlen, 0, "signature: no input");
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (len > TRE_SIG_FILE_MAX) {
        errf(err, errlen, 0, "signature: file is larger than %u bytes", TRE_SIG_FILE_MAX);
        return -EFBIG;
    }
    rc = ms_split(text, len, lines, 4, &got);
    if (rc == -EINVAL) {
        errf(err, errlen, 0, "signature: contains a NUL byte");
        return rc;
    }
    if (rc < 0) {
        errf(err, errlen, 0, "signature: unexpected data after line 4");
        return -EINVAL;
    }
    if (got < 1) {
        errf(err, errlen, 0, "signature: empty");
        return -EINVAL;
    }
    rc = ms_check_untrusted(&lines[0], "signature", err, errlen);
    if (rc < 0)
        return rc;
    if (got < 4) {
        errf(err, errlen, 0, "signature: line %zu (%s) is missing", got + 1, names[got]);
        return -EINVAL;
    }

    rc = ms_decode_line(&lines[1], 2, "signature", bin, sizeof bin, err, errlen);
    if (rc < 0)
        return rc;
    if (memcmp(bin, MS_ALG_ED_HASHED, 2) == 0) {
        out->prehashed = 1;
    } else if (memcmp(bin, MS_ALG_ED, 2) == 0) {
        out->prehashed = 0;
    } else {
        errf(err, errlen, 0, "signature: unsupported algorithm (neither \"Ed\" nor \"ED\")");
        return -EINVAL;
    }
    memcpy(out->keyid, bin + 2, TRE_KEYID_LEN);
    memcpy(out->sig, bin + 2 + TRE_KEYID_LEN, 64);

    if (!ms_has_prefix(&lines[2], MS_TRUSTED_PREFIX)) {
        errf(err, errlen, 0, "signature: line 3 does not start with \"" MS_TRUSTED_PREFIX "\"");
        return -EINVAL;
    }
    tlen = lines[2].n - plen;
    if (tlen > TRE_COMMENT_MAX) {
        errf(err, errlen, 0, "signature: trusted comment is longer than %u bytes",
               TRE_COMMENT_MAX);
        return -EINVAL;
    }
    if (!ms_comment_text_ok(lines[2].p + plen, tlen)) {
        errf(err, errlen, 0, "signature: trusted comment contains a control character");
        return -EINVAL;
    }
    memcpy(out->trusted_comment, lines[2].p + plen, tlen);
    out->trusted_comment[tlen] = '\0';

    rc = ms_decode_line(&lines[3], 4, "signature", out->global_sig, MS_GSIG_BIN, err, errlen);
    if (rc < 0)
        return rc;
    return 0;
}

/* ---- crypto primitives (OpenSSL EVP; libsodium only for BLAKE2b-256 and scrypt) ---- */

/* 1: valid, 0: invalid, <0: library failure. */
static int ms_ed25519_verify(const uint8_t pk[32], const uint8_t sig[64],
                             const uint8_t *msg, size_t len)
{
    static const uint8_t empty[1];
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    int rc = -ENOMEM;

    key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
    if (key == NULL) {
        rc = 0;  /* not a usable point: nothing verifies under it */
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        goto out;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1) {
        rc = -EIO;
        goto out;
    }
    rc = EVP_DigestVerify(ctx, sig, 64, msg ? msg : empty, len) == 1 ? 1 : 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return rc;
}

static int ms_ed25519_sign(const uint8_t seed[32], const uint8_t *msg, size_t len,
                           uint8_t sig[64])
{
    static const uint8_t empty[1];
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    size_t siglen = 64;
    int rc = -EIO;

    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    ctx = EVP_MD_CTX_new();
    if (key == NULL || ctx == NULL)
        goto out;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1)
        goto out;
    if (EVP_DigestSign(ctx, sig, &siglen, msg ? msg : empty, len) != 1 || siglen != 64)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);  /* OpenSSL cleanses its private key copy when freeing it */
    return rc;
}

static int ms_ed25519_public(const uint8_t seed[32], uint8_t pk[32])
{
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    size_t n = 32;
    int rc = -EIO;

    if (key != NULL && EVP_PKEY_get_raw_public_key(key, pk, &n) == 1 && n == 32)
        rc = 0;
    EVP_PKEY_free(key);
    return rc;
}

static int ms_blake2b512(const uint8_t *msg, size_t len, uint8_t out[64])
{
    static const uint8_t empty[1];
    unsigned int n = 0;

    if (EVP_Digest(msg ? msg : empty, len, out, &n, EVP_blake2b512(), NULL) != 1 || n != 64)
        return -EIO;
    return 0;
}

/* BLAKE2b-256 of (sig alg || key id || secret key), minisign's secret key checksum. */
static int ms_seckey_checksum(const uint8_t sigalg[2], const uint8_t keyid[8],
                              const uint8_t sk[64], uint8_t out[32])
{
    crypto_generichash_state st;
    int rc = -EIO;

    if (sodium_init() < 0)
        return -EIO;
    if (crypto_generichash_init(&st, NULL, 0, 32) == 0 &&
        crypto_generichash_update(&st, sigalg, 2) == 0 &&
        crypto_generichash_update(&st, keyid, 8) == 0 &&
        crypto_generichash_update(&st, sk, 64) == 0 &&
        crypto_generichash_final(&st, out, 32) == 0)
        rc = 0;
    OPENSSL_cleanse(&st, sizeof st);
    return rc;
}

/* ---- verification ---- */

static int ms_verify_keyid(const struct tre_pubkey *pk, const struct tre_sig *sig,
                           char *err, size_t errlen)
{
    char a[17], b[17];

    if (memcmp(pk->keyid, sig->keyid, TRE_KEYID_LEN) == 0)
        return 0;
    tre_keyid_hex(sig->keyid, a);
    tre_keyid_hex(pk->keyid, b);
    errf(err, errlen, 0, "signature was made by key %s, not by key %s", a, b);
    return -ENOKEY;
}

/* Checks sig->sig over the signed input (the message or its hash), then the global
 * signature over sig->sig || trusted comment. */
static int ms_verify_signed(const struct tre_pubkey *pk, const struct tre_sig *sig,
                            const uint8_t *signed_msg, size_t signed_len,
                            char *err, size_t errlen)
{
    uint8_t buf[64 + TRE_COMMENT_MAX];
    size_t tlen = strnlen(sig->trusted_comment, sizeof sig->trusted_comment);
    int rc;

    if (tlen > TRE_COMMENT_MAX) {
        errf(err, errlen, 0, "signature: trusted comment is longer than %u bytes",
               TRE_COMMENT_MAX);
        return -EINVAL;
    }
    rc = ms_ed25519_verify(pk->pk, sig->sig, signed_msg, signed_len);
    if (rc < 0) {
        errf(err, errlen, 0, "signature: crypto library failure");
        return rc;
    }
    if (rc == 0) {
        errf(err, errlen, 0, "signature does not match the image");
        return -EBADMSG;
    }
    memcpy(buf, sig->sig, 64);
    memcpy(buf + 64, sig->trusted_comment, tlen);
    rc = ms_ed25519_verify(pk->pk, sig->global_sig, buf, 64 + tlen);
    if (rc < 0) {
        errf(err, errlen, 0, "signature: crypto library failure");
        return rc;
    }
    if (rc == 0) {
        errf(err, errlen, 0, "trusted comment signature is bad");
        return -EBADMSG;
    }
    return 0;
}

int tre_sig_verify(const struct tre_pubkey *pk, const struct tre_sig *sig,
                   const uint8_t *msg, size_t len, char *err, size_t errlen)
{
    uint8_t hash[64];
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (pk == NULL || sig == NULL || (msg == NULL && len != 0)) {
        errf(err, errlen, 0, "signature: no input");
        return -EINVAL;
    }
    rc = ms_verify_keyid(pk, sig, err, errlen);
    if (rc < 0)
        return rc;
    if (!sig->prehashed)
        return ms_verify_signed(pk, sig, msg, len, err, errlen);
    rc = ms_blake2b512(msg, len, hash);
    if (rc < 0) {
        errf(err, errlen, 0, "signature: BLAKE2b-512 failed");
        return rc;
    }
    return ms_verify_signed(pk, sig, hash, sizeof hash, err, errlen);
}

/* BLAKE2b-512 of a file, read in chunks. */
static int ms_hash_file(const char *path, uint8_t out[64], char *err, size_t errlen)
{
    EVP_MD_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    unsigned int n = 0;
    int fd = -1, rc = -ENOMEM;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        errf(err, errlen, 0, "%s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(65536);
    ctx = EVP_MD_CTX_new();
    if (buf == NULL || ctx == NULL) {
        errf(err, errlen, 0, "%s: out of memory", path);
        goto out;
    }
    if (EVP_DigestInit_ex(ctx, EVP_blake2b512(), NULL) != 1) {
        rc = -EIO;
        errf(err, errlen, 0, "BLAKE2b-512 failed");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, 65536);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            errf(err, errlen, 0, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1) {
            rc = -EIO;
            errf(err, errlen, 0, "BLAKE2b-512 failed");
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 64) {
        rc = -EIO;
        errf(err, errlen, 0, "BLAKE2b-512 failed");
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int tre_sig_verify_file(const struct tre_pubkey *pk, const struct tre_sig *sig,
                        const char *path, char *err, size_t errlen)
{
    uint8_t hash[64];
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (pk == NULL || sig == NULL || path == NULL) {
        errf(err, errlen, 0, "signature: no input");
        return -EINVAL;
    }
    rc = ms_verify_keyid(pk, sig, err, errlen);
    if (rc < 0)
        return rc;
    if (sig->prehashed) {
        rc = ms_hash_file(path, hash, err, errlen);
        if (rc < 0)
            return rc;
        return ms_verify_signed(pk, sig, hash, sizeof hash, err, errlen);
    }
    rc = tre_minisign_read_file(path, MS_LEGACY_MSG_MAX, &data, &len, err, errlen);
    if (rc < 0)
        return rc;
    rc = ms_verify_signed(pk, sig, (const uint8_t *)data, len, err, errlen);
    free(data);
    return rc;
}

/* ---- secret keys ---- */

void tre_seckey_wipe(struct tre_seckey *sk)
{
    if (sk != NULL)
        OPENSSL_cleanse(sk, sizeof *sk);
}

/* Decodes the secret key text into bin[158] and checks the algorithm fields. */
static int ms_seckey_decode(const char *text, size_t len, uint8_t bin[MS_SECKEY_BIN],
                            int *encrypted, char *err, size_t errlen)
{
    static const uint8_t kdf_none[2] = { 0, 0 };
    struct ms_line lines[2];
    size_t got;
    int rc;

    if (text == NULL) {
        errf(err, errlen, 0, "secret key: no input");
        return -EINVAL;
    }
    if (len > TRE_SECKEY_FILE_MAX) {
        errf(err, errlen, 0, "secret key: file is larger than %u bytes", TRE_SECKEY_FILE_MAX);
        return -EFBIG;
    }
    rc = ms_split(text, len, lines, 2, &got);
    if (rc == -EINVAL) {
        errf(err, errlen, 0, "secret key: contains a NUL byte");
        return rc;
    }
    if (rc < 0) {
        errf(err, errlen, 0, "secret key: unexpected data after line 2");
        return -EINVAL;
    }
    if (got < 1) {
        errf(err, errlen, 0, "secret key: empty");
        return -EINVAL;
    }
    rc = ms_check_untrusted(&lines[0], "secret key", err, errlen);
    if (rc < 0)
        return rc;
    if (got < 2) {
        errf(err, errlen, 0, "secret key: line 2 (the key) is missing");
        return -EINVAL;
    }
    rc = ms_decode_line(&lines[1], 2, "secret key", bin, MS_SECKEY_BIN, err, errlen);
    if (rc < 0)
        return rc;
    if (memcmp(bin + MS_SK_SIGALG, MS_ALG_ED, 2) != 0) {
        errf(err, errlen, 0, "secret key: unsupported signature algorithm (not Ed25519)");
        return -EINVAL;
    }
    if (memcmp(bin + MS_SK_CHKALG, MS_CHK_B2, 2) != 0) {
        errf(err, errlen, 0, "secret key: unsupported checksum algorithm (not BLAKE2b)");
        return -EINVAL;
    }
    if (memcmp(bin + MS_SK_KDFALG, MS_KDF_SCRYPT, 2) == 0) {
        *encrypted = 1;
    } else if (memcmp(bin + MS_SK_KDFALG, kdf_none, 2) == 0) {
        *encrypted = 0;
    } else {
        errf(err, errlen, 0, "secret key: unsupported key derivation (neither scrypt nor none)");
        return -EINVAL;
    }
    return 0;
}

int tre_seckey_is_encrypted(const char *text, size_t len, char *err, size_t errlen)
{
    uint8_t bin[MS_SECKEY_BIN];
    int enc = 0, rc;

    if (err && errlen)
        err[0] = '\0';
    rc = ms_seckey_decode(text, len, bin, &enc, err, errlen);
    OPENSSL_cleanse(bin, sizeof bin);
    return rc < 0 ? rc : enc;
}

/* The scrypt stream that encrypts the 104-byte key block. */
static int ms_kdf_stream(const char *password, const uint8_t salt[32], uint64_t ops,
                         uint64_t mem, uint8_t stream[MS_KEYNUM_LEN])
{
    if (sodium_init() < 0)
        return -EIO;
    if (crypto_pwhash_scryptsalsa208sha256(stream, MS_KEYNUM_LEN, password, strlen(password),
                                           salt, (unsigned long long)ops, (size_t)mem) != 0)
        return -ENOMEM;
    return 0;
}

int tre_seckey_parse(const char *text, size_t len, const char *password,
                     struct tre_seckey *out, char *err, size_t errlen)
{
    static const uint8_t zero[32];
    uint8_t bin[MS_SECKEY_BIN], stream[MS_KEYNUM_LEN], chk[32], pub[32];
    int enc = 0, rc;

    if (err && errlen)
        err[0] = '\0';
    if (out == NULL) {
        errf(err, errlen, 0, "secret key: no output");
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    rc = ms_seckey_decode(text, len, bin, &enc, err, errlen);
    if (rc < 0)
        goto out;
    if (enc) {
        uint64_t ops = ms_le64_load(bin + MS_SK_OPS);
        uint64_t mem = ms_le64_load(bin + MS_SK_MEM);

        if (password == NULL) {
            errf(err, errlen, 0, "secret key is encrypted: a password is needed");
            rc = -EACCES;
            goto out;
        }
        if (strlen(password) > TRE_PASSWORD_MAX) {
            errf(err, errlen, 0, "password is longer than %u bytes", TRE_PASSWORD_MAX);
            rc = -EINVAL;
            goto out;
        }
        if (ops > TRE_KDF_OPSLIMIT_MAX || mem > TRE_KDF_MEMLIMIT_MAX || mem > SIZE_MAX) {
            errf(err, errlen, 0, "secret key: scrypt limits are too large");
            rc = -EINVAL;
            goto out;
        }
        rc = ms_kdf_stream(password, bin + MS_SK_SALT, ops, mem, stream);
        if (rc < 0) {
            errf(err, errlen, 0, "secret key: scrypt failed (out of memory?)");
            goto out;
        }
        for (size_t i = 0; i < MS_KEYNUM_LEN; i++)
            bin[MS_SK_KEYNUM + i] ^= stream[i];
    }
    rc = ms_seckey_checksum(bin + MS_SK_SIGALG, bin + MS_SK_KEYID, bin + MS_SK_SK, chk);
    if (rc < 0) {
        errf(err, errlen, 0, "secret key: BLAKE2b-256 failed");
        goto out;
    }
    /* minisign -W writes unencrypted keys with an all-zero checksum: accept that there
     * (the seed/public check below still catches damage), require it elsewhere. */
    if (CRYPTO_memcmp(chk, bin + MS_SK_CHK, 32) != 0 &&
        (enc || CRYPTO_memcmp(zero, bin + MS_SK_CHK, 32) != 0)) {
        errf(err, errlen, 0, "wrong password or corrupt secret key");
        rc = -EBADMSG;
        goto out;
    }
    rc = ms_ed25519_public(bin + MS_SK_SK, pub);
    if (rc < 0) {
        errf(err, errlen, 0, "secret key: crypto library failure");
        goto out;
    }
    if (CRYPTO_memcmp(pub, bin + MS_SK_SK + 32, 32) != 0) {
        errf(err, errlen, 0, "wrong password or corrupt secret key");
        rc = -EBADMSG;
        goto out;
    }
    memcpy(out->keyid, bin + MS_SK_KEYID, TRE_KEYID_LEN);
    memcpy(out->sk, bin + MS_SK_SK, 64);
    rc = 0;
out:
    OPENSSL_cleanse(bin, sizeof bin);
    OPENSSL_cleanse(stream, sizeof stream);
    OPENSSL_cleanse(chk, sizeof chk);
    return rc;
}

/* ---- signing ---- */

static int ms_check_comment_arg(const char *c, const char *what, char *err, size_t errlen)
{
    size_t n = strlen(c);

    if (n > TRE_COMMENT_MAX) {
        errf(err, errlen, 0, "%s is longer than %u bytes", what, TRE_COMMENT_MAX);
        return -EINVAL;
    }
    if (!ms_comment_text_ok(c, n)) {
        errf(err, errlen, 0, "%s contains a control character", what);
        return -EINVAL;
    }
    return 0;
}

/* Signs a 64-byte BLAKE2b-512 hash and formats the .minisig text. */
static int ms_sign_hash(const struct tre_seckey *sk, const uint8_t hash[64],
                        const char *tc, char **out, size_t *outlen, char *err, size_t errlen)
{
    static const char ucomment[] = MS_UNTRUSTED_PREFIX "signature from trevisor secret key";
    uint8_t bin[MS_SIG_BIN], gsig[64], buf[64 + TRE_COMMENT_MAX];
    char b64sig[MS_B64_LEN(MS_SIG_BIN) + 1], b64g[MS_B64_LEN(MS_GSIG_BIN) + 1];
    size_t tlen, cap;
    char *text = NULL;
    int n, rc;

    rc = ms_check_comment_arg(tc, "trusted comment", err, errlen);
    if (rc < 0)
        return rc;
    tlen = strlen(tc);
    memcpy(bin, MS_ALG_ED_HASHED, 2);
    memcpy(bin + 2, sk->keyid, TRE_KEYID_LEN);
    rc = ms_ed25519_sign(sk->sk, hash, 64, bin + 2 + TRE_KEYID_LEN);
    if (rc < 0) {
        errf(err, errlen, 0, "signing failed (crypto library)");
        return rc;
    }
    memcpy(buf, bin + 2 + TRE_KEYID_LEN, 64);
    memcpy(buf + 64, tc, tlen);
    rc = ms_ed25519_sign(sk->sk, buf, 64 + tlen, gsig);
    if (rc < 0) {
        errf(err, errlen, 0, "signing failed (crypto library)");
        return rc;
    }
    ms_b64_encode(bin, sizeof bin, b64sig);
    ms_b64_encode(gsig, sizeof gsig, b64g);
    cap = sizeof ucomment + sizeof b64sig + sizeof MS_TRUSTED_PREFIX + tlen + sizeof b64g + 4;
    text = malloc(cap);
    if (text == NULL) {
        errf(err, errlen, 0, "out of memory");
        return -ENOMEM;
    }
    n = snprintf(text, cap, "%s\n%s\n%s%s\n%s\n", ucomment, b64sig, MS_TRUSTED_PREFIX, tc,
                 b64g);
    if (n < 0 || (size_t)n >= cap) {
        free(text);
        errf(err, errlen, 0, "signature: formatting failed");
        return -EIO;
    }
    *out = text;
    *outlen = (size_t)n;
    return 0;
}

int tre_sign_buffer(const struct tre_seckey *sk, const uint8_t *msg, size_t len,
                    const char *trusted_comment, char **out, size_t *outlen,
                    char *err, size_t errlen)
{
    char deftc[64];
    uint8_t hash[64];
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (sk == NULL || out == NULL || outlen == NULL || (msg == NULL && len != 0)) {
        errf(err, errlen, 0, "sign: no input");
        return -EINVAL;
    }
    if (trusted_comment == NULL) {
        snprintf(deftc, sizeof deftc, "timestamp:%lu\thashed", (unsigned long)time(NULL));
        trusted_comment = deftc;
    }
    rc = ms_blake2b512(msg, len, hash);
    if (rc < 0) {
        errf(err, errlen, 0, "BLAKE2b-512 failed");
        return rc;
    }
    return ms_sign_hash(sk, hash, trusted_comment, out, outlen, err, errlen);
}

/* ---- files ---- */

int tre_minisign_read_file(const char *path, size_t max, char **out, size_t *len,
                           char *err, size_t errlen)
{
    int rc = file_read_all(path, max, out, len);
    if (rc == -EINVAL)
        errf(err, errlen, 0, "%s: not a regular file", path);
    else if (rc == -EFBIG)
        errf(err, errlen, 0, "%s: file is larger than %zu bytes", path, max);
    else if (rc == -EAGAIN)
        errf(err, errlen, 0, "%s: file changed while being read", path);
    else if (rc)
        errf(err, errlen, 0, "%s: %s", path, strerror(-rc));
    return rc;
}

/* Writes all of data to fd. */
static int ms_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Creates (or with force, replaces) path with data and mode. */
static int ms_write_file(const char *path, const char *data, size_t len, mode_t mode,
                         int force, char *err, size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
    int fd, rc;

    fd = open(path, flags, mode);
    if (fd < 0) {
        rc = -errno;
        if (errno == EEXIST)
            errf(err, errlen, 0, "%s already exists (use -f to overwrite it)", path);
        else
            errf(err, errlen, 0, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (fchmod(fd, mode) < 0 || ms_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        rc = -errno;
        errf(err, errlen, 0, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return rc;
    }
    if (close(fd) < 0) {
        rc = -errno;
        errf(err, errlen, 0, "%s: %s", path, strerror(errno));
        unlink(path);
        return rc;
    }
    return 0;
}

int tre_keygen_files_ex(const char *pub_path, const char *sec_path, const char *comment,
                        const char *password, const struct tre_kdf_limits *limits,
                        int force, char *err, size_t errlen)
{
    uint8_t bin[MS_SECKEY_BIN], stream[MS_KEYNUM_LEN];
    struct tre_pubkey pub;
    char idhex[17], pubb64[TRE_PUBKEY_B64_LEN + 1];
    char secb64[MS_B64_LEN(MS_SECKEY_BIN) + 1];
    char *pubtext = NULL, *sectext = NULL;
    size_t pubcap, seccap;
    uint64_t ops = TRE_KDF_OPSLIMIT_DEFAULT, mem = TRE_KDF_MEMLIMIT_DEFAULT;
    struct stat st;
    int n, rc;

    if (err && errlen)
        err[0] = '\0';
    memset(bin, 0, sizeof bin);
    memset(stream, 0, sizeof stream);
    if (pub_path == NULL || sec_path == NULL) {
        errf(err, errlen, 0, "keygen: both a public and a secret key file are needed");
        return -EINVAL;
    }
    if (strcmp(pub_path, sec_path) == 0) {
        errf(err, errlen, 0, "keygen: the public and secret key files must differ");
        return -EINVAL;
    }
    if (comment != NULL) {
        rc = ms_check_comment_arg(comment, "comment", err, errlen);
        if (rc < 0)
            return rc;
    }
    if (password != NULL) {
        if (password[0] == '\0') {
            errf(err, errlen, 0, "keygen: empty password");
            return -EINVAL;
        }
        if (strlen(password) > TRE_PASSWORD_MAX) {
            errf(err, errlen, 0, "password is longer than %u bytes", TRE_PASSWORD_MAX);
            return -EINVAL;
        }
        if (limits != NULL) {
            ops = limits->opslimit;
            mem = limits->memlimit;
        }
        if (ops > TRE_KDF_OPSLIMIT_MAX || mem > TRE_KDF_MEMLIMIT_MAX || mem > SIZE_MAX) {
            errf(err, errlen, 0, "keygen: scrypt limits are too large");
            return -EINVAL;
        }
    }
    if (!force) {
        if (lstat(pub_path, &st) == 0) {
            errf(err, errlen, 0, "%s already exists (use -f to overwrite it)", pub_path);
            return -EEXIST;
        }
        if (lstat(sec_path, &st) == 0) {
            errf(err, errlen, 0, "%s already exists (use -f to overwrite it)", sec_path);
            return -EEXIST;
        }
    }

    memcpy(bin + MS_SK_SIGALG, MS_ALG_ED, 2);
    memcpy(bin + MS_SK_CHKALG, MS_CHK_B2, 2);
    if (RAND_bytes(bin + MS_SK_KEYID, TRE_KEYID_LEN) != 1 ||
        RAND_bytes(bin + MS_SK_SK, 32) != 1) {
        errf(err, errlen, 0, "keygen: no random bytes");
        rc = -EIO;
        goto out;
    }
    rc = ms_ed25519_public(bin + MS_SK_SK, bin + MS_SK_SK + 32);
    if (rc < 0) {
        errf(err, errlen, 0, "keygen: crypto library failure");
        goto out;
    }
    memcpy(pub.keyid, bin + MS_SK_KEYID, TRE_KEYID_LEN);
    memcpy(pub.pk, bin + MS_SK_SK + 32, 32);
    rc = ms_seckey_checksum(bin + MS_SK_SIGALG, bin + MS_SK_KEYID, bin + MS_SK_SK,
                            bin + MS_SK_CHK);
    if (rc < 0) {
        errf(err, errlen, 0, "keygen: BLAKE2b-256 failed");
        goto out;
    }
    if (password != NULL) {
        memcpy(bin + MS_SK_KDFALG, MS_KDF_SCRYPT, 2);
        if (RAND_bytes(bin + MS_SK_SALT, 32) != 1) {
            errf(err, errlen, 0, "keygen: no random bytes");
            rc = -EIO;
            goto out;
        }
        ms_le64_store(bin + MS_SK_OPS, ops);
        ms_le64_store(bin + MS_SK_MEM, mem);
        rc = ms_kdf_stream(password, bin + MS_SK_SALT, ops, mem, stream);
        if (rc < 0) {
            errf(err, errlen, 0, "keygen: scrypt failed (out of memory?)");
            goto out;
        }
        for (size_t i = 0; i < MS_KEYNUM_LEN; i++)
            bin[MS_SK_KEYNUM + i] ^= stream[i];
    }
    /* unencrypted: kdf alg, salt and limits stay zero, as minisign -W writes them */

    tre_keyid_hex(pub.keyid, idhex);
    tre_pubkey_b64(&pub, pubb64);
    ms_b64_encode(bin, sizeof bin, secb64);

    pubcap = sizeof MS_UNTRUSTED_PREFIX + TRE_COMMENT_MAX + sizeof pubb64 + 64;
    seccap = sizeof MS_UNTRUSTED_PREFIX + 64 + sizeof secb64 + 4;
    pubtext = malloc(pubcap);
    sectext = malloc(seccap);
    if (pubtext == NULL || sectext == NULL) {
        errf(err, errlen, 0, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if (comment != NULL)
        n = snprintf(pubtext, pubcap, MS_UNTRUSTED_PREFIX "%s\n%s\n", comment, pubb64);
    else
        n = snprintf(pubtext, pubcap, MS_UNTRUSTED_PREFIX "minisign public key %s\n%s\n",
                     idhex, pubb64);
    if (n < 0 || (size_t)n >= pubcap) {
        errf(err, errlen, 0, "keygen: formatting failed");
        rc = -EIO;
        goto out;
    }
    n = snprintf(sectext, seccap, MS_UNTRUSTED_PREFIX "%s\n%s\n",
                 password ? "trevisor encrypted secret key" : "trevisor unencrypted secret key",
                 secb64);
    if (n < 0 || (size_t)n >= seccap) {
        errf(err, errlen, 0, "keygen: formatting failed");
        rc = -EIO;
        goto out;
    }
    rc = ms_write_file(sec_path, sectext, strlen(sectext), 0600, force, err, errlen);
    if (rc < 0)
        goto out;
    rc = ms_write_file(pub_path, pubtext, strlen(pubtext), 0644, force, err, errlen);
    if (rc < 0) {
        unlink(sec_path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(bin, sizeof bin);
    OPENSSL_cleanse(stream, sizeof stream);
    OPENSSL_cleanse(secb64, sizeof secb64);
    if (sectext != NULL) {
        OPENSSL_cleanse(sectext, seccap);
        free(sectext);
    }
    free(pubtext);
    return rc;
}

int tre_keygen_files(const char *pub_path, const char *sec_path, const char *comment,
                     const char *password, int force, char *err, size_t errlen)
{
    return tre_keygen_files_ex(pub_path, sec_path, comment, password, NULL, force, err, errlen);
}

static const char *ms_basename(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

int tre_sign_file(const char *sec_path, const char *password, const char *msg_path,
                  const char *sig_path, const char *trusted_comment, char *err, size_t errlen)
{
    struct tre_seckey sk;
    uint8_t hash[64];
    char *sectext = NULL, *sigtext = NULL, *deftc = NULL;
    size_t seclen = 0, siglen = 0;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    memset(&sk, 0, sizeof sk);
    if (sec_path == NULL || msg_path == NULL || sig_path == NULL) {
        errf(err, errlen, 0, "sign: missing file name");
        return -EINVAL;
    }
    if (trusted_comment == NULL) {
        const char *base = ms_basename(msg_path);

        if (asprintf(&deftc, "timestamp:%lu\tfile:%s\thashed", (unsigned long)time(NULL),
                     base) < 0) {
            deftc = NULL;
            errf(err, errlen, 0, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        trusted_comment = deftc;
    }
    rc = ms_check_comment_arg(trusted_comment, "trusted comment", err, errlen);
    if (rc < 0)
        goto out;
    rc = tre_minisign_read_file(sec_path, TRE_SECKEY_FILE_MAX, &sectext, &seclen, err, errlen);
    if (rc < 0)
        goto out;
    rc = tre_seckey_parse(sectext, seclen, password, &sk, err, errlen);
    if (rc < 0)
        goto out;
    rc = ms_hash_file(msg_path, hash, err, errlen);
    if (rc < 0)
        goto out;
    rc = ms_sign_hash(&sk, hash, trusted_comment, &sigtext, &siglen, err, errlen);
    if (rc < 0)
        goto out;
    rc = ms_write_file(sig_path, sigtext, siglen, 0644, 1, err, errlen);
out:
    tre_seckey_wipe(&sk);
    if (sectext != NULL) {
        OPENSSL_cleanse(sectext, seclen);
        free(sectext);
    }
    free(sigtext);
    free(deftc);
    return rc;
}
