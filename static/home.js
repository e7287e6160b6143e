/*
 * A live list of questions (the home page's, and a tag's on /tags/{tag}), on top of
 * qa-hub-client.js. The list names its topic (data-topic: "questions", "tag:rust"):
 *   - questions asked elsewhere wait behind a "N new questions" banner (an aria-live region)
 *     and show at the top of the list when it is clicked; the tab title says "(N) …";
 *   - a deleted question leaves the list (and the banner, if it was waiting there);
 *   - a small status says live / reconnecting / offline.
 * The page resumes from the list's seq it was rendered at (data-list-seq), so each change
 * after that arrives once, across reconnects. Without JavaScript the list is a plain page.
 */
(function () {
  "use strict";

  var list = document.getElementById("question-list");
  if (!list || !list.dataset.listSeq || !window.QaHubClient) return;

  var banner = document.getElementById("new-questions");
  var statusEl = document.getElementById("live-status");
  var empty = document.getElementById("no-questions");
  var baseTitle = document.title;

  var topic = list.dataset.topic || "questions";
  var shown = new Set();
  list.querySelectorAll("li[data-question-id]").forEach(function (li) {
    shown.add(li.dataset.questionId);
  });
  var pending = new Map(); // id -> summary, in the order asked, waiting behind the banner
  // Tags the signed-in viewer ignores: their questions never reach the banner, they only
  // count in the "n hidden" link (which reloads the page with them shown).
  var ignoredTags = (list.dataset.ignoredTags || "").split(" ").filter(Boolean);
  var hiddenToggle = document.getElementById("hidden-toggle");
  var hiddenIds = new Set();

  function isIgnored(q) {
    return (q.tags || []).some(function (t) {
      return ignoredTags.indexOf(t) >= 0;
    });
  }

  function hideLive(q) {
    if (!hiddenToggle || hiddenIds.has(q.id)) return;
    hiddenIds.add(q.id);
    var n = (Number(hiddenToggle.dataset.count) || 0) + 1;
    hiddenToggle.dataset.count = String(n);
    hiddenToggle.textContent = n + " hidden";
    hiddenToggle.parentElement.hidden = false;
  }

  var STATUS_TEXT = {
    connecting: "connecting…",
    live: "live",
    fallback: "live (fallback)",
    reconnecting: "reconnecting…",
    offline: "offline",
    stopped: "not live",
    closed: "not live",
  };

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function updateBanner() {
    var n = pending.size;
    banner.hidden = n === 0;
    banner.textContent = n === 0 ? "" : plural(n, "new question");
    document.title = n === 0 ? baseTitle : "(" + n + ") " + baseTitle;
  }

  function updateEmpty() {
    if (empty) empty.hidden = list.children.length > 0;
  }

  // The same markup as templates/index.html, with text nodes only: a title never becomes
  // HTML. A new question has no answers; the summary carries no body, so no excerpt.
  function renderQuestion(q) {
    var li = document.createElement("li");
    li.className = "question-item fresh";
    li.dataset.questionId = q.id;
    var stat = document.createElement("div");
    stat.className = "stat";
    var count = document.createElement("strong");
    count.textContent = "0";
    var word = document.createElement("span");
    word.textContent = "answers";
    stat.append(count, word);
    var summary = document.createElement("div");
    summary.className = "summary";
    var h2 = document.createElement("h2");
    var link = document.createElement("a");
    link.href = "/questions/" + encodeURIComponent(q.id);
    link.textContent = q.title;
    h2.append(link);
    var meta = document.createElement("p");
    meta.className = "meta";
    var author = document.createElement("span");
    author.className = "author";
    author.textContent = q.author;
    var time = document.createElement("time");
    time.dateTime = q.created_at;
    time.textContent = formatTime(q.created_at);
    meta.append("asked by ", author, " · ", time);
    summary.append(h2);
    if (q.tags && q.tags.length) summary.append(renderTags(q.tags));
    summary.append(meta);
    li.append(stat, summary);
    return li;
  }

  // As templates/question-item.html: each tag links to its page (/tags/c%23 for c#).
  function renderTags(tags) {
    var ul = document.createElement("ul");
    ul.className = "tags";
    ul.setAttribute("aria-label", "Tags");
    tags.forEach(function (name) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.className = "tag";
      a.href = "/tags/" + encodeURIComponent(name);
      a.rel = "tag";
      a.textContent = name;
      li.append(a);
      ul.append(li);
    });
    return ul;
  }

  // Newest first by id, as the server lists them: ids are UUIDv7, whose text sorts in time
  // order. Seq (commit) order can differ from it for questions asked at the same moment, so
  // each goes before the first shown question with a smaller id, not simply on top.
  function place(li, id) {
    var before = null;
    list.querySelectorAll("li[data-question-id]").forEach(function (other) {
      if (!before && other.dataset.questionId < id) before = other;
    });
    list.insertBefore(li, before);
  }

  function revealPending() {
    var first = null;
    pending.forEach(function (q) {
      if (shown.has(q.id)) return;
      shown.add(q.id);
      var li = renderQuestion(q);
      place(li, q.id);
      if (!first || q.id > first.dataset.questionId) first = li;
    });
    pending.clear();
    updateBanner();
    updateEmpty();
    return first;
  }

  banner.addEventListener("click", function () {
    var first = revealPending();
    if (first) {
      first.tabIndex = -1;
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });

  var watch = window.QaHubClient.watch({
    topic: topic,
    afterSeq: Number(list.dataset.listSeq) || 0,
    onQuestion: function (q) {
      // Already on the page (rendered, or waiting): nothing new.
      if (q && q.id && isIgnored(q)) {
        hideLive(q);
      } else if (q && q.id && !shown.has(q.id) && !pending.has(q.id)) {
        pending.set(q.id, q);
        updateBanner();
      }
      list.dataset.listSeq = String(watch.lastSeq);
    },
    onQuestionDelete: function (id) {
      pending.delete(id);
      updateBanner();
      shown.delete(id);
      list.querySelectorAll("li[data-question-id]").forEach(function (li) {
        if (li.dataset.questionId === id) li.remove();
      });
      updateEmpty();
      list.dataset.listSeq = String(watch.lastSeq);
    },
    onStatus: function (status) {
      if (!statusEl) return;
      statusEl.hidden = false;
      statusEl.dataset.status = status;
      statusEl.textContent = STATUS_TEXT[status] || status;
    },
  });
})();
