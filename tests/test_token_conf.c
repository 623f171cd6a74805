/* tests/test_token_conf.c — CONFIG/token.conf (services/token_conf.c): what it accepts
 * (comments, blanks, CRLF, labels with spaces and '#', the named modules), what it refuses
 * with "token.conf: line N: reason" and no partial result, and token_conf_load on a
 * missing, valid, oversized and broken file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "services/token_conf.h"

static int parse(const char *text, struct token_conf *c, char *err, size_t errlen)
{
    return token_conf_parse(text, strlen(text), c, err, errlen);
}

static void test_accepts(void)
{
    struct token_conf c;
    char err[256];

    CHECK_EQ(parse("# the vendor's smart card\n"
                   "\n"
                   "module   /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so  \n"
                   "\ttoken OpenSC Card (User #1)\r\n"
                   "  # indented comment\n"
                   "pin-file /etc/trevisor/token.pin", &c, err, sizeof err), 0);
    CHECK(!strcmp(c.module, "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"));
    CHECK(!strcmp(c.label, "OpenSC Card (User #1)"));
    CHECK(!strcmp(c.pin_file, "/etc/trevisor/token.pin"));
    CHECK_EQ(err[0], 0);

    CHECK_EQ(parse("module softhsm2\n", &c, err, sizeof err), 0);
    CHECK(!strcmp(c.module, "softhsm2") && !c.label[0] && !c.pin_file[0]);
    CHECK_EQ(parse("module none\n", &c, err, sizeof err), 0);
    CHECK(!strcmp(c.module, "none"));
    /* nothing at all sets nothing */
    memset(&c, 'x', sizeof c);
    CHECK_EQ(token_conf_parse(NULL, 0, &c, err, sizeof err), 0);
    CHECK(!c.module[0] && !c.label[0] && !c.pin_file[0]);
    CHECK_EQ(parse("\n\n# only comments\n", &c, err, sizeof err), 0);
    /* a label of exactly 32 characters */
    CHECK_EQ(parse("token 0123456789abcdef0123456789abcdef\n", &c, err, sizeof err), 0);
    CHECK_EQ(strlen(c.label), 32);
}

static void test_refuses(void)
{
    static const struct { const char *text, *why; } bad[] = {
        { "modul /x.so\n", "line 1: unknown key" },
        { "module\n", "line 1: missing value" },
        { "module    \n", "line 1: missing value" },
        { "module opensc-pkcs11.so\n", "line 1: module: want softhsm2, none" },
        { "module /a.so\nmodule /b.so\n", "line 2: module is set twice" },
        { "token a\n\ntoken b\n", "line 3: token is set twice" },
        { "token 0123456789abcdef0123456789abcdefX\n", "line 1: token: a label is at most" },
        { "pin-file pin.txt\n", "line 1: want an absolute path" },
        { "pin-file /a\npin-file /b\n", "line 2: pin-file is set twice" },
        { "token a\x1b[31m\n", "line 1: not printable ASCII" },
        { "token caf\xc3\xa9\n", "line 1: not printable ASCII" },
        { "token a\rb\n", "line 1: not printable ASCII" },
        { "# fine\nMODULE /x.so\n", "line 2: unknown key" },
        { "token a\tb\n", "line 1: a tab inside the value" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct token_conf c;
        char err[256] = "";
        memset(&c, 0x55, sizeof c);
        struct token_conf before = c;
        int r = parse(bad[i].text, &c, err, sizeof err);
        if (r != -EINVAL || !strstr(err, bad[i].why))
            fprintf(stderr, "  bad[%zu]: %d \"%s\"\n", i, r, err);
        CHECK_EQ(r, -EINVAL);
        CHECK(strstr(err, bad[i].why) != NULL);
        CHECK(!strncmp(err, "token.conf: ", 12));
        CHECK(strchr(err, '\n') == NULL);
        CHECK(!memcmp(&c, &before, sizeof c));       /* nothing half-filled */
    }
    /* a NUL inside the text */
    struct token_conf c;
    char err[256];
    CHECK_EQ(token_conf_parse("token a\0b\n", 10, &c, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "line 1: NUL byte") != NULL);
    /* a path too long for the buffer */
    char *longp = malloc(TOKEN_CONF_PATH_MAX + 32);
    if (longp) {
        strcpy(longp, "module /");
        memset(longp + 8, 'a', TOKEN_CONF_PATH_MAX);
        longp[8 + TOKEN_CONF_PATH_MAX] = 0;
        CHECK_EQ(parse(longp, &c, err, sizeof err), -EINVAL);
        free(longp);
    }
    /* larger than the limit, and bad arguments */
    CHECK_EQ(token_conf_parse("", TOKEN_CONF_MAX + 1, &c, err, sizeof err), -EINVAL);
    CHECK_EQ(token_conf_parse(NULL, 3, &c, err, sizeof err), -EINVAL);
    CHECK_EQ(token_conf_parse("x", 1, NULL, err, sizeof err), -EINVAL);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(text, 1, len, f), len);
        fclose(f);
    }
}

static void test_load(void)
{
    char dir[] = "/tmp/trevisor-tokconf-XXXXXX", path[256], err[512];
    struct token_conf c;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/token.conf", dir);
    /* missing: nothing set, no error */
    CHECK_EQ(token_conf_load(dir, &c, err, sizeof err), 0);
    CHECK(!c.module[0]);
    write_file(path, "module none\ntoken t\n", 20);
    CHECK_EQ(token_conf_load(dir, &c, err, sizeof err), 0);
    CHECK(!strcmp(c.module, "none") && !strcmp(c.label, "t"));
    /* broken: the path and the line are named */
    write_file(path, "token t\nbogus 1\n", 16);
    CHECK_EQ(token_conf_load(dir, &c, err, sizeof err), -EINVAL);
    CHECK(strstr(err, path) != NULL && strstr(err, "line 2: unknown key") != NULL);
    /* oversized */
    char *big = malloc(TOKEN_CONF_MAX + 1);
    if (big) {
        memset(big, '#', TOKEN_CONF_MAX + 1);
        write_file(path, big, TOKEN_CONF_MAX + 1);
        free(big);
        CHECK(token_conf_load(dir, &c, err, sizeof err) < 0);
        CHECK(strstr(err, "64 KiB") != NULL);
    }
    /* unreadable (a directory where the file should be) */
    unlink(path);
    CHECK_EQ(mkdir(path, 0700), 0);
    CHECK(token_conf_load(dir, &c, err, sizeof err) < 0);
    CHECK(strstr(err, "cannot read") != NULL);
    rm_rf(dir);
}

/* The file fills what the command line left out; "softhsm2" is the default's name. */
static void test_apply(void)
{
    struct token_conf c;
    char err[256];
    CHECK_EQ(parse("module /opt/p11.so\ntoken card\npin-file /etc/pin\n", &c, err,
                   sizeof err), 0);
    const char *module = NULL, *label = NULL, *pin = NULL;
    CHECK_EQ(token_conf_apply(&c, &module, &label, &pin), 1);
    CHECK(module && !strcmp(module, "/opt/p11.so") && !strcmp(label, "card") &&
          !strcmp(pin, "/etc/pin"));
    module = "/usr/lib/opensc-pkcs11.so";          /* options win */
    label = "other";
    pin = "/tmp/pin";
    CHECK_EQ(token_conf_apply(&c, &module, &label, &pin), 0);
    CHECK(!strcmp(module, "/usr/lib/opensc-pkcs11.so") && !strcmp(label, "other") &&
          !strcmp(pin, "/tmp/pin"));
    module = "softhsm2";
    CHECK_EQ(token_conf_apply(&c, &module, &label, &pin), 0);
    CHECK(module == NULL);
    CHECK_EQ(parse("module softhsm2\n", &c, err, sizeof err), 0);
    module = label = pin = NULL;
    CHECK_EQ(token_conf_apply(&c, &module, &label, &pin), 1);
    CHECK(module == NULL && label == NULL && pin == NULL);
}

int main(void)
{
    TEST(test_accepts);
    TEST(test_apply);
    TEST(test_refuses);
    TEST(test_load);
    TEST_EXIT();
}
