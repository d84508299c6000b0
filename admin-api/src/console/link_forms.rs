//! The link forms: new and edit (the fields, rules and messages
//! of `POST`/`PUT /urls`, through the same functions; a refused form comes
//! back with each message next to its field and what was typed kept), and
//! the helpers the link actions ([`super::link_actions`]) share.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::guard::{Console, ConsoleForm};
use super::page::{ConsoleError, ConsoleResult, FieldErrors, Layout, Page};
use crate::db::urls::{self, UrlRow};
use crate::error::ApiError;
use crate::extract::parse_id;
use crate::http::urls::{CreateUrl, UpdateUrl, create_link, update_link};
use crate::patch::InputTimestamp;
use crate::state::AppState;
use shared::route::{Device, Route, When};

/// The value format of a `datetime-local` input (read as UTC).
const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M";

/// The redirect types the form offers, 302 (the default) first.
const REDIRECT_TYPES: &[(&str, &str)] = &[
    ("302", "302 Found (temporary, the default)"),
    ("301", "301 Moved Permanently"),
    ("307", "307 Temporary Redirect (keeps the method)"),
    ("308", "308 Permanent Redirect (keeps the method)"),
];

/// The form's fields as typed, named as the API's (so its error details
/// land next to them).
#[derive(Debug, Default, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    original_url: String,
    #[serde(default)]
    short_code: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    redirect_type: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    fallback_url: String,
    #[serde(default)]
    max_visits: String,
    #[serde(default)]
    routes: String,
}

impl LinkForm {
    /// Whether `value` is the chosen redirect type.
    pub fn is_redirect(&self, value: &str) -> bool {
        self.redirect_type == value
    }

    /// The form filled with a link's values.
    fn of(row: &UrlRow) -> Self {
        Self {
            original_url: row.original_url.clone(),
            short_code: row.short_code.clone(),
            title: row.title.clone(),
            expires_at: row.expires_at.map(local).unwrap_or_default(),
            redirect_type: row.redirect_type.to_string(),
            user_id: row.user_id.to_string(),
            tags: row.tags.join(", "),
            fallback_url: row.fallback_url.clone().unwrap_or_default(),
            max_visits: row.max_visits.map(|m| m.to_string()).unwrap_or_default(),
            routes: row
                .routes
                .0
                .iter()
                .map(route_line)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The cap typed: none when empty; not a number is the API's 422.
    fn cap(&self) -> Result<Option<i64>, ApiError> {
        match self.max_visits.trim() {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| {
                ApiError::validation("max_visits", "must be a whole number of visits")
            }),
        }
    }

    /// The routing rules typed, one per line: a device (`ios`, `android`,
    /// `desktop`) or a country (`DE`), a space, the URL.
    fn rules(&self) -> Result<Vec<Route>, ApiError> {
        self.routes
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (when, url) = line.split_once(char::is_whitespace).ok_or_else(|| {
                    ApiError::validation(
                        "routes",
                        format!("{line:?}: write a device or country, a space, then the URL"),
                    )
                })?;
                let when = match when {
                    "ios" => When::Device(Device::Ios),
                    "android" => When::Device(Device::Android),
                    "desktop" => When::Device(Device::Desktop),
                    country => When::Country(country.to_owned()),
                };
                Ok(Route {
                    when,
                    url: url.trim().to_owned(),
                })
            })
            .collect()
    }

    /// The fallback typed: none when empty.
    fn fallback(&self) -> Option<String> {
        let value = self.fallback_url.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The tags typed, split at commas and spaces (the API checks each).
    fn tag_list(&self) -> Vec<String> {
        self.tags
            .split([',', ' '])
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The expiry typed: none when empty.
    fn expiry(&self) -> Result<Option<InputTimestamp>, ApiError> {
        let value = self.expires_at.trim();
        if value.is_empty() {
            return Ok(None);
        }
        NaiveDateTime::parse_from_str(value, LOCAL_FORMAT)
            .map(|naive| naive.and_utc())
            .or_else(|_| shared::time::parse(value))
            .map(|at| Some(InputTimestamp(at)))
            .map_err(|_| {
                ApiError::validation(
                    "expires_at",
                    "must be a date and time (UTC), like 2030-01-31T12:00",
                )
            })
    }

    /// The redirect type typed; not a number reads as 0, which the API's
    /// check refuses with its own message.
    fn redirect(&self) -> Option<i64> {
        let value = self.redirect_type.trim();
        (!value.is_empty()).then(|| value.parse().unwrap_or(0))
    }
}

/// A rule as the form writes it: `ios https://…`, `DE https://…`.
pub(super) fn route_line(route: &Route) -> String {
    let when = match &route.when {
        When::Device(Device::Ios) => "ios",
        When::Device(Device::Android) => "android",
        When::Device(Device::Desktop) => "desktop",
        When::Country(code) => code,
    };
    format!("{when} {}", route.url)
}

/// A `datetime-local` value of a UTC time.
fn local(at: DateTime<Utc>) -> String {
    at.format(LOCAL_FORMAT).to_string()
}

/// The messages of a refused form: the API's details by field; an unknown
/// owner next to Owner. Anything else is no field's: `None`.
fn field_errors(err: &ApiError) -> Option<FieldErrors> {
    FieldErrors::of(err).or_else(|| {
        (err.status() == StatusCode::NOT_FOUND && err.to_string() == "user not found")
            .then(|| FieldErrors::one("user_id", err.to_string()))
    })
}

#[derive(Template)]
#[template(path = "link_form.html")]
struct FormPage {
    layout: Layout,
    heading: String,
    action: String,
    button: &'static str,
    /// The link edited (`None` when creating).
    link: Option<i64>,
    owner_field: bool,
    form: LinkForm,
    errors: FieldErrors,
    redirect_types: &'static [(&'static str, &'static str)],
    /// The link's current state, for the actions under the edit form.
    is_active: bool,
}

impl FormPage {
    fn new(console: &Console, link: Option<&UrlRow>, form: LinkForm) -> Self {
        let (heading, action, button) = match link {
            None => ("New link".to_owned(), "/ui/links/new".to_owned(), "Create"),
            Some(row) => (
                format!("Edit {}", row.short_code),
                format!("/ui/links/{}/edit", row.id),
                "Save",
            ),
        };
        Self {
            layout: Layout::of(console, "links"),
            heading,
            action,
            button,
            link: link.map(|row| row.id),
            owner_field: link.is_none() && console.caller.is_unbound(),
            form,
            errors: FieldErrors::default(),
            redirect_types: REDIRECT_TYPES,
            is_active: link.is_none_or(|row| row.is_active),
        }
    }

    /// The form again with the messages of `err`, in its status; an error
    /// of no field is a page of its own.
    fn refused(mut self, err: ApiError) -> ConsoleResult<Response> {
        match field_errors(&err) {
            Some(errors) => {
                self.errors = errors;
                Ok(Page(err.status(), self).into_response())
            }
            None => Err(ConsoleError(err)),
        }
    }
}

/// Refuses pages that only change things to callers that may not.
pub(super) fn writers_only(console: &Console) -> ConsoleResult<()> {
    if console.caller.may_write() {
        Ok(())
    } else {
        Err(ApiError::forbidden("this key is read-only").into())
    }
}

/// The link `raw` names, if the caller sees it (else the 404 page).
pub(super) async fn visible_link(
    state: &AppState,
    console: &Console,
    raw: &str,
) -> ConsoleResult<UrlRow> {
    let id = parse_id(raw).ok_or_else(|| ApiError::not_found("url"))?;
    let row = urls::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("url"))?;
    console.caller.check_sees(row.user_id, "url")?;
    Ok(row)
}

pub(super) fn to_link(id: i64) -> Response {
    Redirect::to(&format!("/ui/links/{id}")).into_response()
}

/// `GET /ui/links/new`.
pub async fn new_form(console: Console) -> ConsoleResult<Response> {
    writers_only(&console)?;
    let form = LinkForm {
        redirect_type: "302".to_owned(),
        ..LinkForm::default()
    };
    Ok(Page::ok(FormPage::new(&console, None, form)).into_response())
}

/// `POST /ui/links/new`: creates the link as `POST /urls` does.
pub async fn create(
    State(state): State<AppState>,
    console: Console,
    ConsoleForm(form): ConsoleForm<LinkForm>,
) -> ConsoleResult<Response> {
    let result = async {
        let user_id = match form.user_id.trim() {
            "" => None,
            raw => Some(
                raw.parse::<i64>()
                    .map_err(|_| ApiError::validation("user_id", "must be a user id"))?,
            ),
        };
        let code = form.short_code.trim();
        let body = CreateUrl {
            user_id,
            original_url: form.original_url.trim().to_owned(),
            title: Some(form.title.clone()),
            short_code: (!code.is_empty()).then(|| code.to_owned()),
            expires_at: form.expiry()?,
            redirect_type: form.redirect(),
            tags: Some(form.tag_list()),
            disabled: None,
            fallback_url: form.fallback(),
            max_visits: form.cap()?,
            routes: Some(form.rules()?),
        };
        create_link(&state, &console.caller, body).await
    }
    .await;
    match result {
        Ok(row) => Ok(to_link(row.id)),
        Err(err) => FormPage::new(&console, None, form).refused(err),
    }
}

/// `GET /ui/links/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
) -> ConsoleResult<Response> {
    writers_only(&console)?;
    let row = visible_link(&state, &console, &id).await?;
    let form = LinkForm::of(&row);
    Ok(Page::ok(FormPage::new(&console, Some(&row), form)).into_response())
}

/// `POST /ui/links/{id}/edit`: changes the link as `PUT /urls/{id}` does.
/// An expiry left as it was is no change (an expired link keeps its past
/// expiry while other fields change).
pub async fn save(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    ConsoleForm(form): ConsoleForm<LinkForm>,
) -> ConsoleResult<Response> {
    let row = visible_link(&state, &console, &id).await?;
    let result = async {
        let unchanged = row.expires_at.map(local).unwrap_or_default() == form.expires_at.trim();
        let body = UpdateUrl {
            title: Some(form.title.clone()),
            is_active: None,
            original_url: Some(form.original_url.trim().to_owned()),
            expires_at: if unchanged {
                None
            } else {
                Some(form.expiry()?)
            },
            redirect_type: form.redirect(),
            tags: Some(form.tag_list()),
            disabled: None,
            fallback_url: Some(form.fallback()),
            max_visits: Some(form.cap()?),
            routes: Some(form.rules()?),
        };
        update_link(&state, &console.caller, row.id, body).await
    }
    .await;
    match result {
        Ok(saved) => Ok(to_link(saved.id)),
        Err(err) => FormPage::new(&console, Some(&row), form).refused(err),
    }
}
