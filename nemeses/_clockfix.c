/* Preloaded before libfaketime under the clock nemesis, so that programs that
 * sleep until a deadline on a monotonic clock keep working.
 *
 * libfaketime 0.9.10 (Debian 12's) moves the TIMER_ABSTIME deadline of
 * clock_nanosleep() by the faked offset for every clock, even when it is told
 * not to fake the monotonic clocks (FAKETIME_DONT_FAKE_MONOTONIC=1, which
 * jepsy sets because a real clock step does not move them either).  The
 * kernel then gets a deadline shifted by decades and answers EINVAL: Python
 * 3.11's time.sleep() (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...))
 * dies with "OSError: [Errno 22] Invalid argument" even at offset 0
 * (libfaketime issue 426).  Faking the monotonic clock instead makes
 * threading.Event.wait() hang.
 *
 * So: a sleep on any clock but the wall clock goes straight to the kernel,
 * unfaked, as those clocks are; a sleep on CLOCK_REALTIME goes on to
 * libfaketime, which converts its deadline from faked to real time.
 *
 * Built by pip like a C extension (jepsy.nemeses._clockfix) but never
 * imported: it is only ever named in LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request,
                    struct timespec *remain)
{
    static clock_nanosleep_fn next;
    if (clock_id != CLOCK_REALTIME) {
        /* clock_nanosleep() returns the error number; syscall() sets errno. */
        return syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
    }
    if (next == NULL) {
        next = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
        if (next == NULL) {
            return syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
        }
    }
    return next(clock_id, flags, request, remain);
}
