/* cli/main.c — the `trevisor` command: dispatches to its subcommands and resolves the
 * configuration directory. It holds no logic of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

static const char main_usage[] =
    "usage: trevisor COMMAND [OPTIONS]\n"
    "\n"
    "  keygen    make a vendor key pair (minisign format)\n"
    "  sign      sign a TRE image\n"
    "  verify    check an image's signature\n"
    "  trust     add, list or remove vendor keys in the trust store\n"
    "  inspect   show an image's manifest, measurement and syscall sites\n"
    "  exec      run a TRE program in its own KVM instance and call it\n"
    "  serve     hosted mode: serve TRE programs to local clients on a Unix socket\n"
    "  run       the owner's OS under QEMU, reaching TRE programs through vsock\n"
    "  attest    ask a running trevisor for a TPM quote of what it measured\n"
    "  verify    (with --bundle) check a quote: signature, nonce, log, policy\n"
    "  token     the tamper-resistant token: init, list, keygen, pubkey\n"
    "\n"
    "Each command takes --help. Configuration: --config DIR, else $TREVISOR_CONFIG,\n"
    "else /etc/trevisor (vendor keys in DIR/vendors/*.pub).\n";

const char *cli_config_dir(const char *override)
{
    if (override && *override)
        return override;
    const char *env = getenv("TREVISOR_CONFIG");
    if (env && *env)
        return env;
    return "/etc/trevisor";
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        { "keygen", cmd_keygen }, { "sign", cmd_sign }, { "verify", cmd_verify },
        { "trust", cmd_trust }, { "inspect", cmd_inspect }, { "exec", cmd_exec },
        { "serve", cmd_serve }, { "run", cmd_run }, { "attest", cmd_attest },
        { "token", cmd_token },
    };
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(main_usage, stdout);
        return 0;
    }
    /* `verify --bundle` checks a quote; `verify IMAGE` an image's signature */
    if (!strcmp(argv[1], "verify"))
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "--bundle") || !strncmp(argv[i], "--bundle=", 9))
                return cmd_verify_quote(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trevisor: unknown command '%s'\n%s", argv[1], main_usage);
    return 2;
}
