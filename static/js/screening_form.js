// The questionnaire page (templates/screening/screening_form.html). Without this script the page still works:
// every section shows, Save draft and Complete post the form, and the server scores and checks everything.
//
// - Progressive disclosure: CIWA-Ar only when alcohol is listed, COWS only for opioids, the sedative question only
//   for sedatives, C-SSRS Q3-Q5 only when Q2 is yes. A section holding an answer the server refused stays shown.
// - Running totals and bands of CIWA-Ar, COWS, PAWSS, PHQ-9 and GAD-7 as items are chosen. The bands come from
//   the page (data-bands, rendered from screening/instruments.py): this script holds no clinical number.
// - "None of these" on a checklist clears its ticks, and a tick clears "None of these".
// - A reassessment: changing a carried-over answer ticks its section's Confirm box (the server does the same).
// - Autosave: when an answer changes (debounced; never on a timer), the draft is saved through the same service
//   as Save draft, with its version: a change saved elsewhere meanwhile is reported, never overwritten. A save
//   refused because the session ended was kept on the server for this user (the page says so).
(function () {
  "use strict";
  var form = document.getElementById("screening-form");
  if (!form) return;
  var status = document.getElementById("autosave-status");
  var versionInput = form.querySelector('input[name="version"]');
  var AUTOSAVE_DELAY = 800; // ms after the last change
  var pending = null, inFlight = false, stopped = false, submitAfter = null, submitting = false;

  // --- Progressive disclosure.
  function selectedSubstances() {
    var chosen = {};
    form.querySelectorAll('input[name="substances"]:checked').forEach(function (box) { chosen[box.value] = true; });
    return chosen;
  }

  function radioValue(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }

  function refused(section) {
    return section.querySelector('[aria-invalid="true"]') !== null;
  }

  function disclose() {
    var chosen = selectedSubstances();
    form.querySelectorAll("[data-show-when]").forEach(function (section) {
      section.hidden = !chosen[section.getAttribute("data-show-when")] && !refused(section);
    });
    form.querySelectorAll("[data-show-when-yes]").forEach(function (section) {
      section.hidden = radioValue(section.getAttribute("data-show-when-yes")) !== "yes" && !refused(section);
    });
  }

  // --- Running totals.
  function bandOf(bands, total) {
    var label = "";
    bands.forEach(function (band) { if (total >= band[0]) label = band[1]; });
    return label;
  }

  function updateTotal(instrument) {
    var bands = JSON.parse(instrument.getAttribute("data-bands"));
    var name = instrument.getAttribute("data-instrument");
    var items = instrument.querySelectorAll("fieldset.scale");
    var total = 0, answered = 0;
    items.forEach(function (item) {
      var checked = item.querySelector("input:checked");
      if (checked && checked.value !== "") {
        total += Number(checked.value);
        answered += 1;
      }
    });
    var out = instrument.querySelector(".instrument-total");
    if (answered === 0) {
      out.textContent = items.length > 1 ? name + ": no item answered yet" : "";
    } else if (answered < items.length) {
      var left = items.length - answered;
      out.textContent = name + " so far: " + total + " (" + left + (left === 1 ? " item" : " items") + " to answer)";
    } else {
      out.textContent = name + " total " + total + " of " + instrument.getAttribute("data-maximum") + ": " +
        bandOf(bands, total);
    }
  }

  function updateTotals(target) {
    var instruments = target && target.closest ? [target.closest(".instrument")] : form.querySelectorAll(".instrument");
    instruments.forEach(function (instrument) { if (instrument) updateTotal(instrument); });
  }

  // --- "None of these".
  function noneOfThese(target) {
    if (target.hasAttribute("data-none-of")) {
      if (target.checked) {
        form.querySelectorAll('input[name="' + target.getAttribute("data-none-of") + '"]:checked').forEach(function (box) {
          box.checked = false;
        });
      }
      return;
    }
    if (target.type === "checkbox" && target.checked) {
      var none = form.querySelector('[data-none-of="' + target.name + '"]');
      if (none) none.checked = false;
    }
  }

  // --- Reassessment: changing a carried-over answer confirms its section (as the server does on save).
  function confirmBox(key) {
    return form.querySelector('input[data-confirm-section="' + key + '"]');
  }

  function confirmByChange(target) {
    var carried = target.closest ? target.closest("[data-carried]") : null;
    var box = carried && confirmBox(carried.getAttribute("data-carried"));
    if (box && !box.checked) box.checked = true;
  }

  function showConfirmed(keys) {
    (keys || []).forEach(function (key) {
      var box = confirmBox(key);
      if (box) box.checked = true;
    });
  }

  // --- Autosave.
  function answersNow() {
    var data = new FormData(form);
    data.delete("version");
    data.delete("csrfmiddlewaretoken");
    return new URLSearchParams(data).toString();
  }
  var lastSaved = answersNow();

  function say(text, problem) {
    status.textContent = text;
    status.classList.toggle("text-danger", !!problem);
    status.classList.toggle("text-body-secondary", !problem);
  }

  function stop(text, link) {
    stopped = true;
    say(text, true);
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      status.appendChild(document.createTextNode(" "));
      status.appendChild(a);
    }
  }

  function schedule() {
    if (stopped || submitting) return;
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(save, AUTOSAVE_DELAY);
  }

  function finished() {
    inFlight = false;
    if (submitAfter) {
      var button = submitAfter;
      submitAfter = null;
      form.requestSubmit(button);
    } else if (answersNow() !== lastSaved) {
      schedule(); // changed while the save was on its way
    }
  }

  function save() {
    pending = null;
    if (stopped || submitting) return;
    if (inFlight) return schedule();
    var sent = answersNow();
    if (sent === lastSaved) return;
    inFlight = true;
    say("Saving…");
    fetch(form.getAttribute("data-autosave-url"), {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) { return { code: response.status, body: body }; });
      })
      .then(function (result) {
        var body = result.body;
        if (result.code === 200) {
          versionInput.value = body.version;
          showConfirmed(body.confirmed);
          lastSaved = sent;
          say("Draft saved at " + body.saved_at + ".");
          document.dispatchEvent(new CustomEvent("iop:session-touched", { detail: { remaining: body.remaining } }));
        } else if (result.code === 401) {
          document.dispatchEvent(new CustomEvent("iop:session-ended"));
          stop(
            body.kept ? "Your session has ended. Your answers were kept for you on the server." : "Your session has ended.",
            { href: body.sign_in, text: "Sign in again to go on." }
          );
        } else {
          stop(body.error || "Not saved: press Save draft.");
        }
      })
      .catch(function () {
        say("Not saved: the server could not be reached. Your answers are still on this page; they are saved with the next change or with Save draft.", true);
      })
      .then(finished);
  }

  form.addEventListener("submit", function (event) {
    if (pending) {
      window.clearTimeout(pending);
      pending = null;
    }
    if (inFlight) { // wait for the save on its way, so this post carries the version it made
      event.preventDefault();
      submitAfter = event.submitter || null;
      return;
    }
    submitting = true;
  });

  form.addEventListener("change", function (event) {
    noneOfThese(event.target);
    confirmByChange(event.target);
    disclose();
    updateTotals(event.target);
    schedule();
  });

  disclose();
  updateTotals();
  var summary = document.getElementById("error-summary") || document.getElementById("conflict") ||
    document.getElementById("kept-answers");
  if (summary) summary.focus();
})();
