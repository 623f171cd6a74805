/* services/token.c — the tamper-resistant token through PKCS#11 (token.h): loads a module
 * once per process, keeps one logged-in session per struct token behind a mutex, finds
 * keys by label, signs, decrypts, exports public keys as DER SubjectPublicKeyInfo and
 * draws random bytes. For the SoftHSM2 default it also writes SoftHSM2's configuration and
 * creates the token, its PINs and its default keys in STATE/softhsm. After a removal or
 * device error the next call reopens the session once. It must never log a PIN, keep one
 * anywhere but struct token (wiped on close), make a private key extractable, or trust a
 * length the module reports without checking it. */
#include "services/token.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "trevisor/abi.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#define TOKEN_DEFAULT_LABEL "trevisor"
#define TOKEN_PIN_MAX       255u          /* bytes of a PIN (SoftHSM2's limit too) */
#define TOKEN_PIN_FILE_MAX  1024u
#define TOKEN_SLOTS_MAX     256u
#define TOKEN_CACHE_MAX     16u           /* keys remembered by label per session */
#define TOKEN_LIST_MAX      1024u         /* private keys token_list looks at, at most */
#define TOKEN_MOD_MIN       128u          /* RSA modulus bytes: 1024 .. 8192 bits */
#define TOKEN_MOD_MAX       1024u
#define TOKEN_PARAMS_MAX    128u          /* DER EC parameters */
#define TOKEN_POINT_MAX     160u          /* DER EC point (P-521 uncompressed fits) */
#define TOKEN_EXP_MAX       16u           /* RSA public exponent bytes */
#define TOKEN_ID_MAX        64u           /* CKA_ID bytes */
#define TOKEN_EDDSA_MAX     (64u * 1024)  /* message bytes for Ed25519 (abi.h) */
#define TOKEN_ECDSA_DER_MAX 72u           /* DER ECDSA-Sig-Value for P-256, at most */
#define TOKEN_RANDOM_CHUNK  4096u

static const char *const token_softhsm_paths[] = {
    "/usr/lib/softhsm/libsofthsm2.so",                  /* Debian's stable path */
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", /* what it links to */
};

/* DER: OID prime256v1 (1.2.840.10045.3.1.7), OID id-Ed25519 (1.3.101.112) and the
 * PrintableString "edwards25519" that SoftHSM2 2.6 and OpenSC also use for it */
static const uint8_t token_oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
                                          0x01, 0x07 };
static const uint8_t token_oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const uint8_t token_str_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
                                             '2', '5', '5', '1', '9' };
/* DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1) */
static const uint8_t token_sha256_prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                               0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                               0x01, 0x05, 0x00, 0x04, 0x20 };

/* ---- modules: loaded and initialised once per process ---- */

struct token_module {
    struct token_module *next;
    char *path;
    char *conf;             /* SOFTHSM2_CONF it was initialised with (the default), or NULL */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int refs;
    int finalize;           /* we initialised it: C_Finalize when the last token closes */
};

static pthread_mutex_t token_modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct token_module *token_modules;

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
    struct token_key cache[TOKEN_CACHE_MAX];
    unsigned ncache, evict;
    int oaep_raw;           /* the module refuses OAEP with SHA-256: see token_decrypt */
};

/* ---- errors ---- */

static const struct {
    CK_RV rv;
    const char *name;
    const char *why;
} token_ckr[] = {
    { CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", "the token was removed" },
    { CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", "no token in the slot" },
    { CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", "the slot is gone" },
    { CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", "the session is gone" },
    { CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", "the session was closed" },
    { CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", "the token is not recognised" },
    { CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", "the token failed" },
    { CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", "the token is out of memory" },
    { CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", "the module failed" },
    { CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", "the function failed" },
    { CKR_HOST_MEMORY, "CKR_HOST_MEMORY", "out of memory" },
    { CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED", "module not initialised" },
    { CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN", "not logged in" },
    { CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED", "no user PIN is set" },
    { CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", "wrong PIN" },
    { CKR_PIN_INVALID, "CKR_PIN_INVALID", "the PIN has invalid characters" },
    { CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", "the PIN is too short or too long" },
    { CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", "the PIN has expired" },
    { CKR_PIN_LOCKED, "CKR_PIN_LOCKED", "the PIN is locked" },
    { CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT", "wrong key for the mechanism" },
    { CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED",
      "the key may not be used that way" },
    { CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", "the token lacks the mechanism" },
    { CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID",
      "the token refuses the mechanism's parameters" },
    { CKR_DATA_INVALID, "CKR_DATA_INVALID", "the data is invalid" },
    { CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", "the data has the wrong length" },
    { CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID", "it does not decrypt" },
    { CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE",
      "the ciphertext has the wrong length" },
    { CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", "unsupported key size" },
    { CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", "the buffer is too small" },
    { CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID", "the key is gone" },
    { CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", "the object is gone" },
    { CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", "another operation is active" },
    { CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID", "no such attribute" },
    { CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", "bad attribute value" },
    { CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE", "the attribute is secret" },
    { CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE", "the template is incomplete" },
    { CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", "the template is inconsistent" },
    { CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED", "the token lacks the curve" },
    { CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID", "bad domain parameters" },
    { CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", "the token is read-only" },
    { CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", "the session is read-only" },
    { CKR_SESSION_COUNT, "CKR_SESSION_COUNT", "too many sessions" },
    { CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", "bad arguments" },
    { CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED", "not supported" },
    { CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG", "the token has no random generator" },
    { CKR_CANT_LOCK, "CKR_CANT_LOCK", "the module cannot lock for threads" },
    { CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED", "no operation" },
    { CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED",
      "already initialised" },
};

/* errno for rv; *broken is set when the session must be reopened before the next call */
static int token_errno(CK_RV rv, int *broken)
{
    *broken = 0;
    switch (rv) {
    case CKR_DEVICE_REMOVED: case CKR_TOKEN_NOT_PRESENT: case CKR_SLOT_ID_INVALID:
    case CKR_SESSION_HANDLE_INVALID: case CKR_SESSION_CLOSED: case CKR_TOKEN_NOT_RECOGNIZED:
        *broken = 1;
        return -ENODEV;
    case CKR_DEVICE_ERROR: case CKR_DEVICE_MEMORY: case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED: case CKR_CRYPTOKI_NOT_INITIALIZED: case CKR_USER_NOT_LOGGED_IN:
    case CKR_OPERATION_ACTIVE: case CKR_KEY_HANDLE_INVALID: case CKR_OBJECT_HANDLE_INVALID:
    case CKR_BUFFER_TOO_SMALL:   /* for us always the module's fault; it leaves an operation */
        *broken = 1;
        return -EIO;
    case CKR_HOST_MEMORY:
        return -ENOMEM;
    case CKR_PIN_INCORRECT: case CKR_PIN_INVALID: case CKR_PIN_LEN_RANGE: case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED: case CKR_USER_PIN_NOT_INITIALIZED:
        return -EACCES;
    case CKR_KEY_TYPE_INCONSISTENT: case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_MECHANISM_INVALID: case CKR_MECHANISM_PARAM_INVALID: case CKR_DATA_INVALID:
    case CKR_DATA_LEN_RANGE: case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE: case CKR_KEY_SIZE_RANGE:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* "token: FN: CKR_NAME (why)" into err; a device-class error also marks t's session for
 * reopening and is logged (one line; never with a PIN). t may be NULL. */
static int token_fail(struct token *t, const char *fn, CK_RV rv, char *err, size_t errlen)
{
    const char *name = NULL, *why = "unexpected error";
    char hex[32];
    int broken, e = token_errno(rv, &broken);

    for (size_t i = 0; i < sizeof token_ckr / sizeof token_ckr[0]; i++)
        if (token_ckr[i].rv == rv) {
            name = token_ckr[i].name;
            why = token_ckr[i].why;
            break;
        }
    if (name == NULL) {
        snprintf(hex, sizeof hex, "CKR_0x%lx", (unsigned long)rv);
        name = hex;
    }
    errf(err, errlen, e, "token: %s: %s (%s)", fn, name, why);
    if (broken && t != NULL) {
        if (t->open)
            tlog("token", "%s: %s (%s); the next call reopens the session", fn, name, why);
        t->open = 0;
    }
    return e;
}

/* A label as it may be shown: printable ASCII only. */
static const char *token_show(const char *label, char out[TRE_TOKEN_LABEL_MAX + 1])
{
    size_t i = 0;

    for (; label[i] != '\0' && i < TRE_TOKEN_LABEL_MAX; i++)
        out[i] = (label[i] > 0x20 && label[i] < 0x7f) ? label[i] : '?';
    out[i] = '\0';
    return out;
}

static const char *token_mech_name(unsigned mech)
{
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256: return "ECDSA-SHA256";
    case TRE_TOKEN_RSA_PKCS1_SHA256: return "RSA-PKCS1-SHA256";
    case TRE_TOKEN_RSA_PSS_SHA256: return "RSA-PSS-SHA256";
    case TRE_TOKEN_ED25519: return "Ed25519";
    case TRE_TOKEN_RSA_OAEP_SHA256: return "RSA-OAEP-SHA256";
    case TRE_TOKEN_RSA_PKCS1: return "RSA-PKCS1";
    default: return "unknown";
    }
}

static const char *token_type_name(int type)
{
    switch (type) {
    case TRE_TOKEN_KEY_EC_P256: return "EC P-256";
    case TRE_TOKEN_KEY_RSA2048: return "RSA-2048";
    case TRE_TOKEN_KEY_ED25519: return "Ed25519";
    default: return "other";
    }
}

/* ---- module loading ---- */

const char *token_softhsm_module(void)
{
    for (size_t i = 0; i < sizeof token_softhsm_paths / sizeof token_softhsm_paths[0]; i++)
        if (access(token_softhsm_paths[i], R_OK) == 0)
            return token_softhsm_paths[i];
    return NULL;
}

static void token_module_free(struct token_module *m)
{
    if (m == NULL)
        return;
    if (m->dl)
        dlclose(m->dl);
    free(m->path);
    free(m->conf);
    free(m);
}

/* The module at path, loaded and initialised (once per process). conf: the SoftHSM2
 * configuration the default needs, set as SOFTHSM2_CONF before C_Initialize. */
static int token_module_get(const char *path, const char *conf, struct token_module **out,
                            char *err, size_t errlen)
{
    struct token_module *m;
    CK_C_GetFunctionList getfl;
    CK_C_INITIALIZE_ARGS args;
    char real[PATH_MAX];
    CK_RV rv;
    int rc;

    *out = NULL;
    /* one entry per file, however it is named (Debian's path is a symlink) */
    if (strchr(path, '/') != NULL && realpath(path, real) != NULL)
        path = real;
    pthread_mutex_lock(&token_modules_lock);
    for (m = token_modules; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0)
            break;
    if (m != NULL) {
        /* an explicit path shares whatever is loaded; the default needs its own config */
        if (conf != NULL && (m->conf == NULL || strcmp(conf, m->conf) != 0)) {
            rc = errf(err, errlen, -EBUSY, "token: %s is already in use in this process with "
                      "another configuration (one SoftHSM2 state directory per process)", path);
            goto unlock;
        }
        m->refs++;
        *out = m;
        rc = 0;
        goto unlock;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL ||
        (conf != NULL && (m->conf = strdup(conf)) == NULL)) {
        rc = errf(err, errlen, -ENOMEM, "token: out of memory");
        goto fail;
    }
    /* process-global: SoftHSM2 reads it in C_Initialize (documented in token.h) */
    if (conf != NULL && setenv("SOFTHSM2_CONF", conf, 1) < 0) {
        rc = errf(err, errlen, -errno, "token: setenv SOFTHSM2_CONF: %s", strerror(errno));
        goto fail;
    }
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        const char *why = dlerror();
        rc = (strchr(path, '/') == NULL || access(path, F_OK) < 0) ? -ENOENT : -EIO;
        errf(err, errlen, rc, "token: cannot load PKCS#11 module %s: %s", path,
             why ? why : "dlopen failed");
        goto fail;
    }
    *(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
    if (getfl == NULL) {
        rc = errf(err, errlen, -EIO, "token: %s is not a PKCS#11 module (no C_GetFunctionList)",
                  path);
        goto fail;
    }
    rv = getfl(&m->f);
    if (rv != CKR_OK || m->f == NULL) {
        rc = token_fail(NULL, "C_GetFunctionList", rv != CKR_OK ? rv : CKR_GENERAL_ERROR,
                        err, errlen);
        goto fail;
    }
    if (m->f->version.major < 2) {
        rc = errf(err, errlen, -EIO, "token: %s implements PKCS#11 %u.%u, not 2.x", path,
                  m->f->version.major, m->f->version.minor);
        goto fail;
    }
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        m->finalize = 0;     /* someone else in this process owns it */
    } else if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_Initialize", rv, err, errlen);
        goto fail;
    } else {
        m->finalize = 1;
    }
    m->refs = 1;
    m->next = token_modules;
    token_modules = m;
    *out = m;
    rc = 0;
    goto unlock;
fail:
    token_module_free(m);
unlock:
    pthread_mutex_unlock(&token_modules_lock);
    return rc;
}

static void token_module_put(struct token_module *m)
{
    struct token_module **pp;

    if (m == NULL)
        return;
    pthread_mutex_lock(&token_modules_lock);
    if (--m->refs == 0) {
        for (pp = &token_modules; *pp != NULL; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        if (m->finalize)
            m->f->C_Finalize(NULL);
        token_module_free(m);
    }
    pthread_mutex_unlock(&token_modules_lock);
}

/* ---- slots and sessions ---- */

static int token_label_eq(const CK_UTF8CHAR lab[32], const char *want)
{
    size_t n = 32;

    while (n > 0 && (lab[n - 1] == ' ' || lab[n - 1] == '\0'))
        n--;
    return strlen(want) == n && memcmp(lab, want, n) == 0;
}

/* The slot whose token is labelled label, or (label NULL) one with an uninitialised token.
 * -ENODEV if there is none. */
static int token_find_slot(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot,
                           CK_FLAGS *flags, char *err, size_t errlen)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    CK_RV rv;
    int rc = -ENODEV;

    for (int tries = 0; tries < 3; tries++) {
        rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
        if (rv != CKR_OK)
            return token_fail(NULL, "C_GetSlotList", rv, err, errlen);
        if (n > TOKEN_SLOTS_MAX)
            return errf(err, errlen, -EIO, "token: the module reports %lu slots",
                        (unsigned long)n);
        free(slots);
        slots = calloc(n + 1, sizeof *slots);
        if (slots == NULL)
            return errf(err, errlen, -ENOMEM, "token: out of memory");
        rv = f->C_GetSlotList(CK_TRUE, slots, &n);
        if (rv != CKR_BUFFER_TOO_SMALL)      /* a token came while we asked: again */
            break;
    }
    if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_GetSlotList", rv, err, errlen);
        goto out;
    }
    if (n > TOKEN_SLOTS_MAX) {
        rc = errf(err, errlen, -EIO, "token: the module reports %lu slots", (unsigned long)n);
        goto out;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;

        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;                        /* gone meanwhile, or unusable */
        if (label == NULL ? !(ti.flags & CKF_TOKEN_INITIALIZED)
                          : ((ti.flags & CKF_TOKEN_INITIALIZED) && token_label_eq(ti.label, label))) {
            *slot = slots[i];
            if (flags)
                *flags = ti.flags;
            rc = 0;
            goto out;
        }
    }
    if (label == NULL)
        errf(err, errlen, -ENODEV, "token: the module has no free slot for a new token");
    else
        errf(err, errlen, -ENODEV, "token: no token labelled \"%s\" is present", label);
out:
    free(slots);
    return rc;
}

/* (Re)opens t's session and logs in; forgets every cached key handle. */
static int token_reopen(struct token *t, char *err, size_t errlen)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_RV rv;
    int rc;

    if (t->sess != CK_INVALID_HANDLE) {
        t->f->C_CloseSession(t->sess);      /* may fail: the token may be gone */
        t->sess = CK_INVALID_HANDLE;
    }
    t->open = 0;
    t->ncache = 0;
    rc = token_find_slot(t->f, t->label, &t->slot, NULL, err, errlen);
    if (rc < 0)
        return rc;
    rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv == CKR_TOKEN_WRITE_PROTECTED)
        rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        return token_fail(NULL, "C_OpenSession", rv, err, errlen);
    /* login is per application and slot: another token of this process may have done it */
    rv = t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin, t->pin ? t->pinlen : 0);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        t->f->C_CloseSession(s);
        return token_fail(NULL, "C_Login", rv, err, errlen);
    }
    t->sess = s;
    t->open = 1;
    return 0;
}

/* With t->lock held: a live session, reopened once if the last call broke it. */
static int token_ready(struct token *t, char *err, size_t errlen)
{
    int rc;

    if (t->open)
        return 0;
    rc = token_reopen(t, err, errlen);
    if (rc == 0)
        tlog("token", "session to \"%s\" reopened", t->label);
    return rc;
}

/* ---- objects ---- */

/* One object matching tmpl: 0, -ENOENT, or a token error. */
static int token_find1(struct token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *h,
                       char *err, size_t errlen)
{
    CK_OBJECT_HANDLE found[1] = { CK_INVALID_HANDLE };
    CK_ULONG got = 0;
    CK_RV rv, rv2;

    rv = t->f->C_FindObjectsInit(t->sess, tmpl, n);
    if (rv != CKR_OK)
        return token_fail(t, "C_FindObjectsInit", rv, err, errlen);
    rv = t->f->C_FindObjects(t->sess, found, 1, &got);
    rv2 = t->f->C_FindObjectsFinal(t->sess);
    if (rv != CKR_OK)
        return token_fail(t, "C_FindObjects", rv, err, errlen);
    if (rv2 != CKR_OK)
        return token_fail(t, "C_FindObjectsFinal", rv2, err, errlen);
    if (got == 0 || found[0] == CK_INVALID_HANDLE)
        return -ENOENT;
    *h = found[0];
    return 0;
}

/* One attribute into buf (cap bytes; buf NULL: only its length). -ENOENT the object has
 * no such attribute or it is secret, -E2BIG it is larger than cap, or a token error. */
static int token_attr(struct token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf,
                      size_t cap, size_t *len, char *err, size_t errlen)
{
    CK_ATTRIBUTE a = { type, buf, buf ? cap : 0 };
    CK_RV rv = t->f->C_GetAttributeValue(t->sess, h, &a, 1);

    *len = 0;
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
        return -ENOENT;
    if (rv == CKR_BUFFER_TOO_SMALL)
        return -E2BIG;
    if (rv != CKR_OK)
        return token_fail(t, "C_GetAttributeValue", rv, err, errlen);
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return -ENOENT;
    if (buf != NULL && a.ulValueLen > cap)
        return errf(err, errlen, -EIO, "token: the module returned %lu bytes for a %zu-byte "
                    "attribute buffer", (unsigned long)a.ulValueLen, cap);
    *len = a.ulValueLen;
    return 0;
}

/* k->ckk, type and modlen of the private key k->priv. */
static int token_classify(struct token *t, struct token_key *k, char *err, size_t errlen)
{
    CK_KEY_TYPE kt = 0;
    uint8_t params[TOKEN_PARAMS_MAX];
    size_t n = 0;
    int rc;

    k->type = TRE_TOKEN_KEY_OTHER;
    k->modlen = 0;
    rc = token_attr(t, k->priv, CKA_KEY_TYPE, &kt, sizeof kt, &n, err, errlen);
    if (rc == -ENOENT || rc == -E2BIG || (rc == 0 && n != sizeof kt)) {
        k->ckk = CKK_VENDOR_DEFINED;
        return 0;
    }
    if (rc < 0)
        return rc;
    k->ckk = kt;
    switch (kt) {
    case CKK_RSA:
        rc = token_attr(t, k->priv, CKA_MODULUS, NULL, 0, &n, err, errlen);
        if (rc == 0 && n >= TOKEN_MOD_MIN && n <= TOKEN_MOD_MAX) {
            k->modlen = n;
            if (n == 256)
                k->type = TRE_TOKEN_KEY_RSA2048;
        }
        break;
    case CKK_EC:
    case CKK_EC_EDWARDS:
        rc = token_attr(t, k->priv, CKA_EC_PARAMS, params, sizeof params, &n, err, errlen);
        if (rc != 0)
            break;
        if (kt == CKK_EC && n == sizeof token_oid_p256 && !memcmp(params, token_oid_p256, n))
            k->type = TRE_TOKEN_KEY_EC_P256;
        if (kt == CKK_EC_EDWARDS &&
            ((n == sizeof token_oid_ed25519 && !memcmp(params, token_oid_ed25519, n)) ||
             (n == sizeof token_str_ed25519 && !memcmp(params, token_str_ed25519, n))))
            k->type = TRE_TOKEN_KEY_ED25519;
        break;
    default:
        rc = 0;
        break;
    }
    if (rc == -ENOENT || rc == -E2BIG)
        rc = 0;                              /* a key we cannot use: listed as "other" */
    return rc;
}

/* With t->lock held and the session ready: the private key labelled label. */
static int token_key(struct token *t, const char *label, struct token_key *out,
                     char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[2];
    struct token_key k;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    size_t n = strnlen(label, TRE_TOKEN_LABEL_MAX + 1);
    int rc;

    if (n == 0 || n > TRE_TOKEN_LABEL_MAX)
        return errf(err, errlen, -ENOENT, "token: no key labelled \"%s\"",
                    token_show(label, shown));
    for (unsigned i = 0; i < t->ncache; i++)
        if (strcmp(t->cache[i].label, label) == 0) {
            *out = t->cache[i];
            return 0;
        }
    memset(&k, 0, sizeof k);
    memcpy(k.label, label, n);
    tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, k.label, n };
    rc = token_find1(t, tmpl, 2, &k.priv, err, errlen);
    if (rc == -ENOENT)
        return errf(err, errlen, -ENOENT, "token: no key labelled \"%s\"",
                    token_show(label, shown));
    if (rc < 0)
        return rc;
    rc = token_classify(t, &k, err, errlen);
    if (rc < 0)
        return rc;
    if (t->ncache < TOKEN_CACHE_MAX)
        t->cache[t->ncache++] = k;
    else
        t->cache[t->evict++ % TOKEN_CACHE_MAX] = k;
    *out = k;
    return 0;
}

/* ---- opening ---- */

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

static void token_free_pin(char *pin, size_t len)
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

/* C_InitToken on a free slot, then the user PIN (SO PIN random and forgotten). */
static int token_softhsm_init(CK_FUNCTION_LIST_PTR f, const char *label, const char *pin,
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

static int token_keygen(struct token *t, const char *label, int type, char *err,
                        size_t errlen);

/* With t->lock held: the default keys that are missing ("ed" skipped if the module has
 * no Ed25519). */
static int token_default_keys(struct token *t, int fresh, char *err, size_t errlen)
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

static int token_new(struct token_module *m, const char *label, struct token **out,
                     char *err, size_t errlen)
{
    struct token *t = calloc(1, sizeof *t);

    *out = NULL;
    if (t == NULL)
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return errf(err, errlen, -ENOMEM, "token: no mutex");
    }
    t->m = m;
    t->f = m->f;
    t->sess = CK_INVALID_HANDLE;
    snprintf(t->label, sizeof t->label, "%s", label);
    *out = t;
    return 0;
}

int token_open(const struct token_config *c, struct token **out, char *err, size_t errlen)
{
    char conf[PATH_MAX], dir[PATH_MAX], pinpath[PATH_MAX + 16], lockpath[PATH_MAX + 16];
    const char *label, *module;
    struct token_module *m = NULL;
    struct token *t = NULL;
    char *pin = NULL;
    size_t pinlen = 0;
    CK_SLOT_ID slot;
    CK_FLAGS flags = 0;
    int rc, lockfd = -1, dflt, fresh = 0, pin_from_file = 0;

    if (out)
        *out = NULL;
    if (c == NULL || out == NULL)
        return errf(err, errlen, -EINVAL, "token: no configuration");
    label = c->token_label && *c->token_label ? c->token_label : TOKEN_DEFAULT_LABEL;
    if (strlen(label) > 32)
        return errf(err, errlen, -EINVAL, "token: a token label has at most 32 bytes");
    if (c->pin != NULL && (strlen(c->pin) == 0 || strlen(c->pin) > TOKEN_PIN_MAX))
        return errf(err, errlen, -EACCES, "token: a PIN has 1..%u bytes", TOKEN_PIN_MAX);
    dflt = c->module == NULL || *c->module == '\0';
    if (dflt) {
        module = token_softhsm_module();
        if (module == NULL)
            return errf(err, errlen, -ENOENT, "token: SoftHSM2 is not installed (no %s; "
                        "apt-get install softhsm2)", token_softhsm_paths[0]);
        rc = token_softhsm_setup(c->state_dir, conf, dir, err, errlen);
        if (rc < 0)
            return rc;
        if (snprintf(lockpath, sizeof lockpath, "%s/lock", dir) >= (int)sizeof lockpath ||
            snprintf(pinpath, sizeof pinpath, "%s/pin", dir) >= (int)sizeof pinpath)
            return errf(err, errlen, -ENAMETOOLONG, "token: state directory path too long");
        /* one process at a time creates the token */
        lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
            rc = errf(err, errlen, -errno, "token: %s: %s", lockpath, strerror(errno));
            goto fail;
        }
    } else {
        module = c->module;
    }
    rc = token_module_get(module, dflt ? conf : NULL, &m, err, errlen);
    if (rc < 0)
        goto fail;

    rc = token_find_slot(m->f, label, &slot, &flags, err, errlen);
    if (rc < 0 && (rc != -ENODEV || !dflt))
        goto fail;                           /* only the default creates its token */
    if (c->pin != NULL) {
        pinlen = strlen(c->pin);
        pin = strdup(c->pin);
        if (pin == NULL) {
            rc = errf(err, errlen, -ENOMEM, "token: out of memory");
            goto fail;
        }
    } else if (dflt) {
        rc = token_read_pin(pinpath, &pin, &pinlen, err, errlen);
        pin_from_file = rc == 0;
        if (rc == -ENOENT && flags == 0) {
            char fresh_pin[33], line[34];

            /* first use: the PIN is written before the token exists, so a crash in
             * between leaves a PIN file that the next open initialises the token with */
            if (token_new_pin(fresh_pin) < 0) {
                rc = errf(err, errlen, -EIO, "token: no random bytes for the PIN");
                goto fail;
            }
            snprintf(line, sizeof line, "%s\n", fresh_pin);
            rc = token_write_file(pinpath, line, 33, 1);
            OPENSSL_cleanse(line, sizeof line);
            if (rc < 0) {
                OPENSSL_cleanse(fresh_pin, sizeof fresh_pin);
                errf(err, errlen, rc, "token: writing %s: %s", pinpath, strerror(-rc));
                goto fail;
            }
            pin = strdup(fresh_pin);
            pinlen = 32;
            OPENSSL_cleanse(fresh_pin, sizeof fresh_pin);
            if (pin == NULL) {
                rc = errf(err, errlen, -ENOMEM, "token: out of memory");
                goto fail;
            }
        } else if (rc == -ENOENT) {
            rc = errf(err, errlen, -EACCES, "token: \"%s\" exists in %s/tokens but its PIN "
                      "file %s is missing", label, dir, pinpath);
            goto fail;
        } else if (rc < 0) {
            goto fail;
        }
    } else if (getenv("TREVISOR_TOKEN_PIN") != NULL && *getenv("TREVISOR_TOKEN_PIN")) {
        const char *e = getenv("TREVISOR_TOKEN_PIN");
        pinlen = strlen(e);
        if (pinlen > TOKEN_PIN_MAX) {
            rc = errf(err, errlen, -EACCES, "token: $TREVISOR_TOKEN_PIN is too long");
            goto fail;
        }
        pin = strdup(e);
        if (pin == NULL) {
            rc = errf(err, errlen, -ENOMEM, "token: out of memory");
            goto fail;
        }
    } else if (flags != 0 && !(flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        rc = errf(err, errlen, -EACCES, "token: no PIN for \"%s\" (give a PIN file or set "
                  "$TREVISOR_TOKEN_PIN)", label);
        goto fail;
    }

    if (flags == 0) {                        /* the default's token does not exist yet */
        if (pin_from_file)
            tlog("token", "no token \"%s\" in %s/tokens but a PIN file: creating the token "
                 "with that PIN", label, dir);
        rc = token_softhsm_init(m->f, label, pin, pinlen, err, errlen);
        if (rc < 0)
            goto fail;
        tlog("token", "created SoftHSM2 token \"%s\" in %s/tokens (a software token)", label,
             dir);
        fresh = 1;
    } else if (dflt && !(flags & CKF_USER_PIN_INITIALIZED)) {
        rc = errf(err, errlen, -EACCES, "token: \"%s\" has no user PIN yet (half-initialised%s)",
                  label, dflt ? "; remove STATE/softhsm/tokens/* and STATE/softhsm/pin to "
                  "start again" : "");
        goto fail;
    }

    rc = token_new(m, label, &t, err, errlen);
    if (rc < 0)
        goto fail;
    m = NULL;                                /* t owns the reference now */
    t->pin = pin;
    t->pinlen = pinlen;
    pin = NULL;
    rc = token_reopen(t, err, errlen);
    if (rc == 0 && dflt) {
        pthread_mutex_lock(&t->lock);
        rc = token_default_keys(t, fresh, err, errlen);
        pthread_mutex_unlock(&t->lock);
    }
    if (rc < 0)
        goto fail;
    if (lockfd >= 0)
        close(lockfd);
    *out = t;
    return 0;
fail:
    token_free_pin(pin, pinlen);
    if (t != NULL)
        token_close(t);
    token_module_put(m);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

void token_close(struct token *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    /* no C_Logout: login is per application and slot, another token may share it; the
     * last session's close logs out */
    if (t->sess != CK_INVALID_HANDLE)
        t->f->C_CloseSession(t->sess);
    t->sess = CK_INVALID_HANDLE;
    token_free_pin(t->pin, t->pinlen);
    t->pin = NULL;
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_destroy(&t->lock);
    token_module_put(t->m);
    OPENSSL_cleanse(t, sizeof *t);
    free(t);
}

const char *token_label(const struct token *t)
{
    return t ? t->label : "";
}

const char *token_module(const struct token *t)
{
    return t ? t->m->path : "";
}

/* ---- keys ---- */

int token_key_type(struct token *t, const char *label, char *err, size_t errlen)
{
    struct token_key k;
    int rc;

    if (t == NULL || label == NULL)
        return errf(err, errlen, -EINVAL, "token: no token or label");
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0)
        rc = token_key(t, label, &k, err, errlen);
    pthread_mutex_unlock(&t->lock);
    return rc < 0 ? rc : k.type;
}

struct token_listed {
    char label[TRE_TOKEN_LABEL_MAX + 1];
    int type;
};

int token_list(struct token *t, void (*fn)(void *ctx, const char *label, int type), void *ctx,
               char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[1] = { { CKA_CLASS, &cls, sizeof cls } };
    CK_OBJECT_HANDLE *h = NULL;
    struct token_listed *v = NULL;
    CK_ULONG got = 0, total = 0;
    size_t nv = 0;
    CK_RV rv, rv2;
    int rc;

    if (t == NULL || fn == NULL)
        return errf(err, errlen, -EINVAL, "token: no token or callback");
    h = calloc(TOKEN_LIST_MAX, sizeof *h);
    v = calloc(TOKEN_LIST_MAX, sizeof *v);
    if (h == NULL || v == NULL) {
        free(h);
        free(v);
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    }
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc < 0)
        goto unlock;
    rv = t->f->C_FindObjectsInit(t->sess, tmpl, 1);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_FindObjectsInit", rv, err, errlen);
        goto unlock;
    }
    rv = CKR_OK;
    while (total < TOKEN_LIST_MAX) {
        CK_ULONG want = TOKEN_LIST_MAX - total < 64 ? TOKEN_LIST_MAX - total : 64;

        got = 0;
        rv = t->f->C_FindObjects(t->sess, h + total, want, &got);
        if (rv != CKR_OK || got == 0 || got > want)
            break;
        total += got;
    }
    rv2 = t->f->C_FindObjectsFinal(t->sess);
    if (rv != CKR_OK || rv2 != CKR_OK) {
        rc = token_fail(t, rv != CKR_OK ? "C_FindObjects" : "C_FindObjectsFinal",
                        rv != CKR_OK ? rv : rv2, err, errlen);
        goto unlock;
    }
    for (CK_ULONG i = 0; i < total; i++) {
        struct token_key k;
        size_t n = 0;

        memset(&k, 0, sizeof k);
        k.priv = h[i];
        rc = token_attr(t, h[i], CKA_LABEL, k.label, TRE_TOKEN_LABEL_MAX, &n, err, errlen);
        if (rc == -ENOENT || rc == -E2BIG || (rc == 0 && (n == 0 || memchr(k.label, 0, n))))
            continue;                        /* no label a program could name */
        if (rc < 0)
            goto unlock;
        k.label[n] = '\0';
        rc = token_classify(t, &k, err, errlen);
        if (rc < 0)
            goto unlock;
        memcpy(v[nv].label, k.label, n + 1);
        v[nv].type = k.type;
        nv++;
    }
    rc = 0;
unlock:
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; rc == 0 && i < nv; i++)
        fn(ctx, v[i].label, v[i].type);      /* without the lock: fn may call us */
    free(h);
    free(v);
    return rc;
}

/* ---- public keys ---- */

/* The point inside a DER OCTET STRING, or the bytes as they are if they are not one. */
static void token_unwrap_octets(const uint8_t *p, size_t n, const uint8_t **in, size_t *inlen)
{
    *in = p;
    *inlen = n;
    if (n >= 2 && p[0] == 0x04 && p[1] < 0x80 && (size_t)p[1] + 2 == n) {
        *in = p + 2;
        *inlen = p[1];
    } else if (n >= 3 && p[0] == 0x04 && p[1] == 0x81 && p[2] >= 0x80 &&
               (size_t)p[2] + 3 == n) {
        *in = p + 3;
        *inlen = p[2];
    }
}

static EVP_PKEY *token_pkey_from(const char *alg, OSSL_PARAM_BLD *b)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, alg, NULL) : NULL;
    EVP_PKEY *pk = NULL;

    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static EVP_PKEY *token_pkey_ec(const uint8_t *params, size_t plen, const uint8_t *pt,
                               size_t ptlen)
{
    const unsigned char *q = params;
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &q, (long)plen);
    const char *group = NULL;
    EVP_PKEY *pk = NULL;

    if (oid != NULL && q == params + plen)
        group = OBJ_nid2sn(OBJ_obj2nid(oid));
    ASN1_OBJECT_free(oid);
    if (group == NULL)
        return NULL;
    for (int pass = 0; pass < 2 && pk == NULL; pass++) {
        const uint8_t *in = pt;
        size_t inlen = ptlen;
        OSSL_PARAM_BLD *b;

        if (pass == 0)
            token_unwrap_octets(pt, ptlen, &in, &inlen);   /* DER, as PKCS#11 says */
        else if (in == pt)
            break;                                         /* raw was tried already */
        b = OSSL_PARAM_BLD_new();
        if (b != NULL &&
            OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
            OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, in, inlen))
            pk = token_pkey_from("EC", b);
        OSSL_PARAM_BLD_free(b);
    }
    return pk;
}

static EVP_PKEY *token_pkey_rsa(const uint8_t *mod, size_t mlen, const uint8_t *exp,
                                size_t elen)
{
    BIGNUM *n = BN_bin2bn(mod, (int)mlen, NULL), *e = BN_bin2bn(exp, (int)elen, NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;

    if (n != NULL && e != NULL && b != NULL &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e))
        pk = token_pkey_from("RSA", b);
    OSSL_PARAM_BLD_free(b);
    BN_free(n);
    BN_free(e);
    return pk;
}

long token_pubkey(struct token *t, const char *label, uint8_t *der, size_t cap,
                  char *err, size_t errlen)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[2];
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, src;
    uint8_t params[TOKEN_PARAMS_MAX], point[TOKEN_POINT_MAX], id[TOKEN_ID_MAX];
    uint8_t mod[TOKEN_MOD_MAX], exp[TOKEN_EXP_MAX];
    size_t plen = 0, ptlen = 0, idlen = 0, mlen = 0, elen = 0;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    struct token_key k;
    EVP_PKEY *pk = NULL;
    long rc;
    int n;

    if (t == NULL || label == NULL || (der == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0)
        rc = token_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto unlock;
    /* the public key with the same label, else the one with the private key's CKA_ID */
    tmpl[0] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
    tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, k.label, strlen(k.label) };
    rc = token_find1(t, tmpl, 2, &pub, err, errlen);
    if (rc == -ENOENT) {
        rc = token_attr(t, k.priv, CKA_ID, id, sizeof id, &idlen, err, errlen);
        if (rc == 0 && idlen > 0) {
            tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, id, idlen };
            rc = token_find1(t, tmpl, 2, &pub, err, errlen);
        } else if (rc == 0 || rc == -E2BIG) {
            rc = -ENOENT;
        }
    }
    if (rc == -ENOENT && k.ckk == CKK_RSA) {
        pub = CK_INVALID_HANDLE;            /* RSA: n and e are on the private key too */
        rc = 0;
    }
    if (rc == -ENOENT) {
        rc = errf(err, errlen, -ENOENT, "token: no public key for \"%s\"",
                  token_show(label, shown));
        goto unlock;
    }
    if (rc < 0)
        goto unlock;
    src = pub != CK_INVALID_HANDLE ? pub : k.priv;
    switch (k.ckk) {
    case CKK_RSA:
        rc = token_attr(t, src, CKA_MODULUS, mod, sizeof mod, &mlen, err, errlen);
        if (rc == 0)
            rc = token_attr(t, src, CKA_PUBLIC_EXPONENT, exp, sizeof exp, &elen, err, errlen);
        break;
    case CKK_EC:
    case CKK_EC_EDWARDS:
        if (k.ckk == CKK_EC_EDWARDS && k.type != TRE_TOKEN_KEY_ED25519) {
            rc = -EINVAL;
            break;
        }
        rc = token_attr(t, src, CKA_EC_PARAMS, params, sizeof params, &plen, err, errlen);
        if (rc == -ENOENT)
            rc = token_attr(t, k.priv, CKA_EC_PARAMS, params, sizeof params, &plen, err,
                            errlen);
        if (rc == 0)
            rc = token_attr(t, src, CKA_EC_POINT, point, sizeof point, &ptlen, err, errlen);
        break;
    default:
        rc = -EINVAL;
        break;
    }
    if (rc == -EINVAL) {
        rc = errf(err, errlen, -EINVAL, "token: \"%s\" is a key type trevisor cannot export",
                  token_show(label, shown));
        goto unlock;
    }
    if (rc == -ENOENT || rc == -E2BIG) {
        rc = errf(err, errlen, -EIO, "token: the public key of \"%s\" lacks an attribute or "
                  "has one too large", token_show(label, shown));
        goto unlock;
    }
    if (rc < 0)
        goto unlock;
    pthread_mutex_unlock(&t->lock);

    if (k.ckk == CKK_RSA) {
        pk = token_pkey_rsa(mod, mlen, exp, elen);
    } else if (k.ckk == CKK_EC) {
        pk = token_pkey_ec(params, plen, point, ptlen);
    } else {
        const uint8_t *in;
        size_t inlen;

        token_unwrap_octets(point, ptlen, &in, &inlen);
        if (inlen == 32)
            pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, in, inlen);
    }
    if (pk == NULL)
        return errf(err, errlen, -EIO, "token: the public key of \"%s\" is malformed",
                    token_show(label, shown));
    n = i2d_PUBKEY(pk, NULL);
    if (n <= 0) {
        rc = errf(err, errlen, -EIO, "token: cannot encode the public key of \"%s\"",
                  token_show(label, shown));
    } else if ((size_t)n > cap) {
        rc = errf(err, errlen, -ENOBUFS, "token: the public key needs %d bytes, the buffer "
                  "holds %zu", n, cap);
    } else {
        unsigned char *p = der;
        rc = i2d_PUBKEY(pk, &p) == n ? n : errf(err, errlen, -EIO, "token: i2d_PUBKEY failed");
    }
    EVP_PKEY_free(pk);
    return rc;
unlock:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- signing, decryption, random ---- */

static int token_mech_fits(unsigned mech, const struct token_key *k)
{
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256:
        return k->type == TRE_TOKEN_KEY_EC_P256;
    case TRE_TOKEN_RSA_PKCS1_SHA256: case TRE_TOKEN_RSA_PSS_SHA256:
    case TRE_TOKEN_RSA_OAEP_SHA256: case TRE_TOKEN_RSA_PKCS1:
        return k->ckk == CKK_RSA && k->modlen != 0;
    case TRE_TOKEN_ED25519:
        return k->type == TRE_TOKEN_KEY_ED25519;
    default:
        return 0;
    }
}

/* raw r || s (2 x 32 bytes) -> DER ECDSA-Sig-Value */
static long token_ecdsa_der(const uint8_t *raw, size_t n, uint8_t *sig, size_t cap,
                            char *err, size_t errlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(n / 2), NULL), *ss = BN_bin2bn(raw + n / 2, (int)(n / 2),
                                                                    NULL);
    unsigned char *p = sig;
    long rc;
    int len;

    if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss)) {
        BN_free(r);
        BN_free(ss);
        ECDSA_SIG_free(s);
        return errf(err, errlen, -ENOMEM, "token: out of memory");
    }
    len = i2d_ECDSA_SIG(s, NULL);
    if (len <= 0)
        rc = errf(err, errlen, -EIO, "token: cannot encode the ECDSA signature");
    else if ((size_t)len > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the signature needs %d bytes", len);
    else
        rc = i2d_ECDSA_SIG(s, &p) == len ? len : errf(err, errlen, -EIO, "token: i2d failed");
    ECDSA_SIG_free(s);
    return rc;
}

long token_sign(struct token *t, const char *label, unsigned mech, const uint8_t *data,
                size_t len, uint8_t *sig, size_t cap, char *err, size_t errlen)
{
    uint8_t in[sizeof token_sha256_prefix + 32], out[TOKEN_MOD_MAX];
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM m = { 0, NULL, 0 };
    const uint8_t *src = data ? data : in;
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    CK_ULONG olen = sizeof out;
    struct token_key k;
    size_t need = 0;
    CK_RV rv;
    long rc;

    if (t == NULL || label == NULL || (data == NULL && len != 0) || (sig == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256: case TRE_TOKEN_RSA_PKCS1_SHA256: case TRE_TOKEN_RSA_PSS_SHA256:
        if (len != 32)
            return errf(err, errlen, -EINVAL, "token: %s signs a 32-byte SHA-256 digest, "
                        "not %zu bytes", token_mech_name(mech), len);
        break;
    case TRE_TOKEN_ED25519:
        if (len > TOKEN_EDDSA_MAX)
            return errf(err, errlen, -EINVAL, "token: Ed25519 signs at most %u bytes, not %zu",
                        TOKEN_EDDSA_MAX, len);
        break;
    default:
        return errf(err, errlen, -EINVAL, "token: %u is not a signing mechanism", mech);
    }
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0)
        rc = token_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto out;
    if (!token_mech_fits(mech, &k)) {
        rc = errf(err, errlen, -EINVAL, "token: key \"%s\" (%s) cannot sign with %s",
                  token_show(label, shown), token_type_name(k.type), token_mech_name(mech));
        goto out;
    }
    switch (mech) {
    case TRE_TOKEN_ECDSA_SHA256:
        m.mechanism = CKM_ECDSA;             /* over the digest the caller made */
        need = TOKEN_ECDSA_DER_MAX;
        break;
    case TRE_TOKEN_RSA_PKCS1_SHA256:
        memcpy(in, token_sha256_prefix, sizeof token_sha256_prefix);
        memcpy(in + sizeof token_sha256_prefix, data, 32);
        src = in;
        len = sizeof in;
        m.mechanism = CKM_RSA_PKCS;
        need = k.modlen;
        break;
    case TRE_TOKEN_RSA_PSS_SHA256:
        m.mechanism = CKM_RSA_PKCS_PSS;
        m.pParameter = &pss;
        m.ulParameterLen = sizeof pss;
        need = k.modlen;
        break;
    default:
        m.mechanism = CKM_EDDSA;             /* pure Ed25519: no parameters */
        need = 64;
        break;
    }
    if (cap < need) {
        rc = errf(err, errlen, -ENOBUFS, "token: a %s signature needs %zu bytes, the buffer "
                  "holds %zu", token_mech_name(mech), need, cap);
        goto out;
    }
    rv = t->f->C_SignInit(t->sess, &m, k.priv);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_SignInit", rv, err, errlen);
        goto out;
    }
    rv = t->f->C_Sign(t->sess, (CK_BYTE_PTR)src, len, out, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Sign", rv, err, errlen);
        goto out;
    }
    if (mech == TRE_TOKEN_ECDSA_SHA256) {
        if (olen != 64) {
            rc = errf(err, errlen, -EIO, "token: C_Sign: a P-256 signature of %lu bytes",
                      (unsigned long)olen);
            goto out;
        }
        rc = token_ecdsa_der(out, 64, sig, cap, err, errlen);
        goto out;
    }
    if (olen != need) {
        rc = errf(err, errlen, -EIO, "token: C_Sign: %lu bytes, expected %zu",
                  (unsigned long)olen, need);
        goto out;
    }
    memcpy(sig, out, need);
    rc = (long)need;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* OAEP (SHA-256, MGF1-SHA256, no label) for a module that has OAEP only with SHA-1, as
 * SoftHSM2 2.6: the raw RSA operation on the token (CKM_RSA_X_509), then OpenSSL's
 * constant-time OAEP check here. With t->lock held. */
static long token_decrypt_raw_oaep(struct token *t, const struct token_key *k,
                                   const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                                   char *err, size_t errlen)
{
    CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
    uint8_t em[TOKEN_MOD_MAX], pt[TOKEN_MOD_MAX], raw[TOKEN_MOD_MAX];
    CK_ULONG olen = sizeof raw;
    CK_RV rv;
    long rc;
    int n;

    rv = t->f->C_DecryptInit(t->sess, &m, k->priv);
    if (rv != CKR_OK)
        return token_fail(t, "C_DecryptInit (CKM_RSA_X_509)", rv, err, errlen);
    rv = t->f->C_Decrypt(t->sess, (CK_BYTE_PTR)in, len, raw, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Decrypt (CKM_RSA_X_509)", rv, err, errlen);
        goto out;
    }
    if (olen > k->modlen) {
        rc = errf(err, errlen, -EIO, "token: C_Decrypt: %lu bytes from a %zu-byte key",
                  (unsigned long)olen, k->modlen);
        goto out;
    }
    /* the encoded message, left-padded to the modulus length as OpenSSL wants it */
    memset(em, 0, k->modlen - olen);
    memcpy(em + (k->modlen - olen), raw, olen);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    n = RSA_padding_check_PKCS1_OAEP_mgf1(pt, (int)k->modlen, em, (int)k->modlen,
                                          (int)k->modlen, NULL, 0, EVP_sha256(), EVP_sha256());
#pragma GCC diagnostic pop
    ERR_clear_error();
    if (n < 0)
        rc = token_fail(t, "OAEP decoding", CKR_ENCRYPTED_DATA_INVALID, err, errlen);
    else if ((size_t)n > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the plaintext has %d bytes, the buffer "
                  "holds %zu", n, cap);
    else {
        memcpy(out, pt, (size_t)n);
        rc = n;
    }
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(em, sizeof em);
    OPENSSL_cleanse(pt, sizeof pt);
    return rc;
}

long token_decrypt(struct token *t, const char *label, unsigned mech, const uint8_t *in,
                   size_t len, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
    CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
    char shown[TRE_TOKEN_LABEL_MAX + 1];
    uint8_t buf[TOKEN_MOD_MAX];
    CK_ULONG olen = sizeof buf;
    struct token_key k;
    CK_RV rv;
    long rc;

    if (t == NULL || label == NULL || in == NULL || (out == NULL && cap != 0))
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    if (mech == TRE_TOKEN_RSA_OAEP_SHA256) {
        m.mechanism = CKM_RSA_PKCS_OAEP;
        m.pParameter = &oaep;
        m.ulParameterLen = sizeof oaep;
    } else if (mech != TRE_TOKEN_RSA_PKCS1) {
        return errf(err, errlen, -EINVAL, "token: %u is not a decryption mechanism", mech);
    }
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0)
        rc = token_key(t, label, &k, err, errlen);
    if (rc < 0)
        goto unlock;
    if (!token_mech_fits(mech, &k)) {
        rc = errf(err, errlen, -EINVAL, "token: key \"%s\" (%s) cannot decrypt with %s",
                  token_show(label, shown), token_type_name(k.type), token_mech_name(mech));
        goto unlock;
    }
    if (len != k.modlen) {
        rc = errf(err, errlen, -EINVAL, "token: a ciphertext for \"%s\" has %zu bytes, not %zu",
                  token_show(label, shown), k.modlen, len);
        goto unlock;
    }
    rv = CKR_MECHANISM_PARAM_INVALID;
    if (mech != TRE_TOKEN_RSA_OAEP_SHA256 || !t->oaep_raw) {
        rv = t->f->C_DecryptInit(t->sess, &m, k.priv);
        if (mech == TRE_TOKEN_RSA_OAEP_SHA256 &&
            (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID)) {
            t->oaep_raw = 1;
            tlog("token", "\"%s\" refuses OAEP with SHA-256 (C_DecryptInit: %s): trevisor "
                 "removes the OAEP padding itself after CKM_RSA_X_509", t->label,
                 rv == CKR_ARGUMENTS_BAD ? "CKR_ARGUMENTS_BAD" : "CKR_MECHANISM_PARAM_INVALID");
        } else if (rv != CKR_OK) {
            rc = token_fail(t, "C_DecryptInit", rv, err, errlen);
            goto unlock;
        }
    }
    if (rv != CKR_OK) {
        rc = token_decrypt_raw_oaep(t, &k, in, len, out, cap, err, errlen);
        goto unlock;
    }
    rv = t->f->C_Decrypt(t->sess, (CK_BYTE_PTR)in, len, buf, &olen);
    if (rv != CKR_OK) {
        rc = token_fail(t, "C_Decrypt", rv, err, errlen);
        goto unlock;
    }
    if (olen > k.modlen)
        rc = errf(err, errlen, -EIO, "token: C_Decrypt: %lu bytes from a %zu-byte key",
                  (unsigned long)olen, k.modlen);
    else if (olen > cap)
        rc = errf(err, errlen, -ENOBUFS, "token: the plaintext has %lu bytes, the buffer "
                  "holds %zu", (unsigned long)olen, cap);
    else {
        memcpy(out, buf, olen);
        rc = (long)olen;
    }
unlock:
    pthread_mutex_unlock(&t->lock);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

long token_random(struct token *t, uint8_t *out, size_t len, char *err, size_t errlen)
{
    size_t off = 0;
    long rc;

    if (t == NULL || (out == NULL && len != 0) || len > LONG_MAX)
        return errf(err, errlen, -EINVAL, "token: bad arguments");
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    while (rc == 0 && off < len) {
        size_t n = len - off < TOKEN_RANDOM_CHUNK ? len - off : TOKEN_RANDOM_CHUNK;
        CK_RV rv = t->f->C_GenerateRandom(t->sess, out + off, n);

        if (rv != CKR_OK) {
            rc = token_fail(t, "C_GenerateRandom", rv, err, errlen);
            OPENSSL_cleanse(out, len);
            break;
        }
        off += n;
    }
    pthread_mutex_unlock(&t->lock);
    return rc < 0 ? rc : (long)len;
}

/* ---- key generation ---- */

static int token_label_ok(const char *label)
{
    size_t n = strnlen(label, TRE_TOKEN_LABEL_MAX + 1);

    if (n == 0 || n > TRE_TOKEN_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = label[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* With t->lock held and the session ready. */
static int token_keygen(struct token *t, const char *label, int type, char *err, size_t errlen)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt;
    CK_ULONG bits = 2048;
    CK_BYTE e65537[] = { 0x01, 0x00, 0x01 };
    CK_MECHANISM m = { 0, NULL, 0 };
    CK_MECHANISM_INFO mi;
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    CK_ATTRIBUTE pub[12], priv[14];
    CK_ULONG npub = 0, npriv = 0, lablen = strlen(label);
    uint8_t id[16];
    const char *what;
    CK_RV rv;

    switch (type) {
    case TRE_TOKEN_KEY_EC_P256:
        kt = CKK_EC; m.mechanism = CKM_EC_KEY_PAIR_GEN; what = "EC P-256";
        break;
    case TRE_TOKEN_KEY_RSA2048:
        kt = CKK_RSA; m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN; what = "RSA-2048";
        break;
    case TRE_TOKEN_KEY_ED25519:
        kt = CKK_EC_EDWARDS; m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN; what = "Ed25519";
        break;
    default:
        return errf(err, errlen, -EINVAL, "token: cannot generate key type %d", type);
    }
    rv = t->f->C_GetMechanismInfo(t->slot, m.mechanism, &mi);
    if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && !(mi.flags & CKF_GENERATE_KEY_PAIR)))
        return errf(err, errlen, -EOPNOTSUPP, "token: \"%s\" cannot generate %s keys",
                    t->label, what);
    if (rv != CKR_OK)
        return token_fail(t, "C_GetMechanismInfo", rv, err, errlen);
    if (RAND_bytes(id, sizeof id) != 1)
        return errf(err, errlen, -EIO, "token: no random bytes for the key id");

#define TOKEN_ADD(tm, n, typ, val, len) ((tm)[(n)++] = (CK_ATTRIBUTE){ (typ), (val), (len) })
    TOKEN_ADD(pub, npub, CKA_CLASS, &pubc, sizeof pubc);
    TOKEN_ADD(pub, npub, CKA_KEY_TYPE, &kt, sizeof kt);
    TOKEN_ADD(pub, npub, CKA_TOKEN, &yes, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_PRIVATE, &no, sizeof no);
    TOKEN_ADD(pub, npub, CKA_VERIFY, &yes, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_LABEL, (void *)label, lablen);
    TOKEN_ADD(pub, npub, CKA_ID, id, sizeof id);
    TOKEN_ADD(priv, npriv, CKA_CLASS, &privc, sizeof privc);
    TOKEN_ADD(priv, npriv, CKA_KEY_TYPE, &kt, sizeof kt);
    TOKEN_ADD(priv, npriv, CKA_TOKEN, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_PRIVATE, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_SENSITIVE, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_EXTRACTABLE, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_SIGN, &yes, sizeof yes);
    TOKEN_ADD(priv, npriv, CKA_LABEL, (void *)label, lablen);
    TOKEN_ADD(priv, npriv, CKA_ID, id, sizeof id);
    /* nothing beyond what the mechanisms need (SoftHSM2's defaults allow more) */
    TOKEN_ADD(pub, npub, CKA_WRAP, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_UNWRAP, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_DERIVE, &no, sizeof no);
    TOKEN_ADD(priv, npriv, CKA_DECRYPT, type == TRE_TOKEN_KEY_RSA2048 ? &yes : &no, sizeof yes);
    TOKEN_ADD(pub, npub, CKA_ENCRYPT, type == TRE_TOKEN_KEY_RSA2048 ? &yes : &no, sizeof yes);
    if (type == TRE_TOKEN_KEY_RSA2048) {
        TOKEN_ADD(pub, npub, CKA_MODULUS_BITS, &bits, sizeof bits);
        TOKEN_ADD(pub, npub, CKA_PUBLIC_EXPONENT, e65537, sizeof e65537);
    } else if (type == TRE_TOKEN_KEY_EC_P256) {
        TOKEN_ADD(pub, npub, CKA_EC_PARAMS, (void *)token_oid_p256, sizeof token_oid_p256);
    } else {
        TOKEN_ADD(pub, npub, CKA_EC_PARAMS, (void *)token_oid_ed25519,
                  sizeof token_oid_ed25519);
    }
#undef TOKEN_ADD
    rv = t->f->C_GenerateKeyPair(t->sess, &m, pub, npub, priv, npriv, &hpub, &hpriv);
    if (type == TRE_TOKEN_KEY_ED25519 &&
        (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_CURVE_NOT_SUPPORTED ||
         rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)) {
        /* a module that knows Ed25519 only by its curve name */
        pub[npub - 1] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)token_str_ed25519,
                                        sizeof token_str_ed25519 };
        rv = t->f->C_GenerateKeyPair(t->sess, &m, pub, npub, priv, npriv, &hpub, &hpriv);
    }
    if (rv != CKR_OK)
        return token_fail(t, "C_GenerateKeyPair", rv, err, errlen);
    return 0;
}

int token_generate(struct token *t, const char *label, int type, char *err, size_t errlen)
{
    struct token_key k;
    int rc;

    if (t == NULL || label == NULL || !token_label_ok(label))
        return errf(err, errlen, -EINVAL, "token: a key label has 1..%d characters of "
                    "A-Z a-z 0-9 . _ -", TRE_TOKEN_LABEL_MAX);
    pthread_mutex_lock(&t->lock);
    rc = token_ready(t, err, errlen);
    if (rc == 0) {
        rc = token_key(t, label, &k, err, errlen);
        if (rc == 0)
            rc = errf(err, errlen, -EEXIST, "token: a key labelled \"%s\" exists", label);
        else if (rc == -ENOENT)
            rc = token_keygen(t, label, type, err, errlen);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}
