/* services/token_conf.h — CONFIG/token.conf: which PKCS#11 module, token and PIN file
 * trevisor uses, for a host that keeps them in its configuration rather than on the
 * command line (an option given there wins). Format (docs/token.md):
 *     # comment (a line whose first non-blank character is '#')
 *     module softhsm2 | none | /ABSOLUTE/PATH/TO/MODULE.so
 *     token LABEL                 the rest of the line, 1..32 printable ASCII characters
 *     pin-file /ABSOLUTE/PATH     a file holding the user PIN
 * Each key at most once. Parsed strictly; every byte is treated as hostile. */
#ifndef TREVISOR_SERVICES_TOKEN_CONF_H
#define TREVISOR_SERVICES_TOKEN_CONF_H

#include <stddef.h>

#define TOKEN_CONF_MAX       (64u * 1024)   /* the largest file read */
#define TOKEN_CONF_PATH_MAX  1024
#define TOKEN_CONF_LABEL_MAX 32             /* CK_TOKEN_INFO.label is 32 bytes */

struct token_conf {
    char module[TOKEN_CONF_PATH_MAX];     /* "" when not set */
    char label[TOKEN_CONF_LABEL_MAX + 1];
    char pin_file[TOKEN_CONF_PATH_MAX];
};

/* 0, or -EINVAL with "token.conf: line N: reason" in err. An empty text sets nothing. */
int token_conf_parse(const char *text, size_t len, struct token_conf *c, char *err,
                     size_t errlen);
/* Reads DIR/token.conf; a missing file sets nothing. -EINVAL, or -errno reading it. */
int token_conf_load(const char *config_dir, struct token_conf *c, char *err, size_t errlen);

/* The token in force: each of *module, *label, *pin_file that the command line left NULL
 * takes the file's value, if it has one; then a module named "softhsm2" becomes NULL (the
 * default). Returns 1 if the module came from the file, else 0. */
int token_conf_apply(const struct token_conf *c, const char **module, const char **label,
                     const char **pin_file);

#endif
