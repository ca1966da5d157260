/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration-test harness; see harness.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- bookkeeping ---- */

static const char *current_test = "setup";

void test_begin(const char *name) {
        current_test = name;
        fprintf(stderr, "== %s\n", name);
}

const char *test_current(void) {
        return current_test;
}

void test_skip(const char *why) {
        fprintf(stderr, "SKIP: %s\n", why);
        exit(77);
}

static unsigned parts_skipped;

void test_skip_part(const char *why) {
        fprintf(stderr, "SKIP: %s\n", why);
        parts_skipped++;
}

unsigned test_parts_skipped(void) {
        return parts_skipped;
}

void test_require_root(void) {
        if (geteuid() != 0)
                test_skip("integration tests start the helper as root");
}

uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* ---- pids to kill at exit ---- */

static pid_t adopted[64];
static size_t n_adopted;

static void kill_adopted(void) {
        for (size_t i = 0; i < n_adopted; i++)
                if (adopted[i] > 0)
                        (void) kill(adopted[i], SIGKILL);
}

void harness_adopt_pid(pid_t pid) {
        static bool registered;

        if (!registered) {
                atexit(kill_adopted);
                registered = true;
        }
        if (n_adopted < ELEMENTSOF(adopted))
                adopted[n_adopted++] = pid;
}

/* ---- which binary ---- */

const char *harness_helper_path(int argc, char **argv) {
        const char *e = getenv("PRH_HELPER");

        if (e && *e)
                return e;
        if (argc > 1)
                return argv[1];
        return "/usr/bin/qemu-pr-helper";
}

HelperVariant harness_variant(const char *path) {
        const char *e = getenv("PRH_VARIANT");
        const char *base;

        if (e && (strcmp(e, "reference") == 0 || strcmp(e, "reference10") == 0))
                return VARIANT_REFERENCE;
        if (e && strcmp(e, "prhd") == 0)
                return VARIANT_PRHD;
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        return strstr(base, "qemu-pr-helper") ? VARIANT_REFERENCE : VARIANT_PRHD;
}

static bool default_unsafe_any_fd;

void harness_set_unsafe_any_fd(bool b) {
        default_unsafe_any_fd = b;
}

bool harness_is_reference10(void) {
        const char *e = getenv("PRH_VARIANT");

        return e && strcmp(e, "reference10") == 0;
}

/* ---- temp dirs ---- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(p);
        return 0;
}

static void rm_rf(const char *dir) {
        if (dir[0])
                (void) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int make_tmpdir(char *buf, size_t size) {
        const char *base = getenv("TMPDIR");

        if (!base || !*base)
                base = "/tmp";
        snprintf(buf, size, "%s/prh-test-XXXXXX", base);
        if (!mkdtemp(buf))
                return -errno;
        /* The helper may drop to nobody: let it reach (not list) the dir. */
        (void) chmod(buf, 0711);
        return 0;
}

/* ---- helper process ---- */

int helper_init(Helper *h, const char *path) {
        int r;

        memset(h, 0, sizeof *h);
        h->pid = -1;
        h->out_fd = h->err_fd = -1;
        h->path = path;
        h->unsafe_any_fd = default_unsafe_any_fd;
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->cond, NULL);
        r = make_tmpdir(h->dir, sizeof h->dir);
        if (r < 0)
                return r;
        snprintf(h->sock, sizeof h->sock, "%s/sock", h->dir);
        snprintf(h->pidfile, sizeof h->pidfile, "%s/pid", h->dir);
        return 0;
}

static void append(char **buf, size_t *len, const char *p, size_t n) {
        char *nb = realloc(*buf, *len + n + 1);

        if (!nb)
                abort();
        memcpy(nb + *len, p, n);
        *len += n;
        nb[*len] = 0;
        *buf = nb;
}

static void *reader_thread(void *userdata) {
        Helper *h = userdata;
        char buf[4096];

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = h->out_eof ? -1 : h->out_fd, .events = POLLIN },
                        { .fd = h->err_eof ? -1 : h->err_fd, .events = POLLIN },
                };
                if (h->out_eof && h->err_eof)
                        break;
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        ssize_t k;

                        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(p[i].fd, buf, sizeof buf);
                        pthread_mutex_lock(&h->lock);
                        if (k <= 0) {
                                if (i == 0)
                                        h->out_eof = true;
                                else
                                        h->err_eof = true;
                        } else if (i == 0)
                                append(&h->out, &h->out_len, buf, (size_t) k);
                        else {
                                append(&h->err, &h->err_len, buf, (size_t) k);
                                /* Show the helper's messages in the test log. */
                                if (!h->quiet)
                                        fprintf(stderr, "  [helper %d] %.*s%s", (int) h->pid, (int) k, buf,
                                                buf[k - 1] == '\n' ? "" : "\n");
                        }
                        pthread_cond_broadcast(&h->cond);
                        pthread_mutex_unlock(&h->lock);
                }
        }
        return NULL;
}

int helper_spawn(Helper *h, const HelperSpawn *s) {
        const char *argv[64];
        size_t n = 0;
        int out[2], err[2];
        pid_t pid;

        if (s->wrapper)
                for (size_t i = 0; s->wrapper[i] && n < 40; i++)
                        argv[n++] = s->wrapper[i];
        argv[n++] = s->wrapper ? h->path : (s->argv0 ? s->argv0 : h->path);
        if (h->unsafe_any_fd && harness_variant(h->path) == VARIANT_PRHD)
                argv[n++] = "--unsafe-any-fd";
        /*
         * $PRH_HELPER_EXTRA_ARGS: more options for prhd, space-separated, "@DIR@" replaced by the
         * helper's temp dir (the "prhd-policy" variant: a configuration that allows everything, with
         * audit records and the admin socket, must not change a byte on the QEMU socket).
         */
        const char *extra = getenv("PRH_HELPER_EXTRA_ARGS");
        const char *base = strrchr(h->path, '/');
        /* by name: the tests run other programs (QEMU) through Helper too */
        bool is_prhd = strcmp(base ? base + 1 : h->path, "prhd") == 0;
        if (extra && *extra && is_prhd && !h->extra_args) {
                size_t cap = strlen(extra) * 2 + strlen(h->dir) * 8 + 1;
                char *buf = calloc(1, cap), *o = buf;
                for (const char *e = extra; buf && *e;) {
                        if (strncmp(e, "@DIR@", 5) == 0) {
                                o = stpcpy(o, h->dir);
                                e += 5;
                        } else
                                *o++ = *e++;
                }
                h->extra_args = buf;
        }
        if (h->extra_args && is_prhd) {
                /* split in place once; later spawns reuse the pieces */
                if (!h->n_extra)
                        for (char *save = NULL, *t = strtok_r(h->extra_args, " ", &save); t && h->n_extra < 8;
                             t = strtok_r(NULL, " ", &save))
                                h->extra[h->n_extra++] = t;
                for (size_t i = 0; i < h->n_extra && n < 30; i++)
                        argv[n++] = h->extra[i];
        }
        if (s->args)
                for (size_t i = 0; s->args[i] && n < 62; i++)
                        argv[n++] = s->args[i];
        argv[n] = NULL;

        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
                return -errno;

        fprintf(stderr, "  spawn:");
        for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", argv[i]);
        fputc('\n', stderr);

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() == 1)
                        _exit(127);
                int devnull = open("/dev/null", O_RDONLY);
                (void) dup2(devnull, 0);
                (void) dup2(out[1], 1);
                (void) dup2(err[1], 2);
                /* Nothing else leaks into the helper: its fd counts start clean. */
                for (int fd = 3; fd < 1024; fd++)
                        (void) close(fd);
                (void) setgroups(s->n_groups, s->groups);
                if (s->prelock_pidfile) {
                        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
                        char pidbuf[32];
                        int pfd = open(s->prelock_pidfile, O_WRONLY | O_CREAT, 0644);
                        if (pfd < 0 || fcntl(pfd, F_SETLK, &fl) < 0 || ftruncate(pfd, 0) < 0)
                                _exit(126);
                        snprintf(pidbuf, sizeof pidbuf, "%d\n", (int) getpid());
                        if (write(pfd, pidbuf, strlen(pidbuf)) < 0)
                                _exit(126);
                }
                signal(SIGPIPE, SIG_DFL);
                if (s->cwd && chdir(s->cwd) < 0)
                        _exit(126);
                if (s->set_ids && (setgid(s->gid) < 0 || setuid(s->uid) < 0))
                        _exit(126);
                if (s->env)
                        for (size_t i = 0; s->env[i]; i++)
                                (void) putenv((char *) (uintptr_t) s->env[i]);
                if (s->pre_exec && s->pre_exec(s->pre_exec_data) < 0) {
                        fprintf(stderr, "pre-exec set-up failed: %m\n");
                        _exit(126);
                }
                if (s->wrapper)
                        execvp(argv[0], (char **) (uintptr_t) argv);
                else
                        execv(h->path, (char **) (uintptr_t) argv);
                fprintf(stderr, "exec %s: %m\n", argv[0]);
                _exit(127);
        }
        close(out[1]);
        close(err[1]);
        h->pid = pid;
        h->reaped = false;
        h->out_fd = out[0];
        h->err_fd = err[0];
        h->out_eof = h->err_eof = false;
        if (pthread_create(&h->reader, NULL, reader_thread, h) != 0)
                abort();
        h->reader_running = true;
        return 0;
}

int helper_wait_socket_path(Helper *h, const char *path, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;

        for (;;) {
                int fd = client_connect(path);
                if (fd >= 0) {
                        close(fd);
                        return 0;
                }
                if (h && h->pid > 0 && !helper_alive(h))
                        return -ECHILD;
                if (now_ms() > end)
                        return -ETIMEDOUT;
                sleep_ms(5);
        }
}

int helper_start(Helper *h, const char *const *args) {
        const char *argv[48] = { "-k", h->sock };
        HelperSpawn s = { .args = argv };
        size_t n = 2;
        int r;

        if (args)
                for (size_t i = 0; args[i] && n < 46; i++)
                        argv[n++] = args[i];
        argv[n] = NULL;
        r = helper_spawn(h, &s);
        if (r < 0)
                return r;
        return helper_wait_socket(h, 5000);
}

bool helper_alive(const Helper *h) {
        int st;

        if (h->pid <= 0 || h->reaped)
                return false;
        /* Peek without reaping so helper_wait_exit() still gets the status. */
        siginfo_t si = {};
        if (waitid(P_PID, (id_t) h->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return false;
        (void) st;
        return si.si_pid == 0;
}

int helper_wait_exit(Helper *h, unsigned timeout_ms, int *ret_status) {
        uint64_t end = now_ms() + timeout_ms;

        if (h->reaped) {
                if (ret_status)
                        *ret_status = h->status;
                return 0;
        }
        if (h->pid <= 0)
                return -ECHILD;
        for (;;) {
                int st;
                pid_t p = waitpid(h->pid, &st, WNOHANG);
                if (p == h->pid) {
                        h->reaped = true;
                        h->status = st;
                        if (ret_status)
                                *ret_status = st;
                        return 0;
                }
                if (p < 0)
                        return -errno;
                if (now_ms() > end)
                        return -ETIMEDOUT;
                sleep_ms(5);
        }
}

int helper_exit_code(const Helper *h) {
        if (!h->reaped)
                return -1;
        if (WIFEXITED(h->status))
                return WEXITSTATUS(h->status);
        if (WIFSIGNALED(h->status))
                return 128 + WTERMSIG(h->status);
        return -1;
}

int helper_run(Helper *h, const HelperSpawn *s, unsigned timeout_ms) {
        int r = helper_spawn(h, s);

        if (r < 0)
                return r;
        r = helper_wait_exit(h, timeout_ms, NULL);
        if (r < 0)
                return r;
        helper_output_drain(h, 2000);
        return helper_exit_code(h);
}

const char *harness_any_fd_option(const char *path) {
        return harness_is_reference(path) ? NULL : "--unsafe-any-fd";
}

bool binary_is_sanitized(const char *path) {
        static const char marker[] = "__asan_init";
        char buf[65536 + sizeof marker];
        size_t keep = 0;
        ssize_t k;
        bool found = false;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        /* Scan for the runtime's entry symbol, carrying a tail across reads. */
        while (!found && (k = read(fd, buf + keep, sizeof buf - keep)) > 0) {
                size_t n = keep + (size_t) k;
                found = memmem(buf, n, marker, sizeof marker - 1) != NULL;
                keep = MIN(n, sizeof marker - 1);
                memmove(buf, buf + n - keep, keep);
        }
        close(fd);
        return found;
}

bool path_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

bool socket_is_live(const char *path) {
        int fd = client_connect(path);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

bool pid_wait_gone(pid_t pid, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;

        while (kill(pid, 0) == 0) {
                char p[64], *st, *c;
                bool zombie;

                /* Reparented daemons may linger as zombies of pid 1: that is gone too. */
                snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
                st = read_file_str(p);
                c = st ? strrchr(st, ')') : NULL;
                zombie = c && (c[2] == 'Z' || c[2] == 'X');
                free(st);
                if (zombie)
                        return true;
                if (now_ms() > end)
                        return false;
                sleep_ms(10);
        }
        return true;
}

int helper_stop(Helper *h, int sig, unsigned timeout_ms) {
        int r;

        if (!h->reaped && h->pid > 0)
                (void) kill(h->pid, sig);
        r = helper_wait_exit(h, timeout_ms, NULL);
        if (r < 0)
                return r;
        return helper_exit_code(h);
}

void helper_output_drain(Helper *h, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;

        pthread_mutex_lock(&h->lock);
        while (h->reader_running && !(h->out_eof && h->err_eof) && now_ms() < end) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 20 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        pthread_mutex_unlock(&h->lock);
}

void helper_free(Helper *h) {
        free(h->extra_args);
        h->extra_args = NULL;
        h->n_extra = 0;
        if (h->pid > 0 && !h->reaped) {
                (void) kill(h->pid, SIGKILL);
                (void) helper_wait_exit(h, 5000, NULL);
        }
        if (h->reader_running) {
                helper_output_drain(h, 2000);
                if (!(h->out_eof && h->err_eof))
                        /* A daemonized grandchild may still hold the pipes. */
                        pthread_cancel(h->reader);
                pthread_join(h->reader, NULL);
                h->reader_running = false;
        }
        if (h->out_fd >= 0)
                close(h->out_fd);
        if (h->err_fd >= 0)
                close(h->err_fd);
        h->out_fd = h->err_fd = -1;
        rm_rf(h->dir);
        free(h->out);
        free(h->err);
        h->out = h->err = NULL;
        h->out_len = h->err_len = 0;
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cond);
}

char *helper_stdout(Helper *h) {
        char *s;

        pthread_mutex_lock(&h->lock);
        s = strdup(h->out ? h->out : "");
        pthread_mutex_unlock(&h->lock);
        return s;
}

char *helper_stderr(Helper *h) {
        char *s;

        pthread_mutex_lock(&h->lock);
        s = strdup(h->err ? h->err : "");
        pthread_mutex_unlock(&h->lock);
        return s;
}

void helper_stderr_mark(Helper *h) {
        pthread_mutex_lock(&h->lock);
        h->err_mark = h->err_len;
        pthread_mutex_unlock(&h->lock);
}

char *helper_stderr_since_mark(Helper *h) {
        char *s;

        pthread_mutex_lock(&h->lock);
        s = strdup(h->err ? h->err + h->err_mark : "");
        pthread_mutex_unlock(&h->lock);
        return s;
}

bool helper_stderr_wait(Helper *h, const char *needle, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;
        bool found;

        pthread_mutex_lock(&h->lock);
        for (;;) {
                found = h->err && strstr(h->err + h->err_mark, needle);
                if (found || now_ms() >= end || h->err_eof)
                        break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        pthread_mutex_unlock(&h->lock);
        return found;
}

void helper_stderr_quiet(Helper *h, unsigned quiet_ms, unsigned max_ms) {
        uint64_t end = now_ms() + max_ms, last_change = now_ms();
        size_t len;

        pthread_mutex_lock(&h->lock);
        len = h->err_len;
        pthread_mutex_unlock(&h->lock);
        while (now_ms() < end && now_ms() - last_change < quiet_ms) {
                sleep_ms(10);
                pthread_mutex_lock(&h->lock);
                if (h->err_len != len) {
                        len = h->err_len;
                        last_change = now_ms();
                }
                pthread_mutex_unlock(&h->lock);
        }
}

unsigned helper_stderr_count(Helper *h, const char *needle) {
        unsigned n = 0;

        pthread_mutex_lock(&h->lock);
        if (h->err)
                for (const char *p = h->err + h->err_mark; (p = strstr(p, needle)); p += strlen(needle))
                        n++;
        pthread_mutex_unlock(&h->lock);
        return n;
}

/* ---- /proc ---- */

int proc_fd_count(pid_t pid) {
        char p[64];
        DIR *d;
        struct dirent *de;
        int n = 0;

        snprintf(p, sizeof p, "/proc/%d/fd", (int) pid);
        d = opendir(p);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

int proc_fd_count_settle(pid_t pid, int target, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;
        int n;

        for (;;) {
                n = proc_fd_count(pid);
                if (n <= target || now_ms() > end)
                        return n;
                sleep_ms(10);
        }
}

char *read_file_str(const char *path) {
        char *buf = NULL;
        size_t len = 0;
        char tmp[4096];
        ssize_t k;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return NULL;
        while ((k = read(fd, tmp, sizeof tmp)) > 0)
                append(&buf, &len, tmp, (size_t) k);
        close(fd);
        if (!buf)
                buf = strdup("");
        return buf;
}

char *proc_status_field(pid_t pid, const char *key) {
        char p[64], *s, *line, *res = NULL;
        size_t kl = strlen(key);

        snprintf(p, sizeof p, "/proc/%d/status", (int) pid);
        s = read_file_str(p);
        if (!s)
                return NULL;
        for (line = s; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        char *v = line + kl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        size_t vl = strlen(v);
                        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                                v[--vl] = 0;
                        res = strdup(v);
                        break;
                }
                line = nl ? nl + 1 : NULL;
        }
        free(s);
        return res;
}

long proc_rss_kb(pid_t pid) {
        char *v = proc_status_field(pid, "VmRSS");
        long kb;

        if (!v)
                return -1;
        kb = strtol(v, NULL, 10);
        free(v);
        return kb;
}

int proc_stat_ppid_sid(pid_t pid, pid_t *ret_ppid, pid_t *ret_sid) {
        char p[64], *s, *c;
        int ppid, pgrp, sid;
        char state;

        snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
        s = read_file_str(p);
        if (!s)
                return -ENOENT;
        c = strrchr(s, ')');
        if (!c || sscanf(c + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4) {
                free(s);
                return -EIO;
        }
        free(s);
        *ret_ppid = ppid;
        *ret_sid = sid;
        return 0;
}

/* ---- client ---- */

int client_connect(const char *sock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = 10 };
        int fd;

        if (strlen(sock) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, sock);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Read exactly n bytes within timeout: n, a short count at EOF, or -errno. */
static ssize_t read_exact_timeout(int fd, void *buf, size_t n, unsigned timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;
        size_t done = 0;

        while (done < n) {
                int64_t left = (int64_t) end - (int64_t) now_ms();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                ssize_t k = recv(fd, (char *) buf + done, n - done, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        if (errno == ECONNRESET)
                                break;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int client_handshake(int fd, uint32_t features) {
        uint8_t b[PRH_HANDSHAKE_SIZE];
        ssize_t k = read_exact_timeout(fd, b, sizeof b, 10000);

        if (k < 0)
                return (int) k;
        if (k != (ssize_t) sizeof b)
                return -ECONNRESET;
        if (proto_handshake_decode(b) != PRH_SUPPORTED_FEATURES)
                return -EPROTO;
        proto_handshake_encode(b, features);
        return loop_write(fd, b, sizeof b);
}

int client_open(const char *sock) {
        int fd = client_connect(sock), r;

        if (fd < 0)
                return fd;
        r = client_handshake(fd, 0);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

void cdb_pr_in(uint8_t cdb[PRH_CDB_SIZE], uint8_t sa, uint16_t alloc_len) {
        memset(cdb, 0, PRH_CDB_SIZE);
        cdb[0] = SCSI_OP_PR_IN;
        cdb[1] = sa & 0x1f;
        proto_put_be16(cdb + 7, alloc_len);
}

void cdb_pr_out(uint8_t cdb[PRH_CDB_SIZE], uint8_t sa, uint8_t scope_type, uint16_t param_len) {
        memset(cdb, 0, PRH_CDB_SIZE);
        cdb[0] = SCSI_OP_PR_OUT;
        cdb[1] = sa & 0x1f;
        cdb[2] = scope_type;
        /* Bytes 5-8 are the SPC parameter list length; QEMU only reads 7-8. */
        proto_put_be16(cdb + 7, param_len);
}

int client_send(int sock, const void *buf, size_t n, int fd1, int fd2) {
        int fds[2] = { fd1, fd2 };
        size_t nfds = fd1 < 0 ? 0 : fd2 < 0 ? 1 : 2;
        ssize_t k = send_with_fds(sock, buf, n, fds, nfds, 0);

        if (k < 0)
                return (int) k;
        if ((size_t) k != n)
                return loop_write(sock, (const char *) buf + k, n - (size_t) k);
        return 0;
}

int client_send_request(int sock, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int devfd) {
        static const uint8_t zeros[PRH_DATA_SIZE];
        uint32_t len = proto_cdb_xfer_len(cdb);
        int r = client_send(sock, cdb, PRH_CDB_SIZE, devfd, -1);

        if (r < 0 || !proto_cdb_is_pr_out(cdb) || len == 0)
                return r;
        if (len > PRH_DATA_SIZE)
                return 0;       /* the helper must not read it */
        return loop_write(sock, data ? data : zeros, len);
}

int client_read_reply(int sock, const uint8_t cdb[PRH_CDB_SIZE], Reply *ret, unsigned timeout_ms) {
        ssize_t k;

        memset(ret, 0, sizeof *ret);
        k = read_exact_timeout(sock, ret->header, PRH_REPLY_HEADER_SIZE, timeout_ms);
        if (k < 0)
                return (int) k;
        if (k == 0)
                return 1;
        if (k != PRH_REPLY_HEADER_SIZE)
                return -EPROTO;
        ret->decode_error = proto_reply_decode(ret->header, cdb, &ret->res);
        if (ret->decode_error < 0)
                return -EPROTO;
        if (ret->res.data_len > 0) {
                k = read_exact_timeout(sock, ret->payload, ret->res.data_len, timeout_ms);
                if (k < 0)
                        return (int) k;
                if ((uint32_t) k != ret->res.data_len)
                        return -EPROTO;
                ret->payload_len = ret->res.data_len;
        }
        return 0;
}

int client_roundtrip(int sock, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int devfd, Reply *ret) {
        int r = client_send_request(sock, cdb, data, devfd);

        if (r < 0)
                return r;
        return client_read_reply(sock, cdb, ret, 10000);
}

int client_expect_closed(int sock, unsigned timeout_ms) {
        struct pollfd p = { .fd = sock, .events = POLLIN };
        uint64_t end = now_ms() + timeout_ms;
        char c;

        for (;;) {
                int64_t left = (int64_t) end - (int64_t) now_ms();
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return -ETIMEDOUT;
                ssize_t k = recv(sock, &c, 1, MSG_DONTWAIT);
                if (k == 0 || (k < 0 && errno == ECONNRESET))
                        return 0;
                if (k > 0)
                        return 1;
                if (errno != EAGAIN && errno != EINTR)
                        return 0;
        }
}

bool client_still_open(int sock, unsigned ms) {
        struct pollfd p = { .fd = sock, .events = POLLIN };

        return poll(&p, 1, (int) ms) == 0;
}

bool reply_is_check(const Reply *r, uint8_t key, uint8_t asc, uint8_t ascq) {
        return r->res.status == SCSI_STATUS_CHECK_CONDITION && r->res.data_len == 0 &&
               r->res.sense[0] == 0x70 && r->res.sense[2] == key && r->res.sense[7] == 0x0a &&
               r->res.sense[12] == asc && r->res.sense[13] == ascq;
}

bool reply_sense_zero_from(const Reply *r, unsigned from) {
        for (unsigned i = from; i < PRH_SENSE_SIZE; i++)
                if (r->res.sense[i])
                        return false;
        return true;
}

void hexdump(const char *label, const uint8_t *p, size_t n) {
        fprintf(stderr, "  %s (%zu bytes):", label, n);
        for (size_t i = 0; i < n; i++)
                fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n    " : " ", p[i]);
        fputc('\n', stderr);
}

const uint8_t REPLY_ENOTTY[PRH_REPLY_HEADER_SIZE] = {
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x70, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
};

const uint8_t REPLY_READ_ONLY[PRH_REPLY_HEADER_SIZE] = {
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x70, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* ---- FUSE device ---- */

const char *fuse_dev_binary(void) {
        const char *e = getenv("PRH_FUSE_SGIO");

        return e && *e ? e : "./fuse-sgio";
}

int fuse_dev_start(FuseDev *f, unsigned slow_seconds) {
        char secs[16], probe[400];
        uint64_t end;
        int r;

        memset(f, 0, sizeof *f);
        f->pid = -1;
        if (access("/dev/fuse", R_OK | W_OK) < 0)
                return -errno;
        if (access(fuse_dev_binary(), X_OK) < 0)
                return -errno;
        r = make_tmpdir(f->dir, sizeof f->dir);
        if (r < 0)
                return r;
        (void) chmod(f->dir, 0755);
        snprintf(f->mnt, sizeof f->mnt, "%s/mnt", f->dir);
        if (mkdir(f->mnt, 0755) < 0)
                return -errno;
        snprintf(secs, sizeof secs, "%u", slow_seconds);

        f->pid = fork();
        if (f->pid < 0)
                return -errno;
        if (f->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                execl(fuse_dev_binary(), "fuse-sgio", f->mnt, secs, (char *) NULL);
                _exit(127);
        }
        snprintf(probe, sizeof probe, "%s/good", f->mnt);
        for (end = now_ms() + 5000; now_ms() < end;) {
                struct stat st;
                int status;

                if (stat(probe, &st) == 0 && S_ISREG(st.st_mode)) {
                        f->mounted = true;
                        return 0;
                }
                if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
                        f->pid = -1;
                        rm_rf(f->dir);
                        return -ENODEV;
                }
                sleep_ms(10);
        }
        fuse_dev_stop(f);
        return -ETIMEDOUT;
}

int fuse_dev_open(const FuseDev *f, const char *name, int flags) {
        char p[400];
        int fd;

        snprintf(p, sizeof p, "%s/%s", f->mnt, name);
        fd = open(p, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

long fuse_dev_ioctl_count(const FuseDev *f) {
        char p[400], *s;
        long n;

        snprintf(p, sizeof p, "%s/count", f->mnt);
        s = read_file_str(p);
        if (!s)
                return -1;
        n = strtol(s, NULL, 10);
        free(s);
        return n;
}

void fuse_dev_stop(FuseDev *f) {
        if (f->mounted) {
                if (umount2(f->mnt, 0) < 0)
                        (void) umount2(f->mnt, MNT_DETACH);
                f->mounted = false;
        }
        if (f->pid > 0) {
                int status;
                uint64_t end = now_ms() + 2000;

                while (waitpid(f->pid, &status, WNOHANG) == 0) {
                        if (now_ms() > end) {
                                (void) kill(f->pid, SIGKILL);
                                (void) waitpid(f->pid, &status, 0);
                                break;
                        }
                        sleep_ms(10);
                }
                f->pid = -1;
        }
        (void) rmdir(f->mnt);
        (void) rmdir(f->dir);
}

/* ---- protocol violations ---- */

static int v_handshake_nonzero(int s, int devfd) {
        return client_handshake(s, 1);
}

static int v_handshake_high_bit(int s, int devfd) {
        return client_handshake(s, 0x80000000u);
}

static int v_handshake_eof(int s, int devfd) {
        uint8_t b[2] = {};
        /* Half the handshake, then hang up. */
        return client_send(s, b, sizeof b, -1, -1);
}

static int v_cdb_eof(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        r = client_send(s, cdb, 8, devfd, -1);
        if (r < 0)
                return r;
        return shutdown(s, SHUT_WR) < 0 ? -errno : 0;
}

static int v_two_fds_one_cmsg(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return client_send(s, cdb, sizeof cdb, devfd, devfd);
}

static int v_two_fds_split(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        r = client_send(s, cdb, 8, devfd, -1);
        if (r < 0)
                return r;
        return client_send(s, cdb + 8, 8, devfd, -1);
}

static int v_no_fd(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return client_send(s, cdb, sizeof cdb, -1, -1);
}

static int v_fd_on_data(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE], data[24] = {};
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_out(cdb, 0, 0, sizeof data);
        r = client_send(s, cdb, sizeof cdb, -1, -1);
        if (r < 0)
                return r;
        /* The helper may already have closed: ignore EPIPE here. */
        (void) client_send(s, data, sizeof data, devfd, -1);
        return 0;
}

static int v_fd_on_handshake(int s, int devfd) {
        uint8_t hs[PRH_HANDSHAKE_SIZE], cdb[PRH_CDB_SIZE];
        ssize_t k;
        int r;

        k = recv(s, hs, sizeof hs, MSG_WAITALL);
        if (k != (ssize_t) sizeof hs)
                return -EPROTO;
        proto_handshake_encode(hs, 0);
        r = client_send(s, hs, sizeof hs, devfd, -1);
        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return client_send(s, cdb, sizeof cdb, -1, -1);
}

static int v_bad_opcode(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE] = { 0x12, 0, 0, 0, 36 };      /* INQUIRY */
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        return client_send(s, cdb, sizeof cdb, devfd, -1);
}

static int v_pr_in_8193(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, PRH_DATA_SIZE + 1);
        return client_send(s, cdb, sizeof cdb, devfd, -1);
}

static int v_pr_out_8193(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_out(cdb, 0, 0, PRH_DATA_SIZE + 1);
        /* No data follows: the helper must reject on the CDB alone. */
        return client_send(s, cdb, sizeof cdb, devfd, -1);
}

static int v_pr_out_short_data(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE], data[10] = {};
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_out(cdb, 0, 0, 24);
        r = client_send(s, cdb, sizeof cdb, devfd, -1);
        if (r < 0)
                return r;
        r = client_send(s, data, sizeof data, -1, -1);
        if (r < 0)
                return r;
        return shutdown(s, SHUT_WR) < 0 ? -errno : 0;
}

/* The first N bytes of a PR IN CDB (with the fd), nothing more. */
static int send_cdb_part(int s, int devfd, size_t n) {
        uint8_t cdb[PRH_CDB_SIZE];

        cdb_pr_in(cdb, 0, 40);
        return client_send(s, cdb, n, devfd, -1);
}

/* A PR OUT CDB announcing 24 bytes of data, then only N (< 24) of them. */
static int send_data_part(int s, int devfd, size_t n) {
        uint8_t cdb[PRH_CDB_SIZE], data[24] = {};
        int r;

        cdb_pr_out(cdb, 0, 0, sizeof data);
        r = client_send(s, cdb, sizeof cdb, devfd, -1);
        if (r < 0)
                return r;
        return client_send(s, data, n, -1, -1);
}

static int v_gone_mid_cdb(int s, int devfd) {
        int r = client_handshake(s, 0);

        return r < 0 ? r : send_cdb_part(s, devfd, 7);
}

static int v_gone_mid_data(int s, int devfd) {
        int r = client_handshake(s, 0);

        return r < 0 ? r : send_data_part(s, devfd, 10);
}

static int v_gone_before_reply(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return client_send(s, cdb, sizeof cdb, devfd, -1);
}

/* One sendmsg carrying count copies of fd in a single SCM_RIGHTS cmsg (kernel max 253). */
static int send_many_fds(int s, const void *buf, size_t n, int fd, size_t count) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) (uintptr_t) buf, .iov_len = n };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = CMSG_SPACE(sizeof(int) * count) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        if (count > 253)
                return -EINVAL;
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * count);
        for (size_t i = 0; i < count; i++)
                memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
        return sendmsg(s, &mh, MSG_NOSIGNAL) == (ssize_t) n ? 0 : -errno;
}

static int v_17_fds(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return send_many_fds(s, cdb, sizeof cdb, devfd, 17);
}

static int v_253_fds(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 40);
        return send_many_fds(s, cdb, sizeof cdb, devfd, 253);
}

/*
 * Read errors rather than EOF: a peer closing with unread data in its receive
 * queue makes the helper's next read fail with ECONNRESET once the bytes
 * already queued are consumed.  A first request's reply is left unread for
 * that (waiting until it has arrived pins the helper to the next request).
 */
static int reset_prepare(int s, int devfd) {
        uint8_t cdb[PRH_CDB_SIZE];
        struct pollfd p = { .fd = s, .events = POLLIN };
        int r = client_handshake(s, 0);

        if (r < 0)
                return r;
        cdb_pr_in(cdb, 0, 8);
        r = client_send(s, cdb, sizeof cdb, devfd, -1);
        if (r < 0)
                return r;
        return poll(&p, 1, 10000) == 1 ? 0 : -ETIMEDOUT;
}

static int v_reset_handshake(int s, int devfd) {
        struct pollfd p = { .fd = s, .events = POLLIN };
        uint8_t half[2] = {};

        /* The helper's 4 bytes are queued here, unread; half of ours, then close. */
        if (poll(&p, 1, 10000) != 1)
                return -ETIMEDOUT;
        return client_send(s, half, sizeof half, -1, -1);
}

static int v_reset_idle(int s, int devfd) {
        return reset_prepare(s, devfd);
}

static int v_reset_mid_cdb(int s, int devfd) {
        int r = reset_prepare(s, devfd);

        return r < 0 ? r : send_cdb_part(s, devfd, 9);
}

static int v_reset_mid_data(int s, int devfd) {
        int r = reset_prepare(s, devfd);

        return r < 0 ? r : send_data_part(s, devfd, 5);
}

const Violation violations[] = {
        { "H1 requested features 1", v_handshake_nonzero, NULL, false, false },
        { "H1 requested features 0x80000000", v_handshake_high_bit, NULL, false, false },
        { "H1 EOF during handshake", v_handshake_eof, NULL, true, false },
        { "R1 EOF within the CDB", v_cdb_eof, NULL, false, false },
        { "R2 two fds in one cmsg", v_two_fds_one_cmsg, NULL, false, false },
        { "R2 two fds on two CDB chunks", v_two_fds_split, NULL, false, false },
        { "R2 17 fds in one cmsg (more than the reference's buffer)", v_17_fds, NULL, false, false },
        { "R2 253 fds in one cmsg (kernel maximum)", v_253_fds, NULL, false, false },
        { "R3 no fd", v_no_fd, "No file descriptor in request.", false, false },
        { "R3 fd only on the PR OUT data", v_fd_on_data, "No file descriptor in request.", false, false },
        { "R3 fd only on the handshake", v_fd_on_handshake, "No file descriptor in request.", false, false },
        { "R4 opcode 0x12", v_bad_opcode, "Invalid CDB, closing socket.", false, false },
        { "R5 PR IN allocation length 8193", v_pr_in_8193, NULL, false, false },
        { "R5 PR OUT parameter length 8193", v_pr_out_8193, NULL, false, false },
        { "R6 EOF within the PR OUT data", v_pr_out_short_data,
          "Unexpected end-of-file before all data were read", false, false },
        { "client gone within the CDB", v_gone_mid_cdb, NULL, true, false },
        { "client gone within the PR OUT data", v_gone_mid_data,
          "Unexpected end-of-file before all data were read", true, false },
        { "client gone before the reply", v_gone_before_reply, NULL, true, true },
        /* The reference reads the handshake and the CDB without an error report
         * (silent), the data with one. */
        { "H1 read error (ECONNRESET) within the handshake", v_reset_handshake, NULL, true, false },
        { "R1 read error (ECONNRESET) between requests", v_reset_idle, NULL, true, false },
        { "R1 read error (ECONNRESET) within the CDB", v_reset_mid_cdb, NULL, true, false },
        { "R6 read error (ECONNRESET) within the PR OUT data", v_reset_mid_data,
          "Unable to read from socket: Connection reset by peer", true, false },
};
const size_t n_violations = ELEMENTSOF(violations);

int violation_perform(const Violation *v, const char *sock, int devfd, unsigned timeout_ms) {
        int s = client_connect(sock), r;

        if (s < 0)
                return s;
        r = v->run(s, devfd);
        if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
                close(s);
                return r;
        }
        if (!v->client_closes) {
                r = client_expect_closed(s, timeout_ms);
                if (r > 0)
                        r = -EPROTO;
        } else
                r = 0;
        close(s);
        return r;
}
