/* services/token_err.c — what the token backend says when PKCS#11 fails: the CKR_* names
 * and reasons, their mapping to -errno, which of them break the session (so that the next
 * call reopens it, token.c), and the names messages give labels and key types. It must
 * never put a PIN in a message or a log line, nor show a label's bytes unfiltered. */
#include "services/token_impl.h"

#include <errno.h>
#include <stdio.h>

#include "util/err.h"
#include "util/log.h"

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
int token_fail(struct token *t, const char *fn, CK_RV rv, char *err, size_t errlen)
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
        if (!t->down)                        /* once per outage, not once per call */
            tlog("token", "%s: %s (%s); the next call reopens the session", fn, name, why);
        t->down = 1;
        t->open = 0;
    }
    return e;
}

/* A label as it may be shown: printable ASCII only. */
const char *token_show(const char *label, char out[TRE_TOKEN_LABEL_MAX + 1])
{
    size_t i = 0;

    for (; label[i] != '\0' && i < TRE_TOKEN_LABEL_MAX; i++)
        out[i] = (label[i] > 0x20 && label[i] < 0x7f) ? label[i] : '?';
    out[i] = '\0';
    return out;
}

const char *token_type_name(int type)
{
    switch (type) {
    case TRE_TOKEN_KEY_EC_P256: return "EC P-256";
    case TRE_TOKEN_KEY_RSA2048: return "RSA-2048";
    case TRE_TOKEN_KEY_ED25519: return "Ed25519";
    default: return "other";
    }
}
