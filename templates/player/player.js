// mediapub built-in player: progressive enhancement over the HTML5 <video>/<audio> elements.
// Pages play without it; it adds copy buttons for the URLs and embed code.
(function () {
  "use strict";

  function copy(button) {
    var text = button.getAttribute("data-copy") || "";
    var done = function () {
      button.classList.add("copied");
      window.setTimeout(function () { button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(button); });
    } else {
      select(button);
      done();
    }
  }

  function select(button) {
    var input = button.parentNode.querySelector("input.url");
    if (input) { input.focus(); input.select(); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.matches("button.copy")) {
      copy(target);
    }
  });
})();
