// The venue screen: the server pushes the screen's new content (Server-Sent Events) whenever
// the count, the code or check-in changes; nothing is polled from here.
(function () {
  "use strict";
  var main = document.getElementById("screen");
  var live = document.getElementById("live");
  if (!main || !window.EventSource) { return; }
  var source = new EventSource(main.getAttribute("data-stream"));
  var liveText = live ? live.textContent : "";
  source.addEventListener("screen", function (message) {
    var data = JSON.parse(message.data);
    main.innerHTML = data.html;
    if (live) { live.classList.remove("lost"); live.textContent = liveText; }
  });
  source.addEventListener("gone", function (message) {
    var data = JSON.parse(message.data);
    main.innerHTML = data.html;
    source.close();
  });
  source.onerror = function () {
    if (live) { live.classList.add("lost"); live.textContent = live.getAttribute("data-lost"); }
  };
})();
