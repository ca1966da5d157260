/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replay driver for builds without libFuzzer: runs LLVMFuzzerTestOneInput()
 * on every file named on the command line (directories are walked one
 * level), each input copied to memory that ends at an unmapped page so an
 * over-read crashes here as it would under ASan.  Exit 0 when all ran.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "tests.h"

static int run_file(const char *path) {
        static uint8_t buf[1 << 20];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        uint8_t *g = guarded_copy(buf, (size_t) n);
        (void) LLVMFuzzerTestOneInput(g, (size_t) n);
        guarded_free(g, (size_t) n);
        return 0;
}

int main(int argc, char **argv) {
        unsigned count = 0, failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed += run_file(argv[i]) < 0;
                        count++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                if (!d)
                        return EXIT_FAILURE;
                while ((de = readdir(d))) {
                        char p[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
                        failed += run_file(p) < 0;
                        count++;
                }
                closedir(d);
        }
        fprintf(stderr, "%u inputs replayed, %u unreadable\n", count, failed);
        /* An empty corpus would make this test pass vacuously. */
        return count > 0 && failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
