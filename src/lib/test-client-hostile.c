/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libprh against a hostile or broken helper: a peer process (fork) that
 * speaks the handshake and then misbehaves in one scripted way per test.
 * Checks that no misbehaviour crashes the client, leaks an fd into it,
 * desynchronises the next request or hangs past the timeouts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "fd-util.h"
#include "macro.h"
#include "prh/prh.h"
#include "tests.h"
#include "wire.h"

typedef enum Behaviour {
        PEER_FD_IN_REPLY,             /* attach an fd to a GOOD reply */
        PEER_TRAILING_BYTES,          /* valid reply followed by garbage */
        PEER_BYTEWISE,                /* valid reply one byte per write */
        PEER_HUGE_HANDSHAKE_FEATURES, /* advertises features; client asks none */
        PEER_SHORT_HEADER,            /* 50 header bytes, then close */
        PEER_SHORT_PAYLOAD,           /* announces 16 payload bytes, sends 4, stays open */
        PEER_STATUS_OUT_OF_RANGE,     /* result 0x100 */
} Behaviour;

static char sock_path[108];
static const uint8_t read_keys_cdb[10] = {0x5e, 0, 0, 0, 0, 0, 0, 0x00, 0x40, 0};

static void read_request(int fd) {
        uint8_t cdb[16];
        int fds[4];
        size_t n_fds = 0, have = 0;

        while (have < 16) {
                ssize_t k = recv_with_fds(fd, cdb + have, 16 - have, fds, 4, &n_fds, NULL, 0);
                if (k <= 0)
                        _exit(2);
                for (size_t i = 0; i < n_fds; i++)
                        close(fds[i]);
                have += (size_t) k;
        }
}

static void header(uint8_t *h, int32_t status, uint32_t sz) {
        memset(h, 0, PRH_REPLY_HEADER_SIZE);
        proto_put_be32(h, (uint32_t) status);
        proto_put_be32(h + 4, sz);
}

static void serve(int listener, Behaviour b) {
        for (;;) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                uint8_t hs[4] = {}, h[PRH_REPLY_HEADER_SIZE + 16];

                if (fd < 0)
                        _exit(0);
                if (b == PEER_HUGE_HANDSHAKE_FEATURES)
                        proto_put_be32(hs, 0xffffffffu);
                if (loop_write(fd, hs, 4) < 0 || loop_read(fd, hs, 4) != 4)
                        goto next;
                read_request(fd);
                header(h, 0, 16);
                memset(h + PRH_REPLY_HEADER_SIZE, 0, 16);
                h[PRH_REPLY_HEADER_SIZE + 7] = 8; /* one key */
                h[PRH_REPLY_HEADER_SIZE + 15] = 0x42;
                switch (b) {
                case PEER_FD_IN_REPLY: {
                        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        (void) send_with_fds(fd, h, sizeof(h), &devnull, 1, 0);
                        close(devnull);
                        break;
                }
                case PEER_TRAILING_BYTES:
                        (void) loop_write(fd, h, sizeof(h));
                        (void) loop_write(fd, "garbage", 7);
                        break;
                case PEER_BYTEWISE:
                        for (size_t i = 0; i < sizeof(h); i++) {
                                (void) loop_write(fd, h + i, 1);
                                (void) usleep(100);
                        }
                        break;
                case PEER_HUGE_HANDSHAKE_FEATURES:
                        (void) loop_write(fd, h, sizeof(h));
                        break;
                case PEER_SHORT_HEADER:
                        (void) loop_write(fd, h, 50);
                        goto next; /* and close */
                case PEER_SHORT_PAYLOAD:
                        (void) loop_write(fd, h, PRH_REPLY_HEADER_SIZE + 4);
                        (void) poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 5000);
                        break;
                case PEER_STATUS_OUT_OF_RANGE:
                        header(h, 0x100, 0);
                        (void) loop_write(fd, h, PRH_REPLY_HEADER_SIZE);
                        break;
                }
                /* Keep the connection until the client hangs up, as a real helper would. */
                (void) poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 2000);
        next:
                close(fd);
        }
}

static pid_t peer_start(Behaviour b) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pid_t pid;

        (void) unlink(sock_path);
        memcpy(sa.sun_path, sock_path, strlen(sock_path));
        if (l < 0 || bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 8) < 0)
                abort();
        pid = fork();
        if (pid < 0)
                abort();
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                serve(l, b);
                _exit(0);
        }
        close(l);
        return pid;
}

static void peer_stop(pid_t pid) {
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
}

static int call(PrhClient *c, PrhResult *res, uint8_t *buf) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int r = prh_call_raw(c, fd, read_keys_cdb, sizeof(read_keys_cdb), NULL, 0, buf, 64, res);
        close(fd);
        return r;
}

static PrhClient *client(void) {
        PrhClient *c = NULL;

        CHECK_EQ(prh_client_new(sock_path, &c), 0);
        CHECK_EQ(prh_client_set_timeouts(c, 1000, 500), 0);
        CHECK_EQ(prh_client_set_retry(c, 2, 10), 0);
        return c;
}

static void test_fd_in_reply(void) {
        pid_t p = peer_start(PEER_FD_IN_REPLY);
        PrhClient *c = client();
        PrhResult res;
        uint8_t buf[64];
        int before = fd_count_open();

        CHECK_EQ(call(c, &res, buf), 0);
        CHECK_EQ(res.status, 0);
        CHECK_EQ(res.data_len, 16);
        CHECK_EQ(buf[15], 0x42);
        /* +1: the client's own socket; the helper's fd was dropped by the kernel. */
        CHECK_EQ(fd_count_open(), before + 1);
        prh_client_free(c);
        peer_stop(p);
}

static void test_trailing_bytes(void) {
        pid_t p = peer_start(PEER_TRAILING_BYTES);
        PrhClient *c = client();
        PrhResult res;
        uint8_t buf[64];

        CHECK_EQ(call(c, &res, buf), 0);
        CHECK_EQ(res.data_len, 16);
        /* Wait until the garbage has surely arrived, then the next call must still be answered cleanly. */
        (void) usleep(50 * 1000);
        CHECK_EQ(call(c, &res, buf), 0);
        CHECK_EQ(res.status, 0);
        CHECK_EQ(buf[15], 0x42);
        prh_client_free(c);
        peer_stop(p);
}

static void test_bytewise(void) {
        pid_t p = peer_start(PEER_BYTEWISE);
        PrhClient *c = client();
        PrhResult res;
        uint8_t buf[64];

        CHECK_EQ(call(c, &res, buf), 0);
        CHECK_EQ(res.data_len, 16);
        CHECK_EQ(buf[15], 0x42);
        prh_client_free(c);
        peer_stop(p);
}

static void test_features_advertised(void) {
        pid_t p = peer_start(PEER_HUGE_HANDSHAKE_FEATURES);
        PrhClient *c = client();
        PrhResult res;
        uint8_t buf[64];
        uint32_t f = 0;

        CHECK_EQ(call(c, &res, buf), 0);
        CHECK_EQ(prh_client_get_features(c, &f), 0);
        CHECK_EQ(f, 0xffffffffu);
        prh_client_free(c);
        peer_stop(p);
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_broken(Behaviour b, int expected) {
        pid_t p = peer_start(b);
        PrhClient *c = client();
        PrhResult res;
        uint8_t buf[64];
        int64_t t0 = mono_ms();

        CHECK_EQ(call(c, &res, buf), expected);
        CHECK(mono_ms() - t0 < 1500);
        /* No retry after the CDB: the connection is gone, and nothing half-read is kept. */
        CHECK(!prh_client_is_connected(c));
        prh_client_free(c);
        peer_stop(p);
}

int main(void) {
        snprintf(sock_path, sizeof(sock_path), "/tmp/prh-hostile-%d.sock", (int) getpid());
        (void) signal(SIGPIPE, SIG_DFL); /* the library must not raise it */

        test_fd_in_reply();
        test_trailing_bytes();
        test_bytewise();
        test_features_advertised();
        test_broken(PEER_SHORT_HEADER, -ECONNRESET);
        test_broken(PEER_SHORT_PAYLOAD, -ETIMEDOUT);
        test_broken(PEER_STATUS_OUT_OF_RANGE, -EBADMSG);
        (void) unlink(sock_path);
        return tests_finish("test-client-hostile");
}
