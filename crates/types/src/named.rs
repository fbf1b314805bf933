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

#[cfg(test)]
mod tests {
    use crate::{DecisionKind, FeatureSetName, ThreatLevel};

    /// Every value's name parses back in any case, is its serde form, and a name that is
    /// none of them is refused with the list of allowed ones.
    fn round_trip<T>(all: &[T], unknown: &str, listed: &str)
    where
        T: Copy
            + PartialEq
            + std::fmt::Debug
            + std::fmt::Display
            + std::str::FromStr
            + serde::Serialize
            + serde::de::DeserializeOwned,
        T::Err: std::fmt::Display + std::fmt::Debug,
    {
        for v in all {
            let name = v.to_string();
            assert_eq!(name.parse::<T>().unwrap(), *v);
            assert_eq!(name.to_lowercase().parse::<T>().unwrap(), *v);
            assert_eq!(format!(" {name} ").parse::<T>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
        let e = unknown.parse::<T>().unwrap_err().to_string();
        assert!(e.contains(listed) && e.contains(unknown), "{e}");
    }

    #[test]
    fn names_round_trip_through_text_and_serde() {
        round_trip(&ThreatLevel::ALL, "SEVERE", "LEGITIMATE_BROWSER");
        round_trip(&DecisionKind::ALL, "MODEL_EXPLODED", "TREES_SKIPPED");
        round_trip(&FeatureSetName::ALL, "partial", "complete, application");
    }
}
