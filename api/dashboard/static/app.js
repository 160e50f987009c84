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
  var PAGES = {
    j: "/ui/jobs", s: "/ui/schedules", q: "/ui/queues", f: "/ui/failures", w: "/ui/workers"
  };
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
    } else if (PAGES[event.key] && document.querySelector('nav a[href="' + PAGES[event.key] + '"]')) {
      // Only a page the navigation offers: the workers page is an admin's.
      window.location.assign(PAGES[event.key]);
    } else if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "t") {
      var toggle = document.getElementById("theme-toggle");
      if (toggle) { toggle.click(); }
    } else if (event.key === "r") {
      toggleRefresh();
    }
  });

  // Live panels: every N seconds (the refresh control, remembered per browser; off is
  // 0), each [data-live] panel gets "chronos:tick" and htmx fetches it again. Nothing is
  // fetched while the tab is hidden, and a panel holding the focus (a form being typed
  // in) waits until the focus leaves it. Coming back to the tab refreshes at once.
  var REFRESH_KEY = "chronos-refresh";
  var timer = null;
  var lastOn = 5;

  function refreshSelect() { return document.getElementById("refresh"); }

  function tick() {
    if (document.visibilityState !== "visible" || !window.htmx) { return; }
    var panels = document.querySelectorAll("[data-live]");
    for (var i = 0; i < panels.length; i++) {
      if (!panels[i].contains(document.activeElement)) { window.htmx.trigger(panels[i], "chronos:tick"); }
    }
  }

  function setRefresh(seconds, remember) {
    var select = refreshSelect();
    if (!select) { return; }
    select.value = String(seconds);
    if (select.value !== String(seconds)) {
      // A remembered interval this page no longer offers: the configured one instead.
      seconds = parseInt(select.getAttribute("data-default"), 10) || 0;
      select.value = String(seconds);
    }
    if (timer) { window.clearInterval(timer); timer = null; }
    if (seconds > 0) {
      lastOn = seconds;
      timer = window.setInterval(tick, seconds * 1000);
    }
    var state = document.getElementById("refresh-state");
    if (state) { state.textContent = seconds > 0 ? "" : "paused"; }
    if (remember) {
      try { window.localStorage.setItem(REFRESH_KEY, String(seconds)); } catch (e) { /* private mode */ }
    }
  }

  function toggleRefresh() {
    var select = refreshSelect();
    if (!select) { return; }
    setRefresh(select.value === "0" ? lastOn : 0, true);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var select = refreshSelect();
    if (!select) { return; }
    var chosen = null;
    try { chosen = window.localStorage.getItem(REFRESH_KEY); } catch (e) { chosen = null; }
    var seconds = parseInt(chosen !== null ? chosen : select.getAttribute("data-default"), 10);
    setRefresh(isNaN(seconds) ? 0 : seconds, false);
    select.addEventListener("change", function () { setRefresh(parseInt(select.value, 10), true); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && timer) { tick(); }
    });
  });

  // A live run's table and page ([data-follow]) follow it every 2 s while the tab is
  // visible: "chronos:follow", and htmx fetches the fragment again. A fragment that comes
  // back without data-follow (the run has ended) is no longer followed.
  var FOLLOW_EVERY_MS = 2000;
  window.setInterval(function () {
    if (document.visibilityState !== "visible" || !window.htmx) { return; }
    var followed = document.querySelectorAll("[data-follow]");
    for (var i = 0; i < followed.length; i++) {
      if (!followed[i].contains(document.activeElement)) {
        window.htmx.trigger(followed[i], "chronos:follow");
      }
    }
  }, FOLLOW_EVERY_MS);

  // A button with data-confirm asks before its form is posted.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // htmx swaps no 4xx answer by default; a target marked data-swap-errors shows the
  // fragment of a 400 or 422 (the field it refused), as the reschedule preview answers.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var target = event.detail.target;
    if ((status === 400 || status === 422) && target && target.hasAttribute("data-swap-errors")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
