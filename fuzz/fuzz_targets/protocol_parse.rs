//! Fuzzes `qa_hub_protocol::parse`, the one function that reads untrusted WebSocket frames: it
//! must never panic, every refusal must encode to a JSON `error` message, and every accepted
//! request must survive a round trip through its canonical JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qa_hub_protocol::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(msg) => assert_eq!(parse(&msg.encode()).as_ref(), Ok(&msg)),
        Err(err) => {
            let v: serde_json::Value = serde_json::from_str(&err.encode()).expect("errors encode to JSON");
            assert_eq!(v["type"], "error");
            assert_eq!(v["code"], err.code.as_str());
        }
    }
});
