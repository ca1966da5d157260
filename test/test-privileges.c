/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Privilege drop as the kernel reports it in /proc/PID/status (and in every
 * thread's /proc/PID/task/TID/status, since a thread pool started before
 * the drop would keep root's credentials): CapEff = CapPrm = CAP_SYS_RAWIO,
 * plus CAP_SYS_ADMIN for prhd when its multipath support is active (this
 * test finds out itself whether it can be: /dev/mapper/control answers
 * DM_VERSION and libmpathpersist loads, and requires prhd to agree), and
 * CAP_SYS_RAWIO alone with --no-multipath; empty bounding, inheritable and
 * ambient sets, the requested ids, and no supplementary groups (the helper
 * is started with some).  Debian's qemu-pr-helper is built without
 * multipath support: CAP_SYS_RAWIO alone on any host.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/dm-ioctl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *path;
static bool is_ref;
static int null_rw = -1;
/* Reference threads found with the RCU-thread quirk in the current check. */
static unsigned ref_quirk_threads;

#define CAPS_RAWIO "0000000000020000"             /* CAP_SYS_RAWIO (17) */
#define CAPS_RAWIO_ADMIN "0000000000220000"       /* + CAP_SYS_ADMIN (21) */
/* What CapEff and CapPrm must be in the cases below (set in main()). */
static const char *want_caps = CAPS_RAWIO;

/* Can multipath support be active on this host?  What prhd's mpath_new() needs. */
static bool host_multipath_possible(const char **ret_why) {
        struct dm_ioctl v = { .version = { 4, 0, 0 }, .data_size = sizeof v, .data_start = sizeof v };
        int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
        void *dl;
        bool ok;

        if (fd < 0) {
                *ret_why = "cannot open /dev/mapper/control";
                return false;
        }
        ok = ioctl(fd, DM_VERSION, &v) == 0 && v.version[0] == 4;
        close(fd);
        if (!ok) {
                *ret_why = "DM_VERSION on /dev/mapper/control fails";
                return false;
        }
        dl = dlopen("libmpathpersist.so.0", RTLD_LAZY | RTLD_LOCAL);
        if (!dl) {
                *ret_why = "libmpathpersist.so.0 does not load";
                return false;
        }
        (void) dlclose(dl);
        *ret_why = "device-mapper works and libmpathpersist loads";
        return true;
}

static void check_task(pid_t pid, const char *task, const char *uids, const char *gids) {
        const struct {
                const char *key, *want;
        } caps[] = {
                { "CapEff", want_caps },
                { "CapPrm", want_caps },
                { "CapBnd", "0000000000000000" },
                { "CapInh", "0000000000000000" },
                { "CapAmb", "0000000000000000" },
        };
        char p[320];
        _cleanup_free_ char *status = NULL;
        bool main_thread = (pid_t) strtol(task, NULL, 10) == pid;

        snprintf(p, sizeof p, "/proc/%d/task/%s/status", (int) pid, task);
        status = read_file_str(p);
        if (!status)
                return;         /* thread exited meanwhile */
        bool rcu_quirk = false;
        for (size_t i = 0; i < ELEMENTSOF(caps) && is_ref && !main_thread; i++) {
                char line[64];
                snprintf(line, sizeof line, "\n%s:\t%s\n", caps[i].key, caps[i].want);
                rcu_quirk = rcu_quirk || !strstr(status, line);
        }
        if (rcu_quirk) {
                /*
                 * Reference quirk (7.2): QEMU's RCU thread, started before the drop, keeps
                 * the bounding set it started with and, while its uid stays 0, all its
                 * capabilities (the kernel clears them when setuid() leaves uid 0).
                 */
                _cleanup_free_ char *own_bnd = proc_status_field(getpid(), "CapBnd");
                const char *prm = strcmp(uids, "0") == 0 ? own_bnd : "0000000000000000";
                const struct {
                        const char *key, *want;
                } quirk[] = {
                        { "CapEff", prm }, { "CapPrm", prm }, { "CapBnd", own_bnd },
                        { "CapInh", "0000000000000000" }, { "CapAmb", "0000000000000000" },
                };
                ref_quirk_threads++;
                for (size_t i = 0; i < ELEMENTSOF(quirk); i++) {
                        char line[64];
                        snprintf(line, sizeof line, "\n%s:\t%s\n", quirk[i].key, quirk[i].want);
                        CHECK_MSG(own_bnd && strstr(status, line), "reference task %s: %s is not %s (RCU thread quirk)",
                                  task, quirk[i].key, quirk[i].want);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(caps) && !rcu_quirk; i++) {
                char line[64];
                snprintf(line, sizeof line, "\n%s:\t%s\n", caps[i].key, caps[i].want);
                CHECK_MSG(strstr(status, line), "task %s: %s is not %s", task, caps[i].key, caps[i].want);
        }
        {
                char line[96];
                snprintf(line, sizeof line, "\nUid:\t%s\t%s\t%s\t%s\n", uids, uids, uids, uids);
                CHECK_MSG(strstr(status, line), "task %s: Uid line is not all %s", task, uids);
                snprintf(line, sizeof line, "\nGid:\t%s\t%s\t%s\t%s\n", gids, gids, gids, gids);
                CHECK_MSG(strstr(status, line), "task %s: Gid line is not all %s", task, gids);
        }
        if (!is_ref)
                /* prhd also sets PR_SET_NO_NEW_PRIVS (docs/compatibility.md). */
                CHECK_MSG(strstr(status, "\nNoNewPrivs:\t1\n"), "task %s: NoNewPrivs not set", task);
        CHECK_MSG(strstr(status, "\nGroups:\t\n") || strstr(status, "\nGroups:\n") || strstr(status, "\nGroups:\t \n"),
                  "task %s: supplementary groups not dropped", task);
}

static void check_dropped_ids(const char *title, const char *const *args, const char *uids, const char *gids) {
        static const gid_t groups[] = { 4, 24, 27 };
        uint8_t cdb[PRH_CDB_SIZE];
        Reply rep;
        Helper h;
        DIR *d;
        struct dirent *de;
        char p[64];
        unsigned tasks = 0;
        int s;

        test_begin(title);
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *a[16] = { "-k", h.sock };
                size_t n = 2;
                for (size_t i = 0; args && args[i]; i++)
                        a[n++] = args[i];
                a[n] = NULL;
                HelperSpawn sp = { .args = a, .groups = groups, .n_groups = ELEMENTSOF(groups) };
                CHECK_EQ(helper_spawn(&h, &sp), 0);
                CHECK_EQ(helper_wait_socket(&h, 5000), 0);
        }
        /* The drop happens after the socket exists; a served request proves we are past it. */
        s = client_open(h.sock);
        CHECK(s >= 0);
        cdb_pr_in(cdb, 0, 40);
        CHECK_EQ(client_roundtrip(s, cdb, NULL, null_rw, &rep), 0);
        CHECK(memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0);
        {
                _cleanup_free_ char *eff = proc_status_field(h.pid, "CapEff"),
                                    *prm = proc_status_field(h.pid, "CapPrm"),
                                    *bnd = proc_status_field(h.pid, "CapBnd"),
                                    *uid = proc_status_field(h.pid, "Uid"),
                                    *gid = proc_status_field(h.pid, "Gid"),
                                    *grp = proc_status_field(h.pid, "Groups");
                fprintf(stderr, "  CapEff %s CapPrm %s CapBnd %s Uid %s Gid %s Groups '%s'\n", eff, prm, bnd, uid,
                        gid, grp);
        }
        snprintf(p, sizeof p, "/proc/%d/task", (int) h.pid);
        ref_quirk_threads = 0;
        d = opendir(p);
        CHECK(d);
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                tasks++;
                check_task(h.pid, de->d_name, uids, gids);
        }
        if (d)
                closedir(d);
        fprintf(stderr, "  %u threads checked\n", tasks);
        CHECK(tasks >= 1);
        /* Exactly one such thread in the reference, none in prhd (every thread checked strictly). */
        CHECK_MSG(ref_quirk_threads == (is_ref ? 1u : 0u), "%u threads with the RCU-thread quirk", ref_quirk_threads);
        if (s >= 0)
                close(s);
        helper_free(&h);
}

static void check_dropped(const char *title, const char *const *args, const char *ids) {
        check_dropped_ids(title, args, ids, ids);
}

/*
 * prhd's own word on multipath support (-v -v logs "Multipath support
 * active" or "... not active (reason)") must match what this host allows,
 * and the capabilities must follow it; --no-multipath never keeps
 * CAP_SYS_ADMIN.
 */
static void test_multipath_caps(bool possible) {
        const char *saved = want_caps;
        Helper h;

        test_begin("default: prhd reports multipath support as this host allows");
        if (helper_init(&h, path) == 0 && helper_start(&h, (const char *const[]) { "-v", "-v", NULL }) == 0) {
                _cleanup_free_ char *err = NULL;
                bool active, inactive;

                helper_stderr_wait(&h, "ultipath support", 5000);
                err = helper_stderr(&h);
                active = err && strstr(err, "Multipath support active");
                inactive = err && strstr(err, "Multipath support not active");
                CHECK_MSG(active != inactive, "prhd says neither or both: %s", err ? err : "(no stderr)");
                CHECK_MSG(active == possible, "prhd says multipath support is %s, the host %s it",
                          active ? "active" : "not active", possible ? "allows" : "does not allow");
        } else
                CHECK(false);
        helper_free(&h);

        want_caps = possible ? CAPS_RAWIO_ADMIN : CAPS_RAWIO;
        check_dropped(possible ? "default, multipath active: CAP_SYS_RAWIO + CAP_SYS_ADMIN"
                               : "default, multipath not active: CAP_SYS_RAWIO only",
                      (const char *const[]) { "-u", "nobody", "-g", "nogroup", NULL }, "65534");

        test_begin("--no-multipath: prhd does not load multipath support");
        if (helper_init(&h, path) == 0 &&
            helper_start(&h, (const char *const[]) { "--no-multipath", "-v", "-v", NULL }) == 0) {
                _cleanup_free_ char *err = NULL;

                /* a served request: start-up, and its log lines, are over */
                int s = client_open(h.sock);
                uint8_t cdb[PRH_CDB_SIZE];
                Reply rep;
                cdb_pr_in(cdb, 0, 40);
                CHECK(s >= 0 && client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0);
                if (s >= 0)
                        close(s);
                err = helper_stderr(&h);
                CHECK_MSG(err && !strstr(err, "Multipath support active"), "stderr: %s", err ? err : "(none)");
        } else
                CHECK(false);
        helper_free(&h);
        want_caps = CAPS_RAWIO;
        check_dropped("--no-multipath: CAP_SYS_RAWIO only", (const char *const[]) { "--no-multipath", "-u", "nobody", "-g", "nogroup", NULL }, "65534");
        check_dropped("--no-multipath, no -u/-g: CAP_SYS_RAWIO only", (const char *const[]) { "--no-multipath", NULL }, "0");
        want_caps = saved;
}

/* Started as a non-root user: the reference cannot drop (capng_change_id needs
 * CAP_SETUID); prhd keeps its ids and serves (docs/compatibility.md). */
static void test_non_root(void) {
        struct passwd *pw = getpwnam("nobody");
        struct group *gr = getgrnam("nogroup");
        Helper h;

        test_begin("started as nobody without capabilities");
        if (!pw || !gr || helper_init(&h, path) < 0)
                return;
        (void) chmod(h.dir, 0777);
        {
                const char *a[] = { "-k", h.sock, NULL };
                HelperSpawn sp = { .args = a, .set_ids = true, .uid = pw->pw_uid, .gid = gr->gr_gid };
                if (is_ref) {
                        int code = helper_run(&h, &sp, 5000);
                        _cleanup_free_ char *err = helper_stderr(&h);
                        CHECK_MSG(code == 1, "exit code %d", code);
                        CHECK_MSG(strstr(err, "Failed to drop privileges: Operation not permitted"), "stderr: %s", err);
                } else {
                        uint8_t cdb[PRH_CDB_SIZE];
                        Reply rep;
                        int s;

                        CHECK_EQ(helper_spawn(&h, &sp), 0);
                        CHECK_EQ(helper_wait_socket(&h, 5000), 0);
                        s = client_open(h.sock);
                        CHECK(s >= 0);
                        cdb_pr_in(cdb, 0, 40);
                        CHECK(s >= 0 && client_roundtrip(s, cdb, NULL, null_rw, &rep) == 0 &&
                              memcmp(rep.header, REPLY_ENOTTY, sizeof REPLY_ENOTTY) == 0);
                        if (s >= 0)
                                close(s);
                        _cleanup_free_ char *uid = proc_status_field(h.pid, "Uid"),
                                            *eff = proc_status_field(h.pid, "CapEff");
                        CHECK_MSG(uid && strncmp(uid, "65534\t65534\t65534\t65534", 23) == 0, "Uid %s", uid);
                        CHECK_MSG(eff && strcmp(eff, "0000000000000000") == 0, "CapEff %s", eff);
                        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                }
        }
        helper_free(&h);
}

int main(int argc, char **argv) {
        path = harness_helper_path(argc, argv);
        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        is_ref = harness_is_reference(path);
        fprintf(stderr, "helper under test: %s\n", path);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (!getpwnam("nobody") || !getgrnam("nogroup"))
                test_skip("needs user nobody and group nogroup");
        if (!is_ref) {
                const char *why;
                bool possible = host_multipath_possible(&why);

                fprintf(stderr, "multipath support %s on this host: %s\n", possible ? "possible" : "impossible", why);
                test_multipath_caps(possible);
                /* The cases below run prhd with its default: multipath support wherever possible. */
                want_caps = possible ? CAPS_RAWIO_ADMIN : CAPS_RAWIO;
        }
        {
                const char *a[] = { "-u", "nobody", "-g", "nogroup", NULL };
                check_dropped("-u nobody -g nogroup: the capabilities above, ids 65534, no groups", a, "65534");
        }
        {
                const char *a[] = { "-u", "65534", "-g", "65534", NULL };
                check_dropped("-u 65534 -g 65534 (numeric ids)", a, "65534");
        }
        {
                const char *a[] = { "-u", "nobody", NULL };
                check_dropped_ids("-u nobody alone: uid 65534, gid stays 0", a, "65534", "0");
        }
        check_dropped("no -u/-g: still root ids, the capabilities above, no groups", NULL, "0");
        test_non_root();
        return tests_finish("test-privileges");
}
