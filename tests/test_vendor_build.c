/* tests/test_vendor_build.c — the vendor's path end to end: a program and a two-line
 * Makefile (sdk/tre.mk) in a fresh directory, a vendor key from `trevisor keygen`, `make`
 * builds and signs it, and the engine runs it trusting only that key. */
#include <limits.h>
#include <unistd.h>

#include "fixture.h"

static void test_two_line_makefile(void)
{
    char dir[] = "/tmp/trevisor-vendor-XXXXXX", repo[PATH_MAX], path[PATH_MAX + 64];
    CHECK(mkdtemp(dir) != NULL);
    CHECK(getcwd(repo, sizeof repo) != NULL);
    snprintf(path, sizeof path, "%s/twice.c", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("#include <string.h>\n#include <trevisor/tre.h>\n"
          "TRE_MANIFEST(\"name=twice\\0version=3\\0svn=2\\0mem=2M\");\n"
          "static int h(int m, int p, struct msgbuf *b, int n) {\n"
          "  (void)m; if (p != 0 || n != 2 || b[1].len < 4) return -22;\n"
          "  int x; memcpy(&x, b[0].base, 4); x *= 2; memcpy(b[1].base, &x, 4);\n"
          "  b[1].len = 4; return 0; }\n"
          "int main(void) { return tre_serve(h); }\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/Makefile", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "TRE_PROGRAM = twice\ninclude %s/sdk/tre.mk\n", repo);
    fclose(f);
    char trevisor[PATH_MAX + 32];
    snprintf(trevisor, sizeof trevisor, "%s/%s/trevisor", repo, fx_build());
    char cmd[3 * PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "%s keygen -p %s/vendor.pub -s %s/vendor.key >/dev/null", trevisor,
             dir, dir);
    CHECK_EQ(system(cmd), 0);
    /* the two lines, plus where this build's SDK is (build/ or build/san/) */
    snprintf(cmd, sizeof cmd, "make -s -C %s TREVISOR=%s TRE_SDK_LIBDIR=%s/%s/sdk >/dev/null",
             dir, trevisor, repo, fx_build());
    CHECK_EQ(system(cmd), 0);

    if (fx_kvm_ok()) {
        struct tre_engine *e = NULL;
        char err[256], *pub, *img, *sig;
        size_t pl, il, sl;
        CHECK_EQ(tre_engine_new(NULL, &e, err, sizeof err), 0);
        snprintf(path, sizeof path, "%s/vendor.pub", dir);
        CHECK_EQ(file_read_all(path, 1 << 16, &pub, &pl), 0);
        CHECK_EQ(tre_engine_trust(e, pub, pl, err, sizeof err), 0);
        snprintf(path, sizeof path, "%s/twice", dir);
        CHECK_EQ(file_read_all(path, 64 << 20, &img, &il), 0);
        snprintf(path, sizeof path, "%s/twice.minisig", dir);
        CHECK_EQ(file_read_all(path, 1 << 16, &sig, &sl), 0);
        struct tre_exec_info info;
        int d = tre_engine_exec(e, img, il, sig, sl, &info, err, sizeof err);
        CHECK(d >= 0);
        CHECK(!strcmp(info.name, "twice"));
        CHECK_EQ(info.version, 3);
        CHECK_EQ(info.svn, 2);
        int x = 21, y = 0;
        struct iovec a[1] = { { &x, 4 } }, r[1] = { { &y, 4 } };
        CHECK_EQ(tre_engine_rpc(e, d, 0, a, 1, r, 1), 0);
        CHECK_EQ(y, 42);
        free(pub), free(img), free(sig);
        tre_engine_free(e);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    tlog_set_quiet(!getenv("TREVISOR_TEST_VERBOSE"));
    TEST(test_two_line_makefile);
    TEST_EXIT();
}
