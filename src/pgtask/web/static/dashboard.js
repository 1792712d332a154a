// pgtask dashboard: poll the live fragment and swap it in; send button actions to the API.
// No framework, no build step. Mutations carry the CSRF token from the page's meta tag.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("status");
  var flashBox = document.getElementById("flash");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var busy = false;
  var last = null;

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = cls;
  }

  function flash(text) {
    flashBox.textContent = text;
    flashBox.hidden = !text;
    if (text) { setTimeout(function () { flashBox.hidden = true; }, 6000); }
  }

  function refresh() {
    if (!live || busy) { return Promise.resolve(); }
    busy = true;
    return fetch(live.dataset.src, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (html) {
        if (html !== last) { live.innerHTML = html; last = html; }
        setStatus("live · " + new Date().toLocaleTimeString(), "ok");
      })
      .catch(function (e) { setStatus("not updating: " + e.message, "bad"); })
      .finally(function () { busy = false; });
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-action]");
    if (!button) { return; }
    ev.preventDefault();
    button.disabled = true;
    var options = {method: button.dataset.method || "POST", credentials: "same-origin",
                   headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}};
    if (button.dataset.body) {
      options.headers["Content-Type"] = "application/json";
      options.body = button.dataset.body;
    }
    fetch(button.dataset.action, options)
      .then(function (r) {
        if (r.ok) { flash(""); return; }
        return r.json().then(
          function (body) { flash(body.error ? body.error.message : "HTTP " + r.status); },
          function () { flash("HTTP " + r.status); });
      })
      .catch(function (e) { flash("request failed: " + e.message); })
      .then(function () { return refresh(); });
  });

  if (live) {
    setInterval(refresh, Number(live.dataset.interval) || 2000);
  }
})();
