// Chronos dashboard: the little that needs a script. Everything works without it; the
// Content-Security-Policy allows only this file and htmx, from this origin.
(function () {
  "use strict";
  var root = document.documentElement;
  var KEY = "chronos-theme";

  function prefersDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function current() {
    return root.getAttribute("data-theme") || (prefersDark() ? "dark" : "light");
  }

  function showTheme(button) {
    var dark = current() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.textContent = dark ? "Light mode" : "Dark mode";
  }

  // The theme follows the OS until the toggle picks one, which is remembered.
  var saved = null;
  try { saved = window.localStorage.getItem(KEY); } catch (e) { saved = null; }
  if (saved === "dark" || saved === "light") { root.setAttribute("data-theme", saved); }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      showTheme(toggle);
      toggle.addEventListener("click", function () {
        var next = current() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { window.localStorage.setItem(KEY, next); } catch (e) { /* private mode */ }
        showTheme(toggle);
      });
    }
  });

  // A button with data-confirm asks before its form is posted.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
