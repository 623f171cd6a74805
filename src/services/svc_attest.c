/* services/svc_attest.c — TRE_SVC_QUOTE: a TPM quote bundle for the calling program, whose
 * qualifying data binds the verifier's nonce, the program's measurement and its report
 * data (measure/quote.h). The vendor's server checks it with `trevisor verify`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trevisor/abi.h"
#include "measure/measured.h"
#include "services/services.h"
#include "util/log.h"

static long svc_quote_call(const struct services_config *c, const struct svc_caller *caller,
                           uint64_t nr, const uint8_t *req, size_t req_len, uint8_t *out,
                           size_t cap)
{
    (void)nr;
    if (!c->measured)
        return -ENODEV;
    struct tre_quote_req q;
    if (req_len < sizeof q || req_len - sizeof q > TRE_REPORT_MAX)
        return -EINVAL;
    memcpy(&q, req, sizeof q);
    if (q.nonce_len > TRE_NONCE_MAX)
        return -EINVAL;
    uint8_t *bundle = NULL;
    size_t len = 0;
    char err[256];
    int r = measured_quote(c->measured, q.nonce, q.nonce_len, caller->measurement,
                           req + sizeof q, req_len - sizeof q, &bundle, &len, err, sizeof err);
    if (r) {
        tlog("services", "%s: quote refused: %s", caller->label, err);
        return r;
    }
    long ret = -ENOBUFS;
    if (len <= cap) {
        memcpy(out, bundle, len);
        ret = (long)len;
    }
    free(bundle);
    return ret;
}

const struct svc_module svc_attest_module = {
    "quote", TRE_SVC_QUOTE, TRE_SVC_QUOTE, svc_quote_call,
};
