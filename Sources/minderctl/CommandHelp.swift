// `help COMMAND`: what each command takes, in supervisorctl's layout (usage, a tab, what it does).

enum CommandHelp {
    static let topics: [String: String] = [
        "add": "add <group> [...]\tStart using a group the config file now has\n",
        "avail": "avail\t\t\tList every process of the config file and whether it is in use\n",
        "clear": "clear <name> [...]\tEmpty the logs of processes\nclear all\t\tEmpty every process's logs\n",
        "exit": "exit\tLeave the shell\n",
        "quit": "quit\tLeave the shell\n",
        "fg": "fg <name>\tAttach to a process: its output here, what you type to its stdin\n\t\tCtrl-C detaches\n",
        "maintail": "maintail\tThe last 1600 bytes of minderd's main log\nmaintail -<N>\tIts last N bytes\nmaintail -f\tFollow it until Ctrl-C\n",
        "open": "open <url>\tTalk to another server (unix:///path or http://host:port)\n",
        "pid": "pid\t\t\tminderd's pid\npid <name>\t\tA process's pid\npid all\t\t\tEvery process's pid, one a line\n",
        "reload": "reload\t\tRead the config again and restart everything\n",
        "remove": "remove <group> [...]\tStop using a stopped group\n",
        "reread": "reread\t\t\tRead the config again and say what changed, applying nothing\n",
        "restart": "restart <name> [...]\tStop, then start processes (group:* for a group)\nrestart all\t\tRestart everything\n",
        "shutdown": "shutdown\tStop every process and minderd\n",
        "signal": "signal <signal> <name> [...]\tSend a signal (name or number) to processes (group:* for a group)\nsignal <signal> all\t\tTo every process\n",
        "start": "start <name> [...]\tStart processes (group:* for a group), and first what they depend on\nstart all\t\tStart everything\nstart --no-deps <name> [...]\tStart only these; refused while what they depend on is not up\n",
        "status": "status\t\t\tEvery process's state\nstatus <name> [...]\tThose processes' (group:* for a group)\n",
        "stop": "stop <name> [...]\tStop processes (group:* for a group)\nstop all\t\tStop everything\n",
        "tail": "tail [-f|-<N>] <name> [stdout|stderr]\tThe last 1600 (or N) bytes of a process's log, or follow it with -f\n",
        "update": "update\t\t\tApply config changes: add, restart or remove what changed\nupdate all\t\tThe same\nupdate <group> [...]\tOnly for those groups\n",
        "version": "version\t\t\tminderd's version\n",
        "events": "events\t\t\tThe state events on minderd's queue\nevents --follow\t\tAnd those to come\n",
        "stats": "stats\t\t\tEvery process's live stats from shared memory\n",
        "top": "top\t\t\tThe live stats, redrawn as they change\n",
        "wait": "wait <name> [...] [--for ready|healthy|running|stopped] [--timeout S]\tReturn once those processes are (default: ready, 60 s)\n",
        "help": "help\t\tThe list of commands\nhelp <command>\tWhat that command does\n",
    ]
}
