/* tre/minisign.h — vendor image signatures in minisign's format (Ed25519): parse, check
 * and produce public keys, secret keys and detached signatures. This module owns the
 * formats and the crypto calls; it never decides which keys are trusted (truststore.h
 * does) and never keeps a secret key beyond the call that needed it. */
#ifndef TREVISOR_TRE_MINISIGN_H
#define TREVISOR_TRE_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

#define TRE_KEYID_LEN 8

#define TRE_SIG_FILE_MAX      16384u  /* a signature file larger than this is refused */
#define TRE_PUBKEY_FILE_MAX    4096u  /* same for a public key file */
#define TRE_SECKEY_FILE_MAX    4096u  /* same for a secret key file */
#define TRE_COMMENT_MAX        1024u  /* bytes of comment text after its prefix */
#define TRE_PASSWORD_MAX       1024u  /* bytes of a secret key password */
#define TRE_PUBKEY_B64_LEN       56u  /* the base64 line of a public key (42 bytes) */

struct tre_pubkey {
    uint8_t keyid[TRE_KEYID_LEN];
    uint8_t pk[32];
};

struct tre_sig {
    int prehashed;                 /* 1 for "ED" (BLAKE2b-512 of the message), 0 for "Ed" */
    uint8_t keyid[TRE_KEYID_LEN];
    uint8_t sig[64];
    char trusted_comment[TRE_COMMENT_MAX + 1]; /* NUL-terminated text after "trusted comment: " */
    uint8_t global_sig[64];
};

/* A decrypted secret key. Holders wipe it (tre_seckey_wipe) when done. */
struct tre_seckey {
    uint8_t keyid[TRE_KEYID_LEN];
    uint8_t sk[64];                /* Ed25519 seed (32) || public key (32) */
};

/* scrypt cost of an encrypted secret key (minisign uses the "sensitive" limits). */
struct tre_kdf_limits {
    uint64_t opslimit;
    uint64_t memlimit;
};
#define TRE_KDF_OPSLIMIT_DEFAULT 33554432ull    /* = libsodium OPSLIMIT_SENSITIVE */
#define TRE_KDF_MEMLIMIT_DEFAULT 1073741824ull  /* = libsodium MEMLIMIT_SENSITIVE (1 GiB) */
#define TRE_KDF_MEMLIMIT_MAX     4294967296ull  /* a key asking for more memory is refused */
#define TRE_KDF_OPSLIMIT_MAX     4294967295ull

/* All functions return 0 or a negative errno, and on error write a one-line reason into
 * err (errlen bytes, always NUL-terminated), e.g. "signature: line 2 is not valid base64".
 * err may be NULL when errlen is 0. */

/* Parses a whole .pub file, or just its base64 line (with or without a line end). */
int tre_pubkey_parse(const char *text, size_t len, struct tre_pubkey *out,
                     char *err, size_t errlen);
/* Writes the 56-character base64 line of pk (NUL-terminated; out must hold 57 bytes). */
void tre_pubkey_b64(const struct tre_pubkey *pk, char out[TRE_PUBKEY_B64_LEN + 1]);

/* Parses a whole .minisig file (4 lines). */
int tre_sig_parse(const char *text, size_t len, struct tre_sig *out, char *err, size_t errlen);

/* Checks the key id (-ENOKEY if it differs), the signature over msg and the global
 * signature over the trusted comment (-EBADMSG "signature does not match the image" /
 * "trusted comment signature is bad"). */
int tre_sig_verify(const struct tre_pubkey *pk, const struct tre_sig *sig,
                   const uint8_t *msg, size_t len, char *err, size_t errlen);
/* The same for a file, read in chunks for prehashed signatures; a legacy ("Ed")
 * signature needs the whole file in memory and is refused above 1 GiB. */
int tre_sig_verify_file(const struct tre_pubkey *pk, const struct tre_sig *sig,
                        const char *path, char *err, size_t errlen);

/* As minisign (0.11) prints a key id: the little-endian u64 in upper-case hex, without
 * leading zeros (1 to 16 digits). */
void tre_keyid_hex(const uint8_t keyid[TRE_KEYID_LEN], char out[17]);
/* The reverse: 1 to 16 hex digits (either case, leading zeros allowed) -> key id.
 * -EINVAL otherwise. */
int tre_keyid_parse_hex(const char *hex, uint8_t keyid[TRE_KEYID_LEN]);

/* 1 if the secret key text is scrypt-encrypted, 0 if not, or -errno if it is malformed. */
int tre_seckey_is_encrypted(const char *text, size_t len, char *err, size_t errlen);
/* Parses (and with password, decrypts) a secret key and checks its checksum and that its
 * public half matches its seed. An encrypted key without a password: -EACCES.
 * A wrong password or a damaged key: -EBADMSG "wrong password or corrupt secret key". */
int tre_seckey_parse(const char *text, size_t len, const char *password,
                     struct tre_seckey *out, char *err, size_t errlen);
void tre_seckey_wipe(struct tre_seckey *sk);

/* Signs msg (prehashed, "ED") and returns the whole .minisig text in *out (malloc'd,
 * NUL-terminated, *outlen bytes). trusted_comment NULL = "timestamp:<unix time>\thashed".
 * A trusted comment may hold no control character but tab, and at most 1024 bytes. */
int tre_sign_buffer(const struct tre_seckey *sk, const uint8_t *msg, size_t len,
                    const char *trusted_comment, char **out, size_t *outlen,
                    char *err, size_t errlen);

/* Makes a key pair. Refuses to overwrite either file unless force; the secret key file
 * has mode 0600. password NULL = unencrypted secret key. */
int tre_keygen_files(const char *pub_path, const char *sec_path, const char *comment,
                     const char *password, int force, char *err, size_t errlen);
/* The same with explicit scrypt limits (NULL = the defaults above); for tests. */
int tre_keygen_files_ex(const char *pub_path, const char *sec_path, const char *comment,
                        const char *password, const struct tre_kdf_limits *limits,
                        int force, char *err, size_t errlen);

/* Signs the file msg_path into sig_path ("ED"). trusted_comment NULL =
 * "timestamp:<unix time>\tfile:<basename>\thashed" like minisign. */
int tre_sign_file(const char *sec_path, const char *password, const char *msg_path,
                  const char *sig_path, const char *trusted_comment, char *err, size_t errlen);

/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated buffer.
 * Larger: -EFBIG. Not a regular file: -EINVAL. */
int tre_minisign_read_file(const char *path, size_t max, char **out, size_t *len,
                           char *err, size_t errlen);

#endif
