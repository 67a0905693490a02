//! Fuzzes the Puzzel request bodies as they come off the wire (`switchboard_server::puzzel::data`): RequestAdd's,
//! RequestUpdate's and RequestDelete's, from any bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_server::puzzel::data::{
    parse_add_body, parse_delete_body, parse_update_body, MAX_RESERVATION_SECONDS,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(add) = parse_add_body(data) {
        assert!(!add.data.to.trim().is_empty(), "To is never empty");
        if let Some((_, seconds)) = add.data.reservation {
            assert!((1..=MAX_RESERVATION_SECONDS).contains(&seconds));
        }
    }
    if let Ok(update) = parse_update_body(data) {
        assert!(!update.is_empty(), "an update changes something");
        if let Some(seconds) = update.reserved_seconds {
            assert!((0..=MAX_RESERVATION_SECONDS).contains(&seconds));
        }
    }
    let _ = parse_delete_body(data);
});
