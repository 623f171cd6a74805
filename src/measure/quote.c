/* measure/quote.c — attestation (see quote.h and docs/attestation.md): the qualifying
 * data rule, the quote bundle's binary format (encode, and a strict decode that treats
 * every byte as hostile), making a bundle with the TPM, and the verifier: AK, signature,
 * TPMS_ATTEST contents, qualifying data, event log replay, reference policy, instance.
 * It never trusts a length before checking it against the bytes that remain, and never
 * interprets a TPMS_ATTEST whose signature it has not checked. An *untrusted* bundle
 * (--tpm none: no signature, no AK, the qualifying data in place of the attest) is
 * refused unless the verifier asked to accept it, and is then marked in the verdict. The TSS's own logging is
 * turned off (TSS2_LOG=all+none unless the environment sets it, as in tpm.c): a hostile
 * bundle must not make libtss2-mu write to stderr; the verdict is our one line. */
#include "measure/quote.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "measure/eventlog.h"
#include "measure/tpm.h"
#include "util/err.h"

#define QUOTE_MAGIC     "TRQB"
#define QUOTE_VERSION   1u
#define QUOTE_FIXED     (4 + 4 + 4 + 32 + 32)  /* magic, version, pcr, pcr_value, measurement */
#define QUOTE_NFIELDS   5                      /* attest, sig, ak_der, report, eventlog */
#define QUAL_DOMAIN     "trevisor-quote v1"    /* followed by its NUL */

static const uint8_t zero32[32];

static pthread_once_t tss_log_once = PTHREAD_ONCE_INIT;

static void tss_log_off(void)
{
    setenv("TSS2_LOG", "all+none", 0);
}

/* ---- the qualifying data ---- */

static void put_be32(uint8_t b[4], uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* The rule of quote.h; 0, or -EINVAL (a length over 32 bits), -ENOMEM (OpenSSL). */
static int qual_compute(const uint8_t *nonce, size_t nonce_len, const uint8_t *measurement,
                        const uint8_t *report, size_t report_len, uint8_t qual[32])
{
    uint8_t nl[4], rl[4];
    unsigned int hl = 0;
    int r = -ENOMEM;

    if (nonce_len > UINT32_MAX || report_len > UINT32_MAX ||
        (nonce_len && !nonce) || (report_len && !report))
        return -EINVAL;
    put_be32(nl, (uint32_t)nonce_len);
    put_be32(rl, (uint32_t)report_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, QUAL_DOMAIN, sizeof QUAL_DOMAIN) == 1 &&   /* with its NUL */
        EVP_DigestUpdate(ctx, nl, 4) == 1 &&
        (!nonce_len || EVP_DigestUpdate(ctx, nonce, nonce_len) == 1) &&
        EVP_DigestUpdate(ctx, measurement ? measurement : zero32, 32) == 1 &&
        EVP_DigestUpdate(ctx, rl, 4) == 1 &&
        (!report_len || EVP_DigestUpdate(ctx, report, report_len) == 1) &&
        EVP_DigestFinal_ex(ctx, qual, &hl) == 1 && hl == 32)
        r = 0;
    EVP_MD_CTX_free(ctx);
    return r;
}

void quote_qualifying_data(const uint8_t *nonce, size_t nonce_len,
                           const uint8_t measurement[32], const uint8_t *report,
                           size_t report_len, uint8_t qual[32])
{
    /* On failure (bad arguments, no memory) qual is all 0xff: no quote made here or
     * checked by quote_verify uses it, as both compute it with the checked variant. */
    if (qual_compute(nonce, nonce_len, measurement, report, report_len, qual) < 0)
        memset(qual, 0xff, 32);
}

/* ---- the bundle format ---- */

static int pcr_attestable(unsigned pcr)
{
    return pcr <= EVENTLOG_MAX_PCR && pcr != 16 && pcr != 23;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

struct field {
    const char *name;
    size_t min, max;
};

/* In the order they are written. */
static const struct field fields[QUOTE_NFIELDS] = {
    { "attest", 1, TPM_ATTEST_MAX },
    { "sig", 0, TPM_SIG_MAX },       /* 0 only in an untrusted bundle */
    { "ak", 0, TPM_AK_DER_MAX },     /* 0 only in an untrusted bundle */
    { "report", 0, QUOTE_REPORT_MAX },
    { "eventlog", 1, QUOTE_BUNDLE_MAX },
};

/* A TPM bundle has a signature and an AK; an untrusted one has neither, and its attest
 * field is exactly the 32 bytes of qualifying data. Nothing in between. */
static int bundle_shape_ok(size_t attest_len, size_t sig_len, size_t ak_len, int *untrusted)
{
    *untrusted = sig_len == 0 && ak_len == 0;
    if (*untrusted)
        return attest_len == 32;
    return sig_len != 0 && ak_len != 0;
}

long quote_bundle_encode(const struct quote_bundle *b, uint8_t *out, size_t cap)
{
    int untrusted;
    if (!b || !pcr_attestable(b->pcr) ||
        !bundle_shape_ok(b->attest_len, b->sig_len, b->ak_der_len, &untrusted) ||
        untrusted != !!b->untrusted)
        return -EINVAL;
    const void *ptr[QUOTE_NFIELDS] = { b->attest, b->sig, b->ak_der, b->report, b->eventlog };
    const size_t len[QUOTE_NFIELDS] = { b->attest_len, b->sig_len, b->ak_der_len,
                                        b->report_len, b->eventlog_len };
    size_t total = QUOTE_FIXED;
    for (int i = 0; i < QUOTE_NFIELDS; i++) {
        if (len[i] < fields[i].min || len[i] > fields[i].max || (len[i] && !ptr[i]))
            return -EINVAL;
        total += 4 + len[i];   /* each len is bounded by QUOTE_BUNDLE_MAX: no overflow */
    }
    if (total > QUOTE_BUNDLE_MAX)
        return -EINVAL;
    if (!out || cap < total)
        return (long)total;
    uint8_t *p = out;
    memcpy(p, QUOTE_MAGIC, 4);
    put_le32(p + 4, QUOTE_VERSION);
    put_le32(p + 8, b->pcr);
    memcpy(p + 12, b->pcr_value, 32);
    memcpy(p + 44, b->measurement, 32);
    p += QUOTE_FIXED;
    for (int i = 0; i < QUOTE_NFIELDS; i++) {
        put_le32(p, (uint32_t)len[i]);
        if (len[i])
            memcpy(p + 4, ptr[i], len[i]);
        p += 4 + len[i];
    }
    return (long)total;
}

#define BADMSG(...) errf(err, errlen, -EBADMSG, "quote: bundle: " __VA_ARGS__)

int quote_bundle_decode(const uint8_t *buf, size_t len, struct quote_bundle *b,
                        char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!b)
        return errf(err, errlen, -EINVAL, "quote: bundle: no output");
    memset(b, 0, sizeof *b);
    if (!buf && len)
        return errf(err, errlen, -EINVAL, "quote: bundle: no buffer");
    if (len > QUOTE_BUNDLE_MAX)
        return BADMSG("%zu bytes, more than the %u accepted", len, QUOTE_BUNDLE_MAX);
    if (len < QUOTE_FIXED)
        return BADMSG("truncated header (%zu bytes)", len);
    if (memcmp(buf, QUOTE_MAGIC, 4) != 0)
        return BADMSG("not a quote bundle (bad magic)");
    uint32_t version = get_le32(buf + 4);
    if (version != QUOTE_VERSION)
        return BADMSG("unsupported version %u", version);
    uint32_t pcr = get_le32(buf + 8);
    if (!pcr_attestable(pcr))
        return BADMSG("PCR %u cannot be attested", pcr);
    b->pcr = pcr;
    memcpy(b->pcr_value, buf + 12, 32);
    memcpy(b->measurement, buf + 44, 32);

    const uint8_t *ptr[QUOTE_NFIELDS];
    size_t flen[QUOTE_NFIELDS];
    size_t off = QUOTE_FIXED;
    for (int i = 0; i < QUOTE_NFIELDS; i++) {
        if (len - off < 4)
            return BADMSG("truncated before the %s length", fields[i].name);
        uint32_t n = get_le32(buf + off);
        off += 4;
        if (n < fields[i].min || n > fields[i].max)
            return BADMSG("%s is %u bytes (allowed %zu..%zu)", fields[i].name, n,
                          fields[i].min, fields[i].max);
        if (n > len - off)
            return BADMSG("%s is %u bytes but only %zu remain", fields[i].name, n, len - off);
        ptr[i] = buf + off;
        flen[i] = n;
        off += n;
    }
    if (off != len)
        return BADMSG("%zu trailing bytes", len - off);
    if (!bundle_shape_ok(flen[0], flen[1], flen[2], &b->untrusted))
        return BADMSG("attest %zu, sig %zu, ak %zu bytes: neither a TPM quote (all three) "
                      "nor an untrusted one (32, 0, 0)", flen[0], flen[1], flen[2]);
    b->attest = ptr[0]; b->attest_len = flen[0];
    b->sig = ptr[1]; b->sig_len = flen[1];
    b->ak_der = ptr[2]; b->ak_der_len = flen[2];
    b->report = ptr[3]; b->report_len = flen[3];
    b->eventlog = (const char *)ptr[4]; b->eventlog_len = flen[4];
    return 0;
}

/* ---- making a bundle ---- */

/* The PCR digest a quote attests (the attest is our own TPM's, parsed for a sanity check). */
static int attest_pcr_digest(const uint8_t *attest, size_t len, uint8_t digest[32])
{
    TPMS_ATTEST a;
    size_t off = 0;
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, len, &off, &a) != TSS2_RC_SUCCESS ||
        off != len || a.type != TPM2_ST_ATTEST_QUOTE ||
        a.attested.quote.pcrDigest.size != 32)
        return -EPROTO;
    memcpy(digest, a.attested.quote.pcrDigest.buffer, 32);
    return 0;
}

/* The arguments both producers take; 0, or -EINVAL with the reason. */
static int make_args_check(unsigned pcr, const char *eventlog_text, size_t eventlog_len,
                           const uint8_t *nonce, size_t nonce_len, const uint8_t *report,
                           size_t report_len, uint8_t **bundle, size_t *len, char *err,
                           size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!bundle || !len)
        return errf(err, errlen, -EINVAL, "quote: bad arguments");
    *bundle = NULL;
    *len = 0;
    if (!pcr_attestable(pcr))
        return errf(err, errlen, -EINVAL, "quote: PCR %u cannot be attested", pcr);
    if (nonce_len > QUOTE_NONCE_MAX || (nonce_len && !nonce))
        return errf(err, errlen, -EINVAL, "quote: the nonce is %zu bytes (max %d)",
                    nonce_len, QUOTE_NONCE_MAX);
    if (report_len > QUOTE_REPORT_MAX || (report_len && !report))
        return errf(err, errlen, -EINVAL, "quote: the report data is %zu bytes (max %d)",
                    report_len, QUOTE_REPORT_MAX);
    if (!eventlog_text || !eventlog_len || eventlog_len > QUOTE_BUNDLE_MAX)
        return errf(err, errlen, -EINVAL, "quote: the event log is %zu bytes (1..%u)",
                    eventlog_len, QUOTE_BUNDLE_MAX);
    return 0;
}

/* Encodes b into a malloc'd buffer. */
static int bundle_pack(const struct quote_bundle *b, uint8_t **bundle, size_t *len,
                       char *err, size_t errlen)
{
    long need = quote_bundle_encode(b, NULL, 0);
    if (need < 0)
        return errf(err, errlen, -EINVAL, "quote: the bundle would exceed %u bytes",
                    QUOTE_BUNDLE_MAX);
    uint8_t *out = malloc((size_t)need);
    if (!out)
        return errf(err, errlen, -ENOMEM, "quote: out of memory");
    if (quote_bundle_encode(b, out, (size_t)need) != need) {
        free(out);
        return errf(err, errlen, -EINVAL, "quote: cannot encode the bundle");
    }
    *bundle = out;
    *len = (size_t)need;
    return 0;
}

int quote_make(struct tpm *t, unsigned pcr, const char *eventlog_text, size_t eventlog_len,
               const uint8_t *nonce, size_t nonce_len, const uint8_t measurement[32],
               const uint8_t *report, size_t report_len, uint8_t **bundle, size_t *len,
               char *err, size_t errlen)
{
    uint8_t qual[32], attest[TPM_ATTEST_MAX], sig[TPM_SIG_MAX], ak[TPM_AK_DER_MAX];
    uint8_t digest[32], want[32];
    size_t alen = sizeof attest, slen = sizeof sig, aklen = sizeof ak;
    struct quote_bundle b;
    int r;

    if ((r = make_args_check(pcr, eventlog_text, eventlog_len, nonce, nonce_len, report,
                             report_len, bundle, len, err, errlen)) < 0)
        return r;
    if (!t)
        return errf(err, errlen, -EINVAL, "quote: no TPM");
    if ((r = qual_compute(nonce, nonce_len, measurement, report, report_len, qual)) < 0)
        return errf(err, errlen, r, "quote: cannot compute the qualifying data");
    r = tpm_quote(t, pcr, qual, sizeof qual, attest, &alen, sig, &slen, err, errlen);
    if (r < 0)
        return r;

    memset(&b, 0, sizeof b);
    b.pcr = pcr;
    if ((r = tpm_pcr_read(t, pcr, b.pcr_value)) < 0)
        return errf(err, errlen, r, "%s", tpm_last_error(t));
    if ((r = tpm_ak_public(t, ak, &aklen)) < 0)
        return errf(err, errlen, r, "%s", tpm_last_error(t));
    /* The caller keeps the PCR still; a value that moved anyway gives no bundle, since
     * it could never verify. */
    if (attest_pcr_digest(attest, alen, digest) < 0)
        return errf(err, errlen, -EPROTO, "quote: the TPM's quote does not parse");
    SHA256(b.pcr_value, 32, want);
    if (memcmp(want, digest, 32) != 0)
        return errf(err, errlen, -EAGAIN, "quote: PCR %u changed while it was quoted", pcr);

    memcpy(b.measurement, measurement ? measurement : zero32, 32);
    b.attest = attest; b.attest_len = alen;
    b.sig = sig; b.sig_len = slen;
    b.ak_der = ak; b.ak_der_len = aklen;
    b.report = report; b.report_len = report_len;
    b.eventlog = eventlog_text; b.eventlog_len = eventlog_len;
    return bundle_pack(&b, bundle, len, err, errlen);
}

int quote_make_untrusted(unsigned pcr, const uint8_t pcr_value[32], const char *eventlog_text,
                         size_t eventlog_len, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t measurement[32], const uint8_t *report,
                         size_t report_len, uint8_t **bundle, size_t *len, char *err,
                         size_t errlen)
{
    uint8_t qual[32];
    struct quote_bundle b;
    int r;

    if ((r = make_args_check(pcr, eventlog_text, eventlog_len, nonce, nonce_len, report,
                             report_len, bundle, len, err, errlen)) < 0)
        return r;
    if (!pcr_value)
        return errf(err, errlen, -EINVAL, "quote: no PCR value");
    if ((r = qual_compute(nonce, nonce_len, measurement, report, report_len, qual)) < 0)
        return errf(err, errlen, r, "quote: cannot compute the qualifying data");
    memset(&b, 0, sizeof b);
    b.untrusted = 1;
    b.pcr = pcr;
    memcpy(b.pcr_value, pcr_value, 32);
    memcpy(b.measurement, measurement ? measurement : zero32, 32);
    b.attest = qual; b.attest_len = sizeof qual;
    b.report = report; b.report_len = report_len;
    b.eventlog = eventlog_text; b.eventlog_len = eventlog_len;
    return bundle_pack(&b, bundle, len, err, errlen);
}

/* ---- verifying a bundle ---- */

/* The bundle's AK as an OpenSSL key: exactly one DER SubjectPublicKeyInfo, EC P-256. */
static int ak_load(const uint8_t *der, size_t len, EVP_PKEY **out, char *err, size_t errlen)
{
    const unsigned char *p = der;
    char group[64];
    size_t glen = 0;

    *out = NULL;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
    if (!pk) {
        ERR_clear_error();
        return errf(err, errlen, -EBADMSG, "quote: the AK is not a DER public key");
    }
    if ((size_t)(p - der) != len) {
        EVP_PKEY_free(pk);
        return errf(err, errlen, -EBADMSG, "quote: trailing bytes after the AK");
    }
    /* One key, one encoding: d2i tolerates variants (a BIT STRING with unused bits), and
     * pinning compares bytes, so only the canonical re-encoding is accepted. */
    unsigned char *re = NULL;
    int relen = i2d_PUBKEY(pk, &re);
    int canonical = relen > 0 && (size_t)relen == len && memcmp(re, der, len) == 0;
    OPENSSL_free(re);
    if (!canonical) {
        EVP_PKEY_free(pk);
        ERR_clear_error();
        return errf(err, errlen, -EBADMSG, "quote: the AK is not in canonical DER");
    }
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(pk);
        return errf(err, errlen, -EKEYREJECTED, "quote: the AK is not an ECC P-256 key");
    }
    *out = pk;
    return 0;
}

/* ECDSA P-256 / SHA-256 over the attest bytes, the signature a marshalled TPMT_SIGNATURE. */
static int sig_check(EVP_PKEY *pk, const uint8_t *msg, size_t msg_len, const uint8_t *sigb,
                     size_t sig_len, char *err, size_t errlen)
{
    TPMT_SIGNATURE s;
    size_t off = 0;
    ECDSA_SIG *es = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *dsig = NULL;
    EVP_MD_CTX *md = NULL;
    int dlen, r;

    memset(&s, 0, sizeof s);
    pthread_once(&tss_log_once, tss_log_off);
    if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sigb, sig_len, &off, &s) != TSS2_RC_SUCCESS)
        return errf(err, errlen, -EBADMSG, "quote: the signature does not parse");
    if (off != sig_len)
        return errf(err, errlen, -EBADMSG, "quote: %zu trailing bytes after the signature",
                    sig_len - off);
    if (s.sigAlg != TPM2_ALG_ECDSA || s.signature.ecdsa.hash != TPM2_ALG_SHA256)
        return errf(err, errlen, -EKEYREJECTED,
                    "quote: the signature is not ECDSA with SHA-256 (alg 0x%x)", s.sigAlg);
    const TPM2B_ECC_PARAMETER *sr = &s.signature.ecdsa.signatureR;
    const TPM2B_ECC_PARAMETER *ss = &s.signature.ecdsa.signatureS;
    if (sr->size == 0 || sr->size > 32 || ss->size == 0 || ss->size > 32)
        return errf(err, errlen, -EKEYREJECTED, "quote: the signature is not a P-256 one");

    r = -ENOMEM;
    es = ECDSA_SIG_new();
    br = BN_bin2bn(sr->buffer, sr->size, NULL);
    bs = BN_bin2bn(ss->buffer, ss->size, NULL);
    if (!es || !br || !bs || ECDSA_SIG_set0(es, br, bs) != 1)
        goto fail;
    br = bs = NULL;                         /* owned by es now */
    dlen = i2d_ECDSA_SIG(es, &dsig);
    if (dlen <= 0)
        goto fail;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) != 1)
        goto fail;
    if (EVP_DigestVerify(md, dsig, (size_t)dlen, msg, msg_len) != 1) {
        r = errf(err, errlen, -EKEYREJECTED,
                 "quote: the signature does not verify with the AK");
        goto out;
    }
    r = 0;
    goto out;
fail:
    r = errf(err, errlen, r, "quote: out of memory checking the signature");
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(dsig);
    ECDSA_SIG_free(es);
    BN_free(br);
    BN_free(bs);
    ERR_clear_error();
    return r;
}

/* The signed TPMS_ATTEST: a TPM-generated quote over exactly bundle.pcr in the SHA-256
 * bank with a 32-byte PCR digest. Copies out extraData and pcrDigest. */
static int attest_check(const struct quote_bundle *b, TPMS_ATTEST *a, char *err,
                        size_t errlen)
{
    size_t off = 0;
    unsigned found = 0, bits = 0;

    memset(a, 0, sizeof *a);
    pthread_once(&tss_log_once, tss_log_off);
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(b->attest, b->attest_len, &off, a) != TSS2_RC_SUCCESS)
        return errf(err, errlen, -EBADMSG, "quote: the attest structure does not parse");
    if (off != b->attest_len)
        return errf(err, errlen, -EBADMSG, "quote: %zu trailing bytes after the attest",
                    b->attest_len - off);
    if (a->magic != TPM2_GENERATED_VALUE)
        return errf(err, errlen, -EBADMSG, "quote: the attest is not TPM-generated "
                    "(magic 0x%08x)", a->magic);
    if (a->type != TPM2_ST_ATTEST_QUOTE)
        return errf(err, errlen, -EBADMSG, "quote: the attest is not a quote (type 0x%x)",
                    a->type);
    const TPML_PCR_SELECTION *ps = &a->attested.quote.pcrSelect;
    if (ps->count != 1 || ps->pcrSelections[0].hash != TPM2_ALG_SHA256)
        return errf(err, errlen, -EBADMSG,
                    "quote: the quote does not select exactly the SHA-256 bank");
    const TPMS_PCR_SELECTION *s = &ps->pcrSelections[0];
    if (s->sizeofSelect > sizeof s->pcrSelect)
        return errf(err, errlen, -EBADMSG, "quote: bad PCR selection size");
    for (unsigned i = 0; i < s->sizeofSelect; i++)
        for (unsigned j = 0; j < 8; j++)
            if (s->pcrSelect[i] & (1u << j)) {
                bits++;
                found = i * 8 + j;
            }
    if (bits != 1 || found != b->pcr)
        return errf(err, errlen, -EBADMSG, "quote: the quote is not over exactly PCR %u",
                    b->pcr);
    if (a->attested.quote.pcrDigest.size != 32)
        return errf(err, errlen, -EBADMSG, "quote: the PCR digest is not 32 bytes");
    return 0;
}

int quote_verify(const uint8_t *bundle, size_t len, const struct quote_verify_opts *o,
                 struct quote_verdict *v, char *err, size_t errlen)
{
    struct quote_verdict vv;
    struct quote_bundle b;
    struct eventlog *log = NULL;
    EVP_PKEY *pk = NULL;
    TPMS_ATTEST a;
    uint8_t qual[32], digest[32];
    char perr[256];
    int r;

    if (!v)
        v = &vv;
    memset(v, 0, sizeof *v);
    if (err && errlen)
        err[0] = '\0';
    if (!o || o->nonce_len > QUOTE_NONCE_MAX || (o->nonce_len && !o->nonce) ||
        (o->policy_len && !o->policy) || (o->ak_der_len && !o->ak_der))
        return errf(err, errlen, -EINVAL, "quote: bad verify options (nonce up to %d bytes)",
                    QUOTE_NONCE_MAX);

    /* 1. the bundle's framing */
    if ((r = quote_bundle_decode(bundle, len, &b, err, errlen)) < 0)
        return r;

    /* 2. an untrusted bundle: nothing signed it, so it passes only where the caller said
     * it may, it never matches a pinned AK, and its attest field is the bare qual */
    const uint8_t *quoted_qual, *quoted_digest;
    uint8_t untrusted_digest[32];
    if (b.untrusted) {
        v->untrusted = 1;
        if (o->ak_der)
            return errf(err, errlen, -EKEYREJECTED, "quote: not the expected attestation "
                        "key: the bundle is UNTRUSTED (made with --tpm none, no TPM signed it)");
        if (!o->allow_untrusted)
            return errf(err, errlen, -ENOKEY, "quote: UNTRUSTED: made with --tpm none, no TPM "
                        "signed it, so it proves nothing about the machine");
        quoted_qual = b.attest;
        SHA256(b.pcr_value, 32, untrusted_digest);
        quoted_digest = untrusted_digest;
        goto binding;
    }

    /* 2'. the AK: the expected one, byte for byte, if the caller knows it */
    if (o->ak_der) {
        if (o->ak_der_len != b.ak_der_len || memcmp(o->ak_der, b.ak_der, b.ak_der_len) != 0)
            return errf(err, errlen, -EKEYREJECTED,
                        "quote: not the expected attestation key");
        v->ak_pinned = 1;
    }
    if ((r = ak_load(b.ak_der, b.ak_der_len, &pk, err, errlen)) < 0)
        return r;

    /* 3. the signature over the attest bytes, before anything in them is believed */
    r = sig_check(pk, b.attest, b.attest_len, b.sig, b.sig_len, err, errlen);
    EVP_PKEY_free(pk);
    if (r < 0)
        return r;

    /* 4. what the TPM signed: a quote over exactly this PCR */
    if ((r = attest_check(&b, &a, err, errlen)) < 0)
        return r;
    if (a.extraData.size != 32)
        return errf(err, errlen, -ESTALE, "quote: nonce/report data mismatch");
    quoted_qual = a.extraData.buffer;
    quoted_digest = a.attested.quote.pcrDigest.buffer;

binding:
    /* 5. freshness and binding: the verifier's nonce, this measurement, this report */
    if ((r = qual_compute(o->nonce, o->nonce_len, b.measurement, b.report, b.report_len,
                          qual)) < 0)
        return errf(err, errlen, r, "quote: cannot compute the qualifying data");
    if (memcmp(quoted_qual, qual, 32) != 0)
        return errf(err, errlen, -ESTALE, "quote: nonce/report data mismatch");

    /* 6. the log: parses, is for this PCR, replays to the quoted digest and the value */
    r = eventlog_parse(b.eventlog, b.eventlog_len, &log, perr, sizeof perr);
    if (r < 0) {
        if (r == -EINVAL)
            return errf(err, errlen, -EBADMSG, "quote: %s", perr);
        return errf(err, errlen, r, "quote: cannot parse the event log");
    }
    v->events = eventlog_count(log);
    if (eventlog_pcr(log) != b.pcr) {
        r = errf(err, errlen, -EILSEQ, "quote: the event log is for PCR %u, the quote for "
                 "PCR %u", eventlog_pcr(log), b.pcr);
        goto out;
    }
    eventlog_replay(log, v->replay);
    SHA256(v->replay, 32, digest);
    if (memcmp(digest, quoted_digest, 32) != 0) {
        r = errf(err, errlen, -EILSEQ,
                 "quote: the event log does not replay to the quoted PCR digest");
        goto out;
    }
    if (memcmp(b.pcr_value, v->replay, 32) != 0) {
        r = errf(err, errlen, -EILSEQ,
                 "quote: the bundle's PCR value is not the event log's replay");
        goto out;
    }

    /* 7. the reference policy */
    if (o->policy) {
        r = eventlog_check_policy(log, o->policy, o->policy_len, perr, sizeof perr);
        if (r < 0) {
            r = errf(err, errlen, r, "quote: %s", perr);
            goto out;
        }
    }

    /* 8. what the log says: trevisor's own hash, and the quoting instance */
    int need_instance = memcmp(b.measurement, zero32, 32) != 0;
    for (size_t i = 0; i < v->events; i++) {
        struct ev_event ev;
        if (eventlog_get(log, i, &ev) < 0)
            break;
        if (ev.type == EV_SELF && !v->have_self) {
            v->have_self = 1;
            memcpy(v->self_hash, ev.data_hash, 32);
        }
        if (need_instance && ev.type == EV_TRE_IMAGE &&
            memcmp(ev.data_hash, b.measurement, 32) == 0)
            v->instance_found = 1;
    }
    if (need_instance && !v->instance_found) {
        r = errf(err, errlen, -ESTALE, "quote: the quoting instance is not in the log");
        goto out;
    }
    r = 0;
out:
    eventlog_free(log);
    return r;
}
