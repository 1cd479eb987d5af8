// Tierline console, a release's page: its changing part (state, the count of resolved
// cases, the linked cases, the notes) follows the cases' changes pushed by the server
// (server-sent events). Linked cases are all in tier 3, so only tier-3 changes refresh.
"use strict";

(function () {
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
    var live = window.TierlineLive;  // console.js, loaded first
    var refresh = live.refresher(function () { return live.replaceFrom(url, box, false); });
    var source = new EventSource("/console/events");
    // Once the server listens (see console.js): catch up with what changed before.
    source.addEventListener("ready", function () {
      if (status) status.textContent = "live";
      document.body.setAttribute("data-live-connected", "yes");
      refresh();
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
