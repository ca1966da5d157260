/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Built as an outside user would build: only <prh/prh.h> on the include
 * path, linked against the shared libprh.  Proves that the installed header
 * is self-contained and that the exported API works from the .so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <prh/prh.h>

static int failed;
#define EXPECT(x)                                                                                                      \
        do {                                                                                                           \
                if (!(x)) {                                                                                            \
                        fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #x);                                \
                        failed++;                                                                                      \
                }                                                                                                      \
        } while (0)

int main(void) {
        PrhClient *c = NULL;
        PrhTransportId t;
        char buf[300];
        uint8_t sense[18] = {0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x2a, 0x05};
        uint8_t keys[16] = {0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
        static PrhKeys k;

        EXPECT(prh_client_new("/nonexistent/socket", &c) == 0);
        EXPECT(prh_client_set_retry(c, 1, 0) == 0);
        EXPECT(prh_client_connect(c) == -ENOENT);
        EXPECT(!prh_client_is_connected(c));
        EXPECT(strcmp(prh_client_get_path(c), "/nonexistent/socket") == 0);
        EXPECT(prh_client_free(c) == NULL);
        EXPECT(prh_client_new(NULL, &c) == 0);
        EXPECT(strcmp(prh_client_get_path(c), PRH_DEFAULT_SOCKET_PATH) == 0);
        prh_client_free(c);

        EXPECT(prh_transport_id_parse("sas,0x5000c50012345678", &t) == 0);
        EXPECT(t.protocol == PRH_PROTO_SAS && t.port_name == 0x5000c50012345678ull);
        EXPECT(prh_transport_id_format(&t, buf, sizeof(buf)) > 0 && strcmp(buf, "sas,0x5000c50012345678") == 0);

        EXPECT(prh_sense_describe(sense, sizeof(sense), buf, sizeof(buf)) > 0);
        EXPECT(strcmp(buf, "UNIT ATTENTION: registrations preempted (asc 0x2a, ascq 0x05)") == 0);
        EXPECT(strcmp(prh_status_name(PRH_STATUS_RESERVATION_CONFLICT), "RESERVATION CONFLICT") == 0);
        EXPECT(prh_decode_keys(keys, sizeof(keys), &k) == 0 && k.n_keys == 1 && k.keys[0] == 0x1234);
        EXPECT(strstr(prh_strerror(-ECONNRESET), "rejected") != NULL);

        fprintf(stderr, "test-public-api: %d failed\n", failed);
        return failed ? 1 : 0;
}
