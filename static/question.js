/*
 * The question page's live behaviour, on top of qa-hub-client.js:
 *   - answers from others wait behind a "N new answers" banner (an aria-live region) and
 *     show in place when it is clicked; the answer count and the tab title "(N) …" follow;
 *   - the answer form posts with fetch, and the posted answer shows at once, without a
 *     banner; its own notification is then recognised by seq and not shown again;
 *   - a small status says live / reconnecting / offline;
 *   - on an earlier page of a long question, new answers and one's own go to the page that
 *     holds them (page p shows answers numbered 30(p-1)+1 to 30p) instead of into this list.
 * Without JavaScript the page still works: the form posts and redirects back.
 */
(function () {
  "use strict";

  var root = document.getElementById("question");
  if (!root || !window.QaHubClient) return;

  var questionId = root.dataset.questionId;
  var list = document.getElementById("answer-list");
  var banner = document.getElementById("new-answers");
  var statusEl = document.getElementById("live-status");
  var countEl = document.getElementById("answer-count");
  var wordEl = document.getElementById("answer-word");
  var form = document.getElementById("answer-form");
  var baseTitle = document.title;
  var perPage = Number(root.dataset.perPage) || 30;
  var onLastPage = Number(root.dataset.page || 1) >= Number(root.dataset.pages || 1);

  // The page that holds answer `seq`, with the answer in view.
  function goToAnswer(seq) {
    var page = Math.floor((seq - 1) / perPage) + 1;
    window.location.assign("/questions/" + questionId + (page > 1 ? "?page=" + page : "") + "#answer-" + seq);
  }

  var shown = new Set();
  list.querySelectorAll("li[data-seq]").forEach(function (li) {
    shown.add(Number(li.dataset.seq));
  });
  var pending = new Map(); // seq -> answer, waiting behind the banner
  var known = Number(countEl.dataset.count) || 0;
  var posting = 0; // answer POSTs in flight from this page

  var STATUS_TEXT = {
    connecting: "connecting…",
    live: "live",
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

  function updateCount(n) {
    if (n <= known) return;
    known = n;
    countEl.textContent = String(n);
    countEl.dataset.count = String(n);
    wordEl.textContent = n === 1 ? "answer" : "answers";
  }

  function updateBanner() {
    var n = pending.size;
    banner.hidden = n === 0;
    banner.textContent = n === 0 ? "" : plural(n, "new answer");
    document.title = n === 0 ? baseTitle : "(" + n + ") " + baseTitle;
  }

  // Builds the same markup as templates/question.html, with text nodes only: answer text
  // never becomes HTML.
  function renderAnswer(answer) {
    var li = document.createElement("li");
    li.className = "answer fresh";
    li.id = "answer-" + answer.seq;
    li.dataset.seq = String(answer.seq);
    li.dataset.answerId = answer.id;
    var mark = document.createElement("p");
    mark.className = "accepted-mark";
    mark.textContent = "\u2713 Accepted";
    mark.hidden = true;
    var score = document.createElement("span");
    score.className = "score";
    score.dataset.scoreFor = answer.id;
    score.title = "Score";
    score.textContent = String(scores.has(answer.id) ? scores.get(answer.id) : answer.score || 0);
    var body = document.createElement("div");
    body.className = "body";
    body.textContent = answer.body;
    var meta = document.createElement("p");
    meta.className = "meta";
    var author = document.createElement("span");
    author.className = "author";
    author.textContent = answer.author;
    var time = document.createElement("time");
    time.dateTime = answer.created_at;
    time.textContent = formatTime(answer.created_at);
    var link = document.createElement("a");
    link.href = "#answer-" + answer.seq;
    link.textContent = "#" + answer.seq;
    meta.append(score, " · answered by ", author, " · ", time, " · ", link);
    li.append(mark, body, meta);
    markAccepted(li, answer.id === acceptedId);
    return li;
  }

  // The latest score per post and the accepted answer, from events: an answer still behind
  // the banner is rendered with them when it is shown.
  var scores = new Map();
  var acceptedId = null;
  list.querySelectorAll("li.accepted[data-answer-id]").forEach(function (li) {
    acceptedId = li.dataset.answerId;
  });

  function markAccepted(li, accepted) {
    li.classList.toggle("accepted", accepted);
    var mark = li.querySelector(".accepted-mark");
    if (mark) mark.hidden = !accepted;
  }

  function answerItem(id) {
    return list.querySelector('li[data-answer-id="' + id + '"]');
  }

  // Score events carry the absolute score: showing the latest one shows the truth.
  function showScore(postId, score) {
    scores.set(postId, score);
    document.querySelectorAll('[data-score-for="' + postId + '"]').forEach(function (el) {
      el.textContent = String(score);
    });
  }

  function showAccepted(answerId, accepted) {
    if (accepted) acceptedId = answerId;
    else if (acceptedId === answerId) acceptedId = null;
    var li = answerItem(answerId);
    if (li) markAccepted(li, accepted);
  }

  // Puts an answer in seq order, once.
  function show(answer) {
    if (shown.has(answer.seq)) return null;
    shown.add(answer.seq);
    pending.delete(answer.seq);
    var li = renderAnswer(answer);
    var after = null;
    list.querySelectorAll("li[data-seq]").forEach(function (other) {
      if (!after && Number(other.dataset.seq) > answer.seq) after = other;
    });
    list.insertBefore(li, after);
    var empty = document.getElementById("no-answers");
    if (empty) empty.remove();
    updateCount(answer.seq);
    return li;
  }

  function revealPending() {
    var answers = Array.from(pending.values()).sort(function (a, b) {
      return a.seq - b.seq;
    });
    var first = null;
    answers.forEach(function (a) {
      var li = show(a);
      if (!first) first = li;
    });
    pending.clear();
    updateBanner();
    return first;
  }

  banner.addEventListener("click", function () {
    if (!onLastPage && pending.size > 0) {
      goToAnswer(Math.min.apply(null, Array.from(pending.keys())));
      return;
    }
    var first = revealPending();
    if (first) {
      first.tabIndex = -1;
      first.focus({ preventScroll: true });
      first.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });

  var watch = window.QaHubClient.watch({
    questionId: questionId,
    afterSeq: Number(root.dataset.lastSeq) || 0,
    onScore: function (event) {
      showScore(event.post_id, event.score);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onAccept: function (answerId) {
      showAccepted(answerId, true);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onUnaccept: function (answerId) {
      showAccepted(answerId, false);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onAnswer: function (answer) {
      root.dataset.lastSeq = String(watch.lastSeq);
      updateCount(answer.seq);
      // Our own answer, already shown when the POST returned: nothing to announce.
      if (shown.has(answer.seq)) return;
      pending.set(answer.seq, answer);
      // While our POST is in flight this may be our own answer, whose reply is on its way:
      // hold the banner; the reply shows it (and anything before it) in place.
      if (posting === 0) updateBanner();
    },
    onSubscribed: function (count) {
      updateCount(Number(count) || 0);
    },
    onStatus: function (status) {
      statusEl.hidden = false;
      statusEl.dataset.status = status;
      statusEl.textContent = STATUS_TEXT[status] || status;
    },
    onError: function (error) {
      statusEl.title = error.message || "";
    },
  });
  window.addEventListener("pagehide", function () {
    watch.close();
  });

  // The answer form: post with fetch so the page (and its socket) stays.
  // `author` is there only for people not logged in on a hub that takes anonymous posts.
  var fields = { body: form.elements.body, author: form.elements.author || null };
  var formError = document.getElementById("answer-form-error");

  function fieldError(name, message) {
    var input = fields[name];
    if (!input) return false;
    var p = document.getElementById("answer-" + name + "-error");
    input.closest(".field").classList.toggle("invalid", Boolean(message));
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    p.textContent = message || "";
    p.hidden = !message;
    return true;
  }

  // One Idempotency-Key per answer text: sending the same text again after a lost response
  // (a timeout, a dropped connection) can never post it twice.
  var lastPost = { body: null, key: null };
  function idempotencyKey(body) {
    if (lastPost.body !== body) {
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      lastPost = { body: body, key: Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("") };
    }
    return lastPost.key;
  }

  function clearErrors() {
    fieldError("body", null);
    fieldError("author", null);
    formError.hidden = true;
    formError.textContent = "";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    posting += 1;
    var post = { body: fields.body.value };
    if (fields.author) post.author = fields.author.value;
    fetch("/api/questions/" + questionId + "/answers", {
      method: "POST",
      // The session cookie goes along: this page is on the hub's own origin.
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "Idempotency-Key": idempotencyKey(post.body),
      },
      body: JSON.stringify(post),
    })
      .then(function (res) {
        return res.json().then(
          function (data) {
            return { ok: res.ok, data: data };
          },
          function () {
            return { ok: false, data: null };
          },
        );
      })
      .then(function (result) {
        if (result.ok) lastPost = { body: null, key: null };
        if (result.ok && !onLastPage) {
          fields.body.value = "";
          goToAnswer(result.data.seq);
          return;
        }
        if (result.ok) {
          // Answers before ours are older: show them first so the list stays in order.
          revealPending();
          var li = show(result.data);
          fields.body.value = "";
          if (li) li.scrollIntoView({ block: "nearest" });
          return;
        }
        var message = (result.data && result.data.error && result.data.error.message) || "The answer could not be posted.";
        var text = message.charAt(0).toUpperCase() + message.slice(1);
        var shown = false;
        if (/^body\b/.test(message)) shown = fieldError("body", text);
        else if (/^author\b/.test(message)) shown = fieldError("author", text);
        if (!shown) {
          formError.textContent = text;
          formError.hidden = false;
        }
      })
      .catch(function () {
        formError.textContent = "Could not reach the server. Your answer is still here; try again.";
        formError.hidden = false;
      })
      .finally(function () {
        posting -= 1;
        button.disabled = false;
        updateBanner();
      });
  });
})();
