/* fuzz/fuzz_syscall_sites.c — libFuzzer target for the syscall finder over arbitrary code
 * bytes. It must never crash, leak or read out of bounds; every site it reports must be
 * a plain 0f 05 inside the buffer, in ascending order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tre/syscall_sites.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint64_t va = 0x401000;
    struct tre_syscall_scan sc;
    char err[256];
    uint8_t *code;

    code = malloc(size ? size : 1);
    if (!code)
        return 0;
    memcpy(code, data, size);
    if (tre_syscall_sites_scan(code, size, va, &sc, err, sizeof(err)) == 0) {
        if (sc.nsites + sc.ndata > sc.pairs)
            abort();
        for (size_t i = 0; i < sc.nsites; i++) {
            uint64_t off = sc.sites[i] - va;

            if (sc.sites[i] < va || off + 1 >= size || code[off] != 0x0f ||
                code[off + 1] != 0x05 || (i && sc.sites[i] <= sc.sites[i - 1]))
                abort();
        }
        for (size_t i = 0; i < sc.ndata; i++)
            if (sc.data[i] < va || sc.data[i] - va + 1 >= size)
                abort();
        tre_syscall_scan_free(&sc);
    }
    free(code);
    return 0;
}
