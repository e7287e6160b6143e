//! What rendering a post costs: Markdown to sanitised HTML (`domain::markdown::full`), as the
//! hub does once per revision when it is written. Run in release mode for the figures in
//! docs/benchmarks.md:
//!
//! ```sh
//! cargo run --release --example markdown_cost
//! ```

use std::time::{Duration, Instant};

use qa_hub::domain::{limits, markdown};

/// A typical answer of about 1.5 KB: prose with emphasis and links, a list, and a code block.
fn typical() -> String {
    let prose = "When the *reader* holds the lock across an `.await`, every other task that wants it \
                 waits, so the executor cannot make progress on them. See [the docs](https://docs.rs/tokio) \
                 and https://tokio.rs/tokio/tutorial for the details.\n\n";
    let code = "```rust\nlet guard = state.lock().await;\nlet value = guard.clone();\ndrop(guard);\n\
                do_io(value).await?;\n```\n\n";
    let list = "- take the value out\n- drop the guard\n- **then** await\n\n";
    format!("{prose}{code}{list}{prose}{prose}> Quoted from the book.\n\n{code}")
}

/// A maximum-size body of ordinary Markdown: the typical one repeated up to the limit.
fn largest() -> String {
    let one = typical();
    let mut body = String::new();
    while body.chars().count() + one.chars().count() <= limits::BODY {
        body.push_str(&one);
    }
    body
}

/// This thread's CPU time: on a machine other work shares, what rendering itself costs.
fn cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The mean CPU time of one render of `source`, over enough runs to take about half a second.
fn per_render(source: &str) -> Duration {
    let (start, cpu) = (Instant::now(), cpu_time());
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_millis(500) || runs < 5 {
        std::hint::black_box(markdown::full(std::hint::black_box(source)));
        runs += 1;
    }
    (cpu_time() - cpu) / runs
}

fn main() {
    let typical = typical();
    let largest = largest();
    println!("{:<44} {:>8} {:>12}", "input", "bytes", "CPU µs / render");
    let row = |name: &str, source: &str| {
        println!("{name:<44} {:>8} {:>12.1}", source.len(), per_render(source).as_secs_f64() * 1e6);
    };
    row("typical post (prose, list, 2 code blocks)", &typical);
    row("largest body of the same", &largest);
    for source in markdown::corpus::worst_cases() {
        let name: String = source.chars().take(12).collect();
        row(&format!("worst case {name:?}…"), &source);
    }
}
