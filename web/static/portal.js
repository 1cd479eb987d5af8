// Tierline portal: on top of console.js (countdowns, live updates, no double submits),
// a case's forms follow its state. When a live update shows that the case now allows
// other actions (an agent resolved it: confirm and reopen), the forms are fetched again,
// unless something is typed in them: then the page says so and keeps what was typed.
// On the new-case page, articles that may answer the title are suggested as it is typed
// (the server's fragment, fetched once typing pauses); without this script the page's
// "search the knowledge base first" form does the same.
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

  var PAUSE_MS = 250;

  function suggest() {
    var title = document.getElementById("title");
    var box = document.getElementById("kb-suggestions");
    var url = box ? box.getAttribute("data-url") : null;
    if (!title || !box || !url || !window.fetch) return;
    var first = document.getElementById("kb-first");
    var hint = document.getElementById("title-hint");
    if (first) first.hidden = true;
    if (hint) {
      hint.hidden = false;
      title.setAttribute("aria-describedby", "title-hint");
    }
    var timer = null, asked = 0, shown = null;

    function ask() {
      var q = title.value.trim();
      if (q === shown) return;
      var mine = ++asked;  // only the newest answer is shown, whatever order they come in
      if (!q) {
        shown = q;
        box.replaceChildren();
        return;
      }
      fetch(url + "?part=list&q=" + encodeURIComponent(q), {
        credentials: "same-origin", headers: { "Accept": "text/html" }
      }).then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      }).then(function (html) {
        if (mine !== asked) return;
        var holder = document.createElement("div");
        holder.innerHTML = html;  // the server's own escaped HTML
        box.replaceChildren.apply(box, Array.prototype.slice.call(holder.childNodes));
        box.setAttribute("data-query", q);
        shown = q;
      }).catch(function () {});
    }

    title.addEventListener("input", function () {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(ask, PAUSE_MS);
    });
    if (title.value.trim()) ask();
  }

  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("DOMContentLoaded", suggest);
})();
