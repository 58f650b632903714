/* A repository's page: the admin's trigger buttons and form (POST .../trigger with the cookie). */
"use strict";

(function () {
  const A = window.Autobuild;
  const section = document.getElementById("trigger");
  if (!section) return;
  const message = document.getElementById("action-message");

  function buildUrl(id) {
    return section.dataset.buildUrl.replace("BUILD_ID", encodeURIComponent(id));
  }

  async function trigger(body, button) {
    if (button) button.disabled = true;
    A.showMessage(message, "Asking the git host for the commit…", false);
    try {
      const data = await A.api(section.dataset.url, { method: "POST", json: body });
      const links = data.builds.map(function (build) {
        return { href: buildUrl(build.id), text: build.source_name + " → " + build.docker_tags.join(", ") };
      });
      const count = data.builds.length;
      A.showMessage(message, "Queued " + count + " build" + (count === 1 ? "" : "s") + ":", false, links);
    } catch (error) {
      A.showMessage(message, error.message, true);
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.trigger[data-body]");
    if (!button) return;
    event.preventDefault();
    trigger(JSON.parse(button.dataset.body), button);
  });

  document.getElementById("trigger-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const form = event.target;
    const kind = form.elements.kind.value;
    const name = form.elements.name.value.trim();
    if (!name) return;
    const body = kind === "docker_tag"
      ? { docker_tag: name }
      : { source_type: kind === "tag" ? "Tag" : "Branch", source_name: name };
    trigger(body, form.querySelector("button[type=submit]"));
  });
})();
