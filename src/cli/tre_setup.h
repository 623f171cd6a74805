/* cli/tre_setup.h — what `serve`, `run` and `exec` share: the options that choose the TPM,
 * the PCR, the state directory and the token, and the start-up that opens them, measures
 * trevisor, its configuration and its policy, and builds the TRE services. */
#ifndef TREVISOR_CLI_TRE_SETUP_H
#define TREVISOR_CLI_TRE_SETUP_H

#include <stddef.h>

struct measured;
struct token;
struct grants;
struct tre_services;
struct tre_engine;

struct tre_setup_opts {
    const char *state_dir;     /* --state; NULL: $TREVISOR_STATE, else /var/lib/trevisor */
    const char *tpm;           /* --tpm swtpm|none|DEVICE; NULL: swtpm */
    unsigned pcr;              /* --pcr; 0: 15 */
    const char *token_module;  /* --token-module PATH, "softhsm2" or "none"; NULL:
                                  CONFIG/token.conf's, else SoftHSM2 in the state dir */
    const char *token_label;   /* --token LABEL */
    const char *pin_file;      /* --token-pin-file FILE */
    int enabled;               /* exec: any of these was given */
};

struct tre_setup {
    struct measured *measured;
    struct token *token;
    struct grants *grants;
    struct tre_services *services;
    char *grants_text;         /* the grants file's bytes, as parsed (measured as POLICY) */
    size_t grants_len;
    char state_dir[1024];
};

#define TRE_SETUP_USAGE \
    "  --state DIR     trevisor's state: swtpm, the attestation key, sealing, the token\n" \
    "                  (default $TREVISOR_STATE, else /var/lib/trevisor)\n" \
    "  --tpm T         swtpm (default: trevisor's own software TPM in the state dir),\n" \
    "                  a device such as /dev/tpmrm0, or none (development only: nothing\n" \
    "                  is measured into a TPM, every quote is UNTRUSTED, no sealing)\n" \
    "  --pcr N         the PCR trevisor extends (default 15; never 16 or 23)\n" \
    "  --token-module P  the PKCS#11 module of the token (default: softhsm2, a SoftHSM2\n" \
    "                  token in the state dir); none: no token\n" \
    "  --token LABEL   the token's label (default trevisor)\n" \
    "  --token-pin-file F  the token's user PIN\n" \
    "                  (the token's three may also be set in CONFIG/token.conf as\n" \
    "                  module, token and pin-file lines; an option wins)\n"

/* 1 if opt (with its value val) is one of the options above (then stored), 0 if not,
 * -1 if its value is bad (a message is printed). */
int tre_setup_option(struct tre_setup_opts *o, const char *opt, const char *val);

/* Opens the TPM and the event log, measures trevisor itself and the configuration (the
 * command's canonical option text config_text, to which this adds its own options: "CMD
 * OPT=V ... tpm=T pcr=N token-module=M token=L\n"), reads and parses the token grants of
 * config_dir, opens the token and builds the services. err gets one line. */
int tre_setup_start(const struct tre_setup_opts *o, const char *config_dir,
                    const char *config_text, struct tre_setup *s, char *err, size_t errlen);
/* Measures the policy in force: the vendor keys the engine trusts (created with
 * s->services, and any keys added to it) and the grants' bytes. desc labels the event.
 * Call it right after the engine is made and its keys added, before anything else. */
int tre_setup_policy(struct tre_setup *s, struct tre_engine *e, const char *desc, char *err,
                     size_t errlen);
/* Ends the launch measurements (the separator) and opens sealing. */
int tre_setup_launched(struct tre_setup *s, char *err, size_t errlen);
void tre_setup_stop(struct tre_setup *s);

#endif
