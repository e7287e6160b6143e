//! Fuzzes `protocol::parse`, the one function that reads untrusted WebSocket frames: it must
//! never panic, every refusal must encode to a JSON `error` message, and every accepted
//! request must survive a round trip through its canonical JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qa_hub::protocol::{ClientMessage, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(msg) => {
            let canonical = match &msg {
                ClientMessage::Subscribe { question_id, after_seq } => serde_json::json!({
                    "type": "subscribe", "question_id": question_id, "after_seq": after_seq,
                }),
                ClientMessage::Unsubscribe { question_id } => {
                    serde_json::json!({"type": "unsubscribe", "question_id": question_id})
                }
            };
            assert_eq!(parse(&canonical.to_string()).as_ref(), Ok(&msg));
        }
        Err(err) => {
            let v: serde_json::Value = serde_json::from_str(&err.encode()).expect("errors encode to JSON");
            assert_eq!(v["type"], "error");
            assert_eq!(v["code"], err.code);
        }
    }
});
