/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Load generator for pr-helper servers (prhd, qemu-pr-helper, bench/floor).
 *
 * Three modes, each printing one "RESULT key=value ..." line on stdout that
 * bench/run.sh parses:
 *
 *   load     N connections, each in a closed loop: PR IN (READ KEYS by
 *            default) with the device fd attached, wait for the reply, again.
 *            Connections are spread over a few threads, each driving its
 *            share with epoll, so a 2-core machine is not saturated by the
 *            generator's own thread count.  Latency is timed per request
 *            (CLOCK_MONOTONIC at send and at the last reply byte) and the
 *            exact samples are sorted for p50/p99/max.  The generator's own
 *            CPU time (and the server's, given -p PID) is reported per
 *            request, so one can see which side is the bottleneck.
 *            --stall PATH adds one more connection, in its own thread, whose
 *            requests carry an fd on PATH (a FUSE file whose ioctl sleeps);
 *            it is left out of the figures.
 *   idle     N connections that complete the handshake and then stay idle;
 *            reads VmRSS of the server (-p PID) before and after, then sends
 *            one request on every connection to check that all are served.
 *   startup  spawns the server command, polls until a handshake completes on
 *            the socket, kills it; repeated, median reported.
 *
 * Requests are built and replies checked with the project's protocol module
 * (src/proto/wire.h), so a reply the protocol forbids counts as an error.
 * Never a pass/fail on timings: the exit status only says whether the run
 * itself worked (connections, protocol).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <scsi/sg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "wire.h"

extern char **environ;

#define REPLY_MAX (PRH_REPLY_HEADER_SIZE + PRH_DATA_SIZE)

static const char *arg_socket;
static unsigned arg_clients = 1;
static double arg_duration = 5.0;
static double arg_warmup = 0.5;
static const char *arg_device = "/dev/null";
static unsigned arg_threads;
static unsigned arg_alloc_len = 1024;
static unsigned arg_service_action; /* 0 = READ KEYS */
static const char *arg_stall;
static double arg_stall_pause;
static pid_t arg_pid;
static unsigned arg_idle;
static unsigned arg_startup;
static char **arg_startup_argv;
static bool arg_rdwr;
static bool arg_direct;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static void build_cdb(uint8_t cdb[PRH_CDB_SIZE]) {
        memset(cdb, 0, PRH_CDB_SIZE);
        cdb[0] = SCSI_OP_PR_IN;
        cdb[1] = (uint8_t) (arg_service_action & 0x1f);
        proto_put_be16(cdb + 7, (uint16_t) arg_alloc_len);
}

static int raise_nofile(rlim_t want) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= want)
                return 0;
        if (rl.rlim_max < want) {
                rl.rlim_max = want; /* needs CAP_SYS_RESOURCE; fine if it fails below */
        }
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                /* settle for the hard limit */
                if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                        return -errno;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        return -errno;
                return rl.rlim_cur >= want ? 0 : -EMFILE;
        }
        return 0;
}

/* Connect and complete the handshake (blocking).  Returns the fd or -errno. */
static int client_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t hs[PRH_HANDSHAKE_SIZE];
        int fd, r;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        r = (int) loop_read(fd, hs, sizeof hs);
        if (r != (int) sizeof hs) {
                close(fd);
                return r < 0 ? r : -ECONNRESET;
        }
        proto_handshake_encode(hs, 0);
        r = loop_write(fd, hs, sizeof hs);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* One blocking request/reply; returns the SCSI status or -errno / -EBADMSG. */
static int client_request(int sock, int dev, const uint8_t cdb[PRH_CDB_SIZE], uint8_t *buf) {
        ProtoResult res;
        ssize_t n;
        int r;

        n = send_with_fds(sock, cdb, PRH_CDB_SIZE, &dev, 1, MSG_NOSIGNAL);
        if (n < 0)
                return (int) n;
        if (n != PRH_CDB_SIZE)
                return -EIO;
        n = loop_read(sock, buf, PRH_REPLY_HEADER_SIZE);
        if (n < 0)
                return (int) n;
        if (n != PRH_REPLY_HEADER_SIZE)
                return -ECONNRESET;
        r = proto_reply_decode(buf, cdb, &res);
        if (r < 0)
                return r;
        if (res.data_len > 0) {
                n = loop_read(sock, buf + PRH_REPLY_HEADER_SIZE, res.data_len);
                if (n < 0)
                        return (int) n;
                if ((size_t) n != res.data_len)
                        return -ECONNRESET;
        }
        return res.status & 0xff;
}

/* ---- load mode ---- */

typedef struct Conn {
        int fd;
        uint32_t have;
        uint64_t sent_ns;
        uint8_t buf[REPLY_MAX];
} Conn;

typedef struct Worker {
        pthread_t thread;
        Conn *conns;
        unsigned n_conns;
        uint64_t *samples;
        size_t n_samples, size_samples;
        uint64_t status_count[256];
        uint64_t errors;
        int first_error;
        uint32_t *buckets;              /* completions per BUCKET_NS of the measured time */
} Worker;

#define BUCKET_NS 100000000ull
static size_t n_buckets;

static uint8_t load_cdb[PRH_CDB_SIZE];
static int load_dev = -EBADF;
static uint64_t t_measure, t_end;
static pthread_barrier_t start_barrier;

static void worker_error(Worker *w, int r) {
        w->errors++;
        if (!w->first_error)
                w->first_error = r;
}

static int conn_send(Conn *c) {
        ssize_t n;

        c->have = 0;
        c->sent_ns = now_ns();
        n = send_with_fds(c->fd, load_cdb, PRH_CDB_SIZE, &load_dev, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
                return (int) n;
        return n == PRH_CDB_SIZE ? 0 : -EIO; /* one request in flight: never a short send */
}

static void sample_add(Worker *w, uint64_t v) {
        if (w->n_samples == w->size_samples) {
                size_t sz = w->size_samples ? w->size_samples * 2 : 65536;
                uint64_t *p = realloc(w->samples, sz * sizeof *p);
                if (!p)
                        return; /* keep going with the samples we have */
                w->samples = p;
                w->size_samples = sz;
        }
        w->samples[w->n_samples++] = v;
}

/* Read what is there; returns 1 when the reply is complete, 0 if more is due, <0 on error. */
static int conn_receive(Worker *w, Conn *c) {
        ProtoResult res;
        ssize_t n;
        int r;

        n = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;
        c->have += (uint32_t) n;
        if (c->have < PRH_REPLY_HEADER_SIZE)
                return 0;
        r = proto_reply_decode(c->buf, load_cdb, &res);
        if (r < 0)
                return r;
        if (c->have < PRH_REPLY_HEADER_SIZE + res.data_len)
                return 0;
        if (c->have > PRH_REPLY_HEADER_SIZE + res.data_len)
                return -EBADMSG; /* bytes nobody asked for */
        w->status_count[res.status & 0xff]++;
        return 1;
}

static void *worker_run(void *userdata) {
        Worker *w = userdata;
        struct epoll_event evs[64];
        int ep;

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
                worker_error(w, -errno);
                pthread_barrier_wait(&start_barrier);
                return NULL;
        }
        for (unsigned i = 0; i < w->n_conns; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->conns[i] };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, w->conns[i].fd, &ev) < 0)
                        worker_error(w, -errno);
        }
        pthread_barrier_wait(&start_barrier);

        for (unsigned i = 0; i < w->n_conns; i++) {
                int r = conn_send(&w->conns[i]);
                if (r < 0)
                        worker_error(w, r);
        }

        for (;;) {
                uint64_t now = now_ns();
                int n, timeout_ms;

                if (now >= t_end)
                        break;
                timeout_ms = (int) ((t_end - now) / 1000000) + 1;
                n = epoll_wait(ep, evs, ELEMENTSOF(evs), timeout_ms);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        worker_error(w, -errno);
                        break;
                }
                for (int i = 0; i < n; i++) {
                        Conn *c = evs[i].data.ptr;
                        int r = conn_receive(w, c);
                        if (r == 0)
                                continue;
                        if (r < 0) {
                                worker_error(w, r);
                                (void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                continue;
                        }
                        now = now_ns();
                        if (c->sent_ns >= t_measure && now <= t_end) {
                                sample_add(w, now - c->sent_ns);
                                if (w->buckets && (now - t_measure) / BUCKET_NS < n_buckets)
                                        w->buckets[(now - t_measure) / BUCKET_NS]++;
                        }
                        if (now >= t_end)
                                continue;
                        r = conn_send(c);
                        if (r < 0) {
                                worker_error(w, r);
                                (void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        }
                }
        }
        close(ep);
        return NULL;
}

#define MAX_STALLS 4096

typedef struct Staller {
        int sock, dev;
        atomic_uint_fast64_t done;
        atomic_int last;
        /* when the stalled requests were outstanding: [start, end), end 0 = still */
        uint64_t start[MAX_STALLS], end[MAX_STALLS];
        atomic_uint n;
} Staller;

/*
 * With --stall-pause the staller alternates: one request (held by the
 * device for its stall time), then a pause of the same order, so that one
 * run sees the fast clients both with and without a stalled neighbour, a
 * second apart, under the same background load.
 */
static void *staller_run(void *userdata) {
        Staller *s = userdata;
        uint8_t buf[REPLY_MAX];

        for (;;) {
                unsigned i = atomic_load(&s->n);
                int r;

                if (i < MAX_STALLS) {
                        s->start[i] = now_ns();
                        s->end[i] = 0;
                        atomic_store(&s->n, i + 1);
                }
                r = client_request(s->sock, s->dev, load_cdb, buf);
                if (i < MAX_STALLS)
                        s->end[i] = now_ns();
                atomic_store(&s->last, r);
                if (r < 0)
                        return NULL;
                atomic_fetch_add(&s->done, 1);
                if (arg_stall_pause > 0)
                        nanosleep(&(struct timespec) { .tv_sec = (time_t) arg_stall_pause,
                                                       .tv_nsec = (long) ((arg_stall_pause - (double) (time_t) arg_stall_pause) * 1e9) },
                                  NULL);
        }
}

/* Fast clients' rate in buckets wholly inside a stall and wholly outside any. */
static void staller_report(Staller *st, const Worker *workers, unsigned n_threads) {
        unsigned n = MIN(atomic_load(&st->n), (unsigned) MAX_STALLS);
        uint64_t busy = 0, free_ = 0;
        size_t n_busy = 0, n_free = 0;

        for (size_t b = 0; b < n_buckets; b++) {
                uint64_t b0 = t_measure + b * BUCKET_NS, b1 = b0 + BUCKET_NS, count = 0;
                bool inside = false, overlap = false;

                if (b1 > t_end)
                        break;
                for (unsigned i = 0; i < n; i++) {
                        uint64_t e = st->end[i] ? st->end[i] : UINT64_MAX;
                        if (st->start[i] <= b0 && e >= b1)
                                inside = true;
                        if (st->start[i] < b1 && e > b0)
                                overlap = true;
                }
                for (unsigned t = 0; t < n_threads; t++)
                        count += workers[t].buckets ? workers[t].buckets[b] : 0;
                if (inside) {
                        busy += count;
                        n_busy++;
                } else if (!overlap) {
                        free_ += count;
                        n_free++;
                }
        }
        printf(" stall_busy_s=%.1f stall_free_s=%.1f", n_busy * (BUCKET_NS / 1e9), n_free * (BUCKET_NS / 1e9));
        if (n_busy > 0 && n_free > 0) {
                double rb = (double) busy / (n_busy * (BUCKET_NS / 1e9)), rf = (double) free_ / (n_free * (BUCKET_NS / 1e9));
                printf(" stall_busy_rps=%.0f stall_free_rps=%.0f stall_kept_pct=%.1f", rb, rf, rf > 0 ? 100.0 * rb / rf : 0.0);
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t cpu_ns_self(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ((uint64_t) ru.ru_utime.tv_sec + (uint64_t) ru.ru_stime.tv_sec) * 1000000000ull +
               ((uint64_t) ru.ru_utime.tv_usec + (uint64_t) ru.ru_stime.tv_usec) * 1000ull;
}

/* utime+stime of a process (all threads), in ns; 0 if unknown. */
static uint64_t cpu_ns_pid(pid_t pid) {
        char path[64], line[1024], *p;
        unsigned long ut, st;
        FILE *f;

        if (pid <= 0)
                return 0;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return 0;
        p = fgets(line, sizeof line, f);
        fclose(f);
        if (!p || !(p = strrchr(line, ')')))
                return 0;
        /* fields after ')': state(3) ... utime(14) stime(15) */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return 0;
        return (uint64_t) (ut + st) * (1000000000ull / (uint64_t) sysconf(_SC_CLK_TCK));
}

static long rss_kb(pid_t pid) {
        char path[64], line[256];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

static int run_load(void) {
        unsigned n_threads = arg_threads ? arg_threads : (unsigned) sysconf(_SC_NPROCESSORS_ONLN);
        _cleanup_free_ Worker *workers = NULL;
        _cleanup_free_ Conn *conns = NULL;
        _cleanup_free_ uint64_t *all = NULL;
        Staller staller = { .sock = -EBADF, .dev = -EBADF };
        pthread_t staller_thread;
        uint64_t cpu0, cpu1, scpu0, scpu1, errors = 0, other = 0, status_count[256] = {};
        size_t total = 0, k = 0;
        int first_error = 0;
        double secs;

        n_threads = MAX(1u, MIN(n_threads, arg_clients));
        if (raise_nofile(arg_clients + 64) < 0)
                fprintf(stderr, "loadgen: cannot raise RLIMIT_NOFILE to %u\n", arg_clients + 64);

        build_cdb(load_cdb);
        load_dev = open(arg_device, (arg_rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (load_dev < 0) {
                fprintf(stderr, "loadgen: open %s: %m\n", arg_device);
                return 1;
        }

        conns = calloc(arg_clients, sizeof *conns);
        workers = calloc(n_threads, sizeof *workers);
        if (!conns || !workers)
                return 1;
        for (unsigned i = 0; i < arg_clients; i++) {
                int fd = client_connect(arg_socket);
                if (fd < 0) {
                        fprintf(stderr, "loadgen: connection %u to %s failed: %s\n", i, arg_socket, strerror(-fd));
                        return 1;
                }
                conns[i].fd = fd;
        }
        /* contiguous shares, so each worker's Conn array is its own slice */
        n_buckets = (size_t) (arg_duration * 1e9 / BUCKET_NS) + 1;
        for (unsigned t = 0, i = 0; t < n_threads; t++) {
                unsigned n = arg_clients / n_threads + (t < arg_clients % n_threads);
                workers[t].buckets = calloc(n_buckets, sizeof(uint32_t));
                workers[t].conns = conns + i;
                workers[t].n_conns = n;
                i += n;
        }

        if (arg_stall) {
                staller.dev = open(arg_stall, O_RDONLY | O_CLOEXEC);
                if (staller.dev < 0) {
                        fprintf(stderr, "loadgen: open %s: %m\n", arg_stall);
                        return 1;
                }
                staller.sock = client_connect(arg_socket);
                if (staller.sock < 0) {
                        fprintf(stderr, "loadgen: stall connection failed: %s\n", strerror(-staller.sock));
                        return 1;
                }
                if (pthread_create(&staller_thread, NULL, staller_run, &staller) != 0)
                        return 1;
                pthread_detach(staller_thread);
                usleep(100000); /* let its first request reach the device before measuring */
        }

        pthread_barrier_init(&start_barrier, NULL, n_threads + 1);
        for (unsigned t = 0; t < n_threads; t++)
                if (pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]) != 0)
                        return 1;
        {
                uint64_t t0 = now_ns();
                t_measure = t0 + (uint64_t) (arg_warmup * 1e9);
                t_end = t_measure + (uint64_t) (arg_duration * 1e9);
        }
        pthread_barrier_wait(&start_barrier);
        while (now_ns() < t_measure)
                usleep(1000);
        cpu0 = cpu_ns_self();
        scpu0 = cpu_ns_pid(arg_pid);
        for (unsigned t = 0; t < n_threads; t++)
                pthread_join(workers[t].thread, NULL);
        cpu1 = cpu_ns_self();
        scpu1 = cpu_ns_pid(arg_pid);
        secs = arg_duration;

        for (unsigned t = 0; t < n_threads; t++) {
                total += workers[t].n_samples;
                errors += workers[t].errors;
                if (!first_error)
                        first_error = workers[t].first_error;
                for (unsigned s = 0; s < 256; s++)
                        status_count[s] += workers[t].status_count[s];
        }
        all = malloc(MAX(total, (size_t) 1) * sizeof *all);
        if (!all)
                return 1;
        for (unsigned t = 0; t < n_threads; t++) {
                memcpy(all + k, workers[t].samples, workers[t].n_samples * sizeof *all);
                k += workers[t].n_samples;
                free(workers[t].samples);
        }
        qsort(all, total, sizeof *all, cmp_u64);

        printf("RESULT mode=load clients=%u threads=%u secs=%.2f reqs=%zu rps=%.0f", arg_clients, n_threads, secs,
               total, (double) total / secs);
        if (total > 0)
                printf(" p50_us=%.1f p99_us=%.1f max_us=%.1f", all[total / 2] / 1e3,
                       all[MIN(total - 1, (size_t) ((double) total * 0.99))] / 1e3, all[total - 1] / 1e3);
        else
                printf(" p50_us=nan p99_us=nan max_us=nan");
        for (unsigned s = 0; s < 256; s++)
                if (s != SCSI_STATUS_GOOD && s != SCSI_STATUS_CHECK_CONDITION)
                        other += status_count[s];
        printf(" good=%" PRIu64 " check=%" PRIu64 " other=%" PRIu64, status_count[SCSI_STATUS_GOOD],
               status_count[SCSI_STATUS_CHECK_CONDITION], other);
        printf(" errors=%" PRIu64, errors);
        /* CPU per request: the generator's, and the server's when -p was given */
        printf(" lg_cpu_pct=%.0f lg_us_per_req=%.2f", (double) (cpu1 - cpu0) / (secs * 1e7),
               total ? (double) (cpu1 - cpu0) / 1e3 / (double) total : 0.0);
        if (arg_pid > 0)
                printf(" srv_cpu_pct=%.0f srv_us_per_req=%.2f", (double) (scpu1 - scpu0) / (secs * 1e7),
                       total ? (double) (scpu1 - scpu0) / 1e3 / (double) total : 0.0);
        if (arg_stall) {
                printf(" stall_done=%" PRIu64, (uint64_t) atomic_load(&staller.done));
                staller_report(&staller, workers, n_threads);
        }
        printf("\n");
        if (first_error)
                fprintf(stderr, "loadgen: first error: %s\n", strerror(-first_error));
        fflush(stdout);
        /* the staller may be blocked in the server for seconds: do not wait for it */
        _exit(errors > 0 ? 2 : 0);
}

/* ---- direct mode: the same SG_IO the helpers issue, without a helper ---- */

typedef struct Direct {
        pthread_t thread;
        int dev;
        uint64_t *samples;
        size_t n_samples, size_samples;
        uint64_t status_count[256];
        uint64_t errors;
} Direct;

static void *direct_run(void *userdata) {
        Direct *d = userdata;
        uint8_t data[PRH_DATA_SIZE], sense[PRH_SENSE_SIZE];

        pthread_barrier_wait(&start_barrier);
        for (;;) {
                /* the reference's header: 16-byte CDB, 8192-byte buffer, 96-byte sense */
                struct sg_io_hdr hdr = {
                        .interface_id = 'S',
                        .cmd_len = PRH_CDB_SIZE,
                        .cmdp = load_cdb,
                        .sbp = sense,
                        .mx_sb_len = PRH_SENSE_SIZE,
                        .timeout = 7000,
                        .dxfer_direction = SG_DXFER_FROM_DEV,
                        .dxferp = data,
                        .dxfer_len = PRH_DATA_SIZE,
                };
                uint64_t t0 = now_ns(), t1;
                int r = ioctl(d->dev, SG_IO, &hdr);

                t1 = now_ns();
                if (t1 >= t_end)
                        break;
                if (r < 0)
                        d->errors++;
                else
                        d->status_count[hdr.status]++;
                if (t0 >= t_measure) {
                        if (d->n_samples == d->size_samples) {
                                size_t sz = d->size_samples ? d->size_samples * 2 : 65536;
                                uint64_t *p = realloc(d->samples, sz * sizeof *p);
                                if (!p)
                                        continue;
                                d->samples = p;
                                d->size_samples = sz;
                        }
                        d->samples[d->n_samples++] = t1 - t0;
                }
        }
        return NULL;
}

static int run_direct(void) {
        _cleanup_free_ Direct *d = calloc(arg_clients, sizeof *d);
        _cleanup_free_ uint64_t *all = NULL;
        uint64_t errors = 0, good = 0, other = 0, cpu0, cpu1;
        size_t total = 0, k = 0;

        if (!d)
                return 1;
        build_cdb(load_cdb);
        for (unsigned i = 0; i < arg_clients; i++) {
                /* one fd per client, as each helper request brings its own */
                d[i].dev = open(arg_device, (arg_rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC);
                if (d[i].dev < 0) {
                        fprintf(stderr, "loadgen: open %s: %m\n", arg_device);
                        return 1;
                }
        }
        pthread_barrier_init(&start_barrier, NULL, arg_clients + 1);
        for (unsigned i = 0; i < arg_clients; i++)
                if (pthread_create(&d[i].thread, NULL, direct_run, &d[i]) != 0)
                        return 1;
        t_measure = now_ns() + (uint64_t) (arg_warmup * 1e9);
        t_end = t_measure + (uint64_t) (arg_duration * 1e9);
        pthread_barrier_wait(&start_barrier);
        while (now_ns() < t_measure)
                usleep(1000);
        cpu0 = cpu_ns_self();
        for (unsigned i = 0; i < arg_clients; i++)
                pthread_join(d[i].thread, NULL);
        cpu1 = cpu_ns_self();
        for (unsigned i = 0; i < arg_clients; i++)
                total += d[i].n_samples;
        all = malloc(MAX(total, (size_t) 1) * sizeof *all);
        if (!all)
                return 1;
        for (unsigned i = 0; i < arg_clients; i++) {
                memcpy(all + k, d[i].samples, d[i].n_samples * sizeof *all);
                k += d[i].n_samples;
                free(d[i].samples);
                errors += d[i].errors;
                good += d[i].status_count[SCSI_STATUS_GOOD];
                for (unsigned s = 1; s < 256; s++)
                        other += d[i].status_count[s];
                close(d[i].dev);
        }
        qsort(all, total, sizeof *all, cmp_u64);
        printf("RESULT mode=direct clients=%u threads=%u secs=%.2f reqs=%zu rps=%.0f", arg_clients, arg_clients,
               arg_duration, total, (double) total / arg_duration);
        if (total > 0)
                printf(" p50_us=%.1f p99_us=%.1f max_us=%.1f", all[total / 2] / 1e3,
                       all[MIN(total - 1, (size_t) ((double) total * 0.99))] / 1e3, all[total - 1] / 1e3);
        else
                printf(" p50_us=nan p99_us=nan max_us=nan");
        printf(" good=%" PRIu64 " other=%" PRIu64 " ioctl_errors=%" PRIu64 " lg_cpu_pct=%.0f lg_us_per_req=%.2f\n", good,
               other, errors, (double) (cpu1 - cpu0) / (arg_duration * 1e7),
               total ? (double) (cpu1 - cpu0) / 1e3 / (double) total : 0.0);
        return total > 0 ? 0 : 2;
}

/* ---- idle mode ---- */

static int run_idle(void) {
        _cleanup_free_ int *fds = NULL;
        uint8_t cdb[PRH_CDB_SIZE], buf[REPLY_MAX];
        long rss0 = -1, rss1 = -1, rss2 = -1;
        unsigned connected = 0, served = 0, failed = 0;
        int dev;

        if (raise_nofile(arg_idle + 64) < 0) {
                fprintf(stderr, "loadgen: cannot raise RLIMIT_NOFILE to %u\n", arg_idle + 64);
                return 1;
        }
        fds = calloc(MAX(arg_idle, 1u), sizeof *fds);
        if (!fds)
                return 1;
        dev = open(arg_device, O_RDONLY | O_CLOEXEC);
        if (dev < 0) {
                fprintf(stderr, "loadgen: open %s: %m\n", arg_device);
                return 1;
        }
        build_cdb(cdb);

        if (arg_pid > 0)
                rss0 = rss_kb(arg_pid);
        for (unsigned i = 0; i < arg_idle; i++) {
                int fd = client_connect(arg_socket);
                if (fd < 0) {
                        fprintf(stderr, "loadgen: idle connection %u failed: %s\n", i, strerror(-fd));
                        break;
                }
                fds[connected++] = fd;
        }
        usleep(500000); /* let the server finish setting up every connection */
        if (arg_pid > 0)
                rss1 = rss_kb(arg_pid);

        /*
         * Every idle connection must still be served: one request each, in
         * batches, so that the fds in flight (one per request) stay well
         * below the server's fd limit next to its 10,000 sockets.
         */
        for (unsigned b = 0; b < connected; b += 1000) {
                unsigned e = MIN(connected, b + 1000);
                bool sent[1000];

                for (unsigned i = b; i < e; i++)
                        sent[i - b] = send_with_fds(fds[i], cdb, PRH_CDB_SIZE, &dev, 1, MSG_NOSIGNAL) == PRH_CDB_SIZE;
                for (unsigned i = b; i < e; i++) {
                        ProtoResult res;
                        ssize_t n;

                        if (!sent[i - b]) {
                                failed++;
                                continue;
                        }
                        n = loop_read(fds[i], buf, PRH_REPLY_HEADER_SIZE);
                        if (n != PRH_REPLY_HEADER_SIZE || proto_reply_decode(buf, cdb, &res) < 0 ||
                            (res.data_len > 0 && loop_read(fds[i], buf + PRH_REPLY_HEADER_SIZE, res.data_len) !=
                                                         (ssize_t) res.data_len)) {
                                failed++;
                                continue;
                        }
                        served++;
                }
        }
        if (arg_pid > 0)
                rss2 = rss_kb(arg_pid);

        printf("RESULT mode=idle n=%u connected=%u served=%u failed=%u rss0_kb=%ld rss_idle_kb=%ld rss_served_kb=%ld",
               arg_idle, connected, served, failed, rss0, rss1, rss2);
        if (connected > 0 && rss0 >= 0 && rss1 >= 0)
                printf(" per_conn_b=%.0f per_conn_served_b=%.0f", (double) (rss1 - rss0) * 1024.0 / connected,
                       (double) (rss2 - rss0) * 1024.0 / connected);
        printf("\n");
        for (unsigned i = 0; i < connected; i++)
                close(fds[i]);
        close(dev);
        return connected == arg_idle && served == arg_idle ? 0 : 2;
}

/* ---- startup mode ---- */

static int run_startup(void) {
        _cleanup_free_ uint64_t *t = calloc(MAX(arg_startup, 1u), sizeof *t);
        unsigned ok = 0;

        if (!t)
                return 1;
        for (unsigned i = 0; i < arg_startup; i++) {
                pid_t pid;
                uint64_t t0, deadline;
                int fd = -1, status;

                (void) unlink(arg_socket);
                t0 = now_ns();
                if (posix_spawnp(&pid, arg_startup_argv[0], NULL, NULL, arg_startup_argv, environ) != 0) {
                        fprintf(stderr, "loadgen: cannot spawn %s: %m\n", arg_startup_argv[0]);
                        return 1;
                }
                deadline = t0 + 5000000000ull;
                while (now_ns() < deadline) {
                        fd = client_connect(arg_socket);
                        if (fd >= 0)
                                break;
                        /* poll: 20 us between attempts keeps the resolution well below the result */
                        nanosleep(&(struct timespec) { .tv_nsec = 20000 }, NULL);
                }
                if (fd >= 0) {
                        t[ok++] = now_ns() - t0;
                        close(fd);
                } else
                        fprintf(stderr, "loadgen: no handshake within 5 s (run %u)\n", i);
                kill(pid, SIGTERM);
                (void) waitpid(pid, &status, 0);
        }
        (void) unlink(arg_socket);
        qsort(t, ok, sizeof *t, cmp_u64);
        if (ok == 0) {
                printf("RESULT mode=startup runs=%u ok=0\n", arg_startup);
                return 2;
        }
        printf("RESULT mode=startup runs=%u ok=%u median_ms=%.2f min_ms=%.2f max_ms=%.2f\n", arg_startup, ok,
               t[ok / 2] / 1e6, t[0] / 1e6, t[ok - 1] / 1e6);
        return ok == arg_startup ? 0 : 2;
}

static void help(void) {
        printf("Usage: loadgen -k SOCKET [options]                 closed-loop load\n"
               "       loadgen -k SOCKET --idle N -p PID           idle connections, server RSS\n"
               "       loadgen -k SOCKET --startup N -- CMD ARG... exec to first handshake\n"
               "       loadgen --direct -f DEVICE [-c N]           SG_IO without a helper\n\n"
               "  -c, --clients N       connections (default 1)\n"
               "  -d, --duration SECS   measured time (default 5)\n"
               "  -w, --warmup SECS     unmeasured time before (default 0.5)\n"
               "  -f, --device PATH     fd sent with each request (default /dev/null)\n"
               "      --rdwr            open it read-write\n"
               "  -j, --threads N       generator threads (default: number of CPUs)\n"
               "  -a, --alloc-len N     PR IN allocation length (default 1024)\n"
               "      --service-action N  PR IN service action (default 0, READ KEYS)\n"
               "      --stall PATH      one more connection sending an fd on PATH (excluded)\n"
               "      --stall-pause S   it pauses S seconds after each reply; the fast clients'\n"
               "                        rate is then reported with and without a stall outstanding\n"
               "  -p, --pid PID         server pid: CPU time (load) and RSS (idle)\n"
               "      --direct          no server: N threads issue the same SG_IO on -f themselves\n");
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 'k' },
                { "clients", required_argument, NULL, 'c' },
                { "duration", required_argument, NULL, 'd' },
                { "warmup", required_argument, NULL, 'w' },
                { "device", required_argument, NULL, 'f' },
                { "rdwr", no_argument, NULL, 'W' },
                { "threads", required_argument, NULL, 'j' },
                { "alloc-len", required_argument, NULL, 'a' },
                { "service-action", required_argument, NULL, 'S' },
                { "stall", required_argument, NULL, 's' },
                { "stall-pause", required_argument, NULL, 'P' },
                { "pid", required_argument, NULL, 'p' },
                { "idle", required_argument, NULL, 'I' },
                { "startup", required_argument, NULL, 'U' },
                { "direct", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        signal(SIGPIPE, SIG_IGN);
        while ((c = getopt_long(argc, argv, "+k:c:d:w:f:j:a:p:h", opts, NULL)) >= 0)
                switch (c) {
                case 'k': arg_socket = optarg; break;
                case 'c': arg_clients = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'd': arg_duration = strtod(optarg, NULL); break;
                case 'w': arg_warmup = strtod(optarg, NULL); break;
                case 'f': arg_device = optarg; break;
                case 'W': arg_rdwr = true; break;
                case 'j': arg_threads = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'a': arg_alloc_len = (unsigned) strtoul(optarg, NULL, 0); break;
                case 'S': arg_service_action = (unsigned) strtoul(optarg, NULL, 0); break;
                case 's': arg_stall = optarg; break;
                case 'P': arg_stall_pause = strtod(optarg, NULL); break;
                case 'p': arg_pid = (pid_t) strtol(optarg, NULL, 10); break;
                case 'I': arg_idle = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'U': arg_startup = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'D': arg_direct = true; break;
                case 'h': help(); return 0;
                default: return 1;
                }
        if (arg_direct)
                return run_direct();
        if (!arg_socket || arg_clients == 0 || arg_duration <= 0 || arg_alloc_len > 0xffff) {
                help();
                return 1;
        }
        if (arg_startup) {
                if (optind >= argc) {
                        fprintf(stderr, "loadgen: --startup needs a command after --\n");
                        return 1;
                }
                arg_startup_argv = argv + optind;
                return run_startup();
        }
        if (arg_idle)
                return run_idle();
        return run_load();
}
