/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What is kept: CAP_SYS_RAWIO (SG_IO with arbitrary CDBs needs it), plus
 * CAP_SYS_ADMIN only when multipath support is active (device-mapper
 * ioctls).  Supplementary groups dropped, bounding set cleared, no
 * ambient or inheritable capabilities, and PR_SET_NO_NEW_PRIVS so that
 * nothing exec'd later could regain anything.
 *
 * Unlike the reference, a non-root start without -u/-g does not try to
 * change ids (which fails without CAP_SETUID/CAP_SETGID): it keeps its
 * ids and only narrows capabilities.
 */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "privileges.h"

#define CAP_BIT(c) (UINT64_C(1) << (c))
#define CAP_SYS_RAWIO_NR 17
#define CAP_SYS_ADMIN_NR 21

static int status_field(const char *text, const char *key, char *buf, size_t n) {
        size_t kl = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
                        const char *v = p + kl + 1, *e = strchr(v, '\n');
                        size_t l = e ? (size_t) (e - v) : strlen(v);
                        while (l > 0 && (*v == '\t' || *v == ' ')) {
                                v++;
                                l--;
                        }
                        if (l >= n)
                                return -ENOBUFS;
                        memcpy(buf, v, l);
                        buf[l] = 0;
                        return 0;
                }
        }
        return -ENOENT;
}

static int hex_field(const char *text, const char *key, uint64_t *ret) {
        char buf[64], *end;
        int r = status_field(text, key, buf, sizeof buf);

        if (r < 0)
                return r;
        errno = 0;
        *ret = strtoull(buf, &end, 16);
        return errno || *end ? -EBADMSG : 0;
}

int privileges_read_status(const char *text, uint64_t *eff, uint64_t *prm, uint64_t *bnd, uint64_t *inh,
                           uint64_t *amb) {
        int r;

        if ((r = hex_field(text, "CapEff", eff)) < 0 || (r = hex_field(text, "CapPrm", prm)) < 0 ||
            (r = hex_field(text, "CapBnd", bnd)) < 0 || (r = hex_field(text, "CapInh", inh)) < 0)
                return r;
        if (hex_field(text, "CapAmb", amb) < 0)
                *amb = 0;
        return 0;
}

static int verify(const PrivilegeRequest *req, uint64_t want_caps, uid_t uid, gid_t gid) {
        char text[4096], buf[256];
        _cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        uint64_t eff, prm, bnd, inh, amb;
        ssize_t n;
        int r;

        if (fd < 0)
                return log_error_errno(-errno, "Failed to verify privileges: cannot open /proc/self/status: %m");
        n = loop_read(fd, text, sizeof text - 1);
        if (n < 0)
                return log_error_errno((int) n, "Failed to verify privileges: %m");
        text[n] = 0;

        r = privileges_read_status(text, &eff, &prm, &bnd, &inh, &amb);
        if (r < 0)
                return log_error_errno(r, "Failed to verify privileges: cannot parse /proc/self/status");
        if (eff != want_caps || prm != want_caps || inh != 0 || amb != 0 ||
            (req->change_id && bnd != 0)) {
                log_error("Failed to drop privileges: kernel reports CapEff=%016" PRIx64 " CapPrm=%016" PRIx64
                          " CapBnd=%016" PRIx64 " CapInh=%016" PRIx64 " CapAmb=%016" PRIx64 ", expected %016" PRIx64,
                          eff, prm, bnd, inh, amb, want_caps);
                return -EPERM;
        }

        char want_ids[64];
        if (status_field(text, "Uid", buf, sizeof buf) < 0)
                return log_error_errno(-EBADMSG, "Failed to verify privileges: no Uid line");
        snprintf(want_ids, sizeof want_ids, "%u\t%u\t%u\t%u", (unsigned) uid, (unsigned) uid, (unsigned) uid,
                 (unsigned) uid);
        if (strcmp(buf, want_ids) != 0)
                return log_error_errno(-EPERM, "Failed to drop privileges: kernel reports Uid %s", buf);
        if (status_field(text, "Gid", buf, sizeof buf) < 0)
                return log_error_errno(-EBADMSG, "Failed to verify privileges: no Gid line");
        snprintf(want_ids, sizeof want_ids, "%u\t%u\t%u\t%u", (unsigned) gid, (unsigned) gid, (unsigned) gid,
                 (unsigned) gid);
        if (strcmp(buf, want_ids) != 0)
                return log_error_errno(-EPERM, "Failed to drop privileges: kernel reports Gid %s", buf);
        if (req->change_id) {
                if (status_field(text, "Groups", buf, sizeof buf) < 0)
                        return log_error_errno(-EBADMSG, "Failed to verify privileges: no Groups line");
                if (buf[0] != 0)
                        return log_error_errno(-EPERM, "Failed to drop privileges: supplementary groups remain: %s",
                                               buf);
        }
        return 0;
}

int privileges_drop(const PrivilegeRequest *req) {
        uint64_t want = CAP_BIT(CAP_SYS_RAWIO_NR);
        uid_t uid = req->change_id ? req->uid : geteuid();
        gid_t gid = req->change_id ? req->gid : getegid();
        int r;

        capng_clear(CAPNG_SELECT_BOTH);
        if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_RAWIO) < 0)
                return log_error_errno(-EINVAL, "Failed to drop privileges: capng_update failed");
        if (req->keep_sys_admin) {
                if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN) < 0)
                        return log_error_errno(-EINVAL, "Failed to drop privileges: capng_update failed");
                want |= CAP_BIT(CAP_SYS_ADMIN_NR);
        }

        if (req->change_id) {
                r = capng_change_id((int) uid, (int) gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
                if (r < 0)
                        return log_error_errno(errno > 0 ? -errno : -EPERM, "Failed to drop privileges: %m");
        } else {
                /* Unprivileged start: keep the ids, narrow the capabilities we may hold. */
                capng_get_caps_process();
                bool have_rawio = capng_have_capability(CAPNG_PERMITTED, CAP_SYS_RAWIO);
                bool have_admin = capng_have_capability(CAPNG_PERMITTED, CAP_SYS_ADMIN);
                capng_clear(CAPNG_SELECT_BOTH);
                want = 0;
                if (have_rawio) {
                        capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_RAWIO);
                        want |= CAP_BIT(CAP_SYS_RAWIO_NR);
                } else
                        log_warning("Running without CAP_SYS_RAWIO: SG_IO with PERSISTENT RESERVE commands will fail.");
                if (req->keep_sys_admin && have_admin) {
                        capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN);
                        want |= CAP_BIT(CAP_SYS_ADMIN_NR);
                }
                if (capng_apply(CAPNG_SELECT_CAPS) < 0)
                        return log_error_errno(-EPERM, "Failed to drop privileges: capng_apply failed");
        }

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(-errno, "Failed to drop privileges: PR_SET_NO_NEW_PRIVS: %m");

        return verify(req, want, uid, gid);
}
