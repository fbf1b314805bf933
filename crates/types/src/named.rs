//! [`named_enum!`]: a closed set of values, each with the one name it is stored, shown and
//! serialised under.

/// Defines an enum whose variants each have one name, written once: serde uses exactly
/// these names, and the enum gets `ALL` (declaration order), `as_str`, `names` (for
/// messages that list what is allowed), `Display`, and `FromStr` (any case, surrounding
/// space ignored) whose error type lists the allowed names.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*
        }
        $(#[$err_meta:meta])*
        error $error:ident = $what:literal;
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[doc = $doc])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),*].len()] = [$($name::$variant,)*];

            /// The stored, displayed and serialised name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// `values` by name, separated by commas (for messages that list what is
            /// allowed).
            pub fn names(values: &[$name]) -> String {
                values.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(#[$err_meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {what} {0:?} (allowed: {allowed})", what = $what, allowed = $name::names(&$name::ALL))]
        pub struct $error(pub String);

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| $error(s.to_string()))
            }
        }
    };
}

pub(crate) use named_enum;
