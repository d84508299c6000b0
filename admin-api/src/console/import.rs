//! The import page (admins): upload a CSV of users, links or events through
//! the JSON API's own import code (the same parsing, rules, row errors, one
//! import at a time, 50 MiB and `ADMIN_BODY_TIMEOUT`), its rows recorded as
//! `import:<key name>`. A row error is shown as the API reports it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::guard::{self, Console};
use super::page::{ConsoleError, ConsoleResult, Layout, Page};
use crate::error::ApiError;
use crate::import::{self, CsvUpload, ImportResult, multipart_error};
use crate::state::AppState;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Users,
    Links,
    Events,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Users, Kind::Links, Kind::Events];

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.value() == value)
    }

    /// The form's value.
    pub fn value(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Links => "links",
            Kind::Events => "events",
        }
    }

    /// The label a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Users => "Users",
            Kind::Links => "Links",
            Kind::Events => "Events",
        }
    }

    /// The header line of the kind's files (the old service's exports).
    pub fn header(self) -> &'static str {
        match self {
            Kind::Users => "id,username,email,created_at",
            Kind::Links => {
                "id,user_id,short_code,original_url,title,is_active,created_at,updated_at"
            }
            Kind::Events => "id,url_id,user_id,event_type,timestamp,details",
        }
    }
}

/// An import's error as the page shows it next to the file field.
pub struct FileError {
    pub message: String,
    pub row: Option<u64>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    layout: Layout,
    kinds: [Kind; 3],
    kind: String,
    kind_error: Option<String>,
    file_error: Option<FileError>,
    /// The last import's result: rows and what they were.
    imported: Option<(u64, &'static str)>,
}

impl ImportPage {
    fn new(console: &Console, kind: String) -> Self {
        Self {
            layout: Layout::of(console, "import"),
            kinds: Kind::ALL,
            kind,
            kind_error: None,
            file_error: None,
            imported: None,
        }
    }
}

/// The query of the page shown after an import.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    imported: String,
    #[serde(default)]
    kind: String,
}

/// `GET /ui/import`: the form, and the last import's result.
pub async fn form(console: Console, Query(done): Query<Done>) -> ConsoleResult<Response> {
    guard::admin(&console)?;
    let kind = Kind::parse(&done.kind);
    let mut page = ImportPage::new(&console, kind.unwrap_or(Kind::Users).value().to_owned());
    page.imported = done
        .imported
        .parse::<u64>()
        .ok()
        .zip(kind.map(|k| k.label()));
    Ok(Page::ok(page).into_response())
}

/// Holds the one import slot and reads the upload within the API's limits
/// before the page's handler runs (a 429, 408 or 413 page otherwise).
pub async fn upload_slot(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match crate::limits::take_bulk_upload(&state, request).await {
        Ok((_permit, request)) => next.run(request).await,
        Err(err) => ConsoleError(err).into_response(),
    }
}

/// The form's parts.
#[derive(Debug, Default)]
struct Upload {
    csrf: String,
    kind: String,
    file: Option<Bytes>,
}

async fn read_form(request: Request) -> Result<Upload, ApiError> {
    let mut multipart = import::open_multipart(request, &()).await?;
    let mut form = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("csrf") => form.csrf = field.text().await.map_err(multipart_error)?,
            Some("kind") => form.kind = field.text().await.map_err(multipart_error)?,
            Some("file") => form.file = Some(field.bytes().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /ui/import` (multipart: `csrf`, `kind`, `file`): imports the file
/// and shows how many rows it held, or its error with the API's status.
pub async fn upload(
    State(state): State<AppState>,
    console: Console,
    request: Request,
) -> ConsoleResult<Response> {
    let form = read_form(request).await?;
    guard::check_token(&console, &form.csrf)?;
    let mut page = ImportPage::new(&console, form.kind.clone());
    let Some(kind) = Kind::parse(&form.kind) else {
        let err = ApiError::validation("kind", "must be users, links or events");
        page.kind_error = Some(err.to_string());
        return Ok(Page(err.status(), page).into_response());
    };
    match run(&state, &console, kind, form.file.unwrap_or_default()).await {
        Ok(result) => {
            let target = format!(
                "/ui/import?imported={}&kind={}",
                result.imported,
                kind.value()
            );
            Ok(Redirect::to(&target).into_response())
        }
        Err(err) if err.is_client_error() => {
            let status = err.status();
            page.file_error = Some(FileError {
                message: err.to_string(),
                row: err.row(),
            });
            Ok(Page(status, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// The JSON API's import of `kind`, as the console's caller.
async fn run(
    state: &AppState,
    console: &Console,
    kind: Kind,
    file: Bytes,
) -> Result<ImportResult, ApiError> {
    let upload = CsvUpload::from_file(file)?;
    let actor = console.caller.actor().import();
    match kind {
        Kind::Users => import::users::import(&state.pool, &upload, &state.settings).await,
        Kind::Links => import::urls::import(state, &upload, actor).await,
        Kind::Events => {
            import::events::import(&state.pool, &upload, &state.settings, actor.name()).await
        }
    }
}
