/* cli/cmd_attest.c — `trevisor attest`: the owner's side of attestation. Asks a running
 * trevisor (hosted mode's socket, or vsock from the guest) for a TPM quote of its
 * measurements bound to a nonce, checks it at once, shows the measured trevisor beside a
 * reference build, and writes the bundle plus the files tpm2_checkquote takes. It can
 * also write a reference policy from a quote the owner has checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "measure/eventlog.h"
#include "measure/quote.h"
#include "measure/tpm.h"
#include "trevisor/client.h"
#include "util/file.h"
#include "util/hex.h"

static const char attest_usage[] =
    "usage: trevisor attest --nonce HEX [--socket PATH] [--report HEX] [--out DIR]\n"
    "                       [--reference FILE] [--make-policy FILE] [--allow-untrusted]\n"
    "  ask the running trevisor for a TPM quote of everything it measured (itself, its\n"
    "  options and policy, QEMU and the guest, every TRE image), bound to the nonce;\n"
    "  check it, and show the measured trevisor beside the reference build.\n"
    "  --nonce HEX       1..64 bytes, fresh for each attestation (the verifier's challenge)\n"
    "  --socket PATH     trevisor's socket (default $TREVISOR_SOCKET, else\n"
    "                    /run/trevisor/tre.sock; vsock:2 from the guest)\n"
    "  --report HEX      up to 1024 bytes bound into the quote\n"
    "  --out DIR         write quote.bundle and the tpm2_checkquote files (quote.msg,\n"
    "                    quote.sig, ak.pem, quote.pcrs, quote.qual, eventlog) to DIR\n"
    "  --reference FILE  a trevisor binary built from source (reproducible build) to\n"
    "                    compare with the measured one (default: this command's own)\n"
    "  --make-policy F   write a reference policy (docs/measurement.md) allowing exactly\n"
    "                    the events of this quote, for later `trevisor verify --policy`\n"
    "  --allow-untrusted accept the UNTRUSTED bundle of a trevisor run with --tpm none\n"
    "                    (nothing signed; development only); without it that is a failure\n"
    "  The quote is checked against the attestation key it carries: pin that key (ak.pem)\n"
    "  and use `trevisor verify --bundle --ak` for a verifier that trusts only it.\n";

static int attest_write(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    int ok = fwrite(p, 1, n, f) == n;
    ok = !fclose(f) && ok;
    return ok ? 0 : -EIO;
}

static int attest_make_policy(const char *path, const struct eventlog *log)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "# reference policy written by trevisor attest from a checked quote\n"
               "trevisor-policy v1\n");
    size_t n = eventlog_count(log);
    for (size_t i = 0; i < n; i++) {
        struct ev_event ev;
        if (eventlog_get(log, i, &ev))
            continue;
        char h[65], desc[80];
        hex_encode(ev.data_hash, 32, h);
        size_t k = 0;
        for (const char *d = ev.desc; *d && k < sizeof desc - 1; d++)
            desc[k++] = (*d >= 0x20 && *d < 0x7f) ? *d : '?';
        desc[k] = 0;
        fprintf(f, "%-13s %s  # %s\n", ev_type_name(ev.type), h, desc);
    }
    return fclose(f) ? -EIO : 0;
}

int cmd_attest(int argc, char **argv)
{
    const char *nonce_hex = NULL, *report_hex = NULL, *out = NULL, *ref = NULL,
               *policy_out = NULL;
    int allow_untrusted = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(attest_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--allow-untrusted")) {
            allow_untrusted = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "trevisor: attest: %s needs a value\n%s", a, attest_usage);
            return 2;
        }
        i++;
        if (!strcmp(a, "--nonce"))
            nonce_hex = v;
        else if (!strcmp(a, "--report"))
            report_hex = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--reference"))
            ref = v;
        else if (!strcmp(a, "--make-policy"))
            policy_out = v;
        else if (!strcmp(a, "--socket"))
            setenv("TREVISOR_SOCKET", v, 1);
        else {
            fprintf(stderr, "trevisor: attest: unknown option %s\n%s", a, attest_usage);
            return 2;
        }
    }
    uint8_t nonce[QUOTE_NONCE_MAX], report[QUOTE_REPORT_MAX];
    long nl = nonce_hex ? hex_decode(nonce_hex, nonce, sizeof nonce) : -EINVAL;
    long rl = report_hex ? hex_decode(report_hex, report, sizeof report) : 0;
    if (nl <= 0 || rl < 0) {
        fprintf(stderr, "trevisor: attest: --nonce needs 1..64 bytes of hex%s\n%s",
                rl < 0 ? ", --report at most 1024" : "", attest_usage);
        return 2;
    }
    void *bundle = NULL;
    size_t blen = 0;
    int r = tre_attest(nonce, (size_t)nl, report, (size_t)rl, &bundle, &blen);
    if (r) {
        fprintf(stderr, "trevisor: attest: %s\n",
                tre_last_error()[0] ? tre_last_error() : tre_strerror(r));
        return 1;
    }
    int rc = 1;
    char err[512] = "";
    struct quote_bundle b;
    struct eventlog *log = NULL;
    struct quote_verify_opts vo = { .nonce = nonce, .nonce_len = (size_t)nl,
                                    .allow_untrusted = allow_untrusted };
    struct quote_verdict vd;
    memset(&vd, 0, sizeof vd);
    r = quote_verify(bundle, blen, &vo, &vd, err, sizeof err);
    if (r) {
        fprintf(stderr, "trevisor: attest: the quote does NOT verify: %s%s\n", err,
                r == -ENOKEY ? " (--allow-untrusted accepts it, for development)" : "");
        goto out;
    }
    if (quote_bundle_decode(bundle, blen, &b, err, sizeof err) ||
        eventlog_parse(b.eventlog, b.eventlog_len, &log, err, sizeof err)) {
        fprintf(stderr, "trevisor: attest: %s\n", err);
        goto out;
    }
    char hx[65];
    hex_encode(vd.replay, 32, hx);
    if (vd.untrusted)
        printf("quote: UNTRUSTED: the trevisor runs with --tpm none, so nothing here is "
               "signed; only the nonce and the log's replay are checked\n");
    else
        printf("quote: OK (signature, nonce, PCR digest; the AK is the bundle's own)\n");
    printf("PCR %u = %s, %zu events\n", b.pcr, hx, vd.events);
    for (size_t i = 0; i < vd.events; i++) {
        struct ev_event ev;
        if (eventlog_get(log, i, &ev))
            continue;
        hex_encode(ev.data_hash, 32, hx);
        printf("  %-13s %s  %s\n", ev_type_name(ev.type), hx, ev.desc);
    }
    uint8_t refh[32];
    const char *refpath = ref ? ref : "/proc/self/exe";
    if (!vd.have_self) {
        printf("trevisor: no SELF event in the log\n");
    } else if (file_sha256(refpath, refh)) {
        fprintf(stderr, "trevisor: attest: cannot read the reference %s\n", refpath);
        goto out;
    } else {
        char mh[65];
        hex_encode(vd.self_hash, 32, mh);
        hex_encode(refh, 32, hx);
        printf("trevisor measured:  %s\n", mh);
        printf("trevisor reference: %s  (%s)\n", hx, ref ? ref : "this command's binary");
        printf("trevisor: %s\n", memcmp(vd.self_hash, refh, 32)
                                     ? "DIFFERENT: the running trevisor is not this build"
                                     : "the same build");
    }
    if (out) {
        uint8_t qual[32];
        quote_qualifying_data(nonce, (size_t)nl, b.measurement, b.report, b.report_len, qual);
        mkdir(out, 0755);
        if (attest_write(out, "quote.bundle", bundle, blen) ||
            attest_write(out, "eventlog", b.eventlog, b.eventlog_len) ||
            (!b.untrusted && tpm_save_quote_files(out, b.pcr, b.pcr_value, b.ak_der, b.ak_der_len, b.attest,
                                 b.attest_len, b.sig, b.sig_len, qual, 32, err,
                                 sizeof err))) {
            fprintf(stderr, "trevisor: attest: cannot write %s: %s\n", out,
                    err[0] ? err : "I/O error");
            goto out;
        }
        hex_encode(qual, 32, hx);
        if (b.untrusted)
            printf("wrote %s: quote.bundle and eventlog (untrusted: no TPM quote to check "
                   "with tpm2_checkquote)\n", out);
        else
            printf("wrote %s: tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig "
                   "-f quote.pcrs -l sha256:%u -g sha256 -q %s\n", out, b.pcr, hx);
    }
    if (policy_out) {
        r = attest_make_policy(policy_out, log);
        if (r) {
            fprintf(stderr, "trevisor: attest: cannot write %s: %s\n", policy_out,
                    strerror(-r));
            goto out;
        }
        printf("wrote the reference policy %s\n", policy_out);
    }
    rc = 0;
out:
    eventlog_free(log);
    free(bundle);
    return rc;
}
