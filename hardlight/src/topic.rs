//! Topics: the names events are published to.

use std::borrow::Borrow;
use std::fmt;

/// The name of an event stream. Any bytes; most applications use UTF-8 text.
///
/// ```
/// use hardlight::Topic;
/// let topic = Topic::from("room/42");
/// assert_eq!(topic.as_bytes(), b"room/42");
/// assert_eq!(Topic::from(vec![1, 2]).as_bytes(), &[1, 2]);
/// ```
#[derive(
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Topic(Vec<u8>);

impl Topic {
    /// A topic made of these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The topic's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True for the empty topic (the default value).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The topic's bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Topic {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Topic {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl From<&str> for Topic {
    fn from(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }
}

impl From<String> for Topic {
    fn from(text: String) -> Self {
        Self(text.into_bytes())
    }
}

impl Borrow<[u8]> for Topic {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Topic {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Topic {
    /// Printable UTF-8 shows as a string, anything else as bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) if !text.chars().any(char::is_control) => {
                write!(f, "Topic({text:?})")
            }
            _ => write!(f, "Topic({:?})", self.0),
        }
    }
}

impl fmt::Display for Topic {
    /// UTF-8 text as it is, other bytes in lossy form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}
