// Tierline portal: on top of console.js (countdowns, live updates, no double submits),
// a case's forms follow its state. When a live update shows that the case now allows
// other actions (an agent resolved it: confirm and reopen), the forms are fetched again,
// unless something is typed in them: then the page says so and keeps what was typed.
"use strict";

(function () {
  function dirty(box) {
    return Array.prototype.some.call(box.querySelectorAll("input, textarea, select"), function (el) {
      if (el.type === "hidden" || el.type === "submit") return false;
      if (el.type === "file") return el.files !== null && el.files.length > 0;
      if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
      if (el.tagName === "SELECT") {
        // A select shows its first option unless one is marked as selected.
        var first = 0;
        Array.prototype.forEach.call(el.options, function (o, i) { if (o.defaultSelected) first = i; });
        return el.selectedIndex !== first;
      }
      return el.value !== el.defaultValue;
    });
  }

  function follow() {
    var box = document.getElementById("actions");
    var url = document.body.getAttribute("data-actions-url");
    var stale = document.getElementById("actions-stale");
    if (!box || !url || !window.TierlineLive || !window.MutationObserver) return;
    var refresh = window.TierlineLive.refresher(function () {
      return window.TierlineLive.replaceFrom(url, box, false);
    });
    new MutationObserver(function () {
      var offered = document.getElementById("offered");
      var now = offered ? offered.getAttribute("data-offered") : null;
      if (now === null || now === box.getAttribute("data-offered")) return;
      if (dirty(box)) {
        if (stale) stale.hidden = false;
        return;
      }
      box.setAttribute("data-offered", now);
      if (stale) stale.hidden = true;
      refresh();
    }).observe(document.body, { attributes: true, attributeFilter: ["data-refreshed"] });
  }

  document.addEventListener("DOMContentLoaded", follow);
})();
