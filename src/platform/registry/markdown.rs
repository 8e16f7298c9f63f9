//! Packet markdown (persona pages) to HTML that can carry no script: raw HTML becomes text,
//! and links and images keep only http, https and mailto targets or relative ones.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// Schemes a link or image in a packet may use; anything else is dropped to its text.
const SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// Renders `markdown` as HTML. A link or image whose target is not allowed is rendered as
/// its text (an image as its alt text), so `javascript:`, `data:`, `vbscript:` and every
/// other scheme never reach an `href` or `src`.
pub fn to_html(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    // One entry per open link or image: whether its start tag was kept.
    let mut open: Vec<bool> = Vec::new();
    let events = parser.filter_map(move |event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(tag) => match target(&tag) {
            Some(dest) => {
                let keep = allowed(dest);
                open.push(keep);
                keep.then_some(Event::Start(tag))
            }
            None => Some(Event::Start(tag)),
        },
        Event::End(end @ (TagEnd::Link | TagEnd::Image)) => {
            open.pop().unwrap_or(false).then_some(Event::End(end))
        }
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// The target of a link or image.
fn target<'t>(tag: &'t Tag<'_>) -> Option<&'t str> {
    match tag {
        Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => Some(dest_url),
        _ => None,
    }
}

/// Whether a target is an http, https or mailto URL, or relative (no scheme at all). Browsers
/// drop leading and trailing controls and spaces and every tab and newline inside a URL
/// before reading its scheme, so this does too: `java\tscript:` is `javascript:`.
fn allowed(dest: &str) -> bool {
    let cleaned: String = dest
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    match cleaned.find([':', '/', '?', '#']) {
        Some(end) if cleaned[end..].starts_with(':') => {
            SCHEMES.contains(&cleaned[..end].to_ascii_lowercase().as_str())
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::{allowed, to_html};

    #[test]
    fn a_refused_link_or_image_leaves_its_text_and_raw_html_stays_text() {
        let html = to_html(
            "[ok](https://example.com) [bad](javascript:alert(1)) \
             [![logo](/logo.png)](data:x) ![px](vbscript:x) <b onclick=x>b</b>",
        );

        assert_eq!(
            html,
            "<p><a href=\"https://example.com\">ok</a> bad \
             <img src=\"/logo.png\" alt=\"logo\" /> px \
             &lt;b onclick=x&gt;b&lt;/b&gt;</p>\n"
        );
    }

    #[test]
    fn only_web_and_mail_schemes_or_relative_targets_are_allowed() {
        for ok in [
            "https://example.com/a?b#c",
            "HTTP://example.com",
            "mailto:ops@example.com",
            "/docs/keys",
            "keys.md#issue",
            "?page=2",
            "#top",
            "//cdn.example.com/x.png",
            "",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " \u{1}javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "ftp://example.com",
            "weird:thing",
        ] {
            assert!(!allowed(bad), "{bad:?}");
        }
    }
}
