/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The admin socket (--admin-socket): every connection gets one snapshot of
 * the counters as a JSON object and is closed; prhctl formats it (human,
 * --json, Prometheus text).  No command is read, so a client cannot hold a
 * worker thread.  Access is the socket file's mode (0600, root, by default).
 * Also the per-thread counters' registry and the slowest-device table.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "scsi.h"
#include "server-internal.h"

__thread ThreadStats *stats_mine;

ThreadStats *stats_thread_register(Server *s) {
        ThreadStats *ts = calloc(1, sizeof *ts);

        if (!ts)
                return NULL;    /* its requests go to the shared counters */
        pthread_mutex_lock(&s->stats_lock);
        ts->next = s->thread_stats;
        s->thread_stats = ts;
        pthread_mutex_unlock(&s->stats_lock);
        stats_mine = ts;
        return ts;
}

void stats_thread_unregister(Server *s) {
        ThreadStats *ts = stats_mine;

        if (!ts)
                return;
        pthread_mutex_lock(&s->stats_lock);
        for (ThreadStats **p = &s->thread_stats; *p; p = &(*p)->next)
                if (*p == ts) {
                        *p = ts->next;
                        break;
                }
        stats_add(&s->stats_retired, ts);
        pthread_mutex_unlock(&s->stats_lock);
        stats_mine = NULL;
        free(ts);
}

/*
 * Rare: the request was slower than the fastest record in the table.  The
 * table keeps the devices with the slowest requests (their slowest one).
 */
void stats_slow_request(Server *s, int fd, uint64_t us) {
        struct stat st;
        SlowDevice *slot = NULL;
        uint64_t min = UINT64_MAX;

        if (fstat(fd, &st) < 0)
                return;
        dev_t dev = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode) ? st.st_rdev : st.st_dev;
        pthread_mutex_lock(&s->stats_lock);
        for (unsigned i = 0; i < STATS_SLOW_DEVICES; i++)
                if (s->slow[i].max_us > 0 && s->slow[i].dev == dev && s->slow[i].block == S_ISBLK(st.st_mode)) {
                        slot = &s->slow[i];
                        break;
                }
        if (!slot) {
                for (unsigned i = 0; i < STATS_SLOW_DEVICES; i++)
                        if (!slot || s->slow[i].max_us < slot->max_us)
                                slot = &s->slow[i];
                if (slot->max_us >= us) {
                        pthread_mutex_unlock(&s->stats_lock);
                        return;
                }
                *slot = (SlowDevice) { .dev = dev, .block = S_ISBLK(st.st_mode) };
        }
        if (slot->max_us < us)
                slot->max_us = us;
        slot->slow_requests++;
        for (unsigned i = 0; i < STATS_SLOW_DEVICES; i++)
                if (s->slow[i].max_us > 0 && s->slow[i].max_us < min)
                        min = s->slow[i].max_us;
        /* While the table has room, the fastest device kept is the bar. */
        atomic_store_explicit(&s->slow_threshold_us, min == UINT64_MAX ? 0 : min, memory_order_relaxed);
        pthread_mutex_unlock(&s->stats_lock);
}

static const char *const result_names[_STATS_RESULT_MAX] = {
        [STATS_GOOD] = "good",
        [STATS_CHECK] = "check-condition",
        [STATS_OTHER] = "other-status",
        [STATS_DENIED] = "denied",
};

static json_object *snapshot(Server *s) {
        ThreadStats sum = {};
        SlowDevice slow[STATS_SLOW_DEVICES];
        json_object *o = json_object_new_object(), *conns = json_object_new_object(), *reqs = json_object_new_array(),
                    *lat = json_object_new_array(), *devs = json_object_new_array();
        uint64_t denied = 0, total = 0;
        unsigned now_conns;

        pthread_mutex_lock(&s->stats_lock);
        stats_add(&sum, &s->stats_retired);
        for (ThreadStats *ts = s->thread_stats; ts; ts = ts->next)
                stats_add(&sum, ts);
        memcpy(slow, s->slow, sizeof slow);
        pthread_mutex_unlock(&s->stats_lock);
        pthread_mutex_lock(&s->lock);
        now_conns = s->n_conns;
        pthread_mutex_unlock(&s->lock);

        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(conns, "now", json_object_new_int64(now_conns));
        json_object_object_add(conns, "total", json_object_new_int64((int64_t) atomic_load(&s->conns_total)));
        json_object_object_add(conns, "refused", json_object_new_int64((int64_t) atomic_load(&s->conns_refused)));
        json_object_object_add(o, "connections", conns);
        for (unsigned out = 0; out < 2; out++)
                for (unsigned sa = 0; sa < 32; sa++)
                        for (unsigned r = 0; r < _STATS_RESULT_MAX; r++) {
                                uint64_t n = atomic_load(&sum.requests[out][sa][r]);
                                const char *name = policy_action_name(out ? SCSI_OP_PR_OUT : SCSI_OP_PR_IN, (uint8_t) sa);
                                char code[8];

                                if (n == 0)
                                        continue;
                                total += n;
                                if (r == STATS_DENIED)
                                        denied += n;
                                if (!name) {
                                        (void) snprintf(code, sizeof code, "0x%02x", sa);
                                        name = code;
                                }
                                json_object *e = json_object_new_object();
                                json_object_object_add(e, "op", json_object_new_string(out ? "pr-out" : "pr-in"));
                                json_object_object_add(e, "service_action", json_object_new_string(name));
                                json_object_object_add(e, "result", json_object_new_string(result_names[r]));
                                json_object_object_add(e, "count", json_object_new_int64((int64_t) n));
                                json_object_array_add(reqs, e);
                        }
        json_object_object_add(o, "requests", reqs);
        json_object_object_add(o, "requests_total", json_object_new_int64((int64_t) total));
        json_object_object_add(o, "denied", json_object_new_int64((int64_t) denied));
        json_object_object_add(o, "in_flight",
                               json_object_new_int64(atomic_load(&s->executing) + atomic_load(&s->mpath_executing)));
        for (unsigned b = 0; b < STATS_BUCKETS; b++) {
                json_object *e = json_object_new_object();
                if (b < STATS_BUCKETS - 1)
                        json_object_object_add(e, "le_us", json_object_new_int64((int64_t) (1ull << b)));
                else
                        json_object_object_add(e, "le_us", NULL);
                json_object_object_add(e, "count", json_object_new_int64((int64_t) atomic_load(&sum.latency[b])));
                json_object_array_add(lat, e);
        }
        json_object_object_add(o, "latency_buckets", lat);
        json_object_object_add(o, "latency_sum_us", json_object_new_int64((int64_t) atomic_load(&sum.latency_sum_us)));
        for (unsigned i = 0; i < STATS_SLOW_DEVICES; i++) {
                SlowDevice *d = NULL;
                /* by their slowest request, slowest first */
                for (unsigned k = 0; k < STATS_SLOW_DEVICES; k++)
                        if (slow[k].max_us > 0 && (!d || slow[k].max_us > d->max_us))
                                d = &slow[k];
                if (!d)
                        break;
                char majmin[32], path[96], name[64];
                json_object *e = json_object_new_object();
                (void) snprintf(majmin, sizeof majmin, "%u:%u", major(d->dev), minor(d->dev));
                json_object_object_add(e, "majmin", json_object_new_string(majmin));
                /* DEVNAME from sysfs: the admin path, not the request path */
                (void) snprintf(path, sizeof path, "/sys/dev/%s/%s/uevent", d->block ? "block" : "char", majmin);
                name[0] = 0;
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                char buf[1024];
                ssize_t k = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
                if (k > 0) {
                        buf[k] = 0;
                        char *dn = strstr(buf, "DEVNAME=");
                        if (dn) {
                                dn += 8;
                                size_t l = strcspn(dn, "\n");
                                (void) snprintf(name, sizeof name, "%.*s", (int) MIN(l, sizeof name - 1), dn);
                        }
                }
                if (name[0])
                        json_object_object_add(e, "name", json_object_new_string(name));
                json_object_object_add(e, "max_us", json_object_new_int64((int64_t) d->max_us));
                json_object_object_add(e, "slow_requests", json_object_new_int64((int64_t) d->slow_requests));
                json_object_array_add(devs, e);
                d->max_us = 0;
        }
        json_object_object_add(o, "slowest_devices", devs);
        return o;
}

void admin_accept(Server *s) {
        for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
                int fd = accept4(s->config.admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        break;
                }
                json_object *o = snapshot(s);
                const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
                size_t len = strlen(text), off = 0;
                /* A few KiB: fits the socket buffer; a reader that leaves it full loses the rest. */
                while (off < len) {
                        ssize_t k = send(fd, text + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                break;
                        off += (size_t) k;
                }
                (void) send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                json_object_put(o);
                safe_close(fd);
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &tag_admin };
        conn_hand_over(&s->admin_handed);
        if (!atomic_load_explicit(&s->terminating, memory_order_relaxed) &&
            epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, s->config.admin_fd, &ev) < 0)
                log_warning_errno(-errno, "Failed to watch the admin socket again: %m");
}
