// Loads libedit with dlopen when the shell starts, so that minderctl's other commands neither
// load it nor need it installed. The pointers are typed from libedit's own declarations, so a
// signature that changes fails the build. Without libedit the shell reads plain lines.
#define _GNU_SOURCE
#include "clineedit.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <editline/readline.h>

#define FUNCTIONS(X) X(readline) X(add_history) X(read_history) X(write_history)

#define POINTER(name) static __typeof__(name) *p_##name;
FUNCTIONS(POINTER)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];

static void load(void) {
    void *library = dlopen("libedit.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(failure, sizeof failure, "%s", dlerror());
        return;
    }
#define RESOLVE(name) \
    if (!(p_##name = (__typeof__(name) *)dlsym(library, #name))) { \
        snprintf(failure, sizeof failure, "libedit has no %s", #name); \
        p_readline = NULL; \
        return; \
    }
    FUNCTIONS(RESOLVE)
}

const char *mn_line_editing_unavailable(void) {
    pthread_once(&once, load);
    return p_readline ? NULL : failure;
}

char *mn_readline(const char *prompt) {
    if (!mn_line_editing_unavailable()) return p_readline(prompt);
    fputs(prompt, stdout);
    fflush(stdout);
    char *line = NULL;
    size_t size = 0;
    ssize_t n = getline(&line, &size, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    return line;
}

void mn_free_line(char *line) { free(line); }

void mn_add_history(const char *line) {
    if (!mn_line_editing_unavailable()) p_add_history(line);
}

int mn_read_history(const char *path) { return mn_line_editing_unavailable() ? -1 : p_read_history(path); }

int mn_write_history(const char *path) { return mn_line_editing_unavailable() ? -1 : p_write_history(path); }
