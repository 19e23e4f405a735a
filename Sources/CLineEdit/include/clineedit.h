// Line editing and history for minderctl's shell (libedit, loaded when the shell starts;
// Debian's libedit-dev provides the declarations the build checks against).
#ifndef CLINEEDIT_H
#define CLINEEDIT_H

/// NULL once libedit is loaded, else why it cannot be (the shell then reads plain lines, with no history).
const char *mn_line_editing_unavailable(void);
/// A line typed at `prompt`, without its newline (free it with mn_free_line), or NULL at end of input.
char *mn_readline(const char *prompt);
void mn_free_line(char *line);
void mn_add_history(const char *line);
/// Loads and saves the history file; 0 on success.
int mn_read_history(const char *path);
int mn_write_history(const char *path);
#endif
