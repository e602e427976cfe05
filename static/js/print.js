// The Print button (no inline handlers: the Content-Security-Policy forbids them). Paper copies
// show every collapsed section, the answers included.
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
window.addEventListener("beforeprint", function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
});
