/* services/grants.h — the token policy: which token keys each vendor key may use. A
 * program gets a key only if its manifest asks for it (cap=token:LABEL) and this policy
 * grants it to the vendor key that signed the program. File format (docs/token.md):
 *     # comment
 *     grant KEYID LABEL        KEYID: the vendor's minisign key id, 16 hex digits
 * Parsed strictly; every byte is treated as hostile. */
#ifndef TREVISOR_SERVICES_GRANTS_H
#define TREVISOR_SERVICES_GRANTS_H

#include <stddef.h>
#include <stdint.h>

struct grants;

#define GRANTS_MAX 4096

/* -EINVAL with "grants: line N: reason" in err. An empty text gives an empty policy. */
int grants_parse(const char *text, size_t len, struct grants **out, char *err, size_t errlen);
/* Reads DIR/token-grants; a missing file is an empty policy. */
int grants_load(const char *config_dir, struct grants **out, char *err, size_t errlen);
void grants_free(struct grants *g);
/* 1 if the key labelled label is granted to keyid, else 0 */
int grants_allow(const struct grants *g, const uint8_t keyid[8], const char *label);
size_t grants_count(const struct grants *g);

#endif
