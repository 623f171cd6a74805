# tests/p11fail.mk — included by the top-level Makefile: the PKCS#11 wrapper module that
# the token tests load to simulate a removed token (tests/p11fail.c). A shared library,
# never sanitized (it is dlopen'd by sanitized tests, which is fine), so built with its own
# flags rather than CFLAGS.
P11FAIL_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC \
                  $(shell pkg-config --cflags p11-kit-1 2>/dev/null)

$(B)/tests/libp11fail.so: tests/p11fail.c
	@mkdir -p $(dir $@)
	$(CC) $(P11FAIL_CFLAGS) -shared -o $@ $< -ldl

# the token test loads it from next to itself
$(B)/tests/test_token: $(B)/tests/libp11fail.so
