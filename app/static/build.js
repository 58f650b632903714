/* A build's page: the live log (Server-Sent Events), phases, status, digest and admin buttons. */
"use strict";

(function () {
  const A = window.Autobuild;
  const POLL_MS = 2000;
  const STEP_RE = /^Step (\d+)\/(\d+) : /;
  /* A tag pushed: the worker's "Pushed <image>:<tag> as <digest>", or Docker's "<tag>: digest: ...". */
  const WORKER_PUSHED_RE = /^Pushed \S+:([^:\s/]+) as sha256:[0-9a-f]{64}/;
  const DOCKER_PUSHED_RE = /^([^:\s/]+): digest: sha256:[0-9a-f]{64}/;
  const MARKER_PREFIX = "==> ";
  const PHASES = ["clone", "build", "push"];
  const STATUS_PHASE = { cloning: 0, building: 1, pushing: 2 };

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
  const progress = { step: null, pushed: new Set(), current: null, seen: new Set() };

  /* -- the log ------------------------------------------------------------------------------ */

  /* Follow the progress a line tells; true when it starts a new phase. */
  function track(text, phase) {
    const changed = Boolean(phase) && phase !== progress.current;
    if (phase) {
      progress.current = phase;
      progress.seen.add(phase);
    }
    const step = STEP_RE.exec(text);
    if (step) progress.step = [Number(step[1]), Number(step[2])];
    const pushed = WORKER_PUSHED_RE.exec(text) || DOCKER_PUSHED_RE.exec(text);
    if (pushed && progress.current === "push") progress.pushed.add(pushed[1]);
    return changed;
  }

  function atBottom() {
    return logNode.scrollHeight - logNode.scrollTop - logNode.clientHeight < 40;
  }

  function appendLine(line) {
    const stick = follow.checked;
    const time = new Date(line.time);
    const marker = Boolean(line.phase) && line.text.startsWith(MARKER_PREFIX);
    const span = A.el("span", { class: marker ? "line marker" : "line", dataset: { phase: line.phase || "" } },
      A.el("time", { datetime: line.time }, time.toISOString().slice(11, 19)), " " + line.text);
    logNode.append(span, "\n");
    const newPhase = track(line.text, line.phase);
    markErrorLine(span);
    renderPhases();
    logEmpty.hidden = true;
    if (stick) logNode.scrollTop = logNode.scrollHeight;
    return newPhase;
  }

  function openStream() {
    const url = root.dataset.logs + "?after=" + encodeURIComponent(lastId);
    source = new EventSource(url);
    logState.textContent = "live";
    source.addEventListener("line", function (event) {
      lastId = event.lastEventId || lastId;
      if (appendLine(JSON.parse(event.data))) refresh();  /* a new phase: a new status too */
      A.setConnectionLost(false);
    });
    source.addEventListener("end", function (event) {
      source.close();
      source = null;
      logState.textContent = "complete";
      const data = JSON.parse(event.data);
      if (data.status && data.status !== status) refresh();
      else renderPhases();
    });
    source.addEventListener("open", function () { A.setConnectionLost(false); });
    source.addEventListener("error", function () {
      if (!source) return;
      if (source.readyState === EventSource.CLOSED) {
        source = null;
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

  /* -- phases ------------------------------------------------------------------------------- */

  function phaseReached() {
    if (status in STATUS_PHASE) return STATUS_PHASE[status];
    if (status === "success") return PHASES.length;
    let reached = -1;
    PHASES.forEach(function (name, index) { if (progress.seen.has(name)) reached = index; });
    if (reached >= 0) return reached;
    return build && build.started_at ? 0 : -1;
  }

  function renderPhases() {
    const terminal = A.isTerminal(status);
    const reached = phaseReached();
    const tagCount = Number(root.dataset.tags);
    PHASES.forEach(function (name, index) {
      const node = document.querySelector('.phase[data-phase="' + name + '"]');
      let state = "pending";
      if (index < reached) state = "done";
      else if (index === reached) state = terminal ? "failed" : "active";
      else if (terminal) state = "skipped";
      node.className = "phase phase-" + state;
      const bar = node.querySelector("progress");
      let detail = "";
      let value = null;
      let max = null;
      if (name === "build" && progress.step) {
        const number = state === "done" ? progress.step[1] : progress.step[0];
        detail = "step " + number + " of " + progress.step[1];
        value = number;
        max = progress.step[1];
      } else if (name === "push" && state !== "pending") {
        const count = state === "done" ? tagCount : progress.pushed.size;
        detail = count + " of " + tagCount + " tags pushed";
        value = count;
        max = tagCount;
      }
      node.querySelector(".phase-detail").textContent = detail;
      if (max) {
        bar.max = max;
        bar.value = value;
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
    await refresh();
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

  logNode.querySelectorAll(".line").forEach(function (span) {
    track(span.lastChild.textContent.replace(/^ /, ""), span.dataset.phase || null);
  });
  markErrorLines();
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
