// Tierline console, audit pages: the as-of slider names the instant it points at as it
// moves, and shows the case then once it stops (the form works without this script).
"use strict";

(function () {
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // `2026-12-04 12:50:07 UTC`, as the server writes instants.
  function instant(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var slider = document.getElementById("as-of-offset");
    if (!slider) return;
    var form = slider.form;
    var output = document.getElementById("as-of-offset-value");
    var opened = Date.parse(slider.getAttribute("data-opened"));
    var shown = slider.value;
    var pending = null;

    function name() {
      var text = instant(opened + Number(slider.value) * 1000);
      slider.setAttribute("aria-valuetext", text);
      if (output) output.textContent = text;
    }

    // A burst of key presses (or a drag) asks the server once, when it stops.
    function showSoon() {
      if (pending) window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        pending = null;
        if (slider.value === shown) return;
        shown = slider.value;
        form.submit();
      }, 400);
    }

    if (!isNaN(opened)) slider.addEventListener("input", name);
    slider.addEventListener("change", showSoon);
  });
})();
