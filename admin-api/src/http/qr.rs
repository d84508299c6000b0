//! `GET /urls/{id}/qr`: a QR code of the link's `short_url`, as SVG or PNG.

use std::io::Cursor;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Caller;
use crate::db::urls;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{PathId, Query};
use crate::state::AppState;

/// Smallest module size, in pixels, of PNG codes (about 300 px wide for a
/// typical link).
const PNG_MODULE_PIXELS: u32 = 8;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_qr))
}

/// Image formats.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QrFormat {
    #[default]
    Svg,
    Png,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// `svg` (default) or `png`.
    #[serde(default)]
    format: QrFormat,
}

/// A QR code of the link's public short URL.
#[utoipa::path(get, path = "/urls/{id}/qr", tag = "urls", params(("id" = i64, Path), QrQuery),
    responses((status = 200, description = "image/svg+xml, or image/png with ?format=png"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_qr(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    Query(query): Query<QrQuery>,
) -> ApiResult<Response> {
    let link = urls::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    caller.check_sees(link.user_id, "url")?;
    let short_url = state.settings.short_url(&link.short_code);
    Ok(match query.format {
        QrFormat::Svg => {
            let svg = svg(&short_url)?;
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        QrFormat::Png => {
            let code = QrCode::new(short_url.as_bytes()).map_err(|err| ApiError::internal(&err))?;
            let image = code
                .render::<image::Luma<u8>>()
                .module_dimensions(PNG_MODULE_PIXELS, PNG_MODULE_PIXELS)
                .build();
            let mut png = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|err| ApiError::internal(&err))?;
            ([(header::CONTENT_TYPE, "image/png")], png).into_response()
        }
    })
}

/// A QR code of `short_url` as an SVG document (at least 256 px wide): what
/// `GET /urls/{id}/qr` answers and a link's console page shows.
pub(crate) fn svg(short_url: &str) -> Result<String, ApiError> {
    let code = QrCode::new(short_url.as_bytes()).map_err(|err| ApiError::internal(&err))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build())
}
