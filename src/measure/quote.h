/* measure/quote.h — attestation: the qualifying data that binds a verifier's nonce, an
 * instance's measurement and its report data; the quote bundle (TPM quote, signature, AK,
 * PCR value, event log, report data) in its documented binary format; and the verifier
 * that checks a bundle: signature, nonce, PCR digest, log replay and reference policy.
 * Without a TPM (--tpm none) the bundle is *untrusted*: no signature and no AK, and the
 * verifier refuses it unless told to accept one, then marks its verdict so.
 * See docs/attestation.md. Decoding treats every byte as hostile. */
#ifndef TREVISOR_MEASURE_QUOTE_H
#define TREVISOR_MEASURE_QUOTE_H

#include <stddef.h>
#include <stdint.h>

struct tpm;

#define QUOTE_NONCE_MAX   64
#define QUOTE_REPORT_MAX  1024
#define QUOTE_BUNDLE_MAX  (4u << 20)   /* the largest bundle accepted (the log dominates) */

/* qual = SHA-256("trevisor-quote v1" 0x00 || u32be(nonce_len) || nonce || measurement ||
 *                u32be(report_len) || report). measurement is the TRE_IMAGE event's data
 * hash H of the calling instance, or 32 zero bytes for the owner's `trevisor attest`. */
void quote_qualifying_data(const uint8_t *nonce, size_t nonce_len,
                           const uint8_t measurement[32], const uint8_t *report,
                           size_t report_len, uint8_t qual[32]);

/* A decoded bundle; the pointers point into the buffer it was decoded from. */
struct quote_bundle {
    int untrusted;                  /* made with --tpm none: sig and AK empty, attest is
                                       the 32 bytes of qualifying data, unsigned */
    unsigned pcr;
    uint8_t pcr_value[32];          /* the PCR's value when quoted (as read) */
    uint8_t measurement[32];        /* as in quote_qualifying_data */
    const uint8_t *attest; size_t attest_len;    /* marshalled TPMS_ATTEST */
    const uint8_t *sig; size_t sig_len;          /* marshalled TPMT_SIGNATURE */
    const uint8_t *ak_der; size_t ak_der_len;    /* AK, DER SubjectPublicKeyInfo */
    const uint8_t *report; size_t report_len;    /* the report data */
    const char *eventlog; size_t eventlog_len;   /* the event log's text */
};

/* Makes a quote with the TPM over pcr and packs a bundle into a malloc'd buffer. The
 * caller holds whatever lock keeps the PCR and eventlog_text consistent. */
int quote_make(struct tpm *t, unsigned pcr, const char *eventlog_text, size_t eventlog_len,
               const uint8_t *nonce, size_t nonce_len, const uint8_t measurement[32],
               const uint8_t *report, size_t report_len, uint8_t **bundle, size_t *len,
               char *err, size_t errlen);

/* The same bundle with no TPM (--tpm none), UNTRUSTED: pcr_value is the event log's own
 * replay, and nothing is signed. For development only; a verifier refuses it by default. */
int quote_make_untrusted(unsigned pcr, const uint8_t pcr_value[32], const char *eventlog_text,
                         size_t eventlog_len, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t measurement[32], const uint8_t *report,
                         size_t report_len, uint8_t **bundle, size_t *len, char *err,
                         size_t errlen);

long quote_bundle_encode(const struct quote_bundle *b, uint8_t *out, size_t cap);
int quote_bundle_decode(const uint8_t *buf, size_t len, struct quote_bundle *b,
                        char *err, size_t errlen);

struct quote_verify_opts {
    const uint8_t *nonce; size_t nonce_len;          /* required */
    const char *policy; size_t policy_len;           /* reference policy; NULL: none */
    const uint8_t *ak_der; size_t ak_der_len;        /* the AK expected; NULL: the
                                                        bundle's own (then unpinned) */
    int allow_untrusted;            /* accept an untrusted bundle (checking all the rest) */
};

struct quote_verdict {
    int untrusted;                  /* the bundle is untrusted (--tpm none): nothing signed */
    int ak_pinned;                  /* the AK was the one expected */
    size_t events;
    uint8_t replay[32];             /* the log's replay (equals the quoted PCR) */
    int have_self; uint8_t self_hash[32];   /* the SELF event's H */
    int instance_found;             /* measurement is a TRE_IMAGE H in the log */
};

/* 0 when everything checks; else -EBADMSG (malformed), -ENOKEY (an untrusted bundle and
 * allow_untrusted not set), -EKEYREJECTED (bad signature or unexpected AK), -ESTALE (nonce, report data or measurement do not give the quoted
 * qualifying data), -EILSEQ (the log does not replay to the quoted PCR digest), -EACCES
 * (the policy refuses an event), with one line in err. */
int quote_verify(const uint8_t *bundle, size_t len, const struct quote_verify_opts *o,
                 struct quote_verdict *v, char *err, size_t errlen);

#endif
