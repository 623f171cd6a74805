/* fuzz/fuzz_minisign.c — libFuzzer target for the minisign parsers: the input is tried as
 * a public key, a signature (then verified over a fixed message, under its own key id so
 * the Ed25519 checks run) and an unencrypted secret key. It only calls the parsers and
 * verification; it never runs scrypt (an encrypted key without password stops before).
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE
 *        -Iinclude -Isrc fuzz/fuzz_minisign.c src/tre/minisign.c -lcrypto -lsodium
 * Run:   ./a.out fuzz/corpus/minisign -max_total_time=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tre/minisign.h"

static const char fuzz_msg[] = "trevisor test image\n";
static const char fuzz_pub[] =
    "untrusted comment: minisign public key 941D0F15C208373\n"
    "RWRzgyBc8dBBCQ/WG2IP8FIt3bwYM9lhZYBpmWe5f2KGUYpu5tSNZB7N\n";
static const char fuzz_sig[] =
    "untrusted comment: signature from minisign secret key\n"
    "RURzgyBc8dBBCeRjrNJ5o/3O6tN9NRh4HrTJ0cJqxLpMUZtgLX4QgUE/gZr7L8OTW5jcdLak8oEXJkjKpo3kyTvC"
    "V80gQUgJrgI=\n"
    "trusted comment: test vector hashed\n"
    "AIivLkpVjMcTic7AWuoL3YIcd/B38n6pdC92T2ZHPWSlfC//m57fyH3g8CX3bL8ywiQt3l2k+hHpONZ3WKicCA==\n";

static void fuzz_err_ok(const char *err, size_t errlen)
{
    /* the reason is always a NUL-terminated line */
    if (memchr(err, '\0', errlen) == NULL || strchr(err, '\n') != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *msg = (const uint8_t *)fuzz_msg;
    size_t msglen = sizeof fuzz_msg - 1;
    struct tre_pubkey fixed, pk;
    struct tre_sig sig;
    struct tre_seckey sk;
    char err[160];
    int rc;

    if (tre_pubkey_parse(fuzz_pub, sizeof fuzz_pub - 1, &fixed, err, sizeof err) != 0)
        abort();

    /* as a public key: verify the fixed signature with it */
    memset(err, 'x', sizeof err);
    rc = tre_pubkey_parse(text, size, &pk, err, sizeof err);
    fuzz_err_ok(err, sizeof err);
    if (rc == 0) {
        if (tre_sig_parse(fuzz_sig, sizeof fuzz_sig - 1, &sig, err, sizeof err) != 0)
            abort();
        rc = tre_sig_verify(&pk, &sig, msg, msglen, err, sizeof err);
        fuzz_err_ok(err, sizeof err);
        /* only the real key verifies the real signature */
        if (rc == 0 && memcmp(pk.pk, fixed.pk, sizeof pk.pk) != 0)
            abort();
    } else if (rc > 0) {
        abort();
    }

    /* as a signature: verify under the fixed key, and under the fixed key relabelled
     * with the signature's key id so that both Ed25519 checks run */
    memset(err, 'x', sizeof err);
    rc = tre_sig_parse(text, size, &sig, err, sizeof err);
    fuzz_err_ok(err, sizeof err);
    if (rc == 0) {
        size_t tl = strnlen(sig.trusted_comment, sizeof sig.trusted_comment);

        if (tl > TRE_COMMENT_MAX)
            abort();
        rc = tre_sig_verify(&fixed, &sig, msg, msglen, err, sizeof err);
        fuzz_err_ok(err, sizeof err);
        pk = fixed;
        memcpy(pk.keyid, sig.keyid, TRE_KEYID_LEN);
        rc = tre_sig_verify(&pk, &sig, msg, msglen, err, sizeof err);
        fuzz_err_ok(err, sizeof err);
        rc = tre_sig_verify(&pk, &sig, data, size, err, sizeof err);
        fuzz_err_ok(err, sizeof err);
    } else if (rc > 0) {
        abort();
    }

    /* as a secret key, without a password (no scrypt) */
    memset(err, 'x', sizeof err);
    rc = tre_seckey_is_encrypted(text, size, err, sizeof err);
    fuzz_err_ok(err, sizeof err);
    rc = tre_seckey_parse(text, size, NULL, &sk, err, sizeof err);
    fuzz_err_ok(err, sizeof err);
    if (rc == 0) {
        char *out = NULL;
        size_t outlen = 0;

        if (tre_sign_buffer(&sk, msg, msglen, "fuzz", &out, &outlen, err, sizeof err) == 0) {
            memcpy(pk.keyid, sk.keyid, TRE_KEYID_LEN);
            memcpy(pk.pk, sk.sk + 32, 32);
            if (tre_sig_parse(out, outlen, &sig, err, sizeof err) != 0 ||
                tre_sig_verify(&pk, &sig, msg, msglen, err, sizeof err) != 0)
                abort();  /* what we sign must verify */
            free(out);
        }
        tre_seckey_wipe(&sk);
    }
    return 0;
}
