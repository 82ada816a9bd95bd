//! The error answers every operation can give, added to the OpenAPI document in one place so
//! that no operation forgets one (a generated client then knows every status it may see).

use utoipa::Modify as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, ResponseBuilder};

use crate::ErrorBody;

/// Adds the shared error responses to every operation under `prefix`, keeping any an
/// operation documents itself:
///
/// - every operation: 500 (opaque), 503 (overloaded, timed out, dependency down;
///   `Retry-After`);
/// - with a security requirement: 401 (no or bad token) and 403 (missing scope);
/// - with parameters: 400 (a path or query value that does not parse), and 404 when a path
///   names a resource;
/// - with a request body: 413 (too large), 415 (wrong content type), 422 (well-formed but
///   invalid), 400 (malformed).
#[derive(Debug, Clone, Copy)]
pub struct StandardErrors {
    pub prefix: &'static str,
}

impl utoipa::Modify for StandardErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .entry("ErrorBody".to_owned())
            .or_insert_with(<ErrorBody as utoipa::PartialSchema>::schema);
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with(self.prefix) {
                continue;
            }
            let path_has_parameters = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(operation, path_has_parameters);
            }
        }
    }
}

fn add_errors(operation: &mut Operation, path_has_parameters: bool) {
    let mut statuses: Vec<(&str, &str)> = vec![
        (
            "500",
            "Internal error (opaque; the cause is in the server log)",
        ),
        (
            "503",
            "Overloaded, timed out or a dependency is down: retry after `Retry-After` seconds",
        ),
    ];
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        statuses.push(("401", "Missing, malformed, expired or unverifiable token"));
        statuses.push(("403", "The token lacks the scope this operation needs"));
    }
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if has_parameters || operation.request_body.is_some() {
        statuses.push(("400", "A path, query or body value that does not parse"));
    }
    if path_has_parameters {
        statuses.push(("404", "What the path names does not exist"));
    }
    if operation.request_body.is_some() {
        statuses.push(("413", "The body is larger than this operation accepts"));
        statuses.push(("415", "The body's content type is not the one documented"));
        statuses.push((
            "422",
            "A well-formed body that breaks a rule (the field is named)",
        ));
    }
    for (status, description) in statuses {
        if !operation.responses.responses.contains_key(status) {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// The `bearer` security scheme (a JWT) every Velocast API declares.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// A service's whole document: its API's and its operations' paths, plus the error answers
/// every `/v1` and `/v2` operation can give ([`StandardErrors`]).
pub fn complete(mut api: OpenApi, operations: OpenApi) -> OpenApi {
    api.merge(operations);
    StandardErrors { prefix: "/v1/" }.modify(&mut api);
    StandardErrors { prefix: "/v2" }.modify(&mut api);
    api
}
