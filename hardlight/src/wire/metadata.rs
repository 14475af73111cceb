//! Per-call metadata: string keys and values a client attaches to a call, which the server's
//! interceptors and the handler can read, carried by the `CALL` frame's metadata extension
//! (`docs/PROTOCOL.md` §5.2).

use std::fmt;
use std::sync::Arc;

/// The most bytes a call's metadata takes on the wire (its encoded entries): 4 KiB.
pub const MAX_METADATA: usize = 4096;
/// The longest key, in bytes.
pub const MAX_KEY: usize = 255;

/// String keys and values attached to a call: a tenant, a request id, a feature flag. Bounded:
/// keys of 1 to 255 bytes, and at most [`MAX_METADATA`] bytes in all as encoded (each entry costs
/// its key and value plus 3 bytes). Keys keep the order they were inserted in; a key inserted
/// again replaces its value.
///
/// ```
/// use hardlight::Metadata;
///
/// let metadata = Metadata::new().with("tenant", "acme")?.with("request-id", "7f3a")?;
/// assert_eq!(metadata.get("tenant"), Some("acme"));
/// assert_eq!(metadata.len(), 2);
/// # Ok::<(), hardlight::MetadataError>(())
/// ```
///
/// Cheap to clone (shared).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Arc<Vec<(String, String)>>,
}

/// Why an entry cannot be added to [`Metadata`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Keys are at least one byte long.
    #[error("a metadata key cannot be empty")]
    EmptyKey,
    /// The key is longer than [`MAX_KEY`] bytes.
    #[error("metadata key of {0} bytes is longer than {MAX_KEY}")]
    KeyTooLong(usize),
    /// With this entry the metadata would take more than [`MAX_METADATA`] bytes.
    #[error("metadata of {0} bytes would exceed the limit of {MAX_METADATA}")]
    TooLarge(usize),
}

impl Metadata {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (replacing its value if it has one).
    ///
    /// # Errors
    /// An empty key, a key over [`MAX_KEY`] bytes, or metadata over [`MAX_METADATA`] bytes in all.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), MetadataError> {
        let (key, value) = (key.into(), value.into());
        if key.is_empty() {
            return Err(MetadataError::EmptyKey);
        }
        if key.len() > MAX_KEY {
            return Err(MetadataError::KeyTooLong(key.len()));
        }
        let replaced = self.get(&key).map_or(0, |old| entry_len(&key, old));
        let size = self.encoded_len() - replaced + entry_len(&key, &value);
        if size > MAX_METADATA {
            return Err(MetadataError::TooLarge(size));
        }
        let entries = Arc::make_mut(&mut self.entries);
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
        Ok(())
    }

    /// `self` with `key` set to `value`.
    ///
    /// # Errors
    /// As [`Metadata::insert`].
    pub fn with(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MetadataError> {
        self.insert(key, value)?;
        Ok(self)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The entries, in the order they were inserted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the encoded entries.
    pub fn encoded_len(&self) -> usize {
        self.entries.iter().map(|(k, v)| entry_len(k, v)).sum()
    }

    /// Appends the extension: a `u16` length, then each entry as `u8` key length, key, `u16`
    /// value length, value.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        // Bounded by MAX_METADATA on insertion: fits in a u16.
        out.extend_from_slice(&(self.encoded_len() as u16).to_le_bytes());
        for (key, value) in self.entries.iter() {
            out.push(key.len() as u8);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }

    /// Parses the entries of an extension (without its length prefix), as the limits allow; the
    /// error says what is wrong.
    pub(crate) fn parse(mut block: &[u8]) -> Result<Self, String> {
        let bad = |why: &str| why.to_owned();
        if block.len() > MAX_METADATA {
            return Err(bad("longer than 4096 bytes"));
        }
        let mut metadata = Metadata::new();
        while let Some((&key_len, rest)) = block.split_first() {
            let key_len = usize::from(key_len);
            let key = rest
                .get(..key_len)
                .ok_or_else(|| bad("a key runs past its end"))?;
            let rest = &rest[key_len..];
            let value_len = rest
                .get(..2)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                .ok_or_else(|| bad("a value length runs past its end"))?;
            let value = rest
                .get(2..2 + value_len)
                .ok_or_else(|| bad("a value runs past its end"))?;
            block = &rest[2 + value_len..];
            let key = std::str::from_utf8(key).map_err(|_| bad("a key is not UTF-8"))?;
            let value = std::str::from_utf8(value).map_err(|_| bad("a value is not UTF-8"))?;
            metadata.insert(key, value).map_err(|e| e.to_string())?;
        }
        Ok(metadata)
    }
}

fn entry_len(key: &str, value: &str) -> usize {
    3 + key.len() + value.len()
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        let metadata = Metadata::new()
            .with("tenant", "acme")
            .unwrap()
            .with("tenant", "globex")
            .unwrap()
            .with("id", "")
            .unwrap();
        assert_eq!(
            metadata.iter().collect::<Vec<_>>(),
            [("tenant", "globex"), ("id", "")]
        );
        let mut wire = Vec::new();
        metadata.write(&mut wire);
        assert_eq!(wire.len(), 2 + metadata.encoded_len());
        assert_eq!(Metadata::parse(&wire[2..]), Ok(metadata));

        assert_eq!(Metadata::new().with("", "x"), Err(MetadataError::EmptyKey));
        assert_eq!(
            Metadata::new().with("k".repeat(256), "x"),
            Err(MetadataError::KeyTooLong(256))
        );
        assert!(matches!(
            Metadata::new().with("big", "v".repeat(MAX_METADATA)),
            Err(MetadataError::TooLarge(_))
        ));
        for bad in [
            &[3u8, b'a'][..],
            &[1, b'a', 5, 0, b'x'],
            &[1, 0xff, 0, 0],
            &[0, 0, 0],
        ] {
            assert!(Metadata::parse(bad).is_err(), "{bad:?}");
        }
    }
}
