//! API errors and their one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter or body field is invalid; the message names it and what is allowed.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is larger than `serve.max_body_kib`.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The bearer token is missing or wrong.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The `Host` header names no host this server answers to (loopback names, address
    /// literals, `serve.public_names`): a DNS-rebinding page, or a name to add.
    #[error(
        "this server does not answer to that Host; add it to serve.public_names if it is yours"
    )]
    MisdirectedHost,
    /// Nothing there (no cycle yet, unknown id...).
    #[error("{0}")]
    NotFound(String),
    /// The store failed; the details go to the log, not to the client.
    #[error("store: {0}")]
    Store(#[from] shrike_store::StoreError),
    /// The cluster map could not be computed; the reason is shown (it is about the data).
    #[error("cluster map: {0}")]
    Map(String),
    /// Anything else that went wrong inside; logged, not shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Map(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error; see the server log".to_string()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"shrike\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
