// Progressive disclosure of the questionnaire: CIWA-Ar only when alcohol is listed, COWS only for
// opioids, the sedative question only for sedatives, C-SSRS Q3-Q5 only when Q2 is yes.
// The server validates regardless; hidden sections are also cleared there.
(function () {
  "use strict";
  var form = document.getElementById("screening-form");
  if (!form) return;

  function selectedSubstances() {
    var chosen = {};
    form.querySelectorAll('input[name="substances"]:checked').forEach(function (box) { chosen[box.value] = true; });
    return chosen;
  }

  function radioValue(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }

  function update() {
    var chosen = selectedSubstances();
    form.querySelectorAll("[data-show-when]").forEach(function (section) {
      section.hidden = !chosen[section.getAttribute("data-show-when")];
    });
    form.querySelectorAll("[data-show-when-yes]").forEach(function (section) {
      section.hidden = radioValue(section.getAttribute("data-show-when-yes")) !== "yes";
    });
  }

  form.addEventListener("change", update);
  update();
  var summary = document.getElementById("error-summary") || document.getElementById("conflict");
  if (summary) summary.focus();
})();
