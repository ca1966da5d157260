/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libprh: client library for the QEMU persistent-reservation helper
 * protocol (qemu-pr-helper, prhd).  A process that holds a SCSI device fd
 * and may connect to a helper socket can issue PERSISTENT RESERVE IN/OUT
 * through it without CAP_SYS_RAWIO.
 *
 * Conventions:
 *  - Functions that can fail return 0 (or a count) on success and a
 *    negative errno on failure; outputs are only written on success.
 *  - A SCSI outcome (CHECK CONDITION, RESERVATION CONFLICT, ...) is not an
 *    error: the call returns 0 and the status and sense are in PrhResult.
 *  - A PrhClient holds at most one connection and runs one request at a
 *    time; it is not thread-safe (use one per thread or lock around it).
 *  - Every reply is validated; a helper that breaks the protocol makes the
 *    call fail with -EBADMSG and the connection is dropped.
 *  - The library never logs, never raises SIGPIPE and never exits.
 *
 * See libprh(3).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <prh/pr-types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default socket of qemu-pr-helper and prhd. */
#define PRH_DEFAULT_SOCKET_PATH "/var/run/qemu-pr-helper.sock"

/* Protocol limits. */
#define PRH_MAX_CDB_SIZE 16u
#define PRH_MAX_DATA_SIZE 8192u
#define PRH_SENSE_BYTES 96u

/* Defaults of the connection policy (QEMU: 5 attempts, 1 s apart, no timeouts). */
#define PRH_DEFAULT_ATTEMPTS 5u
#define PRH_DEFAULT_RETRY_DELAY_MS 1000
#define PRH_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define PRH_DEFAULT_REQUEST_TIMEOUT_MS 60000
/* Pass as a timeout to wait forever, as QEMU does. */
#define PRH_TIMEOUT_INFINITE (-1)

typedef struct PrhClient PrhClient;

/* The SCSI outcome of one command. */
typedef struct PrhResult {
        int status;                     /* SCSI status byte: PRH_STATUS_* */
        uint8_t sense[PRH_SENSE_BYTES]; /* as sent by the helper; meaningful for CHECK CONDITION */
        size_t data_len;                /* PR IN bytes received (0 for PR OUT and non-GOOD) */
} PrhResult;

/*
 * Create a client for the helper listening on socket_path (NULL: the
 * default).  Nothing is connected yet; the first call (or
 * prh_client_connect()) connects.  Returns 0 or -ENOMEM / -EINVAL (path
 * too long for a sockaddr_un).
 */
int prh_client_new(const char *socket_path, PrhClient **ret);
/* Disconnect and free; accepts NULL; returns NULL. */
PrhClient *prh_client_free(PrhClient *c);

/*
 * Timeouts in milliseconds (PRH_TIMEOUT_INFINITE to wait forever).
 * connect_ms bounds connect() plus the handshake; request_ms bounds one
 * request from sending the CDB to the last reply byte.  A request that
 * times out after its CDB was sent drops the connection (the reply would
 * desynchronise the stream) and fails with -ETIMEDOUT; whether the helper
 * executed the command is then unknown.
 */
int prh_client_set_timeouts(PrhClient *c, int connect_ms, int request_ms);

/*
 * Reconnect policy, QEMU's by default: up to attempts tries to
 * (re)connect and send the CDB, waiting delay_ms after a failed connect.
 * A failure after the CDB was sent is never retried.  attempts >= 1.
 */
int prh_client_set_retry(PrhClient *c, unsigned attempts, int delay_ms);

/*
 * Feature bits to request at the handshake (default 0).  If the helper
 * does not advertise all of them the connection fails with -EOPNOTSUPP
 * (the helper would close it anyway).  No bits are defined today.
 */
int prh_client_set_features(PrhClient *c, uint32_t requested);

/*
 * Connect and negotiate now (once; no retry).  Errors: -ENOENT (no
 * socket), -ECONNREFUSED (nobody listening), -EACCES, -ETIMEDOUT,
 * -ECONNABORTED (helper closed during the handshake), -EOPNOTSUPP.
 * Returns 0 if already connected.
 */
int prh_client_connect(PrhClient *c);
/* Close the connection, if any; the next call reconnects. */
void prh_client_disconnect(PrhClient *c);
bool prh_client_is_connected(const PrhClient *c);
/* Features the helper advertised at the last handshake; -ENOTCONN if none yet. */
int prh_client_get_features(const PrhClient *c, uint32_t *ret_supported);
/* Socket path of the client. */
const char *prh_client_get_path(const PrhClient *c);

/*
 * Send one PERSISTENT RESERVE IN (0x5E) or OUT (0x5F) command through the
 * helper, for the device open as device_fd (sent along with the CDB; PR OUT
 * needs it opened for writing or the helper answers ILLEGAL REQUEST).
 *
 * cdb: 1..16 bytes, zero-padded to 16.  The transfer length is CDB bytes
 * 7-8 (as QEMU computes it, also for PR OUT) and must be <= 8192.
 * PR OUT: out/out_len is the parameter list, out_len must equal that
 * length.  PR IN: in/in_size receives the data, in_size must be >= that
 * allocation length.  *ret gets status, sense and data length.
 *
 * Errors: -EINVAL (arguments), connect errors as prh_client_connect()
 * after the last attempt, -ECONNRESET (helper closed the connection after
 * the CDB: usually it rejected the request), -EBADMSG (malformed reply),
 * -ETIMEDOUT, other -errno from the socket.
 */
int prh_call_raw(PrhClient *c, int device_fd, const uint8_t *cdb, size_t cdb_len, const void *out, size_t out_len,
                 void *in, size_t in_size, PrhResult *ret);

/*
 * Typed commands.  Each returns 0 when the helper answered (whatever the
 * SCSI status: see ret->status) or a negative errno as prh_call_raw().
 * Decoded PR IN outputs are filled only when ret->status is GOOD; GOOD
 * data too short to decode fails with -EBADMSG.
 */

/* PR IN with allocation length size (<= 8192) into buf. */
int prh_pr_in(PrhClient *c, int device_fd, PrhInAction action, void *buf, size_t size, PrhResult *ret);
/*
 * PR OUT action with parameters p (scope/type go into the CDB).  The
 * parameter list is built as SPC-4 defines it; its length is also put in
 * CDB bytes 7-8, which is all QEMU and qemu-pr-helper read.  -EINVAL for
 * parameters the action cannot carry, -E2BIG for lists over 8192 bytes.
 */
int prh_pr_out(PrhClient *c, int device_fd, PrhOutAction action, const PrhOutParams *p, PrhResult *ret);

int prh_read_keys(PrhClient *c, int device_fd, PrhResult *ret, PrhKeys *ret_keys);
int prh_read_reservation(PrhClient *c, int device_fd, PrhResult *ret, PrhReservation *ret_reservation);
int prh_report_capabilities(PrhClient *c, int device_fd, PrhResult *ret, PrhCapabilities *ret_caps);
/* ret_status->entries is allocated; release it with prh_full_status_clear(). */
int prh_read_full_status(PrhClient *c, int device_fd, PrhResult *ret, PrhFullStatus *ret_status);
void prh_full_status_clear(PrhFullStatus *s);

/*
 * Decoders of PR IN data (for prh_pr_in() / prh_call_raw() users): 0 or
 * -EBADMSG.  prh_decode_full_status() stores at most max_entries
 * descriptors into entries (not allocated; ret->entries is set to it) and
 * returns their count; each descriptor takes at least 24 bytes of data.
 */
int prh_decode_keys(const uint8_t *data, size_t len, PrhKeys *ret);
int prh_decode_reservation(const uint8_t *data, size_t len, PrhReservation *ret);
int prh_decode_capabilities(const uint8_t *data, size_t len, PrhCapabilities *ret);
int prh_decode_full_status(const uint8_t *data, size_t len, PrhFullStatus *ret, PrhFullStatusEntry *entries,
                           size_t max_entries);

/* PR OUT shorthands; flags are PRH_FLAG_* where the action accepts them. */
int prh_register(PrhClient *c, int device_fd, uint64_t key, uint64_t new_key, unsigned flags, PrhResult *ret);
int prh_register_ignore(PrhClient *c, int device_fd, uint64_t new_key, unsigned flags, PrhResult *ret);
int prh_reserve(PrhClient *c, int device_fd, uint64_t key, uint8_t type, PrhResult *ret);
int prh_release(PrhClient *c, int device_fd, uint64_t key, uint8_t type, PrhResult *ret);
int prh_clear(PrhClient *c, int device_fd, uint64_t key, PrhResult *ret);
int prh_preempt(PrhClient *c, int device_fd, uint64_t key, uint64_t preempt_key, uint8_t type, bool abort_tasks,
                PrhResult *ret);
int prh_register_move(PrhClient *c, int device_fd, uint64_t key, uint64_t new_holder_key, uint8_t type,
                      uint16_t rel_tgt_port, const PrhTransportId *tid, unsigned flags, PrhResult *ret);
int prh_replace_lost(PrhClient *c, int device_fd, uint64_t new_key, uint8_t type, unsigned flags, PrhResult *ret);

/*
 * Transport IDs.  Text: "fc,<16 hex>", "sas,<16 hex>", "iscsi,<name>",
 * "iscsi,<name>,i,0x<ISID>" or a bare iqn./eui./naa. name.
 */
int prh_transport_id_parse(const char *text, PrhTransportId *ret);
int prh_transport_id_format(const PrhTransportId *t, char *buf, size_t size);
int prh_transport_id_encode(const PrhTransportId *t, uint8_t *out, size_t size);
int prh_transport_id_decode(const uint8_t *in, size_t len, PrhTransportId *ret);

/* Words for codes; never NULL except prh_asc_text() for pairs it does not know. */
const char *prh_status_name(int status);
const char *prh_sense_key_name(uint8_t key);
const char *prh_asc_text(uint8_t asc, uint8_t ascq);
const char *prh_type_name(uint8_t type);
const char *prh_in_action_name(PrhInAction action);
const char *prh_out_action_name(PrhOutAction action);
PrhSense prh_sense_decode(const uint8_t *sense, size_t len);
/* "KEY NAME: asc text (asc 0x.., ascq 0x..)"; returns snprintf()'s count. */
int prh_sense_describe(const uint8_t *sense, size_t len, char *buf, size_t size);

/* A short text for a libprh error (negative errno), with the likely cause. */
const char *prh_strerror(int error);

#ifdef __cplusplus
}
#endif
