// The patient hand-over (screening/views/handover.py; issue 14, item 7).
// On the questionnaire: when "Hand to the patient" sends the form, the page blanks itself as it is left, and any
// page restored from the browser's back/forward cache is loaded again (the server then answers with the hand-over
// or its lock screen): going back never shows the record from the cache.
// On the person's page: each answer is saved as it is given (so nothing is lost if the device is put down, and
// answering counts as activity for the idle limit: the idle warning starts its count again); "Use the whole
// screen" asks the browser for full screen. Without JavaScript the page is a plain form: "I have finished" saves it.
(function () {
  "use strict";
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });

  var start = document.querySelector("[data-handover-start]");
  if (start) {
    var leaving = false;
    document.addEventListener("submit", function (event) {
      leaving = event.submitter === start;
    }, true);
    window.addEventListener("pagehide", function () {
      var main = document.getElementById("main");
      if (leaving && main) main.hidden = true;
    });
  }

  var form = document.getElementById("handover-form");
  if (!form) return;
  var status = form.querySelector("[data-save-status]");
  var pending = null, inFlight = false, again = false;

  function save() {
    pending = null;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    fetch(form.getAttribute("data-save-url"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (result.ok && result.body.remaining != null) {
          document.dispatchEvent(new CustomEvent("iop:session-touched", { detail: { remaining: result.body.remaining } }));
        }
        status.textContent = result.ok ? "Your answers are saved." : "";
      })
      .catch(function () {
        status.textContent = ""; // kept on this page; "I have finished" sends them all
      })
      .then(function () {
        inFlight = false;
        if (again) {
          again = false;
          save();
        }
      });
  }

  form.addEventListener("change", function () {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(save, 300);
  });
  form.addEventListener("submit", function () {
    if (pending) window.clearTimeout(pending);
  });

  var full = document.querySelector("[data-fullscreen]");
  if (full && document.documentElement.requestFullscreen) {
    full.hidden = false;
    full.addEventListener("click", function () {
      document.documentElement.requestFullscreen().catch(function () {});
    });
    document.addEventListener("fullscreenchange", function () {
      full.hidden = Boolean(document.fullscreenElement);
    });
  }
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
