/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit records (docs/audit.md).  Everything here runs under the seccomp
 * filter and after the privilege drop: files are read with openat/read
 * (sysfs, /proc), links with readlinkat, and a record is one write() to
 * the O_APPEND file or one send() on the journal socket connected at
 * start-up, so that nothing needs a call the allow-list lacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "policy.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

int audit_open(Audit *a, const char *target) {
        a->fd = -EBADF;
        a->journal = false;
        if (audit_is_journal(target)) {
                const char *path = target[7] == ':' ? target + 8 : JOURNAL_SOCKET;
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int fd;

                if (strlen(path) >= sizeof sa.sun_path)
                        return log_error_errno(-EINVAL, "Journal socket path too long: %s", path);
                memcpy(sa.sun_path, path, strlen(path) + 1);
                fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return log_error_errno(-errno, "Failed to create the journal socket: %m");
                if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                        int r = -errno;
                        safe_close(fd);
                        return log_error_errno(r, "Failed to connect to the journal at %s: %m", path);
                }
                a->fd = fd;
                a->journal = true;
                a->on = true;
                return 0;
        }
        a->fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (a->fd < 0)
                return log_error_errno(-errno, "Failed to open the audit log %s: %m", target);
        a->on = true;
        return 0;
}

void audit_close(Audit *a) {
        if (a->on)
                a->fd = safe_close(a->fd);
        a->on = false;
}

/* Read a small text file into buf (NUL-terminated, trailing newline dropped); "" on failure. */
static void read_small(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t k = -1;

        buf[0] = 0;
        if (fd < 0)
                return;
        k = read(fd, buf, size - 1);
        safe_close(fd);
        if (k <= 0) {
                buf[0] = 0;
                return;
        }
        buf[k] = 0;
        while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == ' '))
                buf[--k] = 0;
}

void peer_info_get(int fd, PeerInfo *p) {
        struct ucred cred = { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        socklen_t cl = sizeof cred;
        char path[64], buf[4096];
        ssize_t k;

        (void) getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
        *p = (PeerInfo) { .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
        (void) snprintf(path, sizeof path, "/proc/%d/exe", (int) cred.pid);
        k = readlinkat(AT_FDCWD, path, buf, sizeof buf - 1);
        if (cred.pid > 0 && k > 0) {
                buf[k] = 0;
                p->exe = strdup(buf);
        }
        (void) snprintf(path, sizeof path, "/proc/%d/comm", (int) cred.pid);
        if (cred.pid > 0) {
                /* world-readable, unlike exe once our capabilities are dropped */
                read_small(path, buf, sizeof buf);
                if (buf[0])
                        p->comm = strdup(buf);
        }
        (void) snprintf(path, sizeof path, "/proc/%d/cgroup", (int) cred.pid);
        if (cred.pid > 0) {
                read_small(path, buf, sizeof buf);
                /* cgroup v2 ("0::/path"), else the first hierarchy listed */
                char *v2 = strncmp(buf, "0::", 3) == 0 ? buf : strstr(buf, "\n0::");
                char *line = v2 ? v2 + (v2 == buf ? 3 : 4) : buf;
                line[strcspn(line, "\n")] = 0;
                if (line[0])
                        p->cgroup = strdup(line);
        }
        (void) snprintf(p->desc, sizeof p->desc, "pid %d uid %u gid %u", (int) p->pid, (unsigned) p->uid,
                        (unsigned) p->gid);
}

void peer_info_free(PeerInfo *p) {
        free(p->exe);
        free(p->comm);
        free(p->cgroup);
        p->exe = p->comm = p->cgroup = NULL;
}

void dev_info_get(int fd, DevInfo *d) {
        struct stat st;
        char path[128];
        ssize_t k;

        *d = (DevInfo) {};
        if (fstat(fd, &st) < 0)
                return;
        d->valid = true;
        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        k = readlinkat(AT_FDCWD, path, d->path, sizeof d->path - 1);
        d->path[k > 0 ? k : 0] = 0;
        if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
                return;
        d->block = S_ISBLK(st.st_mode);
        d->major = major(st.st_rdev);
        d->minor = minor(st.st_rdev);
        (void) snprintf(path, sizeof path, "/sys/dev/%s/%u:%u/device/wwid", d->block ? "block" : "char", d->major,
                        d->minor);
        read_small(path, d->wwid, sizeof d->wwid);
        if (!d->wwid[0] && d->block) {
                /* device-mapper: multipath maps carry the WWID in their uuid ("mpath-<wwid>") */
                char uuid[sizeof d->wwid];
                (void) snprintf(path, sizeof path, "/sys/dev/block/%u:%u/dm/uuid", d->major, d->minor);
                read_small(path, uuid, sizeof uuid);
                if (strncmp(uuid, "mpath-", 6) == 0)
                        (void) snprintf(d->wwid, sizeof d->wwid, "%s", uuid + 6);
        }
}

static uint64_t be64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static void key_str(const Audit *a, const uint8_t *p, char out[24]) {
        if (a->redact)
                (void) snprintf(out, 24, "redacted");
        else
                (void) snprintf(out, 24, "0x%016llx", (unsigned long long) be64(p));
}

/* The record's fields, in one place for both sinks. */
typedef struct Fields {
        char time[40];
        char op[8];
        char action[32];
        char key[24], sa_key[24];
        bool has_keys;
        unsigned scope, type;
        bool has_scope;
        char result[24];
        ProtoSenseInfo si;
} Fields;

static void fields_fill(const Audit *a, const AuditRecord *r, Fields *f) {
        struct timespec ts;
        struct tm tm;
        uint8_t sa = r->cdb[1] & 0x1f;
        const char *name = policy_action_name(r->cdb[0], sa);

        *f = (Fields) {};
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(f->time, sizeof f->time, "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(f->time + n, sizeof f->time - n, ".%06ldZ", ts.tv_nsec / 1000);
        (void) snprintf(f->op, sizeof f->op, "%s", r->cdb[0] == SCSI_OP_PR_OUT ? "pr-out" : "pr-in");
        if (name)
                (void) snprintf(f->action, sizeof f->action, "%s", name);
        else
                (void) snprintf(f->action, sizeof f->action, "0x%02x", sa);
        if (r->cdb[0] == SCSI_OP_PR_OUT) {
                f->has_scope = true;
                f->scope = r->cdb[2] >> 4;
                f->type = r->cdb[2] & 0x0f;
                if (r->data && r->data_len >= 16) {
                        f->has_keys = true;
                        key_str(a, r->data, f->key);
                        key_str(a, r->data + 8, f->sa_key);
                }
        }
        if (r->denied_by)
                (void) snprintf(f->result, sizeof f->result, "denied");
        else if (r->res->status == 0)
                (void) snprintf(f->result, sizeof f->result, "good");
        else if (r->res->status == 2)
                (void) snprintf(f->result, sizeof f->result, "check-condition");
        else if (r->res->status == 0x18)
                (void) snprintf(f->result, sizeof f->result, "reservation-conflict");
        else
                (void) snprintf(f->result, sizeof f->result, "status-0x%02x", (unsigned) r->res->status & 0xff);
        f->si = proto_sense_parse(r->res->sense, PRH_SENSE_SIZE);
}

static void emit_json(const Audit *a, const AuditRecord *r, const Fields *f) {
        json_object *o = json_object_new_object(), *peer = json_object_new_object(),
                    *dev = json_object_new_object(), *res = json_object_new_object();
        char majmin[32];
        char *line = NULL;

        if (!o || !peer || !dev || !res)
                goto out;
        json_object_object_add(o, "time", json_object_new_string(f->time));
        json_object_object_add(o, "socket", json_object_new_string(r->socket ? r->socket : ""));
        json_object_object_add(o, "connection", json_object_new_int64(r->conn_id));
        json_object_object_add(peer, "pid", json_object_new_int64(r->peer->pid));
        json_object_object_add(peer, "uid", json_object_new_int64(r->peer->uid));
        json_object_object_add(peer, "gid", json_object_new_int64(r->peer->gid));
        if (r->peer->exe)
                json_object_object_add(peer, "exe", json_object_new_string(r->peer->exe));
        if (r->peer->comm)
                json_object_object_add(peer, "comm", json_object_new_string(r->peer->comm));
        if (r->peer->cgroup)
                json_object_object_add(peer, "cgroup", json_object_new_string(r->peer->cgroup));
        json_object_object_add(o, "peer", peer);
        peer = NULL;
        if (r->dev->valid && r->dev->major + r->dev->minor > 0) {
                (void) snprintf(majmin, sizeof majmin, "%u:%u", r->dev->major, r->dev->minor);
                json_object_object_add(dev, "majmin", json_object_new_string(majmin));
        }
        if (r->dev->wwid[0])
                json_object_object_add(dev, "wwid", json_object_new_string(r->dev->wwid));
        if (r->dev->path[0])
                json_object_object_add(dev, "path", json_object_new_string(r->dev->path));
        json_object_object_add(o, "device", dev);
        dev = NULL;
        json_object_object_add(o, "op", json_object_new_string(f->op));
        json_object_object_add(o, "service_action", json_object_new_string(f->action));
        if (f->has_scope) {
                json_object_object_add(o, "scope", json_object_new_int((int32_t) f->scope));
                json_object_object_add(o, "type", json_object_new_int((int32_t) f->type));
        }
        if (f->has_keys) {
                json_object_object_add(o, "key", json_object_new_string(f->key));
                json_object_object_add(o, "sa_key", json_object_new_string(f->sa_key));
        }
        json_object_object_add(res, "outcome", json_object_new_string(f->result));
        json_object_object_add(res, "status", json_object_new_int(r->res->status));
        if (f->si.valid) {
                json_object_object_add(res, "sense_key", json_object_new_int(f->si.key));
                json_object_object_add(res, "asc", json_object_new_int(f->si.asc));
                json_object_object_add(res, "ascq", json_object_new_int(f->si.ascq));
        }
        if (r->denied_by)
                json_object_object_add(res, "denied_by", json_object_new_string(r->denied_by));
        json_object_object_add(o, "result", res);
        res = NULL;
        json_object_object_add(o, "duration_us", json_object_new_int64((int64_t) r->duration_us));

        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t len = strlen(s);
        line = malloc(len + 2);
        if (line) {
                memcpy(line, s, len);
                line[len] = '\n';
                /* One write: O_APPEND keeps concurrent records whole. */
                if (write(a->fd, line, len + 1) != (ssize_t) (len + 1))
                        log_warning_errno(-errno, "Failed to write an audit record: %m");
        }
out:
        free(line);
        json_object_put(o);
        json_object_put(peer);
        json_object_put(dev);
        json_object_put(res);
}

/* Journal native protocol: KEY=value lines in one datagram (values here never hold a newline). */
static void emit_journal(const Audit *a, const AuditRecord *r, const Fields *f) {
        char buf[4096];
        size_t n = 0;

#define ADD(...) do { int _k = snprintf(buf + n, sizeof buf - n, __VA_ARGS__); \
                if (_k > 0) n = MIN(n + (size_t) _k, sizeof buf - 1); } while (0)
        ADD("MESSAGE=%s %s on %s by pid %d uid %u: %s%s%s\n", f->op, f->action,
            r->dev->wwid[0] ? r->dev->wwid : r->dev->path, (int) r->peer->pid, (unsigned) r->peer->uid, f->result,
            r->denied_by ? " by rule " : "", r->denied_by ? r->denied_by : "");
        ADD("PRIORITY=%d\n", r->denied_by ? 4 : 6);
        ADD("SYSLOG_IDENTIFIER=prhd\n");
        ADD("PRH_EVENT=pr-request\n");
        ADD("PRH_TIME=%s\n", f->time);
        ADD("PRH_SOCKET=%s\n", r->socket ? r->socket : "");
        ADD("PRH_CONNECTION=%u\n", r->conn_id);
        ADD("PRH_PEER_PID=%d\nPRH_PEER_UID=%u\nPRH_PEER_GID=%u\n", (int) r->peer->pid, (unsigned) r->peer->uid,
            (unsigned) r->peer->gid);
        if (r->peer->exe)
                ADD("PRH_PEER_EXE=%s\n", r->peer->exe);
        if (r->peer->comm)
                ADD("PRH_PEER_COMM=%s\n", r->peer->comm);
        if (r->peer->cgroup)
                ADD("PRH_PEER_CGROUP=%s\n", r->peer->cgroup);
        if (r->dev->valid && r->dev->major + r->dev->minor > 0)
                ADD("PRH_DEVICE_MAJMIN=%u:%u\n", r->dev->major, r->dev->minor);
        if (r->dev->wwid[0])
                ADD("PRH_DEVICE_WWID=%s\n", r->dev->wwid);
        if (r->dev->path[0])
                ADD("PRH_DEVICE_PATH=%s\n", r->dev->path);
        ADD("PRH_OP=%s\nPRH_SERVICE_ACTION=%s\n", f->op, f->action);
        if (f->has_scope)
                ADD("PRH_SCOPE=%u\nPRH_TYPE=%u\n", f->scope, f->type);
        if (f->has_keys)
                ADD("PRH_KEY=%s\nPRH_SA_KEY=%s\n", f->key, f->sa_key);
        ADD("PRH_RESULT=%s\nPRH_STATUS=%d\n", f->result, r->res->status);
        if (f->si.valid)
                ADD("PRH_SENSE_KEY=%u\nPRH_ASC=%u\nPRH_ASCQ=%u\n", f->si.key, f->si.asc, f->si.ascq);
        if (r->denied_by)
                ADD("PRH_DENIED_BY=%s\n", r->denied_by);
        ADD("PRH_DURATION_US=%llu\n", (unsigned long long) r->duration_us);
#undef ADD
        if (send(a->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_warning_errno(-errno, "Failed to send an audit record to the journal: %m");
}

void audit_emit(const Audit *a, const AuditRecord *r) {
        Fields f;

        if (!a->on)
                return;
        fields_fill(a, r, &f);
        if (a->journal)
                emit_journal(a, r, &f);
        else
                emit_json(a, r, &f);
}
