// Screen pops: the server pushes "a call is offered to your phone" (Server-Sent Events);
// the pop's body (caller history, prefilled request link) is fetched as HTML.
(function () {
  "use strict";
  var workerUrl = new URL("pop-worker.js", document.currentScript.src).href;

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

  function received(data) {
    try { showPop(JSON.parse(data)); } catch (e) { /* a malformed pop is ignored */ }
  }

  function listening() { document.body.dataset.popListening = "1"; }

  // The supervisors' wallboard changed (the same stream): the wallboard page fetches it again.
  function wallboardChanged() { document.dispatchEvent(new CustomEvent("hotline:wallboard")); }

  // One stream per browser, never one per page (see pop-worker.js): tabs share a
  // SharedWorker; where there is none, the tab holding a Web Lock streams and passes pops
  // on over a BroadcastChannel; failing both, each page streams but lets go on pagehide.
  function viaWorker(stream, key) {
    var port = new SharedWorker(workerUrl, {name: key}).port;
    port.onmessage = function (event) {
      var said = event.data || {};
      if (said.type === "open") { listening(); } else if (said.type === "pop") { received(said.data); }
      else if (said.type === "wallboard") { wallboardChanged(); }
    };
    return {
      start: function () { port.postMessage({type: "hello", stream: stream}); },
      stop: function () { port.postMessage({type: "bye"}); }
    };
  }

  function viaLeader(stream, key) {
    var channel = null, source = null, release = null, abort = null;
    return {
      start: function () {
        channel = new BroadcastChannel(key);
        channel.onmessage = function (event) {
          var said = event.data || {};
          if (said.type === "pop") { received(said.data); } else if (said.type === "wallboard") { wallboardChanged(); }
        };
        abort = new AbortController();
        navigator.locks.request(key, {signal: abort.signal}, function () {
          source = new EventSource(stream);
          source.addEventListener("pop", function (event) {
            channel.postMessage({type: "pop", data: event.data});  // to the other tabs
            received(event.data);
          });
          source.addEventListener("wallboard", function () {
            channel.postMessage({type: "wallboard"});
            wallboardChanged();
          });
          return new Promise(function (resolve) { release = resolve; });
        }).catch(function () { /* left the page while waiting for the lock */ });
        listening();  // the leader's stream reaches this tab, whichever tab leads
      },
      stop: function () {
        if (abort) { abort.abort(); }
        if (source) { source.close(); source = null; }
        if (release) { release(); release = null; }
        if (channel) { channel.close(); channel = null; }
      }
    };
  }

  function viaOwnStream(stream) {
    var source = null;
    return {
      start: function () {
        source = new EventSource(stream);
        source.addEventListener("open", listening);
        source.addEventListener("pop", function (event) { received(event.data); });
        source.addEventListener("wallboard", wallboardChanged);
      },
      stop: function () { if (source) { source.close(); source = null; } }
    };
  }

  function listen() {
    var stream = document.body.dataset.popStream;
    if (!stream || !window.EventSource) { return; }
    var owner = document.querySelector('meta[name="pop-owner"]');
    var key = "hotline-pop " + (owner ? owner.content : "");  // another operator's sign-in gets its own stream
    var pops;
    if (window.SharedWorker) {
      pops = viaWorker(stream, key);
    } else if (window.BroadcastChannel && navigator.locks) {
      pops = viaLeader(stream, key);
    } else {
      pops = viaOwnStream(stream);
    }
    pops.start();
    window.addEventListener("pagehide", pops.stop);
    window.addEventListener("pageshow", function (event) { if (event.persisted) { pops.start(); } });
  }

  document.addEventListener("click", function (event) {
    if (event.target.classList.contains("pop-close")) { document.getElementById("pop").hidden = true; }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { var box = document.getElementById("pop"); if (box) { box.hidden = true; } }
  });
  document.addEventListener("DOMContentLoaded", listen);

  // Each form is sent once (agent_console/once.py): a token of its own, given as the page
  // loads and saved by the server with what the form wrote. getRandomValues, not
  // randomUUID: the console is often reached over plain http on the centre's network.
  function newToken() {
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }
  function tokenForms() {
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (form.method.toLowerCase() !== "post" || form.querySelector('input[name="once"]')) { return; }
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "once";
      input.value = newToken();
      form.appendChild(input);
    });
  }
  document.addEventListener("DOMContentLoaded", tokenForms);
  // A second click while the page is on its way sends nothing (the token would refuse it,
  // but the reader would then land on the refusal instead of what the first click made).
  // Only for a few seconds: a send stopped (Esc) or never answered may be sent again, and
  // the server says whether it was saved. A form changed since it was sent (back, edited
  // for another record) is another submission: it gets a token of its own.
  var RESEND_AFTER_MS = 5000;
  function contents(form) {
    var data = new URLSearchParams(new FormData(form));
    data.delete("once");
    return data.toString();
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method.toLowerCase() !== "post") { return; }
    var now = Date.now(), sent = contents(form), once = form.querySelector('input[name="once"]');
    if (form.dataset.sentData === sent && now - Number(form.dataset.sentAt) < RESEND_AFTER_MS) {
      event.preventDefault();
      return;
    }
    if (once && form.dataset.sentData !== undefined && form.dataset.sentData !== sent) { once.value = newToken(); }
    form.dataset.sentData = sent;
    form.dataset.sentAt = String(now);
  });
}());
