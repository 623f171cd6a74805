/* sdk/runtime/serve.c — the serve loop: wait for a message, check the window header,
 * call the program's handler, write back the result lengths, reply. It trusts nothing in
 * the window it has not copied and checked, and never makes a syscall (doorbells only). */
#include "trevisor/tre.h"

/* The window's size: "window=<size>" from the manifest (K or M suffix), else the default. */
size_t tre_window_size(void)
{
    size_t len, pos = 0;
    const char *d = tre_manifest_desc(&len);
    static const char key[] = "window=";

    while (pos < len) {
        const char *e = d + pos;
        size_t n = 0, k;

        while (pos + n < len && e[n])
            n++;
        for (k = 0; k < sizeof(key) - 1 && k < n && e[k] == key[k]; k++)
            ;
        if (k == sizeof(key) - 1) {
            uint64_t v = 0, mul = 1;
            size_t end = n;

            if (end > k && e[end - 1] == 'K') {
                mul = 1u << 10;
                end--;
            } else if (end > k && e[end - 1] == 'M') {
                mul = 1u << 20;
                end--;
            }
            for (size_t i = k; i < end; i++) {
                if (e[i] < '0' || e[i] > '9' || v > (UINT64_C(1) << 40))
                    return 0; /* malformed: trevisor would have refused the image */
                v = v * 10 + (uint64_t)(e[i] - '0');
            }
            return (size_t)(v * mul);
        }
        pos += n + 1;
    }
    return 64u << 10; /* the default window (docs/manifest.md) */
}

/* Copies the header out of the window and checks it against the window's size.
 * Returns the number of buffers, or -TRE_EPROTO. */
static int serve_check(struct tre_window_hdr *h, long msgcode, size_t wsize)
{
    const volatile struct tre_window_hdr *w = (const volatile void *)(uintptr_t)TRE_WINDOW_VA;
    int seen_result = 0;

    h->magic = w->magic;
    h->msgcode = w->msgcode;
    h->proc_number = w->proc_number;
    h->bufcnt = w->bufcnt;
    if (h->magic != TRE_WINDOW_MAGIC || h->msgcode != msgcode || h->bufcnt > TRE_MAX_BUFS)
        return -TRE_EPROTO;
    for (uint32_t i = 0; i < h->bufcnt; i++) {
        struct tre_window_buf *b = &h->bufs[i];
        uint64_t extent;

        b->offset = w->bufs[i].offset;
        b->len = w->bufs[i].len;
        b->cap = w->bufs[i].cap;
        b->rw = w->bufs[i].rw;
        if (b->rw > 1 || (b->rw == 0 && seen_result))
            return -TRE_EPROTO; /* arguments first, then results */
        seen_result |= (int)b->rw;
        extent = b->rw ? b->cap : (b->len > b->cap ? b->len : b->cap);
        if (b->offset < sizeof(struct tre_window_hdr) ||
            (uint64_t)b->offset + extent > (uint64_t)wsize)
            return -TRE_EPROTO;
    }
    return (int)h->bufcnt;
}

int tre_serve(tre_handler_fn *handler)
{
    volatile struct tre_window_hdr *w = (volatile void *)(uintptr_t)TRE_WINDOW_VA;
    size_t wsize = tre_window_size();
    long reply = 0; /* the first wait says "ready" */

    if (!handler || wsize < sizeof(struct tre_window_hdr))
        return -TRE_EINVAL;
    for (;;) {
        struct tre_window_hdr h;
        struct msgbuf bufs[TRE_MAX_BUFS];
        long code = tre_doorbell(TRE_DB_WAIT, reply, 0, 0, 0, 0);
        int n;

        if (code < 0)
            return (int)code;
        if (code != TRE_MSG_CALL) {
            reply = -TRE_ENOSYS; /* a message this SDK does not know */
            continue;
        }
        n = serve_check(&h, code, wsize);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++) {
            bufs[i].base = (void *)(uintptr_t)(TRE_WINDOW_VA + h.bufs[i].offset);
            bufs[i].len = h.bufs[i].rw ? h.bufs[i].cap : h.bufs[i].len;
            bufs[i].rw = (int)h.bufs[i].rw;
        }
        reply = handler(TRE_MSG_CALL, h.proc_number, bufs, n);
        for (int i = 0; i < n; i++) /* a failed call (< 0) returns no result bytes */
            if (h.bufs[i].rw)
                w->bufs[i].len = reply < 0 ? 0
                               : bufs[i].len < h.bufs[i].cap ? bufs[i].len : h.bufs[i].cap;
    }
}

/* getpid() without leaving the instance. An instance is one process whose pid trevisor
 * reports as 1; OpenSSL asks for it on every random-number request (its fork check), and
 * through the syscall that would cost an exit each time. Defined here, in the object that
 * every program using tre_serve links, so it takes the place of libc's. */
int getpid(void)
{
    return 1;
}
