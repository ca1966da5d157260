/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the /proc/PID/status parser used to verify the privilege drop. */
#include <errno.h>

#include "privileges.h"
#include "tests.h"

int main(void) {
        const char *text = "Name:\tprhd\nUid:\t65534\t65534\t65534\t65534\n"
                           "CapInh:\t0000000000000000\nCapPrm:\t0000000000020000\n"
                           "CapEff:\t0000000000020000\nCapBnd:\t0000000000000000\n"
                           "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\n";
        uint64_t eff, prm, bnd, inh, amb;

        CHECK_EQ(privileges_read_status(text, &eff, &prm, &bnd, &inh, &amb), 0);
        CHECK_EQ(eff, 0x20000);
        CHECK_EQ(prm, 0x20000);
        CHECK_EQ(bnd, 0);
        CHECK_EQ(inh, 0);
        CHECK_EQ(amb, 0);

        CHECK_EQ(privileges_read_status("CapEff:\tzz\n", &eff, &prm, &bnd, &inh, &amb), -EBADMSG);
        CHECK_EQ(privileges_read_status("Name:\tx\n", &eff, &prm, &bnd, &inh, &amb), -ENOENT);
        /* A key that is a prefix of another is not confused with it. */
        CHECK_EQ(privileges_read_status("CapEffX:\t1\nCapEff:\t0000000000000001\nCapPrm:\t1\nCapBnd:\t1\nCapInh:\t0\n",
                                        &eff, &prm, &bnd, &inh, &amb), 0);
        CHECK_EQ(eff, 1);
        return tests_finish("test-privileges");
}
