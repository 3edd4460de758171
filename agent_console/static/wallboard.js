// The live wallboard: fetches the board again whenever the console's one stream says it
// changed (console.js dispatches "hotline:wallboard"), and every few seconds between
// those makes the longest waits and the times in a state tick, turning a queue red once
// its longest wait reaches the queue's threshold.
(function () {
  "use strict";
  var MIN_GAP_MS = 1000;  // a busy hotline sends many hints: at most one fetch a second
  var offset = 0;  // the server's clock minus this browser's, in seconds
  var fetching = false, again = false, lastFetch = 0, timer = null, nextChange = null;

  function serverNow() { return Date.now() / 1000 + offset; }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(seconds / 3600), minutes = Math.floor(seconds / 60) % 60, rest = seconds % 60;
    var mm = hours ? (minutes < 10 ? "0" : "") + minutes : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function adopt(board) {
    var now = parseFloat(board.dataset.now);
    if (!isNaN(now)) { offset = now - Date.now() / 1000; }
    var updated = document.getElementById("wb-updated-at");
    if (updated && board.dataset.updated) { updated.textContent = board.dataset.updated; }
    // A wrap-up runs out with no event to say so: fetch the board again just after.
    clearTimeout(nextChange);
    var at = parseFloat(board.dataset.nextChange);
    if (!isNaN(at)) { nextChange = setTimeout(refresh, Math.max(0, at - serverNow()) * 1000 + 500); }
    tick();
  }

  function tick() {
    var now = serverNow();
    document.querySelectorAll(".wb-queue[data-oldest]").forEach(function (row) {
      var waited = now - parseFloat(row.dataset.oldest);
      row.querySelector(".wb-longest").textContent = clock(waited);
      row.classList.toggle("red", waited >= parseFloat(row.dataset.redAfter));
    });
    document.querySelectorAll(".wb-since[data-since]").forEach(function (since) {
      since.textContent = clock(now - parseFloat(since.dataset.since));
    });
  }

  function stale(yes) {
    var note = document.getElementById("wb-stale");
    if (note) { note.hidden = !yes; }
  }

  function refresh() {
    var url = document.body.dataset.wallboard;
    if (fetching) { again = true; return; }
    var wait = lastFetch + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      if (!timer) { timer = setTimeout(function () { timer = null; refresh(); }, wait); }
      return;
    }
    fetching = true;
    lastFetch = Date.now();
    fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (response) {
      if (!response.ok || response.redirected) { throw new Error(response.status); }
      return response.text();
    }).then(function (html) {
      var box = document.getElementById("board");
      var holder = document.createElement("div");
      holder.innerHTML = html;  // rendered and escaped by the server's template
      var fresh = holder.querySelector("#board");
      if (box && fresh) { box.replaceWith(fresh); adopt(fresh); }
      stale(false);
      document.body.dataset.wallboardFetches = String(parseInt(document.body.dataset.wallboardFetches || "0", 10) + 1);
    }).catch(function () { stale(true); }).finally(function () {
      fetching = false;
      if (again) { again = false; refresh(); }
    });
  }

  function start() {
    var board = document.getElementById("board");
    if (!document.body.dataset.wallboard || !board) { return; }
    adopt(board);
    setInterval(tick, 1000);
    var every = parseInt(document.body.dataset.wallboardRefresh || "30", 10) * 1000;
    setInterval(refresh, every);
    document.addEventListener("hotline:wallboard", refresh);
    var full = document.getElementById("wb-fullscreen");
    if (full && document.documentElement.requestFullscreen) {
      full.addEventListener("click", function () { document.documentElement.requestFullscreen().catch(function () {}); });
    } else if (full) {
      full.hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", start);
}());
