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
    tr.group th, tr.group td { background: #8881; padding-top: .7rem; }
    td.cpu, td.mem, td.restarts { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
    td.state { font-weight: 600; white-space: nowrap; }
    .running { color: var(--ok); }
    .fatal, .backoff, .exited, .unknown { color: var(--bad); }
    .starting, .stopping { color: var(--wait); }
    .stopped { color: var(--dim); }
    td.desc { word-break: break-word; min-width: 16rem; }
    td.actions { white-space: nowrap; }
    html:not(.js) button.menu { display: none; }
    button.menu { font: inherit; padding: .1rem .5rem; }
    #menu { position: absolute; z-index: 10; display: flex; flex-direction: column; min-width: 10rem; background: Canvas;
            border: 1px solid var(--line); border-radius: 4px; box-shadow: 0 4px 12px #0003; padding: .25rem 0; }
    #menu[hidden] { display: none; }
    #menu button, #menu a { font: inherit; text-align: left; padding: .45rem .9rem; background: none; border: 0; color: inherit; text-decoration: none; margin: 0; cursor: pointer; }
    #menu button:hover, #menu a:hover, #menu button:focus, #menu a:focus { background: #8882; }
    pre#log { white-space: pre-wrap; word-break: break-all; font: 13px/1.35 ui-monospace, monospace; background: #8881; padding: .6rem; min-height: 10rem; }
    form.confirm { margin: 2rem 0; }
    form.confirm button { font: inherit; padding: .4rem 1rem; }
    .why { color: var(--dim); }
    footer { color: var(--dim); margin-top: 1rem; font-size: .85em; }
    @media (max-width: 44rem) {
      th:nth-child(4), td.cpu, th:nth-child(5), td.mem, th:nth-child(6), td.restarts { display: none; }
    }
    """#

    static let script = #"""
    "use strict";
    (() => {
      const $ = (selector) => document.querySelector(selector);
      const message = $("#message");
      const say = (text) => { if (message) message.textContent = text; };

      document.documentElement.classList.add("js");

      // Actions go as same-origin POSTs; the stream shows what they do.
      function act(form) {
        say(form.get("action") + " " + (form.get("processname") || "all") + " ...");
        fetch("index.html", { method: "POST", body: form, headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then((reply) => reply.ok ? reply.json() : reply.text().then((text) => ({ message: "ERROR: " + text })))
          .then((answer) => say(answer.message), (error) => say("ERROR: " + error));
      }

      // One menu for every row, filled for the row whose button opened it.
      const menu = document.createElement("div");
      menu.id = "menu";
      menu.setAttribute("role", "menu");
      menu.hidden = true;
      document.body.append(menu);
      let opener = null;

      function openMenu(button) {
        const row = button.closest("tr");
        const name = row.dataset.namespec;
        const up = ["RUNNING", "STARTING", "BACKOFF", "STOPPING"].includes(row.dataset.state);
        const items = up ? [["stop", "Stop"], ["restart", "Restart"], ["signal", "Send SIG" + $("#signal").value]]
                         : [["start", "Start"], ["restart", "Restart"]];
        menu.replaceChildren();
        for (const [action, label] of items.concat([["clearlog", "Clear log"]])) {
          const item = document.createElement("button");
          item.type = "button";
          item.setAttribute("role", "menuitem");
          item.dataset.action = action;
          item.textContent = label;
          menu.append(item);
        }
        for (const [channel, label] of [["stdout", "Output"], ["stderr", "Errors"]]) {
          const item = document.createElement("a");
          item.setAttribute("role", "menuitem");
          item.href = "tail.html?" + new URLSearchParams({ processname: name, channel });
          item.textContent = label;
          menu.append(item);
        }
        menu.dataset.namespec = name;
        const box = button.getBoundingClientRect();
        menu.style.top = window.scrollY + box.bottom + 2 + "px";
        menu.style.left = Math.max(4, window.scrollX + box.right - 176) + "px";
        menu.hidden = false;
        opener = button;
        button.setAttribute("aria-expanded", "true");
        menu.firstChild.focus();
      }

      function closeMenu(refocus) {
        if (menu.hidden) return;
        menu.hidden = true;
        if (opener) {
          opener.removeAttribute("aria-expanded");
          if (refocus) opener.focus();
        }
        opener = null;
      }

      document.addEventListener("click", (event) => {
        const target = event.target.closest ? event.target : null;
        if (!target) return;
        const button = target.closest("button.menu");
        if (button) {
          const same = button === opener;
          closeMenu(false);
          if (!same) openMenu(button);
          return;
        }
        const item = target.closest("#menu button[data-action]");
        if (item) {
          const form = new URLSearchParams({ processname: menu.dataset.namespec, action: item.dataset.action });
          if (item.dataset.action === "signal") form.set("signal", $("#signal").value);
          closeMenu(true);
          return act(form);
        }
        if (!target.closest("#menu")) closeMenu(false);
        const link = target.closest("a[data-action]");
        if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        act(new URLSearchParams(new URL(link.getAttribute("href"), location.href).search));
      });
      document.addEventListener("keydown", (event) => {
        if (menu.hidden) return;
        const items = Array.from(menu.children);
        const at = items.indexOf(document.activeElement);
        if (event.key === "Escape") closeMenu(true);
        else if (event.key === "ArrowDown") items[(at + 1) % items.length].focus();
        else if (event.key === "ArrowUp") items[(at + items.length - 1) % items.length].focus();
        else return;
        event.preventDefault();
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
          const added = update.set.some((record) => !rows.has(record.namespec));
          for (const record of update.set) show(record);
          if (added || box.value.trim() !== "") filter();
        });
        box.addEventListener("input", filter);
        setInterval(() => { if (!document.hidden) for (const record of records.values()) describe(record); }, 1000);

        function show(record) {
          records.set(record.namespec, record);
          const row = rows.get(record.namespec) || addRow(record);
          const state = row.cells[0];
          state.textContent = record.state;
          state.className = "state " + record.state.toLowerCase();
          row.dataset.state = record.state;
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
          const button = document.createElement("button");
          button.type = "button";
          button.className = "menu";
          button.setAttribute("aria-haspopup", "menu");
          button.textContent = "actions";
          row.cells[6].append(button);
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
        // Everything written from now on comes through this stream (its tests wait for this mark).
        pre.dataset.following = "true";
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
