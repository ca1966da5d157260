/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request execution; see backend.h.  The PR IN SG_IO uses the full 8192-byte
 * buffer like the reference (the device limits itself to the CDB's
 * allocation length) and the payload is cut to the allocation length.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "backend.h"
#include "fd-check.h"
#include "log.h"
#include "macro.h"
#include "mpath.h"
#include "sgio.h"
#include "wire.h"

#define PRH_CDB_LEN_SENT 16     /* the reference always sends cmd_len 16 */
/* A client that keeps sending refused fds must not flood the log: at most this many refusal lines
 * per window, then one line saying that more are left out, and a count when the window ends. */
#define REFUSAL_LOG_BURST 10u
#define REFUSAL_LOG_WINDOW_S 60

struct Backend {
        BackendConfig config;
        Mpath *mpath;
        int sys_dev_fd;                 /* /sys/dev, for the fd check */
        pthread_mutex_t log_lock;       /* the refusal log's window */
        bool log_started;
        time_t log_window_start;
        unsigned log_count, log_left_out;
};

int backend_new(const BackendConfig *config, Backend **ret) {
        Backend *b = calloc(1, sizeof *b);
        int r;

        if (!b)
                return -ENOMEM;
        b->config = *config;
        b->sys_dev_fd = -EBADF;
        pthread_mutex_init(&b->log_lock, NULL);
        if (!config->unsafe_any_fd) {
                b->sys_dev_fd = open("/sys/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (b->sys_dev_fd < 0) {
                        r = log_error_errno(negative_errno(), "Cannot open /sys/dev, needed to check device fds: %m");
                        free(b);
                        return r;
                }
        } else
                log_warning("--unsafe-any-fd: acting on any fd a client sends, partitions and partial "
                            "device-mapper maps included. For testing only: any client can then reach "
                            "the whole logical unit behind a partition or logical volume it may open.");
        if (config->want_multipath) {
                r = mpath_new(config->verbose, &b->mpath);
                if (r < 0) {
                        /* No device-mapper or no library at all is the common case of a host without
                         * multipath: say so only with -v.  Anything else deserves attention. */
                        log_full_errno(r == -ENOENT || r == -ELIBACC || r == -EOPNOTSUPP ? LOG_INFO : LOG_NOTICE, r,
                                       "Multipath support not active (%m); serving plain SCSI devices only.");
                        b->mpath = NULL;
                }
        }
        *ret = b;
        return 0;
}

Backend *backend_free(Backend *b) {
        if (!b)
                return NULL;
        mpath_free(b->mpath);
        safe_close(b->sys_dev_fd);
        pthread_mutex_destroy(&b->log_lock);
        free(b);
        return NULL;
}

bool backend_multipath_active(const Backend *b) {
        return b && b->mpath;
}

/* May this refusal be logged?  Says when the burst is used up, and the count when the window ends. */
static bool refusal_log_allowed(Backend *b) {
        struct timespec now;
        bool ok;

        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&b->log_lock);
        if (!b->log_started || now.tv_sec - b->log_window_start >= REFUSAL_LOG_WINDOW_S) {
                if (b->log_left_out > 0)
                        log_warning("%u more requests were refused in the last %d s without a log line.",
                                    b->log_left_out, REFUSAL_LOG_WINDOW_S);
                b->log_started = true;
                b->log_window_start = now.tv_sec;
                b->log_count = b->log_left_out = 0;
        }
        ok = b->log_count < REFUSAL_LOG_BURST;
        if (ok)
                b->log_count++;
        else
                b->log_left_out++;
        if (b->log_left_out == 1)
                log_warning("%u refused requests logged; further ones are counted, not logged, for up to %d s.",
                            REFUSAL_LOG_BURST, REFUSAL_LOG_WINDOW_S);
        pthread_mutex_unlock(&b->log_lock);
        return ok;
}

static void log_refused(int fd, const FdInfo *info) {
        const char *kind = info->class == FD_CLASS_SG || info->class == FD_CLASS_OTHER_CHAR ? "char" : "block";

        if (info->class == FD_CLASS_DM)
                log_warning("Refusing a request on %u:%u (/sys/dev/block/%u:%u -> %s): a device-mapper map the "
                            "kernel would not pass SG_IO through for an unprivileged caller (not one target "
                            "mapping one whole SCSI disk).",
                            major(info->rdev), minor(info->rdev), major(info->rdev), minor(info->rdev),
                            info->name[0] ? info->name : "?");
        else if (info->rdev != 0 || info->class == FD_CLASS_PARTITION || info->class == FD_CLASS_OTHER_BLOCK ||
                 info->class == FD_CLASS_OTHER_CHAR)
                log_warning("Refusing a request on %u:%u (/sys/dev/%s/%u:%u -> %s): %s, not a whole SCSI "
                            "logical unit.",
                            major(info->rdev), minor(info->rdev), kind, major(info->rdev), minor(info->rdev),
                            info->name[0] ? info->name : "?", fd_class_to_string(info->class));
        else
                log_warning("Refusing a request on fd %d: %s, not a SCSI device.", fd,
                            fd_class_to_string(info->class));
}

/* true if the request may go on; otherwise ret holds the answer. */
static bool check_fd(Backend *b, int fd, ProtoResult *ret) {
        FdInfo info = {};
        int r;

        if (b->config.unsafe_any_fd)
                return true;
        r = fd_check(b->sys_dev_fd, fd, &info);
        if (r > 0)
                return true;
        proto_result_init(ret);
        if (r == 0) {
                if (refusal_log_allowed(b))
                        log_refused(fd, &info);
                /* What a device without persistent reservations answers: the initiator reports "not
                 * supported" and does not retry (docs/security.md). */
                proto_result_set_check(ret, SENSE_INVALID_OPCODE);
                return false;
        }
        log_warning_errno(r, "Cannot check the fd a client sent (%m); refusing the request.");
        proto_result_from_errno(ret, -r);
        return false;
}

int backend_classify(Backend *b, int fd) {
        int r;

        if (!b->mpath)
                return BACKEND_LANE_PLAIN;
        r = mpath_detect(b->mpath, fd);
        if (r < 0)
                return r;
        return r > 0 ? BACKEND_LANE_MULTIPATH : BACKEND_LANE_PLAIN;
}

void backend_execute(Backend *b, int fd, int lane, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                     uint8_t *inbuf, ProtoResult *ret) {
        bool out = proto_cdb_is_pr_out(cdb);

        if (!check_fd(b, fd, ret))
                return;

        if (out) {
                int flags = fcntl(fd, F_GETFL);
                /* A failing fcntl is not taken as read-only, as in the reference. */
                if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
                        proto_result_init(ret);
                        proto_result_set_check(ret, SENSE_INVALID_OPCODE);
                        return;
                }
        }

        if (lane == BACKEND_LANE_MULTIPATH && b->mpath) {
                mpath_execute(b->mpath, fd, cdb, data, xfer_len, inbuf, b->config.sgio_timeout_ms, ret);
                return;
        }
        if (lane < 0) {
                /* Never fall back to one path of a map we could not classify. */
                log_error_errno(lane, "Cannot tell whether fd is a multipath device: %m");
                proto_result_init(ret);
                proto_result_set_check(ret, SENSE_LUN_COMM_FAILURE);
                return;
        }

        if (out)
                sgio_execute(fd, cdb, PRH_CDB_LEN_SENT, SGIO_TO_DEV, (void *) (uintptr_t) data, xfer_len,
                             b->config.sgio_timeout_ms, ret);
        else {
                /* The buffer is shared by every connection a thread serves: what may be sent must never
                 * be an earlier request's data, whatever resid the device reports. */
                memset(inbuf, 0, xfer_len);
                sgio_execute(fd, cdb, PRH_CDB_LEN_SENT, SGIO_FROM_DEV, inbuf, PRH_DATA_SIZE,
                             b->config.sgio_timeout_ms, ret);
                if (ret->data_len > xfer_len)
                        ret->data_len = xfer_len;
        }
}
