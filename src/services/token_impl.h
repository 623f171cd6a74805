/* services/token_impl.h — private to the token backend (src/services/token*.c), never
 * included anywhere else: struct token and its key cache, the process-wide module
 * registry's entry, the limits more than one of its files checks, and the calls its files
 * share. The public API is token.h. Where a call says "with t->lock held", the caller
 * holds it; "the session ready" means token_ready() returned 0 under that lock. */
#ifndef TREVISOR_SERVICES_TOKEN_IMPL_H
#define TREVISOR_SERVICES_TOKEN_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "services/token.h"
#include "trevisor/abi.h"

#define TOKEN_PIN_MAX       255u          /* bytes of a PIN (SoftHSM2's limit too) */
#define TOKEN_CACHE_MAX     16u           /* keys remembered by label per session */
#define TOKEN_MOD_MAX       1024u         /* RSA modulus bytes, at most (8192 bits) */
#define TOKEN_PARAMS_MAX    128u          /* DER EC parameters */
#define TOKEN_PATH_MAX      (PATH_MAX + 16) /* a file in STATE/softhsm */

/* ---- modules: loaded and initialised once per process (token_module.c) ---- */

struct token_module {
    struct token_module *next;
    char *path;
    char *conf;             /* SOFTHSM2_CONF it was initialised with (the default), or NULL */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int refs;
    int finalize;           /* we initialised it: C_Finalize when the last token closes */
};

/* The module at path, loaded and initialised (once per process). conf: the SoftHSM2
 * configuration the default needs, set as SOFTHSM2_CONF before C_Initialize. */
int token_module_get(const char *path, const char *conf, struct token_module **out,
                     char *err, size_t errlen);
/* Drops a reference from token_module_get; the last one finalises and unloads. m may be
 * NULL. */
void token_module_put(struct token_module *m);

/* ---- a token and its keys ---- */

struct token_key {
    char label[TRE_TOKEN_LABEL_MAX + 1];
    CK_OBJECT_HANDLE priv;
    CK_KEY_TYPE ckk;
    int type;               /* TRE_TOKEN_KEY_* */
    size_t modlen;          /* RSA: modulus bytes when usable, else 0 */
};

struct token {
    pthread_mutex_t lock;   /* everything below */
    struct token_module *m;
    CK_FUNCTION_LIST_PTR f;
    char label[33];         /* the token's label, unpadded */
    char *pin;              /* NULL: the token has a protected authentication path */
    size_t pinlen;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE sess; /* CK_INVALID_HANDLE when none */
    int open;               /* sess is live and logged in; 0 after a device error */
    int down;               /* a device error was logged and nothing worked since */
    struct token_key cache[TOKEN_CACHE_MAX];
    unsigned ncache, evict;
    int oaep_raw;           /* the module refuses OAEP with SHA-256: see token_decrypt */
};

/* ---- errors and names for messages (token_err.c) ---- */

/* "token: FN: CKR_NAME (why)" into err; a device-class error also marks t's session for
 * reopening and is logged (one line; never with a PIN). t may be NULL. */
int token_fail(struct token *t, const char *fn, CK_RV rv, char *err, size_t errlen);
/* A label as it may be shown: printable ASCII only. */
const char *token_show(const char *label, char out[TRE_TOKEN_LABEL_MAX + 1]);
/* TRE_TOKEN_KEY_* as a message names it */
const char *token_type_name(int type);

/* ---- slots and sessions (token.c) ---- */

/* The slot whose token is labelled label, or (label NULL) one with an uninitialised token.
 * -ENODEV if there is none. */
int token_find_slot(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot,
                    CK_FLAGS *flags, char *err, size_t errlen);
/* With t->lock held: a live session, reopened once if the last call broke it. */
int token_ready(struct token *t, char *err, size_t errlen);
/* Ends a call (releases t->lock): the token answered without a device error, so an outage
 * is over. */
void token_unlock(struct token *t);

/* ---- objects and keys (token_keys.c); all with t->lock held and the session ready ---- */

/* One object matching tmpl: 0, -ENOENT, or a token error. */
int token_find1(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h,
                char *err, size_t errlen);
/* One attribute into buf (cap bytes; buf NULL: only its length). -ENOENT the object has
 * no such attribute or it is secret, -E2BIG it is larger than cap, or a token error. */
int token_attr(struct token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf,
               size_t cap, size_t *len, char *err, size_t errlen);
/* The private key labelled label (cached per session). */
int token_key(struct token *t, const char *label, struct token_key *out,
              char *err, size_t errlen);
/* Not under the lock: takes t->lock, readies the session and finds the key labelled
 * label. The caller calls token_unlock whatever it returns. */
int token_lock_key(struct token *t, const char *label, struct token_key *out,
                   char *err, size_t errlen);
/* Makes the key pair; -EOPNOTSUPP the token cannot make that type. */
int token_keygen(struct token *t, const char *label, int type, char *err, size_t errlen);

/* ---- the SoftHSM2 default (token_softhsm.c) ---- */

/* The default's module, STATE/softhsm/{tokens,softhsm2.conf} (conf's absolute path in
 * conf, the directory in dir), the PIN file's path in pinpath and, in *lockfd, STATE/
 * softhsm/lock held exclusively so that one process at a time creates the token. */
int token_softhsm_prepare(const char *state, const char **module, char conf[PATH_MAX],
                          char dir[PATH_MAX], char pinpath[TOKEN_PATH_MAX], int *lockfd,
                          char *err, size_t errlen);
/* The default's user PIN from pinpath; if neither it nor the token exists (flags 0), a
 * new random one written there first. *from_file: it was read from an existing file. */
int token_softhsm_pin(const char *pinpath, const char *dir, const char *label, CK_FLAGS flags,
                      char **pin, size_t *pinlen, int *from_file, char *err, size_t errlen);
/* C_InitToken on a free slot, then the user PIN (SO PIN random and forgotten). */
int token_softhsm_init(CK_FUNCTION_LIST_PTR f, const char *label, const char *pin,
                       size_t pinlen, char *err, size_t errlen);
/* With t->lock held: the default keys that are missing ("ed" skipped if the module has
 * no Ed25519). */
int token_default_keys(struct token *t, int fresh, char *err, size_t errlen);
/* Wipes and frees a PIN; pin may be NULL. */
void token_free_pin(char *pin, size_t len);

#endif
