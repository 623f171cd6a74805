/* cli/cmd_keys.c — `trevisor keygen|sign|verify|trust`: vendor keys, image signatures
 * (minisign's format) and the vendor trust store <config>/vendors. It owns the command
 * lines, the password prompt and the messages; it must never parse or check a key or a
 * signature itself (tre/minisign.c and tre/truststore.c do) nor print secret material. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/commands.h"
#include "tre/minisign.h"
#include "tre/truststore.h"

#define KEYS_PASSWORD_ENV "TREVISOR_KEY_PASSWORD"

static const char keys_usage_keygen[] =
    "usage: trevisor keygen -p PUB -s SEC [-c COMMENT] [-P] [-f]\n"
    "  make a vendor key pair in minisign's format\n"
    "  -p PUB      public key file to write\n"
    "  -s SEC      secret key file to write (mode 0600)\n"
    "  -c COMMENT  untrusted comment of the public key file\n"
    "  -P          encrypt the secret key with a password (asked on the terminal, or\n"
    "              taken from $" KEYS_PASSWORD_ENV "); without -P it is NOT encrypted\n"
    "  -f          overwrite existing files\n";
static const char keys_usage_sign[] =
    "usage: trevisor sign -s SEC [-t TRUSTED_COMMENT] [-x SIGFILE] FILE\n"
    "  sign FILE (BLAKE2b-512 prehashed Ed25519, minisign's \"ED\" format)\n"
    "  -s SEC      secret key file (a password is asked for, or taken from\n"
    "              $" KEYS_PASSWORD_ENV ", if the key is encrypted)\n"
    "  -t TEXT     trusted comment (default: timestamp:<time>\\tfile:<name>\\thashed)\n"
    "  -x SIGFILE  signature file to write (default: FILE.minisig)\n";
static const char keys_usage_verify[] =
    "usage: trevisor verify (-p PUB | -P BASE64) [-x SIGFILE] FILE\n"
    "  check FILE's signature and trusted comment\n"
    "  -p PUB      public key file\n"
    "  -P BASE64   public key, as its base64 line\n"
    "  -x SIGFILE  signature file (default: FILE.minisig)\n";
static const char keys_usage_trust[] =
    "usage: trevisor trust add PUB [--config DIR]\n"
    "       trevisor trust list [--config DIR]\n"
    "       trevisor trust remove KEYID [--config DIR]\n"
    "  manage the vendor keys trevisor accepts on TRE images: DIR/vendors/*.pub\n"
    "  (DIR: --config, else $TREVISOR_CONFIG, else /etc/trevisor)\n";

static void keys_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void keys_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("trevisor: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int keys_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int keys_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fputs("trevisor: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return 2;
}

/* getopt's '?' and ':' cases, in our words. */
static int keys_bad_option(const char *cmd, const char *usage, int c, char **argv)
{
    if (c == ':')
        return keys_usage_error(usage, "%s: option -%c needs an argument", cmd, optopt);
    if (optopt != 0)
        return keys_usage_error(usage, "%s: unknown option -%c", cmd, optopt);
    return keys_usage_error(usage, "%s: unknown option %s", cmd, argv[optind - 1]);
}

/* ---- passwords ---- */

static void keys_free_password(char *pw)
{
    if (pw != NULL) {
        OPENSSL_cleanse(pw, strlen(pw));
        free(pw);
    }
}

/* Asks on the terminal, without echo. */
static int keys_prompt(const char *prompt, char **out)
{
    struct termios old, quiet;
    char *buf = NULL;
    size_t n = 0;
    int fd, rc = 0, echo_off = 0;

    *out = NULL;
    fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        keys_fail("no terminal to ask for the password on (set $%s)", KEYS_PASSWORD_ENV);
        return -ENXIO;
    }
    buf = calloc(1, TRE_PASSWORD_MAX + 2);
    if (buf == NULL) {
        close(fd);
        keys_fail("out of memory");
        return -ENOMEM;
    }
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (write(fd, prompt, strlen(prompt)) < 0)
        rc = -errno;
    while (rc == 0) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0 || c == '\n')
            break;
        if (n > TRE_PASSWORD_MAX) {
            rc = -E2BIG;
            break;
        }
        buf[n++] = c;
    }
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (rc == -E2BIG)
        keys_fail("password is longer than %u bytes", TRE_PASSWORD_MAX);
    else if (rc < 0)
        keys_fail("reading the password: %s", strerror(-rc));
    if (rc < 0) {
        keys_free_password(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* The password from the environment, else from the terminal (twice when confirm). */
static int keys_get_password(int confirm, char **out)
{
    const char *env = getenv(KEYS_PASSWORD_ENV);
    char *a = NULL, *b = NULL;
    int rc;

    *out = NULL;
    if (env != NULL) {
        if (strlen(env) > TRE_PASSWORD_MAX) {
            keys_fail("$%s is longer than %u bytes", KEYS_PASSWORD_ENV, TRE_PASSWORD_MAX);
            return -E2BIG;
        }
        a = strdup(env);
        if (a == NULL) {
            keys_fail("out of memory");
            return -ENOMEM;
        }
        *out = a;
        return 0;
    }
    rc = keys_prompt("Password: ", &a);
    if (rc < 0)
        return rc;
    if (confirm) {
        rc = keys_prompt("Password (again): ", &b);
        if (rc < 0) {
            keys_free_password(a);
            return rc;
        }
        if (strcmp(a, b) != 0) {
            keys_fail("the passwords do not match");
            keys_free_password(a);
            keys_free_password(b);
            return -EINVAL;
        }
        keys_free_password(b);
    }
    *out = a;
    return 0;
}

/* ---- keygen ---- */

int cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *pub = NULL, *sec = NULL, *comment = NULL;
    char *password = NULL, *text = NULL, err[512], id[17], b64[TRE_PUBKEY_B64_LEN + 1];
    struct tre_pubkey pk;
    size_t len = 0;
    int encrypt = 0, force = 0, c, rc;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:s:c:Pfh", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pub = optarg; break;
        case 's': sec = optarg; break;
        case 'c': comment = optarg; break;
        case 'P': encrypt = 1; break;
        case 'f': force = 1; break;
        case 'h': fputs(keys_usage_keygen, stdout); return 0;
        default: return keys_bad_option("keygen", keys_usage_keygen, c, argv);
        }
    }
    if (optind < argc)
        return keys_usage_error(keys_usage_keygen, "keygen: unexpected argument %s",
                                argv[optind]);
    if (pub == NULL || sec == NULL)
        return keys_usage_error(keys_usage_keygen, "keygen: -p PUB and -s SEC are required");
    if (encrypt && keys_get_password(1, &password) < 0)
        return 1;
    rc = tre_keygen_files(pub, sec, comment, password, force, err, sizeof err);
    keys_free_password(password);
    if (rc < 0) {
        keys_fail("keygen: %s", err);
        return 1;
    }
    if (tre_minisign_read_file(pub, TRE_PUBKEY_FILE_MAX, &text, &len, err, sizeof err) < 0 ||
        tre_pubkey_parse(text, len, &pk, err, sizeof err) < 0) {
        free(text);
        keys_fail("keygen: reading back %s", err);
        return 1;
    }
    free(text);
    tre_keyid_hex(pk.keyid, id);
    tre_pubkey_b64(&pk, b64);
    printf("key %s\n", id);
    printf("public key: %s\n", pub);
    printf("secret key: %s (%s)\n", sec,
           encrypt ? "encrypted with a password" : "NOT encrypted: keep it safe");
    printf("verify with: trevisor verify -P %s FILE\n", b64);
    return 0;
}

/* ---- sign ---- */

int cmd_sign(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *sec = NULL, *tc = NULL, *sigfile = NULL, *file = NULL;
    char *password = NULL, *text = NULL, *defsig = NULL, err[512];
    size_t len = 0;
    int c, rc, enc, status = 1;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:t:x:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sec = optarg; break;
        case 't': tc = optarg; break;
        case 'x': sigfile = optarg; break;
        case 'm': file = optarg; break;   /* minisign's spelling */
        case 'h': fputs(keys_usage_sign, stdout); return 0;
        default: return keys_bad_option("sign", keys_usage_sign, c, argv);
        }
    }
    if (file == NULL && optind < argc)
        file = argv[optind++];
    if (optind < argc)
        return keys_usage_error(keys_usage_sign, "sign: unexpected argument %s", argv[optind]);
    if (sec == NULL)
        return keys_usage_error(keys_usage_sign, "sign: -s SEC is required");
    if (file == NULL)
        return keys_usage_error(keys_usage_sign, "sign: which FILE?");
    if (sigfile == NULL) {
        if (asprintf(&defsig, "%s.minisig", file) < 0) {
            keys_fail("out of memory");
            return 1;
        }
        sigfile = defsig;
    }
    rc = tre_minisign_read_file(sec, TRE_SECKEY_FILE_MAX, &text, &len, err, sizeof err);
    if (rc < 0) {
        keys_fail("sign: %s", err);
        goto out;
    }
    enc = tre_seckey_is_encrypted(text, len, err, sizeof err);
    OPENSSL_cleanse(text, len);
    if (enc < 0) {
        keys_fail("sign: %s: %s", sec, err);
        goto out;
    }
    if (enc && keys_get_password(0, &password) < 0)
        goto out;
    rc = tre_sign_file(sec, password, file, sigfile, tc, err, sizeof err);
    if (rc < 0) {
        keys_fail("sign: %s", err);
        goto out;
    }
    status = 0;
out:
    keys_free_password(password);
    free(text);
    free(defsig);
    return status;
}

/* ---- verify ---- */

int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *pubfile = NULL, *pubb64 = NULL, *sigfile = NULL, *file = NULL;
    char *pubtext = NULL, *sigtext = NULL, *defsig = NULL, err[512], perr[512], id[17];
    struct tre_pubkey pk;
    struct tre_sig sig;
    size_t publen = 0, siglen = 0;
    int c, status = 1;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:P:x:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': pubfile = optarg; break;
        case 'P': pubb64 = optarg; break;
        case 'x': sigfile = optarg; break;
        case 'm': file = optarg; break;
        case 'h': fputs(keys_usage_verify, stdout); return 0;
        default: return keys_bad_option("verify", keys_usage_verify, c, argv);
        }
    }
    if (file == NULL && optind < argc)
        file = argv[optind++];
    if (optind < argc)
        return keys_usage_error(keys_usage_verify, "verify: unexpected argument %s",
                                argv[optind]);
    if ((pubfile == NULL) == (pubb64 == NULL))
        return keys_usage_error(keys_usage_verify, "verify: give one of -p PUB or -P BASE64");
    if (file == NULL)
        return keys_usage_error(keys_usage_verify, "verify: which FILE?");
    if (sigfile == NULL) {
        if (asprintf(&defsig, "%s.minisig", file) < 0) {
            keys_fail("out of memory");
            return 1;
        }
        sigfile = defsig;
    }
    if (pubfile != NULL) {
        if (tre_minisign_read_file(pubfile, TRE_PUBKEY_FILE_MAX, &pubtext, &publen,
                                   err, sizeof err) < 0) {
            keys_fail("verify: %s", err);
            goto out;
        }
        if (tre_pubkey_parse(pubtext, publen, &pk, err, sizeof err) < 0) {
            keys_fail("verify: %s: %s", pubfile, err);
            goto out;
        }
    } else if (tre_pubkey_parse(pubb64, strlen(pubb64), &pk, err, sizeof err) < 0) {
        keys_fail("verify: -P: %s", err);
        goto out;
    }
    if (tre_minisign_read_file(sigfile, TRE_SIG_FILE_MAX, &sigtext, &siglen,
                               perr, sizeof perr) < 0) {
        keys_fail("verify: %s", perr);
        goto out;
    }
    if (tre_sig_parse(sigtext, siglen, &sig, err, sizeof err) < 0) {
        keys_fail("verify: %s: %s", sigfile, err);
        goto out;
    }
    if (tre_sig_verify_file(&pk, &sig, file, err, sizeof err) < 0) {
        keys_fail("verify: %s", err);
        goto out;
    }
    tre_keyid_hex(pk.keyid, id);
    printf("signature and comment ok (key %s)\n", id);
    printf("trusted comment: %s\n", sig.trusted_comment);
    status = 0;
out:
    free(pubtext);
    free(sigtext);
    free(defsig);
    return status;
}

/* ---- trust ---- */

/* dir/vendors, created (with dir) 0755 when create is set. */
static int keys_vendor_dir(const char *config, int create, char **out)
{
    char *vd = NULL;

    *out = NULL;
    if (asprintf(&vd, "%s/vendors", config) < 0) {
        keys_fail("out of memory");
        return -ENOMEM;
    }
    if (create) {
        const char *d = config;
        int e = 0;

        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            e = errno;
        if (e == 0 && mkdir((d = vd), 0755) < 0 && errno != EEXIST)
            e = errno;
        if (e != 0) {
            keys_fail("trust: %s: %s", d, strerror(e));
            free(vd);
            return -e;
        }
    }
    *out = vd;
    return 0;
}

static int keys_trust_add(const char *config, const char *pubfile)
{
    char *text = NULL, *vd = NULL, *dest = NULL, *old = NULL, err[512], id[17];
    struct tre_pubkey pk, oldpk;
    size_t len = 0, oldlen = 0;
    int fd = -1, status = 1;
    ssize_t w;

    if (tre_minisign_read_file(pubfile, TRE_PUBKEY_FILE_MAX, &text, &len, err,
                               sizeof err) < 0) {
        keys_fail("trust add: %s", err);
        goto out;
    }
    if (tre_pubkey_parse(text, len, &pk, err, sizeof err) < 0) {
        keys_fail("trust add: %s: %s", pubfile, err);
        goto out;
    }
    tre_keyid_hex(pk.keyid, id);
    if (keys_vendor_dir(config, 1, &vd) < 0)
        goto out;
    if (asprintf(&dest, "%s/%s.pub", vd, id) < 0) {
        dest = NULL;
        keys_fail("out of memory");
        goto out;
    }
    if (tre_minisign_read_file(dest, TRE_PUBKEY_FILE_MAX, &old, &oldlen, err,
                               sizeof err) == 0) {
        if (tre_pubkey_parse(old, oldlen, &oldpk, err, sizeof err) == 0 &&
            memcmp(&oldpk, &pk, sizeof pk) == 0) {
            printf("key %s is already trusted (%s)\n", id, dest);
            status = 0;
            goto out;
        }
        keys_fail("trust add: %s already holds another key; remove it first", dest);
        goto out;
    }
    fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        keys_fail("trust add: %s: %s", dest, strerror(errno));
        goto out;
    }
    /* the file as the vendor published it (comment included), validated above */
    w = write(fd, text, len);
    if (w < 0 || (size_t)w != len || fsync(fd) < 0) {
        keys_fail("trust add: %s: %s", dest, w < 0 ? strerror(errno) : "short write");
        close(fd);
        fd = -1;
        unlink(dest);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        keys_fail("trust add: %s: %s", dest, strerror(errno));
        unlink(dest);
        goto out;
    }
    fd = -1;
    printf("trusted key %s (%s)\n", id, dest);
    status = 0;
out:
    free(text);
    free(old);
    free(vd);
    free(dest);
    return status;
}

static int keys_trust_list(const char *config)
{
    struct tre_truststore *ts = NULL;
    char *vd = NULL, err[512], id[17], b64[TRE_PUBKEY_B64_LEN + 1];
    size_t n;

    if (keys_vendor_dir(config, 0, &vd) < 0)
        return 1;
    if (tre_truststore_load(vd, &ts, err, sizeof err) < 0) {
        keys_fail("trust list: %s", err);
        free(vd);
        return 1;
    }
    n = tre_truststore_count(ts);
    if (n == 0)
        fprintf(stderr, "trevisor: no vendor keys in %s\n", vd);
    for (size_t i = 0; i < n; i++) {
        const struct tre_pubkey *pk = tre_truststore_at(ts, i);
        const char *src = tre_truststore_source(ts, i);

        tre_keyid_hex(pk->keyid, id);
        tre_pubkey_b64(pk, b64);
        printf("%s  %s  %s/%s\n", id, b64, vd, src ? src : "-");
    }
    tre_truststore_free(ts);
    free(vd);
    return 0;
}

static int keys_trust_remove(const char *config, const char *hex)
{
    uint8_t keyid[TRE_KEYID_LEN];
    char *vd = NULL, err[512], id[17];
    int n;

    if (tre_keyid_parse_hex(hex, keyid) < 0)
        return keys_usage_error(keys_usage_trust,
                                "trust remove: %s is not a key id (up to 16 hex digits)", hex);
    tre_keyid_hex(keyid, id);
    if (keys_vendor_dir(config, 0, &vd) < 0)
        return 1;
    n = tre_truststore_dir_remove(vd, keyid, err, sizeof err);
    if (n < 0) {
        keys_fail("trust remove: %s", err);
        free(vd);
        return 1;
    }
    if (n == 0) {
        keys_fail("trust remove: key %s is not in the trust store (%s)", id, vd);
        free(vd);
        return 1;
    }
    printf("removed key %s from %s\n", id, vd);
    free(vd);
    return 0;
}

int cmd_trust(int argc, char **argv)
{
    const char *override = NULL, *pos[3] = { NULL, NULL, NULL };
    const char *config;
    int npos = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(keys_usage_trust, stdout);
            return 0;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return keys_usage_error(keys_usage_trust, "trust: --config needs a DIR");
            override = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            override = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            return keys_usage_error(keys_usage_trust, "trust: unknown option %s", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return keys_usage_error(keys_usage_trust, "trust: unexpected argument %s", a);
        }
    }
    if (npos == 0)
        return keys_usage_error(keys_usage_trust, "trust: add, list or remove?");
    if (override != NULL && override[0] == '\0')
        return keys_usage_error(keys_usage_trust, "trust: --config needs a DIR");
    config = cli_config_dir(override);
    if (strcmp(pos[0], "add") == 0) {
        if (npos != 2)
            return keys_usage_error(keys_usage_trust, "trust add: give one PUB file");
        return keys_trust_add(config, pos[1]);
    }
    if (strcmp(pos[0], "list") == 0) {
        if (npos != 1)
            return keys_usage_error(keys_usage_trust, "trust list: takes no argument");
        return keys_trust_list(config);
    }
    if (strcmp(pos[0], "remove") == 0) {
        if (npos != 2)
            return keys_usage_error(keys_usage_trust, "trust remove: give one KEYID");
        return keys_trust_remove(config, pos[1]);
    }
    return keys_usage_error(keys_usage_trust, "trust: unknown command %s", pos[0]);
}
