# client/client.mk — included by the top-level Makefile: libtre (static, shared) and the
# `tre` command under $(B)/client/, plus the client unit test. The codec src/door/proto.c
# is compiled into libtre (again, with -fPIC, for the .so). tre-static is never sanitized:
# it is for the guest, where no sanitizer runtime exists.
#   make client                 libtre.a libtre.so tre tre-static libtre.pc
#   make client-install PREFIX=/usr/local [DESTDIR=...]
# $(B)/client/libtre.pc describes the build tree (PKG_CONFIG_PATH=$(B)/client);
# client-install writes one for PREFIX.

CLIENT_B        := $(B)/client
LIBTRE_VERSION  := 1.0
LIBTRE_SONAME   := libtre.so.1
CLIENT_HDRS     := include/trevisor/client.h include/trevisor/proto.h src/door/proto.h src/door/le.h \
                   src/util/hex.h
CLIENT_LIB_SRCS := client/libtre.c src/door/proto.c src/door/proto_attest.c src/util/hex.c
# objects are named after their file (libtre.o, proto.o)
CLIENT_OBJS     := $(addprefix $(CLIENT_B)/obj/,$(notdir $(CLIENT_LIB_SRCS:.c=.o)))
CLIENT_PIC_OBJS := $(addprefix $(CLIENT_B)/obj/pic/,$(notdir $(CLIENT_LIB_SRCS:.c=.o)))
CLIENT_ST_OBJS  := $(addprefix $(CLIENT_B)/obj/static/,$(notdir $(CLIENT_LIB_SRCS:.c=.o)))
CLIENT_CFLAGS_STATIC := $(filter-out $(SANFLAGS),$(CFLAGS))
CLIENT_LIBS     := -lpthread

.PHONY: client client-install
client: $(CLIENT_B)/libtre.a $(CLIENT_B)/libtre.so $(CLIENT_B)/$(LIBTRE_SONAME) \
        $(CLIENT_B)/tre $(CLIENT_B)/tre-static $(CLIENT_B)/libtre.pc
all: client

$(CLIENT_B)/obj/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/%.o: src/door/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/%.o: src/util/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/pic/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/pic/%.o: src/door/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/pic/%.o: src/util/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/static/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS_STATIC) -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/static/%.o: src/door/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS_STATIC) -MMD -MP -c $< -o $@
$(CLIENT_B)/obj/static/%.o: src/util/%.c $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS_STATIC) -MMD -MP -c $< -o $@

$(CLIENT_B)/libtre.a: $(CLIENT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CLIENT_B)/libtre.so: $(CLIENT_PIC_OBJS) client/libtre.map
	$(CC) -shared -Wl,-soname,$(LIBTRE_SONAME) -Wl,--version-script,client/libtre.map \
		-Wl,-z,defs $(LDFLAGS) -o $@ $(CLIENT_PIC_OBJS) $(CLIENT_LIBS)

# the name programs linked with -ltre look for at run time (LD_LIBRARY_PATH=$(B)/client)
$(CLIENT_B)/$(LIBTRE_SONAME): $(CLIENT_B)/libtre.so
	ln -sf libtre.so $@

$(CLIENT_B)/tre: $(CLIENT_B)/obj/tre.o $(CLIENT_B)/libtre.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

$(CLIENT_B)/tre-static: $(CLIENT_B)/obj/static/tre.o $(CLIENT_ST_OBJS)
	$(CC) -static -o $@ $^ $(CLIENT_LIBS)

$(CLIENT_B)/libtre.pc: client/libtre.pc.in client/client.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(CURDIR)|g' -e 's|@INCLUDEDIR@|$(CURDIR)/include|g' \
		-e 's|@LIBDIR@|$(abspath $(CLIENT_B))|g' -e 's|@VERSION@|$(LIBTRE_VERSION)|g' \
		$< > $@

# the unit test links libtre, not libtrevisor (it needs no engine)
$(B)/tests/test_client_unit: tests/test_client_unit.c $(CLIENT_B)/libtre.a tests/check.h \
                             $(CLIENT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(CLIENT_B)/libtre.a $(LDFLAGS) $(CLIENT_LIBS)

client-install: $(CLIENT_B)/libtre.a $(CLIENT_B)/libtre.so $(CLIENT_B)/tre
	install -d $(DESTDIR)$(PREFIX)/include/trevisor $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/bin
	install -m 644 include/trevisor/client.h $(DESTDIR)$(PREFIX)/include/trevisor/
	install -m 644 $(CLIENT_B)/libtre.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLIENT_B)/libtre.so $(DESTDIR)$(PREFIX)/lib/libtre.so.$(LIBTRE_VERSION)
	ln -sf libtre.so.$(LIBTRE_VERSION) $(DESTDIR)$(PREFIX)/lib/$(LIBTRE_SONAME)
	ln -sf $(LIBTRE_SONAME) $(DESTDIR)$(PREFIX)/lib/libtre.so
	install -m 755 $(CLIENT_B)/tre $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@INCLUDEDIR@|$(PREFIX)/include|g' \
		-e 's|@LIBDIR@|$(PREFIX)/lib|g' -e 's|@VERSION@|$(LIBTRE_VERSION)|g' \
		client/libtre.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libtre.pc

-include $(CLIENT_OBJS:.o=.d) $(CLIENT_PIC_OBJS:.o=.d) $(CLIENT_ST_OBJS:.o=.d) \
         $(CLIENT_B)/obj/tre.d $(CLIENT_B)/obj/static/tre.d
