/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The options that both of prhctl's command lines take (main.c's and
 * admin.c's): --json, --help and --version.  They are declared by
 * PRHCTL_COMMON_OPTIONS and handled here, so that the two parsers cannot
 * come to treat them differently.
 */
#include <errno.h>
#include <stdio.h>

#include "config.h"
#include "prhctl.h"

int prhctl_common_option(int c, bool *json, void (*help)(void)) {
        switch (c) {
        case PRHCTL_OPT_JSON:
                *json = true;
                return 1;
        case 'h':
                help();
                return 0;
        case 'V':
                printf("prhctl %s\n", PRH_VERSION);
                return 0;
        default:
                /* '?': unknown option or missing argument, getopt_long has said which */
                return -EINVAL;
        }
}
