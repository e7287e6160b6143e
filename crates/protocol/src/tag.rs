//! Tag names: what a question is about (`rust`, `c#`, `.net`, `asp.net-core`), and the name of
//! a tag's live stream (`tag:rust`).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A tag's name, valid by construction: 1 to [`TagName::MAX_LEN`] characters from `a-z`,
/// `0-9`, `+`, `#`, `.` and `-`, with at least one letter or digit, not starting or ending
/// with `-` (Stack Overflow's rules). Parsing folds ASCII upper case to lower case, so `Rust`
/// is `rust`; anything else outside the rules is refused, never rewritten.
///
/// Kept inline (not a `String`) so that a [`Topic`](crate::Topic) holding one stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagName {
    len: u8,
    bytes: [u8; TagName::MAX_LEN],
}

impl TagName {
    /// The longest tag name, in characters (all ASCII, so also in bytes).
    pub const MAX_LEN: usize = 35;

    /// The rule a refused name broke, in words a person can act on.
    pub const RULE: &'static str = "A tag is 1 to 35 characters from a-z, 0-9, +, #, . and -, \
                                    with at least one letter or digit, not starting or ending with -.";

    pub fn as_str(&self) -> &str {
        // Only ASCII from the allowed set is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("tag names are ASCII")
    }
}

/// Why a string is not a [`TagName`]: its `Display` is [`TagName::RULE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError;

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TagName::RULE)
    }
}

impl std::error::Error for TagError {}

impl FromStr for TagName {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Self, TagError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'#' | b'.' | b'-');
        let raw = s.as_bytes();
        if raw.is_empty()
            || raw.len() > Self::MAX_LEN
            || !raw.iter().all(|&b| allowed(b))
            || !raw.iter().any(u8::is_ascii_alphanumeric)
            || raw.first() == Some(&b'-')
            || raw.last() == Some(&b'-')
        {
            return Err(TagError);
        }
        let mut bytes = [0; Self::MAX_LEN];
        for (to, from) in bytes.iter_mut().zip(raw) {
            *to = from.to_ascii_lowercase();
        }
        Ok(Self { len: raw.len() as u8, bytes })
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for TagName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TagName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = TagName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag name such as \"rust\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TagName, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_stack_overflow_style_names_and_folds_case() {
        for (input, name) in [
            ("rust", "rust"),
            ("Rust", "rust"),
            ("c#", "c#"),
            ("c++", "c++"),
            (".net", ".net"),
            ("asp.net-core", "asp.net-core"),
            ("python-3.x", "python-3.x"),
            ("x", "x"),
            ("a234567890123456789012345678901234b", "a234567890123456789012345678901234b"),
        ] {
            assert_eq!(input.parse::<TagName>().map(|t| t.to_string()), Ok(name.to_owned()), "{input}");
        }
    }

    #[test]
    fn refuses_what_breaks_the_rules() {
        for bad in [
            "",
            "a2345678901234567890123456789012345b",
            "two words",
            "-rust",
            "rust-",
            "+#.",
            "-",
            "tag:rust",
            "rüst",
            "a/b",
            "a_b",
            " rust",
            "rust\n",
        ] {
            assert_eq!(bad.parse::<TagName>(), Err(TagError), "{bad:?}");
        }
    }

    #[test]
    fn serialises_as_its_name() {
        let tag: TagName = "c#".parse().unwrap();
        assert_eq!(serde_json::to_string(&tag).unwrap(), "\"c#\"");
        assert_eq!(serde_json::from_str::<TagName>("\"C#\"").unwrap(), tag);
        assert!(serde_json::from_str::<TagName>("\"a b\"").is_err());
    }
}
