//! `#[derive(Traverse)]` for [`gc-core`](https://docs.rs/gc-core): the safe way to tell the
//! cycle collector which handles a value owns.
//!
//! Use it through `gc_core`, which re-exports the derive under the trait's name:
//!
//! ```
//! use gc_core::{Gc, Traverse};
//! use std::cell::RefCell;
//!
//! #[derive(Traverse)]
//! struct Node {
//!     name: String,
//!     parent: RefCell<Option<Gc<Node>>>,
//! }
//!
//! let root = Gc::new(Node { name: "root".into(), parent: RefCell::new(None) });
//! *root.parent.borrow_mut() = Some(root.clone()); // a cycle
//! assert_eq!(root.name, "root");
//! drop(root); // reference counting cannot free it; the collector can
//! assert_eq!(gc_core::collect().collected, 1);
//! ```
//!
//! # What the derive generates
//!
//! An `unsafe impl ::gc_core::Traverse` whose
//!
//! - `traverse` visits **every field** (every binding of every variant, for enums), except the
//!   fields and variants marked `#[traverse(skip)]`;
//! - `IS_LEAF` is the `&&` of the visited fields' `IS_LEAF` (`true` when nothing is visited), so
//!   a type that can never own a handle is never tracked by the collector;
//! - `prefetch` (a hint the collector calls a few objects before it traverses one) calls
//!   `prefetch` on the same fields;
//! - `HAS_FINALIZER` and `finalize` come from `#[traverse(finalize)]`.
//!
//! For example,
//!
//! ```
//! # use gc_core::{Gc, Traverse};
//! #[derive(Traverse)]
//! struct Node<T: Traverse + 'static> {
//!     parent: Gc<Node<T>>,
//!     value: T,
//!     children: Vec<Node<T>>,
//!     #[traverse(skip)]
//!     cache: std::fs::Metadata,
//! }
//! ```
//!
//! expands to
//!
//! ```text
//! #[automatically_derived]
//! unsafe impl<T: Traverse + 'static> ::gc_core::Traverse for Node<T>
//! where
//!     T: ::gc_core::Traverse,
//! {
//!     // `Node<T>` is read as `()` here: see "Recursive types" below.
//!     const IS_LEAF: bool = <Gc<()> as ::gc_core::Traverse>::IS_LEAF
//!         && <T as ::gc_core::Traverse>::IS_LEAF
//!         && <Vec<()> as ::gc_core::Traverse>::IS_LEAF;
//!
//!     #[inline]
//!     fn traverse(&self, visitor: &mut ::gc_core::Visitor<'_>) {
//!         <Gc<Node<T>> as ::gc_core::Traverse>::traverse(&self.parent, visitor);
//!         <T as ::gc_core::Traverse>::traverse(&self.value, visitor);
//!         <Vec<Node<T>> as ::gc_core::Traverse>::traverse(&self.children, visitor);
//!     }
//!
//!     #[inline]
//!     fn prefetch(&self) {
//!         <Gc<Node<T>> as ::gc_core::Traverse>::prefetch(&self.parent);
//!         <T as ::gc_core::Traverse>::prefetch(&self.value);
//!         <Vec<Node<T>> as ::gc_core::Traverse>::prefetch(&self.children);
//!     }
//! }
//! ```
//!
//! An enum's `traverse` matches on `self` and visits each binding of the variant it finds.
//!
//! Each type parameter used by a visited field gets a `P: ::gc_core::Traverse` bound (an
//! associated type such as `T::Item` gets `T::Item: ::gc_core::Traverse`); parameters used only in
//! skipped fields or inside `PhantomData` get none; a field of the type itself (`Box<Self>`)
//! needs no extra bound. The type's own bounds and `where` clause are kept. A field whose type
//! does not implement `Traverse` is a compile error pointing at that field.
//!
//! `Gc<X>` requires `X: Traverse + 'static`, so a generic type with a field such as
//! `Gc<Node<T>>` declares `T: Traverse + 'static` itself (the compiler asks for it at the
//! field); the derive keeps that bound.
//!
//! # Attributes
//!
//! On the type:
//!
//! | attribute | effect |
//! | --- | --- |
//! | `#[traverse(bound = "T: Traverse + Clone")]` | replaces the inferred bounds with these `where` predicates (`bound = ""` for none), as serde's `bound` |
//! | `#[traverse(leaf = false)]` | sets `IS_LEAF = false` without looking at the fields; see *Recursive types* |
//! | `#[traverse(finalize)]` | `HAS_FINALIZER = true`, and `finalize` calls the type's [`Finalize`] impl |
//!
//! On a field, or on an enum variant (all its fields):
//!
//! | attribute | effect |
//! | --- | --- |
//! | `#[traverse(skip)]` | not visited, not part of `IS_LEAF`, and its type need not implement `Traverse` |
//!
//! Several may share one attribute: `#[traverse(finalize, leaf = false)]`. Anything else is a
//! compile error that lists these forms.
//!
//! Skipping a field is memory-safe: a handle the collector is not told about is, for the
//! collector, a reference from outside the heap. A cycle through a skipped handle therefore
//! **leaks** (heap shutdown's leak report names its objects); it is never freed early.
//!
//! # Recursive types
//!
//! `struct List { next: Option<Box<List>> }` asks for `List::IS_LEAF` while computing
//! `List::IS_LEAF`. The derive breaks this direct recursion by reading each field type with the
//! type itself (`Self`, or its name with exactly its own generic parameters) replaced by `()`,
//! which gives the greatest fixed point: `List` is a leaf because nothing in it but `List` could
//! own a handle. (`Gc<X>` is never a leaf whatever `X` is, so `Option<Gc<Node>>` fields never
//! recurse at all.)
//!
//! This relies on a container's `IS_LEAF` following its element types' `IS_LEAF` (as every impl
//! in `gc_core` does), and replaces only the type itself: inside `W<T>`, a field
//! `Box<W<Gc<u8>>>` names another type, one that holds a handle, so it is left as written.
//!
//! Recursion the derive cannot see (mutually recursive types, a path such as `crate::List`, the
//! type with other generic arguments, a type behind a macro) ends in a compile error about a
//! cycle in evaluating `IS_LEAF`. Put `#[traverse(leaf = false)]` on one type of the cycle: it
//! stops the cycle there, and is always sound (a non-leaf is simply tracked). It is also how to
//! force tracking of a type that the derive would find to be a leaf.
//!
//! ```
//! use gc_core::Traverse;
//!
//! #[derive(Traverse)]
//! #[traverse(leaf = false)] // breaks the cycle A -> B -> A
//! struct A {
//!     b: Option<Box<B>>,
//! }
//!
//! #[derive(Traverse)]
//! struct B {
//!     a: Vec<A>,
//! }
//! # assert!(!<B as Traverse>::IS_LEAF);
//! ```
//!
//! # Not supported
//!
//! - Unions: the collector cannot know which field is active. Implement `Traverse` by hand.
//! - `#[repr(packed)]` types: their fields cannot be borrowed. Implement `Traverse` by hand.
//!
//! [`Finalize`]: https://docs.rs/gc-core/latest/gc_core/trait.Finalize.html
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{
    parse_macro_input, parse_quote, Attribute, Data, DataEnum, DeriveInput, Error, Field, Fields,
    GenericArgument, Generics, Ident, LitBool, LitStr, Member, PathArguments, Token, Type,
    TypePath, WherePredicate,
};

/// Derives `gc_core::Traverse`: visits every field, and works out `IS_LEAF` from the fields.
///
/// Attributes (see the [crate docs](crate) for details):
///
/// - on the type: `#[traverse(bound = "T: Traverse")]` replaces the inferred bounds;
///   `#[traverse(leaf = false)]` sets `IS_LEAF = false` (breaks mutual recursion, forces
///   tracking); `#[traverse(finalize)]` wires in the type's `Finalize` impl;
/// - on a field or an enum variant: `#[traverse(skip)]` hides it from the collector (a cycle
///   through it then leaks; it is never freed early).
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Traverse};
/// use std::cell::RefCell;
///
/// #[derive(Traverse)]
/// // `Gc<X>` requires `X: Traverse + 'static`, hence the bound on `T`.
/// enum Expr<T: Traverse + 'static> {
///     Lit(T),
///     Pair(Gc<Expr<T>>, Gc<Expr<T>>),
///     Slot { value: RefCell<Option<Gc<Expr<T>>>> },
///     #[traverse(skip)]
///     Opaque(std::fs::Metadata),
/// }
///
/// let lit = Gc::new(Expr::Lit(1u32));
/// let pair = Gc::new(Expr::Pair(lit.clone(), lit));
/// assert!(Gc::is_tracked(&pair));
/// ```
#[proc_macro_derive(Traverse, attributes(traverse))]
pub fn derive_traverse(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Builds the impl, or every error found in the input.
fn expand(input: &DeriveInput) -> Result<TokenStream2, Error> {
    let mut errors = Errors::default();
    let container = ContainerAttrs::parse(&input.attrs, &mut errors);
    check_not_packed(&input.attrs, &mut errors);

    let shape = match &input.data {
        Data::Struct(data) => Shape::Struct(parse_fields(&data.fields, &mut errors)),
        Data::Enum(data) => Shape::Enum(parse_variants(data, &mut errors)),
        Data::Union(data) => {
            let mut error = Error::new(
                data.union_token.span,
                "#[derive(Traverse)] does not support unions: the collector cannot know which \
                 field is active; implement Traverse by hand",
            );
            if let Some(more) = errors.finish() {
                error.combine(more);
            }
            return Err(error);
        }
    };
    if let Some(error) = errors.finish() {
        return Err(error);
    }

    let visited: Vec<&FieldInfo> = shape.visited_fields().collect();
    let ident = &input.ident;

    let self_ty = SelfType::new(ident, &input.generics);
    let mut generics = input.generics.clone();
    let predicates = match &container.bound {
        Some(bound) => bound.iter().cloned().collect(),
        None => inferred_bounds(&self_ty, &input.generics, &visited),
    };
    generics.make_where_clause().predicates.extend(predicates);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let is_leaf = if container.leaf_false {
        quote!(false)
    } else {
        let terms: Vec<TokenStream2> = visited
            .iter()
            .map(|field| {
                let mut ty = field.ty.clone();
                self_ty.replace_in(&mut ty);
                // Not `quote_spanned!`: see `FieldInfo::visit`.
                quote!(<#ty as ::gc_core::Traverse>::IS_LEAF)
            })
            .collect();
        if terms.is_empty() {
            quote!(true)
        } else {
            quote!(#(#terms)&&*)
        }
    };

    let visitor = if visited.is_empty() {
        Ident::new("_visitor", Span::call_site())
    } else {
        Ident::new("visitor", Span::call_site())
    };
    let body = if visited.is_empty() {
        // Nothing to visit: no `match`, so a fieldless enum needs no arms.
        TokenStream2::new()
    } else {
        shape.traverse_body(&Call::Traverse(&visitor))
    };
    // Nothing visited: the trait's default (which does nothing) is left in place.
    let prefetch = (!visited.is_empty()).then(|| {
        let body = shape.traverse_body(&Call::Prefetch);
        quote! {
            #[inline]
            fn prefetch(&self) {
                #body
            }
        }
    });

    let finalize = container.finalize.map(|span| {
        quote_spanned! {span=>
            const HAS_FINALIZER: bool = true;

            fn finalize(&self) {
                <Self as ::gc_core::Finalize>::finalize(self)
            }
        }
    });

    Ok(quote! {
        #[automatically_derived]
        unsafe impl #impl_generics ::gc_core::Traverse for #ident #ty_generics #where_clause {
            const IS_LEAF: bool = #is_leaf;
            const TRUSTED_TRAVERSE: bool = true;

            #finalize

            #[inline]
            fn traverse(&self, #visitor: &mut ::gc_core::Visitor<'_>) {
                #body
            }

            #prefetch
        }
    })
}

/// Collects errors so that one expansion reports all of them.
#[derive(Default)]
struct Errors(Option<Error>);

impl Errors {
    fn push(&mut self, error: Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> Option<Error> {
        self.0
    }
}

const CONTAINER_FORMS: &str = "expected one of: `#[traverse(bound = \"T: Traverse\")]`, \
     `#[traverse(leaf = false)]`, `#[traverse(finalize)]` on the type \
     (`#[traverse(skip)]` goes on a field or an enum variant)";

const FIELD_FORMS: &str = "expected `#[traverse(skip)]` on a field or an enum variant \
     (`bound = \"...\"`, `leaf = false` and `finalize` go on the type)";

/// Attributes on the struct or enum itself.
#[derive(Default)]
struct ContainerAttrs {
    /// `bound = "..."`: replaces the inferred bounds.
    bound: Option<Punctuated<WherePredicate, Token![,]>>,
    /// `leaf = false`: `IS_LEAF = false` without looking at the fields.
    leaf_false: bool,
    /// `finalize`: the span of the word, for errors about a missing `Finalize` impl.
    finalize: Option<Span>,
}

impl ContainerAttrs {
    fn parse(attrs: &[Attribute], errors: &mut Errors) -> Self {
        let mut out = Self::default();
        for attr in traverse_attrs(attrs, CONTAINER_FORMS, errors) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("bound") {
                    let value = meta.value().map_err(|_| {
                        meta.error(
                            "expected a string of `where` predicates: `bound = \"T: Traverse\"`",
                        )
                    })?;
                    let lit: LitStr = value.parse().map_err(|e| {
                        Error::new(
                            e.span(),
                            "expected a string of `where` predicates: `bound = \"T: Traverse\"`",
                        )
                    })?;
                    let predicates = lit
                        .parse_with(Punctuated::<WherePredicate, Token![,]>::parse_terminated)
                        .map_err(|e| {
                            Error::new(
                                lit.span(),
                                format!(
                                    "invalid `bound` ({e}): expected `where` predicates, such \
                                     as `bound = \"T: Traverse, U: Traverse\"`"
                                ),
                            )
                        })?;
                    if out.bound.is_some() {
                        return Err(meta.error("duplicate `bound`"));
                    }
                    out.bound = Some(predicates);
                    Ok(())
                } else if meta.path.is_ident("leaf") {
                    let value = meta
                        .value()
                        .map_err(|_| meta.error("expected `leaf = false`"))?;
                    let lit: LitBool = value
                        .parse()
                        .map_err(|e| Error::new(e.span(), "expected `leaf = false`"))?;
                    if lit.value {
                        return Err(Error::new(
                            lit.span(),
                            "`leaf = true` is not supported: the derive works out from the fields \
                             whether the type is a leaf; only `leaf = false` (always sound) can be \
                             forced",
                        ));
                    }
                    if out.leaf_false {
                        return Err(meta.error("duplicate `leaf`"));
                    }
                    out.leaf_false = true;
                    Ok(())
                } else if meta.path.is_ident("finalize") {
                    reject_value(&meta, "finalize")?;
                    if out.finalize.is_some() {
                        return Err(meta.error("duplicate `finalize`"));
                    }
                    out.finalize = Some(meta.path.span());
                    Ok(())
                } else if meta.path.is_ident("skip") {
                    Err(meta.error(
                        "`skip` goes on a field or an enum variant, not on the type; on the type, \
                         expected `bound = \"...\"`, `leaf = false` or `finalize`",
                    ))
                } else {
                    Err(unknown(&meta, CONTAINER_FORMS))
                }
            });
            if let Err(error) = result {
                errors.push(error);
            }
        }
        out
    }
}

/// Parses `#[traverse(skip)]` on a field or a variant; returns whether it was there.
fn parse_skip(attrs: &[Attribute], errors: &mut Errors) -> bool {
    let mut skip = false;
    for attr in traverse_attrs(attrs, FIELD_FORMS, errors) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                reject_value(&meta, "skip")?;
                if skip {
                    return Err(meta.error("duplicate `skip`"));
                }
                skip = true;
                Ok(())
            } else if ["bound", "leaf", "finalize"]
                .iter()
                .any(|name| meta.path.is_ident(name))
            {
                Err(meta.error(format!(
                    "`{}` goes on the type, not on a field or a variant; here, expected \
                     `#[traverse(skip)]`",
                    meta.path.to_token_stream()
                )))
            } else {
                Err(unknown(&meta, FIELD_FORMS))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    skip
}

/// The `#[traverse(...)]` attributes among `attrs`; reports the ones not in list form.
fn traverse_attrs<'a>(
    attrs: &'a [Attribute],
    forms: &str,
    errors: &mut Errors,
) -> Vec<&'a Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("traverse"))
        .filter(|attr| {
            let is_list = matches!(attr.meta, syn::Meta::List(_));
            if !is_list {
                errors.push(Error::new_spanned(
                    attr,
                    format!("malformed `traverse` attribute: {forms}"),
                ));
            }
            is_list
        })
        .collect()
}

/// Errors on `word = ...` or `word(...)` for a flag that takes no value.
fn reject_value(meta: &syn::meta::ParseNestedMeta<'_>, word: &str) -> Result<(), Error> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(())
    } else {
        Err(meta.error(format!(
            "`{word}` takes no value: write `#[traverse({word})]`"
        )))
    }
}

/// The error for an unknown key (returning it stops parsing that attribute).
fn unknown(meta: &syn::meta::ParseNestedMeta<'_>, forms: &str) -> Error {
    let name = meta.path.to_token_stream().to_string().replace(' ', "");
    meta.error(format!("unknown `traverse` attribute `{name}`; {forms}"))
}

/// Rejects `#[repr(packed)]`: borrowing a packed field is an error (E0793), and copying it out
/// would visit a copy instead of the handle the value owns.
fn check_not_packed(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("repr")) {
        // A `repr` we cannot read is the compiler's to report.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("packed") {
                errors.push(Error::new(
                    meta.path.span(),
                    "#[derive(Traverse)] does not support #[repr(packed)]: packed fields cannot be \
                     borrowed to visit them; implement Traverse by hand",
                ));
            }
            if meta.input.peek(syn::token::Paren) {
                let _content;
                syn::parenthesized!(_content in meta.input);
            }
            Ok(())
        });
    }
}

/// One field, with what the derive needs to know about it.
struct FieldInfo {
    /// How to name it: `self.member` for structs, the binding for enums.
    member: Member,
    ty: Type,
    skip: bool,
}

impl FieldInfo {
    /// `<Ty as ::gc_core::Traverse>::traverse(place, visitor);`
    ///
    /// Naming the type (rather than letting `&place` pick it) makes a missing impl the very
    /// error that `IS_LEAF` reports, so the compiler shows it once.
    ///
    /// Spans: the tokens of `Ty` keep their own, so that error points at the field's type.
    /// The tokens around it stay at the call site on purpose. Spanning all of
    /// `<Ty as Traverse>::traverse` at the type (`quote_spanned!`) makes rustc take the
    /// expression for the type's text and, because `&'static T: Traverse`, replace the
    /// trait's `on_unimplemented` label and note with "consider borrowing here: `&Ty`"
    /// (see `tests/ui/field_not_traverse.rs`).
    fn visit(&self, place: &TokenStream2, call: &Call<'_>) -> TokenStream2 {
        let ty = &self.ty;
        match call {
            Call::Traverse(visitor) => {
                quote!(<#ty as ::gc_core::Traverse>::traverse(#place, #visitor);)
            }
            Call::Prefetch => quote!(<#ty as ::gc_core::Traverse>::prefetch(#place);),
        }
    }
}

/// Which method of each visited field a generated body calls.
enum Call<'a> {
    /// `traverse(place, visitor)`.
    Traverse(&'a Ident),
    /// `prefetch(place)`.
    Prefetch,
}

fn parse_fields(fields: &Fields, errors: &mut Errors) -> Vec<FieldInfo> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| field_info(index, field, errors))
        .collect()
}

fn field_info(index: usize, field: &Field, errors: &mut Errors) -> FieldInfo {
    let member = match &field.ident {
        Some(ident) => Member::Named(ident.clone()),
        None => Member::Unnamed(syn::Index {
            span: field.ty.span(),
            ..syn::Index::from(index)
        }),
    };
    FieldInfo {
        member,
        ty: field.ty.clone(),
        skip: parse_skip(&field.attrs, errors),
    }
}

struct VariantInfo {
    ident: Ident,
    /// `Fields::Named`, `Unnamed` or `Unit`, for the pattern's shape.
    kind: Fields,
    fields: Vec<FieldInfo>,
    skip: bool,
}

fn parse_variants(data: &DataEnum, errors: &mut Errors) -> Vec<VariantInfo> {
    data.variants
        .iter()
        .map(|variant| {
            let skip = parse_skip(&variant.attrs, errors);
            VariantInfo {
                ident: variant.ident.clone(),
                kind: variant.fields.clone(),
                fields: parse_fields(&variant.fields, errors),
                skip,
            }
        })
        .collect()
}

enum Shape {
    Struct(Vec<FieldInfo>),
    Enum(Vec<VariantInfo>),
}

impl Shape {
    /// The fields that `traverse` visits and `IS_LEAF` looks at.
    fn visited_fields(&self) -> Box<dyn Iterator<Item = &FieldInfo> + '_> {
        match self {
            Shape::Struct(fields) => Box::new(fields.iter().filter(|f| !f.skip)),
            Shape::Enum(variants) => Box::new(
                variants
                    .iter()
                    .filter(|v| !v.skip)
                    .flat_map(|v| v.fields.iter().filter(|f| !f.skip)),
            ),
        }
    }

    /// The body of `traverse` or `prefetch`: `call` on every visited field.
    fn traverse_body(&self, call: &Call<'_>) -> TokenStream2 {
        match self {
            Shape::Struct(fields) => {
                let visits = fields.iter().filter(|f| !f.skip).map(|field| {
                    let member = &field.member;
                    field.visit(&quote!(&self.#member), call)
                });
                quote!(#(#visits)*)
            }
            Shape::Enum(variants) => {
                let arms = variants.iter().map(|variant| variant.arm(call));
                quote! {
                    match self {
                        #(#arms)*
                    }
                }
            }
        }
    }
}

impl VariantInfo {
    /// `Self::Variant { a: __gc_field_0, b: _, .. } => { visits }`.
    fn arm(&self, call: &Call<'_>) -> TokenStream2 {
        let ident = &self.ident;
        let binding = |index: usize| call_site_ident(&format!("__gc_field_{index}"));
        let visited = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !self.skip && !f.skip);

        let pattern = match &self.kind {
            Fields::Unit => quote!(Self::#ident),
            _ if self.skip => quote!(Self::#ident { .. }),
            Fields::Named(_) => {
                let bindings = visited.clone().map(|(index, field)| {
                    let member = &field.member;
                    let binding = binding(index);
                    quote!(#member: #binding)
                });
                quote!(Self::#ident { #(#bindings,)* .. })
            }
            Fields::Unnamed(_) => {
                let bindings = self.fields.iter().enumerate().map(|(index, field)| {
                    if field.skip {
                        quote!(_)
                    } else {
                        binding(index).to_token_stream()
                    }
                });
                quote!(Self::#ident(#(#bindings),*))
            }
        };
        let visits =
            visited.map(|(index, field)| field.visit(&binding(index).into_token_stream(), call));
        quote! {
            #pattern => {
                #(#visits)*
            }
        }
    }
}

fn call_site_ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `P: ::gc_core::Traverse` for each type parameter that a visited field uses, and
/// `T::Assoc: ::gc_core::Traverse` for each associated type of a parameter that one uses.
fn inferred_bounds(
    self_ty: &SelfType<'_>,
    generics: &Generics,
    visited: &[&FieldInfo],
) -> Vec<WherePredicate> {
    let params: Vec<&Ident> = generics.type_params().map(|p| &p.ident).collect();
    let mut finder = ParamUses {
        self_ty,
        params: &params,
        used: vec![false; params.len()],
        projections: Vec::new(),
    };
    for field in visited {
        finder.visit_type(&field.ty);
    }
    let mut bounds: Vec<WherePredicate> = params
        .iter()
        .zip(&finder.used)
        .filter(|(_, used)| **used)
        .map(|(param, _)| parse_quote!(#param: ::gc_core::Traverse))
        .collect();
    let mut seen = Vec::new();
    for projection in finder.projections {
        let key = projection.to_token_stream().to_string();
        if !seen.contains(&key) {
            seen.push(key);
            bounds.push(parse_quote!(#projection: ::gc_core::Traverse));
        }
    }
    bounds
}

/// Finds the type parameters (and their associated types) that a field type uses.
struct ParamUses<'a> {
    /// The type itself: a field of type `Self` needs no bound beyond the impl's own.
    self_ty: &'a SelfType<'a>,
    params: &'a [&'a Ident],
    used: Vec<bool>,
    projections: Vec<TypePath>,
}

impl ParamUses<'_> {
    fn param_index(&self, ident: &Ident) -> Option<usize> {
        self.params.iter().position(|p| *p == ident)
    }

    fn mentions_param(&self, ty: &Type) -> bool {
        let mut inner = ParamUses {
            self_ty: self.self_ty,
            params: self.params,
            used: vec![false; self.params.len()],
            projections: Vec::new(),
        };
        inner.visit_type(ty);
        inner.used.iter().any(|u| *u) || !inner.projections.is_empty()
    }
}

impl<'ast> Visit<'ast> for ParamUses<'_> {
    fn visit_type_path(&mut self, ty: &'ast TypePath) {
        if let Some(qself) = &ty.qself {
            // `<T as Trait>::Assoc`: bound the projection, not `T`.
            if self.mentions_param(&qself.ty) {
                self.projections.push(ty.clone());
            }
            return;
        }
        if self.self_ty.is_self(ty) {
            // The impl itself proves `Self: Traverse` from its own bounds.
            return;
        }
        let path = &ty.path;
        if path.leading_colon.is_none() {
            if let Some(index) = self.param_index(&path.segments[0].ident) {
                if path.segments.len() == 1 {
                    self.used[index] = true;
                } else {
                    // `T::Assoc`: bound the projection, not `T`.
                    self.projections.push(ty.clone());
                }
                return;
            }
        }
        if path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "PhantomData")
        {
            // `PhantomData<T>` owns no `T`, and is `Traverse` for every `T`.
            return;
        }
        syn::visit::visit_type_path(self, ty);
    }
}

/// Recognises the type being derived in its own field types, to break direct recursion.
struct SelfType<'a> {
    ident: &'a Ident,
    /// The type and const parameters, in order: the generic arguments that name the type
    /// itself. Lifetimes do not matter to `IS_LEAF`.
    params: Vec<&'a Ident>,
    /// A type parameter shadows the type's name: only `Self` names the type.
    shadowed: bool,
}

impl<'a> SelfType<'a> {
    fn new(ident: &'a Ident, generics: &'a Generics) -> Self {
        let params: Vec<&Ident> = generics
            .params
            .iter()
            .filter_map(|param| match param {
                syn::GenericParam::Type(p) => Some(&p.ident),
                syn::GenericParam::Const(p) => Some(&p.ident),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        let shadowed = generics.type_params().any(|p| p.ident == *ident);
        SelfType {
            ident,
            params,
            shadowed,
        }
    }

    /// Replaces each occurrence of the type itself in `ty` by `()`.
    fn replace_in(&self, ty: &mut Type) {
        Replacer { self_ty: self }.visit_type_mut(ty);
    }

    /// Is `ty` the type itself: `Self`, or `Name<P1, P2, ...>` with exactly its own parameters?
    fn is_self(&self, ty: &TypePath) -> bool {
        if ty.qself.is_some() || ty.path.leading_colon.is_some() || ty.path.segments.len() != 1 {
            return false;
        }
        let segment = &ty.path.segments[0];
        if segment.ident == "Self" && segment.arguments.is_none() {
            return true;
        }
        if self.shadowed || segment.ident != *self.ident {
            return false;
        }
        let args: Vec<&GenericArgument> = match &segment.arguments {
            PathArguments::None => Vec::new(),
            PathArguments::AngleBracketed(args) => args
                .args
                .iter()
                .filter(|arg| !matches!(arg, GenericArgument::Lifetime(_)))
                .collect(),
            PathArguments::Parenthesized(_) => return false,
        };
        args.len() == self.params.len()
            && args.iter().zip(&self.params).all(|(arg, param)| match arg {
                GenericArgument::Type(Type::Path(path)) => {
                    path.qself.is_none() && path.path.is_ident(*param)
                }
                // A const parameter written as an argument parses as a type path, or in braces.
                GenericArgument::Const(syn::Expr::Path(path)) => path.path.is_ident(*param),
                GenericArgument::Const(syn::Expr::Block(block)) => {
                    matches!(block.block.stmts.as_slice(),
                        [syn::Stmt::Expr(syn::Expr::Path(path), None)] if path.path.is_ident(*param))
                }
                _ => false,
            })
    }
}

struct Replacer<'a, 'b> {
    self_ty: &'a SelfType<'b>,
}

impl VisitMut for Replacer<'_, '_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        match ty {
            Type::Path(path) if self.self_ty.is_self(path) => {
                let span = path.span();
                *ty = parse_quote_spanned(span);
            }
            // Only the generic arguments of a plain path: `<Self as Trait>::Assoc` and
            // `Self::Assoc` are other types, whose `IS_LEAF` need not follow `Self`'s.
            Type::Path(path) if path.qself.is_none() => {
                for segment in &mut path.path.segments {
                    if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                        for arg in &mut args.args {
                            if let GenericArgument::Type(inner) = arg {
                                self.visit_type_mut(inner);
                            }
                        }
                    }
                }
            }
            Type::Array(array) => self.visit_type_mut(&mut array.elem),
            Type::Slice(slice) => self.visit_type_mut(&mut slice.elem),
            Type::Reference(reference) => self.visit_type_mut(&mut reference.elem),
            Type::Ptr(ptr) => self.visit_type_mut(&mut ptr.elem),
            Type::Paren(paren) => self.visit_type_mut(&mut paren.elem),
            Type::Group(group) => self.visit_type_mut(&mut group.elem),
            Type::Tuple(tuple) => {
                for elem in &mut tuple.elems {
                    self.visit_type_mut(elem);
                }
            }
            // Trait objects, `fn` pointers, macros, `impl Trait`: left alone. A recursion through
            // them is a cycle error that `#[traverse(leaf = false)]` resolves.
            _ => {}
        }
    }
}

/// `()`, spanned where the type's own name was.
fn parse_quote_spanned(span: Span) -> Type {
    let unit = quote_spanned!(span=> ());
    syn::parse2(unit).unwrap_or_else(|_| parse_quote!(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ty` with the type declared by `item` read as `()`, as `IS_LEAF` reads it.
    fn replaced(item: &DeriveInput, ty: Type) -> String {
        let mut ty = ty;
        SelfType::new(&item.ident, &item.generics).replace_in(&mut ty);
        ty.to_token_stream().to_string().replace(' ', "")
    }

    fn expanded(item: &DeriveInput) -> String {
        match expand(item) {
            Ok(tokens) => tokens.to_string(),
            Err(error) => error.to_compile_error().to_string(),
        }
    }

    #[test]
    fn self_type_is_replaced_only_with_its_own_parameters() {
        let item: DeriveInput = parse_quote!(
            struct W<'a, T, const N: usize>(&'a [T; N]);
        );
        let cases: [(Type, &str); 9] = [
            (parse_quote!(Option<Box<W<'a, T, N>>>), "Option<Box<()>>"),
            (parse_quote!(Vec<W<'static, T, { N }>>), "Vec<()>"),
            (parse_quote!((Self, [Box<Self>; 2])), "((),[Box<()>;2])"),
            // Other arguments name another type: replacing it could hide its handles.
            (parse_quote!(Box<W<'a, Gc<u8>, N>>), "Box<W<'a,Gc<u8>,N>>"),
            (parse_quote!(Box<W<'a, T, 3>>), "Box<W<'a,T,3>>"),
            (parse_quote!(Box<W<'a, T>>), "Box<W<'a,T>>"),
            // Paths and projections are left alone (a cycle error, if they recurse).
            (parse_quote!(crate::W<'a, T, N>), "crate::W<'a,T,N>"),
            (parse_quote!(<Self as Tr>::Assoc), "<SelfasTr>::Assoc"),
            (parse_quote!(Box<dyn Fn(Self)>), "Box<dynFn(Self)>"),
        ];
        for (ty, want) in cases {
            assert_eq!(replaced(&item, ty), want);
        }
    }

    #[test]
    fn a_parameter_named_like_the_type_is_not_the_type() {
        let item: DeriveInput = parse_quote!(
            struct T<T>(T);
        );
        assert_eq!(replaced(&item, parse_quote!(Box<T<T>>)), "Box<T<T>>");
        assert_eq!(replaced(&item, parse_quote!(Box<Self>)), "Box<()>");
    }

    #[test]
    fn bounds_cover_the_parameters_of_visited_fields_only() {
        let item: DeriveInput = parse_quote! {
            struct S<A, B, C, D: Iterator, E, F> {
                a: Vec<A>,
                #[traverse(skip)]
                b: B,
                c: PhantomData<C>,
                d: D::Item,
                e: Option<<E as Tr<A>>::Out>,
                f: Option<Box<S<A, B, C, D, E, F>>>,
            }
        };
        let out = expanded(&item).replace(' ', "");
        let where_clause = &out[out.find("where").unwrap()..out.find("{").unwrap()];
        assert_eq!(
            where_clause,
            "whereA:::gc_core::Traverse,D::Item:::gc_core::Traverse,\
             <EasTr<A>>::Out:::gc_core::Traverse"
        );
    }

    #[test]
    fn bound_attribute_replaces_inferred_bounds_and_keeps_the_where_clause() {
        let item: DeriveInput = parse_quote! {
            #[traverse(bound = "T: Traverse + Clone")]
            struct S<T, U: Copy> where U: Default { t: T, u: U }
        };
        let out = expanded(&item).replace(' ', "");
        assert!(out.contains("whereU:Default,T:Traverse+Clone{"), "{out}");
    }

    #[test]
    fn is_leaf_and_the_body_of_a_type_without_visited_fields() {
        let item: DeriveInput = parse_quote!(
            enum E {
                A,
                #[traverse(skip)]
                B(Gc<u8>),
            }
        );
        let out = expanded(&item).replace(' ', "");
        assert!(out.contains("constIS_LEAF:bool=true;"), "{out}");
        assert!(
            out.contains("fntraverse(&self,_visitor:&mut::gc_core::Visitor<'_>){}"),
            "{out}"
        );
    }

    #[test]
    fn every_attribute_error_is_reported() {
        let item: DeriveInput = parse_quote! {
            #[traverse(skip)]
            struct S { #[traverse(skipp)] a: u8, #[traverse] b: u8 }
        };
        let out = expanded(&item);
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(!out.contains("unsafe impl"), "{out}");
    }

    #[test]
    fn unions_are_rejected() {
        let item: DeriveInput = parse_quote!(union U { a: u8, b: f32 });
        assert!(expanded(&item).contains("does not support unions"));
    }
}
