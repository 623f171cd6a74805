/* services/token.h — the tamper-resistant token through PKCS#11: opens a module (any
 * path, e.g. OpenSC's; by default SoftHSM2 with a token trevisor creates in its state
 * directory), logs in once, finds keys by label and signs, decrypts, exports public keys
 * and draws random bytes. It is used only by the TRE services: nothing here is ever
 * reachable from the user environment. A token that is removed or fails mid-call gives a
 * clear error; the next call tries to reopen the session. See docs/token.md. Thread-safe. */
#ifndef TREVISOR_SERVICES_TOKEN_H
#define TREVISOR_SERVICES_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct token;

struct token_config {
    const char *module;       /* PKCS#11 module path; NULL: SoftHSM2 (libsofthsm2.so) with
                                 its configuration in STATE/softhsm (created if missing) */
    const char *state_dir;    /* required for the SoftHSM2 default */
    const char *token_label;  /* NULL: "trevisor" */
    const char *pin;          /* user PIN; NULL: STATE/softhsm/pin for the default, or
                                 $TREVISOR_TOKEN_PIN */
};

/* Opens the module and a logged-in session. For the SoftHSM2 default it initialises the
 * token on first use and creates its default keys ("sig" ECDSA P-256, "rsa" RSA-2048,
 * "ed" Ed25519). -ENOENT no module, -ENODEV no such token, -EACCES bad PIN, -EIO other.
 * The default sets SOFTHSM2_CONF=STATE/softhsm/softhsm2.conf in the process environment
 * (SoftHSM2 reads it in C_Initialize): open it before starting threads that use getenv,
 * and only one state directory per process (another gives -EBUSY). A module opened by
 * several tokens is initialised once and finalised when the last of them closes. */
int token_open(const struct token_config *c, struct token **out, char *err, size_t errlen);
void token_close(struct token *t);

/* key type TRE_TOKEN_KEY_* of the private key labelled label, or -ENOENT */
int token_key_type(struct token *t, const char *label, char *err, size_t errlen);
/* calls fn for each private key on the token (label, TRE_TOKEN_KEY_*) */
int token_list(struct token *t, void (*fn)(void *ctx, const char *label, int type), void *ctx,
               char *err, size_t errlen);
/* DER SubjectPublicKeyInfo of the key pair labelled label; returns its length */
long token_pubkey(struct token *t, const char *label, uint8_t *der, size_t cap,
                  char *err, size_t errlen);
/* mech is TRE_TOKEN_* (abi.h); returns the signature's length */
long token_sign(struct token *t, const char *label, unsigned mech, const uint8_t *data,
                size_t len, uint8_t *sig, size_t cap, char *err, size_t errlen);
long token_decrypt(struct token *t, const char *label, unsigned mech, const uint8_t *in,
                   size_t len, uint8_t *out, size_t cap, char *err, size_t errlen);
long token_random(struct token *t, uint8_t *out, size_t len, char *err, size_t errlen);

/* Makes a key pair labelled label (1..TRE_TOKEN_LABEL_MAX of [A-Za-z0-9._-]) of type
 * TRE_TOKEN_KEY_EC_P256, _RSA2048 or _ED25519 on the token. The private half is a token
 * object, private, sensitive and not extractable. -EEXIST a private key has that label,
 * -EOPNOTSUPP the token cannot make that type. */
int token_generate(struct token *t, const char *label, int type, char *err, size_t errlen);
/* The SoftHSM2 module the default uses, or NULL if softhsm2 is not installed. */
const char *token_softhsm_module(void);
/* For messages: the token's label and the module's path. */
const char *token_label(const struct token *t);
const char *token_module(const struct token *t);

/* Errors from the calls above: -ENOENT no such key, -EINVAL bad mechanism for the key or
 * bad data length, -ENOBUFS cap too small, -ENODEV the token was removed or its slot is
 * gone, -EIO the token failed. */

#endif
