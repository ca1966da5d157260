/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd socket activation through the real systemd-socket-activate tool
 * (docs/protocol.md, "Command line and process"): the helper serves the passed
 * socket and does not unlink a socket it did not create;
 * -k together with activation and LISTEN_FDS=2 are startup errors; a
 * LISTEN_PID for another process means no activation.  For prhd also the
 * sd_notify READY=1 message when NOTIFY_SOCKET is set (the reference sends
 * none).  Activation is also done by hand (a chosen fd 3, LISTEN_PID set in
 * the child before exec): prhd refuses an fd 3 that is not a listening
 * AF_UNIX stream socket, the reference 7.2 serves on whatever socket it gets
 * (TCP included) and spins on a non-listening one; prhd unsets
 * LISTEN_FDNAMES, 7.2 leaves it, as read from the helper's live
 * environment (libc's environ, through process_vm_readv).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static const char *path;
static const char *ssa;
static bool is_ref;
static int null_rw = -1;

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

/*
 * Wait until systemd-socket-activate listens on its n sockets: it says so
 * after listen(), while the socket file exists from bind() on, and a connect
 * in between is refused (and would not make it exec the helper).
 */
static bool wait_listening(Helper *h, unsigned n) {
        for (int i = 0; i < 500; i++) {
                if (helper_stderr_count(h, "Listening on ") >= n)
                        return true;
                sleep_ms(10);
        }
        return false;
}

static void test_activated(void) {
        Helper h;

        test_begin("activated: serves the passed socket, exits 0 on SIGTERM, leaves the socket file");
        if (helper_init(&h, path) < 0)
                return;
        {
                const char *wrapper[] = { ssa, "-l", h.sock, NULL };
                HelperSpawn s = { .wrapper = wrapper };
                CHECK_EQ(helper_spawn(&h, &s), 0);
        }
        CHECK(wait_listening(&h, 1));
        CHECK_MSG(request_works(h.sock), "no service on the activated socket");
        CHECK_MSG(request_works(h.sock), "second connection failed");
        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
        CHECK_MSG(path_exists(h.sock), "the helper unlinked a socket it did not create");
        helper_free(&h);
}

static void test_activation_errors(void) {
        Helper h;

        test_begin("-k together with socket activation -> exit 1");
        if (helper_init(&h, path) == 0) {
                const char *wrapper[] = { ssa, "-l", h.sock, NULL };
                const char *args[] = { "-k", "/nonexistent/other.sock", NULL };
                HelperSpawn s = { .wrapper = wrapper, .args = args };
                int c;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK(wait_listening(&h, 1));
                c = client_connect(h.sock);     /* triggers the exec */
                CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                helper_output_drain(&h, 2000);
                CHECK_MSG(helper_exit_code(&h) == 1, "exit code %d", helper_exit_code(&h));
                CHECK_MSG(helper_stderr_wait(&h, "Unix socket can't be set when using socket activation", 100),
                          "message missing");
                if (c >= 0)
                        close(c);
                helper_free(&h);
        }

        test_begin("LISTEN_FDS=2 -> exit 1");
        if (helper_init(&h, path) == 0) {
                char sock2[400];
                snprintf(sock2, sizeof sock2, "%s/sock2", h.dir);
                const char *wrapper[] = { ssa, "-l", h.sock, "-l", sock2, NULL };
                HelperSpawn s = { .wrapper = wrapper };
                int c;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK(wait_listening(&h, 2));
                c = client_connect(h.sock);
                CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                helper_output_drain(&h, 2000);
                CHECK_MSG(helper_exit_code(&h) == 1, "exit code %d", helper_exit_code(&h));
                CHECK_MSG(helper_stderr_wait(&h, "does not support socket activation with LISTEN_FDS > 1", 100),
                          "message missing");
                if (c >= 0)
                        close(c);
                helper_free(&h);
        }

        test_begin("LISTEN_PID of another process: no activation, -k socket is used");
        if (helper_init(&h, path) == 0) {
                const char *env[] = { "LISTEN_FDS=1", "LISTEN_PID=1", NULL };
                const char *args[] = { "-k", h.sock, NULL };
                HelperSpawn s = { .args = args, .env = env };

                CHECK_EQ(helper_spawn(&h, &s), 0);
                CHECK_EQ(helper_wait_socket(&h, 5000), 0);
                CHECK(request_works(h.sock));
                CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                helper_free(&h);
        }
}

/* ---- activation done by hand: a chosen fd 3, LISTEN_FDS=1, LISTEN_PID=self ---- */

typedef enum Fd3Kind {
        FD3_NULL,               /* /dev/null: not a socket */
        FD3_UNIX_UNBOUND,       /* AF_UNIX stream socket, neither bound nor listening */
        FD3_UNIX_BOUND,         /* AF_UNIX stream socket bound to the path, not listening */
        FD3_UNIX_DGRAM,         /* AF_UNIX datagram socket bound to the path */
        FD3_UNIX_SEQPACKET,     /* AF_UNIX seqpacket socket listening on the path */
        FD3_UDP,                /* AF_INET datagram socket */
        FD3_TCP_LISTENING,      /* AF_INET stream socket listening on 127.0.0.1 */
        FD3_UNIX_LISTENING,     /* what systemd passes: AF_UNIX stream socket listening on the path */
} Fd3Kind;

typedef struct Fd3 {
        Fd3Kind kind;
        const char *sock;
        const char *fdnames;    /* LISTEN_FDNAMES to set, or NULL */
} Fd3;

static int pre_fd3(void *userdata) {
        const Fd3 *f = userdata;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        char pid[32];
        int fd;

        memcpy(sa.sun_path, f->sock, MIN(strlen(f->sock), sizeof sa.sun_path - 1));
        switch (f->kind) {
        case FD3_NULL:
                fd = open("/dev/null", O_RDWR);
                break;
        case FD3_UNIX_UNBOUND:
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                break;
        case FD3_UNIX_BOUND:
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        return -1;
                break;
        case FD3_UNIX_DGRAM:
                fd = socket(AF_UNIX, SOCK_DGRAM, 0);
                if (fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        return -1;
                break;
        case FD3_UNIX_SEQPACKET:
                fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
                if (fd >= 0 && (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 16) < 0))
                        return -1;
                break;
        case FD3_UDP:
                fd = socket(AF_INET, SOCK_DGRAM, 0);
                break;
        case FD3_TCP_LISTENING:
                fd = socket(AF_INET, SOCK_STREAM, 0);
                if (fd >= 0 && (bind(fd, (struct sockaddr *) &in, sizeof in) < 0 || listen(fd, 16) < 0))
                        return -1;
                break;
        default:
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (fd >= 0 && (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 16) < 0))
                        return -1;
                break;
        }
        /* Only fds 0-2 are open here, so the new fd is 3. */
        if (fd != 3)
                return -1;
        snprintf(pid, sizeof pid, "%d", (int) getpid());
        if (setenv("LISTEN_PID", pid, 1) < 0 || setenv("LISTEN_FDS", "1", 1) < 0)
                return -1;
        if (f->fdnames && setenv("LISTEN_FDNAMES", f->fdnames, 1) < 0)
                return -1;
        return 0;
}

static bool contains(const char *hay, const char *needle) {
        return hay && strstr(hay, needle);
}

/* utime + stime of pid, in clock ticks. */
static unsigned long long proc_cpu_ticks(pid_t pid) {
        char p[64];
        unsigned long long ut = 0, st = 0;

        snprintf(p, sizeof p, "/proc/%d/stat", (int) pid);
        _cleanup_free_ char *s = read_file_str(p);
        const char *c = s ? strrchr(s, ')') : NULL;
        /* After the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime. */
        if (c)
                (void) sscanf(c + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
        return ut + st;
}

/*
 * Connect to the helper's fd 3 (a TCP port or a seqpacket socket at sock) and
 * read the 4-byte handshake.  The TCP port is taken from a copy of the
 * helper's fd 3 (pidfd_getfd).
 */
static bool got_handshake(int family, int type, const char *sock, pid_t pid) {
        struct sockaddr_storage ss = {};
        socklen_t sl = sizeof ss;
        uint8_t hs[4];
        int fd;

        if (family == AF_INET) {
                int pfd = (int) syscall(SYS_pidfd_open, pid, 0), copy;
                copy = pfd >= 0 ? (int) syscall(SYS_pidfd_getfd, pfd, 3, 0) : -1;
                bool ok = copy >= 0 && getsockname(copy, (struct sockaddr *) &ss, &sl) == 0;
                safe_close(copy);
                safe_close(pfd);
                if (!ok)
                        return false;
        } else {
                struct sockaddr_un *sa = (struct sockaddr_un *) &ss;
                sa->sun_family = AF_UNIX;
                memcpy(sa->sun_path, sock, MIN(strlen(sock), sizeof sa->sun_path - 1));
                sl = sizeof *sa;
        }
        fd = socket(family, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        struct timeval tv = { .tv_sec = 5 };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        bool ok = connect(fd, (struct sockaddr *) &ss, sl) == 0 && recv(fd, hs, sizeof hs, MSG_WAITALL) == 4 &&
                  memcmp(hs, "\0\0\0\0", 4) == 0;
        close(fd);
        return ok;
}

static void test_fd3_kinds(void) {
        static const struct {
                Fd3Kind kind;
                const char *name;
        } kinds[] = {
                { FD3_NULL, "/dev/null" },
                { FD3_UNIX_UNBOUND, "an unbound AF_UNIX stream socket" },
                { FD3_UNIX_BOUND, "a bound, not listening AF_UNIX stream socket" },
                { FD3_UNIX_DGRAM, "a bound AF_UNIX datagram socket" },
                { FD3_UNIX_SEQPACKET, "a listening AF_UNIX seqpacket socket" },
                { FD3_UDP, "a UDP socket" },
                { FD3_TCP_LISTENING, "a listening TCP socket" },
        };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                char title[160];
                Helper h;
                Fd3 f = { .kind = kinds[i].kind };

                snprintf(title, sizeof title, "socket activation with %s as fd 3", kinds[i].name);
                test_begin(title);
                if (helper_init(&h, path) < 0)
                        continue;
                f.sock = h.sock;
                CHECK_EQ(helper_spawn(&h, &(HelperSpawn) { .pre_exec = pre_fd3, .pre_exec_data = &f }), 0);
                if (!is_ref || kinds[i].kind == FD3_NULL) {
                        /* prhd refuses every one of them; the reference only a non-socket. */
                        const char *want;
                        if (is_ref)
                                want = "Failed to use socket activation: Unable to query remote socket address: "
                                       "Socket operation on non-socket";
                        else if (kinds[i].kind == FD3_NULL)
                                want = "Failed to use socket activation: Socket operation on non-socket";
                        else
                                want = "Failed to use socket activation: fd 3 is not a listening AF_UNIX stream socket";
                        CHECK_EQ(helper_wait_exit(&h, 5000, NULL), 0);
                        helper_output_drain(&h, 2000);
                        CHECK_MSG(helper_exit_code(&h) == 1, "exit code %d", helper_exit_code(&h));
                        _cleanup_free_ char *err = helper_stderr(&h);
                        CHECK_MSG(contains(err, want), "stderr lacks '%s': %s", want, err);
                        helper_free(&h);
                        continue;
                }
                /* The reference (7.2) takes any socket: it keeps running on it.  Wait until its
                 * start-up is over (privileges dropped), or a SIGTERM could be lost. */
                for (int k = 0; k < 500; k++) {
                        _cleanup_free_ char *eff = proc_status_field(h.pid, "CapEff");
                        if (eff && strcmp(eff, "0000000000020000") == 0)
                                break;
                        sleep_ms(10);
                }
                sleep_ms(500);
                CHECK_MSG(helper_alive(&h), "the reference exited");
                switch (kinds[i].kind) {
                case FD3_UNIX_UNBOUND:
                case FD3_UNIX_BOUND: {
                        /* accept() fails at once, poll() reports it ready again: a busy loop. */
                        unsigned long long t0 = proc_cpu_ticks(h.pid), t1;
                        sleep_ms(2000);
                        t1 = proc_cpu_ticks(h.pid);
                        fprintf(stderr, "  the reference used %llu clock ticks of CPU in 2 s\n", t1 - t0);
                        /* A helper waiting in poll() uses 0 ticks; a spinning one 45-120 on a loaded
                         * 2-core machine, and once 8 under a load average of 8 (2026-12-01). */
                        CHECK_MSG(t1 - t0 >= 3, "the reference used %llu ticks in 2 s: no longer spinning", t1 - t0);
                        break;
                }
                case FD3_UNIX_SEQPACKET:
                        CHECK_MSG(got_handshake(AF_UNIX, SOCK_SEQPACKET, h.sock, h.pid),
                                  "no handshake on the seqpacket socket");
                        break;
                case FD3_TCP_LISTENING:
                        CHECK_MSG(got_handshake(AF_INET, SOCK_STREAM, NULL, h.pid), "no handshake over TCP");
                        break;
                default:
                        /* Datagram sockets: nothing to accept, it just sits there. */
                        CHECK_MSG(proc_cpu_ticks(h.pid) < 50, "the reference is busy");
                        break;
                }
                CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
                helper_free(&h);
        }
}

/* ---- the helper's live environment ---- */

/*
 * Address of libc's `environ` in pid: where libc's first segment is mapped
 * (its mapping at file offset 0) plus the symbol's value in libc's .dynsym,
 * less the segment's virtual address.  -errno on failure.
 */
static int libc_environ_addr(pid_t pid, uint64_t *ret) {
        char p[64], line[512], lib[PATH_MAX] = "";
        unsigned long long base = 0;
        FILE *maps;

        snprintf(p, sizeof p, "/proc/%d/maps", (int) pid);
        maps = fopen(p, "re");
        if (!maps)
                return -errno;
        while (fgets(line, sizeof line, maps)) {
                unsigned long long start, off;
                char lib_path[PATH_MAX];
                if (sscanf(line, "%llx-%*x %*s %llx %*s %*u %4095s", &start, &off, lib_path) == 3 && off == 0 &&
                    strlen(lib_path) > 10 && strcmp(lib_path + strlen(lib_path) - 10, "/libc.so.6") == 0) {
                        base = start;
                        snprintf(lib, sizeof lib, "%s", lib_path);
                        break;
                }
        }
        fclose(maps);
        if (!lib[0])
                return -ENOENT;

        _cleanup_close_ int fd = open(lib, O_RDONLY | O_CLOEXEC);
        Elf64_Ehdr eh;
        if (fd < 0)
                return -errno;
        if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
            eh.e_phentsize != sizeof(Elf64_Phdr))
                return -EBADMSG;

        uint64_t first_vaddr = UINT64_MAX;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof ph, (off_t) (eh.e_phoff + i * sizeof ph)) != sizeof ph)
                        return -EBADMSG;
                if (ph.p_type == PT_LOAD && ph.p_offset == 0)
                        first_vaddr = ph.p_vaddr;
        }
        if (first_vaddr == UINT64_MAX)
                return -EBADMSG;

        _cleanup_free_ Elf64_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);
        if (!sh || pread(fd, sh, eh.e_shnum * sizeof *sh, (off_t) eh.e_shoff) != (ssize_t) (eh.e_shnum * sizeof *sh))
                return -EBADMSG;
        for (unsigned i = 0; i < eh.e_shnum; i++) {
                if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh.e_shnum)
                        continue;
                const Elf64_Shdr *st = &sh[sh[i].sh_link];
                _cleanup_free_ Elf64_Sym *syms = malloc(sh[i].sh_size);
                _cleanup_free_ char *strs = malloc(st->sh_size + 1);
                if (!syms || !strs ||
                    pread(fd, syms, sh[i].sh_size, (off_t) sh[i].sh_offset) != (ssize_t) sh[i].sh_size ||
                    pread(fd, strs, st->sh_size, (off_t) st->sh_offset) != (ssize_t) st->sh_size)
                        return -EBADMSG;
                strs[st->sh_size] = 0;
                for (size_t k = 0; k < sh[i].sh_size / sizeof *syms; k++)
                        if (syms[k].st_name < st->sh_size && ELF64_ST_TYPE(syms[k].st_info) == STT_OBJECT &&
                            syms[k].st_value != 0 && strcmp(strs + syms[k].st_name, "environ") == 0) {
                                *ret = base + syms[k].st_value - first_vaddr;
                                return 0;
                        }
        }
        return -ENOENT;
}

static ssize_t peek(pid_t pid, uint64_t addr, void *buf, size_t n) {
        struct iovec local = { .iov_base = buf, .iov_len = n };
        struct iovec remote = { .iov_base = (void *) (uintptr_t) addr, .iov_len = n };

        return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/*
 * Look name up in pid's environment as the process itself sees it now
 * (/proc/PID/environ shows only what it was started with, unsetenv() does
 * not change that): 1 and the value in ret (caller frees), 0 if unset,
 * -errno if the environment could not be read.
 */
static int live_getenv(pid_t pid, const char *name, char **ret) {
        uint64_t environ_addr, envp, entry;
        size_t nl = strlen(name);
        int r = libc_environ_addr(pid, &environ_addr);

        if (r < 0)
                return r;
        if (peek(pid, environ_addr, &envp, sizeof envp) != sizeof envp || envp == 0)
                return -EFAULT;
        for (unsigned i = 0; i < 4096; i++) {
                char buf[512];
                ssize_t k;

                if (peek(pid, envp + i * sizeof entry, &entry, sizeof entry) != sizeof entry)
                        return -EFAULT;
                if (entry == 0)
                        return 0;
                /* A string near the end of the stack may be cut short by the mapping's end. */
                k = peek(pid, entry, buf, sizeof buf - 1);
                if (k <= 0)
                        return -EFAULT;
                buf[k] = 0;
                if (strncmp(buf, name, nl) == 0 && buf[nl] == '=') {
                        *ret = strdup(buf + nl + 1);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        return -E2BIG;
}

static void test_fdnames(void) {
        static const char *const unset_by_both[] = { "LISTEN_FDS", "LISTEN_PID" };
        Helper h;
        Fd3 f = { .kind = FD3_UNIX_LISTENING, .fdnames = "prh-activation" };
        const char *env[] = { "PRH_TEST_MARKER=still-here", NULL };
        char *v = NULL;
        bool keeps_names;
        int r;

        /* 7.2 keeps LISTEN_FDNAMES; 10.0, like prhd, unsets it (docs/compatibility.md). */
        keeps_names = is_ref && !harness_is_reference10();
        test_begin(keeps_names ? "activation with LISTEN_FDNAMES: the reference (7.2) leaves it in its environment, "
                                 "unsets LISTEN_FDS and LISTEN_PID"
                   : is_ref ? "activation with LISTEN_FDNAMES: the reference (10.0) unsets it, and LISTEN_FDS and LISTEN_PID"
                            : "activation with LISTEN_FDNAMES: prhd unsets it, and LISTEN_FDS and LISTEN_PID");
        if (helper_init(&h, path) < 0)
                return;
        f.sock = h.sock;
        /* request_works() sends /dev/null. */
        const char *args[] = { harness_any_fd_option(path), NULL };
        HelperSpawn sp = { .args = args, .env = env, .pre_exec = pre_fd3, .pre_exec_data = &f };
        CHECK_EQ(helper_spawn(&h, &sp), 0);
        CHECK_EQ(helper_wait_socket(&h, 5000), 0);
        /* A handshake: start-up is over (the reference accepts only once its main loop runs),
         * nothing changes the environment while it is read. */
        {
                int s = client_open(h.sock);
                CHECK_MSG(s >= 0, "no handshake on the passed socket");
                safe_close(s);
        }
        /* The reader itself: a variable nobody unsets must be found with its value. */
        r = live_getenv(h.pid, "PRH_TEST_MARKER", &v);
        CHECK_MSG(r == 1 && strcmp(v, "still-here") == 0, "live environment unreadable (%d): %s", r,
                  r < 0 ? strerror(-r) : "marker missing");
        free(v);
        v = NULL;
        r = live_getenv(h.pid, "LISTEN_FDNAMES", &v);
        if (keeps_names)
                CHECK_MSG(r == 1 && strcmp(v, "prh-activation") == 0, "LISTEN_FDNAMES: %d %s", r, v ? v : "");
        else
                CHECK_MSG(r == 0, "LISTEN_FDNAMES still set (%d): %s", r, v ? v : "");
        free(v);
        for (size_t i = 0; i < ELEMENTSOF(unset_by_both); i++) {
                v = NULL;
                r = live_getenv(h.pid, unset_by_both[i], &v);
                CHECK_MSG(r == 0, "%s still set (%d): %s", unset_by_both[i], r, v ? v : "");
                free(v);
        }
        CHECK_MSG(request_works(h.sock), "no service on the passed socket");
        CHECK_EQ(helper_stop(&h, SIGTERM, 5000), 0);
        CHECK_MSG(path_exists(h.sock), "the helper unlinked a socket it did not create");
        helper_free(&h);
}

static void test_notify(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char env[400], buf[512];
        int ns;
        Helper h;

        test_begin(is_ref ? "NOTIFY_SOCKET: the reference (7.2) sends nothing"
                          : "NOTIFY_SOCKET: READY=1 once the socket accepts connections");
        if (helper_init(&h, path) < 0)
                return;
        if (strlen(h.dir) + sizeof "/notify" > sizeof sa.sun_path) {
                CHECK_MSG(false, "temporary directory path too long for a socket: %s", h.dir);
                helper_free(&h);
                return;
        }
        memcpy(sa.sun_path, h.dir, strlen(h.dir));
        strcat(sa.sun_path, "/notify");
        ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHECK(ns >= 0 && bind(ns, (struct sockaddr *) &sa, sizeof sa) == 0);
        snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", sa.sun_path);
        {
                const char *e[] = { env, NULL };
                const char *args[] = { "-k", h.sock, NULL };
                HelperSpawn s = { .args = args, .env = e };
                struct pollfd p = { .fd = ns, .events = POLLIN };
                ssize_t k;

                CHECK_EQ(helper_spawn(&h, &s), 0);
                if (is_ref) {
                        CHECK_EQ(helper_wait_socket(&h, 5000), 0);
                        CHECK_MSG(poll(&p, 1, 1000) == 0, "the reference sent a notification");
                } else {
                        CHECK_MSG(poll(&p, 1, 5000) == 1, "no notification within 5 s");
                        k = recv(ns, buf, sizeof buf - 1, MSG_DONTWAIT);
                        buf[k > 0 ? k : 0] = 0;
                        CHECK_MSG(strstr(buf, "READY=1"), "notification: '%s'", buf);
                        CHECK_MSG(socket_is_live(h.sock), "READY=1 before the socket accepts connections");
                }
        }
        close(ns);
        helper_free(&h);
}

int main(int argc, char **argv) {
        path = harness_helper_path(argc, argv);
        test_require_root();
        /* Sends /dev/null or FUSE fds: prhd acts on them only with --unsafe-any-fd. */
        harness_set_unsafe_any_fd(true);
        is_ref = harness_is_reference(path);
        null_rw = open("/dev/null", O_RDWR | O_CLOEXEC);
        ssa = getenv("PRH_SOCKET_ACTIVATE");
        if (!ssa || !*ssa)
                ssa = "/usr/bin/systemd-socket-activate";
        if (access(ssa, X_OK) < 0)
                test_skip("systemd-socket-activate not installed");
        fprintf(stderr, "helper under test: %s, activation via %s\n", path, ssa);

        test_activated();
        test_activation_errors();
        test_fd3_kinds();
        test_fdnames();
        test_notify();
        return tests_finish("test-activation");
}
