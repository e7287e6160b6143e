//! Markdown to safe HTML: what a post's or a comment's `body_html` holds. Rendered once per
//! revision, when it is written (the store calls [`full`] or [`inline`] as it builds the row),
//! never per read or per subscriber; the source is kept beside it.
//!
//! Two steps, each a well-kept crate: `pulldown-cmark` parses CommonMark with GitHub's
//! tables, strikethrough and autolinks (bare `https://…` and `www.…` become links here, as
//! GitHub does; pulldown-cmark has no such option), and `ammonia` then cleans the HTML against
//! an allow-list, so whatever the parser passes through (raw HTML in the source is passed on
//! as it is written) leaves with no script, no event handler, no `javascript:`/`data:` URL,
//! no style and no embedded content. docs/security.md lists the rules. Both run in time
//! linear in the input (pulldown-cmark by design, ammonia on a tree it walks with its own
//! stack, so even 10,000 nested quotes cannot overflow a thread's).

use std::{ops::Range, sync::LazyLock};

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

/// What every link gets: search engines do not follow it (`nofollow`), it is user content
/// (`ugc`), and the page it opens cannot reach back to ours (`noopener`).
pub const LINK_REL: &str = "nofollow ugc noopener";

/// A post (question, answer, revision) as HTML: block Markdown, tables, strikethrough,
/// fenced code with its language as `class="language-…"`, images over `https:` only.
pub fn full(source: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(source, options).into_offset_iter();
    let events = https_images_only(linkify(bounded(merge_text(events))));
    let mut html = String::with_capacity(source.len() + source.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    trimmed(FULL.clean(&html).to_string())
}

/// A comment as HTML: the inline subset only (code spans, emphasis, strong, links). Anything
/// else the source would make (a heading, a list, a quote, a rule, a code block, an image)
/// shows as its text: the block's markers as typed, an image as its alt text. No `<p>`.
pub fn inline(source: &str) -> String {
    let events = Parser::new_ext(source, Options::empty()).into_offset_iter();
    let events = blocks_as_text(source, linkify(bounded(merge_text(events))));
    let mut html = String::with_capacity(source.len() + source.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    trimmed(INLINE.clean(&html).to_string())
}

/// Without the line break the writer ends each block with: the HTML goes into an element whose
/// text some readers take as is (`textContent`), and the last block's newline is no part of
/// the post. The output always ends with a closing tag or text, never inside a `<pre>`.
fn trimmed(mut html: String) -> String {
    html.truncate(html.trim_end().len());
    html
}

/// The sanitiser for posts.
static FULL: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = base(&[
        "a",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    ]);
    b.add_tag_attributes("img", ["src", "alt", "title"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("ol", ["start"])
        .set_tag_attribute_value("img", "loading", "lazy")
        .set_tag_attribute_value("img", "referrerpolicy", "no-referrer");
    b
});

/// The sanitiser for comments: inline elements only.
static INLINE: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| base(&["a", "code", "em", "strong"]));

/// The rules both sanitisers share: only the given tags, links with `href` and `title` over
/// `http:`, `https:` or `mailto:` (or relative), [`LINK_REL`] on every link, no other
/// attribute anywhere unless added, and the content of script-like elements dropped with them.
fn base(tags: &[&'static str]) -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::empty();
    b.add_tags(tags.iter().copied())
        .add_tag_attributes("a", ["href", "title"])
        .add_url_schemes(["http", "https", "mailto"])
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .add_clean_content_tags(["script", "style", "iframe", "object", "noscript", "template"])
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("code", "class") => language_class(value).then(|| value.into()),
            ("img", "src") => value.starts_with("https://").then(|| value.into()),
            _ => Some(value.into()),
        });
    b
}

/// A fenced block's class as pulldown-cmark writes it (`language-rust`), with a language name
/// of the characters languages are named with; anything else is dropped.
fn language_class(value: &str) -> bool {
    value.strip_prefix("language-").is_some_and(|lang| {
        !lang.is_empty()
            && lang.len() <= 40
            && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b"+#.-_".contains(&b))
    })
}

type Spanned<'a> = (Event<'a>, Range<usize>);

/// Joins adjacent text events (the parser splits text at characters that might have
/// started markup), so a URL is seen whole by [`linkify`]. Each run is joined into one
/// growing string: linear, however many pieces (30,000 `[` are 30,000 of them).
fn merge_text<'a>(events: impl Iterator<Item = Spanned<'a>>) -> Vec<Spanned<'a>> {
    let mut out: Vec<Spanned<'a>> = Vec::new();
    let mut run: Option<(String, Range<usize>)> = None;
    for (event, range) in events {
        match (event, run.as_mut()) {
            (Event::Text(next), Some((text, span))) => {
                text.push_str(&next);
                span.end = range.end;
            }
            (Event::Text(next), None) => run = Some((next.into_string(), range)),
            (other, _) => {
                if let Some((text, span)) = run.take() {
                    out.push((Event::Text(text.into()), span));
                }
                out.push((other, range));
            }
        }
    }
    if let Some((text, span)) = run {
        out.push((Event::Text(text.into()), span));
    }
    out
}

/// GitHub's extended autolinks: a bare `http://`, `https://` or `www.` URL in text (not in a
/// link, code or raw HTML) becomes a link. It starts a word (at the start, after white space
/// or one of `*_~(`) and ends at white space or `<`, less trailing punctuation (`?!.,:*_~'"`)
/// and any `)` that closes no `(` of its own.
fn linkify(events: Vec<Spanned<'_>>) -> Vec<Spanned<'_>> {
    let mut out = Vec::with_capacity(events.len());
    let (mut in_link, mut in_code) = (0usize, false);
    for (event, range) in events {
        match &event {
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => in_link += 1,
            Event::End(TagEnd::Link | TagEnd::Image) => in_link = in_link.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(text) if in_link == 0 && !in_code => {
                let mut rest: &str = text;
                let mut found = false;
                while let Some((before, url, after)) = next_url(rest) {
                    found = true;
                    if !before.is_empty() {
                        out.push((Event::Text(before.to_owned().into()), range.clone()));
                    }
                    let href = if url.starts_with("www.") { format!("http://{url}") } else { url.to_owned() };
                    out.push((
                        Event::Start(Tag::Link {
                            link_type: LinkType::Autolink,
                            dest_url: href.into(),
                            title: "".into(),
                            id: "".into(),
                        }),
                        range.clone(),
                    ));
                    out.push((Event::Text(url.to_owned().into()), range.clone()));
                    out.push((Event::End(TagEnd::Link), range.clone()));
                    rest = after;
                }
                if found {
                    if !rest.is_empty() {
                        out.push((Event::Text(rest.to_owned().into()), range));
                    }
                    continue;
                }
            }
            _ => {}
        }
        out.push((event, range));
    }
    out
}

/// The first bare URL in `text`: (text before it, the URL, text after it). One pass over the
/// text: a candidate that fails is rejected by the character before it and the one after its
/// prefix alone, and one that passes is taken whole.
fn next_url(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    loop {
        let (start, prefix) = find_prefix(text, from)?;
        let starts_word =
            text[..start].chars().next_back().is_none_or(|c| c.is_whitespace() || "*_~(".contains(c));
        // Something after the scheme (or `www.`) that can start a host name; trimming never
        // reaches back past it.
        let has_host = text[start + prefix..].chars().next().is_some_and(char::is_alphanumeric);
        if starts_word && has_host {
            let rest = &text[start..];
            let end = start + rest.find(|c: char| c.is_whitespace() || c == '<').unwrap_or(rest.len());
            let end = start + trim_url(&text[start..end]).len();
            return Some((&text[..start], &text[start..end], &text[end..]));
        }
        from = start + prefix;
    }
}

/// Where the next `http://`, `https://` or `www.` (any case) starts at or after `from`, and
/// its length.
fn find_prefix(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    (from..bytes.len()).find_map(|at| {
        ["https://", "http://", "www."]
            .iter()
            .find(|p| bytes.get(at..at + p.len()).is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes())))
            .map(|p| (at, p.len()))
    })
}

/// A URL less what GitHub leaves out of its end: trailing punctuation, and `)` that closes
/// no `(` of the URL's own. The parentheses are counted once.
fn trim_url(url: &str) -> &str {
    let mut unbalanced = url.matches(')').count() as i64 - url.matches('(').count() as i64;
    let mut end = url.len();
    while let Some(last) = url[..end].chars().next_back() {
        if "?!.,:*_~'\"".contains(last) {
            end -= 1;
        } else if last == ')' && unbalanced > 0 {
            unbalanced -= 1;
            end -= 1;
        } else {
            break;
        }
    }
    &url[..end]
}

/// How deep elements may nest. HTML parsing (html5ever, under ammonia) looks through the open
/// elements for each new one, so its time grows with the square of the depth: 30,000 `>`
/// (quotes in quotes) took 3 s in a release build before this bound. Markdown nested deeper
/// keeps its text, in the deepest element allowed.
const MAX_DEPTH: usize = 32;

/// How many tags of raw HTML a source may hold before its raw HTML is shown as text instead:
/// raw HTML nests as deep as it likes (`<div>` 6,000 times fits in a body), and this bounds
/// what the parser is given to nest. Far beyond what a post uses (`<kbd>`, `<sup>`, `<br>`).
const MAX_RAW_TAGS: usize = 1_000;

/// Elements deeper than [`MAX_DEPTH`] go (their text stays), and raw HTML becomes text when
/// there is more of it than [`MAX_RAW_TAGS`] tags.
fn bounded(events: Vec<Spanned<'_>>) -> Vec<Spanned<'_>> {
    let raw_tags: usize = events
        .iter()
        .map(|(e, _)| match e {
            Event::Html(html) | Event::InlineHtml(html) => html.matches('<').count(),
            _ => 0,
        })
        .sum();
    let mut out = Vec::with_capacity(events.len());
    // For each open tag, whether it was kept; and how many kept ones are open.
    let (mut open, mut depth) = (Vec::new(), 0usize);
    for (event, range) in events {
        match event {
            Event::Start(tag) => {
                let keep = depth < MAX_DEPTH;
                open.push(keep);
                if keep {
                    depth += 1;
                    out.push((Event::Start(tag), range));
                }
            }
            Event::End(end) => {
                if open.pop().unwrap_or(false) {
                    depth -= 1;
                    out.push((Event::End(end), range));
                }
            }
            Event::Html(html) | Event::InlineHtml(html) if raw_tags > MAX_RAW_TAGS => {
                out.push((Event::Text(html), range));
            }
            other => out.push((other, range)),
        }
    }
    out
}

/// An image whose source is not `https:` shows as its alt text: an `http:` image would be
/// mixed content, a relative one would ask this hub for whatever path the author chose.
fn https_images_only(events: Vec<Spanned<'_>>) -> Vec<Event<'_>> {
    let mut out = Vec::with_capacity(events.len());
    let mut dropped = Vec::new();
    for (event, _) in events {
        match &event {
            Event::Start(Tag::Image { dest_url, .. }) => {
                let keep = dest_url.starts_with("https://");
                dropped.push(!keep);
                if !keep {
                    continue;
                }
            }
            Event::End(TagEnd::Image) if dropped.pop().unwrap_or(false) => continue,
            _ => {}
        }
        out.push(event);
    }
    out
}

/// For comments: every block element and image goes, its text stays. A block's markers (`# `,
/// `> `, `- `, a rule, a fence) are given back as the text that was typed.
fn blocks_as_text<'a>(source: &'a str, events: Vec<Spanned<'a>>) -> Vec<Event<'a>> {
    let mut out = Vec::with_capacity(events.len());
    // Where the innermost open block's markers began, until its first inline content.
    let mut markers: Option<usize> = None;
    let emit_markers = |out: &mut Vec<Event<'a>>, markers: &mut Option<usize>, upto: usize| {
        if let Some(from) = markers.take()
            && let Some(text) = source.get(from..upto)
            && !text.is_empty()
        {
            out.push(Event::Text(text.into()));
        }
    };
    for (event, range) in events {
        match event {
            Event::Start(tag) if is_block(&tag) => {
                markers.get_or_insert(range.start);
            }
            Event::End(end) if is_block_end(end) => emit_markers(&mut out, &mut markers, range.end),
            Event::Rule => {
                markers.get_or_insert(range.start);
                emit_markers(&mut out, &mut markers, range.end);
            }
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {
                emit_markers(&mut out, &mut markers, range.start)
            }
            Event::SoftBreak | Event::HardBreak => {
                emit_markers(&mut out, &mut markers, range.start);
                out.push(Event::Text(" ".into()));
            }
            // A code block's lines come as text; raw HTML goes on to the sanitiser.
            other => {
                emit_markers(&mut out, &mut markers, range.start);
                out.push(other);
            }
        }
    }
    out
}

fn is_block(tag: &Tag<'_>) -> bool {
    !matches!(
        tag,
        Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::Link { .. }
            | Tag::Image { .. }
    )
}

fn is_block_end(tag: TagEnd) -> bool {
    !matches!(
        tag,
        TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image
    )
}

/// Inputs for testing and measuring the renderer: the hostile corpus (each would set
/// `window.__pwned` if it ran) and the worst cases for time and depth at the largest body.
/// The unit tests below, the browser tests and the cost measurement (`examples/markdown_cost.rs`)
/// all use these.
pub mod corpus {
    /// Inputs written to run script, each of which would set `window.__pwned` if it did.
    pub const HOSTILE: &[&str] = &[
        "<script>window.__pwned=1</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=\"window.__pwned=1\">",
        "<img src=\"https://example.com/x.png\" onerror=\"window.__pwned=1\">",
        "<svg onload=\"window.__pwned=1\"><circle r=1 /></svg>",
        "<svg><script>window.__pwned=1</script></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=1>",
        "[click](javascript:window.__pwned=1)",
        "[click](JaVaScRiPt:window.__pwned=1)",
        "[click](jav&#x09;ascript:window.__pwned=1)",
        "[click](&#106;avascript:window.__pwned=1)",
        "[click](java\tscript:window.__pwned=1)",
        "<a href=\"jav&#x09;ascript:window.__pwned=1\">x</a>",
        "<a href=\"&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:window.__pwned=1\">x</a>",
        "<a href=\" javascript:window.__pwned=1\">x</a>",
        "[click](vbscript:window.__pwned=1)",
        "[click](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+)",
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIj48L3N2Zz4=)",
        "<a href=\"data:text/html,<script>window.__pwned=1</script>\">x</a>",
        "<iframe src=\"javascript:window.__pwned=1\"></iframe>",
        "<iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>",
        "<object data=\"javascript:window.__pwned=1\"></object><embed src=\"javascript:window.__pwned=1\">",
        "<form action=\"javascript:window.__pwned=1\"><button>go</button></form>",
        "<style>body{background:url(javascript:window.__pwned=1)}</style>",
        "<p style=\"background:url(javascript:window.__pwned=1)\">styled</p>",
        "<div onclick=\"window.__pwned=1\" onmouseover=\"window.__pwned=1\">hover</div>",
        "<details open ontoggle=\"window.__pwned=1\">x</details>",
        "<body onload=\"window.__pwned=1\">",
        "<input autofocus onfocus=\"window.__pwned=1\">",
        "<video><source onerror=\"window.__pwned=1\"></video>",
        "<a href=\"https://example.com\" onclick=\"window.__pwned=1\">x</a>",
        "<a title=\"\"><img src=x onerror=window.__pwned=1>\">x</a>",
        "\"><script>window.__pwned=1</script>",
        "'><img src=x onerror=window.__pwned=1>",
        "<img src=\"x\"\" onerror=\"window.__pwned=1\">",
        "<img/src=x/onerror=window.__pwned=1>",
        "<scr<script>ipt>window.__pwned=1</scr</script>ipt>",
        "<<script>script>window.__pwned=1<</script>/script>",
        "<!-- --><script>window.__pwned=1</script><!-- -->",
        "<!--<img src=x onerror=window.__pwned=1>-->",
        "<noscript><p title=\"</noscript><img src=x onerror=window.__pwned=1>\">",
        "<template><img src=x onerror=window.__pwned=1></template>",
        "<textarea><img src=x onerror=window.__pwned=1></textarea>",
        "<b><i><img src=x onerror=window.__pwned=1",
        "<img src=x onerror=window.__pwned=1",
        "<a href=\"https://example.com\"><script>window.__pwned=1",
        "`<script>window.__pwned=1</script>`",
        "```html\n<script>window.__pwned=1</script>\n```",
        "```\"><img src=x onerror=window.__pwned=1>\nx\n```",
        "[x](https://example.com \"\\\"><img src=x onerror=window.__pwned=1>\")",
        "![\"><img src=x onerror=window.__pwned=1>](https://example.com/x.png)",
        "[x]: javascript:window.__pwned=1\n\n[x]",
        "<base href=\"javascript:window.__pwned=1//\"><a href=\"/\">x</a>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__pwned=1\">",
        "<link rel=\"stylesheet\" href=\"javascript:window.__pwned=1\">",
        "| a |\n|---|\n| <img src=x onerror=window.__pwned=1> |",
        "https://example.com/\"onmouseover=\"window.__pwned=1",
        "www.example.com/<img/src=x/onerror=window.__pwned=1>",
    ];

    /// Very long or deeply nested inputs at the largest body.
    pub fn worst_cases() -> Vec<String> {
        let max = crate::domain::limits::BODY;
        vec![
            ">".repeat(max),
            "[".repeat(max),
            "*".repeat(max),
            "_".repeat(max),
            "`".repeat(max),
            "<div>".repeat(max / 5),
            "<b>".repeat(max / 3),
            "- ".repeat(max / 2),
            "[a](".repeat(max / 4),
            "*a **b ".repeat(max / 7),
            "| a ".repeat(max / 4) + "\n" + &"|---".repeat(max / 8),
            "https://a.b/".repeat(max / 12),
            "![".repeat(max / 2),
            "a\n".repeat(max / 2),
        ]
        .into_iter()
        .map(|source| source.chars().take(max).collect())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{corpus::*, *};

    /// Markdown in, the exact HTML out.
    #[test]
    fn posts_render_to_this_html() {
        let cases: &[(&str, &str)] = &[
            ("plain", "<p>plain</p>"),
            ("```rust\nfn main() {}\n```", "<pre><code class=\"language-rust\">fn main() {}\n</code></pre>"),
            ("```\nx < y\n```", "<pre><code>x &lt; y\n</code></pre>"),
            ("    indented", "<pre><code>indented</code></pre>"),
            // A language of other characters keeps the block, loses the class.
            ("```a\"b\nx\n```", "<pre><code>x\n</code></pre>"),
            (
                "| a | b |\n|---|:-:|\n| 1 | 2 |",
                "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>\n</tbody></table>",
            ),
            ("~~gone~~ and ~one~", "<p><del>gone</del> and <del>one</del></p>"),
            ("*em* **strong** `code`", "<p><em>em</em> <strong>strong</strong> <code>code</code></p>"),
            (
                "[a](https://example.com \"t\")",
                "<p><a href=\"https://example.com\" title=\"t\" rel=\"nofollow ugc noopener\">a</a></p>",
            ),
            (
                "<https://example.com/x>",
                "<p><a href=\"https://example.com/x\" rel=\"nofollow ugc noopener\">https://example.com/x</a></p>",
            ),
            (
                "see https://example.com/a_(b). and www.example.org!",
                "<p>see <a href=\"https://example.com/a_(b)\" rel=\"nofollow ugc noopener\">https://example.com/a_(b)</a>. \
                 and <a href=\"http://www.example.org\" rel=\"nofollow ugc noopener\">www.example.org</a>!</p>",
            ),
            (
                "(https://example.com)",
                "<p>(<a href=\"https://example.com\" rel=\"nofollow ugc noopener\">https://example.com</a>)</p>",
            ),
            ("`https://example.com`", "<p><code>https://example.com</code></p>"),
            ("nohttps://x", "<p>nohttps://x</p>"),
            ("![cat](http://example.com/cat.png)", "<p>cat</p>"),
            ("![cat](/cat.png)", "<p>cat</p>"),
            ("# Title\n\n> quote", "<h1>Title</h1>\n<blockquote>\n<p>quote</p>\n</blockquote>"),
            ("- a\n- b\n\n3. c", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ol start=\"3\">\n<li>c</li>\n</ol>"),
            // Raw HTML is cleaned as a browser parses it: the `<div>` closes the paragraph.
            ("a<b>bold</b><div>x</div>", "<p>a<b>bold</b></p>x<p></p>"),
            ("a & b <3", "<p>a &amp; b &lt;3</p>"),
        ];
        for (source, html) in cases {
            assert_eq!(full(source), *html, "source: {source:?}");
        }
    }

    #[test]
    fn comments_render_inline_only() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("*em* **strong** `code`", "<em>em</em> <strong>strong</strong> <code>code</code>"),
            (
                "[a](https://example.com) https://example.org",
                "<a href=\"https://example.com\" rel=\"nofollow ugc noopener\">a</a> \
                 <a href=\"https://example.org\" rel=\"nofollow ugc noopener\">https://example.org</a>",
            ),
            ("# not a heading", "# not a heading"),
            ("> not a quote *but em*", "&gt; not a quote <em>but em</em>"),
            ("- not a list", "- not a list"),
            ("1. not a list", "1. not a list"),
            ("---", "---"),
            ("![alt text](https://example.com/x.png)", "alt text"),
            ("~~no strike~~", "~~no strike~~"),
            ("<b>raw</b> <script>alert(1)</script>", "raw"),
            ("```", "```"),
            // An indented code block: its text, without the indentation.
            ("    code", "code"),
        ];
        for (source, html) in cases {
            assert_eq!(inline(source), *html, "source: {source:?}");
        }
    }

    /// What the output must never hold, whatever the input.
    pub(crate) fn assert_harmless(source: &str, html: &str) {
        let lower = html.to_ascii_lowercase();
        let show = &source[..source.len().min(80)];
        assert!(!lower.contains("<script"), "{show:?} gave a script: {html}");
        assert!(!lower.contains("javascript:"), "{show:?} gave javascript: {html}");
        assert!(!lower.contains("vbscript:"), "{show:?} gave vbscript: {html}");
        assert!(!lower.contains("data:"), "{show:?} gave a data: URL: {html}");
        for tag in
            ["<style", "<iframe", "<object", "<embed", "<form", "<svg", "<math", "<base", "<meta", "<link"]
        {
            assert!(!lower.contains(tag), "{show:?} gave {tag}: {html}");
        }
        assert!(!lower.contains(" style="), "{show:?} gave a style attribute: {html}");
        for (tag, attributes) in tags_of(&lower) {
            for name in attributes {
                assert!(!name.starts_with("on"), "{show:?} gave a handler on <{tag}>: {html}");
                assert!(name != "style" && name != "srcdoc", "{show:?} gave {name} on <{tag}>: {html}");
            }
        }
    }

    /// The elements of `html` as ammonia writes it (every value in double quotes, `"` in a
    /// value written `&quot;`): each tag's name and its attributes' names.
    fn tags_of(html: &str) -> Vec<(String, Vec<String>)> {
        let mut tags = Vec::new();
        let mut chars = html.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '<' {
                continue;
            }
            let name: String =
                std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '>')).collect();
            let mut attributes = Vec::new();
            loop {
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                match chars.peek() {
                    None => break,
                    Some('>') => {
                        chars.next();
                        break;
                    }
                    _ => {}
                }
                let attribute: String =
                    std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && !"=>".contains(*c)))
                        .collect();
                if chars.next_if_eq(&'=').is_some() {
                    assert_eq!(chars.next(), Some('"'), "an unquoted value after {attribute} in {html}");
                    for c in chars.by_ref() {
                        if c == '"' {
                            break;
                        }
                    }
                }
                attributes.push(attribute);
            }
            tags.push((name, attributes));
        }
        tags
    }

    #[test]
    fn hostile_inputs_come_out_harmless() {
        for source in HOSTILE {
            assert_harmless(source, &full(source));
            assert_harmless(source, &inline(source));
        }
    }

    #[test]
    fn attributes_and_links_are_as_allowed() {
        // Every link gets the rel, whatever it had.
        assert_eq!(
            full("<a href=\"https://example.com\" rel=\"opener\" target=\"_top\" class=\"x\" id=\"y\">x</a>"),
            "<p><a href=\"https://example.com\" rel=\"nofollow ugc noopener\">x</a></p>"
        );
        // An image over https is lazy and sends no referrer; one over http, or relative,
        // loses its source. (ammonia adds the two attributes in an order of its own, fixed for
        // the life of the process: the HTML is stored once, so that is harmless.)
        let img = |html: &str| -> Vec<String> {
            let tag = &html[html.find("<img ").unwrap_or_else(|| panic!("an image: {html}"))..];
            let mut attributes: Vec<String> =
                tag[5..tag.find('>').unwrap()].split(' ').map(str::to_owned).collect();
            attributes.sort();
            attributes
        };
        assert_eq!(
            img(&full("![cat](https://example.com/cat.png)")),
            [
                "alt=\"cat\"",
                "loading=\"lazy\"",
                "referrerpolicy=\"no-referrer\"",
                "src=\"https://example.com/cat.png\""
            ]
        );
        assert_eq!(
            img(&full("<img src=\"http://example.com/x.png\" alt=\"x\">")),
            ["alt=\"x\"", "loading=\"lazy\"", "referrerpolicy=\"no-referrer\""]
        );
        // A class on anything but a code block's language goes.
        assert_eq!(full("<code class=\"language-rust evil\">x</code>"), "<p><code>x</code></p>");
        assert_eq!(full("<p class=\"language-rust\">x</p>"), "<p>x</p>");
    }

    /// A guard, not a benchmark (docs/benchmarks.md has the release figures): each worst case
    /// at the largest body renders within two seconds even in a debug build, on a thread with
    /// the 2 MiB stack of a runtime worker.
    #[test]
    fn worst_cases_render_in_bounded_time_and_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                for source in worst_cases() {
                    for render in [full, inline] {
                        let start = std::time::Instant::now();
                        let html = render(&source);
                        let took = start.elapsed();
                        assert!(
                            took < std::time::Duration::from_secs(2),
                            "{:?}… ({} bytes) took {took:?}",
                            &source[..20],
                            source.len()
                        );
                        assert_harmless(&source, &html);
                    }
                }
            })
            .expect("spawn");
        handle.join().expect("rendering the worst cases");
    }
}
