/*
 * The inbox badge in every page's header, live: it watches the signed-in user's inbox topic
 * (`user:<id>`, over the page's session) from the seq the page was rendered at, and shows
 * the unread count each event carries — counted by the server, so the badge never drifts,
 * and a read on another tab or device updates it here. On the inbox page, entries read
 * elsewhere are shown read, and new or changed ones are announced.
 * Without JavaScript the badge shows the count as of the page load, and /inbox works as links.
 */
(function () {
  "use strict";

  var badge = document.getElementById("inbox-badge");
  if (!badge || !window.QaHubClient) return;
  var list = document.getElementById("inbox-list");
  var fresh = document.getElementById("inbox-fresh");

  function show(unread) {
    if (typeof unread !== "number") return;
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", unread + " unread");
    badge.hidden = unread === 0;
  }

  window.QaHubClient.watch({
    topic: "user:" + badge.dataset.userId,
    afterSeq: Number(badge.dataset.seq) || 0,
    onInbox: function (entry, unread) {
      show(unread);
      if (fresh) fresh.hidden = false;
    },
    onRead: function (ids, unread) {
      show(unread);
      if (!list) return;
      ids.forEach(function (id) {
        var li = list.querySelector('li[data-entry-id="' + String(id).replace(/[^0-9a-f-]/gi, "") + '"]');
        if (li) li.classList.remove("unread");
      });
    },
  });
})();
