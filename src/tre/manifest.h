/* tre/manifest.h — the strict parser of a TRE program's manifest (the descriptor of its
 * "trevisor" ELF note: NUL-terminated key=value strings, see abi.h and docs/manifest.md),
 * and its human-readable description. It never allocates and never trusts the bytes. */
#ifndef TREVISOR_TRE_MANIFEST_H
#define TREVISOR_TRE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define TRE_MANIFEST_MAX_CAPS 32
#define TRE_MANIFEST_CAP_LEN  128   /* including the NUL: a capability is 1..127 chars */
#define TRE_MANIFEST_NAME_LEN 32    /* including the NUL: a name is 1..31 chars */

/* Defaults and limits (bytes) */
#define TRE_MANIFEST_MEM_DEFAULT    (4ull << 20)
#define TRE_MANIFEST_MEM_MIN        (1ull << 20)
#define TRE_MANIFEST_MEM_MAX        (1024ull << 20)
#define TRE_MANIFEST_WINDOW_DEFAULT (64ull << 10)
#define TRE_MANIFEST_WINDOW_MIN     (4ull << 10)
#define TRE_MANIFEST_WINDOW_MAX     (64ull << 20)

struct tre_manifest {
    char name[TRE_MANIFEST_NAME_LEN];
    uint32_t version, svn;
    uint64_t mem_size, window_size;     /* bytes */
    unsigned ncaps;
    char caps[TRE_MANIFEST_MAX_CAPS][TRE_MANIFEST_CAP_LEN];
};

/* Parses desc[0..len). Returns 0 and fills *out, or -EINVAL with a one-line reason
 * ("manifest: ...") in err (always NUL-terminated when errlen > 0). */
int tre_manifest_parse(const uint8_t *desc, size_t len, struct tre_manifest *out,
                       char *err, size_t errlen);

/* Writes a multi-line description of m (for `trevisor inspect`) into out, always
 * NUL-terminated when outlen > 0. Returns 0, or -ENOSPC if it had to be truncated. */
int tre_manifest_format(const struct tre_manifest *m, char *out, size_t outlen);

#endif
