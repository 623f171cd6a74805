/* util/hex.h — hex strings for the command line and reports (nonces, hashes, key ids). */
#ifndef TREVISOR_UTIL_HEX_H
#define TREVISOR_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n lower-case hex digits and a NUL to out (2n + 1 bytes). */
void hex_encode(const uint8_t *b, size_t n, char *out);
/* Decodes an even-length hex string (either case) into at most cap bytes. Returns the
 * number of bytes, or -EINVAL (not hex, odd length) or -E2BIG (longer than cap). */
long hex_decode(const char *s, uint8_t *out, size_t cap);

#endif
