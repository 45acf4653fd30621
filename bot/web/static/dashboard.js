// The organisers' dashboard. Every request carries who is asking (Telegram's initData inside
// the Mini App, or the laptop session cookie); the server renders every part in the person's
// language, and says "changed" on a stream when the event changes.
(function () {
  "use strict";
  var main = document.getElementById("dashboard");
  if (!main) { return; }
  var api = main.getAttribute("data-api");
  var tg = window.Telegram && window.Telegram.WebApp;
  var initData = (tg && tg.initData) || "";
  var query = "";
  var message = "";
  // The notice of an action goes with the views loaded after the action finished (a view
  // already on its way was read before it, and would show it beside the old figures), and
  // stays for a while: a live update redrawing the page a moment later must not wipe it.
  var messageAfter = 0;
  var messageUntil = 0;
  var NOTICE_MS = 30000;
  var loads = 0;
  var loading = null;
  if (tg && tg.ready) { tg.ready(); }
  if (tg && tg.expand) { tg.expand(); }

  function headers() {
    var h = { "Content-Type": "application/json" };
    if (initData) { h.Authorization = "tma " + initData; }
    return h;
  }

  function requestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function showError(text) {
    main.innerHTML = "";
    var p = document.createElement("p");
    p.className = "notice error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    main.appendChild(p);
  }

  function load() {
    if (loading) { loading.again = true; return loading.promise; }
    var state = { again: false, number: ++loads };
    loading = state;
    state.promise = fetch(api + "/view", {
      method: "POST", headers: headers(), credentials: "same-origin",
      body: JSON.stringify({ q: query })
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { showError(data.error || response.statusText); return false; }
        var focused = document.activeElement && document.activeElement.id === "q";
        var caret = focused ? document.activeElement.selectionStart : null;
        main.innerHTML = data.html;
        if (message && state.number > messageAfter && Date.now() < messageUntil) {
          var notice = document.createElement("p");
          notice.className = "notice";
          notice.setAttribute("role", "status");
          notice.textContent = message;
          main.insertBefore(notice, main.children[1] || null);
        }
        if (focused) {
          var box = document.getElementById("q");
          box.focus();
          if (caret !== null) { box.setSelectionRange(caret, caret); }
        }
        return true;
      });
    }).catch(function () { return false; }).then(function (ok) {
      loading = null;
      if (state.again) { load(); }
      return ok;
    });
    return state.promise;
  }

  function act(button) {
    var body = { action: button.getAttribute("data-action"), request_id: requestId() };
    if (button.hasAttribute("data-person")) { body.person_id = Number(button.getAttribute("data-person")); }
    if (button.hasAttribute("data-format")) { body.format = button.getAttribute("data-format"); }
    button.disabled = true;
    fetch(api + "/action", {
      method: "POST", headers: headers(), credentials: "same-origin", body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        message = data.message || data.error || "";
        messageAfter = loads;
        messageUntil = Date.now() + NOTICE_MS;
        if (response.ok && data.download) {
          var url = new URL(data.download, window.location.href).href;
          if (tg && tg.downloadFile && initData) {
            tg.downloadFile({ url: url, file_name: data.file_name });
          } else {
            window.location.href = url;
          }
        }
        return load();
      });
    }).catch(function () { button.disabled = false; });
  }

  function confirmed(text, then) {
    if (!text) { then(); return; }
    if (tg && tg.showConfirm && initData) {
      tg.showConfirm(text, function (ok) { if (ok) { then(); } });
    } else if (window.confirm(text)) {
      then();
    }
  }

  main.addEventListener("click", function (click) {
    var button = click.target.closest("button[data-action]");
    if (!button) { return; }
    confirmed(button.getAttribute("data-confirm"), function () { act(button); });
  });

  var typing = null;
  main.addEventListener("input", function (input) {
    if (input.target.id !== "q") { return; }
    clearTimeout(typing);
    typing = setTimeout(function () { query = input.target.value; load(); }, 300);
  });

  function follow() {
    fetch(api + "/stream", { headers: headers(), credentials: "same-origin" }).then(function (response) {
      if (!response.ok || !response.body) { throw new Error("stream refused"); }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function read() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { throw new Error("stream ended"); }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (part) {
            if (part.indexOf("event: changed") === 0) { load(); }
          });
          return read();
        });
      }
      return read();
    }).catch(function () {
      setTimeout(follow, 3000);
    });
  }

  load().then(function (ok) { if (ok) { follow(); } });
})();
