//! A tiny browser for the console's in-process tests: it keeps the session
//! cookie, sends `Host` and (on posts) `Origin` as a browser on the
//! console's own origin would, and reads the form token off the last page.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::{TestApp, TestResponse};

/// The host the tests' console is served on.
pub const HOST: &str = "console.test";

/// The bootstrap admin key the console tests' apps are given.
pub const BOOT: &str = "bootstrap-admin-key-0123456789abcdef";

pub struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
    /// The form token of the last page that had one.
    token: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookie: None,
            token: None,
        }
    }

    /// A browser signed in with `key` (the sign-in must succeed).
    pub async fn signed_in(app: &'a TestApp, key: &str) -> Self {
        let mut browser = Self::new(app);
        let answer = browser.sign_in(key).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "signing in");
        browser
    }

    /// A browser signed in with a new stored key.
    pub async fn with_new_key(app: &'a TestApp, name: &str, role: &str, user: Option<i64>) -> Self {
        let (_, key) = app.create_api_key(name, role, user).await;
        Self::signed_in(app, &key).await
    }

    /// Whether the browser holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookie.is_some()
    }

    pub async fn get(&mut self, uri: &str) -> TestResponse {
        let request = self
            .request(Method::GET, uri)
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// Posts a form with the last page's token (and `Origin`).
    pub async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> TestResponse {
        let token = self.token.clone().unwrap_or_default();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(uri, &all, Some(&format!("http://{HOST}")))
            .await
    }

    /// Posts exactly `fields`, with `origin` if any.
    pub async fn post_raw(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> TestResponse {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .request(Method::POST, uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        self.send(request.body(Body::from(body)).expect("request"))
            .await
    }

    /// Posts a `multipart/form-data` form: the last page's token, `fields`
    /// and the file `file` (its part name, file name and content).
    pub async fn post_multipart(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> TestResponse {
        let token = self.token.clone().unwrap_or_default();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_multipart_raw(uri, &all, file).await
    }

    /// Posts exactly `fields` and `file` as `multipart/form-data` (with
    /// `Origin`), text parts first as a browser sends a form's fields.
    pub async fn post_multipart_raw(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        (name, filename, content): (&str, &str, &[u8]),
    ) -> TestResponse {
        let boundary = "----console-test-boundary-q1w2e3";
        let mut body = Vec::new();
        for (field, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .request(Method::POST, uri)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::ORIGIN, format!("http://{HOST}"))
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// Signs in with `key` from the sign-in page.
    pub async fn sign_in(&mut self, key: &str) -> TestResponse {
        self.get("/ui/login").await;
        let origin = format!("http://{HOST}");
        self.post_raw(
            "/ui/login",
            &[("key", key), ("next", "/ui/")],
            Some(&origin),
        )
        .await
    }

    fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, HOST);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request
    }

    async fn send(&mut self, request: Request<Body>) -> TestResponse {
        let response = self.app.send_request(request).await;
        for set in response.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            if set.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(pair);
            }
        }
        if let Some(token) = form_token(&String::from_utf8_lossy(&response.body)) {
            self.token = Some(token);
        }
        response
    }
}

/// The `csrf` hidden field's value in a page.
pub fn form_token(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)?;
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest.split('"').next().map(str::to_owned)
}

/// A response's body as text.
pub fn text(response: &TestResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The message shown next to `field` on a form, if any.
pub fn field_error(html: &str, field: &str) -> Option<String> {
    let start = format!(r#"<p class="error" id="{field}-error">"#);
    let at = html.find(&start)? + start.len();
    html[at..].split("</p>").next().map(str::to_owned)
}

/// The `href` of the pager's link `rel` (`prev`, `next`) on a page.
pub fn pager_link(page: &TestResponse, rel: &str) -> Option<String> {
    let html = text(page);
    let at = html.find(&format!(r#"rel="{rel}""#))?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    Some(html[start..].split('"').next()?.replace("&#38;", "&"))
}
