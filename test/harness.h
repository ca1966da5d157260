/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration-test harness: start a helper binary (prhd or the reference
 * qemu-pr-helper) as a real process in its own temporary directory, talk
 * to it over its real AF_UNIX socket, and observe it from outside
 * (stderr lines, /proc/PID/fd, /proc/PID/status).
 *
 * The binary under test is a parameter: $PRH_HELPER, else argv[1], else
 * /usr/bin/qemu-pr-helper.  $PRH_VARIANT ("reference", "reference10" or "prhd") says which
 * behaviour to expect where the two deliberately differ; without it the
 * variant is guessed from the binary's name.
 *
 * Every child dies with the test (PR_SET_PDEATHSIG); daemonized helpers,
 * which lose that, are registered with harness_adopt_pid() and killed at
 * exit.  Protocol bytes are built and decoded with src/proto only.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fd-util.h"
#include "macro.h"
#include "scsi.h"
#include "tests.h"
#include "wire.h"

/* ---- test bookkeeping (on top of tests.h) ---- */

/* Print a section header; failures after it are attributed to it. */
void test_begin(const char *name);
/* Exit 77 (meson: skipped) with a reason. */
_noreturn_ void test_skip(const char *why);
/* Exit 77 unless running as root (helpers must start as root). */
void test_require_root(void);
/* A part of the test cannot run here (e.g. no FUSE): print "SKIP: why"
 * now; tests_finish_parts() then reports the whole test as skipped. */
void test_skip_part(const char *why);
unsigned test_parts_skipped(void);
/* tests_finish(), but exit status 77 (skipped) instead of success when a
 * part was skipped: a test never passes with parts of it not run. */
static inline int tests_finish_parts(const char *name) {
        int r = tests_finish(name);

        if (r == EXIT_SUCCESS && test_parts_skipped() > 0) {
                fprintf(stderr, "SKIP: %s: %u part(s) not run (see SKIP lines above); every check that ran passed\n",
                        name, test_parts_skipped());
                return 77;
        }
        return r;
}
/* Like CHECK, with a printf-style explanation on failure. */
#define CHECK_MSG(expr, ...)                                                            \
        do {                                                                            \
                tests_checked++;                                                        \
                if (!(expr)) {                                                          \
                        tests_failed++;                                                 \
                        fprintf(stderr, "%s:%d: [%s] check failed: %s: ", __FILE__, __LINE__, \
                                test_current(), #expr);                                 \
                        fprintf(stderr, __VA_ARGS__);                                   \
                        fputc('\n', stderr);                                            \
                }                                                                       \
        } while (0)
const char *test_current(void);

uint64_t now_ms(void);
void sleep_ms(unsigned ms);

/* ---- which binary ---- */

typedef enum HelperVariant {
        VARIANT_REFERENCE,
        VARIANT_PRHD,
} HelperVariant;

/* Path of the binary under test (see top of file). */
const char *harness_helper_path(int argc, char **argv);
HelperVariant harness_variant(const char *path);
static inline bool harness_is_reference(const char *path) {
        return harness_variant(path) == VARIANT_REFERENCE;
}
/* $PRH_VARIANT is "reference10": the reference is qemu-pr-helper 10.0.2
 * (tools/fetch-qemu10).  It counts as a reference everywhere; tests check
 * this only where 10.0 behaves differently from 7.2 (docs/compatibility.md). */
bool harness_is_reference10(void);

/* Default for Helper.unsafe_any_fd of every helper_init() after this call. */
void harness_set_unsafe_any_fd(bool b);

/* ---- a helper process ---- */

typedef struct Helper {
        char dir[256];          /* private temp dir, removed by helper_free() */
        char sock[300];         /* <dir>/sock */
        char pidfile[300];      /* <dir>/pid */
        const char *path;       /* binary */
        pid_t pid;              /* the process we forked (-1 once reaped) */
        int status;             /* wait status once reaped */
        bool reaped;
        /* The test sends fds that are not whole SCSI devices (FUSE files, /dev/null): prhd is
         * started with --unsafe-any-fd (the reference has no such option and takes any fd).
         * helper_init() sets it from harness_set_unsafe_any_fd(). */
        bool unsafe_any_fd;

        /* stdout / stderr captured by a reader thread */
        pthread_t reader;
        bool reader_running;
        int out_fd, err_fd;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char *out, *err;
        size_t out_len, err_len;
        size_t err_mark;        /* helper_stderr_mark() position */
        bool out_eof, err_eof;
        bool quiet;             /* don't echo helper stderr into the test log */
        char *extra_args;       /* $PRH_HELPER_EXTRA_ARGS with @DIR@ replaced, split in place */
        char *extra[8];
        size_t n_extra;
} Helper;

typedef struct HelperSpawn {
        /* argv after the binary's name; NULL-terminated; may be NULL. */
        const char *const *args;
        /* If set, run this argv instead and append the binary and args after it
         * (e.g. { "systemd-socket-activate", "-l", sock }). */
        const char *const *wrapper;
        /* Extra environment "K=V" entries, NULL-terminated. */
        const char *const *env;
        /* Supplementary groups to give the child before exec (n_groups may be 0). */
        const gid_t *groups;
        size_t n_groups;
        /* argv[0] to pass instead of the path. */
        const char *argv0;
        /* Like libvirt: the child writes its pid into this file and holds a
         * POSIX write lock on it across exec (fd left open, not CLOEXEC). */
        const char *prelock_pidfile;
        /* Run as this uid/gid (setgid+setuid before exec) when set_ids. */
        bool set_ids;
        uid_t uid;
        gid_t gid;
        /* Working directory of the child (NULL: inherit). */
        const char *cwd;
        /* Called in the child right before exec, after fds, ids, cwd and env are set up
         * (only fds 0-2 are open): rlimits, an fd at 3, a mount namespace, a seccomp
         * filter...  A negative return makes the child exit 126. */
        int (*pre_exec)(void *userdata);
        void *pre_exec_data;
} HelperSpawn;

/* Create the temp dir; h->path = path.  Must precede everything else. */
int helper_init(Helper *h, const char *path);
/* Fork and exec; nothing is waited for. */
int helper_spawn(Helper *h, const HelperSpawn *s);
/* Convenience: spawn "<path> -k <sock> args..." and wait for the socket. */
int helper_start(Helper *h, const char *const *args);
/* Wait until the socket at path accepts connections (probe connections are closed at once). */
int helper_wait_socket_path(Helper *h, const char *path, unsigned timeout_ms);
static inline int helper_wait_socket(Helper *h, unsigned timeout_ms) {
        return helper_wait_socket_path(h, h->sock, timeout_ms);
}
/* Wait for the forked process to exit; returns 0 and the wait status, -ETIMEDOUT. */
int helper_wait_exit(Helper *h, unsigned timeout_ms, int *ret_status);
/* Exit code if it exited normally, 128+sig if killed, -1 if still running. */
int helper_exit_code(const Helper *h);
/* Send sig and wait for exit; returns exit code as above, or -ETIMEDOUT. */
int helper_stop(Helper *h, int sig, unsigned timeout_ms);
/* Kill (if running), reap, stop reader, remove temp dir. */
void helper_free(Helper *h);
bool helper_alive(const Helper *h);

/* Captured output (copies; caller frees). */
char *helper_stdout(Helper *h);
char *helper_stderr(Helper *h);
/* Remember the current end of stderr; helper_stderr_since_mark() returns what came after. */
void helper_stderr_mark(Helper *h);
char *helper_stderr_since_mark(Helper *h);
/* Wait until stderr (after the mark) contains needle. */
bool helper_stderr_wait(Helper *h, const char *needle, unsigned timeout_ms);
/* Wait until stderr has been silent for quiet_ms (at most max_ms). */
void helper_stderr_quiet(Helper *h, unsigned quiet_ms, unsigned max_ms);
/* Count occurrences of needle in stderr after the mark. */
unsigned helper_stderr_count(Helper *h, const char *needle);
/* Wait for both streams to reach EOF (after the process exited). */
void helper_output_drain(Helper *h, unsigned timeout_ms);

/* Spawn, wait for exit (timeout_ms) and for its output; returns the exit code or -errno. */
int helper_run(Helper *h, const HelperSpawn *s, unsigned timeout_ms);
/* Does path exist / is it a socket someone listens on? */
bool path_exists(const char *path);
bool socket_is_live(const char *path);
/* Wait until kill(pid, 0) fails (a process that is not our child). */
bool pid_wait_gone(pid_t pid, unsigned timeout_ms);

/* "--unsafe-any-fd" if path is prhd (which then accepts fds that are not a whole LU, e.g.
 * /dev/null or a FUSE file), NULL for the reference, which has no such option.  Tests that
 * send such fds to the helper append it to the arguments. */
const char *harness_any_fd_option(const char *path);

/* Is the binary built with AddressSanitizer (its allocator's RSS is no leak measure)? */
bool binary_is_sanitized(const char *path);

/* Kill this pid at exit (daemonized helpers). */
void harness_adopt_pid(pid_t pid);

/* ---- /proc observation ---- */

int proc_fd_count(pid_t pid);
long proc_rss_kb(pid_t pid);
/* Value of a "Key:\tvalue" line of /proc/PID/status, whitespace-trimmed; caller frees. */
char *proc_status_field(pid_t pid, const char *key);
/* Threads, session id, parent. */
int proc_stat_ppid_sid(pid_t pid, pid_t *ret_ppid, pid_t *ret_sid);
/* Wait until the fd count is <= target (settling after closes); returns the last count. */
int proc_fd_count_settle(pid_t pid, int target, unsigned timeout_ms);
/* Read a small file into a string (caller frees); NULL on error. */
char *read_file_str(const char *path);

/* ---- client side of the protocol ---- */

/* Connect (blocking, CLOEXEC, send/receive timeouts of 10 s); fd or -errno. */
int client_connect(const char *sock);
/* Read the helper's 4 bytes (must be 0), send requested features. 0 or -errno / -EPROTO. */
int client_handshake(int fd, uint32_t features);
/* connect + handshake(0). */
int client_open(const char *sock);

/* CDB builders: PR IN with service action and allocation length; PR OUT with
 * service action, scope/type byte and parameter list length (bytes 7-8). */
void cdb_pr_in(uint8_t cdb[PRH_CDB_SIZE], uint8_t sa, uint16_t alloc_len);
void cdb_pr_out(uint8_t cdb[PRH_CDB_SIZE], uint8_t sa, uint8_t scope_type, uint16_t param_len);

/* Send bytes with zero, one or two fds attached (fd2 < 0: only fd1; fd1 < 0: none). */
int client_send(int sock, const void *buf, size_t n, int fd1, int fd2);
/* Send a whole request: CDB with devfd, then the PR OUT data (len from the CDB). */
int client_send_request(int sock, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int devfd);

typedef struct Reply {
        uint8_t header[PRH_REPLY_HEADER_SIZE];
        ProtoResult res;
        uint8_t payload[PRH_DATA_SIZE];
        uint32_t payload_len;
        int decode_error;       /* proto_reply_decode() result */
} Reply;

/*
 * Read one reply for cdb within timeout_ms.  Returns 0 (complete reply),
 * 1 if the connection was closed before any reply byte, -EPROTO on a short
 * reply or a reply the protocol forbids, -ETIMEDOUT, or -errno.
 */
int client_read_reply(int sock, const uint8_t cdb[PRH_CDB_SIZE], Reply *ret, unsigned timeout_ms);
/* Send a request and read its reply. */
int client_roundtrip(int sock, const uint8_t cdb[PRH_CDB_SIZE], const uint8_t *data, int devfd, Reply *ret);
/*
 * Wait until the helper closes the connection: 0 if closed (EOF or reset)
 * without sending anything, 1 if bytes arrived instead, -ETIMEDOUT.
 */
int client_expect_closed(int sock, unsigned timeout_ms);
/* Is the connection still open (no EOF pending, nothing to read) after waiting ms? */
bool client_still_open(int sock, unsigned ms);

/* Reply checks. */
bool reply_is_check(const Reply *r, uint8_t key, uint8_t asc, uint8_t ascq);
/* All of sense[from..95] zero? */
bool reply_sense_zero_from(const Reply *r, unsigned from);
void hexdump(const char *label, const uint8_t *p, size_t n);

/* The exact 104-byte reply the reference sends for ENOTTY (0B/00/06), docs/protocol.md "Replies". */
extern const uint8_t REPLY_ENOTTY[PRH_REPLY_HEADER_SIZE];
/* CHECK CONDITION 05/20/00 (read-only fd on PR OUT) with zero bytes 18..95. */
extern const uint8_t REPLY_READ_ONLY[PRH_REPLY_HEADER_SIZE];

/* ---- the FUSE "device" (test/fuse-sgio.c) ---- */

typedef struct FuseDev {
        char dir[256];
        char mnt[300];
        pid_t pid;
        bool mounted;
} FuseDev;

/* Mount fuse-sgio with the given stall; -errno (e.g. no /dev/fuse) on failure. */
int fuse_dev_start(FuseDev *f, unsigned slow_seconds);
/* Open <mnt>/<name> with flags; fd or -errno. */
int fuse_dev_open(const FuseDev *f, const char *name, int flags);
/* Number of ioctls the file system has seen. */
long fuse_dev_ioctl_count(const FuseDev *f);
void fuse_dev_stop(FuseDev *f);
/* Path of the fuse-sgio binary ($PRH_FUSE_SGIO). */
const char *fuse_dev_binary(void);

/* ---- protocol violations (docs/protocol.md, "Validation and error paths") ---- */

typedef struct Violation {
        const char *name;       /* row of the validation table, e.g. "R3 no fd" */
        /* Perform it on a fresh, connected (not handshaken) socket; devfd is a
         * read-write fd to attach.  Returns 0 or -errno. */
        int (*run)(int sock, int devfd);
        /* The reference's log message (NULL: it logs nothing). */
        const char *message;
        /* The client hangs up itself rather than waiting for the helper to close. */
        bool client_closes;
        /* Whether a message appears depends on timing (don't assert either way). */
        bool racy_message;
} Violation;

extern const Violation violations[];
extern const size_t n_violations;
/* Run violation v on a new connection to sock and wait until the helper has
 * closed it (or, for client_closes rows, close it).  0 or -errno / -ETIMEDOUT
 * / -EPROTO (helper sent bytes instead of closing). */
int violation_perform(const Violation *v, const char *sock, int devfd, unsigned timeout_ms);
