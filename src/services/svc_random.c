/* services/svc_random.c — TRE_SVC_RANDOM: random bytes from the host's kernel CSPRNG, for
 * programs built without a libc that can call getrandom. */
#include <errno.h>
#include <sys/random.h>

#include "trevisor/abi.h"
#include "services/services.h"

#define SVC_RANDOM_MAX (64u * 1024)

static long svc_random_call(const struct services_config *c, const struct svc_caller *caller,
                            uint64_t nr, const uint8_t *req, size_t req_len, uint8_t *out,
                            size_t cap)
{
    (void)c, (void)caller, (void)nr, (void)req;
    if (req_len)
        return -EINVAL;
    size_t n = cap > SVC_RANDOM_MAX ? SVC_RANDOM_MAX : cap;
    size_t done = 0;
    while (done < n) {
        ssize_t k = getrandom(out + done, n - done, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -EIO;
        }
        done += (size_t)k;
    }
    return (long)n;
}

const struct svc_module svc_random_module = {
    "random", TRE_SVC_RANDOM, TRE_SVC_RANDOM, svc_random_call,
};
