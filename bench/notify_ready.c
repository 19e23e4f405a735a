/* A program that says READY=1 on $NOTIFY_SOCKET as soon as it runs, then sleeps until killed:
 * each link of bench.py's chain of dependent programs, and its reference, which starts the same
 * program one after the other and waits for each one's datagram. In C so that the program's own
 * start is as short as the machine allows.
 *
 *   notify_ready [TAG]      TAG only marks the process for the bench to find
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "notify_ready: no usable NOTIFY_SOCKET\n");
        return 1;
    }
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&address, sizeof address) != 7) {
        perror("notify_ready");
        return 1;
    }
    for (;;) pause();
}
