/* The builds dashboard: polls /api/v1/builds every 2 seconds and redraws the table. */
"use strict";

(function () {
  const A = window.Autobuild;
  const POLL_MS = 2000;
  const table = document.getElementById("builds");
  if (!table) return;
  const body = table.tBodies[0];
  const empty = document.getElementById("empty");
  const summary = document.getElementById("summary");
  const d = table.dataset;
  let timer = null;
  let lastPayload = null;

  function apiUrl() {
    const params = new URLSearchParams({ limit: d.limit });
    if (d.repository) params.set("repository", d.repository);
    if (d.provider) params.set("provider", d.provider);
    if (d.status) params.set("status", d.status);
    return d.api + "?" + params.toString();
  }

  function buildUrl(id) {
    return d.buildUrl.replace("BUILD_ID", encodeURIComponent(id));
  }

  function repositoryUrl(build) {
    const name = build.repository.split("/").map(encodeURIComponent).join("/");
    return d.repositoryUrl.replace("PROVIDER", encodeURIComponent(build.provider)).replace("NAME", name);
  }

  function row(build) {
    const el = A.el;
    const created = new Date(build.created_at);
    const tags = build.docker_tags.map(function (tag) { return el("span", { class: "tag" }, tag); });
    return el("tr", { dataset: { id: build.id } },
      el("td", {}, A.statusBadge(build.status)),
      el("td", {},
        el("a", { href: repositoryUrl(build) }, build.repository),
        el("span", { class: "provider" }, build.provider)),
      el("td", {}, el("span", { class: "ref ref-" + build.source_type, title: build.source_type }, build.source_name)),
      el("td", {}, ...tags),
      el("td", {}, el("a", { class: "commit", href: buildUrl(build.id), title: build.commit }, build.commit.slice(0, 7))),
      el("td", {}, build.trigger),
      el("td", {}, el("time", { datetime: build.created_at, title: created.toLocaleString(), "data-relative": true },
        A.relativeTime(build.created_at))),
      el("td", { class: "duration", dataset: { started: build.started_at || "", finished: build.finished_at || "" } },
        A.durationText(build.started_at, build.finished_at)),
      el("td", {}, el("a", { class: "open", href: buildUrl(build.id), "aria-label": "Open build " + build.id }, "→")));
  }

  function describe(builds) {
    const counts = {};
    builds.forEach(function (b) { counts[b.status] = (counts[b.status] || 0) + 1; });
    const running = (counts.cloning || 0) + (counts.building || 0) + (counts.pushing || 0);
    const parts = [];
    if (running) parts.push(running + " running");
    if (counts.queued) parts.push(counts.queued + " queued");
    parts.push("updated " + new Date().toLocaleTimeString());
    return parts.join(" · ");
  }

  function render(builds) {
    const payload = JSON.stringify(builds);
    if (payload !== lastPayload) {
      lastPayload = payload;
      body.replaceChildren.apply(body, builds.map(row));
      empty.hidden = builds.length > 0;
    }
    summary.textContent = describe(builds);
  }

  let inFlight = false;

  async function poll() {
    timer = null;
    if (inFlight) return;
    inFlight = true;
    try {
      const data = await A.api(apiUrl());
      render(data.builds);
      A.setConnectionLost(false);
    } catch (error) {
      A.setConnectionLost(error);
    }
    inFlight = false;
    schedule();
  }

  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      poll();
    }
  });

  poll();
})();
