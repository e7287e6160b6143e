/*
 * preview.js: the ask and answer forms' live preview. Each Preview button names its textarea
 * and its preview box (`data-preview="TEXTAREA-ID PREVIEW-ID"`). Without JavaScript the button
 * posts the form to its `formaction`, which shows the page again with the preview; with it,
 * the text is sent to `POST /api/markdown` a moment after typing stops (and at once on a
 * click), and the box shows the HTML the server rendered and sanitised, exactly as the post
 * will show. The page has no Markdown library of its own.
 */
(function () {
  "use strict";

  var PAUSE_MS = 400;

  document.querySelectorAll("button[data-preview]").forEach(function (button) {
    var ids = button.getAttribute("data-preview").split(" ");
    var text = document.getElementById(ids[0]);
    var box = document.getElementById(ids[1]);
    if (!text || !box) return;
    var timer = null;
    // Only the newest request's answer is shown.
    var asked = 0;
    var shownFor = null;

    function render() {
      timer = null;
      var body = text.value;
      if (body === shownFor) return;
      if (body.trim() === "") {
        shownFor = body;
        box.innerHTML = "";
        box.hidden = true;
        return;
      }
      var mine = ++asked;
      fetch("/api/markdown", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ body: body }),
      })
        .then(function (res) {
          return res.json().then(function (data) {
            return { ok: res.ok, data: data };
          });
        })
        .then(function (result) {
          if (mine !== asked) return;
          if (!result.ok) {
            // Over the length limit or too many previews: say so in the box; the form's own
            // errors come when it is posted.
            var error = (result.data && result.data.error && result.data.error.message) || "No preview.";
            box.textContent = error;
          } else {
            // Sanitised by the server (docs/security.md), as every post on the page is.
            box.innerHTML = result.data.html;
          }
          shownFor = body;
          box.hidden = false;
        })
        .catch(function () {
          /* No preview this time; the next pause in typing tries again. */
        });
    }

    text.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(render, PAUSE_MS);
    });
    button.addEventListener("click", function (event) {
      // Live instead of posting the form: the text stays as it is, the page stays.
      event.preventDefault();
      if (timer) clearTimeout(timer);
      shownFor = null;
      render();
    });
  });
})();
