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

/// What kind of text a field holds, which decides the characters it refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A post's text: any line breaks and tabs, anything that reads as text.
    Body,
    /// One line: a title, a comment, a name.
    Line,
}

/// Unicode's invisible characters: `Default_Ignorable_Code_Point` (U+200B zero width space,
/// U+3164 Hangul filler, U+FEFF, the tag characters, …) and the format characters (general
/// category Cf: U+200E/U+200F marks, U+061C, the bidirectional controls, …). Nothing shows
/// them, so `ali\u{200B}ce` reads as `alice` and a name of only U+200B as nobody.
fn invisible(c: char) -> bool {
    use icu_properties::{
        CodePointMapData, CodePointSetData,
        props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup},
    };
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || GeneralCategoryGroup::Format.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// Whether `c` shows as something: a letter, mark, number, punctuation or symbol (not white
/// space, not an invisible character, not the blank Braille pattern that passes for a space).
fn visible(c: char) -> bool {
    use icu_properties::{
        CodePointMapData,
        props::{GeneralCategory, GeneralCategoryGroup as G},
    };
    let gc = CodePointMapData::<GeneralCategory>::new().get(c);
    [G::Letter, G::Number, G::Punctuation, G::Symbol].iter().any(|g| g.contains(gc)) && c != '\u{2800}'
}

/// Joiners and variation selectors are invisible but written on purpose after a visible
/// character of a script or symbol set that needs them: U+200D builds emoji sequences (👩‍💻),
/// U+200C is part of Persian spelling (می‌خواهم), U+FE0F asks for an emoji's colour form (❤️).
/// After ASCII they do nothing but hide, so `ali\u{200D}ce` (read as `alice`) is refused.
fn joins(c: char, after: Option<char>) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
        && after.is_some_and(|prev| !prev.is_ascii() && (visible(prev) || is_mark(prev)))
}

fn is_mark(c: char) -> bool {
    use icu_properties::{
        CodePointMapData,
        props::{GeneralCategory, GeneralCategoryGroup},
    };
    GeneralCategoryGroup::Mark.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// Which characters a field refuses besides its length: every field refuses NUL and the
/// other control characters (C0 and C1), keeping tab and line breaks in a body; one-line fields
/// also refuse line breaks and Unicode's invisible characters ([`invisible`]), among them the
/// bidirectional controls, which can make a name or a title read differently from what it
/// is ("Trojan Source"). Postgres cannot store NUL at all, and no one types the others into a
/// title by accident.
fn refused(c: char, after: Option<char>, kind: Kind) -> bool {
    match c {
        '\t' | '\n' | '\r' => kind != Kind::Body,
        c if c.is_control() => true,
        '\u{2028}' | '\u{2029}' => kind != Kind::Body,
        c if kind == Kind::Line && joins(c, after) => false,
        c => kind != Kind::Body && invisible(c),
    }
}

/// Checks a field's characters and its length in characters; a one-line field is trimmed of
/// surrounding white space first. A field with no visible character counts as empty.
fn parse(field: &'static str, value: String, max: usize, kind: Kind) -> Result<String, DomainError> {
    let value = if kind == Kind::Body { value } else { value.trim().to_owned() };
    let len = value.chars().count();
    let mut previous = None;
    for (at, c) in value.chars().enumerate() {
        if refused(c, previous, kind) {
            return Err(DomainError::invalid(
                field,
                format!("{field} must not contain U+{:04X} (character {}).", u32::from(c), at + 1),
            ));
        }
        previous = Some(c);
    }
    if value.trim().is_empty() || (kind != Kind::Body && !value.chars().any(visible)) {
        Err(DomainError::invalid(field, format!("{field} must not be empty.")))
    } else if len > max {
        Err(DomainError::invalid(field, format!("{field} must be at most {max} characters (it has {len}).")))
    } else {
        Ok(value)
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
                parse($field, value.into(), $max, $kind).map(Self)
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
    /// A question's title: one line, trimmed, 1 to 300 characters, no control or invisible
    /// characters (but joiners and variation selectors after a visible one).
    Title, "title", limits::TITLE, Kind::Line
);
text_type!(
    /// A question's or an answer's text, kept as typed: 1 to 30,000 characters; of the control
    /// characters only tab and line breaks.
    Body, "body", limits::BODY, Kind::Body
);
text_type!(
    /// A comment on a post: one line, trimmed, 1 to 600 characters, no control or invisible
    /// characters (but joiners and variation selectors after a visible one).
    CommentText, "body", limits::COMMENT, Kind::Line
);
text_type!(
    /// Who wrote something: one line, trimmed, 1 to 64 characters, no control or invisible
    /// characters (but joiners and variation selectors after a visible one).
    Name, "author", limits::AUTHOR, Kind::Line
);
text_type!(
    /// A host site's id for one of its users (a signed token's `sub`): one line, 1 to 255
    /// characters, no control or invisible characters (see [`Subject::parse_exact`]).
    Subject, "sub", 255, Kind::Line
);
text_type!(
    /// A service token's name, as its list shows it: the rules of a [`Name`].
    TokenName, "name", limits::AUTHOR, Kind::Line
);

impl Subject {
    /// A `sub` as it was sent: it names a user, so it is never trimmed (" 1" is not "1"),
    /// and its limit is 255 bytes, what the store keeps.
    pub fn parse_exact(value: String) -> Result<Self, DomainError> {
        let parsed = Self::parse(value.clone())?;
        if parsed.0 != value || value.len() > 255 {
            return Err(DomainError::invalid(
                "sub",
                "sub must be 1 to 255 bytes, with no surrounding space.",
            ));
        }
        Ok(parsed)
    }
}

impl Name {
    /// The name to show for someone who gave none: `fallback` (a `sub`, say), cut to fit.
    pub fn or_shortened(fallback: &str) -> Result<Self, DomainError> {
        let chars: Vec<char> = fallback.chars().collect();
        if chars.len() <= limits::AUTHOR {
            return Self::parse(fallback);
        }
        let mut short: String = chars[..limits::AUTHOR - 1].iter().collect();
        short.push('…');
        Self::parse(short)
    }
}

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

    #[test]
    fn one_line_fields_refuse_invisible_characters_but_keep_joiners_where_scripts_need_them() {
        for hidden in
            ["\u{200B}", "ali\u{200B}ce", "ali\u{200D}ce", "\u{200E}a", "a\u{200F}", "a\u{61C}b", "\u{FEFF}a"]
        {
            assert!(Name::parse(hidden).is_err(), "{hidden:?}");
            assert!(Title::parse(hidden).is_err(), "{hidden:?}");
        }
        for hidden in ["a\u{E0041}", "\u{3164}", "\u{AD}", "\u{2800}", "\u{115F}", "\u{34F}"] {
            assert!(Name::parse(hidden).is_err(), "{hidden:?}");
        }
        assert_eq!(
            Name::parse("\u{200B}").unwrap_err().to_string(),
            "author must not contain U+200B (character 1)."
        );
        assert_eq!(Name::parse("\u{2800}").unwrap_err().to_string(), "author must not be empty.");
        for written in ["Ada 👩‍💻", "I ❤️ Rust", "می‌خواهم", "🏳️‍🌈", "é"] {
            assert!(Name::parse(written).is_ok(), "{written:?}");
            assert!(CommentText::parse(written).is_ok(), "{written:?}");
        }
        assert!(Body::parse("zero\u{200B}width").is_ok(), "a body is text as typed");
    }

    #[test]
    fn a_long_fallback_name_is_cut_to_fit() {
        let name = Name::or_shortened(&"u".repeat(200)).unwrap();
        assert_eq!(name.as_str().chars().count(), limits::AUTHOR);
        assert!(name.as_str().ends_with('…'));
        assert_eq!(Name::or_shortened("ann").unwrap().as_str(), "ann");
        assert!(Subject::parse_exact(" 7".into()).is_err(), "a sub is never trimmed");
        assert!(Subject::parse_exact("a\0b".into()).is_err());
        assert!(Subject::parse_exact("é".repeat(128)).is_err(), "over 255 bytes");
        assert!(Subject::parse_exact("é".repeat(127)).is_ok());
    }
}
