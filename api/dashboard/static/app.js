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

  // Keyboard shortcuts, as Oban Web's: never while typing in a field, or with a modifier.
  var PAGES = { j: "/ui/jobs", s: "/ui/schedules", f: "/ui/failures" };
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.isContentEditable ||
      /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var help = document.getElementById("shortcuts");
    if (!help) { return; }  // signed out: no shortcuts
    if (event.key === "?") {
      event.preventDefault();
      if (help.open) { help.close(); } else { help.showModal(); }
    } else if (PAGES[event.key]) {
      window.location.assign(PAGES[event.key]);
    } else if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "t") {
      var toggle = document.getElementById("theme-toggle");
      if (toggle) { toggle.click(); }
    }
  });

  // A button with data-confirm asks before its form is posted.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
