/*
 * qa-hub-client.js: watch one question on a qa-hub server and get each of its events once:
 * new answers, scores, the accepted answer, edits, deletes and comments.
 *
 * No dependencies, no build step. Load it with a <script src> and call
 *
 *   const watch = QaHubClient.watch({
 *     questionId: "0190…",          // required
 *     afterSeq: 3,                  // the last answer you already show (default 0: all)
 *     url: "wss://hub.example/ws",  // default: /ws on the page's own origin
 *     onAnswer(answer) {},          // {id, question_id, seq, body, body_html, author, created_at}
 *     onScore(event) {},            // {post_kind, post_id, score}: the post's new absolute score
 *     onAccept(answerId) {},        // the asker accepted this answer
 *     onUnaccept(answerId) {},      // ... or withdrew it (an accept of another may follow)
 *     onEdit(edit) {},              // {post_kind, post_id, revision, title, body, body_html, tags, editor, editor_id, edited_at}
 *                                   //   (tags: a question's new tags when the edit changed them, else null)
 *     onDelete(post) {},            // {post_kind, post_id}: remove it (an answer: with its comments)
 *     onComment(comment) {},        // {id, post_kind, post_id, body, body_html, author, author_id, created_at}
 *     onCommentDelete(comment) {},  // {comment_id, post_kind, post_id}: remove it
 *     onStatus(status) {},          // "connecting" | "live" | "fallback" | "reconnecting" | "offline" | "stopped" | "closed"
 *     onSubscribed(answerCount, seq) {}, // after every (re)subscribe: the count at the topic's seq
 *     onError(error) {},            // {code, message}: the server refused; the client stops
 *   });
 *
 * Or the list of questions instead of one question:
 *
 *   QaHubClient.watch({
 *     topic: "questions",           // instead of questionId
 *     afterSeq: 12,                 // the list's seq your page shows (data-list-seq)
 *     onQuestion(question) {},      // {id, title, author, author_id, created_at, tags}: asked
 *     onQuestionDelete(questionId) {}, // deleted: remove it
 *     onStatus, onSubscribed, onError as above
 *   });
 *
 * Or the questions of one tag, the same way (`question` when a question is asked with the tag
 * or retagged to it; `question-delete` when it leaves the tag, deleted or retagged away):
 *
 *   QaHubClient.watch({ topic: "tag:rust", afterSeq: 4, onQuestion, onQuestionDelete });
 *
 * Or your own inbox (on a connection with your identity: the hub's page session, or `token`):
 *
 *   QaHubClient.watch({
 *     topic: "user:" + yourUserId,
 *     afterSeq: 7,                  // the inbox seq your page shows
 *     onInbox(entry, unread) {},    // an entry is new or changed; `unread`: the count now
 *     onRead(entryIds, unread) {},  // entries marked read (here or on another device)
 *   });
 *   watch.lastSeq;  // the highest seq delivered so far
 *   watch.close();
 *
 * Events arrive in seq order, each exactly once: the client remembers the last seq it
 * delivered and, whenever the connection drops (server restart, network loss, close 1013
 * "too slow"), reconnects with exponential backoff and jitter and resubscribes with
 * after_seq, so the server replays exactly what was missed.
 *
 * Where a WebSocket cannot be opened at all (a proxy that strips the Upgrade header) while the
 * hub answers plain HTTP (`/healthz`), the client falls back to Server-Sent Events (`/sse`,
 * option `sseUrl`) after `fallbackAfter` attempts, with the same guarantee; the status is then "fallback" instead of "live", and
 * `watch.transport` says "sse". The fallback authenticates with the page's session cookie
 * only (EventSource cannot send a token). See docs/web-client.md.
 */
(function (global) {
  "use strict";

  var DEFAULTS = {
    afterSeq: 0,
    url: null,
    initialDelayMs: 250,
    maxDelayMs: 15000,
    // After this many failed attempts in a row the status says "offline" (it keeps trying).
    offlineAfter: 6,
    // WebSocket attempts in a row that never opened before falling back to Server-Sent
    // Events (0: never fall back).
    fallbackAfter: 2,
    sseUrl: null,
  };

  function call(fn) {
    if (typeof fn !== "function") return;
    try {
      fn.apply(null, Array.prototype.slice.call(arguments, 1));
    } catch (e) {
      // A bug in a callback must not kill the connection logic.
      if (global.console) global.console.error(e);
    }
  }

  function defaultUrl() {
    var loc = global.location;
    return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/ws";
  }

  // The event stream next to a WebSocket URL: ws(s)://host/ws -> http(s)://host/sse.
  function sseUrlOf(wsUrl) {
    return wsUrl.replace(/^ws(s?):/, "http$1:").replace(/\/ws(\?.*)?$/, "/sse");
  }

  // The post events: the callback each goes to and what it is given.
  var POST_EVENTS = {
    edit: [
      "onEdit",
      function (m) {
        return {
          post_kind: m.post_kind,
          post_id: m.post_id,
          revision: m.revision,
          title: m.title === undefined ? null : m.title,
          body: m.body,
          body_html: m.body_html,
          tags: m.tags === undefined ? null : m.tags,
          editor: m.editor,
          editor_id: m.editor_id === undefined ? null : m.editor_id,
          edited_at: m.edited_at,
        };
      },
    ],
    delete: [
      "onDelete",
      function (m) {
        return { post_kind: m.post_kind, post_id: m.post_id };
      },
    ],
    comment: [
      "onComment",
      function (m) {
        var c = m.comment || {};
        return {
          id: c.id,
          post_kind: c.post_kind,
          post_id: c.post_id,
          body: c.body,
          body_html: c.body_html,
          author: c.author,
          author_id: c.author_id === undefined ? null : c.author_id,
          created_at: c.created_at,
        };
      },
    ],
    "comment-delete": [
      "onCommentDelete",
      function (m) {
        return { comment_id: m.comment_id, post_kind: m.post_kind, post_id: m.post_id };
      },
    ],
    redacted: null,
  };

  function watch(options) {
    var opts = {};
    var key;
    for (key in DEFAULTS) opts[key] = DEFAULTS[key];
    for (key in options || {}) opts[key] = options[key];
    if (!opts.questionId && !opts.topic) throw new TypeError("QaHubClient.watch needs a questionId or a topic");

    var questionId = String(opts.questionId || "").toLowerCase();
    // The one topic watched: a question's, or another named one ("questions").
    // Lower case, as the server writes every topic back ("tag:C#" is "tag:c#").
    var topic = opts.topic ? String(opts.topic).toLowerCase() : "question:" + questionId;
    var url = opts.url || defaultUrl();
    var lastSeq = Math.max(0, Number(opts.afterSeq) || 0);
    var socket = null;
    // The event stream, once on the fallback.
    var source = null;
    var transport = "websocket";
    // WebSocket attempts in a row that never opened.
    var unopened = 0;
    // The hub answered plain HTTP after a WebSocket attempt failed: one more attempt decides.
    var answered = false;
    var timer = null;
    var failures = 0;
    var finished = false;
    var status = null;

    function setStatus(next) {
      if (next === "live" && transport === "sse") next = "fallback";
      if (next === status) return;
      status = next;
      call(opts.onStatus, next);
    }

    function connect() {
      timer = null;
      if (finished) return;
      if (transport === "sse") {
        connectStream();
        return;
      }
      var ws;
      var opened = false;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        retry();
        return;
      }
      socket = ws;
      ws.onopen = function () {
        opened = true;
        unopened = 0;
        // A token first (the server handles frames in order): a host-signed token identifies
        // the site's user. A function is asked again on every connect, so a short-lived
        // token can be renewed.
        var token = typeof opts.token === "function" ? opts.token() : opts.token;
        if (token) ws.send(JSON.stringify({ type: "auth", token: String(token) }));
        var subscribe = opts.topic ? { topic: topic } : { question_id: questionId };
        subscribe.type = "subscribe";
        subscribe.after_seq = lastSeq;
        ws.send(JSON.stringify(subscribe));
      };
      ws.onmessage = function (event) {
        if (ws === socket) receive(event.data);
      };
      // "error" is always followed by "close"; reconnecting happens there, once.
      ws.onclose = function () {
        if (ws !== socket) return;
        socket = null;
        if (!opened) unopened += 1;
        if (!opened && answered) {
          // A WebSocket attempt made after the hub answered plain HTTP failed too: something
          // between here and the hub refuses WebSockets.
          answered = false;
          transport = "sse";
          connectStream();
          return;
        }
        answered = false;
        if (unopened >= opts.fallbackAfter && opts.fallbackAfter > 0 && typeof global.EventSource === "function") {
          probeHttp();
          return;
        }
        retry();
      };
    }

    // The WebSocket never opened, again. If the hub answers plain HTTP, and a WebSocket
    // attempt right after fails too, something between here and the hub refuses WebSockets:
    // fall back. If it does not answer (it is down, restarting, or the network is), keep
    // retrying the WebSocket.
    function probeHttp() {
      var done = false;
      function decide(reachable) {
        if (done || finished) return;
        done = true;
        if (reachable) {
          // A hub that was restarting answers HTTP and WebSockets alike once it is up: try
          // the WebSocket once more, at once, and fall back only if that fails too.
          answered = true;
          connect();
        } else {
          retry();
        }
      }
      if (typeof global.fetch !== "function") {
        decide(true);
        return;
      }
      // "no-cors": any answer at all resolves (opaque across origins); only no answer rejects.
      var probe = (opts.sseUrl || sseUrlOf(url)).replace(/\/sse(\?.*)?$/, "/healthz");
      global.fetch(probe, { mode: "no-cors", cache: "no-store", credentials: "omit" }).then(
        function () {
          decide(true);
        },
        function () {
          decide(false);
        }
      );
    }

    // The fallback: the same topic as Server-Sent Events, from the last seq delivered. The
    // browser reconnects a dropped stream by itself, sending the last event id, which names
    // the topic's seq; the query's last_event_id covers a stream that had no event yet.
    function connectStream() {
      timer = null;
      if (finished) return;
      var base = opts.sseUrl || sseUrlOf(url);
      var streamUrl =
        base + (base.indexOf("?") < 0 ? "?" : "&") +
        "topics=" + encodeURIComponent(topic) +
        "&last_event_id=" + encodeURIComponent(topic + "=" + lastSeq);
      var es;
      try {
        es = new global.EventSource(streamUrl);
      } catch (e) {
        retry();
        return;
      }
      source = es;
      es.onmessage = function (event) {
        if (es === source) receive(event.data);
      };
      es.onerror = function () {
        if (es !== source) return;
        if (es.readyState === 2) {
          // Refused (an HTTP error): the browser gives up on it; back off and open another.
          source = null;
          retry();
        } else {
          setStatus("reconnecting");
        }
      };
    }

    function closeTransport() {
      var ws = socket;
      var es = source;
      socket = null;
      source = null;
      if (ws) ws.close(1000);
      if (es) es.close();
    }

    // A message from either transport: the same JSON; anything else is ignored.
    function receive(text) {
      var msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        return;
      }
      handle(msg);
    }

    function handle(msg) {
      if (msg && msg.type === "authenticated") {
        call(opts.onAuth, { userId: msg.user_id, name: msg.name });
        return;
      }
      if (msg && msg.type === "error" && msg.code === "invalid_credentials") {
        // Reading is public: the watch goes on without an identity.
        call(opts.onAuth, null);
        return;
      }
      // Messages about the question: events carry only `topic`; older messages `question_id`.
      if (!msg) return;
      var about = msg.topic ? String(msg.topic).toLowerCase() : "question:" + String(msg.question_id || "").toLowerCase();
      if (about !== topic) return;
      if (msg.type === "subscribed") {
        failures = 0;
        setStatus("live");
        call(opts.onSubscribed, msg.answer_count, msg.seq);
      } else if (msg.type === "answer") {
        var answer = msg.answer || {};
        // The topic's seq (servers before topics sent only the answer's, which was the same).
        var seq = typeof msg.seq === "number" ? msg.seq : answer.seq;
        // The server sends each seq once per subscription; this guards the seam between two
        // subscriptions and any replay, so callers never see a seq twice.
        if (typeof seq !== "number" || seq <= lastSeq) return;
        lastSeq = seq;
        call(opts.onAnswer, answer);
      } else if (msg.type === "score" || msg.type === "accept" || msg.type === "unaccept") {
        if (typeof msg.seq !== "number" || msg.seq <= lastSeq) return;
        lastSeq = msg.seq;
        if (msg.type === "score") call(opts.onScore, { post_kind: msg.post_kind, post_id: msg.post_id, score: msg.score });
        else call(msg.type === "accept" ? opts.onAccept : opts.onUnaccept, msg.answer_id);
      } else if (Object.prototype.hasOwnProperty.call(POST_EVENTS, msg.type)) {
        if (typeof msg.seq !== "number" || msg.seq <= lastSeq) return;
        lastSeq = msg.seq;
        // `redacted` (an event whose post was deleted since; only a resume sends it) has no
        // callback: its seq is counted, and there is nothing to show.
        var typed = POST_EVENTS[msg.type];
        if (typed) call(opts[typed[0]], typed[1](msg));
      } else if (msg.type === "inbox" || msg.type === "read") {
        if (typeof msg.seq !== "number" || msg.seq <= lastSeq) return;
        lastSeq = msg.seq;
        if (msg.type === "inbox") call(opts.onInbox, msg.entry || {}, msg.unread);
        else call(opts.onRead, msg.entry_ids || [], msg.unread);
      } else if (msg.type === "question" || msg.type === "question-delete") {
        if (typeof msg.seq !== "number" || msg.seq <= lastSeq) return;
        lastSeq = msg.seq;
        if (msg.type === "question") call(opts.onQuestion, msg.question || {});
        else call(opts.onQuestionDelete, msg.question_id);
      } else if (msg.type !== "error" && msg.topic && typeof msg.seq === "number") {
        // An event kind this client does not know: skip it, but count its seq, so a resume
        // asks for what comes after it (docs/protocol.md).
        if (msg.seq > lastSeq) lastSeq = msg.seq;
      } else if (msg.type === "error") {
        if (msg.code === "unavailable" || (msg.code === "credential_expired" && typeof opts.token === "function")) {
          // The server could not read its database (e.g. just restarted), or a short-lived
          // token ran out (the hub ends an inbox at its `exp`): reconnect, which asks `token`
          // for a fresh one, and resume by seq.
          closeTransport();
          retry();
          return;
        }
        // Other refusals (unknown question, too many subscriptions) will not get better by
        // retrying.
        stop("stopped");
        call(opts.onError, { code: msg.code, message: msg.message });
      }
    }

    function retry() {
      if (finished || timer) return;
      var online = !global.navigator || global.navigator.onLine !== false;
      setStatus(online && failures < opts.offlineAfter ? "reconnecting" : "offline");
      // Exponential backoff with "equal jitter": half the delay fixed, half random, so a
      // restarted server is not hit by every client at the same instant.
      var ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * Math.pow(2, failures));
      failures += 1;
      timer = setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
    }

    function onOnline() {
      // The network is back: try now instead of waiting out the backoff.
      if (finished || socket || source) return;
      clearTimeout(timer);
      timer = null;
      failures = 0;
      connect();
    }

    function stop(finalStatus) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      timer = null;
      if (global.removeEventListener) global.removeEventListener("online", onOnline);
      closeTransport();
      setStatus(finalStatus);
    }

    if (global.addEventListener) global.addEventListener("online", onOnline);
    setStatus("connecting");
    connect();

    return {
      get lastSeq() {
        return lastSeq;
      },
      get status() {
        return status;
      },
      // "websocket", or "sse" once on the fallback.
      get transport() {
        return transport;
      },
      close: function () {
        stop("closed");
      },
    };
  }

  var api = { watch: watch };
  global.QaHubClient = api;
  if (typeof module === "object" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : this);
