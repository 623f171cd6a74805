/* client/tre.c — the `tre` command: libtre from the shell. exec, call and close, chained
 * with `--` in one process so that descriptors outlive the command that made them (they
 * belong to the connection, which ends when tre exits). It owns command lines and output
 * formats only: every request goes through libtre, and it never prints trevisor's or a
 * program's bytes except as hex, numbers or libtre's sanitised text. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trevisor/client.h"
#include "trevisor/proto.h"
#include "util/hex.h"

#define TRE_CMD_MAX_CHAIN 256

enum { TRE_CMD_EXEC, TRE_CMD_CALL, TRE_CMD_CLOSE };

struct tre_cmd_buf {
    int kind;              /* args: 'i' int, 'h' hex, 'f' file; results: 'r' */
    const char *text;      /* the value as given */
    uint8_t *data;
    size_t len;
    const char *out;       /* results: write raw here instead of printing */
};

struct tre_cmd {
    int kind;
    const char *image, *sig;            /* exec */
    const char *desc_text;              /* call, close: as given */
    int exec_ref;                       /* -1: desc is literal; else index of the exec */
    int desc, proc, as_int;
    int nargs, nres;
    struct tre_cmd_buf args[TRE_CLIENT_MAX_BUFS], res[TRE_CLIENT_MAX_BUFS];
};

static const char tre_usage[] =
    "usage: tre [--socket ADDR] COMMAND [ARGS] [-- COMMAND [ARGS]]...\n"
    "  A client of trevisor: start signed TRE programs, call them, end them.\n"
    "\n"
    "  exec IMAGE [SIG]        start IMAGE (signature SIG, default IMAGE.minisig) in its\n"
    "                          own instance; print its descriptor and measurement\n"
    "  call DESC PROC [--arg-int N | --arg-hex HEX | --arg-file F]...\n"
    "                 [--result SIZE [--out FILE]]... [--int]\n"
    "                          call procedure PROC of program DESC\n"
    "  close DESC              end program DESC\n"
    "  attest --nonce HEX [--report HEX] [--out FILE]\n"
    "                          a TPM quote of what trevisor measured (alone, not chained);\n"
    "                          the bundle goes to FILE, or as hex to stdout, for\n"
    "                          `trevisor verify --bundle` (docs/attestation.md)\n"
    "  help [COMMAND]          this text, or one command's\n"
    "\n"
    "  A descriptor belongs to the connection that made it, and trevisor ends a\n"
    "  connection's programs when it closes: when tre exits. So commands chain with --\n"
    "  and run in order in one process; as DESC, @ is the descriptor of the last exec on\n"
    "  the command line and @N that of the N-th:\n"
    "    tre exec add -- call @ 0 --arg-int 40 --arg-int 2 --result 4 --int -- close @\n"
    "  A chain stops at its first failing command.\n"
    "\n"
    "  trevisor's address: --socket ADDR, else $TREVISOR_SOCKET, else\n"
    "  " TRE_PROTO_DEFAULT_SOCKET ". ADDR: a Unix socket path, vsock:CID or vsock:CID:PORT.\n"
    "  Exit status: 0 success, 1 an error from trevisor or the program (a negative\n"
    "  return) or a file, 2 a usage error.\n"
    "  Hosted mode isolates TRE programs from the programs that call them, not from the\n"
    "  host's root.\n";

static const char tre_exec_usage[] =
    "usage: tre exec IMAGE [SIG]\n"
    "  Sends IMAGE and its minisign signature SIG (default IMAGE.minisig) to trevisor,\n"
    "  which verifies them against its vendor keys and starts the program in its own\n"
    "  instance. Prints the descriptor and what trevisor measured:\n"
    "    descriptor N\n    name NAME\n    version V\n    svn S\n    key KEYID\n"
    "    sha256 HEX\n"
    "  The program ends when tre exits: chain calls after it with -- (see tre help).\n";

static const char tre_call_usage[] =
    "usage: tre call DESC PROC [ARG]... [--result SIZE [--out FILE]]... [--int]\n"
    "  Calls procedure PROC of program DESC (a number, or @ / @N for an exec earlier on\n"
    "  the command line). At most 16 arguments and results in all.\n"
    "  ARG:  --arg-int N     a 4-byte little-endian int32\n"
    "        --arg-hex HEX   bytes given in hex\n"
    "        --arg-file F    the bytes of file F\n"
    "  --result SIZE   a result buffer of SIZE bytes, printed in hex\n"
    "  --out FILE      (after --result) write that result raw to FILE instead\n"
    "  --int           print 4-byte results as decimal int32\n"
    "  Prints \"return N\" and one line per result: \"result K: N bytes: HEX\",\n"
    "  \"result K: INT\" or \"result K: N bytes -> FILE\". A negative return is an error\n"
    "  (exit status 1): trevisor's (bad descriptor, the program faulted, ran out of CPU\n"
    "  budget, ended) or the program's own.\n";

static const char tre_close_usage[] =
    "usage: tre close DESC\n"
    "  Ends program DESC (a number, or @ / @N); trevisor wipes its memory.\n";

/* ---- small helpers ---- */

__attribute__((format(printf, 1, 2)))
static int tre_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tre: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see tre --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int tre_parse_ll(const char *s, int base, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

static int tre_hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int tre_hex_check(const char *s)
{
    size_t n = strlen(s);
    if (n % 2 || n / 2 > TRE_PROTO_MAX_DATA)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (tre_hex_value(s[i]) < 0)
            return -EINVAL;
    return 0;
}

/* Reads a whole file of at most max bytes: 0, -EFBIG, -ENOMEM or -errno. */
static int tre_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    size_t cap = S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max ? (size_t)st.st_size + 1
                                                                     : 65536;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                r = -EFBIG;
                goto out;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                r = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = -errno;
            free(buf);
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > max) {
        free(buf);
        r = -EFBIG;
        goto out;
    }
    *data = buf;
    *len = n;
out:
    close(fd);
    return r;
}

static int tre_file_error(const char *path, int r)
{
    fprintf(stderr, "tre: %s: %s\n", path, r == -EFBIG ? "too large" : strerror(-r));
    return 1;
}

/* One line: libtre's meaning of r, then its detail for this call if it has one. */
static int tre_call_error(const char *what, int r)
{
    const char *detail = tre_last_error();
    fprintf(stderr, "tre: %s: %s%s%s\n", what, tre_strerror(r), detail[0] ? ": " : "",
            detail);
    return 1;
}

/* ---- parsing ---- */

static const char *tre_cmd_help(const char *name)
{
    if (!strcmp(name, "exec"))
        return tre_exec_usage;
    if (!strcmp(name, "call"))
        return tre_call_usage;
    if (!strcmp(name, "close"))
        return tre_close_usage;
    return NULL;
}

static int tre_parse_desc(const char *s, int nexec, struct tre_cmd *c)
{
    long long v;
    c->desc_text = s;
    c->exec_ref = -1;
    if (s[0] == '@') {
        if (!s[1]) {
            if (!nexec)
                return tre_usage_error("%s: no exec before it on the command line", s);
            c->exec_ref = nexec - 1;
            return 0;
        }
        if (s[1] < '1' || s[1] > '9' || tre_parse_ll(s + 1, 10, 1, INT_MAX, &v))
            return tre_usage_error("bad descriptor '%s'", s);
        if (v > nexec)
            return tre_usage_error("%s: there are not that many execs before it", s);
        c->exec_ref = (int)v - 1;
        return 0;
    }
    if (s[0] < '0' || s[0] > '9' || tre_parse_ll(s, 10, 0, INT_MAX, &v))
        return tre_usage_error("bad descriptor '%s' (a number, @ or @N)", s);
    c->desc = (int)v;
    return 0;
}

/* Parses one command (argv[0] is its name, argc words up to the next -- or the end). */
static int tre_parse_cmd(int argc, char **argv, int nexec, struct tre_cmd *c)
{
    const char *name = argv[0];
    memset(c, 0, sizeof *c);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            const char *h = tre_cmd_help(name);
            if (!h)
                break;
            fputs(h, stdout);
            return 1;
        }
    if (!strcmp(name, "exec")) {
        c->kind = TRE_CMD_EXEC;
        if (argc < 2 || argc > 3 || argv[1][0] == '-' || (argc == 3 && argv[2][0] == '-'))
            return tre_usage_error("usage: tre exec IMAGE [SIG]");
        c->image = argv[1];
        c->sig = argc == 3 ? argv[2] : NULL;
        return 0;
    }
    if (!strcmp(name, "close")) {
        c->kind = TRE_CMD_CLOSE;
        if (argc != 2)
            return tre_usage_error("usage: tre close DESC");
        return tre_parse_desc(argv[1], nexec, c);
    }
    if (strcmp(name, "call"))
        return tre_usage_error("unknown command '%s'", name);
    c->kind = TRE_CMD_CALL;
    if (argc < 3)
        return tre_usage_error("usage: tre call DESC PROC [OPTIONS]");
    int r = tre_parse_desc(argv[1], nexec, c);
    if (r)
        return r;
    long long v;
    if (tre_parse_ll(argv[2], 0, INT_MIN, INT_MAX, &v))
        return tre_usage_error("call: bad procedure number '%s'", argv[2]);
    c->proc = (int)v;
    uint64_t res_total = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--int")) {
            c->as_int = 1;
            continue;
        }
        if (strcmp(a, "--arg-int") && strcmp(a, "--arg-hex") && strcmp(a, "--arg-file") &&
            strcmp(a, "--result") && strcmp(a, "--out"))
            return tre_usage_error("call: unknown option '%s'", a);
        if (!val)
            return tre_usage_error("call: %s needs a value", a);
        i++;
        if (!strcmp(a, "--out")) {
            if (!c->nres || c->res[c->nres - 1].out)
                return tre_usage_error("call: --out %s must follow a --result of its own",
                                       val);
            c->res[c->nres - 1].out = val;
            continue;
        }
        if (c->nargs + c->nres == TRE_CLIENT_MAX_BUFS)
            return tre_usage_error("call: more than 16 arguments and results");
        if (!strcmp(a, "--result")) {
            if (tre_parse_ll(val, 0, 0, TRE_PROTO_MAX_DATA, &v))
                return tre_usage_error("call: bad --result size '%s'", val);
            res_total += (uint64_t)v;
            if (res_total > TRE_PROTO_MAX_DATA)
                return tre_usage_error("call: results of more than %u bytes in all",
                                       TRE_PROTO_MAX_DATA);
            c->res[c->nres++] = (struct tre_cmd_buf){ .kind = 'r', .text = val,
                                                      .len = (size_t)v };
            continue;
        }
        struct tre_cmd_buf *b = &c->args[c->nargs++];
        b->text = val;
        if (!strcmp(a, "--arg-int")) {
            if (tre_parse_ll(val, 0, INT32_MIN, UINT32_MAX, &v))
                return tre_usage_error("call: bad --arg-int '%s' (an int32)", val);
            b->kind = 'i';
        } else if (!strcmp(a, "--arg-hex")) {
            if (tre_hex_check(val))
                return tre_usage_error("call: bad --arg-hex '%s' (pairs of hex digits)",
                                       val);
            b->kind = 'h';
        } else {
            b->kind = 'f';
        }
    }
    return 0;
}

/* ---- running ---- */

static void tre_bufs_free(struct tre_cmd *c)
{
    for (int i = 0; i < c->nargs; i++) {
        free(c->args[i].data);
        c->args[i].data = NULL;
    }
    for (int i = 0; i < c->nres; i++) {
        free(c->res[i].data);
        c->res[i].data = NULL;
    }
}

static int tre_run_exec(struct tre_cmd *c, int *desc)
{
    char sigpath[PATH_MAX];
    const char *sig = c->sig;
    if (!sig) {
        if ((size_t)snprintf(sigpath, sizeof sigpath, "%s.minisig", c->image) >=
            sizeof sigpath)
            return tre_file_error(c->image, -ENAMETOOLONG);
        sig = sigpath;
    }
    uint8_t *img = NULL, *s = NULL;
    size_t ilen, slen;
    int r = tre_read_file(c->image, TRE_PROTO_MAX_IMAGE, &img, &ilen);
    if (r)
        return tre_file_error(c->image, r);
    r = tre_read_file(sig, TRE_PROTO_MAX_SIG, &s, &slen);
    if (r) {
        free(img);
        return tre_file_error(sig, r);
    }
    int d = vmmcall_tre_exec(img, ilen, s, slen);
    free(img);
    free(s);
    if (d < 0) {
        char what[PATH_MAX + 8];
        snprintf(what, sizeof what, "exec %s", c->image);
        return tre_call_error(what, d);
    }
    struct tre_program_info info;
    *desc = d;
    printf("descriptor %d\n", d);
    if (!tre_last_exec_info(&info))
        printf("name %s\nversion %u\nsvn %u\nkey %s\nsha256 %s\n", info.name, info.version,
               info.svn, info.keyid, info.sha256_hex);
    return 0;
}

static int tre_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    errno = 0;
    int r = fwrite(p, 1, n, f) == n ? 0 : -(errno ? errno : EIO);
    if (fclose(f) && !r)
        r = -(errno ? errno : EIO);
    return r;
}

static int tre_print_result(const struct tre_cmd *c, int k, const struct iovec *v)
{
    const struct tre_cmd_buf *b = &c->res[k];
    const uint8_t *p = v->iov_base;
    if (b->out) {
        int r = tre_write_file(b->out, p, v->iov_len);
        if (r) {
            fprintf(stderr, "tre: cannot write %s: %s\n", b->out, strerror(-r));
            return 1;
        }
        printf("result %d: %zu bytes -> %s\n", k, v->iov_len, b->out);
        return 0;
    }
    if (c->as_int && v->iov_len == 4) {
        int32_t x = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
        printf("result %d: %d\n", k, x);
        return 0;
    }
    printf("result %d: %zu bytes: ", k, v->iov_len);
    for (size_t i = 0; i < v->iov_len; i++)
        printf("%02x", p[i]);
    putchar('\n');
    return 0;
}

static int tre_run_call(struct tre_cmd *c)
{
    struct iovec args[TRE_CLIENT_MAX_BUFS], res[TRE_CLIENT_MAX_BUFS];
    int rc = 1, r;
    size_t arg_total = 0;
    for (int i = 0; i < c->nargs; i++) {
        struct tre_cmd_buf *b = &c->args[i];
        if (b->kind == 'f') {
            /* the protocol's limit is on all arguments together */
            r = tre_read_file(b->text, TRE_PROTO_MAX_DATA - arg_total, &b->data, &b->len);
            if (r == -EFBIG) {
                fprintf(stderr, "tre: %s: the arguments exceed the protocol's %u bytes\n",
                        b->text, TRE_PROTO_MAX_DATA);
                goto out;
            }
            if (r) {
                tre_file_error(b->text, r);
                goto out;
            }
        } else {
            size_t n = b->kind == 'i' ? 4 : strlen(b->text) / 2;
            b->data = malloc(n ? n : 1);
            if (!b->data) {
                fprintf(stderr, "tre: out of memory\n");
                goto out;
            }
            b->len = n;
            if (b->kind == 'i') {
                uint32_t x = (uint32_t)strtoll(b->text, NULL, 0);   /* checked when parsed */
                for (int k = 0; k < 4; k++)
                    b->data[k] = (uint8_t)(x >> (8 * k));
            } else {
                for (size_t k = 0; k < n; k++)
                    b->data[k] = (uint8_t)(tre_hex_value(b->text[2 * k]) << 4 |
                                           tre_hex_value(b->text[2 * k + 1]));
            }
        }
        arg_total += b->len;
        args[i] = (struct iovec){ b->data, b->len };
    }
    for (int i = 0; i < c->nres; i++) {
        struct tre_cmd_buf *b = &c->res[i];
        b->data = calloc(1, b->len ? b->len : 1);
        if (!b->data) {
            fprintf(stderr, "tre: out of memory\n");
            goto out;
        }
        res[i] = (struct iovec){ b->data, b->len };
    }
    r = vmmcall_tre_rpc(c->desc, c->proc, args, c->nargs, res, c->nres);
    if (r < 0) {
        char what[64];
        snprintf(what, sizeof what, "call %d %d: returned %d", c->desc, c->proc, r);
        tre_call_error(what, r);
        goto out;
    }
    printf("return %d\n", r);
    rc = 0;
    for (int i = 0; i < c->nres; i++)
        rc |= tre_print_result(c, i, &res[i]);
out:
    tre_bufs_free(c);
    return rc;
}

static int tre_run_close(struct tre_cmd *c)
{
    int r = vmmcall_tre_close(c->desc);
    if (r < 0) {
        char what[48];
        snprintf(what, sizeof what, "close %d", c->desc);
        return tre_call_error(what, r);
    }
    printf("closed %d\n", c->desc);
    return 0;
}

static int tre_run_attest(int argc, char **argv)
{
    uint8_t nonce[TRE_PROTO_MAX_NONCE], report[TRE_PROTO_MAX_REPORT];
    long nl = -1, rl = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return tre_usage_error("attest: %s needs a value", argv[i]);
        if (!strcmp(argv[i], "--nonce"))
            nl = hex_decode(argv[i + 1], nonce, sizeof nonce);
        else if (!strcmp(argv[i], "--report"))
            rl = hex_decode(argv[i + 1], report, sizeof report);
        else if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else
            return tre_usage_error("attest: unknown option '%s'", argv[i]);
    }
    if (nl <= 0 || rl < 0)
        return tre_usage_error("attest: --nonce needs 1..%d bytes of hex, --report at most %d",
                               TRE_PROTO_MAX_NONCE, TRE_PROTO_MAX_REPORT);
    void *bundle = NULL;
    size_t blen = 0;
    int r = tre_attest(nonce, (size_t)nl, report, (size_t)rl, &bundle, &blen);
    if (r < 0)
        return tre_call_error("attest", r);
    int rc = 0;
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(bundle, 1, blen, f) != blen)
            rc = 1;
        if (f && fclose(f))
            rc = 1;
        if (rc)
            fprintf(stderr, "tre: attest: cannot write %s\n", out);
        else
            printf("attest: %zu bytes of quote bundle in %s\n", blen, out);
    } else {
        for (size_t k = 0; k < blen; k++)
            printf("%02x%s", ((uint8_t *)bundle)[k], k % 32 == 31 ? "\n" : "");
        printf("\n");
    }
    free(bundle);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    if (argc < 2)
        return tre_usage_error("no command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(tre_usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc == 2) {
            fputs(tre_usage, stdout);
            return 0;
        }
        const char *h = argc == 3 ? tre_cmd_help(argv[2]) : NULL;
        if (!h && argc == 3 && !strcmp(argv[2], "help"))
            h = tre_usage;
        if (!h)
            return tre_usage_error("help: no command '%s'", argv[2]);
        fputs(h, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--socket") || !strcmp(argv[1], "-s")) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (argc < 3 || tre_socket_parse(argv[2], &ss, &sl))
            return tre_usage_error("--socket needs a Unix socket path, vsock:CID or "
                                   "vsock:CID:PORT");
        setenv(TRE_CLIENT_SOCKET_ENV, argv[2], 1);
        i = 3;
    }
    if (i >= argc)
        return tre_usage_error("no command");
    if (!strcmp(argv[i], "attest"))
        return tre_run_attest(argc - i, argv + i);

    /* the whole command line is checked before anything runs */
    int ncmds = 0, nexec = 0;
    static struct tre_cmd cmds[TRE_CMD_MAX_CHAIN];
    while (i < argc) {
        int j = i;
        while (j < argc && strcmp(argv[j], "--"))
            j++;
        if (j == i)
            return tre_usage_error("an empty command between --");
        if (ncmds == TRE_CMD_MAX_CHAIN)
            return tre_usage_error("more than 256 commands");
        int r = tre_parse_cmd(j - i, argv + i, nexec, &cmds[ncmds]);
        if (r == 1)
            return 0;       /* COMMAND --help */
        if (r)
            return r;
        if (cmds[ncmds].kind == TRE_CMD_EXEC)
            nexec++;
        ncmds++;
        if (j == argc - 1)
            return tre_usage_error("a -- with no command after it");
        i = j + 1;
    }

    int descs[TRE_CMD_MAX_CHAIN];
    nexec = 0;
    for (int k = 0; k < ncmds; k++) {
        struct tre_cmd *c = &cmds[k];
        if (c->kind != TRE_CMD_EXEC && c->exec_ref >= 0)
            c->desc = descs[c->exec_ref];
        int r;
        if (c->kind == TRE_CMD_EXEC)
            r = tre_run_exec(c, &descs[nexec++]);
        else if (c->kind == TRE_CMD_CALL)
            r = tre_run_call(c);
        else
            r = tre_run_close(c);
        fflush(stdout);
        if (r)
            return r;
    }
    return 0;
}
