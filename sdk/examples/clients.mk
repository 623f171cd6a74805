# sdk/examples/clients.mk — included by the top-level Makefile: the examples' client
# programs (the owner's side), linked with libtre; built for the host.
EXAMPLE_CLIENTS := $(B)/examples/add_client $(B)/examples/sign_client

$(B)/examples/add_client: sdk/examples/add/add_client.c $(B)/client/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/client/libtre.a $(LDFLAGS) -lpthread

$(B)/examples/sign_client: sdk/examples/ecdsa-sign/sign_client.c $(B)/client/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/client/libtre.a $(LDFLAGS) -lcrypto -lpthread

.PHONY: example-clients
example-clients: $(EXAMPLE_CLIENTS)
