// The warning a minute before the idle limit (DESIGN.md §11): the server says how many seconds this session may
// still stay idle (data-idle-remaining); a minute before they run out (half the limit when it is shorter than
// two minutes) the warning shows with "Stay signed in", which posts to the keep-alive. Any request the page makes
// in the background (the questionnaire's autosave) starts the count again: it dispatches "iop:session-touched".
// This never sends anything on its own: an unattended screen still times out.
(function () {
  "use strict";
  var box = document.getElementById("idle-warning");
  if (!box || !window.fetch) return;
  var countdown = box.querySelector("[data-idle-countdown]");
  var form = box.querySelector("form");
  var button = form.querySelector("button");
  var text = document.getElementById("idle-warning-text");
  var title = document.getElementById("idle-warning-title");
  var deadline, warnBefore, ticking = null, ended = false;

  function reset(remaining) {
    title.textContent = "You will be signed out soon";
    var seconds = Math.max(0, Number(remaining) || 0);
    deadline = Date.now() + seconds * 1000;
    warnBefore = Math.min(60, Math.floor(seconds / 2));
    box.hidden = true;
    schedule();
  }

  function schedule() {
    if (ticking) window.clearTimeout(ticking);
    var untilWarning = deadline - warnBefore * 1000 - Date.now();
    ticking = window.setTimeout(tick, Math.max(0, Math.min(untilWarning, 1000)));
  }

  function words(seconds) {
    return seconds === 1 ? "1 second" : seconds + " seconds";
  }

  function tick() {
    ticking = null;
    var left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) return signedOut();
    if (left <= warnBefore) {
      countdown.textContent = words(left);
      if (box.hidden) {
        box.hidden = false;
        button.focus();
      }
    }
    schedule();
  }

  function signedOut() {
    ended = true;
    box.hidden = false;
    title.textContent = "Your session has ended";
    var link = document.createElement("a");
    link.href = box.getAttribute("data-sign-in-url");
    link.textContent = "Sign in again";
    text.textContent = "You were signed out after a period of inactivity. Anything you save or complete now is kept for you until you sign in again in this browser. ";
    text.appendChild(link);
    form.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (ended) return;
    fetch(box.getAttribute("data-keep-alive-url"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.ok) reset(result.body.remaining);
        else signedOut();
      })
      .catch(function () {
        title.textContent = "Could not reach the server: check the connection, then press Stay signed in again";
      });
  });

  document.addEventListener("iop:session-touched", function (event) {
    if (!ended && event.detail && event.detail.remaining != null) reset(event.detail.remaining);
  });
  document.addEventListener("iop:session-ended", signedOut);

  reset(box.getAttribute("data-idle-remaining"));
})();
