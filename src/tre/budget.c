/* tre/budget.c — CPU-time budget: one POSIX timer per calling thread on that thread's CPU
 * clock. Its signal handler only sets immediate_exit on the vCPU this thread runs. */
#include "tre/budget.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static __thread struct kvm_run *budget_run;
static __thread timer_t budget_timer;
static __thread int budget_have_timer;
static __thread uint64_t budget_deadline;
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;
static pthread_key_t budget_key;

static void budget_on_signal(int sig)
{
    (void)sig;
    struct kvm_run *run = budget_run;
    if (run)
        __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void budget_thread_exit(void *p)
{
    (void)p;
    if (budget_have_timer)
        timer_delete(budget_timer);
    budget_have_timer = 0;
}

static void budget_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = budget_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return -EINTR */
    sigaction(TRE_BUDGET_SIGNAL, &sa, NULL);
    pthread_key_create(&budget_key, budget_thread_exit);
}

static uint64_t budget_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int budget_arm(struct kvm_run *run, uint64_t ns)
{
    pthread_once(&budget_once, budget_init);
    if (!budget_have_timer) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = TRE_BUDGET_SIGNAL;
        ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
        if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &budget_timer) < 0)
            return -errno;
        budget_have_timer = 1;
        pthread_setspecific(budget_key, (void *)1);
    }
    budget_run = run;
    budget_deadline = budget_cpu_now() + ns;
    struct itimerspec it = {
        .it_value = { .tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull },
        /* re-fire in case the first signal raced with the exit that cleared the flag */
        .it_interval = { .tv_sec = 0, .tv_nsec = 50 * 1000 * 1000 },
    };
    if (timer_settime(budget_timer, 0, &it, NULL) < 0)
        return -errno;
    return 0;
}

void budget_disarm(void)
{
    if (budget_have_timer) {
        struct itimerspec it;
        memset(&it, 0, sizeof it);
        timer_settime(budget_timer, 0, &it, NULL);
    }
    budget_run = NULL;
}

int budget_expired(void)
{
    return budget_cpu_now() >= budget_deadline;
}
