/* tests/test_seal.c — sealing and rollback protection (measure/sealer.c, the sealing and NV
 * parts of measure/tpm.c) against a real swtpm in a temporary state directory: the TPM
 * primitives, blob round trips, blobs refused for another program, vendor, svn or launch
 * measurement, every byte of a blob tampered, the rollback store across reopen, a
 * tampered, deleted, old or forked store file, an interrupted update, the TPM's record
 * deleted or redefined, swtpm killed mid-run, and no TPM. Skips when swtpm is missing. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "check.h"
#include "tmpdir.h"
#include "measure/sealer.h"
#include "measure/tpm.h"
#include "tre/minisign.h"
#include "trevisor/abi.h"
#include "util/log.h"

#define PCR 15

static const uint8_t K1[8] = { 0x3f, 0x9a, 0x0c, 0x1d, 0x2b, 0x4e, 0x5f, 0x60 };
static const uint8_t K2[8] = { 0x3f, 0x9a, 0x0c, 0x1d, 0x2b, 0x4e, 0x5f, 0x61 };




static struct seal_identity ident(const uint8_t keyid[8], const char *name, uint32_t svn)
{
    struct seal_identity id;
    memset(&id, 0, sizeof id);
    memcpy(id.keyid, keyid, 8);
    snprintf(id.name, sizeof id.name, "%s", name);
    id.svn = svn;
    return id;
}

/* One trevisor run: swtpm started on dir, the launch measured (one extend of SHA-256 of
 * `launch`), the sealer opened. */
struct run {
    struct tpm *t;
    struct sealer *s;
};

static int run_start_tpm(const char *dir, const char *launch, struct run *R, char *err,
                         size_t errlen)
{
    memset(R, 0, sizeof *R);
    int r = tpm_open(TPM_SWTPM, dir, &R->t, err, errlen);
    if (r)
        return r;
    uint8_t d[32];
    SHA256((const uint8_t *)launch, strlen(launch), d);
    if ((r = tpm_pcr_extend(R->t, PCR, d)) < 0)
        snprintf(err, errlen, "%s", tpm_last_error(R->t));
    return r;
}

static int run_start(const char *dir, const char *launch, struct run *R, char *err,
                     size_t errlen)
{
    int r = run_start_tpm(dir, launch, R, err, errlen);
    if (r == 0)
        r = sealer_open(R->t, PCR, dir, &R->s, err, errlen);
    return r;
}

static void run_stop(struct run *R)
{
    sealer_free(R->s);
    tpm_close(R->t);
    memset(R, 0, sizeof *R);
}

static void path_of(char *out, size_t cap, const char *dir, const char *prefix,
                    const char *suffix, const uint8_t pcr[32])
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", pcr[i]);
    snprintf(out, cap, "%s/seal/%s%s%s", dir, prefix, hex, suffix);
}

/* STATE/seal/svn-<launch PCR value>.db for a launch measured as in run_start. */
static void db_path(char *out, size_t cap, const char *dir, const char *launch)
{
    uint8_t v[64] = { 0 };
    SHA256((const uint8_t *)launch, strlen(launch), v + 32);
    SHA256(v, 64, v);
    path_of(out, cap, dir, "svn-", ".db", v);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static int spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define NEED_SWTPM() do { if (!have_prog("swtpm")) SKIP("swtpm is not installed"); } while (0)

/* ---- the TPM primitives ---- */

static void test_tpm_seal_primitive(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct tpm *t = NULL;
    CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t, err, sizeof err), 0);
    if (!t) {
        fprintf(stderr, "  %s\n", err);
        rm_rf(dir); free(dir);
        return;
    }
    uint8_t pv[32], secret[40], blob[TPM_SEALED_MAX], out[TPM_SEAL_DATA_MAX];
    memset(secret, 0xa5, sizeof secret);
    CHECK_EQ(tpm_pcr_read(t, PCR, pv), 0);
    size_t bl = sizeof blob, ol = sizeof out;
    CHECK_EQ(tpm_seal(t, PCR, pv, secret, sizeof secret, blob, &bl, err, sizeof err), 0);
    CHECK(bl > 8 && bl < TPM_SEALED_MAX);
    CHECK_EQ(tpm_unseal(t, blob, bl, out, &ol, err, sizeof err), 0);
    CHECK_EQ(ol, sizeof secret);
    CHECK(memcmp(out, secret, sizeof secret) == 0);

    /* buffer too small */
    ol = 8;
    CHECK_EQ(tpm_unseal(t, blob, bl, out, &ol, err, sizeof err), -ENOBUFS);
    size_t small = 10;
    CHECK_EQ(tpm_seal(t, PCR, pv, secret, sizeof secret, blob, &small,
                      err, sizeof err), -ENOBUFS);

    /* sealed to a value the PCR does not hold */
    uint8_t other[32], blob2[TPM_SEALED_MAX];
    memset(other, 7, sizeof other);
    size_t bl2 = sizeof blob2;
    CHECK_EQ(tpm_seal(t, PCR, other, secret, sizeof secret, blob2, &bl2, err, sizeof err), 0);
    ol = sizeof out;
    CHECK_EQ(tpm_unseal(t, blob2, bl2, out, &ol, err, sizeof err), -EACCES);
    CHECK(strstr(err, "PCR 15") != NULL);

    /* the PCR moves on: the first blob is refused too */
    uint8_t d[32] = { 1 };
    CHECK_EQ(tpm_pcr_extend(t, PCR, d), 0);
    ol = sizeof out;
    CHECK_EQ(tpm_unseal(t, blob, bl, out, &ol, err, sizeof err), -EACCES);

    /* malformed or altered blobs */
    ol = sizeof out;
    CHECK_EQ(tpm_unseal(t, blob, 5, out, &ol, err, sizeof err), -EBADMSG);
    ol = sizeof out;
    CHECK_EQ(tpm_unseal(t, blob, bl - 1, out, &ol, err, sizeof err), -EBADMSG);
    uint8_t bad[TPM_SEALED_MAX];
    memcpy(bad, blob2, bl2);
    bad[bl2 - 3] ^= 1;        /* inside the private part */
    ol = sizeof out;
    int r = tpm_unseal(t, bad, bl2, out, &ol, err, sizeof err);
    CHECK(r == -EBADMSG || r == -EACCES);
    memcpy(bad, blob2, bl2);
    bad[0] ^= 1;
    ol = sizeof out;
    CHECK_EQ(tpm_unseal(t, bad, bl2, out, &ol, err, sizeof err), -EBADMSG);

    /* refused arguments */
    bl = sizeof blob;
    CHECK_EQ(tpm_seal(t, 16, pv, secret, 4, blob, &bl, err, sizeof err), -EPERM);
    CHECK_EQ(tpm_seal(t, PCR, pv, secret, 0, blob, &bl, err, sizeof err), -EINVAL);
    CHECK_EQ(tpm_seal(t, PCR, pv, secret, TPM_SEAL_DATA_MAX + 1, blob, &bl, err, sizeof err),
             -EINVAL);
    tpm_close(t);
    rm_rf(dir);
    free(dir);
}

static void test_tpm_nv_primitive(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct tpm *t = NULL;
    CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t, err, sizeof err), 0);
    if (!t) {
        rm_rf(dir); free(dir);
        return;
    }
    const uint32_t idx = 0x018EAFF0;
    uint8_t auth[32], bad[32], buf[32], v[32];
    memset(auth, 1, sizeof auth);
    memset(bad, 2, sizeof bad);
    memset(v, 0x5c, sizeof v);
    CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 32, err, sizeof err), -ENOENT);
    CHECK_EQ(tpm_nv_define(t, idx, 32, auth, 32, err, sizeof err), 0);
    CHECK_EQ(tpm_nv_define(t, idx, 32, auth, 32, err, sizeof err), -EEXIST);
    CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 32, err, sizeof err), -ENODATA);
    CHECK_EQ(tpm_nv_write(t, idx, bad, 32, v, 32, err, sizeof err), -EACCES);
    CHECK_EQ(tpm_nv_write(t, idx, auth, 32, v, 32, err, sizeof err), 0);
    CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 32, err, sizeof err), 0);
    CHECK(memcmp(buf, v, 32) == 0);
    CHECK_EQ(tpm_nv_read(t, idx, bad, 32, buf, 32, err, sizeof err), -EACCES);
    CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 16, err, sizeof err), -EBADMSG);
    CHECK_EQ(tpm_nv_read(t, 0x81000001, auth, 32, buf, 32, err, sizeof err), -EINVAL);
    /* the record survives a restart of swtpm */
    tpm_close(t);
    t = NULL;
    CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t, err, sizeof err), 0);
    if (t) {
        memset(buf, 0, sizeof buf);
        CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 32, err, sizeof err), 0);
        CHECK(memcmp(buf, v, 32) == 0);
        CHECK_EQ(tpm_nv_undefine(t, idx, err, sizeof err), 0);
        CHECK_EQ(tpm_nv_undefine(t, idx, err, sizeof err), -ENOENT);
        CHECK_EQ(tpm_nv_read(t, idx, auth, 32, buf, 32, err, sizeof err), -ENOENT);
    }
    tpm_close(t);
    rm_rf(dir);
    free(dir);
}

/* ---- blobs ---- */

static void test_roundtrip(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    int r = run_start(dir, "launch A", &R, err, sizeof err);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "  %s\n", err);
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    struct seal_identity id = ident(K1, "hello", 1);
    const char msg[] = "the vendor's secret";
    uint8_t blob[256], out[256];
    long n = sealer_seal(R.s, &id, msg, sizeof msg, blob, sizeof blob, err, sizeof err);
    CHECK_EQ(n, (long)sizeof msg + TRE_SEAL_OVERHEAD);
    CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err),
             (long)sizeof msg);
    CHECK(memcmp(out, msg, sizeof msg) == 0);
    /* two seals of the same data differ (fresh salt and IV) */
    uint8_t blob2[256];
    CHECK_EQ(sealer_seal(R.s, &id, msg, sizeof msg, blob2, sizeof blob2, err, sizeof err), n);
    CHECK(memcmp(blob, blob2, (size_t)n) != 0);
    struct seal_blob_hdr h;
    CHECK_EQ(sealer_blob_parse_header(blob, (size_t)n, &h), 0);
    CHECK_EQ(h.svn, 1);
    CHECK_EQ(h.data_len, sizeof msg);
    CHECK(memcmp(h.keyid, K1, 8) == 0);

    /* empty data */
    CHECK_EQ(sealer_seal(R.s, &id, NULL, 0, blob2, sizeof blob2, err, sizeof err),
             TRE_SEAL_OVERHEAD);
    CHECK_EQ(sealer_unseal(R.s, &id, blob2, TRE_SEAL_OVERHEAD, NULL, 0, err, sizeof err), 0);

    /* sizes */
    CHECK_EQ(sealer_seal(R.s, &id, msg, sizeof msg, blob2, sizeof msg + 63, err, sizeof err),
             -ENOBUFS);
    CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof msg - 1, err, sizeof err),
             -ENOBUFS);
    uint8_t *big = calloc(1, TRE_SEAL_MAX + 1 + TRE_SEAL_OVERHEAD);
    CHECK_EQ(sealer_seal(R.s, &id, big, TRE_SEAL_MAX + 1, big, TRE_SEAL_MAX + 1 +
                         TRE_SEAL_OVERHEAD, err, sizeof err), -E2BIG);
    uint8_t *bigblob = malloc(TRE_SEAL_MAX + TRE_SEAL_OVERHEAD);
    CHECK_EQ(sealer_seal(R.s, &id, big, TRE_SEAL_MAX, bigblob, TRE_SEAL_MAX + TRE_SEAL_OVERHEAD,
                         err, sizeof err), (long)(TRE_SEAL_MAX + TRE_SEAL_OVERHEAD));
    CHECK_EQ(sealer_unseal(R.s, &id, bigblob, TRE_SEAL_MAX + TRE_SEAL_OVERHEAD, big,
                           TRE_SEAL_MAX, err, sizeof err), (long)TRE_SEAL_MAX);
    free(big);
    free(bigblob);

    /* another program, another vendor */
    struct seal_identity other = ident(K1, "hellp", 1), vendor = ident(K2, "hello", 1);
    CHECK_EQ(sealer_unseal(R.s, &other, blob, (size_t)n, out, sizeof out, err, sizeof err),
             -EBADMSG);
    CHECK(strstr(err, "not sealed by this program") != NULL);
    CHECK_EQ(sealer_unseal(R.s, &vendor, blob, (size_t)n, out, sizeof out, err, sizeof err),
             -EBADMSG);
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

static void test_tampered_blob(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (!R.s) {
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    struct seal_identity id = ident(K1, "hello", 5);
    uint8_t data[20], blob[128], bad[128], out[128];
    memset(data, 0x42, sizeof data);
    long n = sealer_seal(R.s, &id, data, sizeof data, blob, sizeof blob, err, sizeof err);
    CHECK_EQ(n, 84);
    /* every byte: magic, version, reserved, svn, key id, salt, IV, ciphertext, tag */
    int refused = 0;
    for (long i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(bad, blob, (size_t)n);
            bad[i] ^= (uint8_t)(1u << bit);
            memset(out, 0x77, sizeof out);
            long r = sealer_unseal(R.s, &id, bad, (size_t)n, out, sizeof out, err, sizeof err);
            if (r == -EBADMSG)
                refused++;
            else
                fprintf(stderr, "  byte %ld bit %d: %ld\n", i, bit, r);
            /* nothing of the data is left in the output */
            CHECK(memcmp(out, data, 4) != 0);
        }
    }
    CHECK_EQ(refused, 2 * n);
    /* truncated, extended */
    for (long l = 0; l < n; l++)
        CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)l, out, sizeof out, err, sizeof err),
                 -EBADMSG);
    memcpy(bad, blob, (size_t)n);
    bad[n] = 0;
    CHECK_EQ(sealer_unseal(R.s, &id, bad, (size_t)n + 1, out, sizeof out, err, sizeof err),
             -EBADMSG);
    CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err), 20);
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

static void test_svn_blobs(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (!R.s) {
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    struct seal_identity v1 = ident(K1, "prog", 1), v2 = ident(K1, "prog", 2),
                         v3 = ident(K1, "prog", 3);
    uint8_t b1[80], b2[80], out[80];
    long n1 = sealer_seal(R.s, &v1, "one", 3, b1, sizeof b1, err, sizeof err);
    long n2 = sealer_seal(R.s, &v2, "two", 3, b2, sizeof b2, err, sizeof err);
    CHECK_EQ(n1, 67);
    CHECK_EQ(n2, 67);
    /* a newer program's data is refused to an older one */
    CHECK_EQ(sealer_unseal(R.s, &v1, b2, (size_t)n2, out, sizeof out, err, sizeof err), -EACCES);
    CHECK(strstr(err, "newer version") != NULL);
    /* ... but only if it is authentic */
    b2[50] ^= 1;
    CHECK_EQ(sealer_unseal(R.s, &v1, b2, (size_t)n2, out, sizeof out, err, sizeof err), -EBADMSG);
    b2[50] ^= 1;
    /* an upgrade keeps its data */
    CHECK_EQ(sealer_unseal(R.s, &v3, b1, (size_t)n1, out, sizeof out, err, sizeof err), 3);
    CHECK(memcmp(out, "one", 3) == 0);
    CHECK_EQ(sealer_unseal(R.s, &v3, b2, (size_t)n2, out, sizeof out, err, sizeof err), 3);
    CHECK(memcmp(out, "two", 3) == 0);
    CHECK_EQ(sealer_unseal(R.s, &v2, b2, (size_t)n2, out, sizeof out, err, sizeof err), 3);
    /* the svn in the header is bound: lowering it does not open the blob */
    b2[8] = 1;
    CHECK_EQ(sealer_unseal(R.s, &v2, b2, (size_t)n2, out, sizeof out, err, sizeof err), -EBADMSG);
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

static int count_masters(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "exit $(ls '%s'/seal/master-*.blob | wc -l)", dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_launch_measurement(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    struct seal_identity id = ident(K1, "prog", 1);
    uint8_t blob[80], out[80];
    long n = 0;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s)
        n = sealer_seal(R.s, &id, "data", 4, blob, sizeof blob, err, sizeof err);
    CHECK_EQ(n, 68);
    run_stop(&R);

    /* another launch measurement: another master, the blob does not open */
    CHECK_EQ(run_start(dir, "launch B (another kernel)", &R, err, sizeof err), 0);
    if (R.s)
        CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err),
                 -EBADMSG);
    run_stop(&R);
    CHECK_EQ(count_masters(dir), 2);

    /* a longer chain that starts the same is another measurement too */
    CHECK_EQ(run_start_tpm(dir, "launch A", &R, err, sizeof err), 0);
    uint8_t d[32] = { 9 };
    CHECK_EQ(tpm_pcr_extend(R.t, PCR, d), 0);
    CHECK_EQ(sealer_open(R.t, PCR, dir, &R.s, err, sizeof err), 0);
    if (R.s)
        CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err),
                 -EBADMSG);
    run_stop(&R);

    /* back to the first measurement: the data is there */
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s) {
        CHECK_EQ(sealer_unseal(R.s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err), 4);
        CHECK(memcmp(out, "data", 4) == 0);
    }
    run_stop(&R);
    CHECK_EQ(count_masters(dir), 3);

    /* a master blob moved to another measurement's name is refused by the TPM */
    char a[700], b[700], cmd[1500];
    uint8_t v[64] = { 0 };
    SHA256((const uint8_t *)"launch A", 8, v + 32);
    SHA256(v, 64, v);
    path_of(a, sizeof a, dir, "master-", ".blob", v);
    memset(v, 0, 32);
    SHA256((const uint8_t *)"launch C", 8, v + 32);
    SHA256(v, 64, v);
    path_of(b, sizeof b, dir, "master-", ".blob", v);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", a, b);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(run_start(dir, "launch C", &R, err, sizeof err), -EACCES);
    CHECK(strstr(err, "refuses to unseal") != NULL);
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

static void test_none(void)
{
    struct tpm *t = NULL;
    struct sealer *s = (struct sealer *)1;
    char err[256] = "";
    CHECK_EQ(tpm_open(TPM_NONE, NULL, &t, err, sizeof err), 0);
    CHECK_EQ(sealer_open(t, PCR, "/tmp", &s, err, sizeof err), -ENODEV);
    CHECK(s == NULL);
    uint8_t pv[32] = { 0 }, blob[64];
    size_t bl = sizeof blob;
    CHECK_EQ(tpm_seal(t, PCR, pv, "x", 1, blob, &bl, err, sizeof err), -ENODEV);
    CHECK_EQ(tpm_nv_define(t, 0x018EA000, 32, pv, 32, err, sizeof err), -ENODEV);
    tpm_close(t);
}

static void test_detached(void)
{
    uint8_t master[32];
    memset(master, 3, sizeof master);
    struct sealer *s = NULL;
    char err[256] = "";
    CHECK_EQ(sealer_new_detached(master, &s, err, sizeof err), 0);
    if (!s)
        return;
    struct seal_identity id = ident(K1, "p", 1);
    uint8_t blob[80], out[80];
    long n = sealer_seal(s, &id, "abc", 3, blob, sizeof blob, err, sizeof err);
    CHECK_EQ(n, 67);
    CHECK_EQ(sealer_unseal(s, &id, blob, (size_t)n, out, sizeof out, err, sizeof err), 3);
    CHECK_EQ(sealer_check_svn(s, K1, "p", 1, err, sizeof err), -ENODEV);
    /* another master does not open it */
    struct sealer *s2 = NULL;
    master[0] ^= 1;
    CHECK_EQ(sealer_new_detached(master, &s2, err, sizeof err), 0);
    CHECK_EQ(sealer_unseal(s2, &id, blob, (size_t)n, out, sizeof out, err, sizeof err), -EBADMSG);
    sealer_free(s2);

    /* the store format: round trip, canonical, authenticated */
    uint8_t key[32];
    memset(key, 9, sizeof key);
    struct seal_svn_record recs[2];
    memset(recs, 0, sizeof recs);
    memcpy(recs[0].keyid, K1, 8);
    strcpy(recs[0].name, "a");
    recs[0].svn = 4;
    memcpy(recs[1].keyid, K1, 8);
    strcpy(recs[1].name, "b");
    recs[1].svn = 1;
    struct seal_svndb db = { 0x018EA010, 7, 2, recs }, back;
    uint8_t buf[256];
    long l = sealer_svndb_encode(&db, key, buf, sizeof buf);
    CHECK_EQ(l, 24 + 2 * 48 + 32);
    CHECK_EQ(sealer_svndb_parse(buf, (size_t)l, key, &back, err, sizeof err), 0);
    CHECK_EQ(back.count, 2);
    CHECK_EQ(back.generation, 7);
    CHECK_EQ(back.nv_index, 0x018EA010);
    CHECK(back.count == 2 && back.recs[0].svn == 4 && !strcmp(back.recs[1].name, "b"));
    sealer_svndb_clear(&back);
    buf[30] ^= 1;
    CHECK_EQ(sealer_svndb_parse(buf, (size_t)l, key, &back, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "MAC") != NULL);
    buf[30] ^= 1;
    key[0] ^= 1;
    CHECK_EQ(sealer_svndb_parse(buf, (size_t)l, key, &back, err, sizeof err), -EBADMSG);
    key[0] ^= 1;
    CHECK_EQ(sealer_svndb_parse(buf, (size_t)l - 1, key, &back, err, sizeof err), -EBADMSG);
    /* out of order records are not encoded */
    recs[1].name[0] = 'a';
    CHECK_EQ(sealer_svndb_encode(&db, key, buf, sizeof buf), -EINVAL);
    CHECK_EQ(sealer_svndb_encode(&db, key, buf, 10), -EINVAL);
    recs[1].name[0] = 'b';
    CHECK_EQ(sealer_svndb_encode(&db, key, buf, 10), -ENOBUFS);
    sealer_free(s);
}

/* ---- rollback ---- */

static void test_rollback(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (!R.s) {
        fprintf(stderr, "  %s\n", err);
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), 0);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), -EPERM);
    char want[128], kid[17];
    tre_keyid_hex(K1, kid); /* as minisign and `trevisor trust list` print it */
    snprintf(want, sizeof want, "rollback: prog svn 1 is below 2 already run (vendor %s)", kid);
    CHECK(strstr(err, want) != NULL);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), 0);
    CHECK_EQ(sealer_check_svn(R.s, K2, "prog", 1, err, sizeof err), 0);   /* another vendor */
    CHECK_EQ(sealer_check_svn(R.s, K1, "other", 0, err, sizeof err), 0);
    CHECK_EQ(sealer_check_svn(R.s, K1, "", 0, err, sizeof err), -EINVAL);
    /* a 32-byte name */
    CHECK_EQ(sealer_check_svn(R.s, K1, "0123456789abcdef0123456789abcdef", 3, err, sizeof err),
             0);
    run_stop(&R);

    /* across a restart */
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s) {
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), -EPERM);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 3, err, sizeof err), 0);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), -EPERM);
        CHECK_EQ(sealer_check_svn(R.s, K2, "prog", 0, err, sizeof err), -EPERM);
        CHECK_EQ(sealer_check_svn(R.s, K1, "0123456789abcdef0123456789abcdef", 2, err,
                                  sizeof err), -EPERM);
    }
    run_stop(&R);

    /* another launch measurement has its own store, and its updates do not disturb A's */
    CHECK_EQ(run_start(dir, "launch B", &R, err, sizeof err), 0);
    if (R.s) {
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), 0);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 7, err, sizeof err), 0);
    }
    run_stop(&R);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s) {
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), -EPERM);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 3, err, sizeof err), 0);
    }
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

static void test_store_attacks(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "", db[700], tmp[720];
    db_path(db, sizeof db, dir, "launch A");
    snprintf(tmp, sizeof tmp, "%s.tmp", db);
    struct run R;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (!R.s) {
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), 0);
    size_t l1 = 0, l2 = 0;
    uint8_t *old = slurp(db, &l1);       /* prog at 1 */
    CHECK(old != NULL && l1 == 24 + 48 + 32);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), 0);
    uint8_t *cur = slurp(db, &l2);       /* prog at 2 */
    CHECK(cur != NULL && l2 == l1);
    run_stop(&R);
    if (!old || !cur)
        goto out;

    /* an old copy put back */
    CHECK_EQ(spit(db, old, l1), 0);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "older than the TPM's record") != NULL);
    run_stop(&R);

    /* altered: header, a record, the MAC */
    size_t where[] = { 0, 5, 9, 13, 17, 24, 30, 64, l2 - 1 };
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        cur[where[i]] ^= 0x10;
        CHECK_EQ(spit(db, cur, l2), 0);
        CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
        run_stop(&R);
        cur[where[i]] ^= 0x10;
    }
    CHECK_EQ(spit(db, cur, l2 - 1), 0);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
    run_stop(&R);

    /* deleted */
    unlink(db);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "missing") != NULL);
    run_stop(&R);

    /* an update that stopped after the TPM's record, before the rename: finished at open */
    CHECK_EQ(spit(db, old, l1), 0);
    CHECK_EQ(spit(tmp, cur, l2), 0);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    CHECK(access(tmp, F_OK) != 0);
    if (R.s)
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), -EPERM);
    run_stop(&R);
    size_t l3 = 0;
    uint8_t *now = slurp(db, &l3);
    CHECK(now && l3 == l2 && memcmp(now, cur, l2) == 0);
    free(now);

    /* an update that stopped before the TPM's record: the leftover is dropped */
    CHECK_EQ(spit(tmp, old, l1), 0);
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    CHECK(access(tmp, F_OK) != 0);
    if (R.s)
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), -EPERM);
    run_stop(&R);

    /* the TPM's record redefined by someone who does not know its authValue, holding the
     * old file's hash */
    struct tpm *t = NULL;
    CHECK_EQ(spit(db, old, l1), 0);
    CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t, err, sizeof err), 0);
    if (t) {
        uint32_t idx = le32(cur + 8);
        uint8_t auth[32] = { 0 }, h[32];
        SHA256(old, l1, h);
        CHECK_EQ(tpm_nv_undefine(t, idx, err, sizeof err), 0);
        CHECK_EQ(tpm_nv_define(t, idx, 32, auth, 32, err, sizeof err), 0);
        CHECK_EQ(tpm_nv_write(t, idx, auth, 32, h, 32, err, sizeof err), 0);
        tpm_close(t);
    }
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
    CHECK(strstr(err, "gone or was replaced") != NULL);
    run_stop(&R);

    /* ... or deleted */
    t = NULL;
    CHECK_EQ(tpm_open(TPM_SWTPM, dir, &t, err, sizeof err), 0);
    if (t) {
        CHECK_EQ(tpm_nv_undefine(t, le32(cur + 8), err, sizeof err), 0);
        tpm_close(t);
    }
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
    run_stop(&R);
out:
    free(old);
    free(cur);
    rm_rf(dir);
    free(dir);
}

static void test_swtpm_killed(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "", db[700], tmp[720];
    db_path(db, sizeof db, dir, "launch A");
    snprintf(tmp, sizeof tmp, "%s.tmp", db);
    struct run R;
    struct seal_identity id = ident(K1, "prog", 1);
    uint8_t b1[80], b2[80], out[80];
    long n1 = 0, n2 = 0;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (!R.s) {
        run_stop(&R); rm_rf(dir); free(dir);
        return;
    }
    n1 = sealer_seal(R.s, &id, "before", 6, b1, sizeof b1, err, sizeof err);
    CHECK_EQ(n1, 70);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), 0);

    pid_t pid = tpm_swtpm_pid(R.t);
    CHECK(pid > 0);
    CHECK_EQ(kill(pid, SIGKILL), 0);
    usleep(100000);

    /* an update needs the TPM: refused, saying why */
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 5, err, sizeof err), -EIO);
    CHECK(strstr(err, "killed by signal 9") != NULL);
    CHECK(strstr(err, "refused") != NULL);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 6, err, sizeof err), -EIO);
    /* what needs no update is still answered */
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 1, err, sizeof err), 0);
    CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 0, err, sizeof err), -EPERM);
    /* sealing works from the master in memory */
    n2 = sealer_seal(R.s, &id, "during", 6, b2, sizeof b2, err, sizeof err);
    CHECK_EQ(n2, 70);
    CHECK_EQ(sealer_unseal(R.s, &id, b1, (size_t)n1, out, sizeof out, err, sizeof err), 6);
    CHECK_EQ(sealer_unseal(R.s, &id, b2, (size_t)n2, out, sizeof out, err, sizeof err), 6);
    /* the update that did not reach the TPM left its file behind */
    size_t lx = 0;
    uint8_t *orphan = slurp(tmp, &lx);
    CHECK(orphan != NULL);
    run_stop(&R);

    /* after a restart nothing is lost, and the unrecorded svn 5 was not recorded */
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s) {
        CHECK_EQ(sealer_unseal(R.s, &id, b1, (size_t)n1, out, sizeof out, err, sizeof err), 6);
        CHECK(memcmp(out, "before", 6) == 0);
        CHECK_EQ(sealer_unseal(R.s, &id, b2, (size_t)n2, out, sizeof out, err, sizeof err), 6);
        CHECK(memcmp(out, "during", 6) == 0);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 0, err, sizeof err), -EPERM);
        CHECK_EQ(sealer_check_svn(R.s, K1, "prog", 2, err, sizeof err), 0);
        CHECK_EQ(sealer_check_svn(R.s, K1, "other", 3, err, sizeof err), 0);
    }
    CHECK(access(tmp, F_OK) != 0);
    run_stop(&R);

    /* the orphan (authentic, never committed) cannot stand in for the store: no fork */
    if (orphan) {
        CHECK_EQ(spit(db, orphan, lx), 0);
        CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
        run_stop(&R);
        CHECK_EQ(spit(tmp, orphan, lx), 0);
        CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), -EBADMSG);
        run_stop(&R);
    }
    free(orphan);
    rm_rf(dir);
    free(dir);
}

/* ---- threads ---- */

struct worker {
    struct sealer *s;
    int n;
    int bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char name[16], err[256];
    snprintf(name, sizeof name, "w%d", w->n);
    struct seal_identity id = ident(K1, name, 1);
    for (int i = 0; i < 100; i++) {
        uint8_t blob[128], out[128];
        char msg[32];
        int m = snprintf(msg, sizeof msg, "%s-%d", name, i);
        long b = sealer_seal(w->s, &id, msg, (size_t)m, blob, sizeof blob, err, sizeof err);
        long u = b > 0 ? sealer_unseal(w->s, &id, blob, (size_t)b, out, sizeof out, err,
                                       sizeof err) : -1;
        if (u != m || memcmp(out, msg, (size_t)m))
            w->bad++;
        if (i % 25 == 0 &&
            sealer_check_svn(w->s, K1, name, (uint32_t)i, err, sizeof err) != 0)
            w->bad++;
    }
    return NULL;
}

static void test_threads(void)
{
    NEED_SWTPM();
    char *dir = new_state_dir_tagged("seal"), err[256] = "";
    struct run R;
    CHECK_EQ(run_start(dir, "launch A", &R, err, sizeof err), 0);
    if (R.s) {
        pthread_t th[4];
        struct worker w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (struct worker){ R.s, i, 0 };
            pthread_create(&th[i], NULL, work, &w[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(w[i].bad, 0);
        }
        CHECK_EQ(sealer_check_svn(R.s, K1, "w2", 50, err, sizeof err), -EPERM);
    }
    run_stop(&R);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    tlog_set_quiet(getenv("TEST_VERBOSE") == NULL);
    TEST(test_tpm_seal_primitive);
    TEST(test_tpm_nv_primitive);
    TEST(test_roundtrip);
    TEST(test_tampered_blob);
    TEST(test_svn_blobs);
    TEST(test_launch_measurement);
    TEST(test_none);
    TEST(test_detached);
    TEST(test_rollback);
    TEST(test_store_attacks);
    TEST(test_swtpm_killed);
    TEST(test_threads);
    TEST_EXIT();
}
