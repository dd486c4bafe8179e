// Postroom portal: the little behaviour pages need beyond htmx. No inline scripts (the CSP forbids
// them): elements ask for behaviour with data- attributes.
//
// data-copy="ID": the button copies the text of element ID to the clipboard ("Copy to clipboard").
(function () {
  "use strict";

  function copied(button, ok) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Select the text and copy it";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, fallback(text)); }
      );
    } else {
      copied(button, fallback(text));
    }
  });
})();
