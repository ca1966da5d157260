/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libprh typed PR IN/OUT calls and text helpers: thin layers that encode
 * with src/proto/pr-codec.c, run prh_call_raw() and decode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pr-codec.h"
#include "prh/prh.h"
#include "wire.h"

int prh_pr_in(PrhClient *c, int device_fd, PrhInAction action, void *buf, size_t size, PrhResult *ret) {
        uint8_t cdb[PROTO_PR_CDB_SIZE];

        if (size > PRH_DATA_SIZE || (unsigned) action > 0x1f)
                return -EINVAL;
        proto_pr_in_cdb(cdb, action, (uint16_t) size);
        return prh_call_raw(c, device_fd, cdb, sizeof(cdb), NULL, 0, buf, size, ret);
}

int prh_pr_out(PrhClient *c, int device_fd, PrhOutAction action, const PrhOutParams *p, PrhResult *ret) {
        uint8_t cdb[PROTO_PR_CDB_SIZE];
        _cleanup_free_ uint8_t *param = NULL;
        int r;

        if (!p)
                return -EINVAL;
        param = malloc(PRH_DATA_SIZE);
        if (!param)
                return -ENOMEM;
        r = proto_pr_out_encode(action, p, cdb, param, PRH_DATA_SIZE);
        if (r < 0)
                return r;
        return prh_call_raw(c, device_fd, cdb, sizeof(cdb), param, (size_t) r, NULL, 0, ret);
}

/* PR IN into a full-size heap buffer; *ret_buf is set when the helper answered. */
static int pr_in_alloc(PrhClient *c, int device_fd, PrhInAction action, PrhResult *ret, uint8_t **ret_buf) {
        _cleanup_free_ uint8_t *buf = malloc(PRH_DATA_SIZE);
        int r;

        if (!buf)
                return -ENOMEM;
        r = prh_pr_in(c, device_fd, action, buf, PRH_DATA_SIZE, ret);
        if (r < 0)
                return r;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

int prh_read_keys(PrhClient *c, int device_fd, PrhResult *ret, PrhKeys *ret_keys) {
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (!ret || !ret_keys)
                return -EINVAL;
        r = pr_in_alloc(c, device_fd, PRH_IN_READ_KEYS, ret, &buf);
        if (r < 0 || ret->status != PRH_STATUS_GOOD)
                return r;
        return proto_pr_decode_keys(buf, ret->data_len, ret_keys);
}

int prh_read_reservation(PrhClient *c, int device_fd, PrhResult *ret, PrhReservation *ret_reservation) {
        uint8_t buf[64];
        int r;

        if (!ret || !ret_reservation)
                return -EINVAL;
        r = prh_pr_in(c, device_fd, PRH_IN_READ_RESERVATION, buf, sizeof(buf), ret);
        if (r < 0 || ret->status != PRH_STATUS_GOOD)
                return r;
        return proto_pr_decode_reservation(buf, ret->data_len, ret_reservation);
}

int prh_report_capabilities(PrhClient *c, int device_fd, PrhResult *ret, PrhCapabilities *ret_caps) {
        uint8_t buf[64];
        int r;

        if (!ret || !ret_caps)
                return -EINVAL;
        r = prh_pr_in(c, device_fd, PRH_IN_REPORT_CAPABILITIES, buf, sizeof(buf), ret);
        if (r < 0 || ret->status != PRH_STATUS_GOOD)
                return r;
        return proto_pr_decode_capabilities(buf, ret->data_len, ret_caps);
}

int prh_read_full_status(PrhClient *c, int device_fd, PrhResult *ret, PrhFullStatus *ret_status) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ PrhFullStatusEntry *entries = NULL;
        PrhFullStatus fs = {};
        size_t max;
        int r;

        if (!ret || !ret_status)
                return -EINVAL;
        r = pr_in_alloc(c, device_fd, PRH_IN_READ_FULL_STATUS, ret, &buf);
        if (r < 0 || ret->status != PRH_STATUS_GOOD)
                return r;
        /* Each descriptor takes at least 24 bytes. */
        max = ret->data_len / 24 + 1;
        entries = calloc(max, sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        r = proto_pr_decode_full_status(buf, ret->data_len, &fs, entries, max);
        if (r < 0)
                return r;
        fs.entries = TAKE_PTR(entries);
        *ret_status = fs;
        return 0;
}

void prh_full_status_clear(PrhFullStatus *s) {
        if (!s)
                return;
        free(s->entries);
        *s = (PrhFullStatus){};
}

int prh_decode_keys(const uint8_t *data, size_t len, PrhKeys *ret) {
        return (data || len == 0) && ret ? proto_pr_decode_keys(data, len, ret) : -EINVAL;
}

int prh_decode_reservation(const uint8_t *data, size_t len, PrhReservation *ret) {
        return (data || len == 0) && ret ? proto_pr_decode_reservation(data, len, ret) : -EINVAL;
}

int prh_decode_capabilities(const uint8_t *data, size_t len, PrhCapabilities *ret) {
        return (data || len == 0) && ret ? proto_pr_decode_capabilities(data, len, ret) : -EINVAL;
}

int prh_decode_full_status(const uint8_t *data, size_t len, PrhFullStatus *ret, PrhFullStatusEntry *entries,
                           size_t max_entries) {
        int r;

        if ((!data && len > 0) || !ret || (!entries && max_entries > 0))
                return -EINVAL;
        r = proto_pr_decode_full_status(data, len, ret, entries, max_entries);
        if (r >= 0)
                ret->entries = entries;
        return r;
}

int prh_register(PrhClient *c, int device_fd, uint64_t key, uint64_t new_key, unsigned flags, PrhResult *ret) {
        PrhOutParams p = {.key = key, .sa_key = new_key, .flags = flags};
        return prh_pr_out(c, device_fd, PRH_OUT_REGISTER, &p, ret);
}

int prh_register_ignore(PrhClient *c, int device_fd, uint64_t new_key, unsigned flags, PrhResult *ret) {
        PrhOutParams p = {.sa_key = new_key, .flags = flags};
        return prh_pr_out(c, device_fd, PRH_OUT_REGISTER_AND_IGNORE, &p, ret);
}

int prh_reserve(PrhClient *c, int device_fd, uint64_t key, uint8_t type, PrhResult *ret) {
        PrhOutParams p = {.key = key, .type = type};
        return prh_pr_out(c, device_fd, PRH_OUT_RESERVE, &p, ret);
}

int prh_release(PrhClient *c, int device_fd, uint64_t key, uint8_t type, PrhResult *ret) {
        PrhOutParams p = {.key = key, .type = type};
        return prh_pr_out(c, device_fd, PRH_OUT_RELEASE, &p, ret);
}

int prh_clear(PrhClient *c, int device_fd, uint64_t key, PrhResult *ret) {
        PrhOutParams p = {.key = key};
        return prh_pr_out(c, device_fd, PRH_OUT_CLEAR, &p, ret);
}

int prh_preempt(PrhClient *c, int device_fd, uint64_t key, uint64_t preempt_key, uint8_t type, bool abort_tasks,
                PrhResult *ret) {
        PrhOutParams p = {.key = key, .sa_key = preempt_key, .type = type};
        return prh_pr_out(c, device_fd, abort_tasks ? PRH_OUT_PREEMPT_AND_ABORT : PRH_OUT_PREEMPT, &p, ret);
}

int prh_register_move(PrhClient *c, int device_fd, uint64_t key, uint64_t new_holder_key, uint8_t type,
                      uint16_t rel_tgt_port, const PrhTransportId *tid, unsigned flags, PrhResult *ret) {
        PrhOutParams p = {.key = key,
                          .sa_key = new_holder_key,
                          .type = type,
                          .rel_tgt_port = rel_tgt_port,
                          .flags = flags,
                          .tids = tid,
                          .n_tids = tid ? 1 : 0};
        return prh_pr_out(c, device_fd, PRH_OUT_REGISTER_AND_MOVE, &p, ret);
}

int prh_replace_lost(PrhClient *c, int device_fd, uint64_t new_key, uint8_t type, unsigned flags, PrhResult *ret) {
        PrhOutParams p = {.sa_key = new_key, .type = type, .flags = flags};
        return prh_pr_out(c, device_fd, PRH_OUT_REPLACE_LOST, &p, ret);
}

int prh_transport_id_parse(const char *text, PrhTransportId *ret) {
        return ret ? proto_tid_parse(text, ret) : -EINVAL;
}

int prh_transport_id_format(const PrhTransportId *t, char *buf, size_t size) {
        return t && (buf || size == 0) ? proto_tid_format(t, buf, size) : -EINVAL;
}

int prh_transport_id_encode(const PrhTransportId *t, uint8_t *out, size_t size) {
        return t && out ? proto_tid_encode(t, out, size) : -EINVAL;
}

int prh_transport_id_decode(const uint8_t *in, size_t len, PrhTransportId *ret) {
        return in && ret ? proto_tid_decode(in, len, ret) : -EINVAL;
}

const char *prh_status_name(int status) {
        return proto_status_name(status);
}

const char *prh_sense_key_name(uint8_t key) {
        return proto_sense_key_name(key);
}

const char *prh_asc_text(uint8_t asc, uint8_t ascq) {
        return proto_asc_text(asc, ascq);
}

const char *prh_type_name(uint8_t type) {
        return proto_pr_type_name(type);
}

const char *prh_in_action_name(PrhInAction action) {
        return proto_pr_in_action_name(action);
}

const char *prh_out_action_name(PrhOutAction action) {
        return proto_pr_out_action_name(action);
}

PrhSense prh_sense_decode(const uint8_t *sense, size_t len) {
        return sense ? proto_sense_decode(sense, len) : (PrhSense){};
}

int prh_sense_describe(const uint8_t *sense, size_t len, char *buf, size_t size) {
        if (!buf && size > 0)
                return -EINVAL;
        return proto_sense_describe(sense, sense ? len : 0, buf, size);
}
