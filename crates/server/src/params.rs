//! Query parameters, validated with errors that name the parameter and what it allows.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::{ApiError, ApiResult};

/// Longest accepted text parameter, in bytes.
pub const MAX_TEXT: usize = 256;

/// A request's query string as name → value (the last value of a repeated name wins).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
        Ok(Query(pairs.into_iter().collect()))
    }
}

impl Query {
    /// A query from pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// An integer in `lo..=hi`, `default` when absent.
    pub fn int(&self, name: &str, default: i64, lo: i64, hi: i64) -> ApiResult<i64> {
        let Some(v) = self.raw(name) else {
            return Ok(default);
        };
        match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "parameter {name}: expected an integer from {lo} to {hi}"
            ))),
        }
    }

    /// A number in `lo..=hi`, `default` when absent.
    pub fn float(&self, name: &str, default: f64, lo: f64, hi: f64) -> ApiResult<f64> {
        let Some(v) = self.raw(name) else {
            return Ok(default);
        };
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
            _ => Err(ApiError::BadRequest(format!(
                "parameter {name}: expected a number from {lo} to {hi}"
            ))),
        }
    }

    /// An optional integer in `lo..=hi`.
    pub fn opt_int(&self, name: &str, lo: i64, hi: i64) -> ApiResult<Option<i64>> {
        self.raw(name)
            .map(|_| self.int(name, 0, lo, hi))
            .transpose()
    }

    /// `true`/`1` or `false`/`0`; false when absent.
    pub fn boolean(&self, name: &str) -> ApiResult<bool> {
        match self.raw(name) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(ApiError::BadRequest(format!(
                "parameter {name}: expected true or false"
            ))),
        }
    }

    /// Text of at most [`MAX_TEXT`] bytes, `None` when absent or empty.
    pub fn text(&self, name: &str) -> ApiResult<Option<String>> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) if v.len() <= MAX_TEXT => Ok(Some(v.to_string())),
            Some(_) => Err(ApiError::BadRequest(format!(
                "parameter {name}: at most {MAX_TEXT} bytes"
            ))),
        }
    }

    /// One of `allowed`, `default` when absent.
    pub fn choice(
        &self,
        name: &str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> ApiResult<&'static str> {
        let Some(v) = self.raw(name) else {
            return Ok(default);
        };
        allowed.iter().find(|a| **a == v).copied().ok_or_else(|| {
            ApiError::BadRequest(format!("parameter {name}: allowed {}", allowed.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_the_parameter_and_the_bounds() {
        let q = Query::from_pairs(&[("k", "31"), ("s", "NaN"), ("b", "yes"), ("c", "x")]);
        let msg = |r: ApiResult<_>| match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {:?}", other.map(|_: ()| ())),
        };
        assert_eq!(
            msg(q.int("k", 14, 4, 30).map(drop)),
            "parameter k: expected an integer from 4 to 30"
        );
        assert!(msg(q.float("s", 1.0, 0.5, 3.0).map(drop)).starts_with("parameter s"));
        assert!(msg(q.boolean("b").map(drop)).contains("true or false"));
        assert_eq!(
            msg(q.choice("c", "a", &["a", "b"]).map(drop)),
            "parameter c: allowed a, b"
        );
        assert_eq!(q.int("absent", 14, 4, 30).unwrap(), 14);
    }
}
