/* cli/commands.h — the `trevisor` subcommands; each takes the arguments after its own
 * name (argv[0] is the subcommand) and returns the process exit status. */
#ifndef TREVISOR_CLI_COMMANDS_H
#define TREVISOR_CLI_COMMANDS_H

int cmd_keygen(int argc, char **argv);   /* cmd_keys.c: make a vendor key pair */
int cmd_sign(int argc, char **argv);     /* cmd_keys.c: sign an image (minisign format) */
int cmd_verify(int argc, char **argv);   /* cmd_keys.c: check a signature */
int cmd_trust(int argc, char **argv);    /* cmd_keys.c: the vendor trust store */
int cmd_inspect(int argc, char **argv);  /* cmd_exec.c: show an image's manifest */
int cmd_exec(int argc, char **argv);     /* cmd_exec.c: run a program and call it */
int cmd_serve(int argc, char **argv);    /* cmd_serve.c: hosted mode on a Unix socket */
int cmd_run(int argc, char **argv);      /* cmd_run.c: the user environment under QEMU */
int cmd_attest(int argc, char **argv);   /* cmd_attest.c: the owner's quote of trevisor */
int cmd_verify_quote(int argc, char **argv); /* cmd_verify_quote.c: check a quote bundle */
int cmd_token(int argc, char **argv);    /* cmd_token.c: the PKCS#11 token */

/* The configuration directory: --config DIR, else $TREVISOR_CONFIG, else /etc/trevisor. */
const char *cli_config_dir(const char *override);

#endif
