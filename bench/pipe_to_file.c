/* How a pipe's bytes reach a file cheapest on this machine: read/write through a buffer (what
 * minderd's log thread does) against splice(2). A child writes 1 GiB of zeros into the pipe;
 * prints MB/s and this process's CPU. Before each run, /dev/shm is filled and emptied so that
 * both start with pages the host has just touched (see bench/NOTES.md).
 *
 *   cc -O2 -o /tmp/pipe_to_file bench/pipe_to_file.c && cd /tmp &&
 *   for m in read splice read splice; do dd if=/dev/zero of=/dev/shm/w bs=1M count=2048 status=none;
 *   rm /dev/shm/w; /tmp/pipe_to_file $m; done
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int use_splice = argc > 1 && strcmp(argv[1], "splice") == 0;
    int p[2];
    if (pipe(p) != 0) return 1;
    unlink("pipe_to_file.out");
    int fd = open("pipe_to_file.out", O_WRONLY | O_CREAT | O_APPEND * !use_splice, 0644);
    double start = now();
    if (fork() == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execlp("dd", "dd", "if=/dev/zero", "bs=65536", "count=16384", "status=none", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    static char buffer[128 * 1024];
    long total = 0;
    for (;;) {
        long n;
        if (use_splice) {
            n = splice(p[0], NULL, fd, NULL, 1 << 20, SPLICE_F_MOVE);
        } else {
            n = read(p[0], buffer, sizeof buffer);
            if (n > 0 && write(fd, buffer, n) != n) return 1;
        }
        if (n <= 0) break;
        total += n;
    }
    wait(NULL);
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    printf("%s: %.0f MB/s, CPU %.2f s\n", use_splice ? "splice" : "read/write", total / 1e6 / (now() - start),
           r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6);
    unlink("pipe_to_file.out");
    return 0;
}
