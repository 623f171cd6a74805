/* cli/token_cmd.h — the `trevisor token` subcommand (cli/cmd_token.c): the owner's view of
 * the tamper-resistant token (create the default one, list keys, make keys, export public
 * keys). Takes the arguments after "token" (argv[0] is "token"); returns the exit status. */
#ifndef TREVISOR_CLI_TOKEN_CMD_H
#define TREVISOR_CLI_TOKEN_CMD_H

int cmd_token(int argc, char **argv);

#endif
