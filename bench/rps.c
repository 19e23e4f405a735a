/* Requests per second on one kept connection: sends the same HTTP request again and again over a
 * Unix socket, reads each reply whole (by Content-Length) and checks that it contains a string.
 * In C so that the client costs far less than either server; bench.py builds and runs it.
 *
 *   rps SOCKET REQUEST_FILE SECONDS EXPECT      prints the rate, exits 1 on any failure
 *   rps --serve SOCKET REPLY_FILE                answers every request with the same reply: the
 *                                                fastest a server can be on this machine
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int fail(const char *why) {
    fprintf(stderr, "rps: %s\n", why);
    return 1;
}

/* One client at a time; a request ends with an empty line (no body). */
static int serve(const char *path, const char *reply_file) {
    static char reply[65536], request[65536];
    FILE *f = fopen(reply_file, "rb");
    if (!f) return fail("cannot read the reply file");
    size_t reply_length = fread(reply, 1, sizeof reply, f);
    fclose(f);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, path, sizeof address.sun_path - 1);
    unlink(path);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 8) != 0)
        return fail("cannot listen");
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) continue;
        size_t have = 0;
        for (;;) {
            ssize_t n = read(fd, request + have, sizeof request - 1 - have);
            if (n <= 0) break;
            have += n;
            request[have] = 0;
            char *end;
            while ((end = strstr(request, "\r\n\r\n"))) {
                if (write(fd, reply, reply_length) != (ssize_t)reply_length) break;
                have -= end + 4 - request;
                memmove(request, end + 4, have + 1);
            }
        }
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--serve") == 0) return serve(argv[2], argv[3]);
    if (argc != 5) return fail("usage: rps SOCKET REQUEST_FILE SECONDS EXPECT");
    static char request[65536], reply[1 << 20];
    FILE *f = fopen(argv[2], "rb");
    if (!f) return fail("cannot read the request file");
    size_t request_length = fread(request, 1, sizeof request, f);
    fclose(f);
    double seconds = atof(argv[3]);
    const char *expect = argv[4];

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, argv[1], sizeof address.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) return fail("cannot connect");

    long count = 0;
    double start = now(), elapsed = 0;
    while (elapsed < seconds) {
        if (write(fd, request, request_length) != (ssize_t)request_length) return fail("short write");
        size_t have = 0;
        long need = -1; /* header length + Content-Length, once the header is in */
        while (need < 0 || have < (size_t)need) {
            ssize_t n = read(fd, reply + have, sizeof reply - 1 - have);
            if (n <= 0) return fail("connection closed");
            have += n;
            reply[have] = 0;
            char *end = strstr(reply, "\r\n\r\n");
            if (need < 0 && end) {
                char *length = strcasestr(reply, "content-length:");
                if (!length || length > end) return fail("reply without content-length");
                need = (end + 4 - reply) + atol(length + 15);
            }
        }
        if (have != (size_t)need) return fail("more bytes than one reply");
        if (!strstr(reply, expect)) return fail("unexpected reply");
        count++;
        elapsed = now() - start;
    }
    printf("%.1f\n", count / elapsed);
    return 0;
}
