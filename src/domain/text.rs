//! Parsed text: a [`Title`], a [`Body`] or a [`Name`] can only be made by `parse`, so one that
//! is empty or over its limit cannot exist past the edge that parsed it.

use super::DomainError;

/// Length limits, in characters, that the API, the forms and the templates all use.
pub mod limits {
    pub const TITLE: usize = 300;
    pub const BODY: usize = 30_000;
    pub const AUTHOR: usize = 64;
    pub const COMMENT: usize = 600;
}

/// Which characters a field refuses besides its length: every field refuses NUL and the
/// other control characters (C0 and C1), keeping tab and line breaks in a body; one-line fields
/// also refuse line breaks and the bidirectional embedding, override and isolate controls,
/// which can make a name or a title read differently from what it is ("Trojan Source").
/// Postgres cannot store NUL at all, and no one types the others into a title by accident.
fn refused(c: char, one_line: bool) -> bool {
    match c {
        '\t' | '\n' | '\r' => one_line,
        '\u{2028}' | '\u{2029}' => one_line,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => one_line,
        c => c.is_control(),
    }
}

/// Checks a field's characters and its length in characters; a one-line field is trimmed of
/// surrounding white space first. A field of only white space counts as empty.
fn parse(field: &'static str, value: String, max: usize, one_line: bool) -> Result<String, DomainError> {
    let value = if one_line { value.trim().to_owned() } else { value };
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err(DomainError::invalid(field, format!("{field} must not be empty.")))
    } else if len > max {
        Err(DomainError::invalid(field, format!("{field} must be at most {max} characters (it has {len}).")))
    } else if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| refused(*c, one_line)) {
        Err(DomainError::invalid(
            field,
            format!("{field} must not contain U+{:04X} (character {}).", u32::from(c), at + 1),
        ))
    } else {
        Ok(value)
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $one_line:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
                parse($field, value.into(), $max, $one_line).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value read back from the store, where only parsed values are written.
            #[allow(dead_code)]
            pub(crate) fn from_stored(value: String) -> Self {
                Self(value)
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A question's title: one line, trimmed, 1 to 300 characters, no control characters.
    Title, "title", limits::TITLE, true
);
text_type!(
    /// A question's or an answer's text, kept as typed: 1 to 30,000 characters; of the control
    /// characters only tab and line breaks.
    Body, "body", limits::BODY, false
);
text_type!(
    /// A comment on a post: one line, trimmed, 1 to 600 characters, no control characters.
    CommentText, "body", limits::COMMENT, true
);
text_type!(
    /// Who wrote something: one line, trimmed, 1 to 64 characters, no control characters.
    Name, "author", limits::AUTHOR, true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_one_line_fields_and_keeps_bodies_as_typed() {
        assert_eq!(Title::parse("  hi  ").unwrap().as_str(), "hi");
        assert_eq!(Body::parse("  code\n").unwrap().as_str(), "  code\n");
        assert_eq!(Name::parse(" ann ").unwrap().into_inner(), "ann");
    }

    #[test]
    fn refuses_empty_and_over_long_text_naming_the_field() {
        let message = |e: DomainError| e.to_string();
        assert_eq!(message(Title::parse("   ").unwrap_err()), "title must not be empty.");
        assert_eq!(message(Body::parse(" \n ").unwrap_err()), "body must not be empty.");
        let long = "é".repeat(limits::AUTHOR + 1);
        assert_eq!(
            message(Name::parse(long).unwrap_err()),
            "author must be at most 64 characters (it has 65)."
        );
        assert!(Name::parse("é".repeat(limits::AUTHOR)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn refuses_control_characters_and_one_line_fields_refuse_line_breaks_and_bidi_controls() {
        let message = |e: DomainError| e.to_string();
        assert_eq!(message(Body::parse("a\0b").unwrap_err()), "body must not contain U+0000 (character 2).");
        assert!(Body::parse("a\u{1b}[31m").is_err(), "escape");
        assert!(Body::parse("a\u{85}").is_err(), "C1");
        assert!(Body::parse("code:\n\tx = 1;\r\n").is_ok());
        assert!(Body::parse("\u{202E}txt.exe").is_ok(), "right-to-left text is text in a body");
        assert_eq!(
            message(Title::parse("a\nb").unwrap_err()),
            "title must not contain U+000A (character 2)."
        );
        assert!(Name::parse("ann\u{202E}nimda").is_err());
        assert!(Name::parse("a\u{2066}b").is_err());
        assert!(Title::parse("a\u{2028}b").is_err());
        assert!(Name::parse("\u{5d0}\u{5d1} ann").is_ok(), "other scripts are fine");
        assert!(Title::parse(" \t a title \n").is_ok(), "surrounding white space is trimmed first");
    }
}
