//! Fuzzes the CTI command reader (`switchboard_server::xuc::request`): any bytes as a socket's text message, and
//! the same bytes as the arguments of a known command chosen by the first byte, so that every command's
//! arguments are reached without the fuzzer having to spell the command's name.
//!
//! Why the reader and not a live session: a session needs a tenant (store, engine, hub) and answers
//! asynchronously, a few hundred messages a second at best; the reader is where everything a message says is
//! interpreted, and the session only hands its typed values to engine commands, which the core's properties
//! cover. The path through a real socket is covered by the property `random_bad_commands_are_answered_and_change_
//! nothing` in crates/switchboard-server/tests/it/cti.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use switchboard_server::xuc::request::{parse, parse_object, Request, RequestError, COMMANDS};

/// What every reading must satisfy: a request of a listed command, or an error with something to say.
fn check(result: &Result<Request, RequestError>) {
    match result {
        Ok(request) => assert!(
            request.name() == "ping" || COMMANDS.iter().any(|c| c.name == request.name()),
            "{request:?} is not a listed command"
        ),
        Err(RequestError::Command { command, problem }) => {
            assert!(!problem.is_empty(), "{command}: an empty problem");
        }
        Err(RequestError::NotAnObject | RequestError::NoCommand) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = parse(text);
    check(&result);
    assert_eq!(result, parse(text), "reading is deterministic");

    let (Some(&first), Some(rest)) = (data.first(), text.get(1..)) else {
        return;
    };
    let spec = &COMMANDS[usize::from(first) % COMMANDS.len()];
    let arguments = match serde_json::from_str::<Value>(rest) {
        Ok(Value::Object(arguments)) => arguments,
        // Anything else is the value of each of the command's arguments in turn.
        Ok(value) => spec
            .arguments
            .iter()
            .map(|a| (a.key.to_string(), value.clone()))
            .collect::<Map<String, Value>>(),
        Err(_) => return,
    };
    let mut message = arguments;
    message.insert("claz".into(), Value::from("web"));
    message.insert("command".into(), Value::from(spec.name));
    let result = parse_object(&message);
    check(&result);
    match &result {
        Ok(request) => assert_eq!(request.name(), spec.name),
        Err(RequestError::Command { command, problem }) => {
            assert_eq!(command, spec.name);
            let named = spec.arguments.iter().any(|a| problem.contains(a.key))
                || (spec.name == "findCallbackRequest"
                    && ["request", "filter", "field", "operator"]
                        .iter()
                        .any(|w| problem.contains(w)));
            assert!(named, "{}: '{problem}' names none of its arguments", spec.name);
        }
        Err(other) => panic!("{} with arguments: {other:?}", spec.name),
    }
    // The message as the socket receives it reads as the same command, refused or not. Not the same values:
    // serde_json's float reading is not exact (no `float_roundtrip`), so a float argument printed and read again
    // may come back one unit off in the last place (the first crash this target found, a false alarm).
    let shape = |result: &Result<Request, RequestError>| {
        result
            .as_ref()
            .map(Request::name)
            .map_err(|e| e.command().map(str::to_string))
    };
    assert_eq!(
        shape(&parse(&Value::Object(message).to_string())),
        shape(&result)
    );
});
