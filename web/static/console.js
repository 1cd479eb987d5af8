// Tierline console: live countdowns, live updates pushed by the server (server-sent
// events), keyboard shortcuts, and no double submits. No inline script: the page's
// Content-Security-Policy allows scripts from this site only.
"use strict";

(function () {
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function duration(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var rest = Math.floor(Math.abs(seconds));
    var d = Math.floor(rest / 86400); rest -= d * 86400;
    var h = Math.floor(rest / 3600); rest -= h * 3600;
    var m = Math.floor(rest / 60); var s = rest - m * 60;
    if (d) return sign + d + "d " + h + "h";
    if (h) return sign + h + "h " + pad(m) + "m";
    if (m) return sign + m + "m " + pad(s) + "s";
    return sign + s + "s";
  }

  // Each running clock counts down to its due instant; past it, it shows how late it is
  // and turns red at once (the server's breach event then confirms it).
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".clock[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = (due - now) / 1000;
      var text = el.querySelector(".countdown");
      if (left >= 0) {
        text.textContent = duration(left);
      } else {
        text.textContent = "overdue " + duration(-left);
        if (!el.classList.contains("breached")) {
          el.classList.remove("ok", "warned");
          el.classList.add("breached");
          el.querySelector(".level").textContent = "breached";
        }
      }
    });
  }

  function replaceFrom(url, target, pick) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        // What the keyboard is on (a queue row, a button) keeps the focus across the refresh.
        var active = document.activeElement;
        var inside = active && target.contains(active);
        var row = inside ? active.getAttribute("data-number") : null;
        var id = inside ? active.id : "";
        var holder = document.createElement(pick ? "tbody" : "div");
        holder.innerHTML = html;  // the server's own escaped HTML
        target.replaceChildren.apply(target, Array.prototype.slice.call(holder.childNodes));
        var again = row ? target.querySelector("tr[data-number='" + row + "']")
          : (id ? document.getElementById(id) : null);
        if (again) {
          if (row) again.setAttribute("tabindex", "0");
          again.focus();
        }
        document.body.setAttribute("data-refreshed", String(Date.now()));
        tick();
      });
  }

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

  function live() {
    var kind = document.body.getAttribute("data-live");
    if (!kind || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var refresh;
    if (kind === "queue") {
      var rows = document.getElementById("queue-rows");
      // A tier's queue (the portal's list of cases has none: every change may alter it).
      var tier = document.body.hasAttribute("data-tier")
        ? Number(document.body.getAttribute("data-tier")) : null;
      var rowsUrl = document.body.getAttribute("data-rows-url");
      refresh = refresher(function () { return replaceFrom(rowsUrl, rows, true); });
    } else if (kind === "case") {
      var box = document.getElementById("live");
      var liveUrl = document.body.getAttribute("data-live-url");
      var number = Number(document.body.getAttribute("data-number"));
      refresh = refresher(function () { return replaceFrom(liveUrl, box, false); });
    } else {
      refresh = function () {};
    }
    var source = new EventSource("/console/events");
    // "ready" comes once the server listens for this screen: whatever changed between
    // the page being rendered (or the stream dropping) and then is fetched once, and
    // every change after it is pushed.
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
      if (kind === "case" && change.number !== number) return;
      // A queue fetches its rows again for a case now in its tier, or one it shows (which
      // may just have left); a change anywhere else cannot alter them.
      if (kind === "queue" && tier !== null && change.tier !== tier &&
          !rows.querySelector("tr[data-number='" + change.number + "']")) return;
      refresh();
    });
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function keys() {
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-href]"));
      var current = rows.indexOf(document.activeElement);
      if (event.key === "j" || event.key === "k") {
        if (!rows.length) return;
        var next = event.key === "j" ? Math.min(current + 1, rows.length - 1) : Math.max(current - 1, 0);
        rows.forEach(function (row) { row.setAttribute("tabindex", "-1"); });
        rows[next].setAttribute("tabindex", "0");
        rows[next].focus();
        event.preventDefault();
      } else if (event.key === "Enter" && current >= 0) {
        window.location.href = rows[current].getAttribute("data-href");
      } else if (event.key === "/") {
        var search = document.getElementById("q") || document.getElementById("jump-number");
        if (search) { search.focus(); event.preventDefault(); }
      } else if (event.key === "r") {
        var respond = document.getElementById("respond-message") || document.getElementById("reply-message");
        if (respond) { respond.focus(); event.preventDefault(); }
      }
    });
  }

  // A second click on a form being sent does nothing; the form's idempotency key already
  // makes a second request act once.
  function once() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.getAttribute("data-sending")) { event.preventDefault(); return; }
      form.setAttribute("data-sending", "yes");
    });
  }

  // For the pages' own scripts (releases.js): the same refresh, the same throttle.
  window.TierlineLive = { refresher: refresher, replaceFrom: replaceFrom };

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    live();
    keys();
    once();
  });
})();
