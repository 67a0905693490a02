//! The API's one list of endpoints, from which both the router and `/openapi.json` are built, so the spec can
//! never miss a route. DTO schemas come from the DTO types themselves (`schemars`).

use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::auth::Role;
use crate::AppState;

/// Produces the schema of a type, registering its definitions.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a successful call answers.
#[derive(Clone, Copy)]
pub enum Answer {
    /// 200 with a JSON body of this schema.
    Json(SchemaFn),
    /// 200 with a JSON list: a bare array on v1.0, a page on v2.0.
    List(SchemaFn),
    /// 200 with no body.
    Empty,
    /// 200 with a text body (health, metrics, docs).
    Text(&'static str),
    /// 200 with a body in one of these media types (the web pages' files).
    Files(&'static [&'static str]),
}

/// One endpoint: its route and its documentation.
pub struct Endpoint {
    /// HTTP method.
    pub method: axum::http::Method,
    /// Path, with `{name}` parameters.
    pub path: String,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Group in the docs.
    pub tag: &'static str,
    /// Roles that may call it; empty for public endpoints.
    pub roles: Vec<Role>,
    /// The JSON body it takes.
    pub body: Option<SchemaFn>,
    /// True when the body may be left out.
    pub body_optional: bool,
    /// Query parameters besides paging: name, description, schema.
    pub query: Vec<(&'static str, &'static str, Value)>,
    /// The success answer.
    pub answer: Answer,
    /// A switchboard extension, not part of the vendor's API.
    pub extension: bool,
    /// The wire dialect: how the caller presents its key and what error bodies look like.
    pub dialect: Dialect,
    /// When it answers 410 Gone.
    pub gone: Option<&'static str>,
    /// The refusals the vendor documents as 500 (LUCS seed 000), when the endpoint gives any. Any other 500 is a
    /// bug, so the document lists 500 only where this is set.
    pub documented_500: Option<&'static str>,
    /// Other answers of the endpoint (status, when, JSON body schema if any): the errors of a public endpoint
    /// (authenticated endpoints document their dialect's refusals by themselves), or a 304.
    pub other_answers: Vec<(u16, &'static str, Option<SchemaFn>)>,
    /// The handler.
    pub router: MethodRouter<AppState>,
}

/// The wire dialect of an endpoint. The route layer authenticates and answers its refusals in it, so a client of
/// one vendor's API never sees the other's error shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// LUCS (seed 002): the key in the `api_key` header; errors `{"Error":{"Code","Message"}}`.
    #[default]
    Lucs,
    /// Puzzel e-task requests (seed 003): the key as `Authorization: Bearer` or in `api_key`; the path parameter
    /// `customerKey` must name the key's tenant; every answer is the envelope `{"result","code","id","message"}`.
    Puzzel,
}

impl Dialect {
    /// Whether `Authorization: Bearer <key>` is accepted besides the `api_key` header.
    pub fn accepts_bearer(self) -> bool {
        self == Dialect::Puzzel
    }

    /// The path parameter that must name the caller's tenant, if the dialect puts the tenant in the path.
    pub fn tenant_parameter(self) -> Option<&'static str> {
        match self {
            Dialect::Lucs => None,
            Dialect::Puzzel => Some("customerKey"),
        }
    }

    /// An error as this dialect answers it.
    pub fn error_response(self, error: crate::error::ApiError) -> axum::response::Response {
        use axum::response::IntoResponse;
        match self {
            Dialect::Lucs => error.into_response(),
            Dialect::Puzzel => crate::puzzel::PuzzelError::from(error).into_response(),
        }
    }
}

impl Endpoint {
    /// An endpoint with a JSON answer and no body.
    pub fn new(
        method: axum::http::Method,
        path: impl Into<String>,
        tag: &'static str,
        summary: &'static str,
        roles: &[Role],
        answer: Answer,
        router: MethodRouter<AppState>,
    ) -> Endpoint {
        Endpoint {
            method,
            path: path.into(),
            summary,
            tag,
            roles: roles.to_vec(),
            body: None,
            body_optional: false,
            query: Vec::new(),
            answer,
            extension: false,
            dialect: Dialect::Lucs,
            gone: None,
            documented_500: None,
            other_answers: Vec::new(),
            router,
        }
    }

    /// Takes a JSON body.
    pub fn body(mut self, schema: SchemaFn) -> Endpoint {
        self.body = Some(schema);
        self
    }

    /// Takes an optional JSON body.
    pub fn optional_body(mut self, schema: SchemaFn) -> Endpoint {
        self.body = Some(schema);
        self.body_optional = true;
        self
    }

    /// Takes a text query parameter.
    pub fn query(mut self, name: &'static str, description: &'static str) -> Endpoint {
        self.query
            .push((name, description, json!({"type": "string"})));
        self
    }

    /// Takes a query parameter of this schema (an integer with bounds, a boolean).
    pub fn query_of(
        mut self,
        name: &'static str,
        description: &'static str,
        schema: Value,
    ) -> Endpoint {
        self.query.push((name, description, schema));
        self
    }

    /// Answers 410 Gone in this case.
    pub fn gone(mut self, description: &'static str) -> Endpoint {
        self.gone = Some(description);
        self
    }

    /// Answers 500 for these vendor-documented refusals.
    pub fn documented_500(mut self, description: &'static str) -> Endpoint {
        self.documented_500 = Some(description);
        self
    }

    /// A public endpoint's error answer: its status, when it is given, and its JSON body.
    pub fn refusal(mut self, status: u16, description: &'static str, schema: SchemaFn) -> Endpoint {
        self.other_answers.push((status, description, Some(schema)));
        self
    }

    /// An answer with no body, such as 304 Not Modified.
    pub fn bodiless(mut self, status: u16, description: &'static str) -> Endpoint {
        self.other_answers.push((status, description, None));
        self
    }

    /// Marks it a switchboard extension.
    pub fn extension(mut self) -> Endpoint {
        self.extension = true;
        self
    }

    /// Speaks the Puzzel dialect (bearer key, tenant in the path, reply envelope).
    pub fn puzzel(mut self) -> Endpoint {
        self.dialect = Dialect::Puzzel;
        self
    }
}

/// The `{"Error":{"Code","Message"}}` body of every error.
#[derive(JsonSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(JsonSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct ErrorDetail {
    /// PascalCase error code, such as `TaskNotFound` or `Unauthorized`.
    code: String,
    /// What went wrong, for people.
    message: String,
}

fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

fn parameter_description(name: &str) -> &'static str {
    match name {
        "task" => "Task id or ExternalTaskId",
        "user" => "User id, SIP URI (with or without sip:), UPN or e-mail; case-insensitive",
        "service" => "Service id or SIP URI",
        "customerKey" => "The customer (tenant); must be the tenant of the caller's key",
        "requestId" => "The request id: an integer, unique in the tenant",
        "accessPoint" => "The access point's name, case-insensitive",
        "webhook" => "The webhook subscription's id",
        _ => "Identifier",
    }
}

/// Builds the OpenAPI 3.0 document of the endpoints.
pub fn document(endpoints: &[Endpoint]) -> Value {
    let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
        s.definitions_path = "/components/schemas/".into();
    });
    let mut generator = settings.into_generator();
    let error_schema =
        serde_json::to_value(generator.subschema_for::<ErrorBody>()).unwrap_or(Value::Null);
    let puzzel_error_schema =
        serde_json::to_value(generator.subschema_for::<crate::puzzel::ErrorReply>())
            .unwrap_or(Value::Null);
    let mut paths: Map<String, Value> = Map::new();
    for endpoint in endpoints {
        let mut parameters: Vec<Value> = path_parameters(&endpoint.path)
            .iter()
            .map(|name| {
                let schema = if name == "requestId" {
                    json!({"type": "integer", "format": "int64", "minimum": 1})
                } else {
                    json!({"type": "string"})
                };
                json!({"name": name, "in": "path", "required": true,
                       "description": parameter_description(name), "schema": schema})
            })
            .collect();
        for (name, description, schema) in &endpoint.query {
            parameters.push(json!({"name": name, "in": "query", "required": false,
                                   "description": description, "schema": schema}));
        }
        let success = match endpoint.answer {
            Answer::Json(schema) => {
                let schema = serde_json::to_value(schema(&mut generator)).unwrap_or(Value::Null);
                json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
            }
            Answer::List(schema) => {
                let item = serde_json::to_value(schema(&mut generator)).unwrap_or(Value::Null);
                if endpoint.path.starts_with("/v2.0/") {
                    parameters.push(json!({"name": "page", "in": "query", "required": false,
                        "description": "1-based page number (default 1)", "schema": {"type": "integer", "minimum": 1}}));
                    parameters.push(json!({"name": "pageSize", "in": "query", "required": false,
                        "description": "Items per page (default 100, at most 1000)",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}));
                    json!({"description": "One page", "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["Items", "Page", "PageSize", "TotalCount"],
                        "properties": {
                            "Items": {"type": "array", "items": item},
                            "Page": {"type": "integer"},
                            "PageSize": {"type": "integer"},
                            "TotalCount": {"type": "integer"}
                        }
                    }}}})
                } else {
                    json!({"description": "All items", "content": {"application/json": {"schema": {
                        "type": "array", "items": item}}}})
                }
            }
            Answer::Empty => json!({"description": "OK, no body"}),
            Answer::Text(media) => {
                json!({"description": "OK", "content": {media: {"schema": {"type": "string"}}}})
            }
            Answer::Files(media_types) => {
                let content: Map<String, Value> = media_types
                    .iter()
                    .map(|media| (media.to_string(), json!({"schema": {"type": "string"}})))
                    .collect();
                json!({"description": "OK", "content": content})
            }
        };
        let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error_schema}}});
        let mut responses = Map::new();
        responses.insert("200".into(), success);
        if !endpoint.roles.is_empty() && endpoint.dialect == Dialect::Puzzel {
            for (status, description) in crate::puzzel::DOCUMENTED_ERRORS {
                responses.insert(
                    status.to_string(),
                    json!({"description": description,
                           "content": {"application/json": {"schema": puzzel_error_schema}}}),
                );
            }
        } else if !endpoint.roles.is_empty() {
            responses.insert(
                "400".into(),
                error("The body or a parameter cannot be read"),
            );
            responses.insert(
                "401".into(),
                error("Missing, unknown, revoked or expired api_key, or a role that does not cover the endpoint"),
            );
            responses.insert("404".into(), error("An identifier names nothing"));
            responses.insert("409".into(), error("Conflicts with the current state"));
            if let Some(description) = endpoint.gone {
                responses.insert("410".into(), error(description));
            }
            responses.insert(
                "413".into(),
                error("The body is larger than the limit (1 MiB by default, --max-body-bytes)"),
            );
            responses.insert(
                "431".into(),
                error("The request line and headers are larger than the limit (16 KiB by default)"),
            );
            if endpoint.body.is_some() {
                responses.insert(
                    "415".into(),
                    error("The body is not sent as JSON (Content-Type: application/json)"),
                );
            }
            responses.insert(
                "422".into(),
                error("A value is well-formed but not acceptable"),
            );
            responses.insert(
                "429".into(),
                error("Rate or burst limit of the key exceeded, the key holds its most open requests and streams, or the tenant its most live tasks (docs/limits.md); see Retry-After"),
            );
            if let Some(description) = endpoint.documented_500 {
                responses.insert("500".into(), error(description));
            }
            responses.insert(
                "503".into(),
                error("The server sheds load it cannot serve (Overloaded), or the change could not be stored and was not applied; retry after Retry-After"),
            );
        }
        for (status, description, schema) in &endpoint.other_answers {
            let answer = match schema {
                Some(schema) => {
                    let schema =
                        serde_json::to_value(schema(&mut generator)).unwrap_or(Value::Null);
                    json!({"description": description, "content": {"application/json": {"schema": schema}}})
                }
                None => json!({"description": description}),
            };
            responses.insert(status.to_string(), answer);
        }
        let roles: Vec<&str> = endpoint.roles.iter().map(|r| r.name()).collect();
        let mut description = if roles.is_empty() {
            "No API key needed.".to_string()
        } else {
            format!("Roles: {}.", roles.join(", "))
        };
        if endpoint.extension {
            description.push_str(" switchboard extension: not part of the vendor's API.");
        }
        let operation_id = format!(
            "{}{}",
            endpoint.method.as_str().to_lowercase(),
            endpoint
                .path
                .split(['/', '.', '{', '}'])
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let mut chars = s.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>()
        );
        let mut operation = json!({
            "summary": endpoint.summary,
            "description": description,
            "operationId": operation_id,
            "tags": [endpoint.tag],
            "parameters": parameters,
            "responses": responses,
        });
        if endpoint.roles.is_empty() {
            operation["security"] = json!([]);
        } else if endpoint.dialect.accepts_bearer() {
            operation["security"] = json!([{"api_key": []}, {"bearer": []}]);
        }
        if endpoint.extension {
            operation["x-switchboard-extension"] = json!(true);
        }
        if let Some(body) = endpoint.body {
            let schema = serde_json::to_value(body(&mut generator)).unwrap_or(Value::Null);
            operation["requestBody"] = json!({
                "required": !endpoint.body_optional,
                "content": {"application/json": {"schema": schema}}
            });
        }
        paths
            .entry(endpoint.path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item is an object")
            .insert(endpoint.method.as_str().to_lowercase(), operation);
    }
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "switchboard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A contact-center routing engine. The LUCS-compatible REST API (v1.0 and v2.0), the \
                Puzzel-compatible e-task requests (`/{customerKey}/requests`) and switchboard's extensions. Every \
                request but the public ones carries the header `api_key` (Puzzel requests may send the key as \
                `Authorization: Bearer` instead). LUCS errors answer {\"Error\":{\"Code\",\"Message\"}}; \
                Puzzel requests answer {\"result\",\"code\",\"id\",\"message\"}, errors with a non-zero code."
        },
        "servers": [{"url": "/"}],
        "security": [{"api_key": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "api_key": {"type": "apiKey", "in": "header", "name": "api_key"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API key as a bearer token (Puzzel e-task requests only)"}
            },
            "schemas": schemas
        }
    })
}
