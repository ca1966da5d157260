/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pr-matrix: the persistent-reservation scenario matrix of the VM rig.
 *
 * Runs inside the outer rig guest, against a real LIO logical unit seen
 * through two I_T nexuses (A and B: two hosts of a cluster).  The fabric is
 * tcm_loop (two target ports, one initiator each), or with --iscsi LIO's
 * iSCSI target on 127.0.0.1 logged in to by the kernel's initiator under
 * two initiator names (guest-matrix.sh and iscsi-lib.sh set it up).  Each
 * scenario runs on one fabric: tcm_loop is the main one; the successful
 * PREEMPT AND ABORT runs over iSCSI because in Linux 6.1 it deadlocks LIO's
 * LU when the command came through tcm_loop (see sc_preempt_abort()).
 * Each scenario is a fixed sequence of steps; it is run once per path:
 *
 *   direct            SG_IO on the block device, as sg_persist would
 *   <name>=<socket>   through a helper (qemu-pr-helper, prhd) over its real
 *                     socket, with libprh's raw call
 *   --direct-sg, --helper-sg <name>=<socket>
 *                     the same with the disk's sg node as the fd; a path
 *                     given to --observe is shown but judged by nothing
 *
 * and every path starts from a freshly created LU (no registrations, no
 * reservation, PRgeneration 0): the LU is torn down and created again in
 * configfs before each run (over iSCSI, the LU behind LUN 0 is replaced
 * while the sessions stay logged in).  Every reply (status, 96 sense
 * bytes, PR IN data) of every step must be equal on all paths, and key
 * steps must have the outcome SPC-4 prescribes (so a rig where nothing
 * works cannot pass).
 * WRITE/READ steps always go directly to the device: they show that a
 * reservation made through a helper is enforced on the other nexus.
 *
 * Output: a table on stdout, every reply in hex in the --log file.
 * Exit status 0 only if all paths agree and all expectations hold.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <scsi/sg.h>

#include <prh/prh.h>

#include "pr-common.h"

#define SENSE_LEN 96u
#define DATA_MAX 65536u                /* direct SG_IO: the largest PR IN allocation length */
#define HELPER_DATA_MAX 8192u           /* what the helper protocol carries */
#define MAX_PATHS 8
#define MAX_STEPS 48
#define BLOCK_SIZE 512u

/* Keys used by the scenarios (readable in hex dumps). */
#define KA 0xaaaa0000000000a1ull
#define KA2 0xaaaa0000000000a2ull
#define KB 0xbbbb0000000000b1ull
#define KBAD 0xdead0000000000ffull

enum { NX_A, NX_B };

typedef enum Fabric {
        FABRIC_LOOP,                    /* tcm_loop: LIO's in-kernel loopback ports */
        FABRIC_ISCSI,                   /* LIO's iSCSI target + the kernel's initiator over TCP */
} Fabric;

typedef enum PathKind {
        PATH_DIRECT,
        PATH_HELPER,
} PathKind;

typedef struct Path {
        char name[32];
        PathKind kind;
        const char *socket;
        PrhClient *client;
        bool sg;                        /* the client's fd is the nexus' sg node, not its block node */
        bool observed;                  /* recorded and compared, but a difference fails nothing (--observe) */
} Path;

typedef struct Reply {
        bool skipped;                   /* step does not apply to this path */
        int err;                        /* negative errno: the call itself failed */
        int status;
        int host_status;                /* direct path only, informational */
        double secs;                    /* time to answer, informational */
        uint8_t sense[SENSE_LEN];
        size_t data_len;
        uint8_t data[DATA_MAX];
} Reply;

typedef enum ExpectData {
        DATA_UNCHECKED,
        DATA_KEYS,                      /* READ KEYS: n_keys keys, the first one first_key */
        DATA_HOLDER,                    /* READ RESERVATION: n_keys (0/1) holders, key first_key, type */
} ExpectData;

typedef struct Expect {
        int status;                     /* -1: not checked */
        int key, asc, ascq;             /* -1: not checked */
        ExpectData data;
        unsigned n_keys;
        uint64_t first_key;
        uint8_t type;
        /* E_LENGTHS: exactly data_len bytes of PR IN data, ADDITIONAL LENGTH add_len */
        bool lengths;
        size_t data_len;
        uint32_t add_len;
} Expect;

#define E_ANY ((Expect) { -1, -1, -1, -1, DATA_UNCHECKED, 0, 0, 0 })
#define E_GOOD ((Expect) { 0x00, -1, -1, -1, DATA_UNCHECKED, 0, 0, 0 })
#define E_CONFLICT ((Expect) { 0x18, -1, -1, -1, DATA_UNCHECKED, 0, 0, 0 })
#define E_CHECK(k, a, q) ((Expect) { 0x02, (k), (a), (q), DATA_UNCHECKED, 0, 0, 0 })
/* GOOD, and the PR IN data says so: the registered keys, the holder */
#define E_KEYS(n, k) ((Expect) { 0x00, -1, -1, -1, DATA_KEYS, (n), (k), 0 })
#define E_HOLDER(k, t) ((Expect) { 0x00, -1, -1, -1, DATA_HOLDER, 1, (k), (t) })
#define E_NO_HOLDER ((Expect) { 0x00, -1, -1, -1, DATA_HOLDER, 0, 0, 0 })
/* GOOD with exactly len bytes of data whose ADDITIONAL LENGTH is add and
 * whose first key (READ KEYS) or first descriptor's key (READ FULL STATUS) is k */
#define E_LENGTHS(len, add, k) ((Expect) { 0x00, -1, -1, -1, DATA_UNCHECKED, 1, (k), 0, true, (len), (add) })

typedef struct Step {
        char label[112];
        bool helper_only;
        bool direct_only;
        Expect expect;
        Reply reply[MAX_PATHS];
} Step;

typedef struct Ctx {
        /* configuration */
        const char *cfs;                /* /sys/kernel/config/target */
        Fabric fabric;
        const char *port[2];            /* tcm_loop target WWNs of nexus A and B */
        const char *iscsi_tpg;          /* iSCSI: the TPG's configfs directory */
        const char *initiator[2];       /* iSCSI: initiator names of nexus A and B */
        const char *backstore;          /* fileio_N/diskN under core/ */
        const char *lu_file;
        Path paths[MAX_PATHS];
        int n_paths;
        FILE *log;
        bool verbose;

        /* per run */
        int path;                       /* index of the path being run */
        int fd[2];                      /* O_RDWR block device fds of A and B */
        int fd_ro;                      /* O_RDONLY fd of A */
        int sg[2];                      /* O_RDWR sg node fds of A and B */
        int sg_ro;                      /* O_RDONLY sg node fd of A */
        char dev[2][300];
        char sgdev[2][300];
        uint16_t rtpi[2];               /* relative target port ids of the two ports */
        uint64_t sas[2];                /* tcm_loop: initiator SAS addresses of the two nexuses */

        /* per scenario */
        Step steps[MAX_STEPS];
        int n_steps;
        int cur;                        /* next step index in this run */

        bool lu_kept;                   /* a scenario's LU stays as it is (Scenario.setup) */

        /* totals */
        int n_compared, n_mismatch, n_expect_fail, n_errors;
        int n_observed_diff;            /* steps where an --observe path differed */
} Ctx;

typedef struct Scenario {
        const char *name;
        const char *what;
        void (*run)(Ctx *c);
        Fabric fabric;                  /* the one it runs on */
        /* if set: one LU for all paths, prepared by setup (its steps must
         * not change the PR state), never torn down: it must run last */
        void (*setup)(Ctx *c);
} Scenario;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("pr-matrix: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(2);
}

/* ---- configfs: a fresh LU for every run ------------------------------------ */

/* configfs's way to map a LU: create DIR, then DIR/NAME as a link to TARGET. */
static void configfs_link(const char *dir, const char *name, const char *target) {
        char p[PATH_MAX];

        if (mkdir(dir, 0755) < 0)
                die("mkdir %s: %m", dir);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        if (symlink(target, p) < 0)
                die("symlink %s: %m", p);
}

static void close_devs(Ctx *c) {
        for (int i = 0; i < 2; i++)
                if (c->fd[i] >= 0) {
                        close(c->fd[i]);
                        c->fd[i] = -1;
                }
        if (c->fd_ro >= 0) {
                close(c->fd_ro);
                c->fd_ro = -1;
        }
        for (int i = 0; i < 2; i++)
                if (c->sg[i] >= 0) {
                        close(c->sg[i]);
                        c->sg[i] = -1;
                }
        if (c->sg_ro >= 0) {
                close(c->sg_ro);
                c->sg_ro = -1;
        }
}

/* Remove the symbolic links in a configfs directory (LUN mappings). */
static void unlink_links(const char *dir) {
        DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return;
                die("opendir %s: %m", dir);
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_type == DT_LNK && unlinkat(dirfd(d), de->d_name, 0) < 0)
                        die("unlink %s/%s: %m", dir, de->d_name);
        closedir(d);
}

static void rmdir_if_there(const char *path) {
        if (rmdir(path) < 0 && errno != ENOENT)
                die("rmdir %s: %m", path);
}

static void lu_destroy(Ctx *c) {
        char p[512], addr[2][64] = { "", "" };

        close_devs(c);
        if (c->fabric == FABRIC_LOOP)
                for (int i = 0; i < 2; i++) {
                        snprintf(p, sizeof p, "%s/loopback/%s/tpgt_1/address", c->cfs, c->port[i]);
                        if (pr_read_line(p, addr[i], sizeof addr[i]) < 0)
                                die("read %s: %m", p);
                        snprintf(p, sizeof p, "%s/loopback/%s/tpgt_1/lun/lun_0", c->cfs, c->port[i]);
                        unlink_links(p);
                        rmdir_if_there(p);
                }
        else {
                /* the ACLs' mappings first: they hold the TPG's LUN */
                for (int i = 0; i < 2; i++) {
                        snprintf(p, sizeof p, "%s/acls/%s/lun_0", c->iscsi_tpg, c->initiator[i]);
                        unlink_links(p);
                        rmdir_if_there(p);
                }
                snprintf(p, sizeof p, "%s/lun/lun_0", c->iscsi_tpg);
                unlink_links(p);
                rmdir_if_there(p);
        }
        snprintf(p, sizeof p, "%s/core/%s", c->cfs, c->backstore);
        rmdir_if_there(p);
        /* tcm_loop removes the SCSI devices: the next LU must not find the
         * old ones.  (Over iSCSI the initiator is not told; its disks stay.) */
        for (int i = 0; i < 2; i++) {
                if (!addr[i][0])
                        continue;
                snprintf(p, sizeof p, "/sys/class/scsi_device/%s:0", addr[i]);
                for (int t = 0; t < 1000 && access(p, F_OK) == 0; t++)
                        pr_sleep_ms(10);
                if (access(p, F_OK) == 0)
                        die("SCSI device %s:0 still present 10 s after removing the LU", addr[i]);
        }
}

/* The one entry of a sysfs directory (block/ or scsi_generic/ of a device). */
static int only_entry(const char *dir, char *buf, size_t size) {
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        struct dirent *de;
        int r = -ENOENT;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        snprintf(buf, size, "%s", de->d_name);
                        r = 0;
                        break;
                }
        closedir(d);
        return r;
}

/* The disk (LUN 0) of the iSCSI session of initiator name ini, as "sdX". */
static int iscsi_session_disk(const char *ini, char *buf, size_t size) {
        glob_t g;
        int r = -ENOENT;

        if (glob("/sys/class/iscsi_session/session*", 0, NULL, &g) != 0)
                return -ENOENT;
        for (size_t i = 0; i < g.gl_pathc && r < 0; i++) {
                char p[512], name[256];
                snprintf(p, sizeof p, "%s/initiatorname", g.gl_pathv[i]);
                if (pr_read_line(p, name, sizeof name) < 0 || strcmp(name, ini) != 0)
                        continue;
                glob_t b;
                snprintf(p, sizeof p, "%s/device/target*/*:*:*:0/block/*", g.gl_pathv[i]);
                if (glob(p, 0, NULL, &b) == 0) {
                        const char *slash = strrchr(b.gl_pathv[0], '/');
                        snprintf(buf, size, "%s", slash + 1);
                        r = 0;
                }
                globfree(&b);
        }
        globfree(&g);
        return r;
}

static void sgio_inquiry_rtpi(Ctx *c, int nx);

static void lu_create(Ctx *c) {
        char p[512], v[256], serial[32];
        unsigned idx = 0;

        /* a unit serial per backstore (5052480000000001 for fileio_0, as
         * rig-lib.sh gives it), so two LUs of the guest never share an identity */
        if (sscanf(c->backstore, "fileio_%u/", &idx) != 1)
                die("backstore '%s' is not fileio_N/...", c->backstore);
        snprintf(serial, sizeof serial, "50524800000000%02x", idx + 1);
        snprintf(p, sizeof p, "%s/core/%s", c->cfs, c->backstore);
        if (mkdir(p, 0755) < 0)
                die("mkdir %s: %m", p);
        snprintf(p, sizeof p, "%s/core/%s/control", c->cfs, c->backstore);
        snprintf(v, sizeof v, "fd_dev_name=%s,fd_dev_size=%u", c->lu_file, 16u << 20);
        if (pr_write_file(p, v) < 0)
                die("write %s: %m", p);
        snprintf(p, sizeof p, "%s/core/%s/wwn/vpd_unit_serial", c->cfs, c->backstore);
        if (pr_write_file(p, serial) < 0)
                die("write %s: %m", p);
        snprintf(p, sizeof p, "%s/core/%s/enable", c->cfs, c->backstore);
        if (pr_write_file(p, "1") < 0)
                die("enable the backstore: %m");
        snprintf(v, sizeof v, "%s/core/%s", c->cfs, c->backstore);
        if (c->fabric == FABRIC_LOOP)
                for (int i = 0; i < 2; i++) {
                        snprintf(p, sizeof p, "%s/loopback/%s/tpgt_1/lun/lun_0", c->cfs, c->port[i]);
                        configfs_link(p, "disk0", v);
                }
        else {
                /* LUN 0 of the TPG, mapped as LUN 0 into both initiators'
                 * ACLs: the running sessions see it at once, without a
                 * rescan by the initiator and without a unit attention */
                snprintf(p, sizeof p, "%s/lun/lun_0", c->iscsi_tpg);
                configfs_link(p, "disk", v);
                snprintf(v, sizeof v, "%s/lun/lun_0", c->iscsi_tpg);
                for (int i = 0; i < 2; i++) {
                        snprintf(p, sizeof p, "%s/acls/%s/lun_0", c->iscsi_tpg, c->initiator[i]);
                        configfs_link(p, "lun", v);
                }
        }
        for (int i = 0; i < 2; i++) {
                char addr[64], dir[256], name[256];
                int r = -ENOENT;
                if (c->fabric == FABRIC_LOOP) {
                        snprintf(p, sizeof p, "%s/loopback/%s/tpgt_1/address", c->cfs, c->port[i]);
                        if (pr_read_line(p, addr, sizeof addr) < 0)
                                die("read %s: %m", p);
                        snprintf(dir, sizeof dir, "/sys/class/scsi_device/%s:0/device/block", addr);
                } else
                        snprintf(dir, sizeof dir, "the iSCSI session of %s", c->initiator[i]);
                for (int t = 0; t < 1000; t++) {
                        r = c->fabric == FABRIC_LOOP ? only_entry(dir, name, sizeof name)
                                                     : iscsi_session_disk(c->initiator[i], name, sizeof name);
                        if (r == 0) {
                                snprintf(c->dev[i], sizeof c->dev[i], "/dev/%s", name);
                                c->fd[i] = open(c->dev[i], O_RDWR | O_CLOEXEC);
                                if (c->fd[i] >= 0)
                                        break;
                                r = -errno;
                        }
                        pr_sleep_ms(10);
                }
                if (c->fd[i] < 0)
                        die("no usable block device for nexus %c (%s): %s", "AB"[i], dir, strerror(-r));
                if (c->fabric == FABRIC_LOOP) {
                        snprintf(p, sizeof p, "%s/loopback/%s/tpgt_1/nexus", c->cfs, c->port[i]);
                        if (pr_read_line(p, v, sizeof v) < 0 || strncmp(v, "naa.", 4) != 0)
                                die("cannot read the initiator WWN of %s", c->port[i]);
                        c->sas[i] = strtoull(v + 4, NULL, 16);
                }
        }
        if (c->fabric == FABRIC_ISCSI && strcmp(c->dev[NX_A], c->dev[NX_B]) == 0)
                die("nexus A and B are both %s", c->dev[NX_A]);
        c->fd_ro = open(c->dev[NX_A], O_RDONLY | O_CLOEXEC);
        if (c->fd_ro < 0)
                die("open %s read-only: %m", c->dev[NX_A]);
        /* the sg node of each disk: the fd of the paths that use one */
        for (int i = 0; i < 2; i++) {
                char dir[512], name[256];
                snprintf(dir, sizeof dir, "/sys/block/%s/device/scsi_generic", c->dev[i] + 5);
                int r = only_entry(dir, name, sizeof name);
                if (r < 0)
                        die("no sg node for %s (%s): %s", c->dev[i], dir, strerror(-r));
                snprintf(c->sgdev[i], sizeof c->sgdev[i], "/dev/%s", name);
                c->sg[i] = open(c->sgdev[i], O_RDWR | O_CLOEXEC);
                if (c->sg[i] < 0)
                        die("open %s: %m", c->sgdev[i]);
        }
        c->sg_ro = open(c->sgdev[NX_A], O_RDONLY | O_CLOEXEC);
        if (c->sg_ro < 0)
                die("open %s read-only: %m", c->sgdev[NX_A]);
        sgio_inquiry_rtpi(c, NX_A);
        sgio_inquiry_rtpi(c, NX_B);
}

/* ---- executing one command ------------------------------------------------ */

static void sgio(int fd, const uint8_t *cdb, int cdb_len, int dir, void *buf, size_t len, Reply *r) {
        PrSgio o;

        pr_sgio(fd, cdb, cdb_len, dir, buf, len, 30000, r->sense, &o);
        r->err = o.err;
        r->status = o.status;
        r->host_status = o.host_status;
        r->data_len = o.data_len;
}

static void sgio_inquiry_rtpi(Ctx *c, int nx) {
        uint8_t cdb[6] = { 0x12, 0x01, 0x83, 0x00, 0xff, 0x00 };
        Reply r = { 0 };
        sgio(c->fd[nx], cdb, 6, SG_DXFER_FROM_DEV, r.data, 255, &r);
        if (r.err < 0 || r.status != 0 || r.data_len < 4)
                die("INQUIRY VPD 0x83 on %s failed (%d/%d)", c->dev[nx], r.err, r.status);
        size_t end = 4 + (size_t) ((r.data[2] << 8) | r.data[3]);
        if (end > r.data_len)
                end = r.data_len;
        for (size_t o = 4; o + 4 <= end;) {
                uint8_t type = r.data[o + 1] & 0x0f, assoc = (r.data[o + 1] >> 4) & 3, len = r.data[o + 3];
                if (type == 0x4 && assoc == 1 && len == 4 && o + 8 <= end) {
                        c->rtpi[nx] = (uint16_t) ((r.data[o + 6] << 8) | r.data[o + 7]);
                        return;
                }
                o += 4u + len;
        }
        die("no relative target port designator in VPD 0x83 of %s", c->dev[nx]);
}

static void execute_one(Ctx *c, Path *p, int fd, const uint8_t *cdb, bool pr_out, const uint8_t *param,
                        size_t param_len, uint16_t alloc, Reply *r);

/* The fd the current path sends for nexus nx: block or sg node, O_RDWR or
 * (ro, nexus A only) O_RDONLY. */
static int path_fd(Ctx *c, int nx, bool ro) {
        bool sg = c->paths[c->path].sg;
        if (ro)
                return sg ? c->sg_ro : c->fd_ro;
        return sg ? c->sg[nx] : c->fd[nx];
}

static void execute(Ctx *c, int nx, bool ro, const uint8_t *cdb, bool pr_out, const uint8_t *param,
                    size_t param_len, uint16_t alloc, Reply *r) {
        Path *p = &c->paths[c->path];
        int fd = path_fd(c, nx, ro);
        double t0 = pr_now();

        memset(r, 0, sizeof *r);
        execute_one(c, p, fd, cdb, pr_out, param, param_len, alloc, r);
        r->secs = pr_now() - t0;
}

static void execute_one(Ctx *c, Path *p, int fd, const uint8_t *cdb, bool pr_out, const uint8_t *param,
                        size_t param_len, uint16_t alloc, Reply *r) {
        (void) c;
        if (p->kind == PATH_DIRECT) {
                if (pr_out) {
                        /* sg_io_hdr's dxferp is not const */
                        uint8_t *out = malloc(param_len ? param_len : 1);
                        if (!out)
                                die("out of memory");
                        memcpy(out, param, param_len);
                        sgio(fd, cdb, 10, SG_DXFER_TO_DEV, out, param_len, r);
                        free(out);
                } else
                        sgio(fd, cdb, 10, SG_DXFER_FROM_DEV, r->data, alloc, r);
                return;
        }
        PrhResult res;
        int k = prh_call_raw(p->client, fd, cdb, 10, pr_out ? param : NULL, pr_out ? param_len : 0,
                             pr_out ? NULL : r->data, pr_out ? 0 : HELPER_DATA_MAX, &res);
        if (k < 0) {
                r->err = k;
                return;
        }
        r->status = res.status;
        memcpy(r->sense, res.sense, SENSE_LEN);
        r->data_len = res.data_len;
}

static Step *step_begin(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static Step *step_begin(Ctx *c, const char *fmt, ...) {
        if (c->cur >= MAX_STEPS)
                die("too many steps");
        Step *s = &c->steps[c->cur];
        char label[sizeof s->label];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(label, sizeof label, fmt, ap);
        va_end(ap);
        if (c->cur >= c->n_steps) {
                memset(s, 0, sizeof *s);
                snprintf(s->label, sizeof s->label, "%s", label);
                c->n_steps = c->cur + 1;
        } else if (strcmp(s->label, label) != 0)
                die("scenario is not deterministic: step %d '%s' vs '%s'", c->cur, s->label, label);
        c->cur++;
        return s;
}

static const char *in_name(uint8_t sa) {
        static const char *const n[] = { "READ KEYS", "READ RESERVATION", "REPORT CAPABILITIES",
                                         "READ FULL STATUS" };
        return sa < 4 ? n[sa] : "PR IN ?";
}

static const char *out_name(uint8_t sa) {
        static const char *const n[] = { "REGISTER", "RESERVE", "RELEASE", "CLEAR", "PREEMPT",
                                         "PREEMPT AND ABORT", "REGISTER AND IGNORE", "REGISTER AND MOVE" };
        return sa < 8 ? n[sa] : "PR OUT ?";
}

static const char *type_name(uint8_t t) {
        switch (t) {
        case 1: return "WE";
        case 3: return "EA";
        case 5: return "WE_RO";
        case 6: return "EA_RO";
        case 7: return "WE_AR";
        case 8: return "EA_AR";
        default: return "-";
        }
}

static const char nx_name[2] = { 'A', 'B' };

static void pr_in(Ctx *c, int nx, uint8_t sa, uint16_t alloc, Expect e) {
        Step *s = step_begin(c, "%c %s alloc=%u", nx_name[nx], in_name(sa), alloc);
        uint8_t cdb[10] = { 0x5e, sa };
        pr_put_be16(cdb + 7, alloc);
        s->expect = e;
        execute(c, nx, false, cdb, false, NULL, 0, alloc, &s->reply[c->path]);
}

#define F_APTPL 0x01
#define F_ALL_TG_PT 0x04
#define F_RO_FD 0x100                   /* send the O_RDONLY fd: helper paths only */

static void pr_out(Ctx *c, int nx, uint8_t sa, uint8_t type, uint64_t key, uint64_t sark, unsigned flags, Expect e) {
        char extra[32] = "";
        if (flags & F_APTPL)
                strcat(extra, " APTPL");
        if (flags & F_RO_FD)
                strcat(extra, " (O_RDONLY fd)");
        Step *s = step_begin(c, "%c %s %s key=%" PRIx64 " sark=%" PRIx64 "%s", nx_name[nx], out_name(sa),
                             type_name(type), key >> 48, sark >> 48, extra);
        uint8_t cdb[10] = { 0x5f, sa, type };
        uint8_t param[24] = { 0 };
        pr_put_be32(cdb + 5, sizeof param);
        pr_put_be64(param, key);
        pr_put_be64(param + 8, sark);
        param[20] = (uint8_t) (flags & 0xff);
        s->expect = e;
        if (flags & F_RO_FD) {
                s->helper_only = true;
                if (c->paths[c->path].kind == PATH_DIRECT) {
                        memset(&s->reply[c->path], 0, sizeof s->reply[c->path]);
                        s->reply[c->path].skipped = true;
                        return;
                }
        }
        execute(c, nx, (flags & F_RO_FD) != 0, cdb, true, param, sizeof param, 0, &s->reply[c->path]);
}

/* REGISTER AND MOVE from nx to the other nexus, with its SAS transport ID. */
static void pr_move(Ctx *c, int nx, uint8_t type, uint64_t key, uint64_t sark, bool unreg, Expect e) {
        int to = !nx;
        Step *s = step_begin(c, "%c REGISTER AND MOVE %s key=%" PRIx64 " sark=%" PRIx64 " to %c%s", nx_name[nx],
                             type_name(type), key >> 48, sark >> 48, nx_name[to], unreg ? " UNREG" : "");
        uint8_t cdb[10] = { 0x5f, 0x07, type };
        uint8_t param[24 + 24] = { 0 };
        pr_put_be32(cdb + 5, sizeof param);
        pr_put_be64(param, key);
        pr_put_be64(param + 8, sark);
        param[17] = unreg ? 0x02 : 0x00;
        pr_put_be16(param + 18, c->rtpi[to]);
        pr_put_be32(param + 20, 24);
        param[24] = 0x06;               /* SAS transport ID, format 0 */
        pr_put_be64(param + 28, c->sas[to]);
        s->expect = e;
        execute(c, nx, false, cdb, true, param, sizeof param, 0, &s->reply[c->path]);
}

/* WRITE(10)/READ(10) of block 0, always straight to the device. */
static void io(Ctx *c, int nx, bool write, Expect e) {
        Step *s = step_begin(c, "%c %s(10) LBA 0 (direct SG_IO on every path)", nx_name[nx], write ? "WRITE" : "READ");
        uint8_t cdb[10] = { write ? 0x2a : 0x28 };
        uint8_t buf[BLOCK_SIZE];
        pr_put_be16(cdb + 7, 1);
        memset(buf, 0x5a, sizeof buf);
        Reply *r = &s->reply[c->path];
        memset(r, 0, sizeof *r);
        s->expect = e;
        sgio(c->fd[nx], cdb, 10, write ? SG_DXFER_TO_DEV : SG_DXFER_FROM_DEV, buf, sizeof buf, r);
        r->data_len = 0;        /* the block's content is not what is compared */
}

/* ---- scenarios ------------------------------------------------------------ */

#define RK 0x00
#define RR 0x01
#define RC 0x02
#define RFS 0x03
#define REG 0x00
#define RES 0x01
#define REL 0x02
#define CLR 0x03
#define PRE 0x04
#define PRA 0x05
#define RIEK 0x06

/* Sense codes LIO returns in the scenarios below. */
#define E_INVALID_PARAM E_CHECK(0x5, 0x26, 0x00)
#define E_UA(q) E_CHECK(0x6, 0x2a, (q))
#define E_RO_FD E_CHECK(0x5, 0x20, 0x00)

static void sc_register(Ctx *c) {
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA2, 0, E_CONFLICT);         /* registered: key 0 does not match */
        pr_out(c, NX_A, REG, 0, KA, KA2, 0, E_GOOD);            /* change the key */
        pr_out(c, NX_B, REG, 0, 0, KB, F_APTPL, E_GOOD);       /* APTPL: needs the writable dbroot */
        pr_in(c, NX_B, RK, 8192, E_GOOD);
        pr_in(c, NX_B, RC, 8192, E_GOOD);
        pr_out(c, NX_A, REG, 0, KA2, 0, 0, E_GOOD);             /* unregister */
        pr_in(c, NX_A, RK, 8192, E_GOOD);
}

static void sc_register_ignore(Ctx *c) {
        pr_out(c, NX_A, RIEK, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RIEK, 0, KBAD, KA2, 0, E_GOOD);         /* the current key is ignored */
        pr_in(c, NX_B, RK, 8192, E_GOOD);
        pr_out(c, NX_A, RIEK, 0, 0, 0, 0, E_GOOD);              /* unregister */
        pr_in(c, NX_A, RK, 8192, E_GOOD);
}

static void reserve_type(Ctx *c, uint8_t type) {
        bool all_reg = type == 7 || type == 8;
        bool reg_only = type == 5 || type == 6 || all_reg;
        bool excl_access = type == 3 || type == 6 || type == 8;

        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_A, RES, type, KA, 0, 0, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_GOOD);
        pr_in(c, NX_B, RFS, 8192, E_GOOD);
        /* B is registered: only WE/EA keep it out */
        io(c, NX_B, true, reg_only ? E_GOOD : E_CONFLICT);
        io(c, NX_B, false, reg_only || !excl_access ? E_GOOD : E_CONFLICT);
        io(c, NX_A, true, E_GOOD);
        /* a registrant reserving the same type: holder only for all-registrants types */
        pr_out(c, NX_B, RES, type, KB, 0, 0, all_reg ? E_GOOD : E_CONFLICT);
        /* the holder asking for a different type */
        pr_out(c, NX_A, RES, type == 1 ? 3 : 1, KA, 0, 0, E_CONFLICT);
        pr_out(c, NX_B, REG, 0, KB, 0, 0, E_GOOD);              /* B unregisters */
        io(c, NX_B, true, E_CONFLICT);                          /* now a non-registrant */
        pr_out(c, NX_A, REL, type, KA, 0, 0, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        io(c, NX_B, true, E_GOOD);
}

static void sc_reserve_we(Ctx *c) { reserve_type(c, 1); }
static void sc_reserve_ea(Ctx *c) { reserve_type(c, 3); }
static void sc_reserve_we_ro(Ctx *c) { reserve_type(c, 5); }
static void sc_reserve_ea_ro(Ctx *c) { reserve_type(c, 6); }
static void sc_reserve_we_ar(Ctx *c) { reserve_type(c, 7); }
static void sc_reserve_ea_ar(Ctx *c) { reserve_type(c, 8); }

static void sc_read_keys(Ctx *c) {
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        pr_in(c, NX_A, RK, 8, E_GOOD);                          /* header only */
        pr_in(c, NX_A, RK, 12, E_GOOD);                         /* a truncated key */
        pr_in(c, NX_B, RK, 16, E_GOOD);                         /* one of two keys */
        pr_in(c, NX_B, RK, 0, E_CHECK(0x5, 0x24, 0x00));       /* LIO refuses allocation length 0 */
}

static void sc_read_reservation(Ctx *c) {
        pr_in(c, NX_A, RR, 8192, E_GOOD);                       /* none */
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_GOOD);
        pr_in(c, NX_B, RR, 8, E_GOOD);
        pr_in(c, NX_A, RR, 16, E_GOOD);
}

static void sc_report_capabilities(Ctx *c) {
        pr_in(c, NX_A, RC, 8192, E_GOOD);
        pr_in(c, NX_B, RC, 4, E_CHECK(0x5, 0x24, 0x00));       /* LIO: shorter than its 8 bytes */
        pr_out(c, NX_A, REG, 0, 0, KA, F_APTPL, E_GOOD);
        pr_in(c, NX_A, RC, 8192, E_GOOD);                       /* PTPL_A set now */
}

static void sc_read_full_status(Ctx *c) {
        pr_in(c, NX_A, RFS, 8192, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_B, RES, 3, KB, 0, 0, E_GOOD);
        pr_in(c, NX_A, RFS, 8192, E_GOOD);
        pr_in(c, NX_B, RFS, 40, E_GOOD);                        /* truncated in the second descriptor */
}

static void sc_release(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_A, RES, 7, KA, 0, 0, E_GOOD);
        pr_out(c, NX_A, REL, 7, KBAD, 0, 0, E_CONFLICT);        /* wrong key */
        /* wrong type: SPC-4 says INVALID RELEASE OF PERSISTENT RESERVATION,
         * LIO answers RESERVATION CONFLICT for an all-registrants holder */
        pr_out(c, NX_A, REL, 1, KA, 0, 0, E_CONFLICT);
        pr_out(c, NX_A, REL, 7, KA, 0, 0, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_UA(0x04));                   /* RESERVATIONS RELEASED for B */
        pr_in(c, NX_B, RR, 8192, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        pr_out(c, NX_B, REL, 1, KB, 0, 0, E_GOOD);              /* not the holder: no effect */
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        pr_out(c, NX_A, REL, 1, KA, 0, 0, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
}

static void sc_clear(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        pr_out(c, NX_B, CLR, 0, KBAD, 0, 0, E_CONFLICT);
        pr_out(c, NX_B, CLR, 0, KB, 0, 0, E_GOOD);
        pr_in(c, NX_A, RK, 8192, E_UA(0x03));                   /* RESERVATIONS PREEMPTED for A */
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        io(c, NX_B, true, E_GOOD);
}

/* PREEMPT (sa == PRE); PREEMPT AND ABORT's success has scenarios of its own below. */
static void preempt(Ctx *c, uint8_t sa) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        io(c, NX_B, true, E_CONFLICT);
        pr_out(c, NX_B, sa, 1, KBAD, KA, 0, E_CONFLICT);        /* B's own key is wrong */
        pr_out(c, NX_B, sa, 1, KB, KA, 0, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_GOOD);                       /* B holds it */
        pr_in(c, NX_A, RK, 8192, E_UA(0x05));                   /* REGISTRATIONS PREEMPTED for A */
        pr_in(c, NX_A, RK, 8192, E_GOOD);
        io(c, NX_A, true, E_CONFLICT);
        io(c, NX_B, true, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, sa, 3, KB, KA, 0, E_GOOD);              /* preempt a registrant, change type */
        pr_in(c, NX_A, RFS, 8192, E_UA(0x05));
        pr_in(c, NX_B, RFS, 8192, E_GOOD);
}

static void sc_preempt(Ctx *c) { preempt(c, PRE); }

/*
 * PREEMPT AND ABORT's refusals, on tcm_loop.  A PREEMPT AND ABORT that LIO
 * accepts deadlocks the device in Debian 12's kernel (6.1) when it came
 * through tcm_loop: core_scsi3_pro_preempt() -> core_tmr_lun_reset()
 * flushes the device's submission work, from inside that very work item
 * (target_queued_submit_work), and the LU never answers again; direct
 * SG_IO hangs the same way.  LIO's iSCSI target does not submit through
 * that work item, so the successes run over iSCSI (preempt-abort-holder,
 * preempt-abort-registrants below).
 */
static void sc_preempt_abort(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        pr_out(c, NX_B, PRA, 1, KB, KA, 0, E_CONFLICT);         /* B is not registered */
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_B, PRA, 1, KBAD, KA, 0, E_CONFLICT);       /* B's own key is wrong */
        pr_out(c, NX_B, PRA, 1, KB, KBAD, 0, E_CONFLICT);       /* nobody holds that key */
        pr_out(c, NX_B, PRA, 1, KB, 0, 0, E_INVALID_PARAM);     /* SARK 0 with a WE holder */
        pr_in(c, NX_B, RFS, 8192, E_GOOD);                      /* nothing changed */
        io(c, NX_B, true, E_CONFLICT);
}

/*
 * PREEMPT AND ABORT that succeeds (over iSCSI, see above).  Beyond what
 * PREEMPT does, LIO then aborts the preempted nexus' tasks with a LUN reset
 * limited to them (core_tmr_lun_reset() with the preempted registrations).
 * A has no command in flight here (one could not be placed there the same
 * way on every path), so what is checked is what the abort leaves: A's
 * registration and reservation are gone, A sees REGISTRATIONS PREEMPTED
 * once, its old key is refused, the WRITE fence has moved to A, and the LU
 * goes on answering on both nexuses.
 */
static void sc_preempt_abort_holder(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        io(c, NX_B, true, E_CONFLICT);
        pr_out(c, NX_B, PRA, 1, KB, KA, 0, E_GOOD);             /* B preempts and aborts the holder */
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KB, 1));              /* B holds WE now */
        pr_in(c, NX_A, RK, 8192, E_UA(0x05));                   /* REGISTRATIONS PREEMPTED for A, */
        pr_in(c, NX_A, RK, 8192, E_KEYS(1, KB));                /* once; only B's key is left */
        pr_in(c, NX_A, RFS, 8192, E_GOOD);
        pr_out(c, NX_A, REL, 1, KA, 0, 0, E_CONFLICT);          /* A's key is gone with its registration */
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_CONFLICT);
        io(c, NX_A, true, E_CONFLICT);                          /* the fence moved to A */
        io(c, NX_A, false, E_GOOD);
        io(c, NX_B, true, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA2, 0, E_GOOD);             /* A registers again */
        pr_in(c, NX_B, RK, 8192, E_KEYS(2, KB));
        pr_out(c, NX_B, PRA, 3, KB, KA2, 0, E_GOOD);            /* abort a registrant that holds nothing */
        pr_in(c, NX_A, RFS, 8192, E_UA(0x05));
        pr_in(c, NX_A, RFS, 8192, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KB, 1));              /* B's reservation is untouched */
        io(c, NX_A, true, E_CONFLICT);
}

/* PREEMPT AND ABORT of a registrant when nothing is reserved, and of
 * every other registrant (SARK 0) under an all-registrants reservation. */
static void sc_preempt_abort_registrants(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        pr_out(c, NX_B, PRA, 1, KB, KA, 0, E_GOOD);             /* nothing reserved: removes A's key */
        pr_in(c, NX_A, RR, 8192, E_UA(0x05));
        pr_in(c, NX_A, RR, 8192, E_NO_HOLDER);                  /* and reserves nothing */
        pr_in(c, NX_B, RK, 8192, E_KEYS(1, KB));
        io(c, NX_A, true, E_GOOD);
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 7, KA, 0, 0, E_GOOD);              /* Write Exclusive - All Registrants */
        io(c, NX_B, true, E_GOOD);
        pr_out(c, NX_B, PRA, 1, KB, 0, 0, E_GOOD);              /* SARK 0: every other registrant */
        pr_in(c, NX_A, RK, 8192, E_UA(0x05));
        pr_in(c, NX_A, RK, 8192, E_KEYS(1, KB));
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KB, 1));              /* B holds the type it asked for */
        pr_in(c, NX_B, RFS, 8192, E_GOOD);
        io(c, NX_A, true, E_CONFLICT);
        io(c, NX_B, true, E_GOOD);
}

static void sc_register_move(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        io(c, NX_B, true, E_CONFLICT);
        pr_move(c, NX_A, 1, KA, 0, false, E_INVALID_PARAM);     /* SARK 0 is invalid */
        pr_move(c, NX_A, 1, KA, KB, false, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_GOOD);                       /* B holds it with KB */
        pr_in(c, NX_A, RFS, 8192, E_GOOD);
        io(c, NX_A, true, E_CONFLICT);
        io(c, NX_B, true, E_GOOD);
        /* back to A, which is still registered with KA: LIO keeps A's key,
         * moves the reservation and, with UNREG, drops B's registration */
        pr_move(c, NX_B, 1, KB, KA2, true, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        pr_in(c, NX_B, RK, 8192, E_GOOD);
}

static void sc_wrong_key(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KBAD, 0, 0, E_CONFLICT);
        pr_out(c, NX_A, REG, 0, KBAD, KA2, 0, E_CONFLICT);
        pr_out(c, NX_A, CLR, 0, KBAD, 0, 0, E_CONFLICT);
        pr_out(c, NX_A, PRE, 1, KBAD, KA, 0, E_CONFLICT);
        pr_in(c, NX_A, RR, 8192, E_GOOD);
        pr_in(c, NX_A, RK, 8192, E_GOOD);
}

static void sc_non_registrant(Ctx *c) {
        /* nobody registered, nothing reserved: LIO answers NOT READY / LOGICAL
         * UNIT COMMUNICATION FAILURE (SPC-4: RESERVATION CONFLICT) */
        pr_out(c, NX_B, RES, 1, 0, 0, 0, E_CHECK(0x2, 0x08, 0x00));
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        pr_out(c, NX_B, RES, 1, KB, 0, 0, E_CONFLICT);
        pr_out(c, NX_B, RES, 1, KA, 0, 0, E_CONFLICT);          /* someone else's key */
        pr_out(c, NX_B, REL, 1, KA, 0, 0, E_CONFLICT);
        pr_out(c, NX_B, PRE, 1, KB, KA, 0, E_CONFLICT);
        pr_out(c, NX_B, CLR, 0, KB, 0, 0, E_CONFLICT);
        pr_in(c, NX_B, RR, 8192, E_GOOD);
}

static void sc_write_conflict(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        io(c, NX_B, true, E_CONFLICT);                          /* the cluster's fence */
        io(c, NX_B, false, E_GOOD);
        io(c, NX_A, true, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);
        io(c, NX_B, true, E_CONFLICT);                          /* registered is not enough under WE */
}

static void sc_read_only_fd(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, F_RO_FD, E_RO_FD);
        pr_in(c, NX_A, RK, 8192, E_GOOD);                       /* nothing was registered */
}

/* ---- target-side events (issue 12, scenario 5) ----------------------------- */

/* LOGICAL UNIT RESET from nexus nx: SG_SCSI_RESET_DEVICE on its block node
 * (the SCSI midlayer's device reset; over iSCSI a LOGICAL UNIT RESET task
 * management function), on every path straight to the device. */
static void lu_reset(Ctx *c, int nx, Expect e) {
        Step *s = step_begin(c, "%c LOGICAL UNIT RESET (SG_SCSI_RESET, direct on every path)", nx_name[nx]);
        Reply *r = &s->reply[c->path];
        int v = SG_SCSI_RESET_DEVICE;

        memset(r, 0, sizeof *r);
        s->expect = e;
        double t0 = pr_now();
        if (ioctl(c->fd[nx], SG_SCSI_RESET, &v) < 0)
                r->err = -errno;
        r->secs = pr_now() - t0;
}

/* Are both nexuses' iSCSI sessions in state LOGGED_IN (up) / neither (!up)? */
static bool iscsi_sessions_are(Ctx *c, bool up) {
        glob_t g;
        int n = 0;

        if (glob("/sys/class/iscsi_session/session*", 0, NULL, &g) != 0)
                return false;
        for (size_t i = 0; i < g.gl_pathc; i++) {
                char p[512], name[256], state[64];
                snprintf(p, sizeof p, "%s/initiatorname", g.gl_pathv[i]);
                if (pr_read_line(p, name, sizeof name) < 0 ||
                    (strcmp(name, c->initiator[0]) != 0 && strcmp(name, c->initiator[1]) != 0))
                        continue;
                snprintf(p, sizeof p, "%s/state", g.gl_pathv[i]);
                if (pr_read_line(p, state, sizeof state) < 0)
                        continue;
                if ((strcmp(state, "LOGGED_IN") == 0) == up)
                        n++;
        }
        globfree(&g);
        return n == 2;
}

/* Restart the iSCSI target: the TPG disabled in configfs (LIO closes both
 * sessions), both sessions seen failed by the initiator, the TPG enabled
 * again, both sessions logged in again by iscsid (same ISIDs: the same I_T
 * nexuses, the same disks).  On every path alike; no SCSI command is in
 * flight meanwhile. */
static void target_restart(Ctx *c, Expect e) {
        Step *s = step_begin(c, "target restart: TPG enable=0, sessions fail, enable=1, sessions back");
        Reply *r = &s->reply[c->path];
        char p[512];
        double t0 = pr_now(), t_down = -1, t_up = -1;

        memset(r, 0, sizeof *r);
        s->expect = e;
        snprintf(p, sizeof p, "%s/enable", c->iscsi_tpg);
        if (pr_write_file(p, "0") < 0)
                die("write 0 to %s: %m", p);
        for (int t = 0; t < 2000 && t_down < 0; t++) {
                if (iscsi_sessions_are(c, false))
                        t_down = pr_now() - t0;
                else
                        pr_sleep_ms(10);
        }
        if (pr_write_file(p, "1") < 0)
                die("write 1 to %s: %m", p);
        for (int t = 0; t < 6000 && t_up < 0; t++) {
                if (iscsi_sessions_are(c, true))
                        t_up = pr_now() - t0;
                else
                        pr_sleep_ms(10);
        }
        if (t_down < 0 || t_up < 0)
                r->err = -ETIMEDOUT;
        r->secs = pr_now() - t0;
        if (c->log)
                fprintf(c->log, "  target restart on %s: sessions failed after %.2f s, logged in again after %.2f s\n",
                        c->paths[c->path].name, t_down, t_up);
}

/* Unit attentions LIO queues for these events (SAM: 29h before 2Ah). */
#define E_UA_RESET E_CHECK(0x6, 0x29, 0x03)     /* BUS DEVICE RESET FUNCTION OCCURRED */

/*
 * A LOGICAL UNIT RESET between registrations and reservations: LIO queues
 * BUS DEVICE RESET FUNCTION OCCURRED (29/03) for every nexus of the LU,
 * the one that sent the reset too (the kernel does not swallow it: SG_IO
 * commands are not retried), and the PR state survives (SPC-4 5.13.1).
 * With REGISTRATIONS PREEMPTED (2A/05) pending as well, LIO reports the
 * highest-priority one, 29/03, and with UA_INTLCK_CTRL 00b clears the
 * rest: A never sees 2A/05 (its READ KEYS shows that its key is gone).
 */
static void sc_lu_reset(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        lu_reset(c, NX_B, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_UA_RESET);          /* the sender's nexus too */
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);              /* not carried out above: now it is */
        pr_in(c, NX_A, RK, 8192, E_UA_RESET);
        pr_in(c, NX_A, RK, 8192, E_KEYS(2, KA));                /* A's registration survived */
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        lu_reset(c, NX_A, E_GOOD);
        pr_in(c, NX_B, RR, 8192, E_UA_RESET);
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KA, 1));              /* the reservation survived */
        pr_in(c, NX_A, RR, 8192, E_UA_RESET);
        pr_in(c, NX_A, RR, 8192, E_HOLDER(KA, 1));
        io(c, NX_B, true, E_CONFLICT);                          /* and is enforced */
        pr_out(c, NX_B, PRE, 1, KB, KA, 0, E_GOOD);             /* REGISTRATIONS PREEMPTED for A */
        lu_reset(c, NX_B, E_GOOD);                              /* and a reset on top */
        pr_in(c, NX_A, RK, 8192, E_UA_RESET);                   /* the reset's, first ... */
        pr_in(c, NX_A, RK, 8192, E_KEYS(1, KB));                /* ... and only: 2A/05 was cleared with it */
        pr_in(c, NX_A, RK, 8192, E_KEYS(1, KB));
        pr_in(c, NX_B, RFS, 8192, E_UA_RESET);
        pr_in(c, NX_B, RFS, 8192, E_LENGTHS(84, 76, KB));       /* B holds WE, alone */
}

/*
 * A target restart (TPG disabled and enabled in configfs) between
 * registrations, with a unit attention pending: LIO queues no unit
 * attention for the sessions' return (same initiator names and ISIDs: the
 * same I_T nexuses); a pending one (2A/05) survives the restart and is
 * reported once after it; the PR state, which lives in the LU, is kept.
 */
static void sc_target_restart(Ctx *c) {
        pr_out(c, NX_A, REG, 0, 0, KA, 0, E_GOOD);
        pr_out(c, NX_A, RES, 1, KA, 0, 0, E_GOOD);
        target_restart(c, E_GOOD);
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_GOOD);              /* no unit attention */
        pr_out(c, NX_B, REG, 0, 0, KB, 0, E_CONFLICT);          /* registered now: key 0 is wrong */
        pr_in(c, NX_A, RK, 8192, E_KEYS(2, KA));
        pr_in(c, NX_A, RK, 8192, E_KEYS(2, KA));
        pr_out(c, NX_B, PRE, 1, KB, KA, 0, E_GOOD);             /* REGISTRATIONS PREEMPTED pending for A */
        target_restart(c, E_GOOD);
        pr_in(c, NX_A, RR, 8192, E_UA(0x05));                   /* survived the restart */
        pr_in(c, NX_A, RR, 8192, E_HOLDER(KB, 1));
        pr_in(c, NX_A, RR, 8192, E_HOLDER(KB, 1));
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KB, 1));
        pr_out(c, NX_A, REG, 0, 0, KA2, 0, E_GOOD);
        pr_in(c, NX_B, RFS, 8192, E_LENGTHS(160, 152, KB));
        io(c, NX_A, true, E_CONFLICT);
}

/* ---- large replies (issue 12, "Also") --------------------------------------- */

/*
 * More registrations than 8192 bytes of READ KEYS hold (1 + N_EXTRA + 1
 * keys, 8 bytes each): initiator names with an ACL in the iSCSI TPG but no
 * session, registered by A with SPEC_I_PT (one REGISTER, a TransportID per
 * name).  Its parameter list (about 40 KB) is more than a helper carries,
 * so that REGISTER goes straight to the device on every path.
 */
#define N_EXTRA 1100u
#define N_REG (N_EXTRA + 2u)             /* with A and B */

static void extra_acl_name(unsigned i, char *buf, size_t size) {
        snprintf(buf, size, "iqn.2003-01.org.prh.rig:r%04u", i);
}

/* Map LUN 0 into the extra initiators' ACLs, creating them.  Never
 * undone (see setup_large_replies()). */
static void extra_acls_map(Ctx *c) {
        char acl[512], lun[600], target[512], name[64];

        snprintf(target, sizeof target, "%s/lun/lun_0", c->iscsi_tpg);
        for (unsigned i = 0; i < N_EXTRA; i++) {
                extra_acl_name(i, name, sizeof name);
                snprintf(acl, sizeof acl, "%s/acls/%s", c->iscsi_tpg, name);
                snprintf(lun, sizeof lun, "%s/lun_0", acl);
                if (mkdir(acl, 0755) < 0 && errno != EEXIST)
                        die("mkdir %s: %m", acl);
                configfs_link(lun, "lun", target);
        }
}

/* REGISTER with SPEC_I_PT from nexus nx: itself and the first n extra
 * initiators with key.  Not a step: set-up.  0 or the reply's sense as
 * KEY<<16 | ASC<<8 | ASCQ (or -errno). */
static int register_spec_i_pt(Ctx *c, int nx, uint64_t key, unsigned first, unsigned n) {
        /* format 01b, "iqn.2003-01.org.prh.rig:rNNNN,i,0x<ISID>" + NUL, padded
         * to 48: LIO's enforce_pr_isids (on by default) refuses the name
         * alone (format 00b) with 05/26/00 */
        size_t tid_len = 4 + 48;
        size_t len = 28 + n * tid_len;
        uint8_t *param = calloc(1, len);
        uint8_t cdb[10] = { 0x5f, REG };
        Reply r = { 0 };

        if (!param)
                die("out of memory");
        pr_put_be32(cdb + 5, (uint32_t) len);
        pr_put_be64(param + 8, key);
        param[20] = 0x08;               /* SPEC_I_PT */
        pr_put_be32(param + 24, (uint32_t) (n * tid_len));
        for (unsigned i = 0; i < n; i++) {
                uint8_t *t = param + 28 + i * tid_len;
                char acl[64], name[96];
                extra_acl_name(first + i, acl, sizeof acl);
                snprintf(name, sizeof name, "%s,i,0x%012x", acl, first + i + 1);
                if (strlen(name) + 1 > tid_len - 4)
                        die("TransportID too long");
                t[0] = 0x45;            /* iSCSI, format 01b: name and ISID */
                pr_put_be16(t + 2, (uint16_t) (tid_len - 4));
                memcpy(t + 4, name, strlen(name));
        }
        sgio(c->fd[nx], cdb, 10, SG_DXFER_TO_DEV, param, len, &r);
        free(param);
        printf("pr-matrix: set-up: %c REGISTER SPEC_I_PT with %u TransportIDs (%zu bytes): err %d status 0x%02x "
               "sense %x/%02x/%02x\n", nx_name[nx], n, len, r.err, r.status, r.sense[2] & 0xf, r.sense[12],
               r.sense[13]);
        if (r.err < 0)
                return r.err;
        return r.status == 0 ? 0 : (r.sense[2] & 0xf) << 16 | r.sense[12] << 8 | r.sense[13];
}

/* PR OUT straight to the device, as set-up (not a step). */
static void setup_pr_out(Ctx *c, int nx, uint8_t sa, uint8_t type, uint64_t key) {
        uint8_t cdb[10] = { 0x5f, sa, type }, param[24] = { 0 };
        Reply r = { 0 };
        pr_put_be32(cdb + 5, sizeof param);
        pr_put_be64(param + 8 * (sa == REG), key);
        sgio(c->fd[nx], cdb, 10, SG_DXFER_TO_DEV, param, sizeof param, &r);
        if (r.err < 0 || r.status != 0)
                die("set-up: %s from %c failed: err %d status 0x%02x", out_name(sa), nx_name[nx], r.err, r.status);
}

/* PR IN with an allocation length above what a helper carries: the direct
 * paths only (what the device itself answers). */
static void pr_in_direct(Ctx *c, int nx, uint8_t sa, uint16_t alloc, Expect e) {
        Step *s = step_begin(c, "%c %s alloc=%u (direct paths only)", nx_name[nx], in_name(sa), alloc);
        uint8_t cdb[10] = { 0x5e, sa };
        pr_put_be16(cdb + 7, alloc);
        s->expect = e;
        s->direct_only = true;
        if (c->paths[c->path].kind != PATH_DIRECT) {
                memset(&s->reply[c->path], 0, sizeof s->reply[c->path]);
                s->reply[c->path].skipped = true;
                return;
        }
        execute(c, nx, false, cdb, false, NULL, 0, alloc, &s->reply[c->path]);
}

/*
 * The set-up, once for all paths (PR IN changes nothing, so every path
 * reads the same LU state): LUN 0 mapped into N_EXTRA more ACLs, A
 * registers itself and all but the first of them with SPEC_I_PT, B itself
 * and the first, B reserves (Write Exclusive).  Then N_REG registrations,
 * in LIO's list in this order: A, r0001..r1099 (KA), B, r0000 (KB).
 * Not undone: in Debian 12's 6.1, unmapping a LUN from an ACL that
 * SPEC_I_PT registered hung in core_disable_device_list_for_node() (a
 * reference to the mapping is left behind even after CLEAR), so this
 * scenario runs last and leaves the LU as it is.
 */
static void setup_large_replies(Ctx *c) {
        double t0 = pr_now();
        extra_acls_map(c);
        double t1 = pr_now();
        int ra = register_spec_i_pt(c, NX_A, KA, 1, N_EXTRA - 1);
        int rb = register_spec_i_pt(c, NX_B, KB, 0, 1);
        if (ra != 0 || rb != 0)
                die("set-up of large-replies failed (above)");
        setup_pr_out(c, NX_B, RES, 1, KB);
        printf("pr-matrix: set-up: %u ACLs mapped in %.1f s, %u registrations made in %.1f s\n", N_EXTRA, t1 - t0,
               N_REG, pr_now() - t1);
}

/*
 * The lengths, from the registrations above (docs/faults.md#large-replies):
 *
 * READ KEYS: ADDITIONAL LENGTH 8 * N_REG = 8816, whatever the allocation
 * length (SPC), and exactly the allocation length of data when that is
 * short of 8 + 8816 (LIO sets an overflow residual, which Linux's iSCSI
 * initiator does not report as resid), on every path.
 *
 * READ FULL STATUS: each descriptor is 24 + 52 bytes (an iSCSI TransportID
 * of format 01b, "iqn.2003-01.org.prh.rig:r0000,i,0x<ISID>": 48 bytes with
 * its NUL and padding, + 4).  LIO writes only whole descriptors, and its
 * ADDITIONAL LENGTH counts only those (SPC wants all of them: a LIO
 * deviation), so data = 8 + 76 * n for the n that fit.
 *
 * READ FULL STATUS with allocation length 8192 Oopses Debian 12's LIO
 * (6.1) with these registrations: a page fault writing just past the
 * data buffer in target_get_pr_transport_id() (sprintf), the iSCSI
 * connection's threads die with it and the guest hangs (what stopped the
 * first runs of this scenario).  It fits a bounds check that leaves out a
 * descriptor's fixed 24 bytes and the header's 8: an allocation length
 * whose remainder after 8 + 76 * n is 44..75 (8192: 52) is written past
 * by up to 32 bytes, into the next page once the buffer spans pages.  So
 * READ FULL STATUS is read here only with allocation lengths whose
 * remainder is below 44: 8140 (107 whole descriptors), 8183 (remainder
 * 43, the largest such below 8192), 1000 and 65535.
 */
#define RK_ADD (8u * N_REG)
#define RFS_DESC 76u
#define RFS_FIT(alloc) (((alloc) - 8u) / RFS_DESC * RFS_DESC)

static void sc_large_replies(Ctx *c) {
        pr_in(c, NX_A, RK, 8192, E_LENGTHS(8192, RK_ADD, KA));
        pr_in(c, NX_B, RK, 8192, E_LENGTHS(8192, RK_ADD, KA));
        pr_in(c, NX_A, RK, 8191, E_LENGTHS(8191, RK_ADD, KA));
        pr_in(c, NX_A, RK, 4500, E_LENGTHS(4500, RK_ADD, KA));
        pr_in(c, NX_A, RFS, 8140, E_LENGTHS(8 + RFS_FIT(8140), RFS_FIT(8140), KA));
        pr_in(c, NX_B, RFS, 8183, E_LENGTHS(8 + RFS_FIT(8183), RFS_FIT(8183), KA));
        pr_in(c, NX_A, RFS, 1000, E_LENGTHS(8 + RFS_FIT(1000), RFS_FIT(1000), KA));
        pr_in(c, NX_B, RR, 8192, E_HOLDER(KB, 1));
        /* above what a helper carries: what the device itself answers */
        pr_in_direct(c, NX_A, RK, 65535, E_LENGTHS(8 + RK_ADD, RK_ADD, KA));
        pr_in_direct(c, NX_A, RFS, 65535, E_LENGTHS(8 + RFS_FIT(65535), RFS_FIT(65535), KA));
}

static const Scenario scenarios[] = {
        { "register", "REGISTER: new key, wrong current key, key change, APTPL, unregister", sc_register, FABRIC_LOOP },
        { "register-ignore", "REGISTER AND IGNORE EXISTING KEY", sc_register_ignore, FABRIC_LOOP },
        { "reserve-we", "RESERVE Write Exclusive; WRITE/READ from both nexuses; RELEASE", sc_reserve_we, FABRIC_LOOP },
        { "reserve-ea", "RESERVE Exclusive Access", sc_reserve_ea, FABRIC_LOOP },
        { "reserve-we-ro", "RESERVE Write Exclusive - Registrants Only", sc_reserve_we_ro, FABRIC_LOOP },
        { "reserve-ea-ro", "RESERVE Exclusive Access - Registrants Only", sc_reserve_ea_ro, FABRIC_LOOP },
        { "reserve-we-ar", "RESERVE Write Exclusive - All Registrants", sc_reserve_we_ar, FABRIC_LOOP },
        { "reserve-ea-ar", "RESERVE Exclusive Access - All Registrants", sc_reserve_ea_ar, FABRIC_LOOP },
        { "read-keys", "READ KEYS, also with short allocation lengths", sc_read_keys, FABRIC_LOOP },
        { "read-reservation", "READ RESERVATION, none and held, short allocation", sc_read_reservation, FABRIC_LOOP },
        { "report-capabilities", "REPORT CAPABILITIES before and after APTPL", sc_report_capabilities, FABRIC_LOOP },
        { "read-full-status", "READ FULL STATUS with transport IDs, truncated", sc_read_full_status, FABRIC_LOOP },
        { "release", "RELEASE: wrong key, wrong type, by a non-holder, unit attentions", sc_release, FABRIC_LOOP },
        { "clear", "CLEAR and the unit attention it leaves", sc_clear, FABRIC_LOOP },
        { "preempt", "PREEMPT the holder and a registrant", sc_preempt, FABRIC_LOOP },
        { "preempt-abort", "PREEMPT AND ABORT refusals (success: over iSCSI, below)", sc_preempt_abort, FABRIC_LOOP },
        { "register-move", "REGISTER AND MOVE to the other nexus (SAS transport ID)", sc_register_move, FABRIC_LOOP },
        { "conflict-wrong-key", "RESERVE/REGISTER/CLEAR/PREEMPT with a wrong key", sc_wrong_key, FABRIC_LOOP },
        { "conflict-non-registrant", "RESERVE and friends from a non-registrant", sc_non_registrant, FABRIC_LOOP },
        { "conflict-write", "WRITE from the other nexus under Write Exclusive", sc_write_conflict, FABRIC_LOOP },
        { "read-only-fd", "PR OUT with an O_RDONLY fd (helpers only)", sc_read_only_fd, FABRIC_LOOP },
        /* PREEMPT AND ABORT that succeeds deadlocks LIO through tcm_loop in 6.1 */
        { "preempt-abort-holder", "PREEMPT AND ABORT the holder, then a registrant", sc_preempt_abort_holder,
          FABRIC_ISCSI },
        { "preempt-abort-registrants", "PREEMPT AND ABORT with nothing reserved, and SARK 0 under WE_AR",
          sc_preempt_abort_registrants, FABRIC_ISCSI },
        { "lu-reset", "LOGICAL UNIT RESET between registrations: unit attentions, PR state kept", sc_lu_reset,
          FABRIC_ISCSI },
        { "target-restart", "target restart (TPG disable/enable) between registrations", sc_target_restart,
          FABRIC_ISCSI },
        /* last: leaves its LU behind (see setup_large_replies()) */
        { "large-replies", "READ KEYS / READ FULL STATUS over 8192 bytes (1102 registrations)", sc_large_replies,
          FABRIC_ISCSI, setup_large_replies },
};

/* ---- comparing and reporting ---------------------------------------------- */

static void reply_summary(const Reply *r, char *buf, size_t size) {
        if (r->skipped)
                snprintf(buf, size, "-");
        else if (r->err < 0)
                snprintf(buf, size, "ERR %s", strerror(-r->err));
        else if (r->status == 0x00)
                snprintf(buf, size, r->data_len ? "GOOD %zuB" : "GOOD", r->data_len);
        else if (r->status == 0x18)
                snprintf(buf, size, "RES CONFLICT");
        else if (r->status == 0x02) {
                uint8_t key, asc, ascq;
                if ((r->sense[0] & 0x7f) >= 0x72) {
                        key = r->sense[1] & 0xf;
                        asc = r->sense[2];
                        ascq = r->sense[3];
                } else {
                        key = r->sense[2] & 0xf;
                        asc = r->sense[12];
                        ascq = r->sense[13];
                }
                snprintf(buf, size, "CHECK %x/%02x/%02x", key, asc, ascq);
        } else
                snprintf(buf, size, "status 0x%02x", r->status);
}

static bool reply_equal(const Reply *a, const Reply *b) {
        if (a->skipped || b->skipped)
                return true;
        return a->err == b->err && a->status == b->status && memcmp(a->sense, b->sense, SENSE_LEN) == 0 &&
               a->data_len == b->data_len && memcmp(a->data, b->data, a->data_len) == 0;
}

static bool expect_met(const Expect *e, const Reply *r) {
        if (r->skipped)
                return true;
        if (r->err < 0)
                return false;
        if (e->status >= 0 && r->status != e->status)
                return false;
        if (e->status == 0x02) {
                bool desc = (r->sense[0] & 0x7f) >= 0x72;
                int key = desc ? r->sense[1] & 0xf : r->sense[2] & 0xf;
                int asc = desc ? r->sense[2] : r->sense[12];
                int ascq = desc ? r->sense[3] : r->sense[13];
                if ((e->key >= 0 && key != e->key) || (e->asc >= 0 && asc != e->asc) ||
                    (e->ascq >= 0 && ascq != e->ascq))
                        return false;
        }
        if (e->data != DATA_UNCHECKED) {
                /* PR IN header: PRgeneration, additional length; then a key
                 * per registrant (READ KEYS) or the holder's descriptor of 16
                 * bytes, type in byte 21 (READ RESERVATION) */
                size_t per = e->data == DATA_KEYS ? 8 : 16;
                if (r->data_len < 8 + per * e->n_keys || pr_get_be32(r->data + 4) != per * e->n_keys)
                        return false;
                if (e->n_keys > 0 && pr_get_be64(r->data + 8) != e->first_key)
                        return false;
                if (e->data == DATA_HOLDER && e->n_keys > 0 && (r->data[21] & 0x0f) != e->type)
                        return false;
        }
        if (e->lengths) {
                /* READ KEYS' first key is at byte 8; READ FULL STATUS's first
                 * descriptor starts with its key, also at byte 8 */
                if (r->data_len != e->data_len || r->data_len < 16 || pr_get_be32(r->data + 4) != e->add_len ||
                    pr_get_be64(r->data + 8) != e->first_key)
                        return false;
        }
        return true;
}

/*
 * The comparison must be able to fail: replies that differ in the status,
 * any one sense byte, the data length or any data byte are unequal.
 * Checked at start-up, so a comparator broken by an edit fails the rig.
 */
static void comparator_selfcheck(void) {
        static Reply a, b;
        a.status = 0x02;
        a.sense[95] = 1;
        a.data_len = 24;
        a.data[23] = 7;
        b = a;
        if (!reply_equal(&a, &b))
                die("self-check: equal replies compare unequal");
        b.status = 0x18;
        bool s = reply_equal(&a, &b);
        b = a;
        b.sense[95] = 0;
        bool se = reply_equal(&a, &b);
        b = a;
        b.data_len = 23;
        bool l = reply_equal(&a, &b);
        b = a;
        b.data[23] = 8;
        bool d = reply_equal(&a, &b);
        b = a;
        b.err = -ECONNRESET;
        bool e = reply_equal(&a, &b);
        if (s || se || l || d || e)
                die("self-check: the comparator misses a difference");
        Expect x = E_CHECK(0x5, 0x20, 0x00);
        a.sense[0] = 0x70;
        a.sense[2] = 0x5;
        a.sense[12] = 0x24;
        if (expect_met(&x, &a))
                die("self-check: the expectation check misses a wrong ASC");
        /* READ KEYS with KA and KB, READ RESERVATION held by KB (WE) */
        memset(&a, 0, sizeof a);
        a.data_len = 24;
        pr_put_be32(a.data + 4, 16);
        pr_put_be64(a.data + 8, KA);
        pr_put_be64(a.data + 16, KB);
        b = a;
        pr_put_be32(b.data + 4, 16);
        pr_put_be64(b.data + 8, KB);
        b.data[21] = 0x01;
        Expect keys_ok = E_KEYS(2, KA), holder_ok = E_HOLDER(KB, 1);
        if (!expect_met(&keys_ok, &a) || !expect_met(&holder_ok, &b))
                die("self-check: the data check misses expected data");
        Expect wrong[] = { E_KEYS(1, KA), E_KEYS(2, KB), E_HOLDER(KA, 1), E_HOLDER(KB, 3), E_NO_HOLDER };
        for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
                if (expect_met(&wrong[i], wrong[i].data == DATA_KEYS ? &a : &b))
                        die("self-check: the data check misses a wrong key, count or type (%zu)", i);
        Expect len_ok = E_LENGTHS(24, 16, KA);
        Expect len_wrong[] = { E_LENGTHS(23, 16, KA), E_LENGTHS(24, 24, KA), E_LENGTHS(24, 16, KB) };
        if (!expect_met(&len_ok, &a))
                die("self-check: the length check misses expected lengths");
        for (size_t i = 0; i < sizeof len_wrong / sizeof len_wrong[0]; i++)
                if (expect_met(&len_wrong[i], &a))
                        die("self-check: the length check misses a wrong length or key (%zu)", i);
}

static void hex(FILE *f, const char *prefix, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 16) {
                fprintf(f, "%s%04zx:", prefix, i);
                for (size_t j = i; j < i + 16 && j < n; j++)
                        fprintf(f, " %02x", p[j]);
                fputc('\n', f);
        }
}

static size_t sense_used(const uint8_t *s) {
        size_t n = SENSE_LEN;
        while (n > 0 && s[n - 1] == 0)
                n--;
        return n;
}

static void reply_dump(FILE *f, const char *path, const Reply *r) {
        char sum[64];
        reply_summary(r, sum, sizeof sum);
        fprintf(f, "    %-17s %s", path, sum);
        if (!r->skipped)
                fprintf(f, " in %.1f ms", r->secs * 1e3);
        if (r->host_status)
                fprintf(f, " (SG_IO host_status 0x%02x)", r->host_status);
        fputc('\n', f);
        if (r->skipped || r->err < 0)
                return;
        size_t n = sense_used(r->sense);
        if (n) {
                fprintf(f, "      sense (%zu of 96 bytes non-zero-trailing):\n", n);
                hex(f, "        ", r->sense, n);
        }
        if (r->data_len) {
                fprintf(f, "      data (%zu bytes):\n", r->data_len);
                hex(f, "        ", r->data, r->data_len);
        }
}

static void report_scenario(Ctx *c, const Scenario *sc, double secs) {
        printf("\n%s: %s  (%.1f s)\n", sc->name, sc->what, secs);
        printf("  %-58s", "step");
        for (int p = 0; p < c->n_paths; p++)
                printf(" %-17s", c->paths[p].name);
        printf(" verdict\n");
        if (c->log)
                fprintf(c->log, "\n=== %s: %s\n", sc->name, sc->what);

        for (int i = 0; i < c->n_steps; i++) {
                Step *s = &c->steps[i];
                bool equal = true, met = true;
                const Reply *ref = NULL;
                bool observed_diff = false;
                for (int p = 0; p < c->n_paths; p++) {
                        const Reply *r = &s->reply[p];
                        if (r->skipped || c->paths[p].observed)
                                continue;
                        if (r->err < 0)
                                c->n_errors++;
                        if (!expect_met(&s->expect, r))
                                met = false;
                        if (!ref)
                                ref = r;
                        else if (!reply_equal(ref, r))
                                equal = false;
                }
                for (int p = 0; p < c->n_paths; p++)
                        if (c->paths[p].observed && ref && !s->reply[p].skipped &&
                            (!reply_equal(ref, &s->reply[p]) || !expect_met(&s->expect, &s->reply[p])))
                                observed_diff = true;
                if (observed_diff)
                        c->n_observed_diff++;
                c->n_compared++;
                if (!equal)
                        c->n_mismatch++;
                if (!met)
                        c->n_expect_fail++;
                printf("  %-58.58s", s->label);
                for (int p = 0; p < c->n_paths; p++) {
                        char sum[64];
                        reply_summary(&s->reply[p], sum, sizeof sum);
                        printf(" %-17s", sum);
                }
                printf(" %s%s%s\n", equal ? "equal" : "MISMATCH", met ? "" : " UNEXPECTED",
                       observed_diff ? " (observed path differs)" : "");
                if (c->log || !equal || !met || observed_diff) {
                        FILE *f = c->log ? c->log : stdout;
                        fprintf(f, "  step %d: %s%s%s%s\n", i + 1, s->label, equal ? "" : "  [MISMATCH]",
                                met ? "" : "  [UNEXPECTED]", observed_diff ? "  [OBSERVED PATH DIFFERS]" : "");
                        for (int p = 0; p < c->n_paths; p++)
                                reply_dump(f, c->paths[p].name, &s->reply[p]);
                        if (c->log && (!equal || !met || observed_diff))
                                for (int p = 0; p < c->n_paths; p++)
                                        reply_dump(stdout, c->paths[p].name, &s->reply[p]);
                }
        }
        fflush(stdout);
        if (c->log)
                fflush(c->log);
}

static void run_scenario(Ctx *c, const Scenario *sc) {
        double t0 = pr_now();
        c->n_steps = 0;
        if (c->lu_kept)
                die("scenario %s after one that keeps its LU", sc->name);
        if (sc->setup) {
                lu_destroy(c);
                lu_create(c);
                sc->setup(c);
                c->lu_kept = true;
        }
        for (c->path = 0; c->path < c->n_paths; c->path++) {
                if (!sc->setup) {
                        lu_destroy(c);
                        lu_create(c);
                }
                c->cur = 0;
                sc->run(c);
                if (c->cur != c->n_steps)
                        die("scenario %s ran %d steps on %s, %d before", sc->name, c->cur,
                            c->paths[c->path].name, c->n_steps);
        }
        close_devs(c);
        report_scenario(c, sc, pr_now() - t0);
}

static void usage(void) {
        fputs("usage: pr-matrix [--configfs DIR] [--port-a WWN] [--port-b WWN] [--lu-file FILE]\n"
              "                 [--iscsi TPG-DIR --initiator-a IQN --initiator-b IQN] [--backstore fileio_N/diskN]\n"
              "                 [--direct-sg] [--helper NAME=SOCKET]... [--helper-sg NAME=SOCKET]...\n"
              "                 [--observe PATH]... [--only NAME[,NAME...]] [--log FILE] [--list]\n"
              "\n"
              "Without --iscsi: the LU on two tcm_loop ports (--port-a/-b) and the scenarios for tcm_loop.\n"
              "With --iscsi: the LU behind LUN 0 of that iSCSI TPG (configfs), reached through the\n"
              "sessions of the two initiator names, and the scenarios for iSCSI.\n"
              "--direct-sg and --helper-sg add paths that send the disks' sg nodes (/dev/sgN) instead of\n"
              "their block nodes.  --observe PATH: that path's replies are shown and differences\n"
              "counted, but fail nothing (the reference on sg nodes: its 1 ms SG_IO timeout).\n"
              "--list prints the scenarios the other options select, and runs nothing.\n",
              stderr);
        exit(2);
}

static const char *fabric_name(Fabric f) {
        return f == FABRIC_ISCSI ? "iscsi" : "loop";
}

/* Is scenario sc among the comma-separated names in only (NULL: all)? */
static bool name_listed(const char *only, const char *name) {
        size_t l = strlen(name);
        for (const char *p = only; p && *p;) {
                if (strncmp(p, name, l) == 0 && (p[l] == ',' || p[l] == 0))
                        return true;
                p = strchr(p, ',');
                if (p)
                        p++;
        }
        return false;
}

static bool scenario_selected(const Scenario *sc, Fabric fabric, const char *only) {
        return sc->fabric == fabric && (!only || name_listed(only, sc->name));
}

/* Every name in only must be a scenario (of either fabric): a typo must not
 * select nothing and pass. */
static void check_only(const char *only) {
        char name[64];
        for (const char *p = only; p && *p;) {
                size_t l = strcspn(p, ",");
                snprintf(name, sizeof name, "%.*s", (int) l, p);
                bool known = false;
                for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
                        if (strcmp(scenarios[i].name, name) == 0)
                                known = true;
                if (!known)
                        die("--only: no scenario named '%s' (--list shows them)", name);
                p += l;
                if (*p)
                        p++;
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "configfs", required_argument, NULL, 'c' },
                { "port-a", required_argument, NULL, 'a' },
                { "port-b", required_argument, NULL, 'b' },
                { "lu-file", required_argument, NULL, 'f' },
                { "helper", required_argument, NULL, 'H' },
                { "only", required_argument, NULL, 'o' },
                { "log", required_argument, NULL, 'l' },
                { "list", no_argument, NULL, 'L' },
                { "iscsi", required_argument, NULL, 'I' },
                { "initiator-a", required_argument, NULL, 'A' },
                { "initiator-b", required_argument, NULL, 'B' },
                { "backstore", required_argument, NULL, 's' },
                { "helper-sg", required_argument, NULL, 'G' },
                { "direct-sg", no_argument, NULL, 'D' },
                { "observe", required_argument, NULL, 'O' },
                {},
        };
        static Ctx ctx = {
                .cfs = "/sys/kernel/config/target",
                .fabric = FABRIC_LOOP,
                .backstore = "fileio_0/disk0",
                .port = { "naa.5001405000000a01", "naa.5001405000000a02" },
                .lu_file = "/run/prh-lu0.img",
                .fd = { -1, -1 },
                .fd_ro = -1,
                .sg = { -1, -1 },
                .sg_ro = -1,
        };
        Ctx *c = &ctx;
        const char *only = NULL, *log_path = NULL;
        bool list = false;
        int o;

        setvbuf(stdout, NULL, _IOLBF, 0);
        c->paths[0] = (Path) { .name = "direct", .kind = PATH_DIRECT };
        c->n_paths = 1;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (o) {
                case 'c': c->cfs = optarg; break;
                case 'a': c->port[0] = optarg; break;
                case 'b': c->port[1] = optarg; break;
                case 'f': c->lu_file = optarg; break;
                case 'o': only = optarg; break;
                case 'l': log_path = optarg; break;
                case 'L': list = true; break;
                case 'I':
                        c->fabric = FABRIC_ISCSI;
                        c->iscsi_tpg = optarg;
                        break;
                case 'A': c->initiator[0] = optarg; break;
                case 'B': c->initiator[1] = optarg; break;
                case 's': c->backstore = optarg; break;
                case 'O': {
                        bool found = false;
                        for (int p = 0; p < c->n_paths; p++)
                                if (strcmp(c->paths[p].name, optarg) == 0) {
                                        c->paths[p].observed = true;
                                        found = true;
                                }
                        if (!found)
                                die("--observe %s: no such path (give it after the path)", optarg);
                        break;
                }
                case 'D':
                        if (c->n_paths >= MAX_PATHS)
                                usage();
                        c->paths[c->n_paths++] = (Path) { .name = "direct-sg", .kind = PATH_DIRECT, .sg = true };
                        break;
                case 'G':
                case 'H': {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || c->n_paths >= MAX_PATHS)
                                usage();
                        Path *p = &c->paths[c->n_paths++];
                        snprintf(p->name, sizeof p->name, "%.*s", (int) (eq - optarg), optarg);
                        p->kind = PATH_HELPER;
                        p->sg = o == 'G';
                        p->socket = eq + 1;
                        int r = prh_client_new(p->socket, &p->client);
                        if (r < 0)
                                die("prh_client_new(%s): %s", p->socket, prh_strerror(r));
                        /* no endless waits in a test: a wedged helper fails the step */
                        prh_client_set_timeouts(p->client, 5000, 30000);
                        break;
                }
                default:
                        usage();
                }
        }
        if (optind != argc)
                usage();
        if (c->fabric == FABRIC_ISCSI && (!c->initiator[0] || !c->initiator[1]))
                die("--iscsi needs --initiator-a and --initiator-b");
        check_only(only);
        if (list) {
                for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
                        if (scenario_selected(&scenarios[i], c->fabric, only))
                                printf("%-26s %-6s %s\n", scenarios[i].name, fabric_name(c->fabric),
                                       scenarios[i].what);
                return 0;
        }
        if (log_path) {
                c->log = fopen(log_path, "we");
                if (!c->log)
                        die("cannot open %s: %m", log_path);
                /* block-buffered, flushed after each scenario: line by line,
                 * large-replies' hex dumps (about 30000 lines) took 20 s of
                 * writes over 9p in the emulated guest */
                setvbuf(c->log, NULL, _IOFBF, 1 << 20);
        }

        printf("pr-matrix: fabric %s, LU %s, %d paths:", fabric_name(c->fabric), c->backstore, c->n_paths);
        for (int p = 0; p < c->n_paths; p++)
                printf(" %s%s%s", c->paths[p].name, c->paths[p].socket ? "=" : "",
                       c->paths[p].socket ? c->paths[p].socket : "");
        printf("\n");

        comparator_selfcheck();
        double t0 = pr_now();
        int n_run = 0;
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
                if (!scenario_selected(&scenarios[i], c->fabric, only))
                        continue;
                run_scenario(c, &scenarios[i]);
                n_run++;
        }
        if (!c->lu_kept) {
                lu_destroy(c);
                lu_create(c);   /* leave a usable LU behind for whatever runs next */
        }
        close_devs(c);

        for (int p = 0; p < c->n_paths; p++)
                if (c->paths[p].observed)
                        printf("\npr-matrix: observed path %s differed in %d of %d steps (fails nothing)\n",
                               c->paths[p].name, c->n_observed_diff, c->n_compared);
        printf("\npr-matrix: %d scenarios, %d steps, %d paths, %.1f s: %d mismatches, %d unexpected outcomes, "
               "%d call errors\n",
               n_run, c->n_compared, c->n_paths, pr_now() - t0, c->n_mismatch, c->n_expect_fail, c->n_errors);
        for (int p = 0; p < c->n_paths; p++)
                prh_client_free(c->paths[p].client);
        if (c->log)
                fclose(c->log);
        if (n_run == 0) {
                fprintf(stderr, "pr-matrix: no %s scenario matched '%s'\n", fabric_name(c->fabric), only ? only : "");
                return 1;
        }
        return c->n_mismatch || c->n_expect_fail || c->n_errors ? 1 : 0;
}
