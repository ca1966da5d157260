/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent reservations on dm-multipath maps through libmpathpersist
 * (docs/protocol.md, "Multipath"; docs/multipath.md), with the library loaded by dlopen()
 * so that one binary serves hosts with and without multipath-tools.
 *
 * Why libmpathpersist_init() and not the reference's mpath_lib_init(): the
 * latter only works when the executable exports get_multipath_config(),
 * udev and logsink to interpose the library's own; a dlopen()ed library
 * never sees our symbols, and its own get_multipath_config() then returns
 * NULL.  libmpathpersist_init() sets up libmultipath's internal config and
 * udev itself (and reads /etc/multipath.conf once: a changed
 * reservation_key takes effect when prhd restarts).
 *
 * Invariants:
 *  - libmpathpersist is not thread-safe (global config and verbosity,
 *    static path vectors): every library call holds Mpath.lock.  Worker
 *    threads run these calls, so a slow one (it touches every path, 2 s
 *    SG_IO timeout per path and retries) delays other multipath requests
 *    but never the event loop or plain SCSI devices.
 *  - Detection is per request and never fatal: ENXIO from DM_TABLE_STATUS
 *    means "not a device-mapper device"; every other error goes back to the
 *    caller, which answers that request only.
 *  - Only one Mpath exists per process (the library has process-wide
 *    state, and re-initialising it after libmpathpersist_exit() is not
 *    supported); the library stays mapped after mpath_free(), because
 *    libmultipath's dependencies (liburcu) are not safe to unload.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "mpath-translate.h"
#include "mpath.h"
#include "sgio.h"
#include "wire.h"

#define MPATH_LIBRARY "libmpathpersist.so.0"
#define MPATH_DM_CONTROL "/dev/mapper/control"
#define MPATH_DM_MAJOR 4
/* The reference's value: the library then asks every PR IN for 8192 bytes. */
#define MPATH_MX_ALLOC_LEN 8192u
/* Data area for DM_TABLE_STATUS: room for the target spec plus a status line. */
#define MPATH_DM_DATA_SIZE 1024u
/* Maps we have already explained the reservation_key problem for. */
#define MPATH_MAX_WARNED 16

#define PR_IN_CDB_LEN 10u
#define TUR_CDB_LEN 6u

typedef int (*LibInitFn)(void);
typedef int (*LibExitFn)(void);
typedef int (*PrInFn)(int fd, int rq_servact, struct prin_resp *resp, int noisy, int verbose);
typedef int (*PrOutFn)(int fd, int rq_servact, int rq_scope, unsigned int rq_type,
                       struct prout_param_descriptor *paramp, int noisy, int verbose);

struct Mpath {
        int control_fd;
        int verbose;
        void *dl;
        LibExitFn lib_exit;
        PrInFn pr_in;
        PrOutFn pr_out;
        pthread_mutex_t lock;           /* every library call; warned[] */
        char warned[MPATH_MAX_WARNED][DM_NAME_LEN];
        unsigned n_warned;
};

/* The library's global state belongs to at most one Mpath per process. */
static pthread_mutex_t mpath_global_lock = PTHREAD_MUTEX_INITIALIZER;
static bool mpath_library_used;

static int dm_open_control(void) {
        struct dm_ioctl v = {
                .version = { MPATH_DM_MAJOR, 0, 0 },
                .data_size = sizeof v,
                .data_start = sizeof v,
        };
        _cleanup_close_ int fd = open(MPATH_DM_CONTROL, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return log_debug_errno(negative_errno(), "Cannot open %s: %m", MPATH_DM_CONTROL);
        if (ioctl(fd, DM_VERSION, &v) < 0)
                return log_debug_errno(negative_errno(), "DM_VERSION on %s failed: %m", MPATH_DM_CONTROL);
        if (v.version[0] != MPATH_DM_MAJOR)
                return log_debug_errno(-EPROTONOSUPPORT, "Unsupported device-mapper interface %u.%u.%u.",
                                       v.version[0], v.version[1], v.version[2]);
        return TAKE_FD(fd);
}

/* The kernel's "huge" dev_t encoding that struct dm_ioctl.dev carries. */
static uint64_t dm_encode_dev(dev_t d) {
        uint64_t maj = major(d), min = minor(d);

        return (min & 0xff) | (maj << 8) | ((min & ~(uint64_t) 0xff) << 12);
}

/*
 * Ask device-mapper for the table status of dev.  Returns 1 if its first
 * target is "multipath" (the reference's test), 0 if not or if dev is not
 * a device-mapper device (ENXIO), -errno otherwise.  On success the map's
 * name is copied to ret_name (DM_NAME_LEN bytes) when given.
 */
static int dm_query(Mpath *m, dev_t dev, char *ret_name) {
        union {
                struct dm_ioctl io;
                uint8_t bytes[sizeof(struct dm_ioctl) + MPATH_DM_DATA_SIZE];
        } u;
        const struct dm_target_spec *spec;

        memset(&u, 0, sizeof u);
        u.io.version[0] = MPATH_DM_MAJOR;
        u.io.data_size = sizeof u;
        u.io.data_start = sizeof u.io;
        /* As the reference: never make the kernel flush queued I/O to report status. */
        u.io.flags = DM_NOFLUSH_FLAG;
        u.io.dev = dm_encode_dev(dev);

        if (ioctl(m->control_fd, DM_TABLE_STATUS, &u) < 0) {
                if (errno == ENXIO)
                        return 0;
                return negative_errno();
        }

        if (ret_name) {
                memcpy(ret_name, u.io.name, DM_NAME_LEN);
                ret_name[DM_NAME_LEN - 1] = 0;
        }
        if (u.io.target_count == 0)
                return 0;       /* no table loaded */
        /* The kernel sets data_start to where it put the first target spec. */
        if (u.io.data_start < sizeof u.io || u.io.data_start > sizeof u - sizeof *spec)
                return -EBADMSG;
        spec = (const struct dm_target_spec *) (const void *) (u.bytes + u.io.data_start);
        return strncmp(spec->target_type, "multipath", sizeof spec->target_type) == 0;
}

static const char *strna(const char *s) {
        return s ? s : "n/a";
}

static int dl_symbol(void *dl, const char *name, void **ret) {
        void *p;

        (void) dlerror();
        p = dlsym(dl, name);
        if (!p) {
                log_debug("%s lacks %s: %s", MPATH_LIBRARY, name, strna(dlerror()));
                return -ELIBBAD;
        }
        *ret = p;
        return 0;
}

int mpath_new(int verbose, Mpath **ret) {
        _cleanup_close_ int control_fd = -EBADF;
        void *dl, *init_sym = NULL, *exit_sym = NULL, *in_sym = NULL, *out_sym = NULL, *alloc_sym = NULL;
        Mpath *m;
        int r;

        pthread_mutex_lock(&mpath_global_lock);
        if (mpath_library_used) {
                pthread_mutex_unlock(&mpath_global_lock);
                return -EALREADY;
        }

        r = dm_open_control();
        if (r < 0)
                goto fail;
        control_fd = r;

        /*
         * The plain soname: sonames are always .so.0 (version scripts carry the
         * ABI), and /lib is in the default search path on Debian.
         */
        dl = dlopen(MPATH_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                r = log_debug_errno(-ELIBACC, "Cannot load %s: %s", MPATH_LIBRARY, strna(dlerror()));
                goto fail;
        }

        /* Plain dlsym(): the default version covers 0.8.6 onwards (version nodes changed in 0.8.9). */
        if ((r = dl_symbol(dl, "libmpathpersist_init", &init_sym)) < 0 ||
            (r = dl_symbol(dl, "libmpathpersist_exit", &exit_sym)) < 0 ||
            (r = dl_symbol(dl, "mpath_persistent_reserve_in", &in_sym)) < 0 ||
            (r = dl_symbol(dl, "mpath_persistent_reserve_out", &out_sym)) < 0 ||
            (r = dl_symbol(dl, "mpath_mx_alloc_len", &alloc_sym)) < 0) {
                (void) dlclose(dl);     /* nothing of it ran yet */
                goto fail;
        }

        m = calloc(1, sizeof *m);
        if (!m) {
                (void) dlclose(dl);
                r = -ENOMEM;
                goto fail;
        }

        /* From here on the library has run: it stays loaded. */
        mpath_library_used = true;
        if (((LibInitFn) init_sym)() != 0) {
                free(m);
                r = log_debug_errno(-EIO, "libmpathpersist_init() failed.");
                goto fail;
        }
        *(unsigned *) alloc_sym = MPATH_MX_ALLOC_LEN;

        m->control_fd = TAKE_FD(control_fd);
        m->verbose = verbose;
        m->dl = dl;
        m->lib_exit = (LibExitFn) exit_sym;
        m->pr_in = (PrInFn) in_sym;
        m->pr_out = (PrOutFn) out_sym;
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_unlock(&mpath_global_lock);

        log_debug("Multipath support active (%s).", MPATH_LIBRARY);
        *ret = m;
        return 0;

fail:
        pthread_mutex_unlock(&mpath_global_lock);
        return r;
}

Mpath *mpath_free(Mpath *m) {
        if (!m)
                return NULL;
        pthread_mutex_lock(&m->lock);
        (void) m->lib_exit();
        pthread_mutex_unlock(&m->lock);
        pthread_mutex_destroy(&m->lock);
        safe_close(m->control_fd);
        free(m);
        return NULL;
}

int mpath_detect(Mpath *m, int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        /* Regular files, sockets, sg character nodes: not a map, no ioctl needed. */
        if (!S_ISBLK(st.st_mode))
                return 0;
        return dm_query(m, st.st_rdev, NULL);
}

/*
 * The reference's answer to a failed library call: the mapped code, except
 * that for the "sense" codes a TEST UNIT READY on the map (sent down its
 * current path) gets the first word when it fails, since its status and
 * sense are real where the library's code is only a summary.
 */
static void result_from_library(int code, int fd, uint32_t timeout_ms, ProtoResult *ret) {
        static const uint8_t tur[16] = { SCSI_OP_TEST_UNIT_READY };

        if (mpath_result_from_code(code, ret)) {
                ProtoResult probe;

                sgio_execute(fd, tur, TUR_CDB_LEN, SGIO_NONE, NULL, 0, timeout_ms, &probe);
                if (probe.status != SCSI_STATUS_GOOD)
                        *ret = probe;
        }
        ret->data_len = 0;
}

static void describe_fd(Mpath *m, int fd, char name[DM_NAME_LEN]) {
        struct stat st;

        if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
                if (dm_query(m, st.st_rdev, name) >= 0 && name[0])
                        return;
                snprintf(name, DM_NAME_LEN, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
                return;
        }
        snprintf(name, DM_NAME_LEN, "fd %d", fd);
}

/* The commonest multipath PR failure: explain it once per map, then at debug level. */
static void log_key_mismatch(Mpath *m, int fd, MpathProut *p) {
        const struct prout_param_descriptor *param = mpath_prout_param(p);
        char name[DM_NAME_LEN] = "";
        bool first = true;

        describe_fd(m, fd, name);
        pthread_mutex_lock(&m->lock);
        for (unsigned i = 0; i < m->n_warned; i++)
                if (strcmp(m->warned[i], name) == 0)
                        first = false;
        if (first && m->n_warned < MPATH_MAX_WARNED)
                memcpy(m->warned[m->n_warned++], name, DM_NAME_LEN);
        pthread_mutex_unlock(&m->lock);

        log_full(first ? LOG_WARNING : LOG_DEBUG,
                 "%s: libmpathpersist refused PERSISTENT RESERVE OUT %s: neither the reservation key "
                 "0x%016llx nor the service action key 0x%016llx equals the reservation_key that "
                 "multipath.conf configures for this map (is one configured?). Set \"reservation_key\" "
                 "(e.g. \"reservation_key file\" in the defaults section) and restart prhd.",
                 name, mpath_prout_sa_name(p->service_action),
                 (unsigned long long) proto_get_be64(param->key),
                 (unsigned long long) proto_get_be64(param->sa_key));
}

static void execute_pr_in(Mpath *m, int fd, const uint8_t cdb[16], uint32_t alloc_len, uint8_t *inbuf,
                          uint32_t timeout_ms, ProtoResult *ret) {
        _cleanup_free_ void *resp = NULL;
        ProtoSenseCode sense;
        int sa, rc, r;

        if (mpath_prin_decode(cdb, &sa, &sense) == MPATH_VERDICT_REJECT) {
                proto_result_set_check(ret, sense);
                return;
        }

        /* Zeroed: whatever the device does not send reads as zero, never as old heap. */
        resp = calloc(1, MPATH_PRIN_RESP_SIZE);
        if (!resp) {
                proto_result_from_errno(ret, ENOMEM);
                return;
        }

        pthread_mutex_lock(&m->lock);
        rc = m->pr_in(fd, sa, resp, 0, m->verbose);
        pthread_mutex_unlock(&m->lock);
        if (rc != MPATH_PR_SUCCESS) {
                log_debug("libmpathpersist PR IN service action %d failed with code %d.", sa, rc);
                result_from_library(rc, fd, timeout_ms, ret);
                return;
        }

        r = mpath_prin_encode(sa, resp, MPATH_PRIN_RESP_SIZE, inbuf, PRH_DATA_SIZE);
        if (r == -E2BIG || r == -EPROTONOSUPPORT) {
                /*
                 * READ FULL STATUS the library cannot decode faithfully (more than
                 * ~30 registrations, or transport IDs of protocols it drops): ask
                 * the device itself through the map's current path, as the library
                 * asks one path too.  PR IN changes nothing, so one path is enough.
                 */
                log_debug_errno(r, "READ FULL STATUS not representable by libmpathpersist (%m); using SG_IO.");
                sgio_execute(fd, cdb, PR_IN_CDB_LEN, SGIO_FROM_DEV, inbuf, PRH_DATA_SIZE, timeout_ms, ret);
                if (ret->data_len > alloc_len)
                        ret->data_len = alloc_len;
                return;
        }
        if (r < 0) {
                proto_result_set_check(ret, SENSE_LUN_COMM_FAILURE);
                return;
        }

        /* The reference answers with exactly the allocation length, zero-padded (docs/protocol.md, "Multipath"). */
        ret->status = SCSI_STATUS_GOOD;
        ret->data_len = MIN(alloc_len, PRH_DATA_SIZE);
}

static void execute_pr_out(Mpath *m, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t len,
                           uint32_t timeout_ms, ProtoResult *ret) {
        _cleanup_free_ MpathProut *p = NULL;
        ProtoSenseCode sense;
        int rc;

        p = malloc(sizeof *p);
        if (!p) {
                proto_result_from_errno(ret, ENOMEM);
                return;
        }
        if (mpath_prout_decode(cdb, data, len, p, &sense) == MPATH_VERDICT_REJECT) {
                proto_result_set_check(ret, sense);
                return;
        }

        pthread_mutex_lock(&m->lock);
        rc = m->pr_out(fd, p->service_action, p->scope, p->type, mpath_prout_param(p), 0, m->verbose);
        pthread_mutex_unlock(&m->lock);
        if (rc == MPATH_PR_SUCCESS)
                return;

        if (rc == MPATH_PR_SYNTAX_ERROR)
                log_key_mismatch(m, fd, p);
        else
                log_debug("libmpathpersist PR OUT %s failed with code %d.", mpath_prout_sa_name(p->service_action),
                          rc);
        result_from_library(rc, fd, timeout_ms, ret);
}

void mpath_execute(Mpath *m, int fd, const uint8_t cdb[16], const uint8_t *data, uint32_t xfer_len,
                   uint8_t *inbuf, uint32_t sgio_timeout_ms, ProtoResult *ret) {
        proto_result_init(ret);
        log_debug("PERSISTENT RESERVE %s, service action 0x%02x, on a multipath map: through libmpathpersist.",
                  proto_cdb_is_pr_out(cdb) ? "OUT" : "IN", cdb[1]);
        if (proto_cdb_is_pr_out(cdb))
                execute_pr_out(m, fd, cdb, data, xfer_len, sgio_timeout_ms, ret);
        else
                execute_pr_in(m, fd, cdb, xfer_len, inbuf, sgio_timeout_ms, ret);
}
