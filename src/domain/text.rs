//! Parsed text: a [`Title`], a [`Body`] or a [`Name`] can only be made by `parse`, so one that
//! is empty or over its limit cannot exist past the edge that parsed it.

use super::DomainError;

/// Length limits, in characters, that the API, the forms and the templates all use.
pub mod limits {
    pub const TITLE: usize = 300;
    pub const BODY: usize = 30_000;
    pub const AUTHOR: usize = 64;
}

/// Checks a field's length in characters; `trim` strips surrounding white space first (for
/// one-line fields). A field of only white space counts as empty.
fn parse(field: &'static str, value: String, max: usize, trim: bool) -> Result<String, DomainError> {
    let value = if trim { value.trim().to_owned() } else { value };
    let len = value.chars().count();
    if value.trim().is_empty() {
        Err(DomainError::invalid(field, format!("{field} must not be empty.")))
    } else if len > max {
        Err(DomainError::invalid(field, format!("{field} must be at most {max} characters (it has {len}).")))
    } else {
        Ok(value)
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $trim:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, DomainError> {
                parse($field, value.into(), $max, $trim).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
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
    /// A question's title: one line, trimmed, 1 to 300 characters.
    Title, "title", limits::TITLE, true
);
text_type!(
    /// A question's or an answer's text, kept as typed: 1 to 30,000 characters.
    Body, "body", limits::BODY, false
);
text_type!(
    /// Who wrote something: one line, trimmed, 1 to 64 characters.
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
}
