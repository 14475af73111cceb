//! `#[rpc]`: the trait handlers implement, and the service's description and dispatch
//! (`ServiceSchema` and `Dispatch<H>` for `dyn Trait`). The client is in [`super::client`].

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::{bounds, client, events_type, in_anonymous_const, private, private_at, state_type};
use crate::model::{Method, MethodKind, Service};

/// Everything `#[rpc]` generates.
pub(crate) fn expand(service: &Service) -> TokenStream {
    let definition = trait_definition(service);
    let impls = in_anonymous_const({
        let schema = schema_impl(service);
        let dispatch = dispatch_impl(service);
        quote!(#schema #dispatch)
    });
    let client = client::expand(service);
    quote! {
        #definition
        #impls
        #client
    }
}

/// The trait, each `async fn m(&self, ...) -> R` declared as
/// `fn m(&self, ...) -> impl Future<Output = R> + Send where Self: Sized`: implementations still use
/// `async fn`, their futures must be `Send` (the server runs calls on a multi-threaded runtime), and
/// `where Self: Sized` keeps the trait dyn-compatible, so that `dyn Trait` can name the service.
/// A one-way method's future has `Output = ()`.
fn trait_definition(service: &Service) -> TokenStream {
    let Service {
        attrs,
        vis,
        unsafety,
        ident,
        supertraits,
        ..
    } = service;
    let colon = (!supertraits.is_empty()).then(|| quote!(:));
    let methods = service.methods.iter().map(|method| {
        let Method { attrs, ident, .. } = method;
        let args = method.all_args().map(|arg| {
            let (ident, ty) = (&arg.ident, &arg.ty);
            quote!(#ident: #ty)
        });
        // Spanned at the return type (at the name for a one-way method): a handler future that is
        // not `Send` is reported there.
        let (output, span) = match method.output() {
            Some(output) => (quote!(#output), output.span()),
            None => (quote_spanned!(ident.span()=> ()), ident.span()),
        };
        let future = quote_spanned! {span=>
            impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
        quote! {
            #(#attrs)*
            fn #ident(&self #(, #args)*) -> #future
            where
                Self: ::core::marker::Sized;
        }
    });
    quote! {
        #(#attrs)*
        #vis #unsafety trait #ident #colon #supertraits {
            #(#methods)*
        }
    }
}

/// `ServiceSchema for dyn Trait`: names, and the description its schema text is built from.
fn schema_impl(service: &Service) -> TokenStream {
    let ident = &service.ident;
    let private = private(&service.krate);
    let state = state_type(service);
    let events = events_type(service);
    let name = ident.unraw().to_string();
    let methods = service
        .methods
        .iter()
        .map(|method| method.ident.unraw().to_string());
    let oneway = service
        .methods
        .iter()
        .map(|method| matches!(method.kind, MethodKind::Oneway));
    let uploads = service.methods.iter().map(|method| method.upload.is_some());
    let describe = service
        .methods
        .iter()
        .map(|method| describe_method(service, method));
    quote! {
        // For every lifetime: a `dyn Trait` inside a spawned future is otherwise "not general enough".
        #[automatically_derived]
        impl<'__a> #private::ServiceSchema for dyn #ident + '__a {
            type State = #state;
            type Event = #events;
            const NAME: &'static str = #name;
            const METHODS: &'static [&'static str] = &[#(#methods),*];
            const ONEWAY: &'static [bool] = &[#(#oneway),*];
            const UPLOADS: &'static [bool] = &[#(#uploads),*];

            fn describe_methods(__schema: &mut #private::SchemaWriter) {
                #[allow(unused_imports)]
                use #private::NoShape as _;
                #(#describe)*
            }

            fn schema() -> &'static #private::Schema {
                static SCHEMA: #private::OnceLock<#private::Schema> = #private::OnceLock::new();
                SCHEMA.get_or_init(#private::Schema::of::<Self>)
            }
        }
    }
}

/// One method's line of the schema text: its name, the shapes of its arguments, and of its return
/// type for a call. A type that is not codable has no shape; it is reported once, by the checks
/// of the dispatch and the client (`bounds`), and the description falls back to `NoShape` rather
/// than report it again.
fn describe_method(service: &Service, method: &Method) -> TokenStream {
    let name = method.ident.unraw().to_string();
    let args = method.args.iter().map(|arg| {
        let ty = &arg.ty;
        let private = private_at(&service.krate, ty.span());
        quote_spanned!(ty.span()=> #private::ShapeOf::<#ty>::NEW.get())
    });
    let upload = method.upload.iter().map(|arg| {
        let ty = &arg.ty;
        let private = private_at(&service.krate, ty.span());
        quote_spanned!(ty.span()=> #private::StreamArgShapeOf::<#ty>::NEW.get())
    });
    let args = args.chain(upload);
    match method.output() {
        Some(output) => {
            let private = private_at(&service.krate, output.span());
            let returns =
                quote_spanned!(output.span()=> #private::ReturnShapeOf::<#output>::NEW.get());
            quote!(__schema.call(#name, &[#(#args),*], #returns);)
        }
        None => quote!(__schema.oneway(#name, &[#(#args),*]);),
    }
}

/// `Dispatch<H> for dyn Trait`: one match arm per method, which decodes the argument tuple and
/// starts the handler's method; calls in `dispatch`, one-way methods in `dispatch_oneway`.
fn dispatch_impl(service: &Service) -> TokenStream {
    let ident = &service.ident;
    let private = private(&service.krate);
    let (oneway, calls): (Vec<&Method>, Vec<&Method>) = service
        .methods
        .iter()
        .partition(|method| matches!(method.kind, MethodKind::Oneway));
    let call_arms = calls.iter().map(|method| dispatch_arm(service, method));
    let oneway_arms = oneway.iter().map(|method| dispatch_arm(service, method));
    let bounds = bounds::wire_bounds(service);
    // Without methods of a kind, the parameters of its function would be unused.
    let unused_calls = calls
        .is_empty()
        .then(|| quote!(let _ = (__handler, __call_id, __args);));
    let unused_oneway = oneway
        .is_empty()
        .then(|| quote!(let _ = (__handler, __args);));
    quote! {
        #[automatically_derived]
        impl<'__a, __H> #private::Dispatch<__H> for dyn #ident + '__a
        where
            __H: #ident + ::core::marker::Send + ::core::marker::Sync + 'static,
            #(#bounds,)*
        {
            fn dispatch(
                __handler: &#private::Arc<__H>,
                __call_id: u32,
                __method: u16,
                __args: #private::Args<'_>,
                __upload: ::core::option::Option<#private::RawUpload>,
            ) -> ::core::result::Result<
                #private::Started,
                #private::DispatchError,
            > {
                // Used by the methods whose last argument streams, if any.
                let _: &::core::option::Option<#private::RawUpload> = &__upload;
                #unused_calls
                match __method {
                    #(#call_arms)*
                    __other => ::core::result::Result::Err(
                        #private::DispatchError::UnknownMethod(__other),
                    ),
                }
            }

            fn dispatch_oneway(
                __handler: &#private::Arc<__H>,
                __method: u16,
                __args: #private::Args<'_>,
            ) -> ::core::result::Result<
                #private::OnewayFuture,
                #private::DispatchError,
            > {
                #unused_oneway
                match __method {
                    #(#oneway_arms)*
                    __other => ::core::result::Result::Err(
                        #private::DispatchError::UnknownMethod(__other),
                    ),
                }
            }
        }
    }
}

/// The arm of one method: decode the arguments, start the handler's method; for a call, wrap it so
/// that it produces the `REPLY` frame.
fn dispatch_arm(service: &Service, method: &Method) -> TokenStream {
    let service_ident = &service.ident;
    let private = private(&service.krate);
    let name = &method.ident;
    let index = Literal::u16_suffixed(method.index);
    // Fresh names: the user's argument names could shadow the parameters used below.
    let vars: Vec<_> = (0..method.args.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let tys = method.args.iter().map(|arg| &arg.ty);
    let upload = method.upload.as_ref().map(|arg| {
        let ty = &arg.ty;
        let private = private_at(&service.krate, ty.span());
        quote_spanned! {ty.span()=>
            let __upload: #ty = #private::take_upload::<#ty>(__upload)?;
        }
    });
    let upload_var = upload.is_some().then(|| quote!(, __upload));
    let run = quote! {
        async move {
            // Fully qualified: a method of `Arc` (`clone`...) must not shadow the rpc method.
            <__H as #service_ident>::#name(&*__h #(, #vars)* #upload_var).await
        }
    };
    let started = match method.output() {
        Some(output) => {
            // Spanned at the return type: "cannot be returned by an rpc method" is reported there.
            let private = private_at(&service.krate, output.span());
            let call = quote_spanned!(output.span()=> #private::call);
            quote!(#call(__call_id, #run))
        }
        None => quote!(#private::oneway(#run)),
    };
    quote! {
        #index => {
            let (#(#vars,)*) = #private::decode_args::<(#(#tys,)*)>(__args)?;
            #upload
            let __h = <#private::Arc<__H> as ::core::clone::Clone>::clone(__handler);
            ::core::result::Result::Ok(#started)
        }
    }
}
