/* tre/truststore.h — the vendor trust store: the set of minisign public keys whose
 * signatures trevisor accepts on TRE images (a directory of .pub files, usually
 * <config>/vendors). It decides which keys are trusted; it never parses formats itself
 * (minisign.h does) and never writes to the directory except through
 * tre_truststore_dir_remove. */
#ifndef TREVISOR_TRE_TRUSTSTORE_H
#define TREVISOR_TRE_TRUSTSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "tre/minisign.h"

#define TRE_TRUSTSTORE_MAX_KEYS 1024u   /* a directory with more .pub files is refused */

struct tre_truststore;  /* opaque */

struct tre_truststore *tre_truststore_new(void);
void tre_truststore_free(struct tre_truststore *ts);

/* Loads every *.pub in dir (sorted by name). A missing dir gives an empty store (not an
 * error); a malformed .pub is an error naming the file. Two files with the same key are
 * one key; two different keys with one key id are an error. */
int tre_truststore_load(const char *dir, struct tre_truststore **out, char *err, size_t errlen);

const struct tre_pubkey *tre_truststore_find(const struct tre_truststore *ts,
                                             const uint8_t keyid[TRE_KEYID_LEN]);
/* In memory (tests, embedded defaults); a duplicate key id gives -EEXIST. */
int tre_truststore_add(struct tre_truststore *ts, const struct tre_pubkey *pk);
size_t tre_truststore_count(const struct tre_truststore *ts);
const struct tre_pubkey *tre_truststore_at(const struct tre_truststore *ts, size_t i);
/* The file key i came from (its name in the directory), or NULL if added in memory. */
const char *tre_truststore_source(const struct tre_truststore *ts, size_t i);

/* Verifies an image: parses sig, finds its key (-ENOKEY "unknown vendor key <ID>"),
 * verifies. On success *key_out (if not NULL) points into the store. */
int tre_truststore_verify(const struct tre_truststore *ts, const uint8_t *img, size_t img_len,
                          const char *sig_text, size_t sig_len,
                          const struct tre_pubkey **key_out, char *err, size_t errlen);

/* Removes every *.pub in dir that holds key id keyid; returns how many (0 = none). */
int tre_truststore_dir_remove(const char *dir, const uint8_t keyid[TRE_KEYID_LEN],
                              char *err, size_t errlen);

#endif
