//! Fuzzes the reader of RequestAdd's inner `data` (`switchboard_server::puzzel::data::parse_data`): any text as
//! the JSON object serialised in `data`, and the consistency of the three ways a client may send it: the string
//! alone, the string inside RequestAdd's body, and (when it is an object) the object itself inside the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use switchboard_server::puzzel::data::{parse_add_body, parse_data, InputError, RequestData};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let direct = parse_data(text);
    let in_a_string = json!({"data": text, "type": "mail"}).to_string();
    assert_eq!(
        parse_add_body(in_a_string.as_bytes()).map(|body| body.data),
        direct,
        "data in a string reads as data alone"
    );
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) {
        // The object printed and read again: the same fields and variables. Floats read exactly since the
        // workspace turned on serde_json's `float_roundtrip` (crash-1a05698e..., a huge number in `To` whose last
        // digit differed; a regression test in data.rs); the variables' values are still compared loosely, as
        // they were before (crash-9adc1cb7...).
        let as_object = json!({"data": object}).to_string();
        let without_values = |result: Result<RequestData, InputError>| {
            result.map(|mut data| {
                data.variables.iter_mut().for_each(|(_, value)| value.clear());
                data
            })
        };
        assert_eq!(
            without_values(parse_add_body(as_object.as_bytes()).map(|body| body.data)),
            without_values(direct.clone()),
            "data as an object reads as data in a string"
        );
    }
    if let Ok(request) = &direct {
        assert!(!request.to.trim().is_empty(), "To is never empty");
    }
});
