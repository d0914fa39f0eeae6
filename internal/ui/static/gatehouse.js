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
