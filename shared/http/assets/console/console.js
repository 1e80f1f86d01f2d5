// complaint desk console: the only script (no inline script: the CSP forbids it).
// Keeps every deadline countdown (<time data-countdown datetime="...">) current.
(function () {
  "use strict";
  var en = document.documentElement.lang === "en";
  function span(mins) {
    var d = Math.floor(mins / 1440), h = Math.floor((mins % 1440) / 60), m = mins % 60;
    if (en) return d > 0 ? d + " d " + h + " h" : h > 0 ? h + " h " + m + " min" : m + " min";
    return d > 0 ? d + "天" + h + "小时" : h > 0 ? h + "小时" + m + "分" : m + "分钟";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (t) {
      var due = Date.parse(t.getAttribute("datetime"));
      if (isNaN(due)) return;
      var mins = Math.floor(Math.abs(due - now) / 60000);
      if (due < now) {
        t.textContent = en ? span(mins) + " overdue" : "已逾期 " + span(mins);
        if (t.parentElement) t.parentElement.classList.add("overdue");
      } else {
        t.textContent = en ? span(mins) + " left" : "剩 " + span(mins);
      }
    });
  }
  // A form is sent once: its button is disabled once it is on its way (the server also acts
  // once per form).
  document.addEventListener("submit", function (e) {
    var buttons = e.target.querySelectorAll("button[type=submit]");
    setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 30000);
  });
})();

// ops: the tokens page's copy button (<button data-copy="#input" data-copied="Copied">):
// copies the new token shown once to the clipboard, and selects it for a manual copy where
// the clipboard is not offered (plain HTTP, an old in-app browser).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!b) return;
    var input = document.querySelector(b.getAttribute("data-copy"));
    if (!input) return;
    input.focus();
    input.select();
    var done = function () { b.textContent = b.getAttribute("data-copied") || b.textContent; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        try { if (document.execCommand("copy")) done(); } catch (err) { /* selected: copy by hand */ }
      });
    } else {
      try { if (document.execCommand("copy")) done(); } catch (err) { /* selected: copy by hand */ }
    }
  });
})();
