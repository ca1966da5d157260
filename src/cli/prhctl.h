/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prhctl: persistent reservations through a PR helper socket.  main.c
 * parses the command line into PrhctlArgs; prhctl.c opens the device,
 * talks to the helper through libprh and prints the outcome.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "prh/prh.h"

/* Exit codes (documented in prhctl(1)). */
enum {
        EXIT_OK = 0,
        EXIT_USAGE = 1,         /* bad command line */
        EXIT_DEVICE = 2,        /* DEVICE missing, not openable, permission denied */
        EXIT_UNREACHABLE = 3,   /* no connection to the helper (socket missing, refused, denied, timeout) */
        EXIT_HELPER_CLOSED = 4, /* helper dropped the request or broke the protocol */
        EXIT_CHECK_CONDITION = 5,
        EXIT_RESERVATION_CONFLICT = 6,
        EXIT_OTHER_STATUS = 7, /* BUSY, TASK SET FULL, ... */
        EXIT_INTERNAL = 8,     /* out of memory and the like */
};

typedef enum CommandKind {
        COMMAND_PROBE,
        COMMAND_IN,
        COMMAND_OUT,
} CommandKind;

typedef struct Command {
        const char *name;
        CommandKind kind;
        unsigned action; /* PrhInAction / PrhOutAction */
        bool needs_type;
} Command;

typedef struct PrhctlArgs {
        const char *socket;
        const char *device; /* NULL for a device-less probe */
        const Command *command;
        bool json;
        bool readonly;
        bool hex; /* PR IN: also dump the raw data */
        int connect_ms;
        int request_ms;
        unsigned attempts;
        int retry_delay_ms;
        uint16_t alloc_len;
        PrhOutParams out;
        bool have_type;
        PrhTransportId *tids; /* owned */
        size_t n_tids;
} PrhctlArgs;

const Command *command_find(const char *name);
void command_list(FILE *f);
int prhctl_run(const PrhctlArgs *args);

/* options.c: the options both command lines take, in each getopt_long() table
 * (PRHCTL_COMMON_OPTIONS) and short option string (PRHCTL_COMMON_SHORT). */
#define PRHCTL_OPT_JSON 0x1000
#define PRHCTL_COMMON_OPTIONS                                   \
        { "json", no_argument, NULL, PRHCTL_OPT_JSON },         \
        { "help", no_argument, NULL, 'h' },                     \
        { "version", no_argument, NULL, 'V' }
#define PRHCTL_COMMON_SHORT "hV"
/* What getopt_long() returned, when no option of the caller's own: 1 when parsing goes on (--json
 * sets *json), 0 when the command line is done (HELP or the version printed), -EINVAL when it is
 * wrong (getopt_long() has said why). */
int prhctl_common_option(int c, bool *json, void (*help)(void));

/* admin.c: "--admin SOCKET stats" and "audit" (their own command lines). */
bool prhctl_is_admin_command(int argc, char **argv);
int prhctl_admin_main(int argc, char **argv);
