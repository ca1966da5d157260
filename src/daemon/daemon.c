/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Start-up order and why:
 *  - socket activation is checked before forking (LISTEN_PID names us);
 *  - with -d we fork first, so the pidfile lock belongs to the daemon
 *    process, and the parent exits only with the child's real result;
 *  - multipath is initialised while still root;
 *  - the socket exists before privileges drop (it may live in a
 *    root-only directory), and an existing live socket is never stolen;
 *  - privileges are dropped before any thread starts (capabilities are
 *    per thread), and verified;
 *  - the seccomp filter goes on last, just before serving: start-up needs
 *    calls service never makes (bind, capset, setrlimit, ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "backend.h"
#include "daemon.h"
#include "fd-util.h"
#include "log.h"
#include "notify.h"
#include "pidfile.h"
#include "policy.h"
#include "privileges.h"
#include "sandbox.h"
#include "server.h"
#include "socket.h"

#include "config.h"

#define LISTEN_BACKLOG 4096
#define RESERVED_FDS 32

typedef struct ReadyState {
        int report_fd;
        bool daemonize;
} ReadyState;

static void on_ready(void *userdata) {
        ReadyState *st = userdata;

        (void) notify_send("READY=1\nSTATUS=Serving persistent reservation requests");
        if (st->daemonize) {
                /* From here on the parent is gone: log to syslog, detach stderr. */
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                log_set_target(LOG_TARGET_SYSLOG);
                daemonize_report(st->report_fd, EXIT_SUCCESS);
                st->report_fd = -EBADF;
                if (null >= 0) {
                        (void) dup2(null, STDERR_FILENO);
                        safe_close(null);
                }
        }
        sandbox_selftest();
}

static unsigned raise_fd_limit(unsigned wanted) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return wanted;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
                (void) getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t) wanted + RESERVED_FDS)
                return rl.rlim_cur > RESERVED_FDS ? (unsigned) rl.rlim_cur - RESERVED_FDS : 1;
        return wanted;
}

int daemon_run(const DaemonConfig *config) {
        const char *socket_path = config->socket_path ? config->socket_path : PRH_DEFAULT_SOCKET;
        const char *pidfile_path = config->pidfile_path ? config->pidfile_path : PRH_DEFAULT_PIDFILE;
        _cleanup_free_ char *pidfile_abs = NULL;
        /* own_listen_fd: the socket we bound; an activated fd 3 is not ours to close */
        _cleanup_close_ int own_listen_fd = -EBADF, pid_fd = -EBADF;
        int listen_fd = -EBADF;
        ReadyState ready = { .report_fd = -EBADF, .daemonize = config->daemonize };
        Backend *backend = NULL;
        int n, r, status = EXIT_FAILURE;
        /* Several sockets (only with a configuration): the first is listen_fd, the others here. */
        ServerListener more[16] = {};
        size_t n_more = 0;
        const char *names[17] = {};
        char fdnames_buf[17 * 256], *fdnames = NULL;    /* LISTEN_FDNAMES: up to 17 names of at most 255 bytes */
        _cleanup_close_ int admin_fd = -EBADF;
        bool admin_bound = false;
        Policy *policy = NULL;
        Audit audit = { .fd = -EBADF };

        /* Read before activation_listen_fds() unsets it. */
        const char *fdnames_env = getenv("LISTEN_FDNAMES");
        if (fdnames_env) {
                if (strlen(fdnames_env) >= sizeof fdnames_buf) {
                        log_error("Failed to use socket activation: LISTEN_FDNAMES is too long");
                        return EXIT_FAILURE;
                }
                memcpy(fdnames_buf, fdnames_env, strlen(fdnames_env) + 1);
                fdnames = fdnames_buf;
        }
        n = activation_listen_fds();
        if (n < 0)
                return EXIT_FAILURE;
        if (n > 1 && !config->config_path) {
                log_error("%s does not support socket activation with LISTEN_FDS > 1", log_program_name());
                return EXIT_FAILURE;
        }
        if (n >= 1 && config->socket_given) {
                log_error("Unix socket can't be set when using socket activation");
                return EXIT_FAILURE;
        }

        /* A relative pidfile stays relative to where we were started, not to '/'. */
        if ((config->daemonize || config->pidfile_given) && pidfile_path[0] != '/') {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof cwd))
                        return log_error_errno(-errno, "Cannot resolve pidfile path: %m"), EXIT_FAILURE;
                if (asprintf(&pidfile_abs, "%s/%s", cwd, pidfile_path) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory"), EXIT_FAILURE;
                pidfile_path = pidfile_abs;
        }

        /* The configuration (read again on SIGHUP) and the audit file: relative to where we started. */
        _cleanup_free_ char *config_abs = NULL, *audit_abs = NULL;
        const char *config_path = config->config_path, *audit_log = config->audit_log;
        if ((config_path && config_path[0] != '/') ||
            (audit_log && audit_log[0] != '/' && !audit_is_journal(audit_log))) {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof cwd))
                        return log_error_errno(-errno, "Cannot resolve relative paths: %m"), EXIT_FAILURE;
                if (config_path && config_path[0] != '/') {
                        if (asprintf(&config_abs, "%s/%s", cwd, config_path) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), EXIT_FAILURE;
                        config_path = config_abs;
                }
                if (audit_log && audit_log[0] != '/' && !audit_is_journal(audit_log)) {
                        if (asprintf(&audit_abs, "%s/%s", cwd, audit_log) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory"), EXIT_FAILURE;
                        audit_log = audit_abs;
                }
        }

        if (config->daemonize) {
                ready.report_fd = daemonize_fork();
                if (ready.report_fd < 0) {
                        log_error_errno(ready.report_fd, "Failed to daemonize: %m");
                        return EXIT_FAILURE;
                }
                if (chdir("/") < 0)
                        log_warning_errno(-errno, "Failed to change directory to /: %m");
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                        safe_close(null);
                }
        }

        BackendConfig bc = {
                .sgio_timeout_ms = config->sgio_timeout_ms,
                .want_multipath = config->multipath,
                .verbose = config->verbose,
                .unsafe_any_fd = config->unsafe_any_fd,
        };
        r = backend_new(&bc, &backend);
        if (r < 0) {
                log_error_errno(r, "Failed to initialise: %m");
                goto finish;
        }

        if (n >= 1) {
                /* LISTEN_FDNAMES: colon-separated, one per fd ("unknown" where missing, as systemd's). */
                char *save = NULL, *tok = fdnames ? strtok_r(fdnames, ":", &save) : NULL;
                if (n > (int) ELEMENTSOF(more) + 1) {
                        log_error("At most %zu activated sockets", ELEMENTSOF(more) + 1);
                        goto finish;
                }
                for (int i = 0; i < n; i++) {
                        r = activation_check_socket(3 + i);
                        if (r < 0)
                                goto finish;
                        names[i] = tok ? tok : "unknown";
                        tok = tok ? strtok_r(NULL, ":", &save) : NULL;
                        if (i > 0)
                                more[n_more++] = (ServerListener) { .fd = 3 + i, .name = names[i] };
                }
                listen_fd = 3;
        } else {
                own_listen_fd = socket_listen_unix(config->n_socket_paths > 0 ? config->socket_paths[0] : socket_path,
                                                   LISTEN_BACKLOG);
                listen_fd = own_listen_fd;
                if (listen_fd < 0)
                        goto finish;
                if (config->n_socket_paths > 0)
                        socket_path = config->socket_paths[0];
                names[0] = socket_path;
                for (size_t i = 1; i < config->n_socket_paths; i++) {
                        int fd = socket_listen_unix(config->socket_paths[i], LISTEN_BACKLOG);
                        if (fd < 0)
                                goto finish_unlink;
                        more[n_more++] = (ServerListener) {
                                .fd = fd, .name = config->socket_paths[i], .unlink_path = config->socket_paths[i],
                        };
                        names[i] = config->socket_paths[i];
                }
        }

        if (config->admin_socket) {
                /* root-only by default: the file is created 0600 by whoever starts us */
                mode_t old = umask(0177);
                admin_fd = socket_listen_unix(config->admin_socket, 16);
                umask(old);
                if (admin_fd < 0)
                        goto finish_unlink;
                admin_bound = true;
        }

        /* Parsed here, before the privilege drop and the sandbox; SIGHUP reads it again (server.c). */
        if (config_path) {
                r = policy_load(config_path, names, 1 + n_more, &policy);
                if (r < 0)
                        goto finish_unlink;
        }
        if (audit_log) {
                r = audit_open(&audit, audit_log);
                if (r < 0)
                        goto finish_unlink;
        }
        audit.pr_in = config->audit_pr_in;
        audit.redact = config->audit_redact_keys;

        if (config->daemonize || config->pidfile_given) {
                pid_fd = pidfile_write(pidfile_path);
                if (pid_fd < 0)
                        goto finish_unlink;
                r = pidfile_guard_init(pid_fd);
                if (r < 0) {
                        log_error_errno(r, "Failed to set up the pid file guard: %m");
                        goto finish_unlink;
                }
        }

        PrivilegeRequest pr = {
                .change_id = config->uid_given || config->gid_given || geteuid() == 0,
                .uid = config->uid_given ? config->uid : getuid(),
                .gid = config->gid_given ? config->gid : getgid(),
                .keep_sys_admin = backend_multipath_active(backend),
        };
        if (pr.keep_sys_admin && pr.change_id && pr.uid != 0)
                log_warning("Multipath support is active but -u drops uid 0: libmpathpersist opens path devices "
                            "itself and multipathd accepts keys only from root, so PR on multipath maps will fail. "
                            "Run without -u, or with --no-multipath.");
        r = privileges_drop(&pr);
        if (r < 0)
                goto finish_unlink;

        ServerConfig sc = {
                .listen_fd = listen_fd,
                .unlink_path = n >= 1 ? NULL : socket_path,
                .listen_name = names[0],
                .more_listeners = more,
                .n_more_listeners = n_more,
                .admin_fd = admin_fd >= 0 ? admin_fd : -EBADF,
                .admin_unlink_path = config->admin_socket,
                .config_path = config_path,
                .policy = policy,
                .audit = audit,
                .max_connections = 0,
                .max_requests = config->max_requests,
                .min_threads = 2,
                .shutdown_timeout_ms = config->shutdown_timeout_ms,
                .client_timeout_ms = config->client_timeout_ms,
                .verbose = config->verbose,
                .backend = backend,
        };
        /* Two fds per connection: its socket, and the device fd of a request being received, parked or
         * executed.  Every admitted connection can then always receive its fd (no MSG_CTRUNC). */
        unsigned avail = raise_fd_limit(2 * config->max_connections);
        sc.max_connections = avail / 2 > 0 ? avail / 2 : 1;
        if (sc.max_connections > config->max_connections)
                sc.max_connections = config->max_connections;
        if (sc.max_connections < config->max_connections)
                log_full(config->max_connections_given ? LOG_WARNING : LOG_INFO,
                         "File descriptor limit allows only %u connections (--max-connections=%u).",
                         sc.max_connections, config->max_connections);

        sc.max_connections_per_peer = config->max_connections_per_peer ? config->max_connections_per_peer
                                                                        : sc.max_connections - sc.max_connections / 4;
        sc.max_requests_per_peer = config->max_requests_per_peer ? config->max_requests_per_peer
                                                                  : sc.max_requests - sc.max_requests / 4;
        r = sandbox_install((SandboxMode) config->seccomp);
        if (r < 0)
                goto finish_unlink;

        policy = NULL;  /* the server owns it now */
        r = server_run(&sc, on_ready, &ready);
        if (r >= 0)
                status = EXIT_SUCCESS;
        if (r > 0) {
                /* Threads stuck in the kernel still use the backend: leave it to the exit. */
                daemonize_report(ready.report_fd, status);
                return status;
        }
        goto finish;

finish_unlink:
        /* Startup failed after bind: leave no stale socket behind. */
        if (n == 0 && listen_fd >= 0)
                (void) unlink(socket_path);
        for (size_t i = 0; i < n_more; i++)
                if (more[i].unlink_path)
                        (void) unlink(more[i].unlink_path);
        if (admin_bound)
                (void) unlink(config->admin_socket);
finish:
        for (size_t i = 0; i < n_more; i++)
                if (more[i].unlink_path)
                        safe_close(more[i].fd);
        policy_free(policy);
        audit_close(&audit);
        daemonize_report(ready.report_fd, status);
        backend_free(backend);
        return status;
}
