// Progressive disclosure of the questionnaire: CIWA-Ar only when alcohol is listed, COWS only for
// opioids, the sedative question only for sedatives, C-SSRS Q3-Q5 only when Q2 is yes.
// The server validates regardless; hidden sections are also cleared there. A section that holds an
// answer the server refused stays shown, so its error can be seen and corrected.
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

  function refused(section) {
    return section.querySelector('[aria-invalid="true"]') !== null;
  }

  function update() {
    var chosen = selectedSubstances();
    form.querySelectorAll("[data-show-when]").forEach(function (section) {
      section.hidden = !chosen[section.getAttribute("data-show-when")] && !refused(section);
    });
    form.querySelectorAll("[data-show-when-yes]").forEach(function (section) {
      section.hidden = radioValue(section.getAttribute("data-show-when-yes")) !== "yes" && !refused(section);
    });
  }

  form.addEventListener("change", update);
  update();
  var summary = document.getElementById("error-summary") || document.getElementById("conflict");
  if (summary) summary.focus();
})();
