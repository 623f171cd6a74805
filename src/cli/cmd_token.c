/* cli/cmd_token.c — `trevisor token init|list|keygen|pubkey`: the command line around
 * services/token.c. It owns the options, reading a PIN file and the output (PEM for public
 * keys); it must never print a PIN or talk PKCS#11 itself. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/commands.h"
#include "services/token.h"
#include "services/token_conf.h"
#include "trevisor/abi.h"
#include "util/file.h"

#define TOKEN_CMD_PIN_MAX 255u

static const char token_usage[] =
    "usage: trevisor token init   [OPTIONS]\n"
    "       trevisor token list   [OPTIONS]\n"
    "       trevisor token keygen --label L --type ec-p256|rsa-2048|ed25519 [OPTIONS]\n"
    "       trevisor token pubkey --label L [--out FILE.pem] [OPTIONS]\n"
    "  the tamper-resistant token that TRE programs use (docs/token.md)\n"
    "  init     open the token and show its keys; the default SoftHSM2 token is created\n"
    "           on first use, with the keys \"sig\" (EC P-256), \"rsa\" (RSA-2048) and\n"
    "           \"ed\" (Ed25519)\n"
    "  list     the token's private keys: LABEL TYPE\n"
    "  keygen   make a key pair on the token (the private key never leaves it)\n"
    "  pubkey   a key's public half as PEM, to stdout or FILE.pem\n"
    "options:\n"
    "  --state DIR      state directory (default $TREVISOR_STATE, else /var/lib/trevisor);\n"
    "                   the default token lives in DIR/softhsm\n"
    "  --module PATH    a PKCS#11 module (e.g. OpenSC's opensc-pkcs11.so) instead of the\n"
    "                   default SoftHSM2 token (--token-module, as serve and run say)\n"
    "  --token LABEL    the token's label (default \"trevisor\")\n"
    "  --pin-file FILE  the user PIN (default: DIR/softhsm/pin for the default token,\n"
    "                   else $TREVISOR_TOKEN_PIN) (--token-pin-file, as serve and run say)\n"
    "  --config DIR     where token.conf may set module, token and pin-file, as for serve\n"
    "                   and run (default $TREVISOR_CONFIG, else /etc/trevisor); options win\n";

static int token_cmd_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int token_cmd_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("trevisor: token: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(token_usage, stderr);
    return 2;
}

static const char *token_cmd_type_name(int type)
{
    switch (type) {
    case TRE_TOKEN_KEY_EC_P256: return "ec-p256";
    case TRE_TOKEN_KEY_RSA2048: return "rsa-2048";
    case TRE_TOKEN_KEY_ED25519: return "ed25519";
    default: return "other";
    }
}

static int token_cmd_type(const char *s)
{
    if (!strcmp(s, "ec-p256"))
        return TRE_TOKEN_KEY_EC_P256;
    if (!strcmp(s, "rsa-2048"))
        return TRE_TOKEN_KEY_RSA2048;
    if (!strcmp(s, "ed25519"))
        return TRE_TOKEN_KEY_ED25519;
    return -1;
}

/* The PIN file's first line (1..255 bytes); the caller wipes and frees it. */
static int token_cmd_read_pin(const char *path, char **pin)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = file_read_all(path, 4096, &buf, &n);

    *pin = NULL;
    if (rc < 0) {
        fprintf(stderr, "trevisor: token: PIN file %s: %s\n", path,
                rc == -EFBIG ? "too large" : strerror(-rc));
        return rc;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || n > TOKEN_CMD_PIN_MAX || memchr(buf, '\0', n) || memchr(buf, '\n', n)) {
        fprintf(stderr, "trevisor: token: PIN file %s: not one line of 1..%u bytes\n", path,
                TOKEN_CMD_PIN_MAX);
        OPENSSL_cleanse(buf, n);
        free(buf);
        return -EINVAL;
    }
    *pin = buf;
    return 0;
}

static void token_cmd_print_key(void *ctx, const char *label, int type)
{
    (void)ctx;
    printf("%-24s %s\n", label, token_cmd_type_name(type));
}

static int token_cmd_pubkey(struct token *t, const char *label, const char *out)
{
    uint8_t der[4096];
    const unsigned char *p = der;
    char err[512];
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    long n;
    int fd = -1, status = 1;

    n = token_pubkey(t, label, der, sizeof der, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "trevisor: %s\n", err);
        return 1;
    }
    pk = d2i_PUBKEY(NULL, &p, n);
    if (pk == NULL) {
        fprintf(stderr, "trevisor: token: the token's public key does not parse\n");
        return 1;
    }
    if (out != NULL) {
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            fprintf(stderr, "trevisor: token: %s: %s\n", out, strerror(errno));
            goto done;
        }
        bio = BIO_new_fd(fd, BIO_NOCLOSE);
    } else {
        bio = BIO_new_fp(stdout, BIO_NOCLOSE);
    }
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pk) != 1 || BIO_flush(bio) != 1) {
        fprintf(stderr, "trevisor: token: writing the PEM failed\n");
        goto done;
    }
    if (fd >= 0) {
        if (fsync(fd) < 0 || close(fd) < 0) {
            fd = -1;
            fprintf(stderr, "trevisor: token: %s: %s\n", out, strerror(errno));
            goto done;
        }
        fd = -1;
        fprintf(stderr, "trevisor: token: public key \"%s\" written to %s\n", label, out);
    }
    status = 0;
done:
    BIO_free(bio);
    if (fd >= 0)
        close(fd);
    EVP_PKEY_free(pk);
    return status;
}

int cmd_token(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "state", required_argument, NULL, 's' },
        { "module", required_argument, NULL, 'm' },
        { "token-module", required_argument, NULL, 'm' },    /* as serve and run say it */
        { "token", required_argument, NULL, 't' },
        { "pin-file", required_argument, NULL, 'p' },
        { "token-pin-file", required_argument, NULL, 'p' },
        { "label", required_argument, NULL, 'l' },
        { "type", required_argument, NULL, 'y' },
        { "out", required_argument, NULL, 'o' },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *state = NULL, *module = NULL, *tlabel = NULL, *pinfile = NULL;
    const char *label = NULL, *type = NULL, *out = NULL, *sub = NULL, *config = NULL;
    struct token_config cfg;
    struct token_conf tconf;
    struct token *t = NULL;
    char *pin = NULL, err[512];
    int c, status = 1, ktype = -1;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'm': module = optarg; break;
        case 't': tlabel = optarg; break;
        case 'p': pinfile = optarg; break;
        case 'l': label = optarg; break;
        case 'y': type = optarg; break;
        case 'o': out = optarg; break;
        case 'c': config = optarg; break;
        case 'h': fputs(token_usage, stdout); return 0;
        case ':': return token_cmd_usage("%s needs an argument", argv[optind - 1]);
        default: return token_cmd_usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        sub = argv[optind++];
    if (sub == NULL)
        return token_cmd_usage("which command: init, list, keygen or pubkey?");
    if (optind < argc)
        return token_cmd_usage("unexpected argument %s", argv[optind]);
    if (strcmp(sub, "init") && strcmp(sub, "list") && strcmp(sub, "keygen") &&
        strcmp(sub, "pubkey"))
        return token_cmd_usage("unknown command %s", sub);
    if ((!strcmp(sub, "keygen") || !strcmp(sub, "pubkey")) && label == NULL)
        return token_cmd_usage("%s needs --label L", sub);
    if (!strcmp(sub, "keygen")) {
        if (type == NULL || (ktype = token_cmd_type(type)) < 0)
            return token_cmd_usage("keygen needs --type ec-p256, rsa-2048 or ed25519");
    } else if (type != NULL) {
        return token_cmd_usage("--type is for keygen");
    }
    if (out != NULL && strcmp(sub, "pubkey"))
        return token_cmd_usage("--out is for pubkey");
    if (label != NULL && strcmp(sub, "keygen") && strcmp(sub, "pubkey"))
        return token_cmd_usage("--label is for keygen and pubkey");

    if (state == NULL || *state == '\0') {
        state = getenv("TREVISOR_STATE");
        if (state == NULL || *state == '\0')
            state = "/var/lib/trevisor";
    }
    /* the token serve and run would use: options, else CONFIG/token.conf, else SoftHSM2 */
    if (token_conf_load(cli_config_dir(config), &tconf, err, sizeof err) < 0) {
        fprintf(stderr, "trevisor: token: %s\n", err);
        return 1;
    }
    token_conf_apply(&tconf, &module, &tlabel, &pinfile);
    if (module != NULL && !strcmp(module, "none")) {
        fprintf(stderr, "trevisor: token: the token module is \"none\": no token is "
                "configured\n");
        return 1;
    }
    if (pinfile != NULL && token_cmd_read_pin(pinfile, &pin) < 0)
        return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.module = module;
    cfg.state_dir = state;
    cfg.token_label = tlabel;
    cfg.pin = pin;
    if (token_open(&cfg, &t, err, sizeof err) < 0) {
        fprintf(stderr, "trevisor: %s\n", err);
        goto out;
    }
    if (!strcmp(sub, "init") || !strcmp(sub, "list")) {
        if (!strcmp(sub, "init"))
            printf("token \"%s\" in %s%s\n", token_label(t), token_module(t),
                   module == NULL ? " (SoftHSM2, a software token)" : "");
        if (token_list(t, token_cmd_print_key, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "trevisor: %s\n", err);
            goto out;
        }
        status = 0;
    } else if (!strcmp(sub, "keygen")) {
        if (token_generate(t, label, ktype, err, sizeof err) < 0) {
            fprintf(stderr, "trevisor: %s\n", err);
            goto out;
        }
        printf("key \"%s\" (%s) made on token \"%s\"\n", label, type, token_label(t));
        status = 0;
    } else {
        status = token_cmd_pubkey(t, label, out);
    }
out:
    token_close(t);
    if (pin != NULL) {
        OPENSSL_cleanse(pin, strlen(pin));
        free(pin);
    }
    return status;
}
