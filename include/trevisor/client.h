/* trevisor/client.h — libtre, the client API of the TRE: start a vendor's signed program in
 * trevisor (vmmcall_tre_exec), call it (vmmcall_tre_rpc), end it (vmmcall_tre_close). The
 * names and shapes are the research system's. libtre speaks the TRE wire protocol
 * (docs/protocol.md) to trevisor over one connection per process; it never trusts a reply
 * further than the codec's checks and the caller's buffer sizes. Guide: docs/tre.md.
 *
 * Where trevisor is: the environment variable TREVISOR_SOCKET, read when libtre connects:
 *   /path/to/socket       a Unix socket (hosted mode); "unix:PATH" works too
 *   vsock:CID             AF_VSOCK, port TRE_PROTO_VSOCK_PORT (7300); in the user
 *                         environment trevisor is CID 2
 *   vsock:CID:PORT        AF_VSOCK on another port
 * Unset or empty: the Unix socket /run/trevisor/tre.sock (TRE_PROTO_DEFAULT_SOCKET).
 *
 * The connection: opened on first use and kept for the life of the process, because
 * trevisor ties each descriptor to the connection that made it (no other connection can
 * call or close it, and when the connection ends trevisor ends its programs). If trevisor
 * closes the connection, or a reply breaks the protocol, libtre drops it: vmmcall_tre_rpc
 * and vmmcall_tre_close then return -ECONNRESET, and the next vmmcall_tre_exec connects
 * again. The old descriptors are gone for good. A child made by fork() does not inherit
 * the connection (its calls return -ECONNRESET until it execs a program of its own).
 *
 * Threads: every function may be called from any thread. Calls share the one connection
 * and are serialised on it: one request and its reply at a time, so a long call (a
 * program using its whole CPU budget) delays the other threads' calls. None of them is
 * async-signal-safe. tre_last_error() and tre_last_exec_info() are per thread.
 *
 * Errors are negative errno values; tre_strerror() gives their TRE meanings:
 *   -ENOKEY       the image's vendor key is not in trevisor's trust store
 *   -EBADMSG      bad signature, or the image was altered after signing
 *   -ENOEXEC      not a TRE program (bad ELF or manifest)
 *   -EFAULT       the program faulted (or passed trevisor a bad pointer); it has ended
 *   -ETIMEDOUT    the program's CPU budget ran out; it has ended
 *   -ESRCH        the program has ended (it exited, or an earlier call ended it)
 *   -EPROTO       protocol error: a program broke the RPC protocol, or trevisor's reply
 *                 was malformed (libtre then drops the connection)
 *   -EBADF        bad descriptor: never made, closed, or another connection's
 *   -E2BIG        too many buffers (over 16 in all) or too many bytes for the protocol or
 *                 for the program's message window
 *   -EINVAL       bad arguments (NULL buffer with a size, negative count, bad
 *                 TREVISOR_SOCKET)
 *   -ENOMEM, -EMFILE (too many instances), -ENODEV (trevisor has no KVM)
 *   -ECONNREFUSED, -ENOENT   trevisor is not running (nothing listens / no socket there;
 *                 a vsock connect that is reset or times out is -ECONNREFUSED too)
 *   -EACCES       not allowed to use trevisor's socket
 *   -ECONNRESET   the connection to trevisor was lost; its descriptors are gone
 * A negative value from vmmcall_tre_rpc may also be the program's own return value.
 *
 * Hosted mode (trevisor serving a Unix socket on an ordinary host) isolates TRE programs
 * from the applications that call them, not from the host's root. */
#ifndef TREVISOR_CLIENT_H
#define TREVISOR_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRE_CLIENT_SOCKET_ENV "TREVISOR_SOCKET"
#define TRE_CLIENT_MAX_BUFS   16     /* arguments + results per call */

/* Verifies binary (a static ELF TRE program) against sign (the text of its minisign
 * signature) in trevisor, starts it in its own instance and runs it until it waits for
 * its first call. Returns a descriptor (>= 0) or -errno. trevisor copies both buffers;
 * the binary may be at most 64 MiB and the signature 16 KiB (-E2BIG). */
int vmmcall_tre_exec(const void *binary, size_t binary_size, const void *sign,
                     size_t sign_size);

/* Calls procedure proc_number of program desc. args[i] (i < arg_count) are copied to the
 * program; results[i].iov_len is the capacity of results[i].iov_base on entry and, when
 * the call returns >= 0, the number of bytes the program wrote there. libtre never
 * writes more than the capacity, and on a negative return it leaves the result buffers
 * and their iov_len untouched. arg_count + result_count <= 16; at most 64 MiB of
 * arguments and 64 MiB of result capacity. Returns the program's return value or -errno. */
int vmmcall_tre_rpc(int desc, int proc_number, struct iovec *args, int arg_count,
                    struct iovec *results, int result_count);

/* Ends program desc; trevisor wipes its memory. 0 or -errno (-EBADF if unknown). */
int vmmcall_tre_close(int desc);

/* Text for a -errno returned by these functions (the sign does not matter), with the TRE
 * meanings above; any other code gets the C library's text. Never NULL; the pointer stays
 * valid until this thread's next tre_strerror() call. */
const char *tre_strerror(int err);

/* ---- extras ---- */

/* One line on why this thread's last libtre call failed: trevisor's own reason for a
 * refused exec ("signature does not verify ..."), or libtre's ("cannot connect to ...").
 * "" after a call that succeeded or when there is nothing to add to tre_strerror().
 * Printable ASCII only: the text of a reply is sanitised. */
const char *tre_last_error(void);

/* What trevisor measured when it started a program. Strings are NUL-terminated and
 * printable ASCII. */
struct tre_program_info {
    int desc;                    /* the descriptor exec returned */
    char name[33];               /* the manifest's program name */
    uint32_t version, svn;       /* its version and security version number */
    uint8_t sha256[32];          /* SHA-256 of the image: its measurement */
    char sha256_hex[65];
    char keyid[25];              /* the vendor key's id, as minisign prints it */
};
/* The owner's attestation: asks trevisor for a TPM quote of its measurements bound to
 * nonce (1..64 bytes) and report (0..1024 bytes). On success *bundle is a malloc'd quote
 * bundle (docs/attestation.md) for `trevisor verify --bundle`; free() it. -ENODEV when
 * trevisor has no TPM. */
int tre_attest(const void *nonce, size_t nonce_len, const void *report, size_t report_len,
               void **bundle, size_t *bundle_len);

/* Fills *out from this thread's last vmmcall_tre_exec: 0, or -ENOENT if this thread has
 * made no exec or its last one failed. */
int tre_last_exec_info(struct tre_program_info *out);

/* Closes the connection to trevisor now. trevisor ends every program the connection
 * started; their descriptors are gone. The next call connects again (reading
 * TREVISOR_SOCKET again). */
void tre_disconnect(void);

/* Parses an address as TREVISOR_SOCKET takes it (see above) into addr and addrlen without
 * connecting: 0, -EINVAL (empty, unknown "scheme:", bad CID or port) or -ENAMETOOLONG
 * (path longer than a Unix socket path). A relative path containing ':' needs "./". */
int tre_socket_parse(const char *spec, struct sockaddr_storage *addr, socklen_t *addrlen);

#ifdef __cplusplus
}
#endif

#endif
