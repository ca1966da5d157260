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
        int status;                             /* SCSI status byte: PRH_STATUS_* */
        uint8_t sense[PRH_SENSE_BYTES];         /* as sent by the helper; meaningful for CHECK CONDITION */
        size_t data_len;                        /* PR IN bytes received (0 for PR OUT and non-GOOD) */
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

/* A short text for a libprh error (negative errno), with the likely cause. */
const char *prh_strerror(int error);

#ifdef __cplusplus
}
#endif
