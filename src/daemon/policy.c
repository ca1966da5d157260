/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy configuration: parsed with json-c (no parser of our own),
 * checked strictly (an unknown key or action is an error, so that a typo
 * never widens what a socket allows), and judged per request with
 * fnmatch() globs and plain list look-ups.
 */
#include <errno.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "policy.h"
#include "scsi.h"

static const char *const in_names[] = {
        [0] = "read-keys",
        [1] = "read-reservation",
        [2] = "report-capabilities",
        [3] = "read-full-status",
};

static const char *const out_names[] = {
        [0] = "register",
        [1] = "reserve",
        [2] = "release",
        [3] = "clear",
        [4] = "preempt",
        [5] = "preempt-and-abort",
        [6] = "register-and-ignore",
        [7] = "register-and-move",
        [8] = "replace-lost",
};

const char *policy_action_name(uint8_t opcode, uint8_t sa) {
        if (opcode == SCSI_OP_PR_IN && sa < ELEMENTSOF(in_names))
                return in_names[sa];
        if (opcode == SCSI_OP_PR_OUT && sa < ELEMENTSOF(out_names))
                return out_names[sa];
        return NULL;
}

static void rule_done(PolicyRule *r) {
        free(r->name);
        for (size_t i = 0; i < r->n_wwids; i++)
                free(r->wwids[i]);
        free(r->wwids);
        for (size_t i = 0; i < r->n_paths; i++)
                free(r->paths[i]);
        free(r->paths);
        free(r->uids);
        free(r->gids);
}

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++)
                rule_done(&p->rules[i]);
        free(p->rules);
        free(p->by_socket);
        free(p);
        return NULL;
}

static int parse_actions(const char *where, json_object *a, PolicyRule *r) {
        if (!json_object_is_type(a, json_type_array))
                return log_error_errno(-EINVAL, "%s: \"actions\" must be an array of names", where);
        r->allow_in = r->allow_out = 0;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *n = json_object_get_string(e);
                bool found = false;

                if (!json_object_is_type(e, json_type_string))
                        return log_error_errno(-EINVAL, "%s: \"actions\" must be an array of names", where);
                if (strcmp(n, "pr-in") == 0) {
                        r->allow_in = UINT32_MAX;
                        continue;
                }
                if (strcmp(n, "pr-out") == 0) {
                        r->allow_out = UINT32_MAX;
                        continue;
                }
                for (unsigned k = 0; k < ELEMENTSOF(in_names); k++)
                        if (strcmp(n, in_names[k]) == 0) {
                                r->allow_in |= 1u << k;
                                found = true;
                        }
                for (unsigned k = 0; k < ELEMENTSOF(out_names); k++)
                        if (strcmp(n, out_names[k]) == 0) {
                                r->allow_out |= 1u << k;
                                found = true;
                        }
                if (!found)
                        return log_error_errno(-EINVAL, "%s: unknown service action \"%s\"", where, n);
        }
        return 0;
}

static int push_str(char ***v, size_t *n, const char *s) {
        char **nv = reallocarray(*v, *n + 1, sizeof **v);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        if (!(nv[*n] = strdup(s)))
                return -ENOMEM;
        (*n)++;
        return 0;
}

static int parse_devices(const char *where, json_object *a, PolicyRule *r) {
        if (!json_object_is_type(a, json_type_array))
                return log_error_errno(-EINVAL, "%s: \"devices\" must be an array of strings", where);
        r->devices_given = true;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *e = json_object_array_get_idx(a, i);
                const char *d = json_object_get_string(e);
                int k;

                if (!json_object_is_type(e, json_type_string))
                        return log_error_errno(-EINVAL, "%s: \"devices\" must be an array of strings", where);
                if (strncmp(d, "wwid:", 5) == 0 && d[5])
                        k = push_str(&r->wwids, &r->n_wwids, d + 5);
                else if (d[0] == '/')
                        k = push_str(&r->paths, &r->n_paths, d);
                else
                        return log_error_errno(-EINVAL, "%s: device \"%s\" is neither \"wwid:GLOB\" nor an absolute path glob",
                                               where, d);
                if (k < 0)
                        return log_error_errno(k, "Out of memory");
        }
        return 0;
}

static int parse_ids(const char *where, const char *key, json_object *a, uint32_t **v, size_t *n) {
        if (!json_object_is_type(a, json_type_array))
                return log_error_errno(-EINVAL, "%s: \"%s\" must be an array of numbers", where, key);
        *n = json_object_array_length(a);
        *v = calloc(*n ? *n : 1, sizeof **v);
        if (!*v)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < *n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                int64_t x = json_object_get_int64(e);

                if (!json_object_is_type(e, json_type_int) || x < 0 || x >= (int64_t) UINT32_MAX)
                        return log_error_errno(-EINVAL, "%s: \"%s\" must be an array of numeric ids", where, key);
                (*v)[i] = (uint32_t) x;
        }
        return 0;
}

static int parse_rule(const char *path, const char *name, json_object *o, PolicyRule *r) {
        char where[512];
        int k;

        (void) snprintf(where, sizeof where, "%s: socket \"%s\"", path, name);
        if (!json_object_is_type(o, json_type_object))
                return log_error_errno(-EINVAL, "%s: must be an object", where);
        r->allow_in = r->allow_out = UINT32_MAX;
        if (!(r->name = strdup(name)))
                return log_error_errno(-ENOMEM, "Out of memory");
        json_object_object_foreach(o, key, val) {
                if (strcmp(key, "actions") == 0)
                        k = parse_actions(where, val, r);
                else if (strcmp(key, "devices") == 0)
                        k = parse_devices(where, val, r);
                else if (strcmp(key, "uids") == 0) {
                        r->peers_given = true;
                        k = parse_ids(where, key, val, (uint32_t **) &r->uids, &r->n_uids);
                } else if (strcmp(key, "gids") == 0) {
                        r->peers_given = true;
                        k = parse_ids(where, key, val, (uint32_t **) &r->gids, &r->n_gids);
                } else
                        k = log_error_errno(-EINVAL, "%s: unknown key \"%s\"", where, key);
                if (k < 0)
                        return k;
        }
        return 0;
}

int policy_load(const char *path, const char *const *socket_names, size_t n_sockets, Policy **ret) {
        json_object *root, *sockets = NULL;
        Policy *p;
        const PolicyRule *def = NULL;
        int r = 0;

        _Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t), "32-bit ids");
        root = json_object_from_file(path);
        if (!root)
                return log_error_errno(-EINVAL, "Failed to read configuration %s: %s", path, json_util_get_last_err());
        p = calloc(1, sizeof *p);
        if (!p) {
                json_object_put(root);
                return log_error_errno(-ENOMEM, "Out of memory");
        }
        if (!json_object_is_type(root, json_type_object)) {
                r = log_error_errno(-EINVAL, "%s: the top level must be an object", path);
                goto fail;
        }
        json_object_object_foreach(root, key, val) {
                if (strcmp(key, "sockets") == 0 && json_object_is_type(val, json_type_object))
                        sockets = val;
                else {
                        r = log_error_errno(-EINVAL, "%s: unknown key \"%s\" (expected an object \"sockets\")", path, key);
                        goto fail;
                }
        }
        if (!sockets) {
                r = log_error_errno(-EINVAL, "%s: no \"sockets\" object", path);
                goto fail;
        }
        p->rules = calloc((size_t) json_object_object_length(sockets) + 1, sizeof *p->rules);
        /* an array of pointers to rules */
        p->by_socket = calloc(n_sockets + 1, sizeof(const PolicyRule *)); // NOLINT(bugprone-sizeof-expression)
        if (!p->rules || !p->by_socket) {
                r = log_error_errno(-ENOMEM, "Out of memory");
                goto fail;
        }
        json_object_object_foreach(sockets, name, rule) {
                r = parse_rule(path, name, rule, &p->rules[p->n_rules++]);
                if (r < 0)
                        goto fail;
                if (strcmp(name, "default") == 0)
                        def = &p->rules[p->n_rules - 1];
        }
        for (size_t i = 0; i < n_sockets; i++) {
                p->by_socket[i] = def;
                for (size_t k = 0; k < p->n_rules; k++)
                        if (p->rules[k].name && socket_names[i] && strcmp(p->rules[k].name, socket_names[i]) == 0)
                                p->by_socket[i] = &p->rules[k];
                if (!p->by_socket[i]) {
                        r = log_error_errno(-EINVAL, "%s: no policy for socket \"%s\" and no \"default\"", path,
                                            socket_names[i]);
                        goto fail;
                }
        }
        p->n_sockets = n_sockets;
        json_object_put(root);
        *ret = p;
        return 0;

fail:
        json_object_put(root);
        policy_free(p);
        return r;
}

static bool glob_any(char *const *globs, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (fnmatch(globs[i], s, 0) == 0)
                        return true;
        return false;
}

const char *policy_check(const PolicyRule *r, const PolicyRequest *q) {
        if (r->peers_given) {
                bool ok = false;
                for (size_t i = 0; i < r->n_uids && !ok; i++)
                        ok = r->uids[i] == q->uid;
                for (size_t i = 0; i < r->n_gids && !ok; i++)
                        ok = r->gids[i] == q->gid;
                if (!ok)
                        return "peer";
        }
        uint32_t mask = q->opcode == SCSI_OP_PR_OUT ? r->allow_out : r->allow_in;
        if (q->service_action >= 32 || !(mask & (1u << q->service_action)))
                return "service-action";
        if (r->devices_given && !(q->wwid[0] && glob_any(r->wwids, r->n_wwids, q->wwid)) &&
            !(q->path[0] && glob_any(r->paths, r->n_paths, q->path)))
                return "device";
        return NULL;
}
