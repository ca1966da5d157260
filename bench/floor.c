/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The floor: the least work a pr-helper server can do per request, as a
 * measuring stick for prhd and qemu-pr-helper.  Never shipped, never
 * hardened.
 *
 * One thread, one epoll set, level-triggered.  Per connection: write the
 * 4-byte feature word at accept, read the client's 4, then for each request
 * recvmsg() the 16 CDB bytes with the fd, run the same SG_IO ioctl as the
 * helpers (8192-byte data buffer, 96-byte sense), close the fd and write the
 * 104-byte reply header plus payload in one sendmsg.
 *
 * Deliberately missing: validation (opcode, fd count, lengths), PR OUT
 * parameter data, the read-only check, the errno/host-status mapping (an
 * ioctl failure is answered with ABORTED COMMAND 00/06, which is what the
 * helpers answer for ENOTTY), worker hand-off, limits.  A slow device
 * blocks every client: that is the point of comparison for isolation.
 * Hand-rolled on purpose: it must not share costs with the code it measures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define CDB_SIZE 16
#define SENSE_SIZE 96
#define DATA_SIZE 8192
#define HDR_SIZE 104

typedef struct FConn {
        int fd;
        uint8_t handshake_have;         /* client feature bytes read so far (4 = done) */
        uint8_t cdb_have;
        int dev;                        /* fd received with the current CDB, -1 if none */
        uint8_t cdb[CDB_SIZE];
} FConn;

static uint8_t reply[HDR_SIZE + DATA_SIZE];

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static void conn_drop(int ep, FConn *c) {
        (void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (c->dev >= 0)
                close(c->dev);
        free(c);
}

/* Execute the CDB on dev and send the reply; returns -1 to drop the connection. */
static int conn_execute(FConn *c) {
        uint8_t *sense = reply + 8, *data = reply + HDR_SIZE;
        struct sg_io_hdr hdr = {
                .interface_id = 'S',
                .cmd_len = CDB_SIZE,
                .cmdp = c->cdb,
                .sbp = sense,
                .mx_sb_len = SENSE_SIZE,
                .timeout = 7000,
                .dxfer_direction = SG_DXFER_FROM_DEV,
                .dxferp = data,
                .dxfer_len = DATA_SIZE,
        };
        uint32_t status, sz = 0;
        struct iovec iov;
        ssize_t n;

        memset(sense, 0, SENSE_SIZE);
        if (ioctl(c->dev, SG_IO, &hdr) < 0) {
                status = 2; /* CHECK CONDITION, ABORTED COMMAND / I/O PROCESS TERMINATED */
                sense[0] = 0x70;
                sense[2] = 0x0b;
                sense[7] = 0x0a;
                sense[13] = 0x06;
        } else {
                status = hdr.status;
                if (status == 0) {
                        uint32_t alloc = (uint32_t) (c->cdb[7] << 8 | c->cdb[8]);
                        int32_t got = DATA_SIZE - hdr.resid;
                        sz = got < 0 ? 0 : (uint32_t) got;
                        if (sz > alloc)
                                sz = alloc;
                }
        }
        close(c->dev);
        c->dev = -1;
        c->cdb_have = 0;

        put_be32(reply, status);
        put_be32(reply + 4, sz);
        iov = (struct iovec) { .iov_base = reply, .iov_len = HDR_SIZE + sz };
        n = sendmsg(c->fd, &(struct msghdr) { .msg_iov = &iov, .msg_iovlen = 1 }, MSG_NOSIGNAL | MSG_DONTWAIT);
        return n == (ssize_t) (HDR_SIZE + sz) ? 0 : -1; /* closed loop: the buffer is never full */
}

static int conn_readable(FConn *c) {
        ssize_t n;

        if (c->handshake_have < 4) {
                uint8_t hs[4];
                n = recv(c->fd, hs, 4u - c->handshake_have, MSG_DONTWAIT);
                if (n <= 0)
                        return n < 0 && errno == EAGAIN ? 0 : -1;
                c->handshake_have += (uint8_t) n;
                return 0;
        }

        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = c->cdb + c->cdb_have, .iov_len = CDB_SIZE - c->cdb_have };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0)
                return n < 0 && errno == EAGAIN ? 0 : -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && c->dev < 0)
                        memcpy(&c->dev, CMSG_DATA(cm), sizeof(int));
        c->cdb_have += (uint8_t) n;
        if (c->cdb_have < CDB_SIZE)
                return 0;
        if (c->dev < 0)
                return -1;
        return conn_execute(c);
}

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct epoll_event evs[64];
        const char *path = NULL;
        struct rlimit rl;
        int ep, lfd, opt;

        while ((opt = getopt(argc, argv, "k:h")) >= 0)
                switch (opt) {
                case 'k': path = optarg; break;
                default:
                        fprintf(stderr, "Usage: %s -k SOCKET\n", argv[0]);
                        return opt == 'h' ? 0 : 1;
                }
        if (!path || strlen(path) >= sizeof sa.sun_path) {
                fprintf(stderr, "Usage: %s -k SOCKET\n", argv[0]);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        /* as many connections as the hard limit allows */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        strcpy(sa.sun_path, path);
        (void) unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(lfd, SOMAXCONN) < 0) {
                fprintf(stderr, "floor: cannot listen on %s: %m\n", path);
                return 1;
        }
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event) { .events = EPOLLIN }) < 0)
                return 1;

        for (;;) {
                int n = epoll_wait(ep, evs, 64, -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        FConn *c = evs[i].data.ptr;

                        if (!c) {
                                for (;;) {
                                        static const uint8_t features[4];
                                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                                        if (fd < 0)
                                                break;
                                        c = calloc(1, sizeof *c);
                                        if (!c || send(fd, features, 4, MSG_NOSIGNAL) != 4) {
                                                free(c);
                                                close(fd);
                                                continue;
                                        }
                                        c->fd = fd;
                                        c->dev = -1;
                                        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
                                                      &(struct epoll_event) { .events = EPOLLIN, .data.ptr = c }) < 0) {
                                                close(fd);
                                                free(c);
                                        }
                                }
                                continue;
                        }
                        if (conn_readable(c) < 0)
                                conn_drop(ep, c);
                }
        }
}
