# tests/tests.mk — included by the top-level Makefile: the hostile and broken TRE images
# the engine tests need, built and signed with the demo vendor key like the examples.

$(eval $(call tre_free,evil,tests/badprogs/evil.c))
$(eval $(call tre_free,bad-manifest,tests/badprogs/bad_manifest.c))

$(PROGS_B)/bad-nomanifest: tests/badprogs/no_manifest.c
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -static -o $@ $<
$(PROGS_B)/bad-dynamic: tests/badprogs/no_manifest.c
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -o $@ $<

TEST_PROGS := evil bad-manifest bad-nomanifest bad-dynamic
.PHONY: test-progs
test-progs: $(TEST_PROGS:%=$(PROGS_B)/%) $(TEST_PROGS:%=$(PROGS_B)/%.minisig)

# hosted mode end to end: libtre (the client) plus the engine library for the fixture
$(B)/tests/test_hosted: tests/test_hosted.c $(CLIENT_B)/libtre.a $(B)/libtrevisor.a tests/check.h \
                        tests/fixture.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(CLIENT_B)/libtre.a $(B)/libtrevisor.a $(LDFLAGS) $(LDLIBS)
