// Gatehouse admin UI: small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Copy buttons: <button data-copy="element-id">.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el) return;
      var text = el.textContent.trim();
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(el); });
      } else {
        select(el);
        try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
      }
    });
  });
  // Forms that ask before a destructive change: <form data-confirm="…">.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
  // Fields shown only for one choice: <div data-show-when="name=value">.
  document.querySelectorAll("[data-show-when]").forEach(function (el) {
    var parts = el.getAttribute("data-show-when").split("=");
    var inputs = document.querySelectorAll('[name="' + parts[0] + '"]');
    var update = function () {
      var on = false;
      inputs.forEach(function (i) { if ((i.type === "radio" ? i.checked : true) && i.value === parts[1]) on = true; });
      el.hidden = !on;
    };
    inputs.forEach(function (i) { i.addEventListener("change", update); });
    update();
  });
});
function select(el) {
  var r = document.createRange();
  r.selectNodeContents(el);
  var s = window.getSelection();
  s.removeAllRanges();
  s.addRange(r);
}
// Regions that follow a job while it is pending or running:
// <div id="…" data-poll="url" data-poll-active>. The URL answers the region
// again; once it is no longer active, elements marked
// data-refresh-after="<region id>" are refreshed from their
// data-refresh-from page (this one by default).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-poll][data-poll-active]").forEach(function (el) {
    var fetchDoc = function (url) {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      }).then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
    };
    var tick = function () {
      fetchDoc(el.getAttribute("data-poll")).then(function (doc) {
        var fresh = doc.getElementById(el.id);
        if (!fresh) return; // signed out, or an error page: stop; a reload shows why
        el.replaceChildren.apply(el, Array.from(fresh.childNodes));
        if (fresh.hasAttribute("data-poll-active")) {
          setTimeout(tick, 1000);
          return;
        }
        el.removeAttribute("data-poll-active");
        document.querySelectorAll('[data-refresh-after="' + el.id + '"]').forEach(function (old) {
          fetchDoc(old.getAttribute("data-refresh-from") || window.location.href).then(function (page) {
            var now = page.getElementById(old.id);
            if (now) old.replaceChildren.apply(old, Array.from(now.childNodes));
          }, function () { /* the region is current; the rest shows on reload */ });
        });
      }, function () { setTimeout(tick, 5000); });
    };
    setTimeout(tick, 1000);
  });
});
