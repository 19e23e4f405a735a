#!/usr/bin/env python3
"""An event listener for [eventlistener:x]: appends every event it gets to a file.

    [eventlistener:record]
    command=python3 %(here)s/listener.py %(here)s/run/events.txt
    events=PROCESS_STATE,TICK_60

With a third argument `reject-first`, it answers FAIL to its first event (which is then offered
again) and OK to the rest; with `once`, it exits after its first event (to be restarted). It speaks supervisord's listener protocol, so it runs under either.
"""
import sys


def main():
    record = open(sys.argv[1], "a", buffering=1)
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    reject_first = mode == "reject-first"
    count = 0
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header = sys.stdin.readline()
        if not header:
            return
        fields = dict(field.split(":", 1) for field in header.split())
        payload = sys.stdin.read(int(fields["len"]))
        count += 1
        record.write("%s serial:%s pool:%s %s\n" % (fields["eventname"], fields["serial"], fields["pool"], payload.strip()))
        answer = "FAIL" if reject_first and count == 1 else "OK"
        sys.stdout.write("RESULT %d\n%s" % (len(answer), answer))
        sys.stdout.flush()
        if mode == "once":
            return


if __name__ == "__main__":
    main()
