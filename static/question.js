/*
 * The question page's live behaviour, on top of qa-hub-client.js:
 *   - answers from others wait behind a "N new answers" banner (an aria-live region) and
 *     show at the end of the list when it is clicked; the answer count and the tab title
 *     "(N) …" follow;
 *   - the answer form posts with fetch, and the posted answer shows at once, without a
 *     banner; its own notification is then recognised by seq and not shown again;
 *   - scores, the accepted mark, edits (the text and its "edited" marker), deletes and
 *     comments change in place, also on answers still waiting behind the banner. Nothing is
 *     re-sorted under the reader: the server's order (accepted, score, age) is applied at the
 *     next load. Whatever the change, the element at the top of the viewport stays where it
 *     is (keepInView), so content changing above it never moves what is being read;
 *   - a small status says live / reconnecting / offline;
 *   - on an earlier page of a long question, new answers and one's own go to the page that
 *     holds them (the server says which: /questions/{id}/answers/{seq}) instead of into this
 *     list.
 * Without JavaScript the page still works: every action is a form that posts and redirects
 * back.
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
  var viewerId = root.dataset.viewerId || null;
  var moderator = root.dataset.moderator === "true";
  var deleteCommentTemplate = document.getElementById("comment-delete-template");
  var onLastPage = Number(root.dataset.page || 1) >= Number(root.dataset.pages || 1);

  // The page that holds answer `seq` (pages follow the reading order, so the server knows
  // which), with the answer in view.
  function goToAnswer(seq) {
    window.location.assign("/questions/" + questionId + "/answers/" + seq);
  }

  var shown = new Set();
  list.querySelectorAll("li[data-seq]").forEach(function (li) {
    shown.add(Number(li.dataset.seq));
  });
  var pending = new Map(); // seq -> answer, waiting behind the banner
  // The answer count is exact at seq `countedTo` (the page's read, then each subscribe's);
  // answer and delete events after it move it by one.
  var count = Number(root.dataset.count) || 0;
  var countedTo = Number(root.dataset.lastSeq) || 0;
  var posting = 0; // answer POSTs in flight from this page

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

  function setCount(n) {
    count = Math.max(0, n);
    countEl.textContent = String(count);
    countEl.dataset.count = String(count);
    wordEl.textContent = count === 1 ? "answer" : "answers";
  }

  // An answer added (+1) or deleted (-1) by the event being delivered, unless the count
  // already includes it.
  function countEvent(delta) {
    if (watch.lastSeq > countedTo) setCount(count + delta);
  }

  // Runs `change` without moving what the reader is looking at: the element at the top of
  // the viewport (or, if the change removes it, the first one below it that stays) keeps
  // its place on screen. The browser's own scroll anchoring is off (app.css), so this is
  // the only correction, the same in every browser.
  function keepInView(change) {
    var anchors = [];
    var x = Math.round(list.getBoundingClientRect().left + 24);
    [1, 24, 48, 96, 160].forEach(function (y) {
      var el = document.elementFromPoint(x, y);
      if (el && el.closest("#question, #answer-list > li, #answer") && !/^(OL|UL|SECTION|MAIN)$/.test(el.tagName)) {
        anchors.push(el);
      }
    });
    list.querySelectorAll(":scope > li").forEach(function (li) {
      if (li.getBoundingClientRect().top >= 0) anchors.push(li);
    });
    var tops = anchors.map(function (el) {
      return el.getBoundingClientRect().top;
    });
    change();
    for (var i = 0; i < anchors.length; i++) {
      if (!anchors[i].isConnected) continue;
      var moved = anchors[i].getBoundingClientRect().top - tops[i];
      if (moved) window.scrollBy(0, moved);
      return;
    }
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
    body.className = "body markdown";
    // Rendered and sanitised by the server when the answer was written: the same bytes a
    // reload shows (the page renders the stored HTML as is).
    body.innerHTML = answer.body_html;
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
    meta.append(score, " · answered by ", author, " · ", time, " · ", link, editedMarker(answer));
    var comments = document.createElement("div");
    comments.className = "comments";
    var ul = document.createElement("ul");
    ul.className = "comment-list";
    ul.dataset.commentsFor = answer.id;
    comments.append(ul);
    li.append(mark, body, meta, comments);
    markAccepted(li, answer.id === acceptedId);
    (answer.comments || []).forEach(function (c) {
      ul.append(renderComment(c));
    });
    return li;
  }

  // The "edited" marker of templates/question.html: a link to the post's revisions, hidden
  // until its first edit.
  function editedMarker(answer) {
    var span = document.createElement("span");
    span.className = "edited-marker";
    span.dataset.editedFor = answer.id;
    var a = document.createElement("a");
    a.className = "edited";
    a.href = "/questions/" + questionId + "/revisions?answer=" + answer.id;
    a.append("edited ", document.createElement("time"));
    span.append(" · ", a);
    showEdited(span, answer.revision || 1, answer.edited_at);
    return span;
  }

  function showEdited(span, revision, at) {
    span.hidden = !(revision > 1);
    var a = span.querySelector("a");
    a.dataset.revision = String(revision);
    a.title = "Revision " + revision;
    var time = a.querySelector("time");
    if (at) {
      time.dateTime = at;
      time.textContent = formatTime(at);
    }
  }

  // A comment as templates/question.html renders it, text only; with a delete form when the
  // reader wrote it or moderates (the form is the page's own, with its CSRF token).
  function renderComment(c) {
    var li = document.createElement("li");
    li.className = "comment";
    li.id = "comment-" + c.id;
    li.dataset.commentId = c.id;
    var body = document.createElement("span");
    body.className = "comment-body";
    body.innerHTML = c.body_html;
    var author = document.createElement("span");
    author.className = "author";
    author.textContent = c.author;
    var time = document.createElement("time");
    time.dateTime = c.created_at;
    time.textContent = formatTime(c.created_at);
    li.append(body, " – ", author, " ", time);
    if (deleteCommentTemplate && (moderator || (viewerId && c.author_id === viewerId))) {
      var form = deleteCommentTemplate.content.firstElementChild.cloneNode(true);
      form.elements.comment.value = c.id;
      var back = form.elements.back;
      var onAnswer = c.post_kind === "answer" && answerItem(c.post_id);
      if (onAnswer) back.value = back.value.replace(/#.*$/, "#" + onAnswer.id);
      li.append(" ", form);
    }
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

  // Shows an answer, once, at the end of the list: answers that arrive while the page is
  // open are the newest, and the next load puts them in their place in the reading order.
  function show(answer) {
    if (shown.has(answer.seq)) return null;
    shown.add(answer.seq);
    pending.delete(answer.seq);
    var li = renderAnswer(answer);
    keepInView(function () {
      list.append(li);
      var empty = document.getElementById("no-answers");
      if (empty) empty.remove();
    });
    return li;
  }

  // An answer waiting behind the banner, by id.
  function pendingAnswer(id) {
    var found = null;
    pending.forEach(function (a) {
      if (a.id === id) found = a;
    });
    return found;
  }

  // The element of a post on this page: the question, or an answer's list item.
  function postElement(kind, id) {
    if (kind === "question") return id === questionId ? root : null;
    return answerItem(id);
  }

  function showEdit(edit) {
    var waiting = edit.post_kind === "answer" && pendingAnswer(edit.post_id);
    if (waiting) {
      waiting.body = edit.body;
      waiting.body_html = edit.body_html;
      waiting.revision = edit.revision;
      waiting.edited_at = edit.edited_at;
      return;
    }
    var el = postElement(edit.post_kind, edit.post_id);
    if (!el) return;
    keepInView(function () {
      el.querySelector(":scope > .body").innerHTML = edit.body_html;
      if (edit.post_kind === "question" && edit.title !== null) {
        el.querySelector(":scope > h1").textContent = edit.title;
        baseTitle = edit.title + " · qa-hub";
        updateBanner();
      }
      if (edit.post_kind === "question" && edit.tags) showTags(edit.tags);
      var marker = el.querySelector('[data-edited-for="' + edit.post_id + '"]');
      if (marker) showEdited(marker, edit.revision, edit.edited_at);
    });
  }

  // A retag: the question's tags as templates/question.html renders them, and the edit form's
  // field, each a link to the tag's page (/tags/c%23 for c#).
  function showTags(tags) {
    var ul = document.getElementById("question-tags");
    if (!ul) return;
    ul.replaceChildren();
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
    ul.hidden = tags.length === 0;
    var field = document.getElementById("edit-tags");
    if (field && document.activeElement !== field) field.value = tags.join(" ");
  }

  function showDelete(post) {
    if (post.post_kind === "question") {
      if (post.post_id !== questionId) return;
      // The topic ends here: say so, and take the question's text and forms off the page.
      watch.close();
      keepInView(function () {
        root.classList.add("deleted");
        document.getElementById("deleted-notice").hidden = false;
        root.querySelectorAll(":scope > .body, :scope > .comments, :scope > form, :scope > details").forEach(function (el) {
          el.remove();
        });
        document.querySelector(".answers").hidden = true;
        document.getElementById("answer").hidden = true;
      });
      pending.clear();
      updateBanner();
      return;
    }
    if (post.post_id === acceptedId) acceptedId = null;
    var waiting = pendingAnswer(post.post_id);
    if (waiting) {
      pending.delete(waiting.seq);
      shown.add(waiting.seq); // never shown now, even if its notification came again
      updateBanner();
    }
    var li = answerItem(post.post_id);
    if (li) {
      keepInView(function () {
        li.remove();
      });
    }
    countEvent(-1);
  }

  function showComment(c) {
    if (document.getElementById("comment-" + c.id)) return;
    var waiting = c.post_kind === "answer" && pendingAnswer(c.post_id);
    if (waiting) {
      waiting.comments = (waiting.comments || []).filter(function (o) {
        return o.id !== c.id;
      });
      waiting.comments.push(c);
      return;
    }
    var ul = document.querySelector('[data-comments-for="' + c.post_id + '"]');
    if (!ul) return; // on an answer of another page
    keepInView(function () {
      ul.append(renderComment(c));
    });
  }

  function removeComment(c) {
    var waiting = c.post_kind === "answer" && pendingAnswer(c.post_id);
    if (waiting && waiting.comments) {
      waiting.comments = waiting.comments.filter(function (o) {
        return o.id !== c.comment_id;
      });
    }
    var li = document.getElementById("comment-" + c.comment_id);
    if (li) {
      keepInView(function () {
        li.remove();
      });
    }
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
    onEdit: function (edit) {
      showEdit(edit);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onDelete: function (post) {
      showDelete(post);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onComment: function (comment) {
      showComment(comment);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
    onCommentDelete: function (comment) {
      removeComment(comment);
      root.dataset.lastSeq = String(watch.lastSeq);
    },
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
      countEvent(1);
      // Our own answer, already shown when the POST returned: nothing to announce.
      if (shown.has(answer.seq)) return;
      pending.set(answer.seq, answer);
      // While our POST is in flight this may be our own answer, whose reply is on its way:
      // hold the banner; the reply shows it (and anything before it) in place.
      if (posting === 0) updateBanner();
    },
    onSubscribed: function (answerCount, seq) {
      if (typeof seq === "number") {
        setCount(Number(answerCount) || 0);
        countedTo = seq;
      }
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
