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

// Copy buttons (<button data-copy="id-or-#selector" data-copied="已复制">): the callback URLs,
// the authorisation link, a new token shown once. Copies the input's value to the clipboard,
// and selects it for a manual copy where the clipboard is not offered (plain HTTP, an old
// in-app browser).
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!b) return;
    var target = b.getAttribute("data-copy");
    var input = target.charAt(0) === "#" ? document.querySelector(target) : document.getElementById(target);
    if (!input) return;
    input.focus();
    input.select();
    var done = function () {
      var was = b.textContent;
      b.textContent = b.getAttribute("data-copied") || (document.documentElement.lang === "en" ? "Copied" : "已复制");
      setTimeout(function () { b.textContent = was; }, 1500);
    };
    var byHand = function () {
      try { if (document.execCommand("copy")) done(); } catch (err) { /* selected: copy by hand */ }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, byHand);
    } else {
      byHand();
    }
  });
})();

// accounts: callback URLs filled in as the platform id is typed (the placeholder again when it
// is cleared), PEM files read into their text areas (a file over 64 KiB is said to be too big),
// and typing a refund cap chooses "refund up to the cap".
(function () {
  "use strict";
  document.addEventListener("input", function (e) {
    if (e.target.id !== "refund-cap-yuan" || !e.target.value.trim()) return;
    var cap = document.getElementById("refund-cap");
    if (cap) cap.checked = true;
  });
  document.addEventListener("input", function (e) {
    var form = e.target.form;
    if (!form || form.getAttribute("data-id-input") !== e.target.id) return;
    var id = e.target.value.trim();
    document.querySelectorAll("input.callback-url[data-template]").forEach(function (u) {
      u.value = id
        ? u.getAttribute("data-template").split("{id}").join(id)
        : u.getAttribute("data-placeholder") || u.value;
    });
  });
  document.addEventListener("change", function (e) {
    var f = e.target;
    if (!f.classList || !f.classList.contains("pem-file") || !f.files || !f.files[0]) return;
    var into = document.getElementById(f.getAttribute("data-into"));
    if (!into) return;
    var said = document.getElementById(f.id + "-too-big");
    if (said) said.hidden = f.files[0].size <= 65536;
    if (f.files[0].size > 65536) return;
    var r = new FileReader();
    r.onload = function () { into.value = String(r.result); };
    r.readAsText(f.files[0]);
  });
})();
