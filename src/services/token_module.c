/* services/token_module.c — the PKCS#11 modules of the process: each file is loaded
 * (dlopen), checked to be PKCS#11 2.x and C_Initialize'd once, shared by every struct token
 * that opens it, and finalised when the last one closes. The library itself stays mapped
 * (RTLD_NODELETE): PKCS#11 does not promise a module can be unloaded (atexit handlers,
 * thread-locals, caches of libcrypto objects), and the sanitizers need its symbols to name
 * its own leaks at exit (tests/lsan.supp); a later open re-initialises it. For the SoftHSM2
 * default it sets SOFTHSM2_CONF before C_Initialize and refuses a second configuration.
 * It must never finalise a module someone else in the process initialised. */
#include "services/token_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

static pthread_mutex_t token_modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct token_module *token_modules;

static void token_module_free(struct token_module *m)
{
    if (m == NULL)
        return;
    if (m->dl)
        dlclose(m->dl);
    free(m->path);
    free(m->conf);
    free(m);
}

/* The module at path, loaded and initialised (once per process). conf: the SoftHSM2
 * configuration the default needs, set as SOFTHSM2_CONF before C_Initialize. */
int token_module_get(const char *path, const char *conf, struct token_module **out,
                     char *err, size_t errlen)
{
    struct token_module *m;
    CK_C_GetFunctionList getfl;
    CK_C_INITIALIZE_ARGS args;
    char real[PATH_MAX];
    CK_RV rv;
    int rc;

    *out = NULL;
    /* one entry per file, however it is named (Debian's path is a symlink) */
    if (strchr(path, '/') != NULL && realpath(path, real) != NULL)
        path = real;
    pthread_mutex_lock(&token_modules_lock);
    for (m = token_modules; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0)
            break;
    if (m != NULL) {
        /* an explicit path shares whatever is loaded; the default needs its own config */
        if (conf != NULL && (m->conf == NULL || strcmp(conf, m->conf) != 0)) {
            rc = errf(err, errlen, -EBUSY, "token: %s is already in use in this process with "
                      "another configuration (one SoftHSM2 state directory per process)", path);
            goto unlock;
        }
        m->refs++;
        *out = m;
        rc = 0;
        goto unlock;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL ||
        (conf != NULL && (m->conf = strdup(conf)) == NULL)) {
        rc = errf(err, errlen, -ENOMEM, "token: out of memory");
        goto fail;
    }
    /* process-global: SoftHSM2 reads it in C_Initialize (documented in token.h) */
    if (conf != NULL && setenv("SOFTHSM2_CONF", conf, 1) < 0) {
        rc = errf(err, errlen, -errno, "token: setenv SOFTHSM2_CONF: %s", strerror(errno));
        goto fail;
    }
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (m->dl == NULL) {
        const char *why = dlerror();
        rc = (strchr(path, '/') == NULL || access(path, F_OK) < 0) ? -ENOENT : -EIO;
        errf(err, errlen, rc, "token: cannot load PKCS#11 module %s: %s", path,
             why ? why : "dlopen failed");
        goto fail;
    }
    *(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
    if (getfl == NULL) {
        rc = errf(err, errlen, -EIO, "token: %s is not a PKCS#11 module (no C_GetFunctionList)",
                  path);
        goto fail;
    }
    rv = getfl(&m->f);
    if (rv != CKR_OK || m->f == NULL) {
        rc = token_fail(NULL, "C_GetFunctionList", rv != CKR_OK ? rv : CKR_GENERAL_ERROR,
                        err, errlen);
        goto fail;
    }
    if (m->f->version.major < 2) {
        rc = errf(err, errlen, -EIO, "token: %s implements PKCS#11 %u.%u, not 2.x", path,
                  m->f->version.major, m->f->version.minor);
        goto fail;
    }
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->f->C_Initialize(&args);
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        m->finalize = 0;     /* someone else in this process owns it */
    } else if (rv != CKR_OK) {
        rc = token_fail(NULL, "C_Initialize", rv, err, errlen);
        goto fail;
    } else {
        m->finalize = 1;
    }
    m->refs = 1;
    m->next = token_modules;
    token_modules = m;
    *out = m;
    rc = 0;
    goto unlock;
fail:
    token_module_free(m);
unlock:
    pthread_mutex_unlock(&token_modules_lock);
    return rc;
}

void token_module_put(struct token_module *m)
{
    struct token_module **pp;

    if (m == NULL)
        return;
    pthread_mutex_lock(&token_modules_lock);
    if (--m->refs == 0) {
        for (pp = &token_modules; *pp != NULL; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        if (m->finalize)
            m->f->C_Finalize(NULL);
        token_module_free(m);
    }
    pthread_mutex_unlock(&token_modules_lock);
}
