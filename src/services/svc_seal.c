/* services/svc_seal.c — TRE_SVC_SEAL and TRE_SVC_UNSEAL: AES-256-GCM blobs bound to the
 * calling program's vendor key, name and security version under the launch-sealed master
 * (measure/sealer.h). The blob leaves the TRE; only this program (or a later version of
 * it) under the same launch measurement can open it. */
#include <errno.h>
#include <string.h>

#include "trevisor/abi.h"
#include "measure/measured.h"
#include "measure/sealer.h"
#include "services/services.h"
#include "util/log.h"

static long svc_seal_call(const struct services_config *c, const struct svc_caller *caller,
                          uint64_t nr, const uint8_t *req, size_t req_len, uint8_t *out,
                          size_t cap)
{
    const char *why = "no TPM configured";
    struct sealer *s = c->measured ? measured_sealer(c->measured, &why) : NULL;
    if (!s) {
        tlog("services", "%s: %s refused: %s", caller->label,
             nr == TRE_SVC_SEAL ? "seal" : "unseal", why);
        return -ENODEV;
    }
    struct seal_identity id;
    memset(&id, 0, sizeof id);
    memcpy(id.keyid, caller->keyid, 8);
    memcpy(id.name, caller->name, sizeof id.name);
    id.name[sizeof id.name - 1] = 0;
    id.svn = caller->svn;
    char err[256] = "";
    long r = nr == TRE_SVC_SEAL
                 ? sealer_seal(s, &id, req, req_len, out, cap, err, sizeof err)
                 : sealer_unseal(s, &id, req, req_len, out, cap, err, sizeof err);
    if (r < 0)
        tlog("services", "%s: %s refused: %s", caller->label,
             nr == TRE_SVC_SEAL ? "seal" : "unseal", err[0] ? err : strerror((int)-r));
    explicit_bzero(&id, sizeof id);
    return r;
}

const struct svc_module svc_seal_module = {
    "seal", TRE_SVC_SEAL, TRE_SVC_UNSEAL, svc_seal_call,
};
