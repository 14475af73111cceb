//! Who is on the other end of a connection: what the authentication hook accepted, handed to every
//! handler of that connection as its `identity` field.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Who a connection belongs to: a name, and any data the application attaches.
///
/// The authentication hook ([`ServerConfig::authenticate`](crate::ServerConfig::authenticate))
/// returns one for each connection it accepts; without a hook, every connection is
/// [`Identity::anonymous`]. Handlers read it as their `identity` field. Cheap to clone.
///
/// ```
/// use hardlight::Identity;
///
/// struct Roles { admin: bool }
///
/// let ada = Identity::new("ada").with_data(Roles { admin: true });
/// assert_eq!(ada.name(), "ada");
/// assert!(ada.data::<Roles>().is_some_and(|roles| roles.admin));
/// assert!(ada.data::<String>().is_none());
/// assert!(Identity::anonymous().is_anonymous());
/// ```
#[derive(Clone)]
pub struct Identity {
    name: Arc<str>,
    anonymous: bool,
    data: Option<Data>,
}

#[derive(Clone)]
struct Data {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl Identity {
    /// An authenticated identity named `name` (a user id, an account name, a device id). With
    /// [`ServerConfig::one_connection_per_identity`](crate::ServerConfig::one_connection_per_identity),
    /// the name is what is limited to one connection.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            anonymous: false,
            data: None,
        }
    }

    /// The identity of a connection nobody authenticated: every connection's when the server has no
    /// authentication hook. Its name is empty, it has no data, and it is never limited to one
    /// connection.
    pub fn anonymous() -> Self {
        Self {
            name: Arc::from(""),
            anonymous: true,
            data: None,
        }
    }

    /// Attaches `data` (roles, a tenant, the decoded token's claims), replacing any attached before;
    /// read it back with [`Identity::data`].
    #[must_use]
    pub fn with_data<T: Send + Sync + 'static>(mut self, data: T) -> Self {
        self.data = Some(Data {
            value: Arc::new(data),
            type_name: std::any::type_name::<T>(),
        });
        self
    }

    /// The name given to [`Identity::new`]; empty for an anonymous identity.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attached data, if there is some of type `T`.
    pub fn data<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.data.as_ref()?.value.downcast_ref()
    }

    /// True for [`Identity::anonymous`].
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }
}

impl Default for Identity {
    /// [`Identity::anonymous`].
    fn default() -> Self {
        Self::anonymous()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.anonymous {
            return f.write_str("Identity::anonymous");
        }
        let mut debug = f.debug_struct("Identity");
        debug.field("name", &self.name);
        if let Some(data) = &self.data {
            // The data need not be `Debug` (and may hold secrets): its type says enough.
            debug.field("data", &format_args!("<{}>", data.type_name));
        }
        debug.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_name_and_the_data_type_only() {
        let identity = Identity::new("ada").with_data(String::from("secret"));
        assert_eq!(
            format!("{identity:?}"),
            "Identity { name: \"ada\", data: <alloc::string::String> }"
        );
        assert_eq!(
            format!("{:?}", Identity::anonymous()),
            "Identity::anonymous"
        );
    }

    #[test]
    fn a_named_identity_is_not_anonymous_even_when_named_so() {
        assert!(!Identity::new("").is_anonymous());
        assert!(!Identity::new("anonymous").is_anonymous());
        assert_eq!(Identity::anonymous().name(), "");
    }
}
