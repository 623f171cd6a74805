/* tre/truststore.c — the vendor trust store: which minisign public keys may sign TRE
 * images. It owns loading the keys directory and looking keys up by id. It must never
 * accept a key it could not parse, never follow a key id to more than one key, and never
 * verify anything itself beyond calling tre_sig_parse/tre_sig_verify. */
#include "util/err.h"
#include "tre/truststore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct truststore_entry {
    struct tre_pubkey key;
    char *source;   /* file name in the directory, or NULL */
};

struct tre_truststore {
    struct truststore_entry *v;
    size_t n, cap;
};


struct tre_truststore *tre_truststore_new(void)
{
    return calloc(1, sizeof(struct tre_truststore));
}

void tre_truststore_free(struct tre_truststore *ts)
{
    if (ts == NULL)
        return;
    for (size_t i = 0; i < ts->n; i++)
        free(ts->v[i].source);
    free(ts->v);
    free(ts);
}

const struct tre_pubkey *tre_truststore_find(const struct tre_truststore *ts,
                                             const uint8_t keyid[TRE_KEYID_LEN])
{
    if (ts == NULL || keyid == NULL)
        return NULL;
    for (size_t i = 0; i < ts->n; i++)
        if (memcmp(ts->v[i].key.keyid, keyid, TRE_KEYID_LEN) == 0)
            return &ts->v[i].key;
    return NULL;
}

static int truststore_push(struct tre_truststore *ts, const struct tre_pubkey *pk,
                           const char *source)
{
    char *src = NULL;

    if (ts == NULL || pk == NULL)
        return -EINVAL;
    if (tre_truststore_find(ts, pk->keyid) != NULL)
        return -EEXIST;
    if (ts->n >= TRE_TRUSTSTORE_MAX_KEYS)
        return -ENOSPC;
    if (ts->n == ts->cap) {
        size_t ncap = ts->cap ? ts->cap * 2 : 8;
        struct truststore_entry *nv = realloc(ts->v, ncap * sizeof *nv);

        if (nv == NULL)
            return -ENOMEM;
        ts->v = nv;
        ts->cap = ncap;
    }
    if (source != NULL) {
        src = strdup(source);
        if (src == NULL)
            return -ENOMEM;
    }
    ts->v[ts->n].key = *pk;
    ts->v[ts->n].source = src;
    ts->n++;
    return 0;
}

int tre_truststore_add(struct tre_truststore *ts, const struct tre_pubkey *pk)
{
    return truststore_push(ts, pk, NULL);
}

size_t tre_truststore_count(const struct tre_truststore *ts)
{
    return ts ? ts->n : 0;
}

const struct tre_pubkey *tre_truststore_at(const struct tre_truststore *ts, size_t i)
{
    if (ts == NULL || i >= ts->n)
        return NULL;
    return &ts->v[i].key;
}

const char *tre_truststore_source(const struct tre_truststore *ts, size_t i)
{
    if (ts == NULL || i >= ts->n)
        return NULL;
    return ts->v[i].source;
}

static int truststore_is_pub(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

/* Reads and parses dir/name. */
static int truststore_read_key(const char *dir, const char *name, struct tre_pubkey *pk,
                               char *err, size_t errlen)
{
    char path[4096], perr[256];
    char *text = NULL;
    size_t len = 0;
    int n, rc;

    n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        errf(err, errlen, 0, "%s/%s: path too long", dir, name);
        return -ENAMETOOLONG;
    }
    rc = tre_minisign_read_file(path, TRE_PUBKEY_FILE_MAX, &text, &len, perr, sizeof perr);
    if (rc < 0) {
        errf(err, errlen, 0, "vendor key %s", perr);
        return rc;
    }
    rc = tre_pubkey_parse(text, len, pk, perr, sizeof perr);
    free(text);
    if (rc < 0) {
        errf(err, errlen, 0, "vendor key %s: %s", path, perr);
        return rc;
    }
    return 0;
}

/* The *.pub names in dir, sorted; a missing dir gives none. */
static int truststore_scan(const char *dir, struct dirent ***names, int *count,
                           char *err, size_t errlen)
{
    struct dirent **list = NULL;
    int n, kept = 0;

    *names = NULL;
    *count = 0;
    n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) {
        int e = errno;

        if (e == ENOENT)
            return 0;
        errf(err, errlen, 0, "vendor keys %s: %s", dir, strerror(e));
        return -e;
    }
    for (int i = 0; i < n; i++) {
        if (truststore_is_pub(list[i]->d_name))
            list[kept++] = list[i];
        else
            free(list[i]);
    }
    if ((size_t)kept > TRE_TRUSTSTORE_MAX_KEYS) {
        for (int i = 0; i < kept; i++)
            free(list[i]);
        free(list);
        errf(err, errlen, 0, "vendor keys %s: more than %u .pub files", dir,
                       TRE_TRUSTSTORE_MAX_KEYS);
        return -E2BIG;
    }
    *names = list;
    *count = kept;
    return 0;
}

static void truststore_scan_free(struct dirent **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int tre_truststore_load(const char *dir, struct tre_truststore **out, char *err, size_t errlen)
{
    struct tre_truststore *ts = NULL;
    struct dirent **names = NULL;
    int count = 0, rc;

    if (err && errlen)
        err[0] = '\0';
    if (dir == NULL || out == NULL) {
        errf(err, errlen, 0, "vendor keys: no directory");
        return -EINVAL;
    }
    *out = NULL;
    ts = tre_truststore_new();
    if (ts == NULL) {
        errf(err, errlen, 0, "vendor keys: out of memory");
        return -ENOMEM;
    }
    rc = truststore_scan(dir, &names, &count, err, errlen);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < count; i++) {
        struct tre_pubkey pk;
        const struct tre_pubkey *have;
        char id[17];

        rc = truststore_read_key(dir, names[i]->d_name, &pk, err, errlen);
        if (rc < 0)
            goto fail;
        have = tre_truststore_find(ts, pk.keyid);
        if (have != NULL) {
            if (memcmp(have->pk, pk.pk, sizeof pk.pk) == 0)
                continue;  /* the same key twice */
            tre_keyid_hex(pk.keyid, id);
            errf(err, errlen, 0, "vendor key %s/%s: key id %s is already used by "
                           "a different key", dir, names[i]->d_name, id);
            rc = -EEXIST;
            goto fail;
        }
        rc = truststore_push(ts, &pk, names[i]->d_name);
        if (rc < 0) {
            errf(err, errlen, 0, "vendor key %s/%s: %s", dir, names[i]->d_name,
                           strerror(-rc));
            goto fail;
        }
    }
    truststore_scan_free(names, count);
    *out = ts;
    return 0;
fail:
    truststore_scan_free(names, count);
    tre_truststore_free(ts);
    return rc;
}

int tre_truststore_verify(const struct tre_truststore *ts, const uint8_t *img, size_t img_len,
                          const char *sig_text, size_t sig_len,
                          const struct tre_pubkey **key_out, char *err, size_t errlen)
{
    struct tre_sig sig;
    const struct tre_pubkey *pk;
    char id[17];
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (key_out != NULL)
        *key_out = NULL;
    if (ts == NULL) {
        errf(err, errlen, 0, "no trust store");
        return -EINVAL;
    }
    rc = tre_sig_parse(sig_text, sig_len, &sig, err, errlen);
    if (rc < 0)
        return rc;
    pk = tre_truststore_find(ts, sig.keyid);
    if (pk == NULL) {
        tre_keyid_hex(sig.keyid, id);
        errf(err, errlen, 0, "unknown vendor key %s", id);
        return -ENOKEY;
    }
    rc = tre_sig_verify(pk, &sig, img, img_len, err, errlen);
    if (rc < 0)
        return rc;
    if (key_out != NULL)
        *key_out = pk;
    return 0;
}

int tre_truststore_dir_remove(const char *dir, const uint8_t keyid[TRE_KEYID_LEN],
                              char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int count = 0, removed = 0, rc;

    if (err && errlen)
        err[0] = '\0';
    if (dir == NULL || keyid == NULL) {
        errf(err, errlen, 0, "vendor keys: no directory");
        return -EINVAL;
    }
    rc = truststore_scan(dir, &names, &count, err, errlen);
    if (rc < 0)
        return rc;
    for (int i = 0; i < count; i++) {
        struct tre_pubkey pk;
        char path[4096];
        int n;

        /* a file that does not parse holds no key: leave it for the owner to see */
        if (truststore_read_key(dir, names[i]->d_name, &pk, NULL, 0) < 0)
            continue;
        if (memcmp(pk.keyid, keyid, TRE_KEYID_LEN) != 0)
            continue;
        n = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        if (unlink(path) < 0) {
            rc = -errno;
            errf(err, errlen, 0, "%s: %s", path, strerror(-rc));
            goto out;
        }
        removed++;
    }
    rc = removed;
out:
    truststore_scan_free(names, count);
    return rc;
}
