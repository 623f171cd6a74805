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
$(B)/tests/test_hosted: tests/test_hosted.c $(CLIENT_B)/libtre.a $(B)/libtrevisor.a tests/check.h tests/server.h \
                        tests/fixture.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(CLIENT_B)/libtre.a $(B)/libtrevisor.a $(LDFLAGS) $(LDLIBS)

# the services test program, under several identities: another name, a newer and an older
# security version, and one that asks for no token key
SVC_VARIANTS := svc:svc:1 svc-other:svc-other:1 svc-v2:svc:2 svc-v3:svc:3
define tre_svc
$(PROGS_B)/$(1): tests/progs/svc.c $(TRE_DEPS) $(SDK_CRT0)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) $(TRE_FREE) '-DSVC_NAME="$(2)"' '-DSVC_SVN="$(3)"' -o $$@ \
		$(SDK_CRT0) $$< $(SDK_LIB) -lgcc
endef
$(foreach v,$(SVC_VARIANTS),$(eval $(call tre_svc,$(word 1,$(subst :, ,$(v))),$(word 2,$(subst :, ,$(v))),$(word 3,$(subst :, ,$(v))))))
$(PROGS_B)/svc-nocap: tests/progs/svc.c $(TRE_DEPS) $(SDK_CRT0)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) $(TRE_FREE) '-DSVC_CAPS=""' -o $@ $(SDK_CRT0) $< $(SDK_LIB) -lgcc
SVC_PROGS := $(foreach v,$(SVC_VARIANTS),$(word 1,$(subst :, ,$(v)))) svc-nocap
test-progs: $(SVC_PROGS:%=$(PROGS_B)/%) $(SVC_PROGS:%=$(PROGS_B)/%.minisig)

# the end-to-end tests that are clients of a real server (libtre plus the engine library)
$(B)/tests/test_attest $(B)/tests/test_token_tre: $(B)/tests/%: tests/%.c $(CLIENT_B)/libtre.a \
        $(B)/libtrevisor.a tests/check.h tests/fixture.h tests/server.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(CLIENT_B)/libtre.a $(B)/libtrevisor.a $(LDFLAGS) $(LDLIBS)
