// Screen pops: the server pushes "a call is offered to your phone" (Server-Sent Events);
// the pop's body (caller history, prefilled request link) is fetched as HTML.
(function () {
  "use strict";
  function showPop(pop) {
    var template = document.body.dataset.popUrl;
    var box = document.getElementById("pop");
    if (!template || !box) { return; }
    var query = new URLSearchParams({offer: pop.offer || "", language: pop.language || "",
                                     category: pop.category || "", priority: pop.priority || ""});
    var url = template.replace("UNIQUEID", encodeURIComponent(pop.uniqueid)) + "?" + query.toString();
    fetch(url, {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.text();
    }).then(function (html) {
      box.innerHTML = html;  // rendered and escaped by the server's templates
      box.hidden = false;
      var link = document.getElementById("pop-new-request");
      if (link) { link.focus(); }
    }).catch(function () {
      box.textContent = (pop.caller || "") + " …";
      box.hidden = false;
    });
  }
  function listen() {
    var stream = document.body.dataset.popStream;
    if (!stream || !window.EventSource) { return; }
    var source = new EventSource(stream);
    source.addEventListener("pop", function (event) {
      try { showPop(JSON.parse(event.data)); } catch (e) { /* a malformed pop is ignored */ }
    });
    document.body.dataset.popListening = "1";
  }
  document.addEventListener("click", function (event) {
    if (event.target.classList.contains("pop-close")) { document.getElementById("pop").hidden = true; }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { var box = document.getElementById("pop"); if (box) { box.hidden = true; } }
  });
  document.addEventListener("DOMContentLoaded", listen);
}());
