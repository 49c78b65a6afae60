//! Keeps secrets in URLs out of logs: the user and password of a URL and
//! its query string (where some APIs put the key: `?key=...`) are replaced
//! by `[redacted]` in an error's text.

use std::fmt::{self, Display, Write};

/// `T`'s text, with every URL's userinfo and query string redacted.
pub(crate) struct Redacted<T>(pub(crate) T);

impl<T: Display> Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        write!(text, "{}", self.0)?;
        f.write_str(&redact(&text))
    }
}

fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | '<' | '>' | ',' | ';' | '`')
}

/// Where the next URL's `://` (or JSON's escaped `:\/\/`) is in `text`,
/// and its length: one pass from colon to colon.
fn next_scheme(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = text[from..].find(':') {
        let at = from + at;
        let rest = &text[at..];
        if rest.starts_with("://") {
            return Some((at, 3));
        }
        if rest.starts_with(":\\/\\/") {
            return Some((at, 5));
        }
        from = at + 1;
    }
    None
}

/// `text` with the userinfo and query of every `scheme://...` redacted (a
/// JSON body's `https:\/\/...` too).
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, len)) = next_scheme(rest) {
        let (before, from) = rest.split_at(at + len);
        out.push_str(before);
        let end = from.find(ends_url).unwrap_or(from.len());
        let (url, after) = from.split_at(end);
        // Authority: up to the first `/`, `?` or `#`.
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("[redacted]@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        match path.find('?') {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?[redacted]");
                if let Some(hash) = path[q..].find('#') {
                    out.push_str(&path[q + hash..]);
                }
            }
            None => out.push_str(path),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_passwords_in_urls_are_redacted() {
        assert_eq!(
            redact(
                "error sending request for url (https://api.example.com/v1/models/x:generate?key=SECRET&alt=sse)"
            ),
            "error sending request for url (https://api.example.com/v1/models/x:generate?[redacted])"
        );
        assert_eq!(
            redact("GET http://user:pa55@host:8080/a?b=c#frag then http://other/ ok"),
            "GET http://[redacted]@host:8080/a?[redacted]#frag then http://other/ ok"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("odd :// ? ://"), "odd :// ? ://");
        assert_eq!(redact("https://h?k=v"), "https://h?[redacted]");
        assert_eq!(
            Redacted("x https://h/?token=1").to_string(),
            "x https://h/?[redacted]"
        );
        // A URL in a JSON body, its slashes escaped.
        assert_eq!(
            redact(r#"{"url":"https:\/\/h\/v1?key=SECRET","n":1}"#),
            r#"{"url":"https:\/\/h\/v1?[redacted]","n":1}"#
        );
        assert_eq!(redact(r"a:\/\/ b"), r"a:\/\/ b");
    }
}
