# sdk/examples/clients.mk — included by the top-level Makefile: the examples' client
# programs (the owner's side), linked with libtre; built for the host, and static for the
# guest image, with the guest's hostile test tool.
EXAMPLE_CLIENTS := $(B)/examples/add_client $(B)/examples/sign_client
GUEST_CLIENTS := $(B)/examples/add_client-static $(B)/examples/sign_client-static \
                 $(B)/examples/vsock_hostile-static $(B)/examples/tre_bench-static

$(B)/examples/add_client: sdk/examples/add/add_client.c $(B)/client/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/client/libtre.a $(LDFLAGS) -lpthread

$(B)/examples/sign_client: sdk/examples/ecdsa-sign/sign_client.c $(B)/client/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/client/libtre.a $(LDFLAGS) -lcrypto -lpthread

# static, unsanitized, for the guest (libtre's static objects)
$(B)/examples/add_client-static: sdk/examples/add/add_client.c $(CLIENT_B)/tre-static
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Iinclude -static -o $@ $< \
		$(CLIENT_B)/obj/static/libtre.o $(CLIENT_B)/obj/static/proto.o $(CLIENT_B)/obj/static/proto_attest.o -lpthread
$(B)/examples/sign_client-static: sdk/examples/ecdsa-sign/sign_client.c $(CLIENT_B)/tre-static
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Iinclude -static -o $@ $< \
		$(CLIENT_B)/obj/static/libtre.o $(CLIENT_B)/obj/static/proto.o $(CLIENT_B)/obj/static/proto_attest.o \
		/usr/lib/x86_64-linux-gnu/libcrypto.a -lpthread -Wl,--no-warnings
$(B)/examples/tre_bench-static: guest/tools/tre_bench.c $(CLIENT_B)/tre-static
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Iinclude -static -o $@ $< \
		$(CLIENT_B)/obj/static/libtre.o $(CLIENT_B)/obj/static/proto.o $(CLIENT_B)/obj/static/proto_attest.o -lpthread
$(B)/examples/vsock_hostile-static: guest/tools/vsock_hostile.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -static -o $@ $<

.PHONY: example-clients guest-clients
example-clients: $(EXAMPLE_CLIENTS)
guest-clients: $(GUEST_CLIENTS)
