/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the request state machine and the reply/handshake codecs. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "macro.h"
#include "tests.h"
#include "wire.h"

static int new_fd(void) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                abort();
        return fd;
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* Feed bytes in the given chunk sizes, with the fd on chunk fd_chunk (-1: none). */
static ProtoStep feed(ProtoRequest *r, const uint8_t *bytes, size_t total, const size_t *chunks, size_t n_chunks,
                      int fd_chunk, int fd, uint8_t *databuf) {
        size_t off = 0;
        ProtoStep s = PROTO_NEED_MORE;

        for (size_t c = 0; c < n_chunks && off < total; c++) {
                uint8_t *dst;
                bool fds_ok;
                size_t want = proto_request_wanted(r, &dst, &fds_ok);
                size_t n = MIN(want, chunks[c]);
                memcpy(dst, bytes + off, n);
                off += n;
                s = proto_request_advance(r, n, (int) c == fd_chunk ? &fd : NULL, (int) c == fd_chunk ? 1 : 0);
                if (s == PROTO_NEED_MORE && r->phase == PROTO_PHASE_DATA && !r->data)
                        r->data = databuf;
                if (s != PROTO_NEED_MORE)
                        break;
        }
        return s;
}

static void test_pr_in(void) {
        uint8_t cdb[16] = { 0x5e, 0x00, 0, 0, 0, 0, 0, 0x20, 0x00 };
        ProtoRequest r;
        int fd = new_fd();

        proto_request_init(&r);
        ProtoStep s = feed(&r, cdb, 16, (size_t[]) { 16 }, 1, 0, fd, NULL);
        CHECK_EQ(s, PROTO_COMPLETE);
        CHECK_EQ(r.xfer_len, 0x2000);
        CHECK_EQ(r.fd, fd);
        CHECK_EQ(r.phase, PROTO_PHASE_DONE);
        proto_request_reset(&r);
        CHECK(!fd_is_open(fd));
        CHECK_EQ(r.fd, -EBADF);
}

static void test_split_cdb_fd_on_second_chunk(void) {
        uint8_t cdb[16] = { 0x5e, 0x01, 0, 0, 0, 0, 0, 0x00, 0x18 };
        ProtoRequest r;
        int fd = new_fd();

        proto_request_init(&r);
        CHECK_EQ(feed(&r, cdb, 16, (size_t[]) { 5, 11 }, 2, 1, fd, NULL), PROTO_COMPLETE);
        CHECK_EQ(r.fd, fd);
        CHECK_EQ(r.xfer_len, 24);
        CHECK_MEM(r.cdb, cdb, 16);
        proto_request_reset(&r);

        /* Byte by byte, fd on the last byte. */
        fd = new_fd();
        size_t ones[16];
        for (size_t i = 0; i < 16; i++)
                ones[i] = 1;
        proto_request_init(&r);
        CHECK_EQ(feed(&r, cdb, 16, ones, 16, 15, fd, NULL), PROTO_COMPLETE);
        CHECK_MEM(r.cdb, cdb, 16);
        proto_request_reset(&r);
}

static void test_pr_out_with_data(void) {
        uint8_t msg[16 + 24] = { 0x5f, 0x00, 0, 0, 0, 1 /* ignored byte 5 */, 0, 0x00, 24 };
        uint8_t data[PRH_DATA_SIZE];
        ProtoRequest r;
        int fd = new_fd();

        for (int i = 0; i < 24; i++)
                msg[16 + i] = (uint8_t) i;
        proto_request_init(&r);
        CHECK_EQ(feed(&r, msg, sizeof msg, (size_t[]) { 16, 10, 14 }, 3, 0, fd, data), PROTO_COMPLETE);
        CHECK_EQ(r.xfer_len, 24);
        CHECK_MEM(data, msg + 16, 24);
        proto_request_reset(&r);

        /* PR OUT with length 0 completes after the CDB. */
        fd = new_fd();
        uint8_t cdb0[16] = { 0x5f };
        proto_request_init(&r);
        CHECK_EQ(feed(&r, cdb0, 16, (size_t[]) { 16 }, 1, 0, fd, data), PROTO_COMPLETE);
        proto_request_reset(&r);

        /* Fds on the data are dropped, not attributed. */
        fd = new_fd();
        int extra = new_fd();
        proto_request_init(&r);
        uint8_t *dst;
        bool fds_ok;
        size_t w = proto_request_wanted(&r, &dst, &fds_ok);
        CHECK_EQ(w, 16);
        CHECK(fds_ok);
        memcpy(dst, msg, 16);
        CHECK_EQ(proto_request_advance(&r, 16, &fd, 1), PROTO_NEED_MORE);
        CHECK_EQ(r.phase, PROTO_PHASE_DATA);
        r.data = data;
        w = proto_request_wanted(&r, &dst, &fds_ok);
        CHECK_EQ(w, 24);
        CHECK(!fds_ok);
        memcpy(dst, msg + 16, 24);
        CHECK_EQ(proto_request_advance(&r, 24, &extra, 1), PROTO_COMPLETE);
        CHECK(!fd_is_open(extra));
        CHECK_EQ(r.fd, fd);
        proto_request_reset(&r);
}

static void test_violations(void) {
        ProtoRequest r;
        uint8_t cdb[16] = { 0x5e, 0, 0, 0, 0, 0, 0, 0, 8 };

        /* R3: no fd. */
        proto_request_init(&r);
        CHECK_EQ(feed(&r, cdb, 16, (size_t[]) { 16 }, 1, -1, -1, NULL), PROTO_ERR_NO_FD);
        CHECK(proto_step_message(PROTO_ERR_NO_FD) != NULL);
        CHECK(strcmp(proto_step_message(PROTO_ERR_NO_FD), "No file descriptor in request.") == 0);
        proto_request_reset(&r);

        /* R2: two fds in one chunk. */
        int two[2] = { new_fd(), new_fd() };
        proto_request_init(&r);
        uint8_t *dst;
        bool ok;
        (void) proto_request_wanted(&r, &dst, &ok);
        memcpy(dst, cdb, 16);
        CHECK_EQ(proto_request_advance(&r, 16, two, 2), PROTO_ERR_TOO_MANY_FDS);
        CHECK(!fd_is_open(two[0]) && !fd_is_open(two[1]));
        CHECK(proto_step_message(PROTO_ERR_TOO_MANY_FDS) == NULL);
        proto_request_reset(&r);

        /* R2: fds on two different chunks. */
        int a = new_fd(), b = new_fd();
        proto_request_init(&r);
        (void) proto_request_wanted(&r, &dst, &ok);
        memcpy(dst, cdb, 8);
        CHECK_EQ(proto_request_advance(&r, 8, &a, 1), PROTO_NEED_MORE);
        (void) proto_request_wanted(&r, &dst, &ok);
        memcpy(dst, cdb + 8, 8);
        CHECK_EQ(proto_request_advance(&r, 8, &b, 1), PROTO_ERR_TOO_MANY_FDS);
        CHECK(!fd_is_open(b));
        proto_request_reset(&r);
        CHECK(!fd_is_open(a));

        /* R4 checked after R3. */
        uint8_t bad[16] = { 0x12 };
        int fd = new_fd();
        proto_request_init(&r);
        CHECK_EQ(feed(&r, bad, 16, (size_t[]) { 16 }, 1, 0, fd, NULL), PROTO_ERR_BAD_OPCODE);
        CHECK(strcmp(proto_step_message(PROTO_ERR_BAD_OPCODE), "Invalid CDB, closing socket.") == 0);
        proto_request_reset(&r);
        CHECK(!fd_is_open(fd));
        proto_request_init(&r);
        CHECK_EQ(feed(&r, bad, 16, (size_t[]) { 16 }, 1, -1, -1, NULL), PROTO_ERR_NO_FD);
        proto_request_reset(&r);

        /* R5: 8193 rejected, 8192 accepted, for both directions. */
        for (int op = 0x5e; op <= 0x5f; op++) {
                uint8_t big[16] = { (uint8_t) op, 0, 0, 0, 0, 0, 0, 0x20, 0x01 };
                fd = new_fd();
                proto_request_init(&r);
                CHECK_EQ(feed(&r, big, 16, (size_t[]) { 16 }, 1, 0, fd, NULL), PROTO_ERR_TOO_LONG);
                proto_request_reset(&r);
                big[8] = 0x00;
                fd = new_fd();
                proto_request_init(&r);
                ProtoStep s = feed(&r, big, 16, (size_t[]) { 16 }, 1, 0, fd, NULL);
                CHECK_EQ(s, op == 0x5e ? PROTO_COMPLETE : PROTO_NEED_MORE);
                CHECK_EQ(r.xfer_len, 8192);
                proto_request_reset(&r);
        }
}

static void test_reply(void) {
        ProtoResult res, back;
        uint8_t hdr[PRH_REPLY_HEADER_SIZE];
        uint8_t pr_in[16] = { 0x5e, 0, 0, 0, 0, 0, 0, 0x00, 0x20 };
        uint8_t pr_out[16] = { 0x5f, 0, 0, 0, 0, 0, 0, 0x00, 0x18 };

        proto_result_init(&res);
        res.status = 0;
        res.data_len = 16;
        proto_reply_encode(hdr, &res);
        CHECK_MEM(hdr, ((uint8_t[]) { 0, 0, 0, 0, 0, 0, 0, 16 }), 8);
        uint8_t *g = guarded_copy(hdr, sizeof hdr);
        CHECK_EQ(proto_reply_decode(g, pr_in, &back), 0);
        CHECK_EQ(back.data_len, 16);
        /* Payload larger than the allocation length, on PR OUT, or with a non-GOOD status: refused. */
        CHECK_EQ(proto_reply_decode(g, pr_out, &back), -EBADMSG);
        guarded_free(g, sizeof hdr);
        res.data_len = 33;
        proto_reply_encode(hdr, &res);
        CHECK_EQ(proto_reply_decode(hdr, pr_in, &back), -EBADMSG);
        proto_result_set_check(&res, SENSE_INVALID_OPCODE);
        res.data_len = 4;
        proto_reply_encode(hdr, &res);
        CHECK_EQ(proto_reply_decode(hdr, pr_in, &back), -EBADMSG);
        res.data_len = 0;
        proto_reply_encode(hdr, &res);
        CHECK_EQ(proto_reply_decode(hdr, pr_out, &back), 0);
        CHECK_EQ(back.status, 2);
        CHECK_MEM(back.sense, res.sense, PRH_SENSE_SIZE);
        /* Negative size. */
        proto_put_be32(hdr + 4, 0xffffffffu);
        CHECK_EQ(proto_reply_decode(hdr, pr_in, &back), -EBADMSG);

        uint8_t hs[4];
        proto_handshake_encode(hs, 0);
        CHECK_MEM(hs, ((uint8_t[]) { 0, 0, 0, 0 }), 4);
        proto_handshake_encode(hs, 0x01020304);
        CHECK_EQ(proto_handshake_decode(hs), 0x01020304);
}

int main(void) {
        test_pr_in();
        test_split_cdb_fd_on_second_chunk();
        test_pr_out_with_data();
        test_violations();
        test_reply();
        return tests_finish("test-wire");
}
