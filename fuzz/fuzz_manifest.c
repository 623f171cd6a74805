/* fuzz/fuzz_manifest.c — libFuzzer target for the manifest parser and its description.
 * It must never crash or read out of bounds, and an accepted manifest must hold its own
 * invariants (limits, NUL-terminated strings). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tre/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tre_manifest m;
    char err[256], desc[4096];
    uint8_t *buf;

    buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (tre_manifest_parse(buf, size, &m, err, sizeof(err)) == 0) {
        size_t nl = strnlen(m.name, sizeof(m.name));

        if (nl == 0 || nl >= sizeof(m.name) || m.ncaps > TRE_MANIFEST_MAX_CAPS ||
            m.mem_size < TRE_MANIFEST_MEM_MIN || m.mem_size > TRE_MANIFEST_MEM_MAX ||
            m.mem_size % 4096 || m.window_size < TRE_MANIFEST_WINDOW_MIN ||
            m.window_size > m.mem_size / 2 || m.window_size % 4096)
            abort();
        for (unsigned i = 0; i < m.ncaps; i++)
            if (strnlen(m.caps[i], TRE_MANIFEST_CAP_LEN) == TRE_MANIFEST_CAP_LEN)
                abort();
        if (tre_manifest_format(&m, desc, sizeof(desc)) != 0)
            abort(); /* 4 KiB always fits the largest manifest */
        tre_manifest_format(&m, desc, (size % 64) + 1); /* truncation paths */
    } else if (strncmp(err, "manifest: ", 10) != 0) {
        abort();
    }
    free(buf);
    return 0;
}
