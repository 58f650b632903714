/* A build's page: the live log (Server-Sent Events), phases, status, digest and admin buttons. */
"use strict";

(function () {
  const A = window.Autobuild;
  const POLL_MS = 2000;
  /* The rows of phases, as app/phaseview.py draws them: verify reads as part of push. */
  const ROWS = [["clone", "Clone", ["clone"]], ["build", "Build", ["build"]], ["push", "Push", ["push", "verify"]]];
  const STATUS_ROW = { cloning: 0, building: 1, pushing: 2 };

  const root = document.getElementById("build");
  if (!root) return;
  const logNode = document.getElementById("log");
  const follow = document.getElementById("follow");
  const logState = document.getElementById("log-state");
  const logEmpty = document.getElementById("log-empty");
  const message = document.getElementById("action-message");

  let build = null;  // the latest JSON from /api/v1/builds/<id>
  let status = root.dataset.status;
  let lastId = root.dataset.after || "0";
  let source = null;
  let pollTimer = null;
  let streamed = false;  /* the open stream sends the record as it changes: no need to poll */

  /* -- the log ------------------------------------------------------------------------------ */

  function atBottom() {
    return logNode.scrollHeight - logNode.scrollTop - logNode.clientHeight < 40;
  }

  function appendLine(line) {
    const stick = follow.checked;
    const span = lineNode(line);
    logNode.append(span, "\n");
    markErrorLine(span);
    logEmpty.hidden = true;
    if (stick) logNode.scrollTop = logNode.scrollHeight;
  }

  function lineNode(line) {
    const time = new Date(line.time);
    return A.el("span", { class: line.marker ? "line marker" : "line", dataset: { phase: line.phase || "" } },
      A.el("time", { datetime: line.time }, time.toISOString().slice(11, 19)), " " + line.text);
  }

  /* The page shows the last lines of a long log; earlier ones come a page at a time. */
  async function loadEarlier(button) {
    button.disabled = true;
    try {
      const url = root.dataset.logs + "?lines=1000&before=" + encodeURIComponent(button.dataset.before);
      const page = await A.api(url);
      const nodes = [];
      page.lines.forEach(function (line) {
        const span = lineNode(line);
        markErrorLine(span);
        nodes.push(span, "\n");
      });
      const height = logNode.scrollHeight;
      logNode.prepend.apply(logNode, nodes);
      logNode.scrollTop += logNode.scrollHeight - height;  /* keep the lines in view where they were */
      if (page.lines.length) button.dataset.before = page.lines[0].id;
      document.getElementById("log-earlier").hidden = !page.earlier;
    } catch (error) {
      A.showMessage(message, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  function openStream() {
    const url = root.dataset.logs + "?after=" + encodeURIComponent(lastId);
    source = new EventSource(url);
    logState.textContent = "live";
    source.addEventListener("line", function (event) {
      lastId = event.lastEventId || lastId;
      appendLine(JSON.parse(event.data));
      A.setConnectionLost(false);
    });
    /* The record (status, phases, progress) whenever it changed, before the lines it goes with. */
    source.addEventListener("build", function (event) {
      streamed = true;
      render(JSON.parse(event.data));
    });
    source.addEventListener("end", function (event) {
      source.close();
      source = null;
      streamed = false;
      logState.textContent = "complete";
      const data = JSON.parse(event.data);
      if (data.status && data.status !== status) refresh();
    });
    source.addEventListener("open", function () { A.setConnectionLost(false); });
    source.addEventListener("error", function () {
      if (!source) return;
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        streamed = false;
        A.setConnectionLost(true);
        logState.textContent = "reconnecting";
        setTimeout(openStream, 3000);
      }
      /* CONNECTING: the browser retries by itself, sending Last-Event-ID. */
    });
  }

  /* -- the error ---------------------------------------------------------------------------- */

  function markErrorLine(span) {
    const error = build ? build.error : document.getElementById("error-text").textContent.trim();
    if (!error || ["failed", "error", "timed_out"].indexOf(status) === -1) return;
    const text = span.lastChild.textContent.trim();
    if (text.length >= 20 && (error.indexOf(text) !== -1 || text.indexOf(error) !== -1)) {
      span.classList.add("error-line");
    }
  }

  function markErrorLines() {
    logNode.querySelectorAll(".line").forEach(markErrorLine);
  }

  /* -- phases: drawn from the record's phases and progress ---------------------------------- */

  function rows() {
    /* Each phase not in ROWS goes after the row of the phase recorded before it. */
    const all = ROWS.slice();
    let after = -1;
    (build.phases || []).forEach(function (phase) {
      const found = all.findIndex(function (row) { return row[2].indexOf(phase.name) !== -1; });
      if (found !== -1) {
        after = Math.max(after, found);
        return;
      }
      after += 1;
      const title = phase.name.replace(/_/g, " ");
      all.splice(after, 0, [phase.name, title.charAt(0).toUpperCase() + title.slice(1), [phase.name]]);
    });
    return all;
  }

  function stateFromStatus(index) {
    const terminal = A.isTerminal(status);
    if (status === "success") return "done";
    const reached = status in STATUS_ROW ? STATUS_ROW[status] : (build.started_at ? 0 : -1);
    if (index < reached) return "done";
    if (index === reached) return terminal ? "failed" : "active";
    return terminal ? "skipped" : "pending";
  }

  function stateFromPhases(phases, names) {
    const terminal = A.isTerminal(status);
    const statuses = new Set(phases.map(function (phase) { return phase.status; }));
    if (!phases.length) return terminal ? "skipped" : "pending";
    if (statuses.has("failed") || statuses.has("canceled")) return "failed";
    if (statuses.has("running")) return terminal ? "failed" : "active";
    if (statuses.size === 1 && statuses.has("skipped")) return "skipped";
    if (phases.length < names && !terminal) return "active";
    return "done";
  }

  function detail(name, state) {
    const progress = build.progress || { steps: [], pushed: [] };
    if (name === "build") {
      const step = (progress.steps || []).find(function (s) { return s.platform === null; });
      if (!step) return null;
      const number = state === "done" ? step.total : step.number;
      return ["step " + number + " of " + step.total, number, step.total];
    }
    if (name === "push" && state !== "pending") {
      const total = build.docker_tags.length;
      const pushed = new Set((progress.pushed || []).map(function (p) { return p.tag; }));
      const count = state === "done" ? total : pushed.size;
      return [count + " of " + total + " tags pushed", count, total];
    }
    return null;
  }

  function phaseNode(name, title) {
    let node = document.querySelector('.phase[data-phase="' + name + '"]');
    if (!node) {
      node = A.el("li", { class: "phase", dataset: { phase: name } },
        A.el("span", { class: "phase-title" }, title), " ",
        A.el("span", { class: "phase-detail" }), " ", A.el("progress", {}));
      document.getElementById("phases").append(node);
    }
    return node;
  }

  function renderPhases() {
    if (!build) return;  /* the server drew them; the first answer from the API redraws them */
    const recorded = status === "queued" ? [] : (build.phases || []);
    rows().forEach(function (row, index) {
      const names = row[2];
      let state;
      if (recorded.length) {
        const mine = recorded.filter(function (phase) { return names.indexOf(phase.name) !== -1; });
        state = stateFromPhases(mine, names.length);
      } else {
        state = index < ROWS.length ? stateFromStatus(index) : "pending";
      }
      const node = phaseNode(row[0], row[1]);
      document.getElementById("phases").append(node);  /* in the rows' order */
      node.className = "phase phase-" + state;
      const bar = node.querySelector("progress");
      const shown = detail(row[0], state);
      node.querySelector(".phase-detail").textContent = shown ? shown[0] : "";
      if (shown && shown[2]) {
        bar.max = shown[2];
        bar.value = shown[1];
      } else if (state === "active") {
        bar.removeAttribute("value");  /* indeterminate */
      } else {
        bar.max = 1;
        bar.value = state === "done" ? 1 : 0;
      }
    });
  }

  /* -- the record ----------------------------------------------------------------------------- */

  function render(data) {
    build = data;
    status = data.status;
    root.dataset.status = status;
    document.querySelectorAll("h1 .status").forEach(function (node) { A.setStatusBadge(node, status); });
    const errorBox = document.getElementById("error");
    if (data.error) {
      const ended = status === "canceled" || status === "superseded";
      document.getElementById("error-title").textContent =
        (ended ? status.charAt(0).toUpperCase() + status.slice(1) : "Build " + status.replace(/_/g, " ")) + ":";
      document.getElementById("error-text").textContent = data.error;
      errorBox.hidden = false;
      markErrorLines();
    } else {
      errorBox.hidden = true;
    }
    const waitingText = document.getElementById("waiting-text");
    if ("waiting_reason" in data) waitingText.textContent = data.waiting_reason || "";
    document.getElementById("waiting").hidden = status !== "queued" || !waitingText.textContent;
    if (data.digest) {
      document.getElementById("digest-value").textContent = data.digest;
      document.getElementById("pull-command").value = "docker pull " + data.image + "@" + data.digest;
      document.getElementById("digest").hidden = false;
    }
    const duration = document.getElementById("duration");
    duration.dataset.started = data.started_at || "";
    duration.dataset.finished = data.finished_at || "";
    A.refreshTimes(root);
    const cancel = document.getElementById("cancel");
    const retry = document.getElementById("retry");
    if (cancel) cancel.hidden = A.isTerminal(status);
    if (retry) retry.hidden = !A.isTerminal(status);
    if (A.isTerminal(status) && status !== "queued") logEmpty.textContent = "No log lines.";
    renderPhases();
    document.title = data.repository + " " + data.source_name + " · " + status + " · Autobuild";
  }

  async function refresh() {
    try {
      render(await A.api(root.dataset.api));
      A.setConnectionLost(false);
    } catch (error) {
      A.setConnectionLost(error);
    }
  }

  async function poll() {
    pollTimer = null;
    if (!(source && streamed)) await refresh();  /* an answer older than the stream's record
                                                     must not draw over it */
    if (!A.isTerminal(status)) pollTimer = setTimeout(poll, POLL_MS);
  }

  /* -- admin buttons ---------------------------------------------------------------------------- */

  function buildUrl(id) {
    return root.dataset.buildUrl.replace("BUILD_ID", encodeURIComponent(id));
  }

  async function post(button) {
    button.disabled = true;
    try {
      const data = await A.api(button.dataset.url, { method: "POST" });
      if (data && data.builds && data.builds.length) {
        window.location.assign(buildUrl(data.builds[0].id));
        return;
      }
      A.showMessage(message, "Done.", false);
      await refresh();
    } catch (error) {
      A.showMessage(message, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  ["cancel", "retry"].forEach(function (id) {
    const button = document.getElementById(id);
    if (button) button.addEventListener("click", function () { post(button); });
  });

  /* -- start -------------------------------------------------------------------------------------- */

  markErrorLines();
  const earlier = document.getElementById("load-earlier");
  if (earlier) earlier.addEventListener("click", function () { loadEarlier(earlier); });
  follow.addEventListener("change", function () {
    if (follow.checked) logNode.scrollTop = logNode.scrollHeight;
  });
  logNode.addEventListener("scroll", function () {
    if (!atBottom() && follow.checked && source) follow.checked = false;
  }, { passive: true });
  logNode.scrollTop = logNode.scrollHeight;
  renderPhases();
  poll();
  openStream();
})();
