/* fuzz/fuzz_sealblob.c — libFuzzer target for the sealed-blob parser, sealer_unseal on
 * hostile blobs, and the rollback store's parser (measure/sealer.c), with no TPM: a
 * detached sealer with a fixed master. Invariants: nothing crashes, leaks or reads out of
 * bounds; a parsed header says what its bytes say; unseal gives only its documented
 * results; a blob sealed from the input opens to the input, and the same blob with any
 * one bit changed does not; an authentic store file (the input with its MAC appended)
 * is either refused or encodes back to exactly the same bytes (the format is canonical).
 * Seeds in fuzz/corpus/sealblob/ are blobs sealed under FUZZ_MASTER and store bodies. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "measure/sealer.h"
#include "trevisor/abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MASTER_BYTE 0x5a   /* the master: 32 bytes of this */
#define FUZZ_KEY_BYTE 0x33      /* the store's MAC key: 32 bytes of this */

static struct sealer *sealer_once(void)
{
    static struct sealer *s;
    if (!s) {
        uint8_t m[32];
        memset(m, FUZZ_MASTER_BYTE, sizeof m);
        if (sealer_new_detached(m, &s, NULL, 0) != 0)
            abort();
    }
    return s;
}

static void check_header(const uint8_t *data, size_t size)
{
    struct seal_blob_hdr h;
    if (sealer_blob_parse_header(data, size, &h) != 0)
        return;
    if (size < TRE_SEAL_OVERHEAD || h.data_len != size - TRE_SEAL_OVERHEAD ||
        h.data_len > TRE_SEAL_MAX || memcmp(data, "TRSB", 4) || data[4] != 1 ||
        memcmp(h.keyid, data + 12, 8) || memcmp(h.salt, data + 20, 16) ||
        memcmp(h.iv, data + 36, 12))
        abort();
}

static void check_unseal(struct sealer *s, const uint8_t *data, size_t size)
{
    static const uint8_t keyid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct seal_identity id;
    memset(&id, 0, sizeof id);
    memcpy(id.keyid, keyid, 8);
    memcpy(id.name, "fuzz", 4);
    id.svn = 10;
    static uint8_t out[TRE_SEAL_MAX];
    size_t cap = size > 2 && (data[size - 1] & 1) ? size / 2 : sizeof out;   /* sometimes short */
    long r = sealer_unseal(s, &id, data, size, out, cap, NULL, 0);
    if (r >= 0 && (size < TRE_SEAL_OVERHEAD || (size_t)r != size - TRE_SEAL_OVERHEAD))
        abort();
    if (r < 0 && r != -EBADMSG && r != -EACCES && r != -ENOBUFS && r != -ENOMEM)
        abort();

    /* round trip of the input as data, and a one-bit change refused */
    size_t n = size > 4096 ? 4096 : size;
    static uint8_t blob[4096 + TRE_SEAL_OVERHEAD];
    long b = sealer_seal(s, &id, data, n, blob, sizeof blob, NULL, 0);
    if (b != (long)(n + TRE_SEAL_OVERHEAD))
        abort();
    r = sealer_unseal(s, &id, blob, (size_t)b, out, sizeof out, NULL, 0);
    if (r != (long)n || (n && memcmp(out, data, n)))
        abort();
    size_t at = size ? ((size_t)data[0] << 8 | data[size > 1]) % (size_t)b : 0;
    blob[at] ^= (uint8_t)(1u << (size % 8));
    if (sealer_unseal(s, &id, blob, (size_t)b, out, sizeof out, NULL, 0) != -EBADMSG)
        abort();
}

static void check_svndb(const uint8_t *data, size_t size)
{
    uint8_t key[32];
    memset(key, FUZZ_KEY_BYTE, sizeof key);
    struct seal_svndb db;
    /* the input as it is: almost always refused by the MAC */
    if (sealer_svndb_parse(data, size, key, &db, NULL, 0) == 0)
        sealer_svndb_clear(&db);
    if (size > SEALER_SVNDB_MAX)
        return;
    /* the input made authentic: the structure is what gets tested */
    uint8_t *buf = malloc(size + 32);
    if (!buf)
        return;
    if (size)
        memcpy(buf, data, size);
    unsigned ml = 0;
    if (!HMAC(EVP_sha256(), key, 32, data, size, buf + size, &ml) || ml != 32)
        abort();
    if (sealer_svndb_parse(buf, size + 32, key, &db, NULL, 0) == 0) {
        uint8_t *again = malloc(size + 32);
        long n = again ? sealer_svndb_encode(&db, key, again, size + 32) : -1;
        if (n != (long)(size + 32) || memcmp(again, buf, size + 32))
            abort();
        free(again);
        sealer_svndb_clear(&db);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sealer *s = sealer_once();
    check_header(data, size);
    check_unseal(s, data, size);
    check_svndb(data, size);
    return 0;
}
