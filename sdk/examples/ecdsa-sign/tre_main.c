/* sdk/examples/ecdsa-sign/tre_main.c — the ecdsa-sign TRE program: its manifest, and a main
 * that makes the key before the first wait, then serves signer_handler. */
#include <string.h>
#include "signer.h"

TRE_MANIFEST("name=ecdsa-sign\0version=1\0svn=1\0mem=32M\0window=64K");

int main(void)
{
    static const char fail[] = "ecdsa-sign: key generation failed";
    static const char ready[] = "ecdsa-sign: P-256 key ready";

    if (signer_init() != 0) {
        tre_log(fail, strlen(fail));
        return 1;
    }
    tre_log(ready, strlen(ready));
    return tre_serve(signer_handler);
}
