/* services/svc_token.c — the token services (TRE_SVC_TOKEN_*): a program may use a token
 * key only if its manifest asks for it (cap=token:LABEL) AND the grants give that key to
 * the vendor key that signed it. Everything else is refused with -EACCES and logged.
 * The token itself is services/token.c; nothing here is reachable from the guest. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trevisor/abi.h"
#include "services/grants.h"
#include "services/services.h"
#include "services/token.h"
#include "tre/minisign.h"
#include "util/log.h"

#define SVC_TOKEN_CAP "token:"

static int svc_token_manifest_asks(const struct svc_caller *caller, const char *label)
{
    size_t pl = sizeof SVC_TOKEN_CAP - 1;
    for (unsigned i = 0; i < caller->ncaps; i++)
        if (!strncmp(caller->caps[i], SVC_TOKEN_CAP, pl) && !strcmp(caller->caps[i] + pl, label))
            return 1;
    return 0;
}

static int svc_token_allowed(const struct services_config *c, const struct svc_caller *caller,
                             const char *label)
{
    if (!svc_token_manifest_asks(caller, label)) {
        tlog("services", "%s: token key '%s' refused: the manifest does not ask for it "
             "(cap=token:%s)", caller->label, label, label);
        return 0;
    }
    if (!c->grants || !grants_allow(c->grants, caller->keyid, label)) {
        char kid[17];
        tre_keyid_hex(caller->keyid, kid);
        tlog("services", "%s: token key '%s' refused: not granted to vendor key %s",
             caller->label, label, kid);
        return 0;
    }
    return 1;
}

struct svc_token_list {
    const struct services_config *c;
    const struct svc_caller *caller;
    uint8_t *out;
    size_t cap, len;
    int overflow;
};

static void svc_token_list_one(void *ctx, const char *label, int type)
{
    struct svc_token_list *l = ctx;
    size_t ll = strlen(label);
    if (ll > TRE_TOKEN_LABEL_MAX || !svc_token_manifest_asks(l->caller, label) ||
        !l->c->grants || !grants_allow(l->c->grants, l->caller->keyid, label))
        return;
    if (l->cap - l->len < sizeof(struct tre_token_key) + ll) {
        l->overflow = 1;
        return;
    }
    struct tre_token_key k = { .type = (uint8_t)type, .label_len = (uint8_t)ll };
    memcpy(l->out + l->len, &k, sizeof k);
    memcpy(l->out + l->len + sizeof k, label, ll);
    l->len += sizeof k + ll;
}

static int svc_token_any_granted(const struct services_config *c,
                                 const struct svc_caller *caller)
{
    size_t pl = sizeof SVC_TOKEN_CAP - 1;
    for (unsigned i = 0; i < caller->ncaps; i++)
        if (!strncmp(caller->caps[i], SVC_TOKEN_CAP, pl) && c->grants &&
            grants_allow(c->grants, caller->keyid, caller->caps[i] + pl))
            return 1;
    return 0;
}

static long svc_token_call(const struct services_config *c, const struct svc_caller *caller,
                           uint64_t nr, const uint8_t *req, size_t req_len, uint8_t *out,
                           size_t cap)
{
    if (!c->token)
        return -ENODEV;
    char err[256] = "";
    long r;
    if (nr == TRE_SVC_TOKEN_LIST || nr == TRE_SVC_TOKEN_RANDOM) {
        if (req_len)
            return -EINVAL;
        if (nr == TRE_SVC_TOKEN_RANDOM) {
            if (!svc_token_any_granted(c, caller)) {
                tlog("services", "%s: token random refused: no token key granted",
                     caller->label);
                return -EACCES;
            }
            r = token_random(c->token, out, cap > 65536 ? 65536 : cap, err, sizeof err);
        } else {
            struct svc_token_list l = { c, caller, out, cap, 0, 0 };
            r = token_list(c->token, svc_token_list_one, &l, err, sizeof err);
            if (!r)
                r = l.overflow ? -ENOBUFS : (long)l.len;
        }
        goto done;
    }
    struct tre_token_req h;
    if (req_len < sizeof h)
        return -EINVAL;
    memcpy(&h, req, sizeof h);
    if (h.label_len == 0 || h.label_len > TRE_TOKEN_LABEL_MAX ||
        h.label_len > req_len - sizeof h)
        return -EINVAL;
    char label[TRE_TOKEN_LABEL_MAX + 1];
    memcpy(label, req + sizeof h, h.label_len);
    label[h.label_len] = 0;
    if (strlen(label) != h.label_len)
        return -EINVAL; /* a NUL inside */
    if (!svc_token_allowed(c, caller, label))
        return -EACCES;
    const uint8_t *data = req + sizeof h + h.label_len;
    size_t dlen = req_len - sizeof h - h.label_len;
    switch (nr) {
    case TRE_SVC_TOKEN_PUBKEY:
        r = dlen ? -EINVAL : token_pubkey(c->token, label, out, cap, err, sizeof err);
        break;
    case TRE_SVC_TOKEN_SIGN:
        r = token_sign(c->token, label, h.mech, data, dlen, out, cap, err, sizeof err);
        break;
    case TRE_SVC_TOKEN_DECRYPT:
        r = token_decrypt(c->token, label, h.mech, data, dlen, out, cap, err, sizeof err);
        break;
    default:
        r = -ENOSYS;
        break;
    }
done:
    if (r < 0 && err[0])
        tlog("services", "%s: %s", caller->label, err);
    return r;
}

const struct svc_module svc_token_module = {
    "token", TRE_SVC_TOKEN_LIST, TRE_SVC_TOKEN_RANDOM, svc_token_call,
};
