// Tierline console, a release's page: its changing part (state, the count of resolved
// cases, the linked cases, the notes) follows the cases' changes pushed by the server
// (server-sent events). Linked cases are all in tier 3, so only tier-3 changes refresh.
"use strict";

(function () {
  // Bursts of changes refresh once: a refresh in flight is followed by at most one more.
  function refresher(run) {
    var running = false, again = false;
    return function refresh() {
      if (running) { again = true; return; }
      running = true;
      run().catch(function () {}).then(function () {
        running = false;
        if (again) { again = false; refresh(); }
      });
    };
  }

  function replaceFrom(url, box) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var focused = document.activeElement && box.contains(document.activeElement)
          ? document.activeElement.id : "";
        var holder = document.createElement("div");
        holder.innerHTML = html;  // the server's own escaped HTML
        box.replaceChildren.apply(box, Array.prototype.slice.call(holder.childNodes));
        // Keyboard users keep their place: the same button has the focus again.
        var again = focused && document.getElementById(focused);
        if (again) again.focus();
        document.body.setAttribute("data-refreshed", String(Date.now()));
      });
  }

  function linked(box) {
    var table = box.querySelector("[data-numbers]");
    var numbers = table ? table.getAttribute("data-numbers").split(" ") : [];
    return numbers.filter(Boolean).map(Number);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var url = document.body.getAttribute("data-release-live-url");
    var box = document.getElementById("live");
    if (!url || !box || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var refresh = refresher(function () { return replaceFrom(url, box); });
    var opened = false;
    var source = new EventSource("/console/events");
    source.addEventListener("open", function () {
      if (status) status.textContent = "live";
      document.body.setAttribute("data-live-connected", "yes");
      // After a reconnection, catch up with what was missed meanwhile.
      if (opened) refresh();
      opened = true;
    });
    source.addEventListener("error", function () {
      if (status) status.textContent = "reconnecting…";
    });
    source.addEventListener("case", function (event) {
      var change = JSON.parse(event.data);
      if (change.tier === 3 || linked(box).indexOf(change.number) >= 0) refresh();
    });
  });
})();
