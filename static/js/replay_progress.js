// Follows a what-if replay while it waits or runs: asks its progress address every few seconds, updates the
// progress bar and the counts, and reloads the page (which then shows the result) once it has ended. Static
// file, no inline script: the Content-Security-Policy forbids them. Without JavaScript, "Refresh" does the same.
(function () {
  var box = document.querySelector("[data-replay-progress]");
  if (!box) { return; }
  var url = box.getAttribute("data-replay-progress");
  var every = 1000 * (parseInt(box.getAttribute("data-poll-seconds"), 10) || 2);
  var bar = box.querySelector("progress");
  var counts = box.querySelector("[data-counts]");
  var state = box.querySelector("[data-state]");
  var failures = 0;

  function show(p) {
    if (p.total !== null) {
      bar.max = Math.max(p.total, 1);
      bar.value = Math.min(p.done, bar.max);
      counts.textContent = p.done.toLocaleString("en-US") + " of " + p.total.toLocaleString("en-US") +
        " screenings (" + p.percent + "%)";
    }
    if (state.textContent !== p.label) { state.textContent = p.label; }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        failures = 0;
        show(p);
        if (p.status === "queued" || p.status === "running") { window.setTimeout(poll, every); }
        else { window.location.reload(); }
      })
      .catch(function () {
        // Signed out, or the server is away: after a few tries the page itself says what happened.
        failures += 1;
        if (failures >= 3) { window.location.reload(); } else { window.setTimeout(poll, every * 3); }
      });
  }
  window.setTimeout(poll, every);
})();
