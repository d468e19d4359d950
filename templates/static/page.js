// massage-events page: copy button, and on a static host the ?region=&tag= filters applied in the page.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var want = { region: params.getAll("region").join(",").toUpperCase().split(",").filter(Boolean),
               tag: params.getAll("tag").join(",").toLowerCase().split(",").filter(Boolean) };

  function matches(el) {
    var region = (el.getAttribute("data-region") || "").toUpperCase();
    var tags = (el.getAttribute("data-tags") || "").toLowerCase().split(" ").filter(Boolean);
    if (want.region.length && want.region.indexOf(region) < 0) return false;
    if (want.tag.length && !tags.some(function (t) { return want.tag.indexOf(t) >= 0; })) return false;
    return true;
  }

  if (want.region.length || want.tag.length) {
    var shown = 0;
    document.querySelectorAll("article.event").forEach(function (el) {
      var ok = matches(el);
      el.parentNode.hidden = !ok;
      if (ok) shown += 1;
    });
    document.querySelectorAll(".month-grid li[data-region]").forEach(function (el) { el.hidden = !matches(el); });
    document.querySelectorAll("section.day").forEach(function (day) {
      day.hidden = !day.querySelector("li:not([hidden]) article.event");
    });
    var count = document.getElementById("shown-count");
    if (count) count.textContent = String(shown);
    document.querySelectorAll(".filter-group a[data-filter]").forEach(function (a) {
      var kind = a.getAttribute("data-filter"), value = a.getAttribute("data-value");
      var active = want[kind].indexOf(kind === "region" ? value.toUpperCase() : value.toLowerCase()) >= 0;
      if (active) a.setAttribute("aria-current", "true");
      var next = new URLSearchParams();
      ["region", "tag"].forEach(function (k) {
        var values = k === kind ? (active ? [] : [value]) : want[k];
        values.forEach(function (v) { next.append(k, v); });
      });
      a.setAttribute("href", "?" + next.toString());
    });
    var clear = document.getElementById("clear-filters");
    if (clear) clear.hidden = false;
  }

  var button = document.getElementById("copy-button");
  var input = document.getElementById("feed-url");
  if (button && input) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var status = document.querySelector(".copied");
      function done() { if (status) status.textContent = "Copied. Paste it into your calendar app."; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); document.execCommand("copy"); done(); });
      } else {
        input.select();
        document.execCommand("copy");
        done();
      }
    });
  }
})();
