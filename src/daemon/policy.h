/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-socket policy from the configuration file (--config, JSON, parsed
 * with json-c; format in docs/audit.md): which peers (uid/gid), which
 * service actions and which devices (WWID or path glob) each listening
 * socket allows.  Loaded before the privilege drop and again on SIGHUP.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct PolicyRule {
        char *name;                     /* the "sockets" key it came from */
        uint32_t allow_in, allow_out;   /* bit n: PR IN / PR OUT service action n */
        bool devices_given;
        char **wwids;                   /* globs on the WWID ("wwid:" entries) */
        size_t n_wwids;
        char **paths;                   /* globs on the fd's path */
        size_t n_paths;
        bool peers_given;
        uid_t *uids;
        size_t n_uids;
        gid_t *gids;
        size_t n_gids;
} PolicyRule;

typedef struct Policy {
        PolicyRule *rules;
        size_t n_rules;
        const PolicyRule **by_socket;   /* one per listening socket, in their order */
        size_t n_sockets;
} Policy;

/* What a request needs to be judged. */
typedef struct PolicyRequest {
        uid_t uid;
        gid_t gid;
        uint8_t opcode, service_action;
        const char *wwid;               /* "" if none */
        const char *path;               /* "" if unknown */
} PolicyRequest;

/*
 * Load path and bind a rule to each socket name (the -k path, or the
 * LISTEN_FDNAMES name); a socket without its own entry takes "default",
 * and with neither the configuration is refused.  -errno, logged.
 */
int policy_load(const char *path, const char *const *socket_names, size_t n_sockets, Policy **ret);
Policy *policy_free(Policy *p);

/* Whether rule needs the device's WWID or path to decide. */
static inline bool policy_rule_needs_device(const PolicyRule *r) {
        return r->devices_given;
}

/* NULL if allowed, else the name of the rule that denies it: "peer", "service-action", "device". */
const char *policy_check(const PolicyRule *r, const PolicyRequest *q);

/* Names of service actions ("register", "read-keys", ...); NULL for codes without a name. */
const char *policy_action_name(uint8_t opcode, uint8_t service_action);
