/* services/services.h — the TRE services (include/trevisor/abi.h, docs/services.md): what
 * a TRE program may ask of trevisor beyond the Linux syscall subset — random bytes, quotes,
 * sealing, the token. One registry per trevisor process; each service is a module
 * (svc_*.c) that registers its doorbell numbers here. The engine calls services_admit
 * before an image first runs and services_call for a doorbell number >= 0x1000. */
#ifndef TREVISOR_SERVICES_SERVICES_H
#define TREVISOR_SERVICES_SERVICES_H

#include <stddef.h>
#include <stdint.h>

struct tre_services;
struct tre_instance;
struct measured;
struct token;
struct grants;

/* Who is calling: filled by the engine from the verified image. */
struct svc_caller {
    uint8_t keyid[8];             /* the vendor key that signed the image */
    uint8_t sha256[32];           /* the image file's hash */
    uint8_t measurement[32];      /* its TRE_IMAGE event's H (zero if not measured) */
    char name[32];
    uint32_t svn;
    unsigned ncaps;
    const char (*caps)[128];      /* the manifest's cap= entries */
    const char *label;            /* "name#desc", for log lines */
};

/* Every pointer may be NULL: that service then answers -ENODEV. The registry does not
 * own them. */
struct services_config {
    struct measured *measured;    /* quotes, sealing, image measurement, rollback */
    struct token *token;          /* the PKCS#11 token */
    const struct grants *grants;  /* which vendor may use which token key */
};

int services_new(const struct services_config *c, struct tre_services **out);
void services_free(struct tre_services *s);

/* Before an image runs: measures it (fills caller->measurement) and checks its security
 * version against rollback. Nonzero refuses the exec (err says why). */
int services_admit(struct tre_services *s, struct svc_caller *caller, const void *manifest,
                   size_t manifest_len, char *err, size_t errlen);

/* The owner's attestation (trevisor attest): a quote bundle with a zero measurement. */
int services_attest(struct tre_services *s, const uint8_t *nonce, size_t nonce_len,
                    const uint8_t *report, size_t report_len, uint8_t **bundle, size_t *len,
                    char *err, size_t errlen);

/* One service call. req is trevisor's private copy of the request; the reply goes to out
 * (cap bytes). Returns the reply's length or -errno for the program; never ends it. */
long services_call(struct tre_services *s, const struct svc_caller *caller, uint64_t nr,
                   const uint8_t *req, size_t req_len, uint8_t *out, size_t cap);

/* ---- for the modules (svc_*.c) ---- */
struct svc_module {
    const char *name;
    uint64_t first, last;         /* doorbell numbers served */
    long (*call)(const struct services_config *c, const struct svc_caller *caller,
                 uint64_t nr, const uint8_t *req, size_t req_len, uint8_t *out, size_t cap);
};
extern const struct svc_module svc_random_module, svc_attest_module, svc_seal_module,
    svc_token_module;

#endif
