/* apps/sigaccel/sigaccel_tre.c — the sigaccel TRE program: its manifest (it asks for the
 * token key "sig"), and a main that binds sigaccel_core to the TRE services (sealing and
 * the token, through the SDK's doorbell wrappers) and serves its RPC. No key exists until
 * the first INIT. */
#include <string.h>
#include "sigaccel_core.h"

TRE_MANIFEST("name=sigaccel\0version=1\0svn=1\0mem=16M\0window=256K\0cap=token:sig");

static void sigaccel_tre_log(const char *line)
{
    tre_log(line, strlen(line));
}

static const struct sigaccel_ops sigaccel_tre_ops = {
    .seal = tre_seal,
    .unseal = tre_unseal,
    .token_pubkey = tre_token_pubkey,
    .token_sign = tre_token_sign,
    .log = sigaccel_tre_log,
};

int main(void)
{
    if (sigaccel_setup(&sigaccel_tre_ops) != 0) {
        sigaccel_tre_log("sigaccel: OpenSSL set-up failed");
        return 1;
    }
    sigaccel_tre_log("sigaccel: ready (INIT makes or unseals the fast key)");
    return tre_serve(sigaccel_handler);
}
