//! Tags: what a question is about. A question carries one to [`Tags::MAX`] of them; each is a
//! [`TagName`] (the protocol crate's type, so that `tag:{name}` topics and the summaries on the
//! wire spell names one way).

use super::DomainError;

pub use qa_hub_protocol::{TagError, TagName};

/// A tag as listed: its name and how many live questions carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    pub name: TagName,
    pub question_count: i64,
}

/// Reads a tag's name given alone (a path or query parameter `field`): a 422 naming the rule.
pub fn parse_tag_name(field: &'static str, raw: &str) -> Result<TagName, DomainError> {
    raw.parse()
        .map_err(|_| DomainError::invalid(field, format!("{raw:?} is not a tag name. {}", TagName::RULE)))
}

/// A question's tags as asked or edited: 1 to [`Tags::MAX`] names, each once, in the order
/// given (the first is the one a question is best known by, as on Stack Overflow).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<TagName>);

impl Tags {
    /// The most tags a question may carry.
    pub const MAX: usize = 5;

    /// Parses names as a request gives them; a repeated name (also after case folding) counts
    /// once.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, DomainError> {
        let mut tags: Vec<TagName> = Vec::with_capacity(names.len().min(Self::MAX));
        for name in names {
            let name = name.as_ref();
            let tag = name.parse::<TagName>().map_err(|_| {
                DomainError::invalid("tags", format!("{:?} is not a tag name. {}", name, TagName::RULE))
            })?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.is_empty() || tags.len() > Self::MAX {
            return Err(DomainError::invalid(
                "tags",
                format!("A question has 1 to {} tags; {} were given.", Self::MAX, tags.len()),
            ));
        }
        Ok(Self(tags))
    }

    /// Tags as stored (the `tags` column): names separated by one space, which no name holds.
    /// Anything that is not a name is skipped, so a damaged row reads as fewer tags, not as an
    /// error.
    pub fn from_column(column: &str) -> Vec<TagName> {
        column.split(' ').filter_map(|name| name.parse().ok()).collect()
    }

    /// The `tags` column for these tags.
    pub fn to_column(tags: &[TagName]) -> String {
        tags.iter().map(TagName::as_str).collect::<Vec<_>>().join(" ")
    }

    pub fn as_slice(&self) -> &[TagName] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<TagName> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_to_five_names_once_each_in_order() {
        let tags = Tags::parse(&["Rust", "tokio", "rust", "c#"]).unwrap();
        assert_eq!(Tags::to_column(tags.as_slice()), "rust tokio c#");
        assert_eq!(Tags::from_column("rust tokio c#"), tags.into_vec());
        assert!(Tags::parse::<&str>(&[]).is_err());
        assert!(Tags::parse(&["a", "b", "c", "d", "e", "f"]).is_err());
        assert!(Tags::parse(&["a", "b", "c", "d", "e", "a"]).is_ok());
    }

    #[test]
    fn a_refused_name_says_which_and_the_rule() {
        let Err(DomainError::Invalid { field, message }) = Tags::parse(&["rust", "two words"]) else {
            panic!("accepted");
        };
        assert_eq!(field, "tags");
        assert!(message.contains("\"two words\"") && message.contains("a-z, 0-9"), "{message}");
    }

    #[test]
    fn a_column_reads_back_what_it_can() {
        assert_eq!(Tags::from_column(""), Vec::<TagName>::new());
        assert_eq!(Tags::from_column("rust  -bad go"), Tags::parse(&["rust", "go"]).unwrap().into_vec());
    }
}
