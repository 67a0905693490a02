//! The Puzzel wire formats that need no engine: RequestAdd's body and the JSON object serialised in its `data`
//! string, the update and delete bodies, media types, and the date-time and duration strings RequestGet answers.
//!
//! Clients of the vendor's API are many and loosely typed, so reading is lenient where it cannot change the
//! meaning (field names in any case, numbers sent as strings, `requestUpdateObject` wrapped or not) and strict
//! where it could (a negative wait, a fraction, a score out of range). Nothing here panics, whatever the input.

use serde_json::{Map, Value};
use switchboard_core::{Span, TaskKind, Time};

/// The longest a request may be held for a reserved user, in seconds (30 days); more is taken for a mistake.
pub const MAX_RESERVATION_SECONDS: i64 = 30 * 86_400;

/// Why a body cannot be used. Each maps to one documented error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The body is not JSON or lacks a required field (400, code 40001).
    Body(String),
    /// RequestAdd's `data` is not a JSON object serialised in a string, or lacks `To` (400, code 40002).
    Data(String),
    /// A value is well-formed but not acceptable (422, code 42201).
    Invalid(String),
}

/// Who a request is reserved for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    /// A Puzzel user id: the agent's integer id.
    Number(u32),
    /// switchboard extension: the agent's id, SIP URI, UPN or e-mail.
    Identifier(String),
}

/// The media types of seed 003.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// Anything else: a generic e-task.
    Undefined,
    /// A phone call.
    Phone,
    /// An e-mail.
    EMail,
    /// A text message conversation.
    Sms,
    /// A web form or web request.
    Web,
    /// A chat.
    Chat,
    /// A social-media conversation.
    Social,
}

impl MediaType {
    /// Every media type, in the order seed 003 lists them.
    pub const ALL: [MediaType; 7] = [
        MediaType::Undefined,
        MediaType::Phone,
        MediaType::EMail,
        MediaType::Sms,
        MediaType::Web,
        MediaType::Chat,
        MediaType::Social,
    ];

    /// The name RequestGet answers.
    pub fn name(self) -> &'static str {
        match self {
            MediaType::Undefined => "Undefined",
            MediaType::Phone => "Phone",
            MediaType::EMail => "EMail",
            MediaType::Sms => "Sms",
            MediaType::Web => "Web",
            MediaType::Chat => "Chat",
            MediaType::Social => "Social",
        }
    }

    /// Reads RequestAdd's `type`: a media type name or a common alias (`mail`, `email`, `call`, `task`...), in any
    /// case.
    pub fn parse(type_name: &str) -> Option<MediaType> {
        let wanted = type_name.trim().to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "mail" | "email" | "e-mail" => Some(MediaType::EMail),
            "phone" | "call" | "voice" => Some(MediaType::Phone),
            "task" | "etask" | "e-task" => Some(MediaType::Undefined),
            _ => None,
        };
        alias.or_else(|| {
            MediaType::ALL
                .into_iter()
                .find(|media| media.name().eq_ignore_ascii_case(&wanted))
        })
    }

    /// The kind of engine task a request of this media type becomes, which decides its channel: text
    /// conversations (SMS, social) share the chat channel and its capacity; web and undefined requests are
    /// generic e-tasks.
    pub fn task_kind(self) -> TaskKind {
        match self {
            MediaType::EMail => TaskKind::Mail,
            MediaType::Phone => TaskKind::Call,
            MediaType::Chat | MediaType::Sms | MediaType::Social => TaskKind::Chat,
            MediaType::Web | MediaType::Undefined => TaskKind::External,
        }
    }

    /// The media type of a task that did not come through this API (a LUCS task, say).
    pub fn of_kind(kind: TaskKind) -> MediaType {
        match kind {
            TaskKind::Mail => MediaType::EMail,
            TaskKind::Call | TaskKind::Callback => MediaType::Phone,
            TaskKind::Chat => MediaType::Chat,
            TaskKind::External | TaskKind::Block => MediaType::Undefined,
        }
    }
}

/// The JSON object serialised in RequestAdd's `data`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestData {
    /// `From`: the sender, which becomes the task's customer.
    pub from: Option<String>,
    /// `To`: the access point; never empty.
    pub to: String,
    /// `Subject`: what the task is about.
    pub subject: Option<String>,
    /// `Uri`: where the agent finds the work.
    pub uri: Option<String>,
    /// `VipScore`: the priority (0 when not given).
    pub vip_score: i32,
    /// `reservedUserId` and `reservedUserWaitTime` in seconds; `None` without a user (or user 0) or with a
    /// wait of zero.
    pub reservation: Option<(UserRef, i64)>,
    /// Name/value variables: the `Variables` list or object, and every other field of `data`, in order.
    pub variables: Vec<(String, String)>,
}

/// RequestAdd's body: `{"data": "<JSON object as a string>", "type": "mail", "version": "1.0"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddBody {
    /// The parsed `data`.
    pub data: RequestData,
    /// `type`; `mail` when left out.
    pub media: MediaType,
}

/// RequestUpdate's `requestUpdateObject`: every field is optional; a field left out (or null) is not changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestUpdate {
    /// `vipScore`: the new priority.
    pub vip_score: Option<i32>,
    /// `reservedUserId`: `Some(None)` for 0, which removes the reservation.
    pub reserved_user: Option<Option<UserRef>>,
    /// `reservedSecondsFromNow`: the new reservation window.
    pub reserved_seconds: Option<i64>,
    /// `additionalInfoSubject`: the new subject.
    pub subject: Option<String>,
    /// `additionalInfoUri`: the new URI.
    pub uri: Option<String>,
}

impl RequestUpdate {
    /// True when the update names nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == RequestUpdate::default()
    }
}

/// The field of an object with this name: exactly, else ignoring ASCII case. Null counts as absent.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
}

/// A scalar as text: strings as they are, numbers and booleans printed.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn text_field(object: &Map<String, Value>, name: &str) -> Result<Option<String>, InputError> {
    match field(object, name) {
        None => Ok(None),
        Some(value) => scalar_text(value)
            .map(Some)
            .ok_or_else(|| InputError::Invalid(format!("'{name}' must be text"))),
    }
}

/// True for an optionally signed run of decimal digits.
fn is_decimal(text: &str) -> bool {
    let digits = text.trim().trim_start_matches(['-', '+']);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An integer given as a JSON number without a fraction, or as a string holding one.
fn integer_field(object: &Map<String, Value>, name: &str) -> Result<Option<i64>, InputError> {
    let not_integer = || InputError::Invalid(format!("'{name}' must be a whole number"));
    match field(object, name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(integer) = number.as_i64() {
                return Ok(Some(integer));
            }
            if number.as_u64().is_some() {
                return Err(InputError::Invalid(format!("'{name}' is out of range")));
            }
            match number.as_f64() {
                Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => {
                    Ok(Some(float as i64))
                }
                Some(float) if float.fract() == 0.0 => {
                    Err(InputError::Invalid(format!("'{name}' is out of range")))
                }
                _ => Err(not_integer()),
            }
        }
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => text.trim().parse::<i64>().map(Some).map_err(|_| {
            if is_decimal(text) {
                InputError::Invalid(format!("'{name}' is out of range"))
            } else {
                not_integer()
            }
        }),
        Some(_) => Err(not_integer()),
    }
}

fn priority_field(object: &Map<String, Value>, name: &str) -> Result<Option<i32>, InputError> {
    integer_field(object, name)?
        .map(|score| {
            i32::try_from(score).map_err(|_| {
                InputError::Invalid(format!(
                    "'{name}' {score} is out of range ({} to {})",
                    i32::MIN,
                    i32::MAX
                ))
            })
        })
        .transpose()
}

/// `reservedUserId`: a positive integer (0 or empty means none), or an agent identifier as text.
fn user_field(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<Option<UserRef>>, InputError> {
    let identifier = match field(object, name) {
        None => return Ok(None),
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(Some(None));
            }
            (!is_decimal(text)).then(|| text.to_string())
        }
        Some(_) => None,
    };
    if let Some(identifier) = identifier {
        return Ok(Some(Some(UserRef::Identifier(identifier))));
    }
    match integer_field(object, name)? {
        None | Some(0) => Ok(Some(None)),
        Some(number) if number < 0 => Err(InputError::Invalid(format!(
            "'{name}' must not be negative"
        ))),
        Some(number) => u32::try_from(number)
            .map(|n| Some(Some(UserRef::Number(n))))
            .map_err(|_| InputError::Invalid(format!("'{name}' {number} is out of range"))),
    }
}

/// A number of seconds: not negative and at most `MAX_RESERVATION_SECONDS`.
fn seconds_field(object: &Map<String, Value>, name: &str) -> Result<Option<i64>, InputError> {
    match integer_field(object, name)? {
        Some(seconds) if seconds < 0 => Err(InputError::Invalid(format!(
            "'{name}' must not be negative"
        ))),
        Some(seconds) if seconds > MAX_RESERVATION_SECONDS => Err(InputError::Invalid(format!(
            "'{name}' must be at most {MAX_RESERVATION_SECONDS} seconds (30 days)"
        ))),
        other => Ok(other),
    }
}

/// A variable's value as text: scalars printed, null empty, lists and objects as JSON.
fn variable_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
        scalar => scalar_text(scalar).unwrap_or_default(),
    }
}

fn push_variable(variables: &mut Vec<(String, String)>, name: String, value: String) {
    match variables.iter_mut().find(|(known, _)| *known == name) {
        Some(entry) => entry.1 = value,
        None => variables.push((name, value)),
    }
}

/// `Variables`: a list of `{"Name": .., "Value": ..}` (also `Key` for the name), or an object of names to values.
fn read_variables(value: &Value, variables: &mut Vec<(String, String)>) -> Result<(), InputError> {
    match value {
        Value::Null => Ok(()),
        Value::Object(map) => {
            // As in the list, a variable needs a name: a blank one is ignored.
            for (name, value) in map.iter().filter(|(name, _)| !name.trim().is_empty()) {
                push_variable(variables, name.clone(), variable_text(value));
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                let Value::Object(entry) = item else {
                    return Err(InputError::Invalid(
                        "each entry of 'Variables' must be an object with a Name and a Value"
                            .into(),
                    ));
                };
                let name = field(entry, "Name")
                    .or_else(|| field(entry, "Key"))
                    .and_then(scalar_text)
                    .filter(|name| !name.trim().is_empty())
                    .ok_or_else(|| {
                        InputError::Invalid("each entry of 'Variables' needs a Name".into())
                    })?;
                let value = field(entry, "Value").map(variable_text).unwrap_or_default();
                push_variable(variables, name, value);
            }
            Ok(())
        }
        _ => Err(InputError::Invalid(
            "'Variables' must be a list of {Name, Value} or an object".into(),
        )),
    }
}

/// The fields of `data` with a meaning of their own; any other field is a variable.
const DATA_FIELDS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Uri",
    "VipScore",
    "reservedUserId",
    "reservedUserWaitTime",
    "Variables",
];

/// Reads the object of `data`.
pub fn request_data(object: &Map<String, Value>) -> Result<RequestData, InputError> {
    let to = text_field(object, "To")?
        .map(|to| to.trim().to_string())
        .filter(|to| !to.is_empty())
        .ok_or_else(|| {
            InputError::Data(
                "'data' needs 'To': the access point the request is for, such as an e-mail address"
                    .into(),
            )
        })?;
    let vip_score = priority_field(object, "VipScore")?.unwrap_or(0);
    let user = user_field(object, "reservedUserId")?.flatten();
    let wait = seconds_field(object, "reservedUserWaitTime")?;
    let reservation = match (user, wait) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(InputError::Invalid(
                "'reservedUserWaitTime' is required with 'reservedUserId': how many seconds the request is \
                 held for that user"
                    .into(),
            ))
        }
        (Some(_), Some(0)) => None,
        (Some(user), Some(seconds)) => Some((user, seconds)),
    };
    let mut variables = Vec::new();
    if let Some(list) = field(object, "Variables") {
        read_variables(list, &mut variables)?;
    }
    for (name, value) in object {
        // A field with a blank name names no variable (the `Variables` list refuses such a name; found by the
        // round-trip property): it is ignored.
        if !name.trim().is_empty()
            && !DATA_FIELDS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(name))
        {
            push_variable(&mut variables, name.clone(), variable_text(value));
        }
    }
    Ok(RequestData {
        from: text_field(object, "From")?.filter(|from| !from.trim().is_empty()),
        to,
        subject: text_field(object, "Subject")?,
        uri: text_field(object, "Uri")?,
        vip_score,
        reservation,
        variables,
    })
}

/// Reads `data` as the vendor sends it: a JSON object serialised in a string.
pub fn parse_data(text: &str) -> Result<RequestData, InputError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| InputError::Data(format!("'data' is not valid JSON: {error}")))?;
    match value {
        Value::Object(object) => request_data(&object),
        _ => Err(InputError::Data(
            "'data' must hold a JSON object such as {\"To\": \"support@example.com\"}".into(),
        )),
    }
}

fn body_object(bytes: &[u8]) -> Result<Map<String, Value>, InputError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(InputError::Body("The body must be a JSON object.".into())),
        Err(error) => Err(InputError::Body(format!(
            "The body is not valid JSON: {error}"
        ))),
    }
}

/// Reads RequestAdd's body. `data` is a string holding a JSON object (an object itself is accepted too); `type`
/// defaults to `mail`; `version` is not checked (the vendor has only 1.0).
pub fn parse_add_body(bytes: &[u8]) -> Result<AddBody, InputError> {
    let object = body_object(bytes)?;
    let data = match field(&object, "data") {
        None => {
            return Err(InputError::Body(
                "'data' is required: the request as a JSON object in a string".into(),
            ))
        }
        Some(Value::String(text)) => parse_data(text)?,
        Some(Value::Object(inner)) => request_data(inner)?,
        Some(_) => {
            return Err(InputError::Data(
                "'data' must be a string holding a JSON object".into(),
            ))
        }
    };
    let media = match field(&object, "type") {
        None => MediaType::EMail,
        Some(Value::String(name)) if name.trim().is_empty() => MediaType::EMail,
        Some(Value::String(name)) => MediaType::parse(name).ok_or_else(|| {
            InputError::Invalid(format!(
                "unknown type '{name}' (one of mail, phone, sms, web, chat, social, undefined)"
            ))
        })?,
        Some(_) => return Err(InputError::Invalid("'type' must be text".into())),
    };
    Ok(AddBody { data, media })
}

/// Reads RequestUpdate's body: the `requestUpdateObject`, wrapped in an object of that name or not.
pub fn parse_update_body(bytes: &[u8]) -> Result<RequestUpdate, InputError> {
    let outer = body_object(bytes)?;
    let object = match field(&outer, "requestUpdateObject") {
        Some(Value::Object(inner)) => inner,
        Some(_) => {
            return Err(InputError::Body(
                "'requestUpdateObject' must be an object".into(),
            ))
        }
        None => &outer,
    };
    let update = RequestUpdate {
        vip_score: priority_field(object, "vipScore")?,
        reserved_user: user_field(object, "reservedUserId")?,
        reserved_seconds: seconds_field(object, "reservedSecondsFromNow")?,
        subject: text_field(object, "additionalInfoSubject")?,
        uri: text_field(object, "additionalInfoUri")?,
    };
    if update.is_empty() {
        return Err(InputError::Body(
            "Nothing to update: give vipScore, reservedUserId, reservedSecondsFromNow, additionalInfoSubject or \
             additionalInfoUri."
                .into(),
        ));
    }
    Ok(update)
}

fn flag(value: &Value) -> Result<bool, InputError> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.trim().eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(InputError::Invalid(
            "'forceDelete' must be true or false".into(),
        )),
    }
}

/// Reads RequestDelete's optional body: `{"forceDelete": true}`, also wrapped as `{"RequestDelete": {...}}`.
/// An empty body means no force.
pub fn parse_delete_body(bytes: &[u8]) -> Result<bool, InputError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let outer = body_object(bytes)?;
    let object = match field(&outer, "RequestDelete") {
        Some(Value::Object(inner)) => inner,
        Some(_) => return Err(InputError::Body("'RequestDelete' must be an object".into())),
        None => &outer,
    };
    field(object, "forceDelete").map(flag).unwrap_or(Ok(false))
}

/// A date-time as RequestGet answers it: ISO 8601 in UTC with milliseconds, `2019-06-27T11:58:35.499Z`.
pub fn date_time(time: Time) -> String {
    let micros = time.as_micros();
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (year, month, day) = crate::lucs::dto::civil_from_days(days);
    let seconds = rem / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        rem % 1_000_000 / 1000
    )
}

/// A duration as .NET's `TimeSpan` prints it (`c` format): `hh:mm:ss`, with a day count in front from one day
/// on (`1.02:03:04`).
pub fn duration(span: Span) -> String {
    let seconds = span.as_secs().max(0);
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if days > 0 {
        format!("{days}.{hours:02}:{minutes:02}:{secs:02}")
    } else {
        format!("{hours:02}:{minutes:02}:{secs:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_seed_example_parses() {
        let body = json!({
            "data": "{\"From\":\"sender@emailaddress.com\",\"To\":\"email@youraccesspoint.com\",\"Subject\":\"YourSubject\",\"Uri\":\"http://YourCRMDomain.com\",\"VipScore\": 100, \"reservedUserId\": 123456, \"reservedUserWaitTime\": 3600}",
            "type": "mail",
            "version": "1.0"
        });
        let parsed = parse_add_body(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.media, MediaType::EMail);
        assert_eq!(
            parsed.data,
            RequestData {
                from: Some("sender@emailaddress.com".into()),
                to: "email@youraccesspoint.com".into(),
                subject: Some("YourSubject".into()),
                uri: Some("http://YourCRMDomain.com".into()),
                vip_score: 100,
                reservation: Some((UserRef::Number(123_456), 3600)),
                variables: Vec::new(),
            }
        );
    }

    #[test]
    fn variables_come_from_the_list_the_object_and_unknown_fields() {
        let data = parse_data(
            r#"{"to":" queue@x.com ","vipscore":"7","Variables":[{"Name":"Case","Value":42},{"Key":"Lang","Value":"en"}],
                "CustomerId":"c-1","Tags":["a","b"]}"#,
        )
        .unwrap();
        assert_eq!(data.to, "queue@x.com");
        assert_eq!(data.vip_score, 7);
        assert_eq!(
            data.variables,
            vec![
                ("Case".to_string(), "42".to_string()),
                ("Lang".to_string(), "en".to_string()),
                ("CustomerId".to_string(), "c-1".to_string()),
                ("Tags".to_string(), "[\"a\",\"b\"]".to_string()),
            ]
        );
        // A field with a blank name is no variable.
        let data = parse_data(r#"{"To":"q","":1," ":2,"reservedSecondsFromNow":null}"#).unwrap();
        assert_eq!(
            data.variables,
            vec![("reservedSecondsFromNow".to_string(), String::new())]
        );
        let data = parse_data(r#"{"To":"q","Variables":{"A":"1","B":null}}"#).unwrap();
        assert_eq!(
            data.variables,
            vec![("A".into(), "1".into()), ("B".into(), String::new())]
        );
    }

    #[test]
    fn bad_data_is_named() {
        let data_error = |text: &str| match parse_data(text) {
            Err(InputError::Data(message)) => message,
            other => panic!("{text}: {other:?}"),
        };
        assert!(data_error("{not json").contains("not valid JSON"));
        assert!(data_error("[1,2]").contains("JSON object"));
        assert!(data_error(r#"{"From":"a@b"}"#).contains("'To'"));
        assert!(data_error(r#"{"To":"   "}"#).contains("'To'"));
        let invalid = |text: &str| match parse_data(text) {
            Err(InputError::Invalid(message)) => message,
            other => panic!("{text}: {other:?}"),
        };
        assert!(
            invalid(r#"{"To":"q","reservedUserId":5,"reservedUserWaitTime":-1}"#)
                .contains("negative")
        );
        assert!(invalid(r#"{"To":"q","reservedUserWaitTime":-1}"#).contains("negative"));
        assert!(invalid(r#"{"To":"q","reservedUserId":5}"#).contains("required"));
        assert!(
            invalid(r#"{"To":"q","reservedUserId":-5,"reservedUserWaitTime":1}"#)
                .contains("negative")
        );
        assert!(invalid(r#"{"To":"q","VipScore":1.5}"#).contains("whole number"));
        assert!(invalid(r#"{"To":"q","VipScore":3000000000}"#).contains("out of range"));
        assert!(invalid(r#"{"To":"q","VipScore":"high"}"#).contains("whole number"));
        assert!(invalid(r#"{"To":"q","Subject":{"a":1}}"#).contains("text"));
        assert!(invalid(r#"{"To":"q","Variables":[{"Value":"x"}]}"#).contains("Name"));
        assert!(
            invalid(r#"{"To":"q","reservedUserId":1,"reservedUserWaitTime":2592001}"#)
                .contains("30 days")
        );
    }

    #[test]
    fn reservations_need_a_user_and_a_wait() {
        let data = parse_data(r#"{"To":"q","reservedUserId":0,"reservedUserWaitTime":0}"#).unwrap();
        assert_eq!(data.reservation, None);
        let data =
            parse_data(r#"{"To":"q","reservedUserId":"12","reservedUserWaitTime":"30"}"#).unwrap();
        assert_eq!(data.reservation, Some((UserRef::Number(12), 30)));
        let data =
            parse_data(r#"{"To":"q","reservedUserId":"sip:a@b","reservedUserWaitTime":30.0}"#)
                .unwrap();
        assert_eq!(
            data.reservation,
            Some((UserRef::Identifier("sip:a@b".into()), 30))
        );
        let data = parse_data(r#"{"To":"q","reservedUserId":7,"reservedUserWaitTime":0}"#).unwrap();
        assert_eq!(data.reservation, None, "a wait of zero holds nothing");
    }

    #[test]
    fn add_bodies_and_types() {
        let add = |body: Value| parse_add_body(body.to_string().as_bytes());
        assert_eq!(
            add(json!({"data": {"To": "q"}})).unwrap().media,
            MediaType::EMail
        );
        assert_eq!(
            add(json!({"Data": "{\"To\":\"q\"}", "Type": "SMS"}))
                .unwrap()
                .media,
            MediaType::Sms
        );
        assert_eq!(
            add(json!({"data": "{\"To\":\"q\"}", "type": "phone"}))
                .unwrap()
                .media
                .task_kind(),
            TaskKind::Call
        );
        assert!(matches!(
            add(json!({"data": "{\"To\":\"q\"}", "type": "fax"})),
            Err(InputError::Invalid(_))
        ));
        assert!(matches!(
            add(json!({"type": "mail"})),
            Err(InputError::Body(_))
        ));
        assert!(matches!(add(json!({"data": 5})), Err(InputError::Data(_))));
        assert!(matches!(
            parse_add_body(b"{\"data\": "),
            Err(InputError::Body(_))
        ));
        for media in MediaType::ALL {
            assert_eq!(MediaType::parse(media.name()), Some(media));
        }
    }

    #[test]
    fn update_and_delete_bodies() {
        let update = parse_update_body(
            br#"{"requestUpdateObject":{"vipScore":0,"reservedUserId":0,"reservedSecondsFromNow":0,"additionalInfoSubject":"urgent","additionalInfoUri":"http://crm/2"}}"#,
        )
        .unwrap();
        assert_eq!(
            update,
            RequestUpdate {
                vip_score: Some(0),
                reserved_user: Some(None),
                reserved_seconds: Some(0),
                subject: Some("urgent".into()),
                uri: Some("http://crm/2".into()),
            }
        );
        assert_eq!(
            parse_update_body(br#"{"VipScore": 9}"#).unwrap().vip_score,
            Some(9)
        );
        assert!(matches!(parse_update_body(b"{}"), Err(InputError::Body(_))));
        assert!(matches!(
            parse_update_body(br#"{"reservedSecondsFromNow": -3}"#),
            Err(InputError::Invalid(_))
        ));
        assert_eq!(parse_delete_body(b""), Ok(false));
        assert_eq!(parse_delete_body(br#"{"forceDelete": true}"#), Ok(true));
        assert_eq!(
            parse_delete_body(br#"{"RequestDelete": {"forceDelete": "true"}}"#),
            Ok(true)
        );
        assert_eq!(parse_delete_body(b"{}"), Ok(false));
        assert!(parse_delete_body(br#"{"forceDelete": 3}"#).is_err());
        assert!(parse_delete_body(b"true").is_err());
    }

    /// fuzz/ puzzel_data's first crash (crash-9adc1cb7..., a false alarm of the target's own check): a variable
    /// sent as a float longer than a double holds reads as a float's text; printed and read again, it may differ
    /// in the last digit (serde_json's float reading is not exact), so `data` as a string and as an object can
    /// store that variable one unit apart in the last place. Everything else reads the same.
    #[test]
    fn a_long_float_variable_reads_as_a_float() {
        let text = format!(
            r#"{{"To": "q", "reUsed": "sip:a@b", "reseScore": 10092233720365{}10}}"#,
            "5".repeat(55)
        );
        let direct = parse_data(&text).unwrap();
        assert_eq!(direct.variables[0], ("reUsed".into(), "sip:a@b".into()));
        assert_eq!(direct.variables[1].0, "reseScore");
        assert!(direct.variables[1].1.starts_with("1.009223372036555"));
        let object: Value = serde_json::from_str(&text).unwrap();
        let wrapped = parse_add_body(json!({"data": object}).to_string().as_bytes()).unwrap();
        assert_eq!(wrapped.data.to, direct.to);
        assert_eq!(wrapped.data.variables[1].0, "reseScore");
        assert!(wrapped.data.variables[1].1.starts_with("1.009223372036555"));
    }

    /// A number too large for an integer, in `To`, reads the same whether `data` is a string or an object (the
    /// CI fuzz run's crash-1a05698e...: without exact float reading the last digit differed).
    #[test]
    fn a_huge_number_in_to_reads_the_same_in_both_forms() {
        let text = r#"{"From": "sender@com", "To": 999999999999922337203685477580899999990, "resetrcore": 10}"#;
        let direct = parse_data(text).unwrap();
        let object: Value = serde_json::from_str(text).unwrap();
        let wrapped = parse_add_body(json!({"data": object}).to_string().as_bytes()).unwrap();
        assert_eq!(wrapped.data, direct);
    }

    #[test]
    fn times_look_like_iso_8601_and_timespans() {
        assert_eq!(
            date_time(Time(1_561_636_715_499_691)),
            "2019-06-27T11:58:35.499Z"
        );
        assert_eq!(date_time(Time(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(duration(Span::from_secs(0)), "00:00:00");
        assert_eq!(duration(Span::from_secs(3723)), "01:02:03");
        assert_eq!(duration(Span::from_secs(86_400 + 3723)), "1.01:02:03");
    }

    /// Documented fields of `data` with values wrong for them: text takes scalars, integers whole numbers (and
    /// `reservedUserId` an identifier), `Variables` a list or an object.
    fn wrong_fields() -> Vec<(&'static str, Value)> {
        let values = [
            json!({"a": 1}),
            json!([1, 2]),
            json!(true),
            json!(1.5),
            json!("x y"),
            json!(-7),
            json!([{"Value": 1}]),
        ];
        let fields = [
            ("From", "text"),
            ("To", "text"),
            ("Subject", "text"),
            ("Uri", "text"),
            ("VipScore", "integer"),
            ("reservedUserId", "integer"),
            ("reservedUserWaitTime", "integer"),
            ("Variables", "variables"),
        ];
        let mut wrong = Vec::new();
        for (name, kind) in fields {
            for value in &values {
                let is_wrong = match kind {
                    "text" => value.is_object() || value.is_array(),
                    "integer" => {
                        !(value.is_i64() || (name == "reservedUserId" && value.is_string()))
                    }
                    _ => !value.is_object() && !value.is_null(),
                };
                if is_wrong {
                    wrong.push((name, value.clone()));
                }
            }
        }
        wrong
    }

    fn message(error: &InputError) -> &str {
        match error {
            InputError::Body(message)
            | InputError::Data(message)
            | InputError::Invalid(message) => message,
        }
    }

    /// The printer of `data` the robustness tests read back: documented fields under their names, the
    /// reservation when there is one, every variable in the `Variables` list.
    fn print_data(data: &RequestData) -> Value {
        let mut object = Map::new();
        if let Some(from) = &data.from {
            object.insert("From".into(), json!(from));
        }
        object.insert("To".into(), json!(data.to));
        if let Some(subject) = &data.subject {
            object.insert("Subject".into(), json!(subject));
        }
        if let Some(uri) = &data.uri {
            object.insert("Uri".into(), json!(uri));
        }
        object.insert("VipScore".into(), json!(data.vip_score));
        if let Some((user, seconds)) = &data.reservation {
            object.insert("reservedUserId".into(), print_user(Some(user)));
            object.insert("reservedUserWaitTime".into(), json!(seconds));
        }
        let variables: Vec<Value> = data
            .variables
            .iter()
            .map(|(name, value)| json!({"Name": name, "Value": value}))
            .collect();
        object.insert("Variables".into(), Value::Array(variables));
        Value::Object(object)
    }

    fn print_user(user: Option<&UserRef>) -> Value {
        match user {
            None => json!(0),
            Some(UserRef::Number(number)) => json!(number),
            Some(UserRef::Identifier(identifier)) => json!(identifier),
        }
    }

    /// The printer of a `requestUpdateObject`.
    fn print_update(update: &RequestUpdate) -> Value {
        let mut object = Map::new();
        if let Some(score) = update.vip_score {
            object.insert("vipScore".into(), json!(score));
        }
        if let Some(user) = &update.reserved_user {
            object.insert("reservedUserId".into(), print_user(user.as_ref()));
        }
        if let Some(seconds) = update.reserved_seconds {
            object.insert("reservedSecondsFromNow".into(), json!(seconds));
        }
        if let Some(subject) = &update.subject {
            object.insert("additionalInfoSubject".into(), json!(subject));
        }
        if let Some(uri) = &update.uri {
            object.insert("additionalInfoUri".into(), json!(uri));
        }
        Value::Object(object)
    }

    /// JSON-looking text: an object of the bodies' field names (and others) with awkward values, `To` often set.
    fn json_shaped_object() -> impl Strategy<Value = String> {
        let names = proptest::collection::vec(
            prop_oneof![
                Just("To".to_string()),
                Just("VipScore".to_string()),
                Just("reservedUserId".to_string()),
                Just("reservedUserWaitTime".to_string()),
                Just("Variables".to_string()),
                Just("From".to_string()),
                Just("subject".to_string()),
                Just("URI".to_string()),
                Just("vipScore".to_string()),
                Just("reservedSecondsFromNow".to_string()),
                Just("additionalInfoSubject".to_string()),
                Just("forceDelete".to_string()),
                Just("requestUpdateObject".to_string()),
                Just("RequestDelete".to_string()),
                text(),
            ],
            0..6,
        );
        let values = proptest::collection::vec(
            prop_oneof![
                Just("null".to_string()),
                Just("-1".to_string()),
                Just("1e400".to_string()),
                Just("-9223372036854775809".to_string()),
                Just("18446744073709551616".to_string()),
                Just("2.5".to_string()),
                Just("[{}]".to_string()),
                Just("{\"Name\":1}".to_string()),
                Just("[{\"Name\":\"N\",\"Value\":[1]},{\"Key\":\" k \"}]".to_string()),
                Just("{\"vipScore\":3,\"reservedUserId\":\" sip:a \"}".to_string()),
                Just("\"\"".to_string()),
                Just("\"-0\"".to_string()),
                Just("\" +5 \"".to_string()),
                Just("true".to_string()),
                Just("\"TRUE\"".to_string()),
                Just("2592000".to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|f| f.to_string()),
                text().prop_map(|t| Value::String(t).to_string()),
            ],
            0..6,
        );
        (names, values, proptest::option::of(text())).prop_map(|(names, values, to)| {
            let mut fields: Vec<String> = names
                .iter()
                .zip(values.iter())
                .map(|(name, value)| format!("{}:{value}", Value::String(name.clone())))
                .collect();
            if let Some(to) = to {
                fields.push(format!("\"To\":{}", Value::String(to)));
            }
            format!("{{{}}}", fields.join(","))
        })
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ -~é\u{1F600}\"\\\\]{0,12}").expect("regex")
    }

    proptest! {
        /// No string, JSON or not, makes the parsers panic.
        #[test]
        fn parsing_never_panics(input in any::<String>()) {
            let _ = parse_data(&input);
            let _ = parse_add_body(input.as_bytes());
            let _ = parse_update_body(input.as_bytes());
            let _ = parse_delete_body(input.as_bytes());
            let wrapped = json!({"data": input}).to_string();
            let _ = parse_add_body(wrapped.as_bytes());
        }

        /// Nor does any JSON-looking text built from the field names and awkward values.
        #[test]
        fn parsing_json_shaped_input_never_panics(object in json_shaped_object()) {
            let _ = parse_data(&object);
            let _ = parse_update_body(object.as_bytes());
            let _ = parse_delete_body(object.as_bytes());
            let wrapped = json!({"data": object, "type": "mail"}).to_string();
            let _ = parse_add_body(wrapped.as_bytes());
        }

        /// What reads can be printed back and reads the same (the printers are `print_*` below), and every
        /// refusal has something to say.
        #[test]
        fn what_reads_round_trips(object in json_shaped_object(), media in proptest::sample::select(&MediaType::ALL[..])) {
            match parse_data(&object) {
                Ok(data) => {
                    prop_assert_eq!(parse_data(&print_data(&data).to_string()), Ok(data.clone()));
                    let body = json!({"data": print_data(&data).to_string(), "type": media.name()});
                    prop_assert_eq!(
                        parse_add_body(body.to_string().as_bytes()),
                        Ok(AddBody { data, media })
                    );
                }
                Err(error) => prop_assert!(!message(&error).is_empty()),
            }
            match parse_update_body(object.as_bytes()) {
                Ok(update) => {
                    let printed = json!({"requestUpdateObject": print_update(&update)}).to_string();
                    prop_assert_eq!(parse_update_body(printed.as_bytes()), Ok(update));
                }
                Err(error) => prop_assert!(!message(&error).is_empty()),
            }
            match parse_delete_body(object.as_bytes()) {
                Ok(force) => {
                    let printed = json!({"forceDelete": force}).to_string();
                    prop_assert_eq!(parse_delete_body(printed.as_bytes()), Ok(force));
                }
                Err(error) => prop_assert!(!message(&error).is_empty()),
            }
        }

        /// A documented field of a wrong type is refused, naming the field, however the client cased its name.
        #[test]
        fn a_field_of_a_wrong_type_is_named(
            (name, value) in proptest::sample::select(wrong_fields()),
            upper in proptest::collection::vec(any::<bool>(), 32),
        ) {
            let cased: String = name
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let mut object = json!({"To": "queue@x.com", "reservedUserId": 5, "reservedUserWaitTime": 60});
            object.as_object_mut().unwrap().retain(|key, _| !key.eq_ignore_ascii_case(name));
            object[cased.as_str()] = value.clone();
            let error = parse_data(&object.to_string()).expect_err("a wrong field");
            prop_assert!(message(&error).contains(&format!("'{name}'")), "{}={}: {:?}", cased, value, error);
        }
        /// Whatever a client sends in the documented fields comes back out as sent.
        #[test]
        fn documented_fields_round_trip(
            from in text(), to in "[a-z]{1,8}@[a-z]{1,8}\\.com", subject in text(), uri in text(),
            vip in any::<i32>(), user in 0u32..10_000, wait in 1i64..=MAX_RESERVATION_SECONDS,
            variables in proptest::collection::btree_map("[A-Z][a-z]{0,6}", text(), 0..4),
        ) {
            let mut object = json!({
                "From": from, "To": to, "Subject": subject, "Uri": uri, "VipScore": vip,
                "reservedUserId": user, "reservedUserWaitTime": wait,
            });
            object["Variables"] = Value::Array(
                variables.iter().map(|(name, value)| json!({"Name": name, "Value": value})).collect(),
            );
            let parsed = parse_data(&object.to_string()).unwrap();
            prop_assert_eq!(parsed.from, Some(from.clone()).filter(|f| !f.trim().is_empty()));
            prop_assert_eq!(parsed.to, to);
            prop_assert_eq!(parsed.subject, Some(subject));
            prop_assert_eq!(parsed.uri, Some(uri));
            prop_assert_eq!(parsed.vip_score, vip);
            prop_assert_eq!(parsed.reservation, (user > 0).then_some((UserRef::Number(user), wait)));
            let expected: Vec<(String, String)> = variables.into_iter().collect();
            prop_assert_eq!(parsed.variables, expected);
        }
    }
}
