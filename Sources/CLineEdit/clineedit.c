#include "clineedit.h"

#include <stdio.h>
#include <stdlib.h>
#include <editline/readline.h>

char *mn_readline(const char *prompt) { return readline(prompt); }
void mn_free_line(char *line) { free(line); }
void mn_add_history(const char *line) { add_history(line); }
int mn_read_history(const char *path) { return read_history(path); }
int mn_write_history(const char *path) { return write_history(path); }
