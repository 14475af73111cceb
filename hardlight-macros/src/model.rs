//! What the parse step hands the expand step: the user's items, validated and reduced to what the
//! generated code needs. Plain data; the only `syn` values kept are the user's types and names (the
//! generated code must repeat them, with their spans, so type errors point at the user's code) and the
//! items passed through unchanged.

use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Path, Token, Type, TypeParamBound, Visibility};

/// Where the generated code finds the runtime: `::hardlight` unless the macro was given
/// `crate = "..."` (a crate that renames or re-exports `hardlight`). Generated code reaches everything
/// through its hidden module, `<path>::__private`.
#[derive(Clone)]
pub(crate) struct CratePath(pub Path);

impl Default for CratePath {
    fn default() -> Self {
        Self(syn::parse_quote!(::hardlight))
    }
}

/// An `#[rpc]` trait.
pub(crate) struct Service {
    /// The trait's attributes other than `#[rpc]` (docs, lints), kept on the trait.
    pub attrs: Vec<Attribute>,
    /// The trait's visibility; also the client's.
    pub vis: Visibility,
    /// `unsafe trait`.
    pub unsafety: Option<Token![unsafe]>,
    /// The trait's name.
    pub ident: Ident,
    /// The trait's supertraits, kept on the trait.
    pub supertraits: Punctuated<TypeParamBound, Token![+]>,
    /// `state = Type`; `None` for a service without connection state (`()`).
    pub state: Option<Type>,
    /// `events = Type`; `None` for raw event payloads (`hardlight::EventPayload`).
    pub events: Option<Type>,
    /// The methods, in declaration order (a method's index on the wire is its position here).
    pub methods: Vec<Method>,
    /// `crate = "..."`.
    pub krate: CratePath,
}

/// One method of an `#[rpc]` trait: `async fn ident(&self, args...) -> output`, or
/// `#[oneway] async fn ident(&self, args...)`.
pub(crate) struct Method {
    /// The method's attributes (docs, lints), kept on the trait method; `#[oneway]` is not among them.
    pub attrs: Vec<Attribute>,
    /// The method's name.
    pub ident: Ident,
    /// The method's index on the wire.
    pub index: u16,
    /// The arguments after `&self`, but for a streamed one.
    pub args: Vec<Arg>,
    /// The streamed argument (`items: Streaming<T>`), last of all, which the client sends while the
    /// call runs; not part of the argument tuple.
    pub upload: Option<Arg>,
    /// A call, or a one-way message.
    pub kind: MethodKind,
}

/// How a method is invoked.
pub(crate) enum MethodKind {
    /// A call: the client waits for the reply, a value of `output`.
    Call {
        /// The return type, as written (`HandlerResult<u32>`).
        output: Box<Type>,
    },
    /// `#[oneway]`: the client sends the arguments and does not wait; nothing is sent back.
    Oneway,
}

impl Method {
    /// The method's doc attributes (copied onto the client's method).
    pub(crate) fn docs(&self) -> impl Iterator<Item = &Attribute> {
        self.attrs.iter().filter(|attr| attr.path().is_ident("doc"))
    }

    /// Every argument as declared: the argument tuple's, then the streamed one.
    pub(crate) fn all_args(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().chain(&self.upload)
    }

    /// The return type of a call; `None` for a one-way method.
    pub(crate) fn output(&self) -> Option<&Type> {
        match &self.kind {
            MethodKind::Call { output } => Some(output),
            MethodKind::Oneway => None,
        }
    }
}

/// One argument of an rpc method.
pub(crate) struct Arg {
    /// The argument's name.
    pub ident: Ident,
    /// The argument's type.
    pub ty: Type,
}

/// An `#[rpc_handler]` impl block.
pub(crate) struct HandlerImpl {
    /// The generated struct's visibility (`vis = ...`; private by default).
    pub vis: Visibility,
    /// The handler's name: the struct to generate.
    pub ident: Ident,
    /// The `#[rpc]` trait implemented, as the user wrote its path.
    pub service: Path,
    /// `context = Type`; `None` for no context (`()`).
    pub context: Option<Type>,
    /// The impl block, passed through without its hook methods.
    pub item: syn::ItemImpl,
    /// The methods marked `#[on_connect]` and `#[on_disconnect]`.
    pub hooks: Hooks,
    /// `crate = "..."`.
    pub krate: CratePath,
}

/// The connection hooks of an `#[rpc_handler]` impl, at most one of each kind.
#[derive(Default)]
pub(crate) struct Hooks {
    /// The method marked `#[on_connect]`.
    pub on_connect: Option<Hook>,
    /// The method marked `#[on_disconnect]`.
    pub on_disconnect: Option<Hook>,
}

impl Hooks {
    /// The hooks present, on_connect first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Hook> {
        self.on_connect.iter().chain(&self.on_disconnect)
    }

    /// The slot for hooks of `kind`.
    pub(crate) fn slot(&mut self, kind: HookKind) -> &mut Option<Hook> {
        match kind {
            HookKind::OnConnect => &mut self.on_connect,
            HookKind::OnDisconnect => &mut self.on_disconnect,
        }
    }
}

/// One connection hook: a method of the handler impl that is not a trait method.
pub(crate) struct Hook {
    /// The method, without its hook attribute: generated as an inherent method of the handler.
    pub method: syn::ImplItemFn,
    /// The type of the `on_disconnect` hook's reason argument, when it takes one.
    pub reason: Option<Type>,
}

/// Which hook a method is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// `#[on_connect]`: runs before `HELLO`.
    OnConnect,
    /// `#[on_disconnect]`: runs once the connection has ended.
    OnDisconnect,
}

impl HookKind {
    /// Both, in the order they run.
    pub(crate) const ALL: [HookKind; 2] = [HookKind::OnConnect, HookKind::OnDisconnect];

    /// The attribute's name.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            HookKind::OnConnect => "on_connect",
            HookKind::OnDisconnect => "on_disconnect",
        }
    }
}

/// A `#[connection_state]` struct.
pub(crate) struct State {
    /// The struct's name.
    pub ident: Ident,
    /// The fields, in declaration order (a field's index on the wire is its position here).
    pub fields: Vec<StateField>,
    /// The standard derives `ConnectionState` needs that the struct does not already have.
    pub missing_derives: Vec<StdDerive>,
    /// The struct, passed through unchanged.
    pub item: syn::ItemStruct,
    /// `crate = "..."`.
    pub krate: CratePath,
}

/// One field of a connection state.
pub(crate) struct StateField {
    /// The field's name.
    pub ident: Ident,
    /// The field's index on the wire.
    pub index: u16,
    /// The field's type.
    pub ty: Type,
}

/// A standard derive that `ConnectionState` requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdDerive {
    /// `Default`: a new connection starts from the default state.
    Default,
    /// `Clone`: the server keeps the last state sent to compute what changed.
    Clone,
    /// `Debug`: for logs.
    Debug,
}

impl StdDerive {
    /// All of them, in the order they are derived.
    pub(crate) const ALL: [StdDerive; 3] = [StdDerive::Default, StdDerive::Clone, StdDerive::Debug];

    /// The derive's name, as matched against the last segment of a path in `#[derive(...)]`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StdDerive::Default => "Default",
            StdDerive::Clone => "Clone",
            StdDerive::Debug => "Debug",
        }
    }
}

/// A `#[codable]` struct or enum, passed through with the rkyv derives added.
pub(crate) struct CodableItem {
    /// The struct or enum, its fields that contain the type itself marked `#[rkyv(omit_bounds)]`.
    pub item: syn::Item,
    /// Whether some field contains the type itself (`Vec<Self>`, `Box<Tree>`, ...): rkyv's derives
    /// then need their bounds stated by hand, or proving them would recurse forever.
    pub recursive: bool,
    /// `crate = "..."`.
    pub krate: CratePath,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_docs_are_the_doc_attributes_only() {
        let method = Method {
            attrs: vec![
                syn::parse_quote!(#[doc = " Gets it."]),
                syn::parse_quote!(#[allow(unused)]),
            ],
            ident: syn::parse_quote!(get),
            index: 0,
            args: Vec::new(),
            upload: None,
            kind: MethodKind::Call {
                output: Box::new(syn::parse_quote!(HandlerResult<u32>)),
            },
        };
        assert_eq!(method.docs().count(), 1);
    }
}
