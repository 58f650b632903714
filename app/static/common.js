/* Autobuild: helpers every page shares. Plain JavaScript, no build step. */
"use strict";

window.Autobuild = (function () {
  const TERMINAL = ["success", "failed", "error", "timed_out", "canceled", "superseded"];

  function isTerminal(status) {
    return TERMINAL.indexOf(status) !== -1;
  }

  /* The same text as the server's seconds_text: 5s, 1m 05s, 1h 02m. */
  function formatSeconds(total) {
    const seconds = Math.max(Math.floor(total), 0);
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const secs = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (hours) return hours + "h " + pad(minutes) + "m";
    if (minutes) return minutes + "m " + pad(secs) + "s";
    return secs + "s";
  }

  function relativeTime(iso) {
    const then = Date.parse(iso);
    if (isNaN(then)) return "";
    const seconds = Math.round((Date.now() - then) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return new Date(then).toLocaleString();
  }

  function durationText(started, finished) {
    if (!started) return "";
    const end = finished ? Date.parse(finished) : Date.now();
    return formatSeconds((end - Date.parse(started)) / 1000);
  }

  function refreshTimes(root) {
    (root || document).querySelectorAll("time[data-relative]").forEach(function (node) {
      node.textContent = relativeTime(node.getAttribute("datetime"));
    });
    (root || document).querySelectorAll(".duration[data-started]").forEach(function (node) {
      const text = durationText(node.dataset.started, node.dataset.finished);
      if (node.textContent !== text) node.textContent = text;
    });
  }

  /* Build an element: el("a", {href: "/x", class: "y"}, "text", child). Text is never HTML. */
  function el(tag, attributes) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      const value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function statusBadge(status) {
    return el("span", { class: "status status-" + status, dataset: { status: status } },
      status.replace(/_/g, " "));
  }

  function setStatusBadge(node, status) {
    node.className = "status status-" + status;
    node.dataset.status = status;
    node.textContent = status.replace(/_/g, " ");
  }

  /* The banner under the header: false hides it; an error says what went wrong. */
  function setConnectionLost(problem) {
    const banner = document.getElementById("connection");
    if (!banner) return;
    banner.hidden = !problem;
    if (!problem) return;
    banner.textContent = problem instanceof Error && problem.status
      ? "The server answered: " + problem.message + " Retrying…"
      : "Connection to the server lost; retrying…";
  }

  /* A JSON API call with the login cookie; the custom header is the CSRF guard. */
  async function api(url, options) {
    const init = Object.assign({ credentials: "same-origin" }, options || {});
    init.headers = Object.assign(
      { Accept: "application/json", "X-Requested-With": "autobuild-ui" },
      init.headers || {});
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers["Content-Type"] = "application/json";
      delete init.json;
    }
    const response = await fetch(url, init);
    let data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error : "The server answered " + response.status + ".";
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea", { readonly: true, class: "offscreen" }, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function showMessage(node, text, isError, links) {
    if (!node) return;
    node.replaceChildren(text);
    (links || []).forEach(function (link) {
      node.append(" ", el("a", { href: link.href }, link.text));
    });
    node.classList.toggle("is-error", Boolean(isError));
    node.hidden = false;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    source.select && source.select();
    copyText(source.value || source.textContent).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 1500);
    }).catch(function () {
      button.textContent = "Press Ctrl+C";
    });
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    refreshTimes(document);
    setInterval(function () { refreshTimes(document); }, 1000);
  });

  return {
    api: api,
    el: el,
    isTerminal: isTerminal,
    formatSeconds: formatSeconds,
    durationText: durationText,
    refreshTimes: refreshTimes,
    relativeTime: relativeTime,
    setConnectionLost: setConnectionLost,
    setStatusBadge: setStatusBadge,
    showMessage: showMessage,
    statusBadge: statusBadge,
  };
})();
