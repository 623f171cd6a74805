/* tests/test_repro.c — the reproducible build (issue 5, "the owner can check the VMM"):
 * the source tree copied into two directories of different names and depths, `make
 * build/trevisor` in each, and the two binaries must be byte-identical — so the hash
 * `trevisor attest` shows as measured can be compared with one computed from a build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

static void test_two_builds_identical(void)
{
    char root[1024];
    if (!getcwd(root, sizeof root))
        SKIP("no working directory");
    if (sh("cd '%s' && git rev-parse --git-dir >/dev/null 2>&1%s", root, ""))
        SKIP("not a git checkout: the source list comes from git ls-files");
    char a[] = "/tmp/tv-repro-XXXXXX", b[] = "/tmp/tv-repro-XXXXXX";
    CHECK(mkdtemp(a) && mkdtemp(b));
    char da[256], db[256];
    snprintf(da, sizeof da, "%s/trevisor", a);
    snprintf(db, sizeof db, "%s/deeper/path/of/another/name", b);
    const char *dirs[2] = { da, db };
    for (int i = 0; i < 2; i++) {
        char cp[2048];
        snprintf(cp, sizeof cp, "mkdir -p '%s' && cd '%s' && git ls-files -z --cached "
                 "--others --exclude-standard | tar --null --ignore-failed-read -T - -cf - "
                 "2>/dev/null | tar -xf - -C '%s'", dirs[i], root, dirs[i]);
        CHECK_EQ(system(cp), 0);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cd '%s' && make -s -j2 build/trevisor >/dev/null 2>&1",
                 dirs[i]);
        CHECK_EQ(system(cmd), 0);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp '%s/build/trevisor' '%s/build/trevisor'", da, db);
    CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    if (system(cmd))
        fprintf(stderr, "  cannot remove the build directories\n");
}

int main(void)
{
    TEST(test_two_builds_identical);
    TEST_EXIT();
}
