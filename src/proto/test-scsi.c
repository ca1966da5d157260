/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the sense builder and every row of the errno and host_status tables. */
#include <errno.h>

#include "scsi.h"
#include "tests.h"

static void check_sense(const ProtoResult *r, uint8_t key, uint8_t asc, uint8_t ascq) {
        uint8_t want[PRH_SENSE_SIZE] = { 0x70, 0, key, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, asc, ascq };

        CHECK_EQ(r->status, SCSI_STATUS_CHECK_CONDITION);
        CHECK_EQ(r->data_len, 0);
        CHECK_MEM(r->sense, want, sizeof want);
}

static void check_no_sense(const ProtoResult *r, int32_t status) {
        static const uint8_t zero[PRH_SENSE_SIZE];

        CHECK_EQ(r->status, status);
        CHECK_EQ(r->data_len, 0);
        CHECK_MEM(r->sense, zero, sizeof zero);
}

static void test_sense_build(void) {
        uint8_t s[PRH_SENSE_SIZE];

        memset(s, 0xaa, sizeof s);
        proto_sense_build(s, SENSE_IO_ERROR);
        /* Verified bytes of the reference for ENOTTY on a regular file. */
        const uint8_t want[18] = { 0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x00, 0x06, 0, 0, 0, 0 };
        CHECK_MEM(s, want, 18);
        for (size_t i = 18; i < PRH_SENSE_SIZE; i++)
                CHECK_EQ(s[i], 0);
}

static void test_errno_table(void) {
        static const struct {
                int err;
                int32_t status;
                uint8_t key, asc, ascq;
        } rows[] = {
                { EDOM, SCSI_STATUS_TASK_SET_FULL, 0, 0, 0 },
                { ENODEV, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00 },
                { EREMOTEIO, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00 },
                { EBADE, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0 },
                { ENODATA, SCSI_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00 },
                { ENOMEDIUM, SCSI_STATUS_CHECK_CONDITION, 0x2, 0x3a, 0x00 },
                { ENOMEM, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00 },
                { EINVAL, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x24, 0x00 },
                { ENOSPC, SCSI_STATUS_CHECK_CONDITION, 0x7, 0x27, 0x07 },
                { ENOTTY, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
                { EPERM, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
                { EIO, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
                { EFAULT, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
                { EBUSY, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06 },
        };

        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
                ProtoResult r;
                proto_result_init(&r);
                r.data_len = 77;
                proto_result_from_errno(&r, rows[i].err);
                if (rows[i].status == SCSI_STATUS_CHECK_CONDITION)
                        check_sense(&r, rows[i].key, rows[i].asc, rows[i].ascq);
                else
                        check_no_sense(&r, rows[i].status);
        }
}

static void test_host_table(void) {
        static const struct {
                uint16_t host;
                int32_t status;
                uint8_t key, asc, ascq;
                bool known;
        } rows[] = {
                { 0x01, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x05, 0x00, true },
                { 0x02, SCSI_STATUS_BUSY, 0, 0, 0, true },
                { 0x03, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x2e, 0x02, true },
                { 0x04, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00, true },
                { 0x05, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x2f, 0x02, true },
                { 0x08, SCSI_STATUS_CHECK_CONDITION, 0x6, 0x29, 0x00, true },
                { 0x0e, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x29, 0x07, true },
                { 0x10, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00, true },
                { 0x11, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0, true },
                { 0x12, SCSI_STATUS_CHECK_CONDITION, 0x7, 0x27, 0x07, true },
                { 0x13, SCSI_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00, true },
                /* Deliberate fix: unknown host status is an error, not GOOD. */
                { 0x06, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
                { 0x07, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
                { 0x0b, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
                { 0x0f, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
                { 0x14, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
                { 0xffff, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06, false },
        };

        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
                ProtoResult r;
                proto_result_init(&r);
                CHECK_EQ(proto_result_from_host_status(&r, rows[i].host), rows[i].known);
                if (rows[i].status == SCSI_STATUS_CHECK_CONDITION)
                        check_sense(&r, rows[i].key, rows[i].asc, rows[i].ascq);
                else
                        check_no_sense(&r, rows[i].status);

                /* The same through the full SG_IO mapping. */
                ProtoSgioOutcome o = { .host_status = rows[i].host, .dxfer_len = 8192 };
                ProtoResult r2;
                proto_result_init(&r2);
                proto_result_from_sgio(&r2, &o);
                CHECK_EQ(r2.status, r.status);
                CHECK_MEM(r2.sense, r.sense, PRH_SENSE_SIZE);
                CHECK_EQ(r2.data_len, 0);
        }
}

static void test_sgio_order(void) {
        ProtoResult r;

        /* errno wins over everything. */
        proto_result_init(&r);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .ioctl_errno = ENOTTY, .host_status = 0x11, .dxfer_len = 8192 });
        check_sense(&r, 0xb, 0x00, 0x06);

        /* driver_status tested as a mask of 0x06: 0x02..0x07 give BUSY, DRIVER_SENSE does not. */
        for (uint16_t d = 0; d <= 0x0f; d++) {
                proto_result_init(&r);
                proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .driver_status = d, .status = 0, .dxfer_len = 8192 });
                CHECK_EQ(r.status, (d & 0x06) ? SCSI_STATUS_BUSY : SCSI_STATUS_GOOD);
        }

        /* Device status passes through, with the kernel's sense untouched. */
        proto_result_init(&r);
        memset(r.sense, 0x72, 8);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .status = SCSI_STATUS_CHECK_CONDITION, .dxfer_len = 8192 });
        CHECK_EQ(r.status, SCSI_STATUS_CHECK_CONDITION);
        CHECK_EQ(r.sense[0], 0x72);
        CHECK_EQ(r.sense[7], 0x72);
        CHECK_EQ(r.sense[8], 0);
        CHECK_EQ(r.data_len, 0);

        proto_result_init(&r);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .status = SCSI_STATUS_RESERVATION_CONFLICT, .dxfer_len = 8192 });
        check_no_sense(&r, SCSI_STATUS_RESERVATION_CONFLICT);

        /* Data length from resid, clamped (the reference goes negative and aborts). */
        proto_result_init(&r);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .resid = 8192 - 24, .dxfer_len = 8192 });
        CHECK_EQ(r.data_len, 24);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .resid = 0, .dxfer_len = 8192 });
        CHECK_EQ(r.data_len, 8192);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .resid = 9000, .dxfer_len = 8192 });
        CHECK_EQ(r.data_len, 0);
        proto_result_from_sgio(&r, &(ProtoSgioOutcome) { .resid = -5, .dxfer_len = 8192 });
        CHECK_EQ(r.data_len, 8192);
}

static void test_sense_parse(void) {
        uint8_t fixed[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x01 };
        uint8_t desc[8] = { 0x72, 0x06, 0x29, 0x02, 0, 0, 0, 0 };
        uint8_t *g;
        ProtoSenseInfo i;

        g = guarded_copy(fixed, sizeof fixed);
        i = proto_sense_parse(g, sizeof fixed);
        CHECK(i.valid && !i.descriptor);
        CHECK_EQ(i.key, 5);
        CHECK_EQ(i.asc, 0x24);
        CHECK_EQ(i.ascq, 0x01);
        /* Truncated buffers never over-read. */
        for (uint32_t n = 0; n <= sizeof fixed; n++)
                (void) proto_sense_parse(g + sizeof fixed - n, n);
        guarded_free(g, sizeof fixed);

        g = guarded_copy(desc, sizeof desc);
        i = proto_sense_parse(g, sizeof desc);
        CHECK(i.valid && i.descriptor);
        CHECK_EQ(i.key, 6);
        CHECK_EQ(i.asc, 0x29);
        CHECK_EQ(i.ascq, 0x02);
        guarded_free(g, sizeof desc);

        i = proto_sense_parse((const uint8_t[]) { 0x00 }, 1);
        CHECK(!i.valid);
}

int main(void) {
        test_sense_build();
        test_errno_table();
        test_host_table();
        test_sgio_order();
        test_sense_parse();
        return tests_finish("test-scsi");
}
