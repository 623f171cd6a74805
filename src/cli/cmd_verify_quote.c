/* cli/cmd_verify_quote.c — `trevisor verify --bundle FILE --nonce HEX [--policy FILE]
 * [--ak AK.pem|AK.der] [--export DIR] [--allow-untrusted] [--quiet]`: reads a quote bundle, has
 * measure/quote.c verify it, and prints a report a person can act on: the verdict and its
 * reason, the PCR, the events (labels marked unverified), whether the AK was pinned, the
 * measured trevisor and the quoting instance. --export writes the files tpm2_checkquote
 * takes. It owns the command line, the file reading and the report; it never decides
 * anything about a bundle itself (quote_verify does), and it never prints bytes from the
 * bundle unescaped. See docs/attestation.md. */
#include "cli/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "measure/eventlog.h"
#include "measure/quote.h"
#include "measure/tpm.h"
#include "util/file.h"
#include "util/hex.h"

#define VQ_AK_FILE_MAX     (64u * 1024)
#define VQ_POLICY_FILE_MAX (4u << 20)
#define VQ_REPORT_SHOWN    64            /* bytes of report data printed */

static const char vq_usage[] =
    "usage: trevisor verify --bundle FILE --nonce HEX [--policy FILE] [--ak AK.pem|AK.der]\n"
    "                       [--export DIR] [--allow-untrusted] [--quiet]\n"
    "  check a quote bundle (made by `trevisor attest` or by a TRE program's quote\n"
    "  service): the TPM's signature, your nonce, the event log's replay to the quoted\n"
    "  PCR, the reference policy, and that the quoting program is in the log\n"
    "  --bundle FILE   the bundle\n"
    "  --nonce HEX     the nonce you sent (hex, even length, at most 64 bytes)\n"
    "  --policy FILE   reference policy (trevisor-policy v1) that every event must match\n"
    "  --ak FILE       the attestation key you expect (PEM or DER SubjectPublicKeyInfo,\n"
    "                  e.g. ak.pem from an earlier --export you trust); without it the\n"
    "                  bundle's own key is used, which proves nothing about which TPM signed\n"
    "  --export DIR    write quote.msg, quote.sig, ak.pem, quote.pcrs, quote.pcrlist,\n"
    "                  quote.qual, report.bin and trevisor.eventlog into DIR, to check by\n"
    "                  hand with tpm2_checkquote\n"
    "  --allow-untrusted  accept a bundle made with --tpm none (no TPM signed it) and\n"
    "                  check the rest; the result still says UNTRUSTED. Development only\n"
    "  --quiet         print only the result line (and warnings)\n"
    "exit status: 0 the bundle verifies, 1 it does not (an untrusted bundle does not,\n"
    "             without --allow-untrusted), 2 usage error\n";

static void vq_vfail(const char *fmt, va_list ap)
{
    fputs("trevisor: verify: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static int vq_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int vq_usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vq_vfail(fmt, ap);
    va_end(ap);
    fputs(vq_usage, stderr);
    return 2;
}

static void vq_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void vq_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vq_vfail(fmt, ap);
    va_end(ap);
}

/* The nonce: hex digits, either case, even count, at most QUOTE_NONCE_MAX bytes. */
static int vq_parse_nonce(const char *s, uint8_t out[QUOTE_NONCE_MAX], size_t *len)
{
    long n = hex_decode(s, out, QUOTE_NONCE_MAX);
    if (n < 0)
        return -EINVAL;
    *len = (size_t)n;
    return 0;
}

/* Bytes from the bundle, printed so they cannot drive the terminal: 0x20..0x7e but the
 * backslash as themselves, everything else as \xHH (the log's own escaping). */
static void vq_print_label(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p >= 0x20 && *p <= 0x7e)
            putchar(*p);
        else
            printf("\\x%02x", *p);
    }
}

/* The expected AK as canonical DER SubjectPublicKeyInfo, from a PEM or a DER file. */
static int vq_read_ak(const char *path, uint8_t der[TPM_AK_DER_MAX], size_t *der_len)
{
    char *text = NULL;
    size_t len = 0;
    EVP_PKEY *pk = NULL;
    unsigned char *out = NULL;
    int r = file_read_all(path, VQ_AK_FILE_MAX, &text, &len);

    if (r < 0) {
        vq_fail("--ak %s: %s", path, strerror(-r));
        return r;
    }
    if (strstr(text, "-----BEGIN")) {
        BIO *bio = BIO_new_mem_buf(text, (int)len);
        if (bio)
            pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const unsigned char *p = (const unsigned char *)text;
        pk = d2i_PUBKEY(NULL, &p, (long)len);
        if (pk && (size_t)(p - (const unsigned char *)text) != len) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
    }
    ERR_clear_error();
    r = -EINVAL;
    if (!pk) {
        vq_fail("--ak %s: not a public key (PEM \"PUBLIC KEY\" or DER SubjectPublicKeyInfo)",
                path);
        goto out;
    }
    int n = i2d_PUBKEY(pk, &out);
    if (n <= 0 || (size_t)n > TPM_AK_DER_MAX) {
        vq_fail("--ak %s: not an attestation key (an ECC P-256 key is expected)", path);
        goto out;
    }
    memcpy(der, out, (size_t)n);
    *der_len = (size_t)n;
    r = 0;
out:
    OPENSSL_free(out);
    EVP_PKEY_free(pk);
    free(text);
    return r;
}

static int vq_write(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    int r = (len && fwrite(buf, 1, len, f) != len) ? -EIO : 0;
    if (fclose(f) != 0 && r == 0)
        r = -EIO;
    return r;
}

/* The files for tpm2_checkquote, with the qualifying data computed from this nonce. */
static int vq_export(const char *dir, const struct quote_bundle *b, const uint8_t *nonce,
                     size_t nonce_len, int quiet)
{
    uint8_t qual[32];
    char qh[65], err[256];
    int r;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        vq_fail("--export %s: %s", dir, strerror(errno));
        return -errno;
    }
    quote_qualifying_data(nonce, nonce_len, b->measurement, b->report, b->report_len, qual);
    if (b->untrusted) {
        /* nothing signed: there is no quote for tpm2_checkquote, only the data */
        if ((r = vq_write(dir, "report.bin", b->report, b->report_len)) < 0 ||
            (r = vq_write(dir, "trevisor.eventlog", b->eventlog, b->eventlog_len)) < 0) {
            vq_fail("--export %s: %s", dir, strerror(-r));
            return r;
        }
        if (!quiet)
            printf("exported report.bin and trevisor.eventlog to %s (an untrusted bundle "
                   "has no TPM quote for tpm2_checkquote)\n", dir);
        return 0;
    }
    r = tpm_save_quote_files(dir, b->pcr, b->pcr_value, b->ak_der, b->ak_der_len, b->attest,
                             b->attest_len, b->sig, b->sig_len, qual, sizeof qual, err,
                             sizeof err);
    if (r < 0) {
        vq_fail("--export: %s", err);
        return r;
    }
    if ((r = vq_write(dir, "report.bin", b->report, b->report_len)) < 0 ||
        (r = vq_write(dir, "trevisor.eventlog", b->eventlog, b->eventlog_len)) < 0) {
        vq_fail("--export %s: %s", dir, strerror(-r));
        return r;
    }
    if (!quiet) {
        hex_encode(qual, sizeof qual, qh);
        printf("exported to %s; check by hand with:\n"
               "  cd %s && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig \\\n"
               "      -f quote.pcrs -l sha256:%u -g sha256 -q %s\n",
               dir, dir, b->pcr, qh);
    }
    return 0;
}

/* The events, as the bundle's log lists them (verified only if the bundle verifies). */
static void vq_print_events(const struct quote_bundle *b, const struct quote_verdict *v,
                            int ok)
{
    struct eventlog *log = NULL;
    char err[256], hx[65];

    if (eventlog_parse(b->eventlog, b->eventlog_len, &log, err, sizeof err) < 0) {
        printf("events:           (the event log does not parse)\n");
        return;
    }
    size_t n = eventlog_count(log);
    printf("events:           %zu%s\n", n,
           ok ? ", replayed to the quoted PCR value" : " (NOT verified: see the result)");
    for (size_t i = 0; i < n; i++) {
        struct ev_event ev;
        if (eventlog_get(log, i, &ev) < 0)
            break;
        hex_encode(ev.data_hash, 32, hx);
        int inst = ev.type == EV_TRE_IMAGE && v->instance_found &&
                   memcmp(ev.data_hash, b->measurement, 32) == 0;
        printf("  %3zu %-13s %s ", i + 1, ev_type_name(ev.type), hx);
        vq_print_label(ev.desc);
        printf(" (unverified label)%s\n", inst ? "  <- the quoting instance" : "");
    }
    eventlog_free(log);
}

int cmd_verify_quote(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "nonce", required_argument, NULL, 'n' },
        { "policy", required_argument, NULL, 'p' },
        { "ak", required_argument, NULL, 'a' },
        { "export", required_argument, NULL, 'e' },
        { "quiet", no_argument, NULL, 'q' },
        { "allow-untrusted", no_argument, NULL, 'u' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *bundle_path = NULL, *nonce_hex = NULL, *policy_path = NULL, *ak_path = NULL;
    const char *export_dir = NULL;
    char *bundle = NULL, *policy = NULL, err[512], hx[65];
    size_t bundle_len = 0, policy_len = 0, nonce_len = 0, ak_len = 0;
    uint8_t nonce[QUOTE_NONCE_MAX], ak[TPM_AK_DER_MAX];
    struct quote_verdict v;
    struct quote_bundle b;
    int c, quiet = 0, allow_untrusted = 0, status = 1, r;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bundle_path = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'a': ak_path = optarg; break;
        case 'e': export_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'u': allow_untrusted = 1; break;
        case 'h': fputs(vq_usage, stdout); return 0;
        case ':': return vq_usage_error("%s needs an argument", argv[optind - 1]);
        default: return vq_usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return vq_usage_error("unexpected argument %s", argv[optind]);
    if (!bundle_path)
        return vq_usage_error("--bundle FILE is required");
    if (!nonce_hex)
        return vq_usage_error("--nonce HEX is required (the nonce you sent)");
    if (vq_parse_nonce(nonce_hex, nonce, &nonce_len) < 0)
        return vq_usage_error("--nonce: want an even number of hex digits, at most %d bytes",
                              QUOTE_NONCE_MAX);
    if (nonce_len == 0)
        fprintf(stderr, "trevisor: verify: warning: an empty nonce proves nothing about "
                "when the quote was made\n");

    r = file_read_all(bundle_path, QUOTE_BUNDLE_MAX, &bundle, &bundle_len);
    if (r < 0) {
        vq_fail("--bundle %s: %s", bundle_path,
                r == -EFBIG ? "larger than any quote bundle" : strerror(-r));
        goto out;
    }
    if (policy_path) {
        r = file_read_all(policy_path, VQ_POLICY_FILE_MAX, &policy, &policy_len);
        if (r < 0) {
            vq_fail("--policy %s: %s", policy_path, strerror(-r));
            goto out;
        }
    }
    if (ak_path && vq_read_ak(ak_path, ak, &ak_len) < 0)
        goto out;

    struct quote_verify_opts o = {
        .nonce = nonce, .nonce_len = nonce_len,
        .policy = policy, .policy_len = policy_len,
        .ak_der = ak_path ? ak : NULL, .ak_der_len = ak_path ? ak_len : 0,
        .allow_untrusted = allow_untrusted,
    };
    r = quote_verify((const uint8_t *)bundle, bundle_len, &o, &v, err, sizeof err);
    int ok = r == 0;

    int decoded = quote_bundle_decode((const uint8_t *)bundle, bundle_len, &b, NULL, 0) == 0;
    if (decoded && !quiet) {
        printf("bundle:           %s (%zu bytes)\n", bundle_path, bundle_len);
        hex_encode(b.pcr_value, 32, hx);
        printf("PCR:              %u (sha256) = %s\n", b.pcr, hx);
        if (b.untrusted)
            printf("attestation key:  NONE: an UNTRUSTED bundle (made with --tpm none; "
                   "nothing is signed)\n");
        else if (ak_path)
            printf("attestation key:  pinned: %s%s\n", ak_path,
                   ok || v.ak_pinned ? "" : " (see the result)");
        else
            printf("attestation key:  NOT PINNED (the bundle's own)\n");
        vq_print_events(&b, &v, ok);
        if (ok && v.have_self) {
            hex_encode(v.self_hash, 32, hx);
            printf("trevisor (SELF):  %s\n", hx);
        } else if (ok) {
            printf("trevisor (SELF):  not measured (the log has no SELF event)\n");
        }
        hex_encode(b.measurement, 32, hx);
        if (!memcmp(b.measurement, (uint8_t[32]){0}, 32))
            printf("quoted for:       the owner (no TRE instance: measurement is zero)\n");
        else
            printf("quoted for:       TRE instance %s%s\n", hx,
                   ok ? ", a TRE_IMAGE event of the log" : "");
        printf("report data:      %zu bytes", b.report_len);
        if (b.report_len) {
            size_t shown = b.report_len < VQ_REPORT_SHOWN ? b.report_len : VQ_REPORT_SHOWN;
            char rh[2 * VQ_REPORT_SHOWN + 1];
            hex_encode(b.report, shown, rh);
            printf(": %s%s", rh, shown < b.report_len ? "..." : "");
        }
        printf("\n");
        if (policy_path)
            printf("policy:           %s%s\n", policy_path,
                   ok ? ": every event is allowed" : "");
        else
            printf("policy:           none given (the events are not judged)\n");
    }
    if (decoded && export_dir && vq_export(export_dir, &b, nonce, nonce_len, quiet) < 0)
        ok = 0;
    fflush(stdout);   /* the report first, then the warning, when both go to one place */
    if (!ak_path && r != -EBADMSG && !(decoded && b.untrusted))
        fprintf(stderr, "trevisor: verify: WARNING: the AK is the bundle's own: pin it with "
                "--ak to know which TPM signed\n");
    if (r == 0 && ok && v.untrusted)
        printf("OK but UNTRUSTED: nonce, log replay%s check, but no TPM signed this bundle "
               "(--tpm none): it proves nothing about the machine\n",
               policy_path ? " and policy" : "");
    else if (r == 0 && ok)
        printf("OK: the quote verifies%s\n", ak_path ? "" : " (with an unpinned AK)");
    else if (r < 0)
        printf("FAIL: %s\n", err);
    else
        printf("FAIL: the export failed\n");
    status = ok ? 0 : 1;
out:
    free(bundle);
    free(policy);
    return status;
}
