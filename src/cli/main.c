/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhctl command line: "prhctl [options] DEVICE COMMAND [options]" or
 * "prhctl [options] probe".  Option names follow sg_persist where it has
 * one.  Everything is checked here, before any file or socket is opened.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "prhctl.h"

static PrhctlArgs arg = {
        .socket = PRH_DEFAULT_SOCKET,
        .connect_ms = PRH_DEFAULT_CONNECT_TIMEOUT_MS,
        .request_ms = PRH_DEFAULT_REQUEST_TIMEOUT_MS,
        .attempts = 1,
        .retry_delay_ms = PRH_DEFAULT_RETRY_DELAY_MS,
        .alloc_len = PRH_MAX_DATA_SIZE,
};

static void help(void) {
        printf("Usage: %s [OPTIONS] DEVICE COMMAND [OPTIONS]\n"
               "       %s [OPTIONS] [DEVICE] probe\n"
               "Issue SCSI persistent reservation commands through a PR helper socket\n"
               "(qemu-pr-helper or prhd).\n\n"
               "Commands:\n",
               log_program_name(), log_program_name());
        command_list(stdout);
        printf("\nOptions:\n"
               "  -k, --socket=PATH             helper socket (default %s)\n"
               "  -K, --param-rk=KEY            reservation key (hex, 0x optional)\n"
               "  -S, --param-sark=KEY          service action reservation key (hex)\n"
               "  -T, --prout-type=TYPE         reservation type: 1|we, 3|ea, 5|we-ro, 6|ea-ro, 7|we-ar, 8|ea-ar\n"
               "  -Z, --param-aptpl             activate persist through power loss\n"
               "  -Y, --param-alltgpt           all target ports\n"
               "      --param-spec-i-pt         specify initiator ports (implied by -X with register)\n"
               "  -U, --param-unreg             register-move: unregister the current holder\n"
               "  -X, --transport-id=TID        fc,<hex> | sas,<hex> | iscsi,<name>[,i,0x<isid>] (repeatable)\n"
               "  -Q, --relative-target-port=N  register-move: relative target port identifier\n"
               "  -l, --alloc-length=N          PR IN allocation length (default and maximum 8192)\n"
               "  -r, --readonly                open DEVICE read-only (PR OUT will be refused)\n"
               "      --json                    print JSON on stdout\n"
               "      --hex                     also print PR IN data in hex\n"
               "      --connect-timeout=MS      connect and handshake timeout (default %d ms)\n"
               "      --timeout=MS              request timeout (default %d ms)\n"
               "      --retries=N               extra connection attempts (default 0)\n"
               "      --retry-delay=MS          delay between attempts (default %d ms)\n"
               "  -h, --help                    show this help\n"
               "  -V, --version                 show the version\n\n"
               "Daemon side (prhd): --admin SOCKET stats [--json|--prometheus]; audit [--file FILE]\n"
               "[--device DEV] [--since AGE] [--all] [--json].\n\n"
               "Exit status: 0 success, 1 usage, 2 device error, 3 helper unreachable,\n"
               "4 helper closed the connection, 5 CHECK CONDITION, 6 RESERVATION CONFLICT,\n"
               "7 other SCSI status, 8 internal error.  See prhctl(1).\n",
               PRH_DEFAULT_SOCKET, PRH_DEFAULT_CONNECT_TIMEOUT_MS, PRH_DEFAULT_REQUEST_TIMEOUT_MS,
               PRH_DEFAULT_RETRY_DELAY_MS);
}

/* sg_persist takes keys in hex, with or without 0x. */
static int parse_key(const char *s, uint64_t *ret) {
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 16);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_type(const char *s, uint8_t *ret) {
        static const struct {
                const char *name;
                uint8_t type;
        } names[] = {
                {"we", PRH_TYPE_WRITE_EXCLUSIVE},       {"ea", PRH_TYPE_EXCLUSIVE_ACCESS},
                {"we-ro", PRH_TYPE_WRITE_EXCLUSIVE_RO}, {"ea-ro", PRH_TYPE_EXCLUSIVE_ACCESS_RO},
                {"we-ar", PRH_TYPE_WRITE_EXCLUSIVE_AR}, {"ea-ar", PRH_TYPE_EXCLUSIVE_ACCESS_AR},
        };
        uint32_t v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i].name) == 0) {
                        *ret = names[i].type;
                        return 0;
                }
        if (safe_atou32(s, &v) < 0 || v > 15)
                return -EINVAL;
        *ret = (uint8_t) v;
        return 0;
}

static int parse_ms(const char *s, int *ret) {
        uint32_t v;

        if (strcmp(s, "infinity") == 0) {
                *ret = PRH_TIMEOUT_INFINITE;
                return 0;
        }
        if (parse_msec(s, &v) < 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int add_tid(const char *s) {
        PrhTransportId *n;

        if (arg.n_tids >= PRH_MAX_DATA_SIZE / 24)
                return log_error_errno(-E2BIG, "Too many transport IDs.");
        n = realloc(arg.tids, (arg.n_tids + 1) * sizeof(*n));
        if (!n)
                return log_error_errno(-ENOMEM, "Out of memory.");
        arg.tids = n;
        if (prh_transport_id_parse(s, &arg.tids[arg.n_tids]) < 0)
                return log_error_errno(
                        -EINVAL,
                        "Invalid transport ID '%s' (expected fc,<hex>, sas,<hex> or iscsi,<name>[,i,0x<isid>]).", s);
        arg.n_tids++;
        return 0;
}

enum {
        ARG_HEX = 0x100,
        ARG_SPEC_I_PT,
        ARG_CONNECT_TIMEOUT,
        ARG_TIMEOUT,
        ARG_RETRIES,
        ARG_RETRY_DELAY,
};

static int parse_argv(int argc, char **argv) {
        static const struct option options[] = {{"socket", required_argument, NULL, 'k'},
                                                {"param-rk", required_argument, NULL, 'K'},
                                                {"param-sark", required_argument, NULL, 'S'},
                                                {"prout-type", required_argument, NULL, 'T'},
                                                {"param-aptpl", no_argument, NULL, 'Z'},
                                                {"param-alltgpt", no_argument, NULL, 'Y'},
                                                {"param-spec-i-pt", no_argument, NULL, ARG_SPEC_I_PT},
                                                {"param-unreg", no_argument, NULL, 'U'},
                                                {"transport-id", required_argument, NULL, 'X'},
                                                {"relative-target-port", required_argument, NULL, 'Q'},
                                                {"alloc-length", required_argument, NULL, 'l'},
                                                {"readonly", no_argument, NULL, 'r'},
                                                {"hex", no_argument, NULL, ARG_HEX},
                                                {"connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT},
                                                {"timeout", required_argument, NULL, ARG_TIMEOUT},
                                                {"retries", required_argument, NULL, ARG_RETRIES},
                                                {"retry-delay", required_argument, NULL, ARG_RETRY_DELAY},
                                                PRHCTL_COMMON_OPTIONS,
                                                {}};
        const char *pos[3];
        size_t n_pos = 0;
        uint32_t u;
        int c;

        /* Options may come before, between or after DEVICE and COMMAND (GNU permutation). */
        while ((c = getopt_long(argc, argv, "k:K:S:T:ZYUX:Q:l:r" PRHCTL_COMMON_SHORT, options, NULL)) >= 0)
                switch (c) {
                case 'k':
                        if (!*optarg || strlen(optarg) >= 108)
                                return log_error_errno(-EINVAL, "Invalid socket path '%s'.", optarg);
                        arg.socket = optarg;
                        break;
                case 'K':
                        if (parse_key(optarg, &arg.out.key) < 0)
                                return log_error_errno(-EINVAL, "Invalid reservation key '%s' (hex).", optarg);
                        break;
                case 'S':
                        if (parse_key(optarg, &arg.out.sa_key) < 0)
                                return log_error_errno(-EINVAL, "Invalid service action key '%s' (hex).", optarg);
                        break;
                case 'T':
                        if (parse_type(optarg, &arg.out.type) < 0)
                                return log_error_errno(-EINVAL, "Invalid reservation type '%s'.", optarg);
                        arg.have_type = true;
                        break;
                case 'Z':
                        arg.out.flags |= PRH_FLAG_APTPL;
                        break;
                case 'Y':
                        arg.out.flags |= PRH_FLAG_ALL_TG_PT;
                        break;
                case ARG_SPEC_I_PT:
                        arg.out.flags |= PRH_FLAG_SPEC_I_PT;
                        break;
                case 'U':
                        arg.out.flags |= PRH_FLAG_UNREG;
                        break;
                case 'X':
                        if (add_tid(optarg) < 0)
                                return -EINVAL;
                        break;
                case 'Q':
                        if (safe_atou32(optarg, &u) < 0 || u > UINT16_MAX)
                                return log_error_errno(-EINVAL, "Invalid relative target port '%s'.", optarg);
                        arg.out.rel_tgt_port = (uint16_t) u;
                        break;
                case 'l':
                        if (safe_atou32(optarg, &u) < 0 || u > PRH_MAX_DATA_SIZE)
                                return log_error_errno(-EINVAL, "Invalid allocation length '%s' (0..8192).", optarg);
                        arg.alloc_len = (uint16_t) u;
                        break;
                case 'r':
                        arg.readonly = true;
                        break;
                case ARG_HEX:
                        arg.hex = true;
                        break;
                case ARG_CONNECT_TIMEOUT:
                        if (parse_ms(optarg, &arg.connect_ms) < 0)
                                return log_error_errno(-EINVAL, "Invalid timeout '%s'.", optarg);
                        break;
                case ARG_TIMEOUT:
                        if (parse_ms(optarg, &arg.request_ms) < 0)
                                return log_error_errno(-EINVAL, "Invalid timeout '%s'.", optarg);
                        break;
                case ARG_RETRIES:
                        if (safe_atou32(optarg, &u) < 0 || u > 100)
                                return log_error_errno(-EINVAL, "Invalid retry count '%s' (0..100).", optarg);
                        arg.attempts = u + 1;
                        break;
                case ARG_RETRY_DELAY:
                        if (parse_ms(optarg, &arg.retry_delay_ms) < 0 || arg.retry_delay_ms < 0)
                                return log_error_errno(-EINVAL, "Invalid delay '%s'.", optarg);
                        break;
                default: {
                        int r = prhctl_common_option(c, &arg.json, help);
                        if (r <= 0)
                                return r;
                        break;
                }
                }

        while (optind < argc) {
                if (n_pos == ELEMENTSOF(pos))
                        return log_error_errno(-EINVAL, "Too many arguments: '%s'.", argv[optind]);
                pos[n_pos++] = argv[optind++];
        }
        if (n_pos == 1 && strcmp(pos[0], "probe") == 0)
                arg.command = command_find("probe");
        else if (n_pos == 2) {
                arg.device = pos[0];
                arg.command = command_find(pos[1]);
                if (!arg.command)
                        return log_error_errno(-EINVAL, "Unknown command '%s' (see --help).", pos[1]);
        } else
                return log_error_errno(-EINVAL, "Expected DEVICE COMMAND (or 'probe'); see --help.");

        if (arg.command->needs_type && !arg.have_type)
                return log_error_errno(-EINVAL, "Command '%s' needs --prout-type.", arg.command->name);
        if (arg.command->kind == COMMAND_OUT) {
                if (arg.command->action == PRH_OUT_REGISTER_AND_MOVE) {
                        if (arg.n_tids != 1)
                                return log_error_errno(-EINVAL, "register-move needs exactly one --transport-id.");
                } else if (arg.n_tids > 0) {
                        if (arg.command->action != PRH_OUT_REGISTER)
                                return log_error_errno(-EINVAL,
                                                       "--transport-id is only valid with register and register-move.");
                        /* As sg_persist: transport IDs with REGISTER mean SPEC_I_PT. */
                        arg.out.flags |= PRH_FLAG_SPEC_I_PT;
                }
                if ((arg.out.flags & PRH_FLAG_UNREG) && arg.command->action != PRH_OUT_REGISTER_AND_MOVE)
                        return log_error_errno(-EINVAL, "--param-unreg is only valid with register-move.");
                arg.out.tids = arg.tids;
                arg.out.n_tids = arg.n_tids;
        }
        return 1;
}

int main(int argc, char **argv) {
        int r;

        log_setup("prhctl");
        if (prhctl_is_admin_command(argc, argv))
                return prhctl_admin_main(argc, argv);
        r = parse_argv(argc, argv);
        if (r <= 0) {
                free(arg.tids);
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        }
        r = prhctl_run(&arg);
        free(arg.tids);
        return r;
}
