/* bench/bench_sigaccel.c — issue 6's anchors in one run, as signatures per second:
 * (a) the token itself through PKCS#11 (SoftHSM2 here: software), (b) apps/sigaccel in the
 * TRE called by its client over libtre, (c) the same signing code natively; and the ratio
 * to a hardware token, whose figure is published (not measured here): Yubico's YubiHSM 2
 * device specifications give about 73 ms per ECDSA P-256 signature on an idle host. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "bench.h"
#include "door/unix_door.h"
#include "measure/measured.h"
#include "services/grants.h"
#include "services/services.h"
#include "services/token.h"
#include "trevisor/abi.h"
#include "trevisor/engine.h"
#include "tre/minisign.h"
#include "util/file.h"

/* https://docs.yubico.com/hardware/yubihsm-2/hsm-2-user-guide/hsm2-device-specs.html,
 * "Performance": ECDSA P-256 signing ~73 ms */
#define HW_TOKEN_MS_PER_SIG 73.0

static double popen_rate(const char *cmd)
{
    char line[256];
    double rate = 0;
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p))
        sscanf(line, "%lf signatures/s", &rate);
    if (p)
        pclose(p);
    return rate;
}

void bench_sigaccel(void)
{
    char dir[] = "/tmp/tv-sa-XXXXXX", err[512], cmd[1024], gtext[128];
    if (!mkdtemp(dir))
        return;
    struct measured *m = NULL;
    struct token *tok = NULL;
    struct grants *g = NULL;
    struct tre_services *svc = NULL;
    struct tre_engine *e = NULL;
    struct measured_config mc = { .kind = TPM_SWTPM, .state_dir = dir };
    struct token_config tc = { .state_dir = dir };
    if (measured_open(&mc, &m, err, sizeof err) || measured_self(m, err, sizeof err) ||
        measured_end_launch(m, err, sizeof err) || token_open(&tc, &tok, err, sizeof err)) {
        fprintf(stderr, "bench: skipping the sigaccel figures (no swtpm or SoftHSM2): %s\n",
                err);
        goto out;
    }
    /* (a) the token itself */
    uint8_t dg[32], sig[128];
    SHA256((const uint8_t *)"bench", 5, dg);
    int n = 0;
    double t0 = now_us();
    while (now_us() - t0 < 2e6) {
        if (token_sign(tok, "sig", TRE_TOKEN_ECDSA_SHA256, dg, 32, sig, sizeof sig, err,
                       sizeof err) < 0) {
            fprintf(stderr, "bench: token: %s\n", err);
            goto out;
        }
        n++;
    }
    double token_rate = n / ((now_us() - t0) / 1e6);

    /* the TRE: the demo vendor is granted the "sig" key */
    char p[512], *pub = NULL;
    size_t len;
    struct tre_pubkey pk;
    snprintf(p, sizeof p, "%s/vendor/demo.pub", build);
    if (file_read_all(p, 1 << 16, &pub, &len) || tre_pubkey_parse(pub, len, &pk, err, sizeof err)) {
        fprintf(stderr, "bench: %s\n", p);
        free(pub);
        goto out;
    }
    free(pub);
    char kid[17];
    tre_keyid_hex(pk.keyid, kid);
    snprintf(gtext, sizeof gtext, "grant %s sig\n", kid);
    struct services_config sc = { .measured = m, .token = tok };
    if (grants_parse(gtext, strlen(gtext), &g, err, sizeof err))
        goto out;
    sc.grants = g;
    services_new(&sc, &svc);
    struct tre_engine_config ec = { .services = svc };
    if (tre_engine_new(&ec, &e, err, sizeof err))
        goto out;
    snprintf(p, sizeof p, "%s/vendor/demo.pub", build);
    if (!file_read_all(p, 1 << 16, &pub, &len)) {
        tre_engine_trust(e, pub, len, err, sizeof err);
        free(pub);
    }
    char sock[128];
    snprintf(sock, sizeof sock, "%s/tre.sock", dir);
    struct unix_door_config dc = { .path = sock, .group = (gid_t)-1 };
    struct unix_door *door = NULL;
    int stop[2];
    if (unix_door_open(&dc, e, &door, err, sizeof err) || pipe(stop)) {
        fprintf(stderr, "bench: %s\n", err);
        goto out;
    }
    void *args[2] = { door, &stop[0] };
    pthread_t th;
    pthread_create(&th, NULL, bench_door_main, args);
    double tre64, tre1, nat64, nat1;
    snprintf(cmd, sizeof cmd, "TREVISOR_SOCKET=%s SIGACCEL_IMAGE=%s/progs/sigaccel "
             "%s/apps/sigaccel --state %s/sa bench --seconds 2 --batch 64 2>/dev/null", sock,
             build, build, dir);
    tre64 = popen_rate(cmd);
    snprintf(cmd, sizeof cmd, "TREVISOR_SOCKET=%s SIGACCEL_IMAGE=%s/progs/sigaccel "
             "%s/apps/sigaccel --state %s/sa bench --seconds 2 --batch 1 2>/dev/null", sock,
             build, build, dir);
    tre1 = popen_rate(cmd);
    if (write(stop[1], "x", 1) != 1)
        perror("write");
    pthread_join(th, NULL);
    unix_door_free(door);
    close(stop[0]);
    close(stop[1]);
    snprintf(cmd, sizeof cmd, "%s/progs/sigaccel-native --bench 2 --batch 64", build);
    nat64 = popen_rate(cmd);
    snprintf(cmd, sizeof cmd, "%s/progs/sigaccel-native --bench 2 --batch 1", build);
    nat1 = popen_rate(cmd);

    double hw = 1000.0 / HW_TOKEN_MS_PER_SIG;
    add("sigaccel: the TRE from its client (libtre, 64 digests a call)", tre64, "sig/s",
        "the same code native, 64 a call", nat64, ">=0.8");
    add("sigaccel: the TRE from its client (libtre, 1 digest a call)", tre1, "sig/s",
        "the same code native, 1 a call", nat1, "report");
    add("sigaccel: the TRE (64 a call) vs a hardware token", tre64, "sig/s",
        "YubiHSM 2, ECDSA P-256, published ~73 ms", hw, ">=500");
    add("sigaccel: the TRE (64 a call) vs the token through PKCS#11", tre64, "sig/s",
        "SoftHSM2 (software) ECDSA P-256 via PKCS#11", token_rate, "report");
    add("the token directly through PKCS#11 (SoftHSM2, software)", token_rate, "sig/s",
        "YubiHSM 2, ECDSA P-256, published ~73 ms", hw, "report");
out:
    tre_engine_free(e);
    services_free(svc);
    grants_free(g);
    token_close(tok);
    measured_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        fprintf(stderr, "bench: cannot remove %s\n", dir);
}
