/* tests/p11fail.c — a PKCS#11 wrapper module for the token tests: it loads the real module
 * named by $P11FAIL_MODULE (SoftHSM2) and hands out its function list unchanged, except
 * that while the file named by $P11FAIL_TRIGGER exists, C_Sign, C_Decrypt,
 * C_GenerateRandom and C_FindObjectsInit return CKR_DEVICE_REMOVED: a *simulated* removal
 * of the token (nothing is removed; the real module and its sessions go on). Built as a
 * shared library, never sanitized, and used only by tests. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static pthread_mutex_t p11fail_lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST_PTR p11fail_real;   /* the real module's list */
static CK_FUNCTION_LIST p11fail_list;       /* what we hand out */

/* 1 while the trigger file exists: the simulated removal */
static int p11fail_removed(void)
{
    const char *trigger = getenv("P11FAIL_TRIGGER");

    return trigger != NULL && *trigger != '\0' && access(trigger, F_OK) == 0;
}

static CK_RV p11fail_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len,
                          CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    if (p11fail_removed())
        return CKR_DEVICE_REMOVED;
    return p11fail_real->C_Sign(s, data, len, sig, siglen);
}

static CK_RV p11fail_decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG len,
                             CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    if (p11fail_removed())
        return CKR_DEVICE_REMOVED;
    return p11fail_real->C_Decrypt(s, in, len, out, outlen);
}

static CK_RV p11fail_random(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len)
{
    if (p11fail_removed())
        return CKR_DEVICE_REMOVED;
    return p11fail_real->C_GenerateRandom(s, out, len);
}

static CK_RV p11fail_find_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    if (p11fail_removed())
        return CKR_DEVICE_REMOVED;
    return p11fail_real->C_FindObjectsInit(s, tmpl, n);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    CK_RV rv = CKR_OK;

    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&p11fail_lock);
    if (p11fail_real == NULL) {
        const char *path = getenv("P11FAIL_MODULE");
        CK_C_GetFunctionList get;
        void *dl;

        if (path == NULL || *path == '\0') {
            rv = CKR_GENERAL_ERROR;           /* the tests always set it */
            goto out;
        }
        dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (dl == NULL) {
            rv = CKR_GENERAL_ERROR;
            goto out;
        }
        *(void **)&get = dlsym(dl, "C_GetFunctionList");
        if (get == NULL || (rv = get(&p11fail_real)) != CKR_OK || p11fail_real == NULL) {
            p11fail_real = NULL;
            dlclose(dl);
            rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
            goto out;
        }
        /* kept loaded for the life of the process */
        p11fail_list = *p11fail_real;
        p11fail_list.C_GetFunctionList = C_GetFunctionList;
        p11fail_list.C_Sign = p11fail_sign;
        p11fail_list.C_Decrypt = p11fail_decrypt;
        p11fail_list.C_GenerateRandom = p11fail_random;
        p11fail_list.C_FindObjectsInit = p11fail_find_init;
    }
    *list = &p11fail_list;
out:
    pthread_mutex_unlock(&p11fail_lock);
    return rv;
}
