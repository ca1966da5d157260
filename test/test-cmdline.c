/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command line and process behaviour (docs/protocol.md, "Command line and process"):
 * -h/-V, bad options and their messages, -k/-u/-g/-T checks, a non-socket
 * at the -k path, -T parsing where the helpers differ, the pidfile
 * (content, mode, POSIX lock, libvirt's pre-locked pidfile), -d, a second
 * instance, stale sockets, and SIGTERM/SIGINT/SIGHUP.
 *
 * Where prhd deliberately fixes a reference bug (second instance, -d exit
 * status and ordering), each variant is held to its own documented
 * behaviour, so the test shows the difference rather than hiding it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static const char *path;
/* the helper's argv[0] in its messages: $PRH_HELPER_ARGV0 when a wrapper runs it (valgrind), else path */
static const char *helper_argv0;
static bool is_ref;
static int null_rw = -1;

static bool contains(const char *hay, const char *needle) {
        return hay && strstr(hay, needle);
}

static bool request_works(const char *sock) {
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        int s = client_open(sock), r;

        if (s < 0)
                return false;
        cdb_pr_in(cdb, 0, 40);
        r = client_roundtrip(s, cdb, NULL, null_rw, &rep);
        close(s);
        return r == 0 && memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0;
}

static const char REFERENCE_HELP[] =
        "Usage: %s [OPTIONS] FILE\n"
        "Persistent Reservation helper program for QEMU\n"
        "\n"
        "  -h, --help                display this help and exit\n"
        "  -V, --version             output version information and exit\n"
        "\n"
        "  -d, --daemon              run in the background\n"
        "  -f, --pidfile=PATH        PID file when running as a daemon\n"
        "                            (default '/var/run/qemu-pr-helper.pid')\n"
        "  -k, --socket=PATH         path to the unix socket\n"
        "                            (default '/var/run/qemu-pr-helper.sock')\n"
        "  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
        "                            specify tracing options\n"
        "  -u, --user=USER           user to drop privileges to\n"
        "  -g, --group=GROUP         group to drop privileges to\n"
        "\n"
        "See <https://qemu.org/contribute/report-a-bug> for how to report bugs.\n"
        "More information on the QEMU project at <https://qemu.org>.\n";

/* Copy template to buf with each "%s" replaced by argv0 (no printf on non-literals). */
static void subst_argv0(char *buf, size_t size, const char *template, const char *argv0) {
        size_t n = 0;

        for (const char *p = template; *p && n + 1 < size; p++) {
                if (p[0] == '%' && p[1] == 's') {
                        for (const char *q = argv0; *q && n + 1 < size; q++)
                                buf[n++] = *q;
                        p++;
                } else
                        buf[n++] = *p;
        }
        buf[n] = 0;
}

/* Run "<path> args" to completion; returns exit code, output in h. */
static int run(Helper *h, const char *const *args) {
        HelperSpawn s = { .args = args };
        int r;

        if (helper_init(h, path) < 0)
                return -1;
        r = helper_run(h, &s, 5000);
        return r;
}

static void test_help_version(void) {
        static const char *const opts[] = { "-h", "--help" };

        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                const char *args[] = { opts[i], NULL };
                char title[64], usage[512];
                Helper h;

                snprintf(title, sizeof title, "%s prints usage on stdout, exit 0", opts[i]);
                test_begin(title);
                CHECK_EQ(run(&h, args), 0);
                _cleanup_free_ char *out = helper_stdout(&h), *err = helper_stderr(&h);
                snprintf(usage, sizeof usage, "Usage: %s [OPTIONS]", helper_argv0);
                CHECK_MSG(strncmp(out, usage, strlen(usage)) == 0, "usage line: %.80s", out);
                CHECK(contains(out, "  -h, --help "));
                CHECK(contains(out, "  -V, --version "));
                CHECK(contains(out, "  -d, --daemon "));
                CHECK(contains(out, "  -f, --pidfile=PATH "));
                CHECK(contains(out, "  -k, --socket=PATH "));
                CHECK(contains(out, "  -T, --trace "));
                CHECK(contains(out, "  -u, --user=USER "));
                CHECK(contains(out, "  -g, --group=GROUP "));
                CHECK(contains(out, "(default '/var/run/qemu-pr-helper.pid')"));
                CHECK(contains(out, "(default '/var/run/qemu-pr-helper.sock')"));
                CHECK_MSG(err[0] == 0, "stderr: %s", err);
                if (is_ref) {
                        char exact[2048];
                        subst_argv0(exact, sizeof exact, REFERENCE_HELP, path);
                        CHECK_MSG(strcmp(out, exact) == 0, "help text differs from the reference's (REFERENCE_HELP; "
                                  "docs/protocol.md, \"Command line and process\")");
                }
                helper_free(&h);
        }

        static const char *const vopts[] = { "-V", "--version" };
        for (size_t i = 0; i < ELEMENTSOF(vopts); i++) {
                const char *args[] = { vopts[i], NULL };
                char title[64], first[512];
                Helper h;

                snprintf(title, sizeof title, "%s prints the version on stdout, exit 0", vopts[i]);
                test_begin(title);
                CHECK_EQ(run(&h, args), 0);
                _cleanup_free_ char *out = helper_stdout(&h), *err = helper_stderr(&h);
                snprintf(first, sizeof first, "%s ", helper_argv0);
                CHECK_MSG(strncmp(out, first, strlen(first)) == 0, "first line: %.80s", out);
                CHECK(contains(out, "There is NO\nwarranty"));
                CHECK_MSG(err[0] == 0, "stderr: %s", err);
                if (is_ref)
                        CHECK(contains(out, "Written by Paolo Bonzini."));
                helper_free(&h);
        }
}

typedef struct BadCase {
        const char *title;
        const char *args[6];
        const char *message;    /* "%s" = argv[0] */
        bool try_help;          /* followed by "Try `argv0 --help' ..." */
} BadCase;

static char long_path[160];

static void test_bad_options(void) {
        static const BadCase cases[] = {
                { "socket path of 120 bytes", { "-k", long_path, NULL }, "is too long", false },
                { "socket path of 120 bytes (hint)", { "-k", long_path, NULL }, "Path must be less than 108 bytes",
                  false },
                { "socket in a missing directory", { "-k", "/nonexistent-dir-prh/sock", NULL },
                  "Failed to bind socket to /nonexistent-dir-prh/sock: No such file or directory", false },
                { "trace file in a missing directory", { "-T", "file=/nonexistent-dir-prh/t.log", NULL },
                  "Error opening logfile /nonexistent-dir-prh/t.log: No such file or directory", false },
                { "unknown long option", { "--bogus", NULL }, "%s: unrecognized option '--bogus'", true },
                { "unknown short option", { "-x", NULL }, "%s: invalid option -- 'x'", true },
                { "missing argument", { "-k", NULL }, "%s: option requires an argument -- 'k'", true },
                { "relative socket path", { "-k", "relative/sock", NULL }, "socket path must be absolute", false },
                { "earlier errors win over -h", { "-k", "rel", "-h", NULL }, "socket path must be absolute", false },
                { "invalid user", { "-u", "no-such-user-prh", NULL }, "invalid user 'no-such-user-prh'", false },
                { "user id out of range", { "-u", "99999999999999999999", NULL },
                  "invalid user '99999999999999999999'", false },
                { "invalid group", { "-g", "no-such-group-prh", NULL }, "invalid group 'no-such-group-prh'", false },
                { "unknown -T key", { "-T", "nosuchkey=1", NULL }, "Invalid parameter 'nosuchkey'", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const BadCase *c = &cases[i];
                char title[128], msg[512], sockarg[512];
                const char *args[10];
                size_t n = 0;
                Helper h;

                snprintf(title, sizeof title, "bad command line: %s -> exit 1 with message", c->title);
                test_begin(title);
                if (helper_init(&h, path) < 0)
                        continue;
                /* A valid -k first (except where -k is the case) so a socket would show up. */
                if (strcmp(c->args[0], "-k") != 0) {
                        args[n++] = "-k";
                        snprintf(sockarg, sizeof sockarg, "%s", h.sock);
                        args[n++] = sockarg;
                }
                for (size_t j = 0; c->args[j]; j++)
                        args[n++] = c->args[j];
                args[n] = NULL;
                HelperSpawn s = { .args = args };
                CHECK_EQ(helper_run(&h, &s, 5000), 1);
                _cleanup_free_ char *out = helper_stdout(&h), *err = helper_stderr(&h);
                subst_argv0(msg, sizeof msg, c->message, helper_argv0);
                CHECK_MSG(contains(err, msg), "stderr lacks \"%s\": %s", msg, err);
                if (c->try_help) {
                        snprintf(msg, sizeof msg, "Try `%s --help' for more information.", helper_argv0);
                        CHECK_MSG(contains(err, msg), "stderr lacks \"%s\": %s", msg, err);
                }
                CHECK_MSG(out[0] == 0, "stdout: %s", out);
                CHECK_MSG(!path_exists(h.sock), "a socket was created before the error");
                helper_free(&h);
        }

        test_begin("-h after valid options: help, exit 0");
        {
                const char *args[] = { "-k", "/nonexistent-dir/sock", "-h", NULL };
                Helper h;
                CHECK_EQ(run(&h, args), 0);
                helper_free(&h);
        }
}

static void test_trace_help(void) {
        const char *args[] = { "-T", "help", NULL };
        size_t lines = 0;
        bool ok = true;
        Helper h;

        test_begin("-T help lists trace events on stdout, exit 0");
        CHECK_EQ(run(&h, args), 0);
        _cleanup_free_ char *out = helper_stdout(&h);
        for (char *p = out; *p;) {
                char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                for (size_t i = 0; i < len; i++)
                        if (!(p[i] == '_' || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
                                ok = false;
                if (len)
                        lines++;
                p += len + (nl ? 1 : 0);
        }
        fprintf(stderr, "  %zu events\n", lines);
        CHECK_MSG(ok, "a line is not an event name");
        CHECK(lines >= 4);
        if (is_ref) {
                /* 7.2: 211; 10.0: 189 (docs/compatibility.md, "QEMU 7.2 and 10.0") */
                CHECK_EQ(lines, harness_is_reference10() ? 189 : 211);
                CHECK(contains(out, "qio_channel_socket_accept\n"));
        }
        helper_free(&h);
}

/*
 * QEMU 10.0 renamed the thread pool's events thread_pool_submit/_complete to
 * thread_pool_submit_aio/_complete_aio (docs/compatibility.md).  For the
 * reference10 variant, the 7.2 names in patterns, messages and expected
 * events are rewritten to 10.0's so the same cases check the same behaviour;
 * other variants get the string unchanged.
 */
static const char *ref_ev(const char *s) {
        static const struct { const char *from, *to; } renames[] = {
                { "thread_pool_submi?", "thread_pool_submit_ai?" },
                { "thread_pool_[s]ubmit", "thread_pool_[s]ubmit_aio" },
                { "thread_pool_submit", "thread_pool_submit_aio" },
                { "thread_pool_complete", "thread_pool_complete_aio" },
        };
        static char bufs[16][256];
        static unsigned next;
        char *out;
        size_t o = 0;

        if (!s || !harness_is_reference10())
                return s;
        out = bufs[next++ % ELEMENTSOF(bufs)];
        for (const char *p = s; *p && o < sizeof bufs[0] - 1;) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(renames); i++)
                        if (strncmp(p, renames[i].from, strlen(renames[i].from)) == 0)
                                break;
                if (i < ELEMENTSOF(renames)) {
                        o += (size_t) snprintf(out + o, sizeof bufs[0] - o, "%s", renames[i].to);
                        p += strlen(renames[i].from);
                } else
                        out[o++] = *p++;
        }
        out[o < sizeof bufs[0] ? o : sizeof bufs[0] - 1] = '\0';
        return out;
}

/* Enable trace events, drive a good request and a violation, find the event lines. */
static void test_trace_events(void) {
        static const char *const prhd_events[] = { "conn_accept", "conn_handshake", "request_received",
                                                   "sgio_issue", "sgio_complete", "reply_sent",
                                                   "request_rejected", "conn_close" };
        char tracefile[400], opt[512];
        Helper h;
        int s;

        test_begin("-T enables trace events on stderr; file= writes them to a file");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *args[] = { "-T", is_ref ? "qio_channel_socket_accept" : "conn_*", "-T",
                                       is_ref ? ref_ev("thread_pool_submit") : "request_*", "-T",
                                       is_ref ? ref_ev("thread_pool_complete") : "sgio_*", "-T",
                                       is_ref ? "qio_channel_socket_new" : "reply_sent", NULL };
                CHECK_EQ(helper_start(&h, args), 0);
        }
        helper_stderr_mark(&h);
        CHECK(request_works(h.sock));
        s = client_open(h.sock);        /* a violation: no fd */
        if (s >= 0) {
                uint8_t cdb[PRH_CDB_SIZE];
                cdb_pr_in(cdb, 0, 8);
                (void) client_send(s, cdb, sizeof cdb, -1, -1);
                (void) client_expect_closed(s, 3000);
                close(s);
        }
        if (is_ref) {
                CHECK(helper_stderr_wait(&h, "qio_channel_socket_accept", 2000));
                CHECK(helper_stderr_wait(&h, ref_ev("thread_pool_submit"), 2000));
                CHECK(helper_stderr_wait(&h, ref_ev("thread_pool_complete"), 2000));
        } else
                for (size_t i = 0; i < ELEMENTSOF(prhd_events); i++)
                        CHECK_MSG(helper_stderr_wait(&h, prhd_events[i], 2000), "event %s did not fire",
                                  prhd_events[i]);
        helper_free(&h);

        if (helper_init(&h, path) < 0)
                return;
        snprintf(tracefile, sizeof tracefile, "%s/trace.log", h.dir);
        snprintf(opt, sizeof opt, "enable=%s,file=%s", is_ref ? "qio_channel_socket_accept" : "conn_accept",
                 tracefile);
        {
                const char *args[] = { "-T", opt, NULL };
                CHECK_EQ(helper_start(&h, args), 0);
        }
        CHECK(request_works(h.sock));
        sleep_ms(100);
        {
                _cleanup_free_ char *log = read_file_str(tracefile);
                CHECK_MSG(log && strstr(log, is_ref ? "qio_channel_socket_accept" : "conn_accept"),
                          "trace file: %s", log ? log : "(missing)");
        }
        helper_free(&h);
}

static void test_trace_events_file(void) {
        char evfile[400], opt[512];
        const char *ev = is_ref ? "qio_channel_socket_accept" : "conn_accept";
        Helper h;
        FILE *f;

        test_begin("-T events=FILE (comments, blank lines) and a warning for an unknown event");
        if (helper_init(&h, path) < 0)
                return;
        snprintf(evfile, sizeof evfile, "%s/events", h.dir);
        f = fopen(evfile, "we");
        CHECK(f);
        if (!f) {
                helper_free(&h);
                return;
        }
        fprintf(f, "# trace events\n\n%s\nno_such_event_prh\n", ev);
        fclose(f);
        snprintf(opt, sizeof opt, "events=%s", evfile);
        {
                const char *args[] = { "-T", opt, NULL };
                CHECK_EQ(helper_start(&h, args), 0);
        }
        CHECK_MSG(helper_stderr_wait(&h, "trace event 'no_such_event_prh' does not exist", 2000), "no warning");
        helper_stderr_mark(&h);
        CHECK(request_works(h.sock));
        CHECK_MSG(helper_stderr_wait(&h, ev, 2000), "event %s from the events file did not fire", ev);
        helper_free(&h);
}

static void test_quiet(void) {
        const char *args[] = { "-q", NULL };
        uint8_t cdb[PRH_CDB_SIZE];
        Helper h;
        int s;

        test_begin("-q silences per-connection errors");
        if (helper_init(&h, path) < 0)
                return;
        CHECK_EQ(helper_start(&h, args), 0);
        helper_stderr_mark(&h);
        s = client_open(h.sock);
        CHECK(s >= 0);
        cdb_pr_in(cdb, 0, 8);
        CHECK(client_send(s, cdb, sizeof cdb, -1, -1) == 0);
        CHECK_EQ(client_expect_closed(s, 3000), 0);
        close(s);
        CHECK(request_works(h.sock));
        sleep_ms(50);
        {
                _cleanup_free_ char *err = helper_stderr_since_mark(&h);
                CHECK_MSG(err[0] == 0, "logged: %s", err);
        }
        helper_free(&h);
}

static void test_socket_mode(void) {
        mode_t um = umask(022);
        struct stat st;
        Helper h;

        test_begin("the socket is created with mode 0777 & ~umask (0755 under umask 022)");
        if (helper_init(&h, path) == 0) {
                CHECK_EQ(helper_start(&h, NULL), 0);
                CHECK(stat(h.sock, &st) == 0 && S_ISSOCK(st.st_mode));
                CHECK_MSG((st.st_mode & 07777) == 0755, "mode %o", st.st_mode & 07777);
                helper_free(&h);
        }
        umask(um);
}

static void test_pidfile(void) {
        const char *args[] = { "-f", NULL, NULL };
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        char expect[32];
        struct stat st;
        Helper h;
        int fd;

        test_begin("-f: pidfile holds '<pid>\\n', mode 0600, POSIX write-locked by the helper");
        if (helper_init(&h, path) < 0)
                return;
        args[1] = h.pidfile;
        CHECK_EQ(helper_start(&h, args), 0);
        /* The pidfile is written after the socket exists: give it a moment. */
        for (int i = 0; i < 100 && !path_exists(h.pidfile); i++)
                sleep_ms(10);
        sleep_ms(50);
        _cleanup_free_ char *content = read_file_str(h.pidfile);
        snprintf(expect, sizeof expect, "%d\n", (int) h.pid);
        CHECK_MSG(content && strcmp(content, expect) == 0, "pidfile content '%s', want '%d\\n'",
                  content ? content : "(none)", (int) h.pid);
        CHECK(stat(h.pidfile, &st) == 0);
        CHECK_MSG((st.st_mode & 07777) == 0600, "mode %o", st.st_mode & 07777);
        fd = open(h.pidfile, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(fcntl(fd, F_GETLK, &fl) == 0);
        CHECK_MSG(fl.l_type == F_WRLCK, "no write lock on the pidfile (l_type %d)", fl.l_type);
        CHECK_MSG(fl.l_pid == h.pid, "lock held by %d, not the helper %d", (int) fl.l_pid, (int) h.pid);
        close(fd);
        CHECK(request_works(h.sock));
        helper_free(&h);

        test_begin("-f: a pidfile pre-locked by the same process (libvirt) is accepted");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *a[] = { "-k", h.sock, "-f", h.pidfile, NULL };
                HelperSpawn s = { .args = a, .prelock_pidfile = h.pidfile };
                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK_MSG(helper_wait_socket(&h, 5000) == 0, "helper did not start");
                sleep_ms(50);
                CHECK(helper_alive(&h));
                _cleanup_free_ char *c2 = read_file_str(h.pidfile);
                snprintf(expect, sizeof expect, "%d\n", (int) h.pid);
                CHECK_MSG(c2 && strcmp(c2, expect) == 0, "pidfile '%s'", c2 ? c2 : "(none)");
        }
        helper_free(&h);
}

/* Start-up fails after bind (pidfile locked by someone else, or uncreatable). */
static void test_pidfile_errors(void) {
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        Helper h;
        int fd;

        test_begin("-f on a pidfile another process has locked: exit 1, 'Cannot lock pid file'");
        if (helper_init(&h, path) < 0)
                return;
        fd = open(h.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0);
        {
                const char *a[] = { "-k", h.sock, "-f", h.pidfile, NULL };
                HelperSpawn s = { .args = a };
                CHECK_EQ(helper_run(&h, &s, 5000), 1);
                _cleanup_free_ char *err = helper_stderr(&h);
                CHECK_MSG(contains(err, "Cannot lock pid file: Resource temporarily unavailable"), "stderr: %s", err);
                if (is_ref)
                        /* Reference bug 7.15: the socket file stays behind. */
                        CHECK_MSG(path_exists(h.sock), "reference removed its socket (documented to leave it)");
                else
                        /* Deliberate fix 6: removed on this failure. */
                        CHECK_MSG(!path_exists(h.sock), "stale socket file left behind");
        }
        if (fd >= 0)
                close(fd);
        helper_free(&h);

        test_begin("-f in a missing directory (no -d): exit 1, 'Could not create'");
        if (helper_init(&h, path) < 0)
                return;
        {
                char bad[400];
                snprintf(bad, sizeof bad, "%s/missing/pid", h.dir);
                const char *a[] = { "-k", h.sock, "-f", bad, NULL };
                HelperSpawn s = { .args = a };
                CHECK_EQ(helper_run(&h, &s, 5000), 1);
                _cleanup_free_ char *err = helper_stderr(&h);
                char msg[450];
                snprintf(msg, sizeof msg, "Could not create '%s'", bad);
                CHECK_MSG(contains(err, msg), "stderr lacks \"%s\": %s", msg, err);
                if (is_ref)
                        /* Reference bug 7.15 again. */
                        CHECK_MSG(path_exists(h.sock) && !socket_is_live(h.sock),
                                  "reference did not leave its stale socket (documented to leave it)");
                else
                        CHECK_MSG(!path_exists(h.sock), "stale socket file left behind");
        }
        helper_free(&h);
}

static pid_t read_pid(const char *pidfile) {
        _cleanup_free_ char *s = read_file_str(pidfile);

        return s ? (pid_t) strtol(s, NULL, 10) : -1;
}

/* A privilege drop that fails after bind: started as nobody, asked to become root. */
static void test_privilege_errors(void) {
        struct passwd *pw = getpwnam("nobody");
        struct group *gr = getgrnam("nogroup");
        static const char *const opts[][3] = { { "-u", "0", NULL }, { "-g", "0", NULL } };

        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                char title[160];
                Helper h;

                snprintf(title, sizeof title,
                         "started as nobody with %s %s: exit 1, 'Failed to drop privileges', socket %s", opts[i][0],
                         opts[i][1], is_ref ? "left behind (reference bug)" : "removed");
                test_begin(title);
                CHECK_MSG(pw && gr, "needs user nobody and group nogroup");
                if (!pw || !gr || helper_init(&h, path) < 0)
                        return;
                (void) chmod(h.dir, 0777);
                const char *a[] = { "-k", h.sock, opts[i][0], opts[i][1], NULL };
                HelperSpawn sp = { .args = a, .set_ids = true, .uid = pw->pw_uid, .gid = gr->gr_gid };
                CHECK_EQ(helper_run(&h, &sp, 5000), 1);
                _cleanup_free_ char *err = helper_stderr(&h);
                CHECK_MSG(contains(err, "Failed to drop privileges: Operation not permitted"), "stderr: %s", err);
                if (is_ref)
                        /* Reference bug 7.15: the socket file stays behind, nobody listening. */
                        CHECK_MSG(path_exists(h.sock) && !socket_is_live(h.sock),
                                  "reference did not leave its stale socket (documented to leave it)");
                else
                        /* Deliberate fix 6, privilege path. */
                        CHECK_MSG(!path_exists(h.sock), "stale socket file left behind");
                helper_free(&h);
        }
}

static void test_daemon(void) {
        pid_t daemon_pid, ppid = 0, sid = 0;
        char link[64], target[256];
        ssize_t k;
        Helper h;

        test_begin("-d: parent exits 0; daemon has its own session, cwd /, stdio on /dev/null");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *a[] = { "-d", "-k", h.sock, "-f", h.pidfile, NULL };
                HelperSpawn s = { .args = a };
                CHECK_EQ(helper_run(&h, &s, 5000), 0);
        }
        if (is_ref) {
                /* Reference bug 7.18: the parent returns before the pidfile exists (or is written:
                 * the file is created, locked, truncated and only then written). */
                for (int i = 0; i < 200 && !(read_pid(h.pidfile) > 0 && socket_is_live(h.sock)); i++)
                        sleep_ms(10);
        } else {
                /* Deliberate fix: both exist when the parent returns. */
                CHECK_MSG(path_exists(h.pidfile), "pidfile missing when the parent returned");
                CHECK_MSG(socket_is_live(h.sock), "socket not accepting when the parent returned");
        }
        daemon_pid = read_pid(h.pidfile);
        CHECK_MSG(daemon_pid > 0, "no pid in the pidfile");
        if (daemon_pid > 0) {
                harness_adopt_pid(daemon_pid);
                CHECK(daemon_pid != h.pid);
                CHECK_EQ(proc_stat_ppid_sid(daemon_pid, &ppid, &sid), 0);
                fprintf(stderr, "  daemon %d: ppid %d, sid %d\n", (int) daemon_pid, (int) ppid, (int) sid);
                CHECK_MSG(ppid != h.pid && ppid != getpid(), "daemon's parent is %d", (int) ppid);
                CHECK_MSG(sid == daemon_pid, "daemon is not a session leader (sid %d)", (int) sid);
                snprintf(link, sizeof link, "/proc/%d/cwd", (int) daemon_pid);
                k = readlink(link, target, sizeof target - 1);
                CHECK(k == 1 && target[0] == '/');
                for (int fd = 0; fd < 3; fd++) {
                        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int) daemon_pid, fd);
                        k = readlink(link, target, sizeof target - 1);
                        target[k > 0 ? k : 0] = 0;
                        CHECK_MSG(strcmp(target, "/dev/null") == 0, "fd %d -> %s", fd, target);
                }
                CHECK(request_works(h.sock));
                CHECK(kill(daemon_pid, SIGTERM) == 0);
                CHECK_MSG(pid_wait_gone(daemon_pid, 5000), "daemon did not exit on SIGTERM");
                CHECK_MSG(!path_exists(h.sock), "socket left behind");
        }
        helper_free(&h);

        test_begin("-d with a startup error (pidfile in a missing directory)");
        if (helper_init(&h, path) < 0)
                return;
        {
                char bad[400];
                snprintf(bad, sizeof bad, "%s/missing/pid", h.dir);
                const char *a[] = { "-d", "-k", h.sock, "-f", bad, NULL };
                HelperSpawn s = { .args = a };
                int code = helper_run(&h, &s, 5000);
                _cleanup_free_ char *err = helper_stderr(&h);
                if (is_ref)
                        /* Reference bug 7.18: the error is invisible and the parent exits 0. */
                        CHECK_EQ(code, 0);
                else {
                        /* Deliberate fix: the parent reports the child's real startup status. */
                        CHECK_MSG(code == 1, "parent exit code %d, want 1", code);
                        CHECK_MSG(err[0] != 0, "no error message on stderr");
                        sleep_ms(100);
                        CHECK_MSG(!socket_is_live(h.sock), "a daemon is serving despite the error");
                }
        }
        helper_free(&h);
}

/* prhd resolves a relative -f against its start directory (the reference: against /). */
static void test_daemon_relative_pidfile(void) {
        char abs[400];
        pid_t pid;
        Helper h;

        if (is_ref)
                return;         /* would write /pid */
        test_begin("-d with a relative -f: pidfile in the start directory");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *a[] = { "-d", "-k", h.sock, "-f", "rel.pid", NULL };
                HelperSpawn s = { .args = a, .cwd = h.dir };
                CHECK_EQ(helper_run(&h, &s, 5000), 0);
        }
        snprintf(abs, sizeof abs, "%s/rel.pid", h.dir);
        CHECK_MSG(path_exists(abs), "no %s", abs);
        pid = read_pid(abs);
        if (pid > 0) {
                harness_adopt_pid(pid);
                CHECK(request_works(h.sock));
                (void) kill(pid, SIGTERM);
                CHECK(pid_wait_gone(pid, 5000));
        }
        helper_free(&h);
}

static void test_second_instance(void) {
        Helper a, b;
        struct stat st1, st2;

        test_begin("second instance on the same socket and pidfile");
        if (helper_init(&a, path) < 0)
                return;
        {
                const char *args[] = { "-f", a.pidfile, NULL };
                CHECK_EQ(helper_start(&a, args), 0);
        }
        for (int i = 0; i < 100 && !path_exists(a.pidfile); i++)
                sleep_ms(10);
        sleep_ms(50);
        CHECK(stat(a.sock, &st1) == 0);
        if (helper_init(&b, path) == 0) {
                const char *args[] = { "-k", a.sock, "-f", a.pidfile, NULL };
                HelperSpawn s = { .args = args };
                int code = helper_run(&b, &s, 5000);
                _cleanup_free_ char *err = helper_stderr(&b);
                CHECK_MSG(code == 1, "second instance exit code %d, want 1", code);
                CHECK_MSG(err[0] != 0, "second instance gave no error message");
                if (is_ref) {
                        CHECK(contains(err, "Cannot lock pid file"));
                        /* Reference bug 7.14: the first instance lost its socket. */
                        CHECK_MSG(!request_works(a.sock), "expected the reference to lose its socket");
                } else {
                        char msg[400];
                        snprintf(msg, sizeof msg, "Failed to bind socket to %s", a.sock);
                        CHECK_MSG(contains(err, msg), "no '%s' in: %s", msg, err);
                        CHECK_MSG(request_works(a.sock), "first instance no longer reachable");
                        CHECK(stat(a.sock, &st2) == 0 && st1.st_ino == st2.st_ino);
                        _cleanup_free_ char *pid = read_file_str(a.pidfile);
                        CHECK_MSG(pid && read_pid(a.pidfile) == a.pid, "pidfile now says %s", pid ? pid : "(none)");
                }
                CHECK(helper_alive(&a));
                helper_free(&b);
        }

        test_begin("second instance on the same socket, another pidfile");
        if (!is_ref) {
                if (helper_init(&b, path) == 0) {
                        const char *args[] = { "-k", a.sock, "-f", b.pidfile, NULL };
                        HelperSpawn s = { .args = args };
                        int code = helper_run(&b, &s, 5000);
                        _cleanup_free_ char *err = helper_stderr(&b);
                        CHECK_MSG(code == 1, "exit code %d, want 1", code);
                        CHECK_MSG(err[0] != 0, "no error message");
                        CHECK_MSG(request_works(a.sock), "first instance no longer reachable");
                        helper_free(&b);
                }

                test_begin("second instance with -d fails with exit 1");
                if (helper_init(&b, path) == 0) {
                        const char *args[] = { "-d", "-k", a.sock, "-f", b.pidfile, NULL };
                        HelperSpawn s = { .args = args };
                        int code = helper_run(&b, &s, 5000);
                        CHECK_MSG(code == 1, "exit code %d, want 1", code);
                        CHECK_MSG(request_works(a.sock), "first instance no longer reachable");
                        pid_t p = read_pid(b.pidfile);
                        if (p > 0) {
                                harness_adopt_pid(p);
                                (void) kill(p, SIGTERM);
                        }
                        helper_free(&b);
                }
        } else if (helper_init(&b, path) == 0) {
                /* Reference bug 7.14: with its own pidfile the second instance takes the
                 * socket path over and serves; the first keeps running, unreachable. */
                const char *args[] = { "-k", a.sock, "-f", b.pidfile, NULL };
                Helper c;

                CHECK_EQ(helper_spawn(&b, &(HelperSpawn) { .args = args }), 0);
                for (int i = 0; i < 500 && read_pid(b.pidfile) != b.pid; i++)
                        sleep_ms(10);
                CHECK_MSG(read_pid(b.pidfile) == b.pid, "the second reference instance wrote no pidfile");
                CHECK_MSG(stat(a.sock, &st2) == 0 && st2.st_ino != st1.st_ino, "the socket file was not replaced");
                CHECK_MSG(request_works(a.sock), "the second reference instance does not serve");
                CHECK(helper_alive(&a) && helper_alive(&b));

                test_begin("reference: a second instance with -d exits 0 and its daemon takes the socket over");
                if (helper_init(&c, path) == 0) {
                        const char *cargs[] = { "-d", "-k", a.sock, "-f", c.pidfile, NULL };
                        struct stat st3;
                        pid_t p = -1;

                        CHECK_EQ(helper_run(&c, &(HelperSpawn) { .args = cargs }, 5000), 0);
                        for (int i = 0; i < 500 && (p = read_pid(c.pidfile)) <= 0; i++)
                                sleep_ms(10);
                        CHECK_MSG(p > 0, "no pidfile from the daemon");
                        if (p > 0) {
                                harness_adopt_pid(p);
                                CHECK_MSG(stat(a.sock, &st3) == 0 && st3.st_ino != st2.st_ino,
                                          "the socket file was not replaced");
                                CHECK_MSG(request_works(a.sock), "the daemon does not serve");
                                /* Its exit unlinks the path both earlier instances were started on. */
                                CHECK(kill(p, SIGTERM) == 0 && pid_wait_gone(p, 5000));
                                CHECK_MSG(!path_exists(a.sock), "socket file left behind");
                        }
                        CHECK(helper_alive(&a) && helper_alive(&b));
                        helper_free(&c);
                }
                helper_free(&b);
        }
        helper_free(&a);

        test_begin("a stale socket file (nobody listening) is replaced");
        if (helper_init(&a, path) == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                strcpy(sa.sun_path, a.sock);
                CHECK(bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0);
                close(fd);
                CHECK(path_exists(a.sock) && !socket_is_live(a.sock));
                CHECK_EQ(helper_start(&a, NULL), 0);
                CHECK(request_works(a.sock));
                helper_free(&a);
        }
}

static void test_signals(void) {
        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                char title[96];
                Helper h;
                int idle;

                snprintf(title, sizeof title, "SIG%s: exit 0, socket unlinked, pidfile kept, idle client sees EOF",
                         sigabbrev_np(sigs[i]));
                test_begin(title);
                if (helper_init(&h, path) < 0)
                        continue;
                {
                        const char *args[] = { "-f", h.pidfile, NULL };
                        CHECK_EQ(helper_start(&h, args), 0);
                }
                idle = client_open(h.sock);
                CHECK(idle >= 0);
                for (int j = 0; j < 100 && !path_exists(h.pidfile); j++)
                        sleep_ms(10);
                CHECK_EQ(helper_stop(&h, sigs[i], 5000), 0);
                CHECK_MSG(!path_exists(h.sock), "socket file left behind");
                /* Both keep the pidfile (reference verified; prhd: "kept on purpose"). */
                CHECK_MSG(path_exists(h.pidfile), "pidfile removed");
                CHECK_EQ(client_expect_closed(idle, 2000), 0);
                close(idle);
                helper_free(&h);
        }

        test_begin("SIGTERM with clients mid-CDB and mid-data: exit 0 at once, not waiting for them");
        {
                Helper h;
                uint8_t cdb[PRH_CDB_SIZE], data[8] = {};
                int a, b;
                uint64_t t0;

                if (helper_init(&h, path) == 0 && helper_start(&h, NULL) == 0) {
                        a = client_open(h.sock);
                        b = client_open(h.sock);
                        cdb_pr_in(cdb, 0, 40);
                        CHECK(client_send(a, cdb, 5, null_rw, -1) == 0);
                        cdb_pr_out(cdb, 0, 0, 24);
                        CHECK(client_send(b, cdb, sizeof cdb, null_rw, -1) == 0);
                        CHECK(client_send(b, data, sizeof data, -1, -1) == 0);
                        sleep_ms(100);
                        t0 = now_ms();
                        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                        CHECK_MSG(now_ms() - t0 < 2000, "exit took %llu ms", (unsigned long long) (now_ms() - t0));
                        close(a);
                        close(b);
                }
                helper_free(&h);
        }

        test_begin("SIGTERM with a request in flight: the reply is delivered, then exit 0");
        {
                FuseDev f;
                Helper h;
                uint8_t cdb[PRH_CDB_SIZE];
                Reply rep;
                int s, fd;

                if (fuse_dev_start(&f, 2) < 0) {
                        test_skip_part("no FUSE device: SIGTERM with a request in flight not run");
                        return;
                }
                if (helper_init(&h, path) == 0 && helper_start(&h, NULL) == 0) {
                        s = client_open(h.sock);
                        fd = fuse_dev_open(&f, "slow", O_RDWR);
                        cdb_pr_in(cdb, 0, 40);
                        CHECK(client_send_request(s, cdb, NULL, fd) == 0);
                        sleep_ms(200);
                        CHECK(kill(h.pid, SIGTERM) == 0);
                        sleep_ms(200);
                        CHECK_MSG(!socket_is_live(h.sock), "still accepting connections after SIGTERM");
                        CHECK_EQ(client_read_reply(s, cdb, &rep, 5000), 0);
                        CHECK_MSG(rep.res.status == 0 && rep.res.data_len == 40, "in-flight reply: status %d sz %u",
                                  rep.res.status, rep.res.data_len);
                        CHECK_EQ(helper_stop(&h, 0, 5000), 0);
                        close(s);
                        close(fd);
                }
                helper_free(&h);
                fuse_dev_stop(&f);
        }
}

/*
 * A file that is not a socket at the -k path (docs/compatibility.md): the
 * reference unlinks whatever is there (a regular file, a FIFO) and serves,
 * and fails on a directory, which unlink() refuses; prhd refuses every
 * non-socket and leaves it exactly as it was.
 */
static void test_socket_path_not_socket(void) {
        static const struct {
                const char *what;
                mode_t type;
        } kinds[] = {
                { "a regular file", S_IFREG },
                { "a directory", S_IFDIR },
                { "a FIFO", S_IFIFO },
        };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                bool ref_serves = is_ref && kinds[i].type != S_IFDIR;
                char title[160], inner[400], msg[1024];
                struct stat before, after;
                Helper h;
                int r;

                snprintf(title, sizeof title, "-k at %s: %s", kinds[i].what,
                         ref_serves ? "unlinked, the helper serves"
                                    : "exit 1 with a message, the file untouched");
                test_begin(title);
                if (helper_init(&h, path) < 0)
                        continue;
                snprintf(inner, sizeof inner, "%s/keep", h.sock);
                if (kinds[i].type == S_IFREG) {
                        FILE *f = fopen(h.sock, "we");
                        CHECK(f && fputs("precious\n", f) >= 0 && fclose(f) == 0);
                } else if (kinds[i].type == S_IFDIR) {
                        FILE *f;
                        CHECK(mkdir(h.sock, 0755) == 0);
                        f = fopen(inner, "we");
                        CHECK(f && fclose(f) == 0);
                } else
                        CHECK(mkfifo(h.sock, 0644) == 0);
                CHECK(lstat(h.sock, &before) == 0 && (before.st_mode & S_IFMT) == kinds[i].type);
                {
                        const char *args[] = { "-k", h.sock, NULL };
                        HelperSpawn s = { .args = args };
                        CHECK_EQ(helper_spawn(&h, &s), 0);
                }
                if (ref_serves) {
                        CHECK_MSG((r = helper_wait_socket(&h, 5000)) == 0, "not serving: %s", strerror(-r));
                        CHECK_MSG(lstat(h.sock, &after) == 0 && S_ISSOCK(after.st_mode), "no socket at the path");
                        CHECK(request_works(h.sock));
                        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                        helper_free(&h);
                        continue;
                }
                CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                helper_output_drain(&h, 2000);
                CHECK_EQ(helper_exit_code(&h), 1);
                _cleanup_free_ char *err = helper_stderr(&h);
                if (is_ref)
                        snprintf(msg, sizeof msg, "Failed to unlink socket %s: Is a directory", h.sock);
                else
                        snprintf(msg, sizeof msg, "Failed to bind socket to %s: '%s' exists and is not a socket",
                                 h.sock, h.sock);
                CHECK_MSG(contains(err, msg), "stderr lacks \"%s\": %s", msg, err);
                CHECK_MSG(lstat(h.sock, &after) == 0, "%s was removed", kinds[i].what);
                CHECK_MSG(after.st_ino == before.st_ino && after.st_mode == before.st_mode,
                          "replaced: inode %llu -> %llu, mode %o -> %o", (unsigned long long) before.st_ino,
                          (unsigned long long) after.st_ino, before.st_mode, after.st_mode);
                if (kinds[i].type == S_IFREG) {
                        _cleanup_free_ char *content = read_file_str(h.sock);
                        CHECK_MSG(content && strcmp(content, "precious\n") == 0, "content now '%s'",
                                  content ? content : "(unreadable)");
                } else if (kinds[i].type == S_IFDIR)
                        CHECK_MSG(path_exists(inner), "the directory lost its file");
                helper_free(&h);
        }
}

/*
 * -T parsing where the helpers differ (docs/protocol.md, "Trace option";
 * docs/compatibility.md).  Each variant gets its own event names: on a
 * request the reference traces qio_channel_socket_accept (on every accept),
 * thread_pool_submit and thread_pool_complete (the SG_IO work item), prhd
 * its own events.  An event counts as enabled when a line starting with its
 * name appears after one request and SIGTERM.
 */
typedef struct TraceExpect {
        const char *args[5];    /* after "-k SOCK"; "@FILE" is replaced by a trace file path */
        bool refused;           /* exit 1 at start, no socket */
        const char *messages[3];        /* must be on stderr */
        const char *no_messages[2];     /* must not be on stderr */
        const char *fire[3];    /* traced (to the file when there is one, else stderr) */
        const char *silent[3];  /* not traced anywhere */
} TraceExpect;

typedef struct TraceCase {
        const char *title;
        TraceExpect ref, prhd;
} TraceCase;

static const TraceCase trace_cases[] = {
        { "-T 'a*,b*': reference refuses the bare second pattern, prhd enables both",
          .ref = { { "-T", "qio_channel_socket_accept*,thread_pool_*" }, .refused = true,
                   .messages = { "warning: short-form boolean option 'thread_pool_*' deprecated",
                                 "Please use thread_pool_*=on instead", "Invalid parameter 'thread_pool_*'" } },
          .prhd = { { "-T", "conn_*,sgio_*" }, .fire = { "conn_accept", "sgio_issue", "sgio_complete" },
                    .silent = { "request_received", "reply_sent" } } },
        { "-T 'enable=A*,enable=B*': reference keeps the last only, prhd both",
          .ref = { { "-T", "enable=thread_pool_*,enable=qio_channel_socket_accept*" },
                   .fire = { "qio_channel_socket_accept" }, .silent = { "thread_pool_submit", "thread_pool_complete" } },
          .prhd = { { "-T", "enable=conn_*,enable=sgio_*" }, .fire = { "conn_accept", "sgio_issue" },
                    .silent = { "reply_sent" } } },
        { "-T 'enable=B*,enable=A*' (other order): reference keeps the last only, prhd both",
          .ref = { { "-T", "enable=qio_channel_socket_accept*,enable=thread_pool_*" },
                   .fire = { "thread_pool_submit", "thread_pool_complete" }, .silent = { "qio_channel_socket_accept" } },
          .prhd = { { "-T", "enable=sgio_*,enable=conn_*" }, .fire = { "conn_accept", "sgio_issue" },
                    .silent = { "reply_sent" } } },
        { "-T 'A,,B': a literal comma in the reference, an empty item in prhd",
          .ref = { { "-T", "thread_pool_submit,,no_such_event_prh" },
                   .messages = { "trace event 'thread_pool_submit,no_such_event_prh' does not exist" },
                   .silent = { "thread_pool_submit" } },
          .prhd = { { "-T", "conn_accept,,no_such_event_prh" },
                    .messages = { "trace event 'no_such_event_prh' does not exist" },
                    .no_messages = { "conn_accept,", "trace event '' " },
                    .fire = { "conn_accept" }, .silent = { "conn_handshake" } } },
        { "-T 'A*,,B': one pattern with a comma (matching nothing) in the reference, two in prhd",
          .ref = { { "-T", "thread_pool_*,,qio_channel_socket_accept" }, .no_messages = { "does not exist" },
                   .silent = { "thread_pool_submit", "qio_channel_socket_accept" } },
          .prhd = { { "-T", "sgio_*,,conn_accept" }, .no_messages = { "does not exist" },
                    .fire = { "sgio_issue", "conn_accept" }, .silent = { "reply_sent" } } },
        { "-T 'A_[x]yz': no match in the reference, a bracket expression in prhd",
          .ref = { { "-T", "thread_pool_[s]ubmit" },
                   .messages = { "trace event 'thread_pool_[s]ubmit' does not exist" },
                   .silent = { "thread_pool_submit" } },
          .prhd = { { "-T", "sgio_[i]ssue" }, .no_messages = { "does not exist" }, .fire = { "sgio_issue" },
                    .silent = { "sgio_complete" } } },
        { "-T 'A?': '?' matches one character in both",
          .ref = { { "-T", "thread_pool_submi?" }, .no_messages = { "does not exist" },
                   .fire = { "thread_pool_submit" }, .silent = { "thread_pool_complete" } },
          .prhd = { { "-T", "sgio_issu?" }, .no_messages = { "does not exist" }, .fire = { "sgio_issue" },
                    .silent = { "sgio_complete" } } },
        { "-T 'A*' -T 'B*': both enabled in both",
          .ref = { { "-T", "qio_channel_socket_accept*", "-T", "thread_pool_*" },
                   .fire = { "qio_channel_socket_accept", "thread_pool_submit", "thread_pool_complete" },
                   .silent = { "qio_channel_socket_new" } },
          .prhd = { { "-T", "conn_*", "-T", "sgio_*" }, .fire = { "conn_accept", "sgio_issue", "sgio_complete" },
                    .silent = { "reply_sent" } } },
        { "-T 'A*,file=PATH': the pattern and the file in both",
          .ref = { { "-T", "thread_pool_*,file=@FILE" }, .fire = { "thread_pool_submit", "thread_pool_complete" },
                   .silent = { "qio_channel_socket_accept" } },
          .prhd = { { "-T", "sgio_*,file=@FILE" }, .fire = { "sgio_issue", "sgio_complete" },
                    .silent = { "conn_accept" } } },
};

/* Lines of text that start with "<event> ". */
static unsigned trace_lines(const char *text, const char *event) {
        size_t n = strlen(event);
        unsigned count = 0;

        for (const char *p = text; p && *p;) {
                if (strncmp(p, event, n) == 0 && p[n] == ' ')
                        count++;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return count;
}

static void test_trace_parsing(void) {
        for (size_t i = 0; i < ELEMENTSOF(trace_cases); i++) {
                const TraceExpect *e = is_ref ? &trace_cases[i].ref : &trace_cases[i].prhd;
                char tracefile[400], filearg[512];
                const char *args[10] = { "-k", NULL };
                int failed = tests_failed;
                bool to_file = false;
                size_t n = 2;
                Helper h;

                test_begin(trace_cases[i].title);
                if (helper_init(&h, path) < 0)
                        continue;
                args[1] = h.sock;
                /* The request sends /dev/null. */
                if (harness_any_fd_option(path))
                        args[n++] = harness_any_fd_option(path);
                snprintf(tracefile, sizeof tracefile, "%s/trace.log", h.dir);
                for (size_t j = 0; e->args[j]; j++) {
                        const char *at = strstr(e->args[j], "@FILE");
                        if (at) {
                                snprintf(filearg, sizeof filearg, "%.*s%s", (int) (at - e->args[j]), e->args[j],
                                         tracefile);
                                args[n++] = ref_ev(filearg);
                                to_file = true;
                        } else
                                args[n++] = ref_ev(e->args[j]);
                }
                args[n] = NULL;

                HelperSpawn s = { .args = args };
                h.quiet = true; /* the trace lines are checked below, not echoed */
                CHECK_EQ(helper_spawn(&h, &s), 0);
                if (e->refused) {
                        CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                        CHECK_EQ(helper_exit_code(&h), 1);
                        CHECK_MSG(!path_exists(h.sock), "a socket was created");
                } else {
                        CHECK_MSG(helper_wait_socket(&h, 5000) == 0, "helper did not start");
                        CHECK(request_works(h.sock));
                        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                }
                helper_output_drain(&h, 2000);

                _cleanup_free_ char *err = helper_stderr(&h);
                _cleanup_free_ char *file = to_file ? read_file_str(tracefile) : NULL;
                const char *traced = to_file ? file : err;
                fprintf(stderr, "  exit %d, %zu bytes on stderr%s\n", helper_exit_code(&h), strlen(err),
                        to_file ? (file ? ", trace file written" : ", no trace file") : "");
                CHECK_MSG(!to_file || file, "trace file %s missing", tracefile);
                for (size_t j = 0; j < ELEMENTSOF(e->messages) && e->messages[j]; j++) {
                        const char *m = ref_ev(e->messages[j]);
                        CHECK_MSG(contains(err, m), "stderr lacks \"%s\": %s", m, err);
                }
                for (size_t j = 0; j < ELEMENTSOF(e->no_messages) && e->no_messages[j]; j++)
                        CHECK_MSG(!contains(err, e->no_messages[j]), "stderr has \"%s\": %s", e->no_messages[j],
                                  err);
                for (size_t j = 0; j < ELEMENTSOF(e->fire) && e->fire[j]; j++) {
                        const char *ev = ref_ev(e->fire[j]);
                        CHECK_MSG(trace_lines(traced, ev) > 0, "event %s not traced%s", ev,
                                  to_file ? " to the file" : "");
                        if (to_file)
                                CHECK_MSG(trace_lines(err, ev) == 0, "event %s also on stderr", ev);
                }
                for (size_t j = 0; j < ELEMENTSOF(e->silent) && e->silent[j]; j++) {
                        const char *ev = ref_ev(e->silent[j]);
                        CHECK_MSG(trace_lines(err, ev) == 0 && trace_lines(file, ev) == 0,
                                  "event %s traced, but it is not enabled", ev);
                }
                if (tests_failed != failed)
                        fprintf(stderr, "  helper stderr:\n%.4000s\n  trace file:\n%.4000s\n", err,
                                file ? file : "(none)");
                helper_free(&h);
        }
}

int main(int argc, char **argv) {
        path = harness_helper_path(argc, argv);
        helper_argv0 = getenv("PRH_HELPER_ARGV0") && *getenv("PRH_HELPER_ARGV0") ? getenv("PRH_HELPER_ARGV0") : path;
        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        is_ref = harness_is_reference(path);
        fprintf(stderr, "helper under test: %s (%s)\n", path, is_ref ? "reference" : "prhd");
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        memcpy(long_path, "/tmp/", 5);
        memset(long_path + 5, 'x', 115);

        test_help_version();
        test_bad_options();
        test_trace_help();
        test_trace_events();
        test_trace_events_file();
        test_quiet();
        test_socket_mode();
        test_pidfile();
        test_pidfile_errors();
        test_privilege_errors();
        test_daemon();
        test_daemon_relative_pidfile();
        test_second_instance();
        test_signals();
        test_socket_path_not_socket();
        test_trace_parsing();
        return tests_finish_parts("test-cmdline");
}
