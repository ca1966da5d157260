/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the policy configuration (policy.c): what loads, what is
 * refused, which socket takes which rule, and each rule of policy_check()
 * at its edge.  The daemon's behaviour with it is test/test-policy.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "scsi.h"
#include "tests.h"

static char path[] = "/tmp/test-policy-XXXXXX";

static int load(const char *json, const char *const *names, size_t n, Policy **ret) {
        FILE *f = fopen(path, "we");

        *ret = NULL;
        if (!f)
                return -errno;
        if (fputs(json, f) == EOF) {
                (void) fclose(f);
                return -EIO;
        }
        if (fclose(f) != 0)
                return -errno;
        return policy_load(path, names, n, ret);
}

static PolicyRequest req(uint8_t op, uint8_t sa) {
        return (PolicyRequest) { .uid = 107, .gid = 107, .opcode = op, .service_action = sa, .wwid = "", .path = "" };
}

int main(void) {
        const char *const one[] = { "/run/a.sock" };
        const char *const two[] = { "/run/a.sock", "monitor" };
        Policy *p;
        PolicyRequest q;
        int fd;

        log_setup("test-policy");
        fd = mkstemp(path);
        CHECK(fd >= 0);
        close(fd);

        /* Refused: every malformed configuration, so that a typo never widens a socket's rights. */
        static const char *const bad[] = {
                "", "[]", "{}", "{\"sockets\": []}", "{\"socket\": {}}",
                "{\"sockets\": {\"default\": {\"actions\": [\"preemt\"]}}}",
                "{\"sockets\": {\"default\": {\"actions\": \"pr-in\"}}}",
                "{\"sockets\": {\"default\": {\"actions\": [1]}}}",
                "{\"sockets\": {\"default\": {\"devices\": [\"sda\"]}}}",
                "{\"sockets\": {\"default\": {\"devices\": [\"wwid:\"]}}}",
                "{\"sockets\": {\"default\": {\"uids\": [-1]}}}",
                "{\"sockets\": {\"default\": {\"uids\": [4294967295]}}}",
                "{\"sockets\": {\"default\": {\"gids\": [\"root\"]}}}",
                "{\"sockets\": {\"default\": {\"uid\": [0]}}}",
                "{\"sockets\": {\"default\": 1}}",
                "{\"sockets\": {\"other\": {}}}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = load(bad[i], one, 1, &p);
                if (r != -EINVAL)
                        fprintf(stderr, "accepted or wrong error (%d): %s\n", r, bad[i]);
                CHECK_EQ(r, -EINVAL);
                CHECK(p == NULL);
        }

        /* A socket takes its own entry, else "default". */
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"actions\": [\"pr-in\"]}, \"monitor\": {\"actions\": []}}}", two, 2,
                      &p), 0);
        CHECK(p && strcmp(p->by_socket[0]->name, "default") == 0 && strcmp(p->by_socket[1]->name, "monitor") == 0);
        q = req(SCSI_OP_PR_IN, 0);
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        CHECK(p && strcmp(policy_check(p->by_socket[1], &q), "service-action") == 0);
        p = policy_free(p);

        /* Actions: a name and its neighbours; the groups also cover codes without a name. */
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"actions\": [\"read-reservation\", \"preempt\"]}}}", one, 1, &p), 0);
        for (unsigned sa = 0; sa < 32 && p; sa++) {
                q = req(SCSI_OP_PR_IN, (uint8_t) sa);
                CHECK((policy_check(p->by_socket[0], &q) == NULL) == (sa == 1));
                q = req(SCSI_OP_PR_OUT, (uint8_t) sa);
                CHECK((policy_check(p->by_socket[0], &q) == NULL) == (sa == 4));
        }
        p = policy_free(p);
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"actions\": [\"pr-out\"]}}}", one, 1, &p), 0);
        q = req(SCSI_OP_PR_OUT, 0x1f);
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        q = req(SCSI_OP_PR_IN, 0);
        CHECK(p && policy_check(p->by_socket[0], &q) != NULL);
        p = policy_free(p);

        /* Peers: uid or gid listed. */
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"uids\": [108], \"gids\": [107]}}}", one, 1, &p), 0);
        q = req(SCSI_OP_PR_IN, 0);
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        q.gid = 106;
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "peer") == 0);
        q.uid = 108;
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        p = policy_free(p);
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"uids\": []}}}", one, 1, &p), 0);
        q = req(SCSI_OP_PR_IN, 0);
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "peer") == 0);
        p = policy_free(p);

        /* Devices: WWID glob or path glob; a device without a WWID matches no wwid: entry. */
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"devices\": [\"wwid:naa.6001405*\", \"/dev/sd?\"]}}}", one, 1, &p),
                 0);
        q = req(SCSI_OP_PR_OUT, 0);
        q.wwid = "naa.6001405abc";
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        q.wwid = "naa.6001404abc";
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "device") == 0);
        q.path = "/dev/sdb";
        CHECK(p && policy_check(p->by_socket[0], &q) == NULL);
        q.path = "/dev/sdbb";
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "device") == 0);
        q.wwid = "";
        q.path = "";
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "device") == 0);
        p = policy_free(p);

        /* The order: peer, then service action, then device. */
        CHECK_EQ(load("{\"sockets\": {\"default\": {\"uids\": [0], \"actions\": [], \"devices\": []}}}", one, 1, &p), 0);
        q = req(SCSI_OP_PR_IN, 0);
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "peer") == 0);
        q.uid = 0;
        CHECK(p && strcmp(policy_check(p->by_socket[0], &q), "service-action") == 0);
        p = policy_free(p);

        CHECK(policy_action_name(SCSI_OP_PR_OUT, 8) && strcmp(policy_action_name(SCSI_OP_PR_OUT, 8), "replace-lost") == 0);
        CHECK(policy_action_name(SCSI_OP_PR_IN, 4) == NULL);
        unlink(path);
        return tests_finish("test-policy");
}
