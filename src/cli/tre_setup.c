/* cli/tre_setup.c — the start-up `serve`, `run` and `exec` share (cli/tre_setup.h): parses
 * the TPM, PCR, state and token options (the token's also from CONFIG/token.conf); opens
 * the TPM and measures trevisor, its configuration and its policy (the engine's trusted
 * keys, the grants) before anything runs; opens the token and the grants; builds the TRE
 * services. It decides nothing about what a TRE program may do. */
#include "cli/tre_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "measure/measured.h"
#include "services/grants.h"
#include "services/services.h"
#include "services/token.h"
#include "services/token_conf.h"
#include "tre/minisign.h"
#include "trevisor/engine.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hex.h"
#include "util/log.h"

#define TRE_SETUP_GRANTS_MAX (1u << 20)

int tre_setup_option(struct tre_setup_opts *o, const char *opt, const char *val)
{
    if (!strcmp(opt, "--state"))
        o->state_dir = val;
    else if (!strcmp(opt, "--tpm"))
        o->tpm = val;
    else if (!strcmp(opt, "--token-module"))
        o->token_module = val;
    else if (!strcmp(opt, "--token"))
        o->token_label = val;
    else if (!strcmp(opt, "--token-pin-file"))
        o->pin_file = val;
    else if (!strcmp(opt, "--pcr")) {
        char *end;
        unsigned long v = strtoul(val, &end, 10);
        if (*end || end == val || v > 23 || v == 16 || v == 23) {
            fprintf(stderr, "trevisor: --pcr %s: a PCR 0..23, not 16 or 23 (locality 0 can "
                    "reset them)\n", val);
            return -1;
        }
        o->pcr = (unsigned)v;
    } else
        return 0;
    if (!val[0]) {
        fprintf(stderr, "trevisor: %s needs a value\n", opt);
        return -1;
    }
    o->enabled = 1;
    return 1;
}

/* The token grants file's bytes (a missing file is an empty policy). */
static int tre_setup_read_grants(const char *config_dir, char **text, size_t *len, char *err,
                                 size_t errlen)
{
    char gpath[1200];
    snprintf(gpath, sizeof gpath, "%s/token-grants", config_dir);
    int r = file_read_all(gpath, TRE_SETUP_GRANTS_MAX, text, len);
    if (r == -ENOENT) {
        *text = NULL;
        *len = 0;
        return 0;
    }
    return r ? errf(err, errlen, r, "cannot read %s: %s", gpath, strerror(-r)) : 0;
}

int tre_setup_policy(struct tre_setup *s, struct tre_engine *e, const char *desc, char *err,
                     size_t errlen)
{
    size_t n = 0;
    uint8_t kid[8], pk[32];
    while (!tre_engine_trusted_key(e, n, kid, pk))
        n++;
    size_t cap = 64 + n * 100 + s->grants_len;
    char *t = malloc(cap);
    if (!t)
        return errf(err, errlen, -ENOMEM, "out of memory");
    size_t o = (size_t)snprintf(t, cap, "trevisor-policy-data v1\n");
    for (size_t i = 0; i < n && !tre_engine_trusted_key(e, i, kid, pk); i++) {
        char kh[17], ph[65];
        tre_keyid_hex(kid, kh);
        hex_encode(pk, 32, ph);
        o += (size_t)snprintf(t + o, cap - o, "vendor %s %s\n", kh, ph);
    }
    o += (size_t)snprintf(t + o, cap - o, "token-grants %zu\n", s->grants_len);
    if (s->grants_len)
        memcpy(t + o, s->grants_text, s->grants_len);
    int r = measured_data(s->measured, EV_POLICY, t, o + s->grants_len, desc, err, errlen);
    free(t);
    return r;
}

int tre_setup_start(const struct tre_setup_opts *o, const char *config_dir,
                    const char *config_text, struct tre_setup *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *state = o->state_dir;
    if (!state || !*state)
        state = getenv("TREVISOR_STATE");
    if (!state || !*state)
        state = "/var/lib/trevisor";
    if (strlen(state) >= 80)
        return errf(err, errlen, -ENAMETOOLONG, "--state %s: keep it under 80 characters "
                    "(the TPM's sockets live in it)", state);
    snprintf(s->state_dir, sizeof s->state_dir, "%s", state);
    if (mkdir(state, 0700) && errno != EEXIST)
        return errf(err, errlen, -errno, "cannot make the state directory %s: %s", state,
                    strerror(errno));

    struct measured_config mc = { .kind = TPM_SWTPM, .state_dir = state, .pcr = o->pcr };
    const char *tpm = o->tpm ? o->tpm : "swtpm";
    if (!strcmp(tpm, "none"))
        mc.kind = TPM_NONE;
    else if (strcmp(tpm, "swtpm")) {
        if (tpm[0] != '/')
            return errf(err, errlen, -EINVAL, "--tpm %s: swtpm, none or a device path", tpm);
        mc.kind = TPM_DEVICE;
        mc.device = tpm;
    }
    int r = measured_open(&mc, &s->measured, err, errlen);
    if (r)
        goto fail;
    if (mc.kind == TPM_NONE)
        tlog("measure", "WARNING: --tpm none: nothing is measured into a TPM; every quote is "
             "UNTRUSTED (unsigned), no sealing, no rollback protection. Development only: "
             "trust nothing it says.");
    /* the token: the command's options, else CONFIG/token.conf, else the SoftHSM2 default */
    struct token_conf tconf;
    if ((r = token_conf_load(config_dir, &tconf, err, errlen)))
        goto fail;
    const char *module = o->token_module, *label = o->token_label, *pin_file = o->pin_file;
    int module_from_file = token_conf_apply(&tconf, &module, &label, &pin_file);
    /* the configuration as measured: the command's options, then the ones in force here */
    char conf[4096];
    snprintf(conf, sizeof conf, "%s tpm=%s pcr=%u token-module=%s token=%s\n", config_text,
             tpm, o->pcr ? o->pcr : EVENTLOG_DEFAULT_PCR, module ? module : "softhsm2",
             label ? label : "trevisor");
    if ((r = measured_self(s->measured, err, errlen)) ||
        (r = measured_data(s->measured, EV_CONFIG, conf, strlen(conf), "options", err,
                           errlen)) ||
        (r = tre_setup_read_grants(config_dir, &s->grants_text, &s->grants_len, err, errlen)))
        goto fail;
    /* the grants in force are these bytes, which tre_setup_policy measures */
    r = grants_parse(s->grants_text ? s->grants_text : "", s->grants_len, &s->grants, err,
                     errlen);
    if (r)
        goto fail;
    if (!module || strcmp(module, "none")) {
        struct token_config tc = { .module = module, .state_dir = state,
                                   .token_label = label, .pin = NULL };
        char *pin = NULL;
        size_t pinlen = 0;
        if (pin_file) {
            r = file_read_all(pin_file, 256, &pin, &pinlen);
            if (r) {
                errf(err, errlen, r, "%s %s: %s", o->pin_file ? "--token-pin-file"
                     : "token.conf: pin-file", pin_file, strerror(-r));
                goto fail;
            }
            while (pinlen && (pin[pinlen - 1] == '\n' || pin[pinlen - 1] == '\r'))
                pin[--pinlen] = 0;
            tc.pin = pin;
        }
        char terr[256] = "";
        int t = token_open(&tc, &s->token, terr, sizeof terr);
        if (pin) {
            explicit_bzero(pin, pinlen);
            free(pin);
        }
        if (t) {
            s->token = NULL;
            tlog("token", "no token: %s (TRE token services answer -ENODEV)", terr);
        } else {
            tlog("token", "token \"%s\" through %s%s", token_label(s->token),
                 token_module(s->token),
                 module_from_file ? " (set in token.conf)" : "");
        }
    }
    struct services_config sc = { .measured = s->measured, .token = s->token,
                                  .grants = s->grants };
    r = services_new(&sc, &s->services);
    if (r) {
        errf(err, errlen, r, "out of memory");
        goto fail;
    }
    return 0;
fail:
    tre_setup_stop(s);
    return r;
}

int tre_setup_launched(struct tre_setup *s, char *err, size_t errlen)
{
    return measured_end_launch(s->measured, err, errlen);
}

void tre_setup_stop(struct tre_setup *s)
{
    services_free(s->services);
    token_close(s->token);
    grants_free(s->grants);
    free(s->grants_text);
    measured_free(s->measured);
    memset(s, 0, sizeof *s);
}
