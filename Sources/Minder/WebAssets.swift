// The web page's stylesheet and script, built into minderd so that the page
// needs nothing from anywhere else. The script only enhances: the HTML works
// without it. Everything it shows from minderd goes in as text (textContent),
// never as markup.

enum WebAssets {
    static let css = #"""
    :root { color-scheme: light dark; --line: #8884; --ok: #1a7f37; --bad: #c62828; --wait: #9a6700; --dim: #6e7781; }
    * { box-sizing: border-box; }
    body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 0 1rem 2rem; max-width: 80rem; }
    header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem 1.5rem; border-bottom: 1px solid var(--line); }
    h1 { font-size: 1.3rem; margin: .6rem 0; }
    nav a, .actions a { margin-right: .6rem; }
    a { color: #0969da; }
    a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, pre:focus-visible { outline: 2px solid #0969da; outline-offset: 2px; }
    #message { min-height: 1.4em; margin: .5rem 0; font-weight: 600; }
    .tools { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin-bottom: .5rem; }
    #filter { font: inherit; padding: .3rem .5rem; min-width: 14rem; }
    .live { color: var(--dim); font-size: .9em; }
    .live.on { color: var(--ok); }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
    tr.group th { background: #8881; padding-top: .7rem; }
    td.cpu, td.mem, td.restarts { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
    td.state { font-weight: 600; white-space: nowrap; }
    .running { color: var(--ok); }
    .fatal, .backoff, .exited, .unknown { color: var(--bad); }
    .starting, .stopping { color: var(--wait); }
    .stopped { color: var(--dim); }
    td.desc { word-break: break-word; }
    td.actions { white-space: nowrap; }
    pre#log { white-space: pre-wrap; word-break: break-all; font: 13px/1.35 ui-monospace, monospace; background: #8881; padding: .6rem; min-height: 10rem; }
    form.confirm { margin: 2rem 0; }
    form.confirm button { font: inherit; padding: .4rem 1rem; }
    .why { color: var(--dim); }
    footer { color: var(--dim); margin-top: 1rem; font-size: .85em; }
    @media (max-width: 44rem) {
      th:nth-child(4), td.cpu, th:nth-child(5), td.mem, th:nth-child(6), td.restarts { display: none; }
      td.actions { white-space: normal; }
      td.actions a { display: inline-block; padding: .25rem 0; }
    }
    """#

    static let script = #"""
    "use strict";
    (() => {
      const $ = (selector) => document.querySelector(selector);
      const message = $("#message");
      const say = (text) => { if (message) message.textContent = text; };

      // Actions go as same-origin POSTs of the link's own query; the stream shows what they do.
      document.addEventListener("click", (event) => {
        const link = event.target.closest ? event.target.closest("a[data-action]") : null;
        if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        const form = new URLSearchParams(new URL(link.getAttribute("href"), location.href).search);
        if (form.get("action") === "signal") form.set("signal", $("#signal").value);
        say(form.get("action") + " " + (form.get("processname") || "all") + " ...");
        fetch("index.html", { method: "POST", body: form, headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then((reply) => reply.ok ? reply.json() : reply.text().then((text) => ({ message: "ERROR: " + text })))
          .then((answer) => say(answer.message), (error) => say("ERROR: " + error));
      });

      const table = $("#processes");
      if (table) live(table);
      const log = $("#log");
      if (log && log.dataset.follow) follow(log);

      function live(table) {
        const rows = new Map();
        const records = new Map();
        for (const row of table.querySelectorAll("tr[data-namespec]")) rows.set(row.dataset.namespec, row);
        const mark = $("#live");
        const box = $("#filter");
        let skew = 0;
        let fresh = false;
        const stream = new EventSource("page.events");
        stream.onopen = () => { fresh = true; mark.textContent = "live"; mark.className = "live on"; };
        stream.onerror = () => { mark.textContent = "reconnecting"; mark.className = "live"; };
        stream.addEventListener("update", (event) => {
          const update = JSON.parse(event.data);
          skew = update.now - Date.now() / 1000;
          const gone = new Set(update.gone);
          // A new stream starts with every process: the rows it does not name are gone.
          if (fresh) {
            const named = new Set(update.set.map((p) => p.namespec));
            for (const name of rows.keys()) if (!named.has(name)) gone.add(name);
            fresh = false;
          }
          for (const name of gone) {
            const row = rows.get(name);
            if (row) row.remove();
            rows.delete(name);
            records.delete(name);
          }
          for (const record of update.set) show(record);
          filter();
        });
        box.addEventListener("input", filter);
        setInterval(() => { if (!document.hidden) for (const record of records.values()) describe(record); }, 1000);

        function show(record) {
          records.set(record.namespec, record);
          const row = rows.get(record.namespec) || addRow(record);
          const state = row.cells[0];
          state.textContent = record.state;
          state.className = "state " + record.state.toLowerCase();
          row.cells[3].textContent = record.cpu === undefined || record.pid === 0 ? "" : record.cpu.toFixed(1) + "%";
          row.cells[4].textContent = record.rss === undefined || record.pid === 0 ? "" : (record.rss / 1048576).toFixed(1) + " MB";
          row.cells[5].textContent = String(record.restarts);
          describe(record);
        }

        // supervisorctl's description: a running process's pid and uptime, then the rest.
        function describe(record) {
          const row = rows.get(record.namespec);
          if (!row) return;
          let text = record.note;
          if (record.state === "RUNNING" && !record.note.startsWith("waiting for")) {
            const up = Math.max(0, Math.floor(Date.now() / 1000 + skew - record.start));
            const days = Math.floor(up / 86400), rest = up % 86400;
            const two = (n) => (n < 10 ? "0" : "") + n;
            let clock = Math.floor(rest / 3600) + ":" + two(Math.floor(rest % 3600 / 60)) + ":" + two(rest % 60);
            if (days > 0) clock = days + (days === 1 ? " day, " : " days, ") + clock;
            text = "pid " + record.pid + ", uptime " + clock + (record.note ? ", " + record.note : "");
          }
          if (row.cells[2].textContent !== text) row.cells[2].textContent = text;
        }

        function addRow(record) {
          let body = null;
          for (const candidate of table.tBodies) if (candidate.dataset.group === record.group) body = candidate;
          if (!body) {
            body = table.createTBody();
            body.dataset.group = record.group;
          }
          const row = body.insertRow();
          row.dataset.namespec = record.namespec;
          for (const kind of ["state", "name", "desc", "cpu", "mem", "restarts", "actions"]) row.insertCell().className = kind;
          const tail = document.createElement("a");
          tail.href = "tail.html?" + new URLSearchParams({ processname: record.namespec });
          tail.textContent = record.name;
          row.cells[1].append(tail);
          for (const action of ["start", "stop", "restart", "signal", "clearlog"]) {
            const link = document.createElement("a");
            link.href = "index.html?" + new URLSearchParams({ processname: record.namespec, action });
            link.dataset.action = action;
            link.textContent = action;
            row.cells[6].append(link, " ");
          }
          const stderr = document.createElement("a");
          stderr.href = "tail.html?" + new URLSearchParams({ processname: record.namespec, channel: "stderr" });
          stderr.textContent = "stderr";
          row.cells[6].append(stderr);
          rows.set(record.namespec, row);
          return row;
        }

        function filter() {
          const wanted = box.value.trim().toLowerCase();
          for (const [name, row] of rows) row.hidden = wanted !== "" && !name.toLowerCase().includes(wanted);
          for (const body of table.tBodies) {
            const header = body.querySelector("tr.group");
            if (header) header.hidden = wanted !== "" && !Array.from(body.rows).some((r) => r !== header && !r.hidden);
          }
        }
      }

      // The log as it is written: the follow stream starts with the same tail the page shows.
      async function follow(pre) {
        let reply;
        try { reply = await fetch(pre.dataset.follow, { credentials: "same-origin" }); } catch (error) { return; }
        if (!reply.ok || !reply.body) return;
        const reader = reply.body.getReader();
        const decoder = new TextDecoder();
        let first = true;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
          if (first) { pre.textContent = ""; first = false; }
          pre.append(decoder.decode(value, { stream: true }));
          if (atEnd) window.scrollTo(0, document.body.scrollHeight);
        }
      }
    })();
    """#
}
