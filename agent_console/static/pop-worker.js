// The browser's one screen-pop stream. A browser opens at most six HTTP/1.1 connections
// to a host; a stream per tab (and per page kept in the back/forward cache) used them up
// and page loads hung. Every console tab of one signed-in operator connects to this
// SharedWorker, which holds the only EventSource and hands each pop (and a supervisor's
// "the wallboard changed") to every tab.
"use strict";
var ports = [];
var source = null;
var streamUrl = null;

function broadcast(message) {
  ports.forEach(function (port) { port.postMessage(message); });
}

function close() {
  if (source) { source.close(); }
  source = null;
  streamUrl = null;
}

function open(url) {
  // A stream the server ended for good (signed out: the sign-in page is no event stream)
  // is opened again when a newly loaded page says hello.
  if (source && streamUrl === url && source.readyState !== EventSource.CLOSED) { return; }
  close();
  streamUrl = url;
  source = new EventSource(url);
  source.addEventListener("open", function () { broadcast({type: "open"}); });
  source.addEventListener("pop", function (event) { broadcast({type: "pop", data: event.data}); });
  source.addEventListener("wallboard", function () { broadcast({type: "wallboard"}); });
}

function leave(port) {
  ports = ports.filter(function (other) { return other !== port; });
  if (!ports.length) { close(); }  // the last tab went away: give the connection back
}

self.addEventListener("connect", function (event) {
  var port = event.ports[0];
  port.addEventListener("message", function (message) {
    var said = message.data || {};
    if (said.type === "hello" && typeof said.stream === "string") {
      if (ports.indexOf(port) < 0) { ports.push(port); }
      open(said.stream);
      if (source.readyState === EventSource.OPEN) { port.postMessage({type: "open"}); }
    } else if (said.type === "bye") {
      leave(port);
    }
  });
  port.start();
});
