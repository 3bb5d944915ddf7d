"""Crash-test writer: logs events forever, printing each id after its write returned."""

import sys

from shelfwise.events import Click, Impression, SQLiteEventStore

store = SQLiteEventStore(sys.argv[1])
i = 0
while True:
    imp = Impression(f"imp-{i}", f"slate-{i}", "u", ("a", "b"), (0.5, 0.5), "random", "1")
    store.log_impression(imp)
    print(imp.event_id, flush=True)
    store.log_click(Click(f"click-{i}", f"slate-{i}", "u", "a", 0))
    print(f"click-{i}", flush=True)
    i += 1
