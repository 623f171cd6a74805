/* cli/cmd_exec.c — `trevisor inspect` (what an image is and what loading it would do) and
 * `trevisor exec` (run a program in-process through the engine API and call it). It owns
 * command lines and output formats only; every check is the engine's. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "cli/commands.h"
#include "cli/tre_setup.h"
#include "trevisor/abi.h"
#include "trevisor/engine.h"
#include "tre/elf.h"
#include "tre/manifest.h"
#include "tre/syscall_sites.h"
#include "util/file.h"

#define EXEC_MAX_IMAGE (256u << 20)
#define EXEC_MAX_SIG   (16u << 10)
#define EXEC_MAX_CALLS 64

static const char inspect_usage[] =
    "usage: trevisor inspect IMAGE\n"
    "  parse a TRE image as the engine would and show its manifest, SHA-256, segments\n"
    "  and the syscall instructions the loader would rewrite. Checks no signature.\n";

static const char exec_usage[] =
    "usage: trevisor exec IMAGE [-x SIG] [--config DIR] [--trust PUB]... [--budget-ms N]\n"
    "                     [--call PROC [ARG]... [--result SIZE [--out FILE]]... [--int]]...\n"
    "  verify IMAGE (signature SIG, default IMAGE.minisig) against the vendor keys in\n"
    "  DIR/vendors (and any --trust PUB), run it in its own KVM instance, make the calls\n"
    "  in order, print each return value and result, then end the instance.\n"
    "  ARG:  --arg-int N     a 4-byte little-endian int32\n"
    "        --arg-hex HEX   bytes given in hex\n"
    "        --arg-file F    the bytes of file F\n"
    "  --result SIZE   a result buffer of SIZE bytes (printed in hex, or with --int as\n"
    "                  int32 when 4 bytes; --out FILE writes it raw to FILE instead)\n"
    "  --budget-ms N   CPU time per call (default 5000)\n"
    "  With any of the options below the program gets the TRE services (measurement,\n"
    "  quotes, sealing, the token); without them it gets none (-ENODEV) and nothing is\n"
    "  measured:\n"
    TRE_SETUP_USAGE
    "  This is the engine in-process (hosted development use): it isolates the program\n"
    "  from this command, not from the host's root.\n";

static int cli_fail(const char *what, int r)
{
    fprintf(stderr, "trevisor: %s: %s\n", what, strerror(-r));
    return 1;
}

static const char *exec_kind(uint32_t f)
{
    static const char *k[] = { "---", "--X", "-W-", "-WX", "R--", "R-X", "RW-", "RWX" };
    return k[((f & 4) ? 4 : 0) | ((f & 2) ? 2 : 0) | ((f & 1) ? 1 : 0)];
}

int cmd_inspect(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        int help = argc == 2 && !strcmp(argv[1], "--help");
        fputs(inspect_usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    char *img;
    size_t len;
    int r = file_read_all(argv[1], EXEC_MAX_IMAGE, &img, &len);
    if (r)
        return cli_fail(argv[1], r);
    char err[256];
    struct tre_elf elf;
    struct tre_manifest m;
    int rc = 1;
    if (tre_elf_parse((uint8_t *)img, len, &elf, err, sizeof err)) {
        fprintf(stderr, "trevisor: %s: %s\n", argv[1], err);
        goto out;
    }
    if (tre_manifest_parse(elf.manifest, elf.manifest_len, &m, err, sizeof err)) {
        fprintf(stderr, "trevisor: %s: %s\n", argv[1], err);
        goto out;
    }
    uint8_t sha[32];
    SHA256((uint8_t *)img, len, sha);
    char text[8192];
    tre_manifest_format(&m, text, sizeof text);
    printf("image:    %s (%zu bytes)\nsha256:   ", argv[1], len);
    for (int i = 0; i < 32; i++)
        printf("%02x", sha[i]);
    printf("\ntype:     %s, entry 0x%llx\n%s", elf.pie ? "static-pie" : "static",
           (unsigned long long)elf.entry, text);
    if (text[0] && text[strlen(text) - 1] != '\n')
        putchar('\n');
    size_t total = 0;
    for (unsigned i = 0; i < elf.nloads; i++) {
        const struct tre_elf_load *l = &elf.loads[i];
        printf("segment:  0x%08llx +0x%llx %s", (unsigned long long)l->vaddr,
               (unsigned long long)l->memsz, exec_kind(l->flags));
        if (l->flags & 1) {
            struct tre_syscall_scan scan;
            r = tre_syscall_sites_scan((uint8_t *)img + l->offset, l->filesz, l->vaddr, &scan,
                                       err, sizeof err);
            if (r) {
                printf("\n");
                fprintf(stderr, "trevisor: %s: %s\n", argv[1], err);
                goto out;
            }
            printf("  %zu syscall sites, %zu data-like 0f 05 left alone, %zu 0f 05 pairs",
                   scan.nsites, scan.ndata, scan.pairs);
            total += scan.nsites;
            tre_syscall_scan_free(&scan);
        }
        printf("\n");
    }
    printf("syscalls: %zu sites rewritten at load\n", total);
    rc = 0;
out:
    free(img);
    return rc;
}

struct exec_buf {
    uint8_t *data;
    size_t len;
    const char *out;   /* results: write here instead of printing */
};

struct exec_call {
    int proc;
    int as_int;
    int nargs, nres;
    struct exec_buf args[TRE_MAX_BUFS], res[TRE_MAX_BUFS];
};

static int exec_parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

static int exec_hex(const char *s, struct exec_buf *b)
{
    size_t n = strlen(s);
    if (n % 2)
        return -EINVAL;
    b->data = malloc(n / 2 + 1);
    if (!b->data)
        return -ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        b->data[i] = (uint8_t)v;
    }
    b->len = n / 2;
    return 0;
}

static void exec_print_result(const struct exec_call *c, int k, const struct iovec *v)
{
    const struct exec_buf *b = &c->res[k];
    if (b->out) {
        FILE *f = fopen(b->out, "wb");
        if (!f || fwrite(v->iov_base, 1, v->iov_len, f) != v->iov_len)
            fprintf(stderr, "trevisor: cannot write %s\n", b->out);
        if (f)
            fclose(f);
        printf("  result %d: %zu bytes -> %s\n", k, v->iov_len, b->out);
        return;
    }
    if (c->as_int && v->iov_len == 4) {
        int32_t x;
        memcpy(&x, v->iov_base, 4);
        printf("  result %d: %d\n", k, x);
        return;
    }
    printf("  result %d: %zu bytes: ", k, v->iov_len);
    for (size_t i = 0; i < v->iov_len; i++)
        printf("%02x", ((uint8_t *)v->iov_base)[i]);
    printf("\n");
}

int cmd_exec(int argc, char **argv)
{
    const char *image = NULL, *sig = NULL, *config = NULL;
    const char *trust[16];
    int ntrust = 0, ncalls = 0, rc = 2;
    long long budget = 0;
    static struct exec_call calls[EXEC_MAX_CALLS];
    memset(calls, 0, sizeof calls);
    struct exec_call *cur = NULL;
    struct tre_setup_opts so = { 0 };
    struct tre_setup ts;
    memset(&ts, 0, sizeof ts);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(exec_usage, stdout);
            return 0;
        }
        if (a[0] != '-') {
            if (image) {
                fprintf(stderr, "trevisor: exec: more than one image\n");
                goto usage;
            }
            image = a;
            continue;
        }
        if (!strcmp(a, "--int")) {
            if (!cur)
                goto nocall;
            cur->as_int = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "trevisor: exec: %s needs a value\n", a);
            goto usage;
        }
        i++;
        int t = tre_setup_option(&so, a, v);
        if (t < 0)
            goto usage;
        if (t)
            continue;
        if (!strcmp(a, "-x")) {
            sig = v;
        } else if (!strcmp(a, "--config")) {
            config = v;
        } else if (!strcmp(a, "--trust")) {
            if (ntrust == 16)
                goto usage;
            trust[ntrust++] = v;
        } else if (!strcmp(a, "--budget-ms")) {
            if (exec_parse_long(v, 1, 3600000, &budget))
                goto bad;
        } else if (!strcmp(a, "--call")) {
            if (ncalls == EXEC_MAX_CALLS || exec_parse_long(v, INT_MIN, INT_MAX, &n))
                goto bad;
            cur = &calls[ncalls++];
            cur->proc = (int)n;
        } else if (!strncmp(a, "--arg-", 6) || !strcmp(a, "--result") || !strcmp(a, "--out")) {
            if (!cur)
                goto nocall;
            if (!strcmp(a, "--out")) {
                if (!cur->nres)
                    goto bad;
                cur->res[cur->nres - 1].out = v;
                continue;
            }
            if (cur->nargs + cur->nres == TRE_MAX_BUFS) {
                fprintf(stderr, "trevisor: exec: at most %d buffers per call\n", TRE_MAX_BUFS);
                goto usage;
            }
            if (!strcmp(a, "--result")) {
                if (exec_parse_long(v, 0, 64 << 20, &n))
                    goto bad;
                struct exec_buf *b = &cur->res[cur->nres++];
                b->len = (size_t)n;
                b->data = calloc(1, b->len + 1);
                continue;
            }
            struct exec_buf *b = &cur->args[cur->nargs++];
            if (!strcmp(a, "--arg-int")) {
                if (exec_parse_long(v, INT_MIN, UINT32_MAX, &n))
                    goto bad;
                int32_t x = (int32_t)n;
                b->data = malloc(4);
                memcpy(b->data, &x, 4);
                b->len = 4;
            } else if (!strcmp(a, "--arg-hex")) {
                if (exec_hex(v, b))
                    goto bad;
            } else if (!strcmp(a, "--arg-file")) {
                char *d;
                int r = file_read_all(v, 64u << 20, &d, &b->len);
                if (r)
                    return cli_fail(v, r);
                b->data = (uint8_t *)d;
            } else {
                fprintf(stderr, "trevisor: exec: unknown option %s\n", a);
                goto usage;
            }
        } else {
            fprintf(stderr, "trevisor: exec: unknown option %s\n", a);
            goto usage;
        }
        continue;
    bad:
        fprintf(stderr, "trevisor: exec: bad value for %s: '%s'\n", a, v);
        goto usage;
    nocall:
        fprintf(stderr, "trevisor: exec: %s must follow --call PROC\n", a);
        goto usage;
    }
    if (!image)
        goto usage;

    char sigpath[PATH_MAX], dir[PATH_MAX], err[512];
    if (!sig) {
        snprintf(sigpath, sizeof sigpath, "%s.minisig", image);
        sig = sigpath;
    }
    snprintf(dir, sizeof dir, "%s/vendors", cli_config_dir(config));
    char *img = NULL, *sigtext = NULL;
    size_t ilen, slen;
    int r = file_read_all(image, EXEC_MAX_IMAGE, &img, &ilen);
    if (r)
        return cli_fail(image, r);
    r = file_read_all(sig, EXEC_MAX_SIG, &sigtext, &slen);
    if (r) {
        free(img);
        return cli_fail(sig, r);
    }
    struct tre_engine_config cfg = { .trust_dir = dir, .cpu_budget_ms = (uint64_t)budget };
    struct tre_engine *e = NULL;
    rc = 1;
    if (so.enabled) {
        char conf_text[512];
        snprintf(conf_text, sizeof conf_text, "exec budget-ms=%lld", budget);
        if (tre_setup_start(&so, cli_config_dir(config), conf_text, &ts, err, sizeof err)) {
            fprintf(stderr, "trevisor: exec: %s\n", err);
            goto out;
        }
        cfg.services = ts.services;
    }
    if (tre_engine_new(&cfg, &e, err, sizeof err)) {
        fprintf(stderr, "trevisor: %s\n", err);
        goto out;
    }
    for (int t = 0; t < ntrust; t++) {
        char *pub;
        size_t plen;
        r = file_read_all(trust[t], 64 << 10, &pub, &plen);
        if (r) {
            cli_fail(trust[t], r);
            goto out;
        }
        r = tre_engine_trust(e, pub, plen, err, sizeof err);
        free(pub);
        if (r) {
            fprintf(stderr, "trevisor: %s: %s\n", trust[t], err);
            goto out;
        }
    }
    /* the policy measured is the one in force: the store and the --trust keys */
    if (so.enabled && (tre_setup_policy(&ts, e, cli_config_dir(config), err, sizeof err) ||
                       tre_setup_launched(&ts, err, sizeof err))) {
        fprintf(stderr, "trevisor: exec: %s\n", err);
        goto out;
    }
    struct tre_exec_info info;
    int desc = tre_engine_exec(e, img, ilen, sigtext, slen, &info, err, sizeof err);
    if (desc < 0) {
        fprintf(stderr, "trevisor: exec %s: %s\n", image, err[0] ? err : strerror(-desc));
        goto out;
    }
    printf("%s: %s version %u svn %u, key %s, sha256 %s, descriptor %d\n", image, info.name,
           info.version, info.svn, info.keyid, info.sha256_hex, desc);
    rc = 0;
    for (int c = 0; c < ncalls; c++) {
        struct exec_call *k = &calls[c];
        struct iovec args[TRE_MAX_BUFS], res[TRE_MAX_BUFS];
        for (int i = 0; i < k->nargs; i++)
            args[i] = (struct iovec){ k->args[i].data, k->args[i].len };
        for (int i = 0; i < k->nres; i++)
            res[i] = (struct iovec){ k->res[i].data, k->res[i].len };
        r = tre_engine_rpc(e, desc, k->proc, args, k->nargs, res, k->nres);
        if (r < 0 && r >= -4095 && (r == -EBADF || r == -EFAULT || r == -ETIMEDOUT ||
                                    r == -ESRCH || r == -EPROTO || r == -E2BIG)) {
            printf("call %d: failed: %s\n", k->proc, strerror(-r));
            rc = 1;
            continue;
        }
        printf("call %d -> %d\n", k->proc, r);
        for (int i = 0; i < k->nres; i++)
            exec_print_result(k, i, &res[i]);
    }
    tre_engine_close(e, desc);
out:
    tre_engine_free(e);
    tre_setup_stop(&ts);
    free(img);
    free(sigtext);
    for (int c = 0; c < ncalls; c++) {
        for (int i = 0; i < calls[c].nargs; i++)
            free(calls[c].args[i].data);
        for (int i = 0; i < calls[c].nres; i++)
            free(calls[c].res[i].data);
    }
    return rc;
usage:
    fputs(exec_usage, stderr);
    return 2;
}
