/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhd: command line.  The options, defaults, messages and exit codes of
 * qemu-pr-helper (docs/protocol.md, "Command line and process"), plus long-only
 * options for what the reference hard-codes.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "sandbox.h"
#include "trace.h"

#include "config.h"

#define DEFAULT_SGIO_TIMEOUT_MS 5000u
#define DEFAULT_MAX_CONNECTIONS 16384u
#define DEFAULT_MAX_REQUESTS 64u
#define DEFAULT_SHUTDOWN_TIMEOUT_MS 10000u
#define DEFAULT_CLIENT_TIMEOUT_MS 10000u

static const char *arg_socket;
static const char *arg_sockets[16];
static size_t arg_n_sockets;
static const char *arg_config;
static const char *arg_audit_log;
static bool arg_audit_pr_in;
static bool arg_audit_redact_keys;
static const char *arg_admin_socket;
static const char *arg_pidfile;
static bool arg_daemonize;
static bool arg_quiet;
static int arg_loglevel = 1;
static bool arg_uid_given, arg_gid_given;
static uid_t arg_uid;
static gid_t arg_gid;
static uint32_t arg_sgio_timeout_ms = DEFAULT_SGIO_TIMEOUT_MS;
static unsigned arg_max_connections = DEFAULT_MAX_CONNECTIONS;
static bool arg_max_connections_given;
static unsigned arg_max_requests = DEFAULT_MAX_REQUESTS;
static bool arg_multipath = true;
static bool arg_unsafe_any_fd;
static unsigned arg_shutdown_timeout_ms = DEFAULT_SHUTDOWN_TIMEOUT_MS;
static unsigned arg_client_timeout_ms = DEFAULT_CLIENT_TIMEOUT_MS;
static unsigned arg_max_connections_per_peer;
static unsigned arg_max_requests_per_peer;
static SandboxMode arg_seccomp = SANDBOX_KILL;

static void help(const char *argv0) {
        printf("Usage: %s [OPTIONS]\n"
               "Persistent Reservation helper program for QEMU\n"
               "\n"
               "  -h, --help                display this help and exit\n"
               "  -V, --version             output version information and exit\n"
               "\n"
               "  -d, --daemon              run in the background\n"
               "  -f, --pidfile=PATH        PID file when running as a daemon\n"
               "                            (default '%s')\n"
               "  -k, --socket=PATH         path to the unix socket\n"
               "                            (default '%s')\n"
               "  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
               "                            specify tracing options\n"
               "  -u, --user=USER           user to drop privileges to\n"
               "  -g, --group=GROUP         group to drop privileges to\n"
               "  -v, --verbose             log more (repeat for more)\n"
               "  -q, --quiet               do not log per-connection errors\n"
               "\n"
               "      --sgio-timeout=MSEC   SG_IO timeout in milliseconds (default %u)\n"
               "      --max-connections=N   connections served at once (default %u)\n"
               "      --max-requests=N      requests executed at once (default %u)\n"
               "      --max-connections-per-peer=N\n"
               "                            connections of one user (uid) at once\n"
               "                            (default: three quarters of --max-connections)\n"
               "      --max-requests-per-peer=N\n"
               "                            requests of one user executed at once\n"
               "                            (default: three quarters of --max-requests)\n"
               "      --client-timeout=MSEC close a connection that has not completed its\n"
               "                            handshake, or a request it started, within MSEC\n"
               "                            (default %u; 0: never)\n"
               "      --no-multipath        do not use libmpathpersist for dm-multipath devices\n"
               "      --unsafe-any-fd       act on any fd a client sends, partitions included:\n"
               "                            FOR TESTING ONLY (see prhd(8))\n"
               "      --shutdown-timeout=MSEC\n"
               "                            at termination, wait this long for requests in flight\n"
               "                            and unsent replies, then exit anyway (default %u)\n"
               "      --seccomp=MODE        system calls outside prhd's list: kill (default),\n"
               "                            log (allow, kernel logs them: debugging), off\n"
               "\n"
               "      --config=FILE         per-socket policy (JSON, see prhd(8)); reloaded on\n"
               "                            SIGHUP; with it, -k may be repeated\n"
               "      --audit-log=TARGET    audit records: 'journal', 'journal:SOCKET', or a file\n"
               "                            of JSON lines\n"
               "      --audit-pr-in         records for PR IN too (default: PR OUT only)\n"
               "      --audit-redact-keys   write 'redacted' instead of reservation keys\n"
               "      --admin-socket=PATH   counters for 'prhctl --admin PATH stats' (mode 0600)\n"
               "\n"
               "See prhd(8) for details.\n",
               argv0, PRH_DEFAULT_PIDFILE, PRH_DEFAULT_SOCKET, DEFAULT_SGIO_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
               DEFAULT_MAX_REQUESTS, DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS);
}

static void version(const char *argv0) {
        printf("%s %s (prh)\n"
               "Drop-in replacement for qemu-pr-helper.\n"
               "\n"
               "This is free software; see the source for copying conditions.  There is NO\n"
               "warranty; not even for MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.\n",
               argv0, PRH_VERSION);
}

/* 1: exit 0 now (help, version, trace help); 0: run; -errno: exit 1. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_SGIO_TIMEOUT = 0x100,
                ARG_MAX_CONNECTIONS,
                ARG_MAX_REQUESTS,
                ARG_NO_MULTIPATH,
                ARG_UNSAFE_ANY_FD,
                ARG_SHUTDOWN_TIMEOUT,
                ARG_CLIENT_TIMEOUT,
                ARG_MAX_CONNECTIONS_PER_PEER,
                ARG_MAX_REQUESTS_PER_PEER,
                ARG_SECCOMP,
                ARG_CONFIG,
                ARG_AUDIT_LOG,
                ARG_AUDIT_PR_IN,
                ARG_AUDIT_REDACT_KEYS,
                ARG_ADMIN_SOCKET,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "socket", required_argument, NULL, 'k' },
                { "pidfile", required_argument, NULL, 'f' },
                { "daemon", no_argument, NULL, 'd' },
                { "trace", required_argument, NULL, 'T' },
                { "user", required_argument, NULL, 'u' },
                { "group", required_argument, NULL, 'g' },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "sgio-timeout", required_argument, NULL, ARG_SGIO_TIMEOUT },
                { "max-connections", required_argument, NULL, ARG_MAX_CONNECTIONS },
                { "max-requests", required_argument, NULL, ARG_MAX_REQUESTS },
                { "no-multipath", no_argument, NULL, ARG_NO_MULTIPATH },
                { "unsafe-any-fd", no_argument, NULL, ARG_UNSAFE_ANY_FD },
                { "shutdown-timeout", required_argument, NULL, ARG_SHUTDOWN_TIMEOUT },
                { "client-timeout", required_argument, NULL, ARG_CLIENT_TIMEOUT },
                { "max-connections-per-peer", required_argument, NULL, ARG_MAX_CONNECTIONS_PER_PEER },
                { "max-requests-per-peer", required_argument, NULL, ARG_MAX_REQUESTS_PER_PEER },
                { "seccomp", required_argument, NULL, ARG_SECCOMP },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "audit-log", required_argument, NULL, ARG_AUDIT_LOG },
                { "audit-pr-in", no_argument, NULL, ARG_AUDIT_PR_IN },
                { "audit-redact-keys", no_argument, NULL, ARG_AUDIT_REDACT_KEYS },
                { "admin-socket", required_argument, NULL, ARG_ADMIN_SOCKET },
                {}
        };
        uint32_t u;
        int c, r;

        while ((c = getopt_long(argc, argv, "hVk:f:dT:u:g:vq", options, NULL)) != -1) {
                switch (c) {
                case 'h':
                        help(argv[0]);
                        return 1;
                case 'V':
                        version(argv[0]);
                        return 1;
                case 'k':
                        if (optarg[0] != '/') {
                                log_error("socket path must be absolute");
                                return -EINVAL;
                        }
                        arg_socket = optarg;
                        if (arg_n_sockets == ELEMENTSOF(arg_sockets)) {
                                log_error("too many sockets (at most %zu)", ELEMENTSOF(arg_sockets));
                                return -EINVAL;
                        }
                        arg_sockets[arg_n_sockets++] = optarg;
                        break;
                case 'f':
                        arg_pidfile = optarg;
                        break;
                case 'd':
                        arg_daemonize = true;
                        break;
                case 'T':
                        r = trace_parse_option(optarg);
                        if (r != 0)
                                return r;
                        break;
                case 'u': {
                        struct passwd *pw = getpwnam(optarg);
                        if (pw)
                                arg_uid = pw->pw_uid;
                        else if (safe_atou32(optarg, &u) >= 0 && u != (uint32_t) -1)
                                arg_uid = (uid_t) u;
                        else {
                                log_error("invalid user '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_uid_given = true;
                        break;
                }
                case 'g': {
                        struct group *gr = getgrnam(optarg);
                        if (gr)
                                arg_gid = gr->gr_gid;
                        else if (safe_atou32(optarg, &u) >= 0 && u != (uint32_t) -1)
                                arg_gid = (gid_t) u;
                        else {
                                log_error("invalid group '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_gid_given = true;
                        break;
                }
                case 'v':
                        arg_loglevel++;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_SGIO_TIMEOUT:
                        if (safe_atou32(optarg, &u) < 0 || u == 0) {
                                log_error("invalid SG_IO timeout '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_sgio_timeout_ms = u;
                        break;
                case ARG_MAX_CONNECTIONS:
                        if (safe_atou32(optarg, &u) < 0 || u == 0 || u > 1000000) {
                                log_error("invalid connection limit '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_max_connections = u;
                        arg_max_connections_given = true;
                        break;
                case ARG_MAX_REQUESTS:
                        if (safe_atou32(optarg, &u) < 0 || u == 0 || u > 4096) {
                                log_error("invalid request limit '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_max_requests = u;
                        break;
                case ARG_NO_MULTIPATH:
                        arg_multipath = false;
                        break;
                case ARG_UNSAFE_ANY_FD:
                        arg_unsafe_any_fd = true;
                        break;
                case ARG_SHUTDOWN_TIMEOUT:
                        if (safe_atou32(optarg, &u) < 0 || u > 3600000) {
                                log_error("invalid shutdown timeout '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_shutdown_timeout_ms = u;
                        break;
                case ARG_CLIENT_TIMEOUT:
                        if (safe_atou32(optarg, &u) < 0 || u > 3600000) {
                                log_error("invalid client timeout '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_client_timeout_ms = u;
                        break;
                case ARG_MAX_CONNECTIONS_PER_PEER:
                        if (safe_atou32(optarg, &u) < 0 || u == 0 || u > 1000000) {
                                log_error("invalid per-peer connection limit '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_max_connections_per_peer = u;
                        break;
                case ARG_MAX_REQUESTS_PER_PEER:
                        if (safe_atou32(optarg, &u) < 0 || u == 0 || u > 4096) {
                                log_error("invalid per-peer request limit '%s'", optarg);
                                return -EINVAL;
                        }
                        arg_max_requests_per_peer = u;
                        break;
                case ARG_SECCOMP:
                        r = sandbox_mode_from_string(optarg);
                        if (r < 0) {
                                log_error("invalid seccomp mode '%s' (kill, log or off)", optarg);
                                return -EINVAL;
                        }
                        arg_seccomp = (SandboxMode) r;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_AUDIT_LOG:
                        arg_audit_log = optarg;
                        break;
                case ARG_AUDIT_PR_IN:
                        arg_audit_pr_in = true;
                        break;
                case ARG_AUDIT_REDACT_KEYS:
                        arg_audit_redact_keys = true;
                        break;
                case ARG_ADMIN_SOCKET:
                        if (optarg[0] != '/') {
                                log_error("admin socket path must be absolute");
                                return -EINVAL;
                        }
                        arg_admin_socket = optarg;
                        break;
                default:
                        /* getopt printed its own message. */
                        log_error("Try `%s --help' for more information.", argv[0]);
                        return -EINVAL;
                }
        }
        return 0;
}

int main(int argc, char *argv[]) {
        sigset_t ss;
        int r;

        log_setup(argv[0]);

        /* Termination signals are taken synchronously by the server (sigwaitinfo). */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;

        int verbose = arg_quiet ? 0 : (arg_loglevel > 3 ? 3 : arg_loglevel);
        log_set_max_level(arg_quiet ? LOG_ERR : arg_loglevel >= 3 ? LOG_DEBUG : arg_loglevel == 2 ? LOG_INFO : LOG_NOTICE);

        if (trace_init() < 0)
                return EXIT_FAILURE;

        DaemonConfig config = {
                .socket_path = arg_socket,
                .pidfile_path = arg_pidfile,
                .socket_given = arg_socket != NULL,
                .pidfile_given = arg_pidfile != NULL,
                .daemonize = arg_daemonize,
                .uid_given = arg_uid_given,
                .gid_given = arg_gid_given,
                .uid = arg_uid,
                .gid = arg_gid,
                .verbose = verbose,
                .sgio_timeout_ms = arg_sgio_timeout_ms,
                .max_connections = arg_max_connections,
                .max_connections_given = arg_max_connections_given,
                .max_requests = arg_max_requests,
                .multipath = arg_multipath,
                .unsafe_any_fd = arg_unsafe_any_fd,
                .shutdown_timeout_ms = arg_shutdown_timeout_ms,
                .client_timeout_ms = arg_client_timeout_ms,
                .max_connections_per_peer = arg_max_connections_per_peer,
                .max_requests_per_peer = arg_max_requests_per_peer,
                .seccomp = arg_seccomp,
                .config_path = arg_config,
                .audit_log = arg_audit_log,
                .audit_pr_in = arg_audit_pr_in,
                .audit_redact_keys = arg_audit_redact_keys,
                .admin_socket = arg_admin_socket,
        };
        /* Without a configuration, a repeated -k means the last one, as for the reference. */
        if (arg_config) {
                config.socket_paths = arg_sockets;
                config.n_socket_paths = arg_n_sockets;
        }
        return daemon_run(&config);
}
