//! The `where` clauses that check the user's types for `#[rpc]`'s generated impls, each at the
//! user's own span: shared by the dispatch ([`super::service`]) and the client ([`super::client`]).

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Type};

use super::private_at;
use crate::model::Service;

/// What the generated dispatch and client need of the user's types: each argument type is a
/// `WireValue` (a `Codable` type, or a view of one: `Archived<T>`), and each return type is a
/// `MethodReturn` whose success and error types are too.
///
/// Stated as `where` clauses of the generated impls, each spanned at the user's type, so that a type
/// that does not qualify is reported once, there, with the runtime trait's explanation ("add
/// #[codable]"); the bodies, which assume the clauses, then report nothing more. Each argument is
/// checked on its own (the tuple they travel as is `WireArgs` when each of them is a `WireValue`), and so are the
/// type arguments of a return type written `HandlerResult<T>` or `Result<T, E>`: the error names the
/// user's type rather than the `Result` around it. Identical clauses are given once.
pub(super) fn wire_bounds(service: &Service) -> Vec<TokenStream> {
    let wire_value = |ty: &Type| {
        let private = private_at(&service.krate, ty.span());
        quote_spanned! {ty.span()=>
            #ty: #private::WireValue
        }
    };
    // The error type of a `Result` is codable (never a view): as `MethodReturn` requires.
    let codable = |ty: &Type| {
        let private = private_at(&service.krate, ty.span());
        quote_spanned! {ty.span()=>
            #ty: #private::Codable
        }
    };
    let mut bounds = Vec::new();
    for method in &service.methods {
        bounds.extend(method.args.iter().map(|arg| wire_value(&arg.ty)));
        if let Some(upload) = &method.upload {
            // A streamed argument's items are values as arguments are; its error type is codable.
            if let Some(items) = streaming_type_arguments(&upload.ty) {
                bounds.extend(
                    items
                        .enumerate()
                        .map(|(i, ty)| if i == 0 { wire_value(ty) } else { codable(ty) }),
                );
            }
            let ty = &upload.ty;
            let private = private_at(&service.krate, ty.span());
            bounds.push(quote_spanned! {ty.span()=>
                #ty: #private::StreamArg
            });
        }
        if let Some(output) = method.output() {
            for (i, ty) in result_type_arguments(output).enumerate() {
                match streaming_type_arguments(ty) {
                    // A stream's items are values as a reply is; its error type is codable.
                    Some(items) if i == 0 => bounds.extend(
                        items
                            .enumerate()
                            .map(|(i, ty)| if i == 0 { wire_value(ty) } else { codable(ty) }),
                    ),
                    // A byte stream carries bytes; its error type is codable.
                    None if i == 0 && is_byte_stream(ty) => bounds.extend(
                        type_arguments(ty, &["ByteStream"])
                            .into_iter()
                            .flatten()
                            .map(codable),
                    ),
                    _ if i == 0 => bounds.push(wire_value(ty)),
                    _ => bounds.push(codable(ty)),
                }
            }
            let private = private_at(&service.krate, output.span());
            bounds.push(quote_spanned! {output.span()=>
                #output: #private::MethodReturn
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    bounds.retain(|bound| seen.insert(bound.to_string()));
    bounds
}

/// The type arguments of `HandlerResult<T>` or `Result<T, E>` (by any path): `T` and `E`. None for
/// another return type, which is then checked as a whole.
fn result_type_arguments(output: &Type) -> impl Iterator<Item = &Type> {
    type_arguments(output, &["Result", "HandlerResult"])
        .into_iter()
        .flatten()
}

/// The type arguments of `Streaming<T>` or `Streaming<T, E>` (by any path), if `ty` is one.
fn streaming_type_arguments(ty: &Type) -> Option<impl Iterator<Item = &Type>> {
    type_arguments(ty, &["Streaming"])
}

/// True if `ty` is `ByteStream` or `ByteStream<E>` (by any path).
fn is_byte_stream(ty: &Type) -> bool {
    matches!(ty, Type::Path(ty) if ty.qself.is_none()
        && ty.path.segments.last().is_some_and(|last| last.ident == "ByteStream"))
}

/// The type arguments of `ty` if it is a path whose last segment is one of `names`.
fn type_arguments<'a>(ty: &'a Type, names: &[&str]) -> Option<impl Iterator<Item = &'a Type>> {
    let arguments = match ty {
        Type::Path(ty) if ty.qself.is_none() => ty.path.segments.last().and_then(|last| {
            let named = names.iter().any(|name| last.ident == name);
            match &last.arguments {
                PathArguments::AngleBracketed(arguments) if named => Some(&arguments.args),
                _ => None,
            }
        }),
        _ => None,
    };
    arguments.map(|arguments| {
        arguments.iter().filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
    })
}
