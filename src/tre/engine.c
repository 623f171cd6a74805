/* tre/engine.c — the engine API: the descriptor table (slot index + generation, so a stale
 * descriptor is refused and never aliased), exec (verify -> parse -> load -> run to first
 * wait), rpc (window in, run, window out) and close (destroy and wipe). It holds the
 * table lock only for table updates, never while a program runs. */
#include "trevisor/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "trevisor/abi.h"
#include "kvm/kvm.h"
#include "util/err.h"
#include "tre/elf.h"
#include "tre/imagecache.h"
#include "tre/instance.h"
#include "tre/manifest.h"
#include "tre/minisign.h"
#include "tre/truststore.h"
#include "util/log.h"
#include "util/hex.h"

#define DESC_INDEX_BITS 12
#define DESC_INDEX_MASK ((1u << DESC_INDEX_BITS) - 1)
#define DESC_GEN_MASK   0x7ffffu   /* 19 bits: desc stays a positive int */
#define ENGINE_MAX_INSTANCES (1u << DESC_INDEX_BITS)

struct engine_slot {
    struct engine_ref *ref;   /* NULL = free */
    uint32_t gen;
};

/* An instance plus what lets a close wait for an in-flight call. */
struct engine_ref {
    struct tre_instance ti;
    pthread_mutex_t lock;     /* held for a whole call */
    unsigned refs;            /* table + calls in flight; guarded by the engine lock */
};

struct tre_engine {
    pthread_mutex_t lock;
    struct tre_truststore *trust;
    uint64_t budget_ns;
    unsigned max;
    unsigned live;
    struct engine_slot *slots;
    struct tre_services *services;
};

int tre_engine_new(const struct tre_engine_config *cfg, struct tre_engine **out,
                   char *err, size_t errlen)
{
    struct tre_engine_config def = { 0 };
    if (!cfg)
        cfg = &def;
    struct tre_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    pthread_mutex_init(&e->lock, NULL);
    e->budget_ns = (cfg->cpu_budget_ms ? cfg->cpu_budget_ms : 5000) * 1000000ull;
    e->max = cfg->max_instances ? cfg->max_instances : 1024;
    e->services = cfg->services;
    if (e->max > ENGINE_MAX_INSTANCES)
        e->max = ENGINE_MAX_INSTANCES;
    e->slots = calloc(e->max, sizeof *e->slots);
    int r = e->slots ? 0 : -ENOMEM;
    if (!r) {
        if (cfg->trust_dir)
            r = tre_truststore_load(cfg->trust_dir, &e->trust, err, errlen);
        else
            r = (e->trust = tre_truststore_new()) ? 0 : -ENOMEM;
    }
    if (r) {
        free(e->slots);
        free(e);
        return r;
    }
    *out = e;
    return 0;
}

int tre_engine_trust(struct tre_engine *e, const char *text, size_t len, char *err, size_t errlen)
{
    struct tre_pubkey pk;
    int r = tre_pubkey_parse(text, len, &pk, err, errlen);
    if (r)
        return r;
    pthread_mutex_lock(&e->lock);
    r = tre_truststore_add(e->trust, &pk);
    pthread_mutex_unlock(&e->lock);
    if (r == -EEXIST)
        r = 0;
    return r;
}

static void engine_ref_put(struct tre_engine *e, struct engine_ref *ref)
{
    pthread_mutex_lock(&e->lock);
    int last = --ref->refs == 0;
    pthread_mutex_unlock(&e->lock);
    if (last) {
        instance_destroy(&ref->ti);
        pthread_mutex_destroy(&ref->lock);
        explicit_bzero(ref, sizeof *ref);
        free(ref);
    }
}

/* The instance behind desc, with a reference taken, or NULL. */
static struct engine_ref *engine_get(struct tre_engine *e, int desc)
{
    if (desc < 0)
        return NULL;
    unsigned idx = (unsigned)desc & DESC_INDEX_MASK;
    uint32_t gen = ((unsigned)desc >> DESC_INDEX_BITS) & DESC_GEN_MASK;
    if (idx >= e->max)
        return NULL;
    pthread_mutex_lock(&e->lock);
    struct engine_ref *ref = e->slots[idx].ref;
    if (ref && e->slots[idx].gen == gen)
        ref->refs++;
    else
        ref = NULL;
    pthread_mutex_unlock(&e->lock);
    return ref;
}

int tre_engine_exec(struct tre_engine *e, const void *image, size_t image_size,
                    const void *sig, size_t sig_size, struct tre_exec_info *info,
                    char *err, size_t errlen)
{
    char ebuf[256];
    if (!err || !errlen) {
        err = ebuf;
        errlen = sizeof ebuf;
    }
    err[0] = 0;
    if (!image || !sig)
        return errf(err, errlen, -EINVAL, "exec: no image or no signature");
    int r = kvm_sys_open(err, errlen);
    if (r)
        return -ENODEV;

    /* 1. signature: the trust store holds the vendor keys. An image whose exact bytes and
     * signature bytes verified before needs only its key to be still trusted. */
    uint8_t sha[32], sigsha[32], keyid[8];
    SHA256(image, image_size, sha);
    SHA256(sig, sig_size, sigsha);
    pthread_mutex_lock(&e->lock);
    if (imagecache_get_verified(sha, sigsha, keyid) && tre_truststore_find(e->trust, keyid)) {
        r = 0;
    } else {
        const struct tre_pubkey *key = NULL;
        r = tre_truststore_verify(e->trust, image, image_size, sig, sig_size, &key, err,
                                  errlen);
        if (!r) {
            memcpy(keyid, key->keyid, 8);
            imagecache_put_verified(sha, sigsha, keyid);
        }
    }
    pthread_mutex_unlock(&e->lock);
    if (r)
        return r;

    /* 2. the ELF and its manifest */
    struct tre_elf elf;
    r = tre_elf_parse(image, image_size, &elf, err, errlen);
    if (r)
        return -ENOEXEC;
    struct tre_manifest m;
    r = tre_manifest_parse(elf.manifest, elf.manifest_len, &m, err, errlen);
    if (r)
        return -ENOEXEC;

    /* 3. a slot */
    struct engine_ref *ref = calloc(1, sizeof *ref);
    if (!ref)
        return errf(err, errlen, -ENOMEM, "exec: out of memory");
    pthread_mutex_init(&ref->lock, NULL);
    ref->refs = 1;
    struct tre_instance *ti = &ref->ti;
    ti->kvm.vmfd = ti->kvm.vcpufd = -1;
    ti->budget_ns = e->budget_ns;
    const char *trace = getenv("TREVISOR_TRACE");
    ti->trace = trace && *trace == '1';
    memcpy(ti->keyid, keyid, 8);
    memcpy(ti->sha256, sha, 32);

    pthread_mutex_lock(&e->lock);
    unsigned idx = e->max;
    if (e->live < e->max)
        for (idx = 0; idx < e->max && e->slots[idx].ref; idx++)
            ;
    if (idx < e->max) {
        e->slots[idx].ref = ref; /* reserved; calls fail until it waits (state NEW) */
        e->slots[idx].gen = (e->slots[idx].gen + 1) & DESC_GEN_MASK;
        e->live++;
    }
    int desc = (int)(idx | (e->slots[idx < e->max ? idx : 0].gen << DESC_INDEX_BITS));
    pthread_mutex_unlock(&e->lock);
    if (idx >= e->max) {
        pthread_mutex_destroy(&ref->lock);
        free(ref);
        return errf(err, errlen, -EMFILE, "exec: %u instances already running", e->max);
    }
    snprintf(ti->label, sizeof ti->label, "%s#%d", m.name, desc);

    /* 4. load and run to the first wait, with the instance locked */
    pthread_mutex_lock(&ref->lock);
    r = instance_load(ti, image, image_size, &elf, &m, err, errlen);
    if (!r) {
        /* who it is, for the services; then measure it and check rollback before it runs */
        struct svc_caller *c = &ti->caller;
        memcpy(c->keyid, keyid, 8);
        memcpy(c->sha256, sha, 32);
        snprintf(c->name, sizeof c->name, "%s", ti->manifest.name);
        c->svn = ti->manifest.svn;
        c->ncaps = ti->manifest.ncaps;
        c->caps = (const char (*)[128])ti->manifest.caps;
        c->label = ti->label;
        ti->services = e->services;
        r = services_admit(e->services, c, elf.manifest, elf.manifest_len, err, errlen);
    }
    if (!r) {
        uint64_t ready;
        r = instance_run(ti, &ready);
        if (r)
            errf(err, errlen, r, "exec: %s ended during start-up (see the log)", m.name);
    }
    pthread_mutex_unlock(&ref->lock);

    char keyhex[17], shahex[65];
    tre_keyid_hex(keyid, keyhex);
    hex_encode(ti->sha256, 32, shahex);
    if (r) {
        tlog("engine", "exec %s refused: %s", m.name, err);
        pthread_mutex_lock(&e->lock);
        e->slots[idx].ref = NULL;
        e->live--;
        pthread_mutex_unlock(&e->lock);
        engine_ref_put(e, ref);
        return r;
    }
    tlog("engine", "exec %s version %u svn %u key %s sha256 %s -> %d (%zu syscall sites)",
         m.name, m.version, m.svn, keyhex, shahex, desc, ti->nsites);
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->name, sizeof info->name, "%s", m.name);
        info->version = m.version;
        info->svn = m.svn;
        info->mem_size = m.mem_size;
        info->window_size = m.window_size;
        memcpy(info->sha256, ti->sha256, 32);
        memcpy(info->sha256_hex, shahex, sizeof shahex);
        memcpy(info->keyid, keyhex, sizeof keyhex);
        memcpy(info->measurement, ti->caller.measurement, 32);
    }
    return desc;
}

/* Lays the buffers out in the window: header first, then each buffer 16-byte aligned. */
static int engine_layout(const struct tre_instance *ti, const struct iovec *args, int nargs,
                         const struct iovec *results, int nres, struct tre_window_hdr *h)
{
    uint64_t off = (sizeof *h + 15) & ~15ull;
    memset(h, 0, sizeof *h);
    h->magic = TRE_WINDOW_MAGIC;
    h->msgcode = TRE_MSG_CALL;
    h->bufcnt = (uint32_t)(nargs + nres);
    for (int i = 0; i < nargs + nres; i++) {
        const struct iovec *v = i < nargs ? &args[i] : &results[i - nargs];
        uint64_t len = v->iov_len;
        if (len && !v->iov_base)
            return -EINVAL;
        if (len > ti->window_size || off > ti->window_size - len)
            return -E2BIG;
        h->bufs[i].offset = (uint32_t)off;
        h->bufs[i].cap = (uint32_t)len;
        h->bufs[i].len = i < nargs ? (uint32_t)len : 0;
        h->bufs[i].rw = i < nargs ? 0 : 1;
        off = (off + len + 15) & ~15ull;
    }
    return 0;
}

int tre_engine_rpc(struct tre_engine *e, int desc, int proc,
                   const struct iovec *args, int nargs, struct iovec *results, int nresults)
{
    if (nargs < 0 || nresults < 0 || nargs + nresults > TRE_MAX_BUFS)
        return nargs < 0 || nresults < 0 ? -EINVAL : -E2BIG;
    if ((nargs && !args) || (nresults && !results))
        return -EINVAL;
    struct engine_ref *ref = engine_get(e, desc);
    if (!ref)
        return -EBADF;
    struct tre_instance *ti = &ref->ti;
    int r;
    pthread_mutex_lock(&ref->lock);
    if (ti->state != TRE_STATE_WAITING) {
        r = ti->state == TRE_STATE_DEAD ? -ESRCH : -EBUSY;
        goto out;
    }
    struct tre_window_hdr h;
    r = engine_layout(ti, args, nargs, results, nresults, &h);
    if (r)
        goto out;
    h.proc_number = proc;
    memcpy(ti->window, &h, sizeof h);
    for (int i = 0; i < nargs; i++)
        if (args[i].iov_len)
            memcpy(ti->window + h.bufs[i].offset, args[i].iov_base, args[i].iov_len);
    /* result buffers start zeroed: a handler that writes less returns no stale bytes */
    for (int i = nargs; i < nargs + nresults; i++)
        memset(ti->window + h.bufs[i].offset, 0, h.bufs[i].cap);
    ti->regs.rax = TRE_MSG_CALL;
    r = kvm_vcpu_set_regs(&ti->kvm, &ti->regs);
    if (r) {
        r = instance_kill(ti, r, "KVM_SET_REGS failed: %s", strerror(-r));
        goto out;
    }
    uint64_t value;
    r = instance_run(ti, &value);
    if (r)
        goto out;
    /* Copy the header back first, then check it against what we laid out. */
    struct tre_window_hdr back;
    memcpy(&back, ti->window, sizeof back);
    for (int k = 0; k < nresults; k++) {
        unsigned i = (unsigned)(nargs + k);
        uint32_t len = back.bufs[i].len;
        if (len > h.bufs[i].cap) {
            r = instance_kill(ti, -EPROTO, "result %d: wrote %u bytes into a %u-byte buffer",
                              k, len, h.bufs[i].cap);
            goto out;
        }
        if (len)
            memcpy(results[k].iov_base, ti->window + h.bufs[i].offset, len);
        results[k].iov_len = len;
    }
    r = (int)(int32_t)value;
out:
    pthread_mutex_unlock(&ref->lock);
    engine_ref_put(e, ref);
    return r;
}

int tre_engine_close(struct tre_engine *e, int desc)
{
    if (desc < 0)
        return -EBADF;
    unsigned idx = (unsigned)desc & DESC_INDEX_MASK;
    uint32_t gen = ((unsigned)desc >> DESC_INDEX_BITS) & DESC_GEN_MASK;
    if (idx >= e->max)
        return -EBADF;
    pthread_mutex_lock(&e->lock);
    struct engine_ref *ref = e->slots[idx].ref;
    if (!ref || e->slots[idx].gen != gen || ref->ti.state == TRE_STATE_NEW) {
        pthread_mutex_unlock(&e->lock);
        return -EBADF;
    }
    e->slots[idx].ref = NULL;
    e->live--;
    pthread_mutex_unlock(&e->lock);
    /* wait for a call in flight, then drop the table's reference */
    pthread_mutex_lock(&ref->lock);
    tlog("engine", "%s: closed", ref->ti.label);
    pthread_mutex_unlock(&ref->lock);
    engine_ref_put(e, ref);
    return 0;
}

int tre_engine_trusted_key(struct tre_engine *e, size_t i, uint8_t keyid[8], uint8_t pk[32])
{
    pthread_mutex_lock(&e->lock);
    const struct tre_pubkey *k = i < tre_truststore_count(e->trust)
                                     ? tre_truststore_at(e->trust, i) : NULL;
    if (k) {
        memcpy(keyid, k->keyid, 8);
        memcpy(pk, k->pk, 32);
    }
    pthread_mutex_unlock(&e->lock);
    return k ? 0 : -ENOENT;
}

int tre_engine_attest(struct tre_engine *e, const uint8_t *nonce, size_t nonce_len,
                      const uint8_t *report, size_t report_len, uint8_t **bundle,
                      size_t *len, char *err, size_t errlen)
{
    return services_attest(e->services, nonce, nonce_len, report, report_len, bundle, len,
                           err, errlen);
}

unsigned tre_engine_instances(struct tre_engine *e)
{
    pthread_mutex_lock(&e->lock);
    unsigned n = e->live;
    pthread_mutex_unlock(&e->lock);
    return n;
}

int64_t tre_engine_resident(struct tre_engine *e, int desc)
{
    struct engine_ref *ref = engine_get(e, desc);
    if (!ref)
        return -EBADF;
    pthread_mutex_lock(&ref->lock);
    int64_t n = (int64_t)vmem_resident(&ref->ti.mem);
    pthread_mutex_unlock(&ref->lock);
    engine_ref_put(e, ref);
    return n;
}

long tre_engine_debug_scan(struct tre_engine *e, int desc, const void *needle, size_t len)
{
    struct engine_ref *ref = engine_get(e, desc);
    if (!ref)
        return -EBADF;
    pthread_mutex_lock(&ref->lock);
    long n = vmem_scan(&ref->ti.mem, needle, len);
    pthread_mutex_unlock(&ref->lock);
    engine_ref_put(e, ref);
    return n;
}

void tre_engine_free(struct tre_engine *e)
{
    if (!e)
        return;
    for (unsigned i = 0; i < e->max; i++) {
        struct engine_ref *ref = e->slots[i].ref;
        if (!ref)
            continue;
        e->slots[i].ref = NULL;
        pthread_mutex_lock(&ref->lock);
        pthread_mutex_unlock(&ref->lock);
        engine_ref_put(e, ref);
    }
    tre_truststore_free(e->trust);
    free(e->slots);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
