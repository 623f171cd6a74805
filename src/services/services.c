/* services/services.c — the TRE service registry: finds the module that serves a doorbell
 * number, and admits images (measurement, then the rollback check) before they run. It
 * knows no service by its contents: each module checks its own request. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "measure/measured.h"
#include "tre/minisign.h"
#include "util/err.h"
#include "util/log.h"

struct tre_services {
    struct services_config cfg;
};

static const struct svc_module *const svc_modules[] = {
    &svc_random_module, &svc_attest_module, &svc_seal_module, &svc_token_module,
};

int services_new(const struct services_config *c, struct tre_services **out)
{
    struct tre_services *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (c)
        s->cfg = *c;
    *out = s;
    return 0;
}

void services_free(struct tre_services *s)
{
    free(s);
}

int services_admit(struct tre_services *s, struct svc_caller *caller, const void *manifest,
                   size_t manifest_len, char *err, size_t errlen)
{
    memset(caller->measurement, 0, sizeof caller->measurement);
    if (!s || !s->cfg.measured)
        return 0;
    /* the log line's label, for people (not measured): name, svn and vendor key */
    char kid[17], desc[96];
    tre_keyid_hex(caller->keyid, kid);
    snprintf(desc, sizeof desc, "%s svn %u key %s", caller->name, caller->svn, kid);
    int r = measured_image(s->cfg.measured, caller->sha256, caller->keyid, manifest,
                           manifest_len, desc, caller->measurement, err, errlen);
    if (r)
        return r;
    return measured_check_svn(s->cfg.measured, caller->keyid, caller->name, caller->svn,
                              err, errlen);
}

int services_attest(struct tre_services *s, const uint8_t *nonce, size_t nonce_len,
                    const uint8_t *report, size_t report_len, uint8_t **bundle, size_t *len,
                    char *err, size_t errlen)
{
    static const uint8_t zero[32];
    if (!s || !s->cfg.measured)
        return errf(err, errlen, -ENODEV, "attest: this trevisor has no TPM configured");
    return measured_quote(s->cfg.measured, nonce, nonce_len, zero, report, report_len,
                          bundle, len, err, errlen);
}

long services_call(struct tre_services *s, const struct svc_caller *caller, uint64_t nr,
                   const uint8_t *req, size_t req_len, uint8_t *out, size_t cap)
{
    if (!s)
        return -ENODEV;
    for (size_t i = 0; i < sizeof svc_modules / sizeof svc_modules[0]; i++) {
        const struct svc_module *m = svc_modules[i];
        if (nr >= m->first && nr <= m->last)
            return m->call(&s->cfg, caller, nr, req, req_len, out, cap);
    }
    return -ENOSYS;
}
