/* services/token.c — the tamper-resistant token through PKCS#11 (token.h): opens a token
 * (its module through token_module.c, the SoftHSM2 default through token_softhsm.c), finds
 * its slot by label, keeps one logged-in session per struct token behind a mutex and,
 * after a removal or device error (token_err.c marks it), reopens the session once on the
 * next call; closes it, and draws random bytes. Keys are token_keys.c and
 * token_pubkey.c, signing and decryption token_mech.c. It must never log a PIN, keep one
 * anywhere but struct token (wiped on close), or trust a count the module reports without
 * checking it. */
#include "services/token_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/err.h"
#include "util/log.h"

#define TOKEN_DEFAULT_LABEL "trevisor"
#define TOKEN_SLOTS_MAX     256u
#define TOKEN_RANDOM_CHUNK  4096u

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
int token_find_slot(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot,
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
int token_ready(struct token *t, char *err, size_t errlen)
{
    if (t->open)
        return 0;
    return token_reopen(t, err, errlen);
}

/* Ends a call: the token answered without a device error, so an outage is over. */
void token_unlock(struct token *t)
{
    if (t->down && t->open) {
        tlog("token", "\"%s\" works again (session reopened)", t->label);
        t->down = 0;
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- opening and closing ---- */

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
    char conf[PATH_MAX], dir[PATH_MAX], pinpath[TOKEN_PATH_MAX];
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
        rc = token_softhsm_prepare(c->state_dir, &module, conf, dir, pinpath, &lockfd, err,
                                   errlen);
        if (rc < 0)
            return rc;
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
        rc = token_softhsm_pin(pinpath, dir, label, flags, &pin, &pinlen, &pin_from_file, err,
                               errlen);
        if (rc < 0)
            goto fail;
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
        token_unlock(t);
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

/* ---- random ---- */

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
    token_unlock(t);
    return rc < 0 ? rc : (long)len;
}
